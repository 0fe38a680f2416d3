r"""im2col and col2im: turning a convolution into one matrix product.

A convolution slides a small kernel over the input. im2col copies every patch the kernel sees
into one row of a *patch matrix* U, so that the whole convolution becomes the single product
``U @ w.reshape(F, -1).T``. In the adaptive-filter language of this library
(:mod:`lmsbn.filters`) U holds the *regressors* of the layer: one row per output pixel, one
column per weight.

Layout of the patch matrix ``cols`` for an input ``x`` of shape (N, C, H, W):

* rows: one per output pixel, ordered n slowest, then ho, then wo
  (row ``(n * Ho + ho) * Wo + wo``);
* columns: one per kernel weight, ordered c slowest, then kernel row i, then kernel column j
  (column ``(c * kh + i) * kw + j``), the order of ``w.reshape(F, C * kh * kw)``.

Entry ``cols[(n, ho, wo), (c, i, j)] = xpad[n, c, ho * sh + i, wo * sw + j]`` where ``xpad`` is
``x`` zero-padded by ``ph`` rows and ``pw`` columns on each side. The 1-D functions are the same
thing with H = 1, and for a single channel with ``stride = 1`` the rows are the tapped delay line
of the signal (in forward time order ``x(n), x(n+1), ...``; flip the kernel to get the classical
``x(n), x(n-1), ...`` tap order).

The functions are vectorised (a loop over the kh*kw kernel offsets at most) and short enough to
read: they are what the convolution layers run, and :func:`lmsbn.use` can swap a student's own
``im2col2d`` / ``col2im2d`` in for them. Each has a ``*_naive`` twin written as plain loops, one
element at a time, to step through in a debugger; the tests check that the twins agree.

References
----------
K. Chellapilla, S. Puri and P. Simard (2006), "High performance convolutional neural networks
for document processing", 10th International Workshop on Frontiers in Handwriting Recognition.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from lmsbn._checks import as_float_array, check_int, describe

__all__ = [
    "col2im1d",
    "col2im1d_naive",
    "col2im2d",
    "col2im2d_naive",
    "conv_output_size",
    "im2col1d",
    "im2col1d_naive",
    "im2col2d",
    "im2col2d_naive",
]


# --------------------------------------------------------------------------------------------
# Argument checking shared by the 1-D and 2-D functions (and by conv.py)
# --------------------------------------------------------------------------------------------

def _pair(value, name: str, *, min_value: int) -> tuple[int, int]:
    """``value`` (an int or a pair of ints) as a pair ``(rows, cols)``, each ``>= min_value``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {describe(value)}")
        return (check_int(value[0], f"{name}[0]", min_value=min_value),
                check_int(value[1], f"{name}[1]", min_value=min_value))
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int or a pair of ints, got {describe(value)}")
    value = check_int(value, name, min_value=min_value)
    return value, value


def conv_output_size(size: int, k: int, stride: int, pad: int, *, names=("H", "kh")) -> int:
    """Number of output positions along one axis, ``(size + 2 pad - k) // stride + 1``.

    Raises ``ValueError`` (naming the kernel and the input size) when the kernel does not fit in
    the padded input. When it fits, there is always at least one output position, whatever the
    stride.
    """
    padded = size + 2 * pad
    if k > padded:
        size_name, k_name = names
        raise ValueError(f"kernel {k_name}={k} is larger than the padded input: "
                         f"{size_name}={size} + 2*pad={2 * pad} = {padded}")
    return (padded - k) // stride + 1


def _check_2d(x, kh, kw, stride, pad):
    """Validate the im2col2d arguments; return ``x, kh, kw, (sh, sw), (ph, pw), (Ho, Wo)``."""
    x = as_float_array(x, "x", ndim=4)
    kh = check_int(kh, "kh", min_value=1)
    kw = check_int(kw, "kw", min_value=1)
    stride = _pair(stride, "stride", min_value=1)
    pad = _pair(pad, "pad", min_value=0)
    _, _, H, W = x.shape
    Ho = conv_output_size(H, kh, stride[0], pad[0], names=("H", "kh"))
    Wo = conv_output_size(W, kw, stride[1], pad[1], names=("W", "kw"))
    return x, kh, kw, stride, pad, (Ho, Wo)


def _check_x_shape(x_shape, ndim: int) -> tuple[int, ...]:
    """``x_shape`` as a tuple of ``ndim`` positive ints."""
    if not isinstance(x_shape, (tuple, list)) or len(x_shape) != ndim:
        raise ValueError(f"x_shape must be a tuple of {ndim} ints, got {describe(x_shape)}")
    return tuple(check_int(s, f"x_shape[{d}]", min_value=1) for d, s in enumerate(x_shape))


def _check_cols(cols, x_shape, kh, kw, stride, pad):
    """Validate the col2im2d arguments; return ``cols, x_shape, kh, kw, stride, pad, (Ho, Wo)``."""
    # No finite check: col2im is linear, so NaN/inf simply propagate, and a check would cost a
    # full pass over a patch-sized matrix in every backward pass.
    cols = as_float_array(cols, "cols", ndim=2, finite=False)
    x_shape = _check_x_shape(x_shape, 4)
    kh = check_int(kh, "kh", min_value=1)
    kw = check_int(kw, "kw", min_value=1)
    stride = _pair(stride, "stride", min_value=1)
    pad = _pair(pad, "pad", min_value=0)
    N, C, H, W = x_shape
    Ho = conv_output_size(H, kh, stride[0], pad[0], names=("H", "kh"))
    Wo = conv_output_size(W, kw, stride[1], pad[1], names=("W", "kw"))
    expected = (N * Ho * Wo, C * kh * kw)
    if cols.shape != expected:
        raise ValueError(f"cols must have shape (N*Ho*Wo, C*kh*kw) = {expected} for "
                         f"x_shape={x_shape}, kh={kh}, kw={kw}, stride={stride}, pad={pad}; "
                         f"got {cols.shape}")
    return cols, x_shape, kh, kw, stride, pad, (Ho, Wo)


# --------------------------------------------------------------------------------------------
# The 2-D functions the convolution layers call (through lmsbn.nn.functional)
# --------------------------------------------------------------------------------------------

def im2col2d(x, kh: int, kw: int, *, stride=1, pad=0) -> np.ndarray:
    r"""Patch matrix of a batch of images.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
        Input images. float32 is kept; ints and bools become float64.
    kh, kw : int
        Kernel height and width.
    stride : int or (int, int), default 1
        Step between neighbouring patches, ``(sh, sw)``.
    pad : int or (int, int), default 0
        Zero padding on each side, ``(ph, pw)``.

    Returns
    -------
    cols : ndarray, shape (N*Ho*Wo, C*kh*kw)
        dtype of ``x``. Rows ordered (n, ho, wo), columns ordered (c, i, j), so
        ``cols @ w.reshape(F, -1).T`` is the convolution with weights ``w`` of shape
        (F, C, kh, kw). Stored column-major: ``cols.T`` (K, M) is C-contiguous (see Notes);
        ``np.ascontiguousarray(cols)`` gives a row-major copy.

    Notes
    -----
    .. math::

        U_{(n, h_o, w_o),\, (c, i, j)} = x^{\text{pad}}_{n,\, c,\, h_o s_h + i,\, w_o s_w + j},
        \qquad H_o = \left\lfloor \frac{H + 2 p_h - k_h}{s_h} \right\rfloor + 1 .

    The matrix is built as :math:`U^{\mathsf T}` (rows (c, i, j), columns (n, ho, wo)), the
    layout of CS231n's im2col, and returned as its transpose view. Why: copied in that order,
    both the windows read and the rows written run along ``wo``, contiguous in memory; the
    convolution's products then take it as it is (``Y^T = W U^T``), and :func:`col2im2d` of a
    gradient in the same layout adds whole output rows at a time.

    Memory: one padded copy of ``x`` plus the patch matrix itself.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> im2col2d(x, 2, 2)
    array([[0., 1., 3., 4.],
           [1., 2., 4., 5.],
           [3., 4., 6., 7.],
           [4., 5., 7., 8.]])
    """
    x, kh, kw, (sh, sw), (ph, pw), (Ho, Wo) = _check_2d(x, kh, kw, stride, pad)
    N, C = x.shape[:2]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))            # zero padding
    # Every kh x kw window of xp, as a read-only view (no copy): shape (N, C, Ho, Wo, kh, kw).
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    # U^T[(c, i, j), (n, ho, wo)] = windows[n, c, ho, wo, i, j]: reorder the axes and make the
    # one copy, in U^T's row order; then U^T is a (K, M) matrix and U its transpose (a view).
    ut = np.ascontiguousarray(windows.transpose(1, 4, 5, 0, 2, 3))
    return ut.reshape(C * kh * kw, N * Ho * Wo).T


def col2im2d(cols, x_shape, kh: int, kw: int, *, stride=1, pad=0) -> np.ndarray:
    r"""Adjoint of :func:`im2col2d`: scatter patch rows back into images, summing overlaps.

    Parameters
    ----------
    cols : ndarray, shape (N*Ho*Wo, C*kh*kw)
        One row per patch, in the layout produced by :func:`im2col2d` (typically the gradient
        ``dY @ W`` of a convolution with respect to its patch matrix).
    x_shape : tuple of int, (N, C, H, W)
        Shape of the image batch the patches were taken from.
    kh, kw, stride, pad
        As in :func:`im2col2d`.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
        Every input pixel receives the sum of the entries of ``cols`` that were copied from it;
        entries that came from the zero padding are dropped.

    Notes
    -----
    col2im is the transpose of the linear map im2col, not its inverse:

    .. math:: \langle \operatorname{im2col}(x), U \rangle
              = \langle x, \operatorname{col2im}(U) \rangle
              \quad \text{for all } x, U,

    which is exactly why it back-propagates a gradient through im2col. The loop runs over the
    kh*kw kernel offsets only; each step adds all N*Ho*Wo patches at once. Any memory layout
    of ``cols`` works; the column-major one :func:`im2col2d` returns (and the convolution's
    backward pass produces) is the fast one, because each add then reads whole output rows.
    """
    cols, x_shape, kh, kw, (sh, sw), (ph, pw), (Ho, Wo) = _check_cols(cols, x_shape, kh, kw,
                                                                      stride, pad)
    N, C, H, W = x_shape
    # Rows (n, ho, wo) and columns (c, i, j) as axes, channel first: (C, N, Ho, Wo, kh, kw), a
    # view. Channel first because im2col2d stores U^T channel first: each add below then reads
    # long contiguous runs (it would gather with a stride of C*kh*kw from a row-major cols).
    patches = cols.reshape(N, Ho, Wo, C, kh, kw).transpose(3, 0, 1, 2, 4, 5)
    dx_pad = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=cols.dtype)
    dx_cn = dx_pad.transpose(1, 0, 2, 3)                 # the same memory, seen channel first
    _add_windows(dx_cn, patches, (sh, sw))
    return dx_pad[:, :, ph:ph + H, pw:pw + W]            # drop the padding


def _add_windows(dx, patches, stride):
    """col2im's scatter, in place: ``dx[..., ho*sh+i, wo*sw+j] += patches[..., ho, wo, i, j]``.

    ``dx`` has shape (..., H, W) and ``patches`` (..., Ho, Wo, kh, kw), with the same leading
    axes; window (ho, wo) starts at (ho*sh, wo*sw) and must lie inside dx. Pooling's backward
    passes share it (a window's gradient is scattered back the same way).
    """
    (sh, sw), (Ho, Wo, kh, kw) = stride, patches.shape[-4:]
    for i in range(kh):
        for j in range(kw):
            # Window (ho, wo) read its tap (i, j) from dx's pixel (ho*sh + i, wo*sw + j): add it
            # back there. Within one tap these pixels are distinct, so ``+=`` loses nothing.
            dx[..., i:i + sh * Ho:sh, j:j + sw * Wo:sw] += patches[..., i, j]


# --------------------------------------------------------------------------------------------
# 1-D versions: a signal (N, C, L) is an image of height 1
# --------------------------------------------------------------------------------------------

def _check_1d(x, k, stride, pad):
    x = as_float_array(x, "x", ndim=3)
    k = check_int(k, "k", min_value=1)
    stride = check_int(stride, "stride", min_value=1)
    pad = check_int(pad, "pad", min_value=0)
    Lo = conv_output_size(x.shape[2], k, stride, pad, names=("L", "k"))
    return x, k, stride, pad, Lo


def _check_cols_1d(cols, x_shape, k, stride, pad):
    """Validate the col2im1d arguments; return ``cols, x_shape, k, stride, pad, Lo``."""
    cols = as_float_array(cols, "cols", ndim=2, finite=False)      # as in _check_cols
    x_shape = _check_x_shape(x_shape, 3)
    k = check_int(k, "k", min_value=1)
    stride = check_int(stride, "stride", min_value=1)
    pad = check_int(pad, "pad", min_value=0)
    N, C, L = x_shape
    Lo = conv_output_size(L, k, stride, pad, names=("L", "k"))
    if cols.shape != (N * Lo, C * k):
        raise ValueError(f"cols must have shape (N*Lo, C*k) = {(N * Lo, C * k)} for "
                         f"x_shape={x_shape}, k={k}, stride={stride}, pad={pad}; got {cols.shape}")
    return cols, x_shape, k, stride, pad, Lo


def im2col1d(x, k: int, *, stride: int = 1, pad: int = 0) -> np.ndarray:
    r"""Patch matrix of a batch of 1-D signals.

    Parameters
    ----------
    x : ndarray, shape (N, C, L)
        Input signals.
    k : int
        Kernel length.
    stride : int, default 1
    pad : int, default 0
        Zeros added at both ends.

    Returns
    -------
    cols : ndarray, shape (N*Lo, C*k)
        Rows ordered (n, lo), columns ordered (c, j); ``Lo = (L + 2 pad - k) // stride + 1``.

    Notes
    -----
    :math:`U_{(n, l),\,(c, j)} = x^{\text{pad}}_{n, c, l s + j}`. For one channel and stride 1
    row ``l`` is the window ``[x(l), x(l+1), ..., x(l+k-1)]``: the tapped delay line of an
    adaptive filter read in forward time, so a Conv1d is an adaptive linear combiner whose
    regressors are these rows (tutorial 03).
    """
    x, k, stride, pad, _ = _check_1d(x, k, stride, pad)
    return im2col2d(x[:, :, None, :], 1, k, stride=(1, stride), pad=(0, pad))


def col2im1d(cols, x_shape, k: int, *, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Adjoint of :func:`im2col1d`: ``cols`` (N*Lo, C*k) -> signals of shape ``x_shape`` (N, C, L).

    Overlapping windows are summed and the padding is cropped, as in :func:`col2im2d`.
    """
    cols, x_shape, k, stride, pad, Lo = _check_cols_1d(cols, x_shape, k, stride, pad)
    N, C, L = x_shape
    dx = col2im2d(cols, (N, C, 1, L), 1, k, stride=(1, stride), pad=(0, pad))
    return dx.reshape(N, C, L)


# --------------------------------------------------------------------------------------------
# Naive twins: explicit loops, one element at a time, to read and to debug
# --------------------------------------------------------------------------------------------

def im2col2d_naive(x, kh: int, kw: int, *, stride=1, pad=0) -> np.ndarray:
    """Loop version of :func:`im2col2d` (same arguments, same result)."""
    x, kh, kw, (sh, sw), (ph, pw), (Ho, Wo) = _check_2d(x, kh, kw, stride, pad)
    N, C, H, W = x.shape
    cols = np.zeros((N * Ho * Wo, C * kh * kw), dtype=x.dtype)
    for n in range(N):
        for ho in range(Ho):
            for wo in range(Wo):
                row = (n * Ho + ho) * Wo + wo
                for c in range(C):
                    for i in range(kh):
                        for j in range(kw):
                            col = (c * kh + i) * kw + j
                            r = ho * sh + i - ph          # input row this tap reads
                            s = wo * sw + j - pw          # input column this tap reads
                            if 0 <= r < H and 0 <= s < W:  # otherwise it reads padding: 0
                                cols[row, col] = x[n, c, r, s]
    return cols


def col2im2d_naive(cols, x_shape, kh: int, kw: int, *, stride=1, pad=0) -> np.ndarray:
    """Loop version of :func:`col2im2d` (same arguments, same result)."""
    cols, x_shape, kh, kw, (sh, sw), (ph, pw), (Ho, Wo) = _check_cols(cols, x_shape, kh, kw,
                                                                      stride, pad)
    N, C, H, W = x_shape
    dx = np.zeros(x_shape, dtype=cols.dtype)
    for n in range(N):
        for ho in range(Ho):
            for wo in range(Wo):
                row = (n * Ho + ho) * Wo + wo
                for c in range(C):
                    for i in range(kh):
                        for j in range(kw):
                            col = (c * kh + i) * kw + j
                            r = ho * sh + i - ph
                            s = wo * sw + j - pw
                            if 0 <= r < H and 0 <= s < W:
                                dx[n, c, r, s] += cols[row, col]
    return dx


def im2col1d_naive(x, k: int, *, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Loop version of :func:`im2col1d` (same arguments, same result)."""
    x, k, stride, pad, Lo = _check_1d(x, k, stride, pad)
    N, C, L = x.shape
    cols = np.zeros((N * Lo, C * k), dtype=x.dtype)
    for n in range(N):
        for lo in range(Lo):
            for c in range(C):
                for j in range(k):
                    t = lo * stride + j - pad
                    if 0 <= t < L:
                        cols[n * Lo + lo, c * k + j] = x[n, c, t]
    return cols


def col2im1d_naive(cols, x_shape, k: int, *, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Loop version of :func:`col2im1d` (same arguments, same result)."""
    cols, x_shape, k, stride, pad, Lo = _check_cols_1d(cols, x_shape, k, stride, pad)
    N, C, L = x_shape
    dx = np.zeros(x_shape, dtype=cols.dtype)
    for n in range(N):
        for lo in range(Lo):
            for c in range(C):
                for j in range(k):
                    t = lo * stride + j - pad
                    if 0 <= t < L:
                        dx[n, c, t] += cols[n * Lo + lo, c * k + j]
    return dx
