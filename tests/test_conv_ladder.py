"""The conv ladder of issue 13: the readable im2col path is what trains, what a student swaps
and steps into, and what the bridge reads."""

from __future__ import annotations

import sys
from collections import Counter

import numpy as np
import pytest

import lmsbn
from lmsbn.bridge import ModeTracker, capture_regressors, compare_first_step, regressors
from lmsbn.data import shapes
from lmsbn.nn import Conv1d, Conv2d, small_cnn
from lmsbn.nn import functional as F
from lmsbn.nn.conv import conv2d_forward
from lmsbn.train import train

pytestmark = pytest.mark.a4_conv


def counting(calls: Counter, name: str):
    """A stand-in for ``F.<name>`` that counts its calls and returns the library's result."""
    original = getattr(F, name)

    def wrapper(*args, **kwargs):
        calls[name] += 1
        return original(*args, **kwargs)

    return wrapper


# ------------------------------------------------------------- lmsbn.use drives the training
def test_swapped_im2col_and_col2im_drive_training():
    X, y = shapes(64, rng=0)
    steps, n_conv = 3, 2
    reference = train(small_cnn(norm="none", widths=(4, 8), rng=0), X, y, steps=steps,
                      batch_size=16, rng=0)
    calls = Counter()
    with lmsbn.use(im2col2d=counting(calls, "im2col2d"), col2im2d=counting(calls, "col2im2d")):
        mine = train(small_cnn(norm="none", widths=(4, 8), rng=0), X, y, steps=steps,
                     batch_size=16, rng=0)
    # Every training step's forward pass builds the patches of both conv layers with the
    # student's im2col, and every backward pass scatters both patch gradients with their col2im.
    assert calls["im2col2d"] >= steps * n_conv
    assert calls["col2im2d"] == steps * n_conv
    # Same functions underneath, same inputs: the same run, bit for bit.
    np.testing.assert_array_equal(mine.loss, reference.loss)
    # And what the swapped function returns is what the layer computes with: an im2col that
    # drops the patches leaves only the biases, and training visibly changes.
    original = F.im2col2d
    with lmsbn.use(im2col2d=lambda x, kh, kw, stride=1, pad=0:
                   0.0 * original(x, kh, kw, stride=stride, pad=pad)):
        blind = train(small_cnn(norm="none", widths=(4, 8), rng=0), X, y, steps=steps,
                      batch_size=16, rng=0)
    assert np.max(np.abs(blind.loss - reference.loss)) > 1e-3


def test_swapped_im2col_receives_plain_ints_and_conv1d_uses_im2col1d():
    seen = []
    original = F.im2col2d

    def int_only(x, kh, kw, stride=1, pad=0):      # like a student's hw_02 im2col
        seen.append((type(stride), type(pad)))
        return original(x, kh, kw, stride=stride, pad=pad)

    with lmsbn.use(im2col2d=int_only):
        Conv2d(2, 3, 3, stride=2, padding=1, rng=0).forward(np.ones((1, 2, 6, 6)))
    assert seen == [(int, int)]
    calls = Counter()
    with lmsbn.use(im2col1d=counting(calls, "im2col1d"), col2im1d=counting(calls, "col2im1d")):
        layer = Conv1d(2, 3, 3, padding=1, rng=0)
        out = layer.forward(np.ones((2, 2, 9)))
        layer.backward(np.ones_like(out))
    assert calls == Counter({"im2col1d": 1, "col2im1d": 1})


# --------------------------------------------------------------- a debugger's path into conv
def test_debugger_reaches_im2col_and_the_product_within_4_frames_of_conv2d_forward():
    depths = {}

    def below_conv2d_forward(frame):
        """How many frames ``frame`` is below Conv2d.forward (0 = Conv2d.forward itself)."""
        depth = 0
        while frame is not None:
            if frame.f_code is Conv2d.forward.__code__:
                return depth
            frame, depth = frame.f_back, depth + 1
        return None

    class Spy(np.ndarray):
        """Patches that note where the first matrix product with them is computed."""

        def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
            if ufunc is np.matmul:
                # Frame 1 is the Python frame whose line computes the product.
                depths.setdefault("matmul", (below_conv2d_forward(sys._getframe(1)),
                                             sys._getframe(1).f_code.co_name))
            inputs = tuple(np.asarray(a) if isinstance(a, Spy) else a for a in inputs)
            return getattr(ufunc, method)(*inputs, **kwargs)

    original = F.im2col2d

    def spy_im2col2d(*args, **kwargs):
        depths["im2col2d"] = below_conv2d_forward(sys._getframe(0))
        return original(*args, **kwargs).view(Spy)

    layer = Conv2d(3, 4, 3, padding=1, rng=0)
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5))
    with lmsbn.use(im2col2d=spy_im2col2d):
        out = layer.forward(x)
    # Conv2d.forward -> conv2d_forward (the product's line) -> im2col2d.
    assert depths["im2col2d"] is not None and depths["im2col2d"] <= 4
    depth, where = depths["matmul"]
    assert depth is not None and depth <= 4 and where == "conv2d_forward"
    # The spy changed nothing: same function, same inputs.
    np.testing.assert_array_equal(out, conv2d_forward(x, layer.params["weight"],
                                                      layer.params["bias"], pad=1)[0])


# --------------------------------------------------- the bridge reads the cache, not im2col again
def test_regressors_without_x_read_the_forward_cache():
    layer = Conv2d(3, 4, 3, padding=1, rng=0)
    with pytest.raises(ValueError, match="forward cache"):
        regressors(layer)
    X, _ = shapes(8, rng=0)
    layer.forward(X)
    U = regressors(layer)
    assert U is layer.cache.cols
    np.testing.assert_array_equal(U, regressors(layer, X))     # recomputed: the same copy


def test_capture_regressors_and_compare_first_step_do_not_recompute_im2col():
    X, y = shapes(16, rng=0)
    model = small_cnn(widths=(4, 8), rng=0)
    calls = Counter()
    with lmsbn.use(im2col2d=counting(calls, "im2col2d")):
        captured = capture_regressors(model, X, max_rows=10**6)
        assert calls["im2col2d"] == 2                            # one forward, two conv layers
        compare_first_step(model, X, y, lr=1e-3)
        assert calls["im2col2d"] == 4                            # one more forward, nothing else
    np.testing.assert_array_equal(captured["conv1"], regressors(model["conv1"], X))
    assert captured["conv2"].shape == (16 * 8 * 8, 4 * 9)


def test_mode_tracker_reads_the_forward_cache():
    X, y = shapes(64, rng=0)
    steps = 4

    def im2col_calls(callbacks):
        calls = Counter()
        with lmsbn.use(im2col2d=counting(calls, "im2col2d")):
            train(small_cnn(widths=(4, 8), rng=0), X, y, steps=steps, batch_size=16, rng=0,
                  callbacks=callbacks)
        return calls["im2col2d"]

    tracker = ModeTracker(every=1, rng=0)
    # Recording every step computes no im2col beyond the training's own.
    assert im2col_calls([tracker]) == im2col_calls([])
    assert tracker.record["conv2"].eigenvalues.shape == (steps, 36)
