"""conv1d / conv2d forward and backward: loop twins, gradient checks, a hand example, dtypes,
validation, and the block-LMS reading of the weight gradient."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from strategies import conv1d_configs, conv2d_configs, random_conv1d, random_conv2d, seeds

from lmsbn.nn.conv import (
    ConvCache,
    conv1d_backward,
    conv1d_backward_naive,
    conv1d_forward,
    conv1d_forward_naive,
    conv2d_backward,
    conv2d_backward_naive,
    conv2d_forward,
    conv2d_forward_naive,
)
from lmsbn.nn.gradcheck import check_backward
from lmsbn.nn.im2col import im2col1d, im2col2d

pytestmark = pytest.mark.a4_conv

# Fast and naive do the same multiply-adds, summed in a different order (BLAS blocks vs a plain
# loop), so they differ by a few ulps of the partial sums. 1e-12 relative to the largest entry
# is ~10^4 ulps: loose enough for any summation order, tight enough that an indexing or
# stride mistake (an O(1) error) always fails.
REL = 1e-12

FEW = settings(max_examples=30, deadline=None)


def assert_close(a, b, rel=REL):
    assert a.shape == b.shape
    assert np.max(np.abs(a - b), initial=0.0) <= rel * max(1.0, np.max(np.abs(b), initial=0.0))


def test_hand_example_2d():
    # x = [[1 2 3], [4 5 6], [7 8 9]], kernel [[1 0], [0 -1]], bias 0.5. Each output is
    # x[r, s] - x[r+1, s+1] + 0.5 = -4 + 0.5 for every 2x2 window (the diagonal step is 4).
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    out, cache = conv2d_forward(x, w, np.array([0.5]))
    np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), -3.5))
    # Backward with dout = [[1, 2], [3, 4]]:
    #   db = 1 + 2 + 3 + 4 = 10;
    #   dw[i, j] = sum_{r,s} dout[r, s] x[r+i, s+j]:
    #     dw[0,0] = 1*1 + 2*2 + 3*4 + 4*5 = 37,  dw[0,1] = 1*2 + 2*3 + 3*5 + 4*6 = 47,
    #     dw[1,0] = 1*4 + 2*5 + 3*7 + 4*8 = 67,  dw[1,1] = 1*5 + 2*6 + 3*8 + 4*9 = 77;
    #   dx = dout placed at the top-left (weight +1) minus dout placed at the bottom-right (-1).
    dout = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    dx, dw, db = conv2d_backward(dout, cache)
    np.testing.assert_array_equal(db, [10.0])
    np.testing.assert_array_equal(dw[0, 0], [[37.0, 47.0], [67.0, 77.0]])
    np.testing.assert_array_equal(dx[0, 0], [[1, 2, 0], [3, 3, -2], [0, -3, -4]])


def test_hand_example_1d_stride_pad():
    # x = [1, 2, 3, 4], k = [1, 1, 1] (moving sum), pad 1, stride 2: padded [0 1 2 3 4 0],
    # windows at 0 and 2: 0+1+2 = 3 and 2+3+4 = 9.
    out, _ = conv1d_forward(np.array([[[1.0, 2, 3, 4]]]), np.ones((1, 1, 3)), stride=2, pad=1)
    np.testing.assert_array_equal(out, [[[3.0, 9.0]]])


@FEW
@given(cfg=conv2d_configs(), seed=seeds())
def test_conv2d_matches_naive(cfg, seed):
    x, w, b = random_conv2d(cfg, seed)
    bias = b if seed % 2 else None
    out, cache = conv2d_forward(x, w, bias, stride=cfg.stride, pad=cfg.pad)
    out_n, cache_n = conv2d_forward_naive(x, w, bias, stride=cfg.stride, pad=cfg.pad)
    assert_close(out, out_n)
    dout = np.random.default_rng(seed + 1).standard_normal(out.shape)
    for g, g_n in zip(conv2d_backward(dout, cache), conv2d_backward_naive(dout, cache_n)):
        if bias is None and g_n is None:
            assert g is None
            continue
        assert_close(g, g_n)


@FEW
@given(cfg=conv1d_configs(), seed=seeds())
def test_conv1d_matches_naive(cfg, seed):
    x, w, b = random_conv1d(cfg, seed)
    out, cache = conv1d_forward(x, w, b, stride=cfg.stride, pad=cfg.pad)
    out_n, cache_n = conv1d_forward_naive(x, w, b, stride=cfg.stride, pad=cfg.pad)
    assert_close(out, out_n)
    dout = np.random.default_rng(seed + 1).standard_normal(out.shape)
    for g, g_n in zip(conv1d_backward(dout, cache), conv1d_backward_naive(dout, cache_n)):
        assert_close(g, g_n)


# Central differences with h = 1e-5 on O(1) data are accurate to ~1e-10 absolute, so a correct
# backward has rel_error around 1e-9..1e-8; 1e-7 (the library default) leaves margin, while a
# wrong index gives rel_error of order 1. (The forward is linear, so the only error is
# round-off ~1e-16 * sum|out * dout| / h; over 10 upstream seeds the worst case measured here
# was 4e-8, which is why these shapes are kept small.)
@pytest.mark.parametrize("shape, stride, pad", [
    ((2, 2, 4, 5, 3, 3, 3), 1, 1),
    ((2, 2, 7, 6, 3, 3, 2), 2, 1),            # rectangular kernel, stride 2
    ((1, 3, 6, 7, 2, 2, 4), (2, 3), (0, 2)),  # per-axis stride and padding
])
def test_conv2d_gradcheck(shape, stride, pad):
    N, C, H, W, F, kh, kw = shape
    rng = np.random.default_rng(7)
    x, w, b = (rng.standard_normal(s) for s in ((N, C, H, W), (F, C, kh, kw), (F,)))
    for fwd, bwd in ((conv2d_forward, conv2d_backward),
                     (conv2d_forward_naive, conv2d_backward_naive)):
        errors = check_backward(partial(fwd, stride=stride, pad=pad), bwd,
                                [x, w, b], names=["x", "w", "b"], tol=1e-7, rng=3)
        assert set(errors) == {"x", "w", "b"}


@pytest.mark.parametrize("shape, stride, pad", [((2, 3, 9, 4, 3), 1, 1), ((3, 2, 11, 2, 4), 3, 2)])
def test_conv1d_gradcheck(shape, stride, pad):
    N, C, L, F, k = shape
    rng = np.random.default_rng(8)
    x, w, b = (rng.standard_normal(s) for s in ((N, C, L), (F, C, k), (F,)))
    for fwd, bwd in ((conv1d_forward, conv1d_backward),
                     (conv1d_forward_naive, conv1d_backward_naive)):
        check_backward(partial(fwd, stride=stride, pad=pad), bwd,
                       [x, w, b], names=["x", "w", "b"], tol=1e-7, rng=4)


def test_no_bias_gives_db_none_and_gradcheck():
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 2, 3))
    out, cache = conv2d_forward(x, w, pad=1)
    assert cache.has_bias is False
    assert conv2d_backward(rng.standard_normal(out.shape), cache)[2] is None
    check_backward(lambda x, w: conv2d_forward(x, w, pad=1), lambda d, c: conv2d_backward(d, c)[:2],
                   [x, w], names=["x", "w"], rng=5)


def test_cache_holds_the_patch_matrix_and_dw_is_block_lms():
    rng = np.random.default_rng(10)
    x, w, b = (rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3)),
               rng.standard_normal(4))
    out, cache = conv2d_forward(x, w, b, stride=1, pad=1)
    assert isinstance(cache, ConvCache)
    U = im2col2d(x, 3, 3, pad=1)
    np.testing.assert_array_equal(cache.cols, U)
    # Y = U W^T + b with Y = out seen as (N*Ho*Wo, F) ...
    Y = out.transpose(0, 2, 3, 1).reshape(-1, 4)
    assert_close(Y, U @ w.reshape(4, -1).T + b)
    # ... and dW = dY^T U: the block-LMS update direction with error E = -dY (conv2d_forward Notes;
    # tutorial 03).
    dout = rng.standard_normal(out.shape)
    dY = dout.transpose(0, 2, 3, 1).reshape(-1, 4)
    _, dw, _ = conv2d_backward(dout, cache)
    assert_close(dw.reshape(4, -1), dY.T @ U)


def test_dtypes():
    rng = np.random.default_rng(11)
    x, w, b = (rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3)),
               rng.standard_normal(3))
    out32, cache = conv2d_forward(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32),
                                  pad=1)
    assert out32.dtype == np.float32 and cache.cols.dtype == np.float32
    # float64 dout: grads stay float32
    grads = conv2d_backward(rng.standard_normal(out32.shape), cache)
    assert all(g.dtype == np.float32 for g in grads)
    out64, _ = conv2d_forward(x, w, b, pad=1)
    # float32 keeps ~7 significant digits; 18 products of O(1) numbers: 1e-5 absolute is ample.
    np.testing.assert_allclose(out32, out64, atol=1e-5)
    # Mixed float32/float64 promotes to float64; integers are converted to float64 exactly.
    assert conv2d_forward(x.astype(np.float32), w, pad=1)[0].dtype == np.float64
    xi, wi = np.arange(50).reshape(2, 1, 5, 5), np.ones((1, 1, 2, 2), dtype=int)
    out_i, _ = conv2d_forward(xi, wi)
    assert out_i.dtype == np.float64
    np.testing.assert_array_equal(out_i, conv2d_forward(xi.astype(float), wi.astype(float))[0])
    out1d = conv1d_forward(np.ones((1, 1, 4), np.float32), np.ones((1, 1, 2), np.float32))[0]
    assert out1d.dtype == np.float32


def _c2():
    return np.ones((2, 3, 5, 5)), np.ones((4, 3, 3, 3))


@pytest.mark.parametrize("call, exc, match", [
    (lambda: conv2d_forward(np.ones((2, 2, 5, 5)), np.ones((4, 3, 3, 3))), ValueError,
     r"channel mismatch: x has C=2 .*x.shape=\(2, 2, 5, 5\).*w.shape=\(4, 3, 3, 3\)"),
    (lambda: conv2d_forward(_c2()[0], _c2()[1], np.ones(3)), ValueError,
     r"b must have shape \(4\)"),
    (lambda: conv2d_forward(_c2()[0], _c2()[1], np.ones((4, 1))), ValueError,
     "b must have 1 dimensions"),
    (lambda: conv2d_forward(_c2()[0], np.ones((4, 3, 6, 3))), ValueError,
     "kernel kh=6 is larger than the padded input"),
    (lambda: conv2d_forward(_c2()[0], np.ones((4, 3, 3, 8)), pad=1), ValueError, "kernel kw=8"),
    (lambda: conv2d_forward(_c2()[0], _c2()[1], stride=0), ValueError, "stride must be >= 1"),
    (lambda: conv2d_forward(_c2()[0], _c2()[1], pad=-1), ValueError, "pad must be >= 0"),
    (lambda: conv2d_forward(_c2()[0], _c2()[1], stride="2"), TypeError,
     "stride must be an int or a pair"),
    (lambda: conv2d_forward(np.full((2, 3, 5, 5), np.inf), _c2()[1]), ValueError,
     "x must be finite"),
    (lambda: conv2d_forward(_c2()[0], np.full((4, 3, 3, 3), np.nan)), ValueError,
     "w must be finite"),
    (lambda: conv2d_forward(np.ones((3, 5, 5)), _c2()[1]), ValueError, "x must have 4 dimensions"),
    (lambda: conv2d_forward(_c2()[0], np.ones((4, 3, 3))), ValueError, "w must have 4 dimensions"),
    (lambda: conv1d_forward(np.ones((2, 3, 5)), np.ones((4, 2, 3))), ValueError,
     "channel mismatch"),
    (lambda: conv1d_forward(np.ones((2, 3, 5)), np.ones((4, 3, 8))), ValueError,
     "kernel k=8 is larger than the padded input: L=5"),
    (lambda: conv1d_forward(np.ones((2, 3, 5)), np.ones((4, 3, 2)), stride=(1, 1)), TypeError,
     "stride must be an integer"),
])
def test_forward_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_backward_bad_input():
    x, w = _c2()
    out, cache = conv2d_forward(x, w, pad=1)
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 4, 5, 5\)"):
        conv2d_backward(np.ones((2, 4, 4, 4)), cache)
    # A non-finite gradient is not an input error: it propagates (the training loop records it).
    dx, dw, _ = conv2d_backward(np.full(out.shape, np.nan), cache)
    assert np.isnan(dx).all() and np.isnan(dw).all()
    with pytest.raises(TypeError, match="cache must be the ConvCache"):
        conv2d_backward(out, (x.shape, None))
    with pytest.raises(TypeError, match="cache must be the NaiveConvCache"):
        conv2d_backward_naive(out, cache)
    out1, cache1 = conv1d_forward(np.ones((2, 3, 5)), np.ones((4, 3, 2)))
    with pytest.raises(TypeError, match="returned by conv2d_forward"):
        conv2d_backward(out, cache1)
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 4, 4\)"):
        conv1d_backward(np.ones((2, 4, 5)), cache1)


@pytest.mark.parametrize("stride, pad, dtype", [(1, 1, np.float64), ((2, 1), (0, 2), np.float64),
                                                (1, 1, np.float32)])
def test_default_path_is_im2col_times_weights(stride, pad, dtype):
    """conv2d_forward is im2col2d, one product and a reshape; conv2d_backward two products and
    col2im2d. Checked against the naive twin and against those steps written out here."""
    rng = np.random.default_rng(21)
    x, w, b = (rng.standard_normal((5, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2)),
               rng.standard_normal(4))
    x, w, b = x.astype(dtype), w.astype(dtype), b.astype(dtype)
    ref, ref_cache = conv2d_forward_naive(x, w, b, stride=stride, pad=pad)
    out, cache = conv2d_forward(x, w, b, stride=stride, pad=pad)
    dout = rng.standard_normal(out.shape).astype(dtype)
    # float32 sums in a different order differ by ~1e-6 relative; float64 as REL above.
    rel = 1e-5 if dtype == np.float32 else REL
    assert out.dtype == dtype and out.flags.c_contiguous
    assert_close(out, ref, rel)
    # The cache holds exactly what the public im2col2d returns (a pure copy: bit for bit).
    np.testing.assert_array_equal(cache.cols, im2col2d(x, 3, 2, stride=stride, pad=pad))
    grads = conv2d_backward(dout, cache)
    for g, g_ref in zip(grads, conv2d_backward_naive(dout, ref_cache)):
        assert g.dtype == dtype
        assert_close(g, g_ref, rel)
    # Same function, same inputs, same layout: NumPy gives the same bits on a second call.
    for g, g_again in zip(grads, conv2d_backward(dout, cache)):
        np.testing.assert_array_equal(g, g_again)
    # A cache whose cols is row-major (e.g. built by hand from np.ascontiguousarray(im2col2d))
    # gives the same gradients to rounding, not bit for bit: BLAS may block a product of
    # transposed operands differently (measured ~1e-14 relative on OpenBLAS).
    c_cache = cache._replace(cols=np.ascontiguousarray(cache.cols))
    for g, g_ref in zip(conv2d_backward(dout, c_cache), grads):
        assert_close(g, g_ref, rel)


def test_conv1d_cache_holds_im2col1d():
    rng = np.random.default_rng(22)
    x, w = rng.standard_normal((3, 2, 11)), rng.standard_normal((4, 2, 3))
    out, cache = conv1d_forward(x, w, stride=2, pad=1)
    np.testing.assert_array_equal(cache.cols, im2col1d(x, 3, stride=2, pad=1))
    assert_close(out.transpose(0, 2, 1).reshape(-1, 4), cache.cols @ w.reshape(4, -1).T)
