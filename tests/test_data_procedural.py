"""The embedded procedural dataset."""

import numpy as np
import pytest

from lmsbn.data import CHANNEL_GAIN, CHANNEL_OFFSET, shapes


def test_shapes_is_reproducible_and_balanced():
    X1, y1 = shapes(50, rng=4)
    X2, y2 = shapes(50, rng=4)
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
    assert X1.shape == (50, 3, 16, 16) and X1.dtype == np.float64 and y1.dtype == np.int64
    assert np.bincount(y1).tolist() == [5] * 10
    assert not np.array_equal(shapes(50, rng=5)[0], X1)


def test_channel_statistics_are_unequal_on_purpose():
    X, _ = shapes(400, rng=0)
    mean = X.mean(axis=(0, 2, 3))
    std = X.std(axis=(0, 2, 3))
    # The per-image colour has zero mean, so each channel's mean is its offset; with 400*256
    # pixels per channel the sample mean's standard error is below std/sqrt(400) ~ 0.1 * std.
    assert np.all(np.abs(mean - CHANNEL_OFFSET) < 0.1 * std + 1e-3)
    # The gains differ by 16x, so the channel standard deviations must differ by several-fold.
    assert std.max() / std.min() > 8


def test_shapes_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n must be >= 1"):
        shapes(0)
    with pytest.raises(ValueError, match="classes must be <= 10"):
        shapes(10, classes=11)
    with pytest.raises(TypeError, match="size must be an integer"):
        shapes(10, size=16.0)
    with pytest.raises(ValueError, match="noise must be"):
        shapes(10, noise=-1.0)


def test_channel_gain_is_what_the_docs_say():
    assert CHANNEL_GAIN.max() / CHANNEL_GAIN.min() == 16
