r"""Convolution layers as forward/backward function pairs, via im2col.

``conv2d_forward(x, w, b) -> (out, cache)`` and ``conv2d_backward(dout, cache) -> (dx, dw, db)``
follow PyTorch's ``conv2d`` semantics: cross-correlation (the kernel is not flipped), zero
padding, stride. The 1-D pair does the same for signals (N, C, L). Each has a ``*_naive`` twin
written as explicit loops over samples, filters, output pixels and kernel taps.

The default path is the adaptive linear combiner of :mod:`lmsbn.filters` written out, in the
order of the CS231n assignments -- a student stepping into ``Conv2d.forward`` lands here and sees
every step:

1. validate the arguments;
2. regressors ``U = im2col2d(x)``, shape (M, K) with M = N*Ho*Wo and K = C*kh*kw (the zero
   padding is done inside im2col);
3. weights ``W = w.reshape(F, K)``, one row per output filter, and the matrix product
   ``Y = U W^T`` -- done image by image, ``Y_n^T = W U_n^T``, by one broadcast ``np.matmul``
   that writes (N, F, Ho*Wo), the output's own layout;
4. reshape to (N, F, Ho, Wo).

The backward pass is two products and a col2im: ``dW = dY^T U`` and ``dx = col2im(dY W)``.

``im2col2d`` and ``col2im2d`` are looked up in their module, :mod:`lmsbn.nn.im2col`, at every
call (``im2col.im2col2d(...)``, never a name bound at import), so a student's own versions
swapped in with ``lmsbn.use(im2col2d=..., col2im2d=...)`` are the ones a training run uses.
The cache keeps ``cols`` (= U) because the backward pass needs it for dW and because the bridge
to adaptive-filter theory reads the layer's regressors from it (:func:`lmsbn.bridge.regressors`)
instead of computing im2col again.

Speed (``lmsbn bench``, the "GEMM floor" rows): the three products dominate; the rest is
im2col's copy, the transpose-copy of dY, col2im's kh*kw adds and first-touch allocation.

* **Forward, per image.** U's rows run over images first, so one product over all M rows gives
  Y^T as (F, N*Ho*Wo), which then needs a transpose-copy into (N, F, Ho, Wo). The per-image
  products ``Y_n^T = W U_n^T`` (one broadcast ``np.matmul``) write that layout directly.
* **Backward, one product each.** Done per image too, dW and dU would need no copy of dY, but
  they would be N small products each, and a threaded BLAS pays for every call in thread
  synchronisation: measured back to back on the 2-core machine at default threads, the per-image
  backward made the 3->16 benchmark 1.1-1.4x slower, while one thread gained ~10 %. So dY^T is
  copied once and each gradient is one large product.
* **dU column-major.** dU is computed as ``(W^T dY^T)^T``, im2col2d's layout, in which col2im's
  adds read whole rows; a row-major dU makes every add gather with a stride of C*kh*kw, which
  costs more than the faster product saves.

Measured (issue 13, ``lmsbn bench`` on the idle 2-core machine, see the README): at one
thread 1.52-1.69x the floor on the 3->16 benchmark shape (1.72-1.76x with one forward product)
and 1.31-1.40x on the other two; at default threads 0.7-0.9x torch's CPU conv on all three.
About 0.2x of the 3->16 ratio is page faults: the benchmark's loop frees this path's
patch-sized temporaries every call and glibc returns that memory to the OS (the floor rows count
the faults); with glibc told to keep it (the bench's "freed memory kept" row) the same code
measured 1.35-1.43x.
A cache-blocked version of this file (blocks of images, dU never allocated
whole) was kept as an opt-in fast path until it measured at most ~16 % faster at one thread and
1.5-2.5x slower with threaded BLAS; it was deleted (issue 13: less code is the better lesson).

References
----------
B. Widrow and S. D. Stearns (1985), *Adaptive Signal Processing*, Prentice-Hall (block LMS).
K. Chellapilla, S. Puri and P. Simard (2006), "High performance convolutional neural networks
for document processing" (convolution as im2col + matrix product).
Stanford CS231n, "Convolutional Neural Networks for Visual Recognition", assignment 2
(``conv_forward_im2col``: the layout and the order of the steps).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lmsbn._checks import as_float_array, check_int, check_shape, describe
from lmsbn.nn import im2col
from lmsbn.nn.im2col import _pair, conv_output_size

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
    cols : ndarray, shape (N*Ho*Wo, C*kh*kw) or (N*Lo, C*k)
        The patch matrix U = im2col(x) exactly as ``im2col.im2col2d`` (``im2col1d``)
        returned it: the layer's regressors, one row per output pixel, columns in the order of
        ``w.reshape(F, -1)``.
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
    # No finite check, as in every other backward pass here: the backward pass is linear in dout,
    # so NaN/inf propagate to the gradients, where the training loop records the divergence; a
    # check would also cost a full pass over dout.
    dout = as_float_array(dout, "dout", finite=False)
    stride, pad = cache.stride, cache.pad
    if isinstance(stride, int):
        stride, pad = (stride,), (pad,)
    out_spatial = tuple(conv_output_size(s, k, st, p) for s, k, st, p
                        in zip(x_shape[2:], cache.w.shape[2:], stride, pad))
    expected = (x_shape[0], cache.w.shape[0], *out_spatial)
    check_shape(dout, "dout", expected, what="(the shape of the forward output)")
    return dout.astype(cache.w.dtype, copy=False)


# --------------------------------------------------------------------------------------------
# The default path: im2col, one matrix product, reshape
# --------------------------------------------------------------------------------------------

def _plain(pair):
    """``(s, s)`` as the int ``s``; other pairs unchanged.

    What im2col receives: ``Conv2d(stride=1)`` passes 1 on as 1, so a student's im2col2d written
    for int strides (hw_02's) works when swapped in with :func:`lmsbn.use`.
    """
    return pair[0] if pair[0] == pair[1] else pair


def _per_image(cols, N: int):
    """The patch matrix U (M, K) seen as the N images' ``U_n^T``, shape (N, K, M/N).

    The rows of U run over images first (m = n*Ho*Wo + pixel), so each image's patches are one
    block of rows. A view when ``cols.T`` is C-contiguous, as :func:`im2col.im2col2d` returns it;
    a student's im2col with another layout still works, at the cost of one copy.
    """
    return cols.T.reshape(cols.shape[1], N, -1).transpose(1, 0, 2)


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
    x, w, b, stride, pad, (Ho, Wo) = _check_inputs(x, w, b, stride, pad, ndim=4)
    N = x.shape[0]
    F, _, kh, kw = w.shape
    cols = im2col.im2col2d(x, kh, kw, stride=_plain(stride), pad=_plain(pad))  # U: (M, K)
    out = np.matmul(w.reshape(F, -1), _per_image(cols, N))     # Y_n^T = W U_n^T: (N, F, Ho*Wo)
    if b is not None:
        out += b[:, None]
    return out.reshape(N, F, Ho, Wo), ConvCache(x.shape, cols, w, b is not None, stride, pad)


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
    w, cols = cache.w, cache.cols
    F, _, kh, kw = w.shape
    dYt = dout.transpose(1, 0, 2, 3).reshape(F, -1)       # dY^T: (F, M), columns like U's rows
    dw = (dYt @ cols).reshape(w.shape)                    # dW = dY^T U
    # dU = dY W, computed as (W^T dY^T)^T: it then comes out in im2col2d's column-major layout,
    # the one in which col2im2d's adds read whole rows.
    dcols = (w.reshape(F, -1).T @ dYt).T                  # dU: (M, K)
    dx = im2col.col2im2d(dcols, cache.x_shape, kh, kw, stride=_plain(cache.stride),
                         pad=_plain(cache.pad))
    db = dout.sum(axis=(0, 2, 3)) if cache.has_bias else None
    return dx, dw, db


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
    The same steps as :func:`conv2d_forward`, with ``im2col1d``; the maths (Y = U W^T,
    dW = dY^T U, dX = col2im(dY W), db = sum of dY; SGD on W is block LMS with error -dY) is
    written out there.
    """
    x, w, b, stride, pad, (Lo,) = _check_inputs(x, w, b, stride, pad, ndim=3)
    N = x.shape[0]
    F, _, k = w.shape
    cols = im2col.im2col1d(x, k, stride=stride, pad=pad)       # U: (M, K), M = N*Lo, K = C*k
    out = np.matmul(w.reshape(F, -1), _per_image(cols, N))         # Y_n^T = W U_n^T: (N, F, Lo)
    if b is not None:
        out += b[:, None]
    return out, ConvCache(x.shape, cols, w, b is not None, stride, pad)


def conv1d_backward(dout, cache: ConvCache):
    """Gradients ``(dx, dw, db)`` of a :func:`conv1d_forward` call (``db`` None without bias).

    ``dout`` has shape (N, F, Lo); ``dx`` (N, C, L), ``dw`` (F, C, k), ``db`` (F,). The same
    two products and col2im as :func:`conv2d_backward`.
    """
    dout = _check_dout(dout, cache, ConvCache, 3, "conv1d_forward")
    w, cols = cache.w, cache.cols
    F, _, k = w.shape
    dYt = dout.transpose(1, 0, 2).reshape(F, -1)          # dY^T: (F, M)
    dw = (dYt @ cols).reshape(w.shape)                    # dW = dY^T U
    dcols = (w.reshape(F, -1).T @ dYt).T                  # dU = dY W, column-major (see 2-D)
    dx = im2col.col2im1d(dcols, cache.x_shape, k, stride=cache.stride, pad=cache.pad)
    db = dout.sum(axis=(0, 2)) if cache.has_bias else None
    return dx, dw, db


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
