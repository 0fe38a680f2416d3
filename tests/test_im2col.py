"""im2col / col2im: layout, agreement with the loop twins, adjointness, validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from strategies import conv1d_configs, conv2d_configs, seeds

from lmsbn.nn.im2col import (
    col2im1d,
    col2im1d_naive,
    col2im2d,
    col2im2d_naive,
    im2col1d,
    im2col1d_naive,
    im2col2d,
    im2col2d_naive,
)

pytestmark = pytest.mark.a3_im2col

# im2col is a pure copy: fast and naive must agree bit for bit. col2im sums the same numbers in
# a different order (per kernel offset vs per patch), so they agree to rounding: 1e-12 relative
# to the size of the summands is ~10^4 ulps, far above the few ulps reordering can cause and
# far below any indexing mistake (which would be O(1)).
SUM_TOL = 1e-12

FEW = settings(max_examples=40, deadline=None)


def _kw2(cfg):
    return dict(stride=cfg.stride, pad=cfg.pad)


def test_hand_example_2d():
    # x = [[0 1 2], [3 4 5], [6 7 8]], 2x2 kernel, stride 1: four patches, read row by row.
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    expected = np.array([[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]], dtype=float)
    np.testing.assert_array_equal(im2col2d(x, 2, 2), expected)
    # col2im of all-ones counts how many patches cover each pixel: corners 1, edges 2, centre 4.
    counts = col2im2d(np.ones((4, 4)), x.shape, 2, 2)
    np.testing.assert_array_equal(counts[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_column_order_is_channel_then_kernel_row_then_kernel_col():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 4))
    w = rng.standard_normal((2, 3, 2, 3))
    cols = im2col2d(x, 2, 3)
    # Row (n=1, ho=2, wo=1) and column (c=2, i=1, j=0).
    Ho, Wo = 4, 2
    row, col = (1 * Ho + 2) * Wo + 1, (2 * 2 + 1) * 3 + 0
    assert cols[row, col] == x[1, 2, 2 + 1, 1 + 0]
    # So that cols @ w.reshape(F, -1).T is the cross-correlation.
    y = cols @ w.reshape(2, -1).T
    # Output pixel (n=1, ho=2, wo=1) of the cross-correlation sees the window x[1, :, 2:4, 1:4].
    direct = np.einsum("fcij,cij->f", w, x[1, :, 2:4, 1:4])
    np.testing.assert_allclose(y[row], direct, rtol=1e-12)  # same 18 products, another order


def test_padding_and_stride_values():
    x = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)             # [[1, 2], [3, 4]]
    cols = im2col2d(x, 2, 2, stride=2, pad=1)              # padded 4x4, patches at (0,0)...(2,2)
    np.testing.assert_array_equal(cols, [[0, 0, 0, 1], [0, 0, 2, 0], [0, 3, 0, 0], [4, 0, 0, 0]])


def test_tapped_delay_line_1d():
    x = np.arange(6.0).reshape(1, 1, 6)
    cols = im2col1d(x, 3)
    np.testing.assert_array_equal(cols, [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]])


@FEW
@given(cfg=conv2d_configs(), seed=seeds())
def test_im2col2d_matches_naive(cfg, seed):
    x = np.random.default_rng(seed).standard_normal((cfg.N, cfg.C, cfg.H, cfg.W))
    fast = im2col2d(x, cfg.kh, cfg.kw, **_kw2(cfg))
    assert fast.T.flags.c_contiguous        # built as U^T, the layout conv's products read
    np.testing.assert_array_equal(fast, im2col2d_naive(x, cfg.kh, cfg.kw, **_kw2(cfg)))


@FEW
@given(cfg=conv2d_configs(), seed=seeds())
def test_col2im2d_matches_naive_and_is_adjoint(cfg, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((cfg.N, cfg.C, cfg.H, cfg.W))
    shape = im2col2d(x, cfg.kh, cfg.kw, **_kw2(cfg)).shape
    c = rng.standard_normal(shape)
    fast = col2im2d(c, x.shape, cfg.kh, cfg.kw, **_kw2(cfg))
    naive = col2im2d_naive(c, x.shape, cfg.kh, cfg.kw, **_kw2(cfg))
    scale = max(1.0, np.abs(c).sum())
    assert np.max(np.abs(fast - naive)) <= SUM_TOL * scale
    # <im2col(x), c> == <x, col2im(c)>: both sides sum the same products in another order.
    lhs = np.vdot(im2col2d(x, cfg.kh, cfg.kw, **_kw2(cfg)), c)
    rhs = np.vdot(x, fast)
    assert abs(lhs - rhs) <= SUM_TOL * np.sum(np.abs(x)) * np.max(np.abs(c)) * cfg.kh * cfg.kw


@FEW
@given(cfg=conv1d_configs(), seed=seeds())
def test_1d_matches_naive_and_is_adjoint(cfg, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((cfg.N, cfg.C, cfg.L))
    kw = dict(stride=cfg.stride, pad=cfg.pad)
    cols = im2col1d(x, cfg.k, **kw)
    np.testing.assert_array_equal(cols, im2col1d_naive(x, cfg.k, **kw))
    c = rng.standard_normal(cols.shape)
    fast = col2im1d(c, x.shape, cfg.k, **kw)
    assert (np.max(np.abs(fast - col2im1d_naive(c, x.shape, cfg.k, **kw)))
            <= SUM_TOL * max(1.0, np.abs(c).sum()))
    assert (abs(np.vdot(cols, c) - np.vdot(x, fast))
            <= SUM_TOL * np.sum(np.abs(x)) * np.max(np.abs(c)) * cfg.k)


def test_dtypes():
    x32 = np.ones((1, 2, 4, 4), dtype=np.float32)
    assert im2col2d(x32, 3, 3).dtype == np.float32
    assert col2im2d(np.ones((4, 18), np.float32), x32.shape, 3, 3).dtype == np.float32
    xi = np.arange(16).reshape(1, 1, 4, 4)
    cols = im2col2d(xi, 2, 2)
    assert cols.dtype == np.float64
    np.testing.assert_array_equal(cols, im2col2d(xi.astype(float), 2, 2))


@pytest.mark.parametrize("call, exc, match", [
    (lambda: im2col2d(np.ones((2, 4, 4)), 2, 2), ValueError, "x must have 4 dimensions"),
    (lambda: im2col2d(np.ones((1, 1, 4, 4)), 0, 2), ValueError, "kh must be >= 1"),
    (lambda: im2col2d(np.ones((1, 1, 4, 4)), 2, 2.0), TypeError, "kw must be an integer"),
    (lambda: im2col2d(np.ones((1, 1, 4, 4)), 5, 2), ValueError,
     "kernel kh=5 is larger than the padded input"),
    (lambda: im2col2d(np.ones((1, 1, 4, 4)), 2, 7, pad=1), ValueError, "kernel kw=7"),
    (lambda: im2col2d(np.ones((1, 1, 4, 4)), 2, 2, stride=0), ValueError, "stride must be >= 1"),
    (lambda: im2col2d(np.ones((1, 1, 4, 4)), 2, 2, stride=1.5), TypeError,
     "stride must be an int or a pair"),
    (lambda: im2col2d(np.ones((1, 1, 4, 4)), 2, 2, stride=(1, 2, 3)), ValueError,
     "stride must be an int or a pair"),
    (lambda: im2col2d(np.ones((1, 1, 4, 4)), 2, 2, pad=(0, -1)), ValueError,
     r"pad\[1\] must be >= 0"),
    (lambda: im2col2d(np.full((1, 1, 4, 4), np.nan), 2, 2), ValueError, "x must be finite"),
    (lambda: col2im2d(np.ones((8, 4)), (1, 1, 4, 4), 2, 2), ValueError,
     r"cols must have shape .* \(8, 4\)"),
    (lambda: col2im2d(np.ones((9, 4)), (1, 4, 4), 2, 2), ValueError,
     "x_shape must be a tuple of 4"),
    (lambda: col2im2d(np.ones(9), (1, 1, 4, 4), 2, 2), ValueError, "cols must have 2 dimensions"),
    (lambda: im2col1d(np.ones((1, 1, 4)), 6), ValueError,
     "kernel k=6 is larger than the padded input: L=4"),
    (lambda: im2col1d(np.ones((1, 4)), 2), ValueError, "x must have 3 dimensions"),
    (lambda: im2col1d(np.ones((1, 1, 4)), 2, stride=(1, 1)), TypeError,
     "stride must be an integer"),
    (lambda: col2im1d(np.ones((4, 2)), (1, 1, 4), 2), ValueError,
     r"cols must have shape \(N\*Lo, C\*k\)"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
