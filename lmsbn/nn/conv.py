r"""Convolution layers as forward/backward function pairs, via im2col.

``conv2d_forward(x, w, b) -> (out, cache)`` and ``conv2d_backward(dout, cache) -> (dx, dw, db)``
follow PyTorch's ``conv2d`` semantics: cross-correlation (the kernel is not flipped), zero
padding, stride. The 1-D pair does the same for signals (N, C, L). Each has a ``*_naive`` twin
written as explicit loops over samples, filters, output pixels and kernel taps.

The fast path is the adaptive linear combiner of :mod:`lmsbn.filters` written out:

* regressors ``U = im2col(x)``, shape (M, K) with M = N*Ho*Wo and K = C*kh*kw;
* weights ``W = w.reshape(F, K)``, one row per output filter;
* outputs ``Y = U W^T`` (M, F), which is ``out`` seen with the filter axis last.

The cache keeps ``cols`` (= U) because the backward pass needs it for dW and because the
bridge to adaptive-filter theory reads the layer's regressors from it (:mod:`lmsbn.bridge`).

Speed (measured by ``lmsbn bench``) comes from two choices. U is computed and kept as U^T, so
im2col, the three products and col2im all walk memory in long contiguous rows. And the work is done in
blocks of images (``_BLOCK_BYTES`` of patches each): a block written by im2col is multiplied
while it is still in the CPU cache, and a block of the patch gradient dU is summed into dx
right after its product, so the full (M, K) dU is never allocated.

References
----------
B. Widrow and S. D. Stearns (1985), *Adaptive Signal Processing*, Prentice-Hall (block LMS).
K. Chellapilla, S. Puri and P. Simard (2006), "High performance convolutional neural networks
for document processing" (convolution as im2col + matrix product).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._checks import as_float_array, check_int, check_shape, describe
from .im2col import _col2im2d_add, _im2col2d_kmajor_into, _pair, conv_output_size

__all__ = [
    "ConvCache",
    "NaiveConvCache",
    "conv1d_backward",
    "conv1d_backward_naive",
    "conv1d_forward",
    "conv1d_forward_naive",
    "conv2d_backward",
    "conv2d_backward_naive",
    "conv2d_forward",
    "conv2d_forward_naive",
]


class ConvCache(NamedTuple):
    """What :func:`conv2d_forward` / :func:`conv1d_forward` keep for the backward pass.

    Attributes
    ----------
    x_shape : tuple of int
        Shape of the input, (N, C, H, W) or (N, C, L).
    cols : ndarray, shape (N*Ho*Wo, C*kh*kw)
        The patch matrix U = im2col(x): the layer's regressors, one row per output pixel, rows
        and columns in the order of :func:`~lmsbn.nn.im2col.im2col2d` (equal to it entry for
        entry). Stored column-major: it is the transpose view of a C-contiguous U^T of shape
        (C, kh, kw, N, Ho, Wo), the layout the fast path computes in (see ``_forward``).
    w : ndarray, shape (F, C, kh, kw) or (F, C, k)
        The weights used in the forward pass.
    has_bias : bool
        Whether a bias was given (``conv*_backward`` then returns ``db``, otherwise ``None``).
    stride, pad : tuple of int or int
        ``(sh, sw)`` and ``(ph, pw)`` for 2-D; plain ints for 1-D.
    """

    x_shape: tuple
    cols: np.ndarray
    w: np.ndarray
    has_bias: bool
    stride: tuple | int
    pad: tuple | int


class NaiveConvCache(NamedTuple):
    """What the ``*_naive`` forward functions keep: the input itself instead of its patches."""

    x: np.ndarray
    w: np.ndarray
    has_bias: bool
    stride: tuple | int
    pad: tuple | int


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

def _check_inputs(x, w, b, stride, pad, ndim: int):
    """Validate a conv forward call; return ``x, w, b, stride, pad, out_spatial`` in one dtype."""
    x = as_float_array(x, "x", ndim=ndim)
    w = as_float_array(w, "w", ndim=ndim)
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"channel mismatch: x has C={x.shape[1]} channels (x.shape={x.shape}) but "
                         f"w expects C={w.shape[1]} (w.shape={w.shape}, laid out (F, C, "
                         f"{'kh, kw' if ndim == 4 else 'k'}))")
    F = w.shape[0]
    if b is not None:
        b = as_float_array(b, "b", ndim=1)
        check_shape(b, "b", (F,), what=f"(one bias per filter of w.shape={w.shape})")
    # float32 stays float32 only when every operand is float32; otherwise NumPy's promotion.
    dtype = np.result_type(x, w) if b is None else np.result_type(x, w, b)
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    b = None if b is None else b.astype(dtype, copy=False)
    if ndim == 4:
        stride = _pair(stride, "stride", min_value=1)
        pad = _pair(pad, "pad", min_value=0)
        kh, kw = w.shape[2:]
        out_spatial = (conv_output_size(x.shape[2], kh, stride[0], pad[0], names=("H", "kh")),
                       conv_output_size(x.shape[3], kw, stride[1], pad[1], names=("W", "kw")))
    else:
        stride = check_int(stride, "stride", min_value=1)
        pad = check_int(pad, "pad", min_value=0)
        out_spatial = (conv_output_size(x.shape[2], w.shape[2], stride, pad, names=("L", "k")),)
    return x, w, b, stride, pad, out_spatial


def _check_dout(dout, cache, cache_type, ndim: int, forward_name: str):
    """Validate ``dout`` against the cache of the matching forward pass."""
    x_shape = getattr(cache, "x_shape", None) or np.shape(getattr(cache, "x", None))
    if not isinstance(cache, cache_type) or len(x_shape) != ndim:
        raise TypeError(f"cache must be the {cache_type.__name__} returned by {forward_name}, "
                        f"got {describe(cache)}")
    dout = as_float_array(dout, "dout")
    stride, pad = cache.stride, cache.pad
    if isinstance(stride, int):
        stride, pad = (stride,), (pad,)
    out_spatial = tuple(conv_output_size(s, k, st, p) for s, k, st, p
                        in zip(x_shape[2:], cache.w.shape[2:], stride, pad))
    expected = (x_shape[0], cache.w.shape[0], *out_spatial)
    check_shape(dout, "dout", expected, what="(the shape of the forward output)")
    return dout.astype(cache.w.dtype, copy=False)


# --------------------------------------------------------------------------------------------
# Fast 2-D core (everything 1-D is a 2-D convolution of height 1)
# --------------------------------------------------------------------------------------------

#: Bytes of patch matrix handled per block of images. A block this size stays in the CPU cache
#: between the copy (or GEMM) that writes it and the GEMM (or col2im) that reads it, instead of a
#: round trip through main memory; yet it is large enough for BLAS to run at full speed.
_BLOCK_BYTES = 2 * 2**20


def _image_blocks(N: int, bytes_per_image: int):
    """``(n0, n1)`` ranges covering ``range(N)``, each about ``_BLOCK_BYTES`` of patches."""
    size = max(1, min(N, _BLOCK_BYTES // bytes_per_image))
    return [(n0, min(N, n0 + size)) for n0 in range(0, N, size)]


def _forward(x, w, b, stride, pad, out_hw):
    N, C, H, W_in = x.shape
    F, _, kh, kw = w.shape
    (Ho, Wo), (ph, pw) = out_hw, pad
    K, P = C * kh * kw, Ho * Wo
    W = w.reshape(F, K)
    # U is stored transposed, as U^T with axes (c, i, j, n, ho, wo); cache.cols is the (M, K)
    # view ``U^T.T``. Why: in this layout im2col copies whole output rows, ``Y^T = W U^T`` is one
    # GEMM per block of images, and the backward's dU^T = W^T dY^T comes out in the same layout,
    # which col2im reads row by row (see _backward).
    ut = np.empty((C, kh, kw, N, Ho, Wo), dtype=x.dtype)
    out = np.empty((N, F, Ho, Wo), dtype=x.dtype)
    blocks = _image_blocks(N, K * P * x.itemsize)
    block = blocks[0][1]
    scratch = np.zeros((block, C, H + 2 * ph, W_in + 2 * pw), dtype=x.dtype)  # zero border = pad
    y_buf = np.empty((F, block * P), dtype=x.dtype)
    # Block by block, so each block of U^T is still in cache when the GEMM reads it.
    for n0, n1 in blocks:
        _im2col2d_kmajor_into(ut[:, :, :, n0:n1], x[n0:n1], kh, kw, stride, pad, scratch)
        y = np.matmul(W, ut[:, :, :, n0:n1].reshape(K, -1), out=y_buf[:, :(n1 - n0) * P])
        if b is not None:
            y += b[:, None]
        # Y^T of the block is (F, n, ho, wo); out wants (n, F, ho, wo): one small strided copy.
        out[n0:n1] = y.reshape(F, n1 - n0, Ho, Wo).transpose(1, 0, 2, 3)
    return out, ut.reshape(K, N * P).T


def _backward(dout, cols, w, x_shape, has_bias, stride, pad):
    N, F, Ho, Wo = dout.shape
    _, C, kh, kw = w.shape
    K, P = C * kh * kw, Ho * Wo
    W = w.reshape(F, K)
    # Back to U^T (C, kh, kw, N, Ho, Wo). A view for the cols made by _forward; a copy only for a
    # C-ordered cols built elsewhere (same numbers, slower).
    ut = cols.T.reshape(C, kh, kw, N, Ho, Wo)
    dw = np.zeros((F, K), dtype=dout.dtype)
    dx = np.zeros(x_shape, dtype=dout.dtype)
    blocks = _image_blocks(N, K * P * dout.itemsize)
    block = blocks[0][1]
    dyt_buf = np.empty((F, block, P), dtype=dout.dtype)
    dut_buf = np.empty((K, block * P), dtype=dout.dtype)
    # Block by block: the patch gradient dU of a block is summed into dx while still in cache,
    # so the full (M, K) dU is never allocated (memory stays about one patch matrix).
    for n0, n1 in blocks:
        nb = n1 - n0
        # dY^T of the block, (F, n, ho*wo): the layout in which both GEMMs below are single
        # products with U^T. One small copy, reused by both.
        dyt = dyt_buf[:, :nb]
        np.copyto(dyt, dout[n0:n1].reshape(nb, F, P).transpose(1, 0, 2))
        dyt = dyt.reshape(F, nb * P)
        ut_blk = ut[:, :, :, n0:n1].reshape(K, nb * P)
        dw += dyt @ ut_blk.T                                    # dW = sum over blocks dY^T U
        dut = np.matmul(W.T, dyt, out=dut_buf[:, :nb * P])      # dU^T = W^T dY^T
        _col2im2d_add(dx[n0:n1], dut.reshape(C, kh, kw, nb, Ho, Wo), stride, pad)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, dw.reshape(w.shape), db


def conv2d_forward(x, w, b=None, *, stride=1, pad=0):
    r"""2-D convolution (cross-correlation), PyTorch ``conv2d`` semantics.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
        Input images.
    w : ndarray, shape (F, C, kh, kw)
        Filters.
    b : ndarray, shape (F,), optional
        One bias per filter.
    stride : int or (int, int), default 1
    pad : int or (int, int), default 0
        Zero padding on each side.

    Returns
    -------
    out : ndarray, shape (N, F, Ho, Wo)
        ``Ho = (H + 2 ph - kh) // sh + 1`` and likewise ``Wo``. float32 when x, w (and b) are
        all float32, float64 otherwise.
    cache : ConvCache
        For :func:`conv2d_backward`; ``cache.cols`` is the patch matrix U.

    Notes
    -----
    With :math:`U = \operatorname{im2col}(x)` (M x K), :math:`W` = ``w.reshape(F, K)`` and the
    output and its gradient seen as M x F matrices :math:`Y`, :math:`\mathrm{d}Y`:

    .. math::

        Y = U W^{\mathsf T}, \qquad
        \mathrm{d}W = \mathrm{d}Y^{\mathsf T} U, \qquad
        \mathrm{d}x = \operatorname{col2im}(\mathrm{d}Y\, W), \qquad
        \mathrm{d}b = \textstyle\sum_m \mathrm{d}Y_{m,:} .

    SGD on the weights, :math:`W \leftarrow W - \mu\, \mathrm{d}Y^{\mathsf T} U`, is therefore
    block LMS with regressors :math:`U` and error :math:`E = -\mathrm{d}Y` (tutorial 03).
    """
    x, w, b, stride, pad, out_hw = _check_inputs(x, w, b, stride, pad, ndim=4)
    out, cols = _forward(x, w, b, stride, pad, out_hw)
    return out, ConvCache(x.shape, cols, w, b is not None, stride, pad)


def conv2d_backward(dout, cache: ConvCache):
    """Gradients of a :func:`conv2d_forward` call.

    Parameters
    ----------
    dout : ndarray, shape (N, F, Ho, Wo)
        Upstream gradient dL/d(out).
    cache : ConvCache
        From :func:`conv2d_forward`.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    dw : ndarray, shape (F, C, kh, kw)
    db : ndarray, shape (F,), or None when the forward pass had no bias

    Notes
    -----
    The maths (Y = U W^T, dW = dY^T U, dX = col2im(dY W), db = sum of dY; SGD on W is block
    LMS with error -dY) is written out in :func:`conv2d_forward`.
    """
    dout = _check_dout(dout, cache, ConvCache, 4, "conv2d_forward")
    return _backward(dout, cache.cols, cache.w, cache.x_shape, cache.has_bias, cache.stride,
                     cache.pad)


def conv1d_forward(x, w, b=None, *, stride: int = 1, pad: int = 0):
    """1-D convolution (cross-correlation), PyTorch ``conv1d`` semantics.

    Parameters
    ----------
    x : ndarray, shape (N, C, L)
    w : ndarray, shape (F, C, k)
    b : ndarray, shape (F,), optional
    stride : int, default 1
    pad : int, default 0

    Returns
    -------
    out : ndarray, shape (N, F, Lo)
        ``Lo = (L + 2 pad - k) // stride + 1``.
    cache : ConvCache
        ``cache.cols`` (N*Lo, C*k): for C = 1 and stride 1 its rows are the tapped delay line of
        each signal, so a single-channel Conv1d trained by SGD on an MSE loss is block LMS.

    Notes
    -----
    The maths (Y = U W^T, dW = dY^T U, dX = col2im(dY W), db = sum of dY; SGD on W is block
    LMS with error -dY) is written out in :func:`conv2d_forward`.
    """
    x, w, b, stride, pad, (Lo,) = _check_inputs(x, w, b, stride, pad, ndim=3)
    out, cols = _forward(x[:, :, None, :], w[:, :, None, :], b, (1, stride), (0, pad), (1, Lo))
    return out[:, :, 0, :], ConvCache(x.shape, cols, w, b is not None, stride, pad)


def conv1d_backward(dout, cache: ConvCache):
    """Gradients ``(dx, dw, db)`` of a :func:`conv1d_forward` call (``db`` None without bias).

    ``dout`` has shape (N, F, Lo); ``dx`` (N, C, L), ``dw`` (F, C, k), ``db`` (F,).
    """
    dout = _check_dout(dout, cache, ConvCache, 3, "conv1d_forward")
    N, C, L = cache.x_shape
    w4 = cache.w[:, :, None, :]
    dx, dw, db = _backward(dout[:, :, None, :], cache.cols, w4, (N, C, 1, L), cache.has_bias,
                           (1, cache.stride), (0, cache.pad))
    return dx.reshape(N, C, L), dw.reshape(cache.w.shape), db


# --------------------------------------------------------------------------------------------
# Naive twins: the definition of the convolution, one multiply-add at a time
# --------------------------------------------------------------------------------------------

def conv2d_forward_naive(x, w, b=None, *, stride=1, pad=0):
    """Loop version of :func:`conv2d_forward`; returns ``(out, NaiveConvCache)``."""
    x, w, b, (sh, sw), (ph, pw), (Ho, Wo) = _check_inputs(x, w, b, stride, pad, ndim=4)
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    out = np.zeros((N, F, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for ho in range(Ho):
                for wo in range(Wo):
                    acc = 0.0 if b is None else b[f]
                    for c in range(C):
                        for i in range(kh):
                            for j in range(kw):
                                r, s = ho * sh + i - ph, wo * sw + j - pw
                                if 0 <= r < H and 0 <= s < W:    # padding contributes 0
                                    acc += w[f, c, i, j] * x[n, c, r, s]
                    out[n, f, ho, wo] = acc
    return out, NaiveConvCache(x, w, b is not None, (sh, sw), (ph, pw))


def conv2d_backward_naive(dout, cache: NaiveConvCache):
    """Loop version of :func:`conv2d_backward`: every multiply-add of the forward pass sends
    ``dout`` back to the weight and to the input pixel it used."""
    dout = _check_dout(dout, cache, NaiveConvCache, 4, "conv2d_forward_naive")
    x, w = cache.x, cache.w
    (sh, sw), (ph, pw) = cache.stride, cache.pad
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    _, _, Ho, Wo = dout.shape
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    db = np.zeros(F, dtype=w.dtype) if cache.has_bias else None
    for n in range(N):
        for f in range(F):
            for ho in range(Ho):
                for wo in range(Wo):
                    g = dout[n, f, ho, wo]
                    if db is not None:
                        db[f] += g
                    for c in range(C):
                        for i in range(kh):
                            for j in range(kw):
                                r, s = ho * sh + i - ph, wo * sw + j - pw
                                if 0 <= r < H and 0 <= s < W:
                                    dw[f, c, i, j] += g * x[n, c, r, s]
                                    dx[n, c, r, s] += g * w[f, c, i, j]
    return dx, dw, db


def conv1d_forward_naive(x, w, b=None, *, stride: int = 1, pad: int = 0):
    """Loop version of :func:`conv1d_forward`; returns ``(out, NaiveConvCache)``."""
    x, w, b, stride, pad, (Lo,) = _check_inputs(x, w, b, stride, pad, ndim=3)
    N, C, L = x.shape
    F, _, k = w.shape
    out = np.zeros((N, F, Lo), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for lo in range(Lo):
                acc = 0.0 if b is None else b[f]
                for c in range(C):
                    for j in range(k):
                        t = lo * stride + j - pad
                        if 0 <= t < L:
                            acc += w[f, c, j] * x[n, c, t]
                out[n, f, lo] = acc
    return out, NaiveConvCache(x, w, b is not None, stride, pad)


def conv1d_backward_naive(dout, cache: NaiveConvCache):
    """Loop version of :func:`conv1d_backward`."""
    dout = _check_dout(dout, cache, NaiveConvCache, 3, "conv1d_forward_naive")
    x, w, stride, pad = cache.x, cache.w, cache.stride, cache.pad
    N, C, L = x.shape
    F, _, k = w.shape
    Lo = dout.shape[2]
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    db = np.zeros(F, dtype=w.dtype) if cache.has_bias else None
    for n in range(N):
        for f in range(F):
            for lo in range(Lo):
                g = dout[n, f, lo]
                if db is not None:
                    db[f] += g
                for c in range(C):
                    for j in range(k):
                        t = lo * stride + j - pad
                        if 0 <= t < L:
                            dw[f, c, j] += g * x[n, c, t]
                            dx[n, c, t] += g * w[f, c, j]
    return dx, dw, db
