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

Each fast function has a ``*_naive`` twin written as plain loops, to read and to step through in
a debugger; the tests check that the twins agree.

References
----------
K. Chellapilla, S. Puri and P. Simard (2006), "High performance convolutional neural networks
for document processing", 10th International Workshop on Frontiers in Handwriting Recognition.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .._checks import as_float_array, check_int, describe

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
    cols = as_float_array(cols, "cols", ndim=2)
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
# Fast 2-D versions (no validation in the underscore cores: conv.py calls them after its own)
# --------------------------------------------------------------------------------------------

def _im2col2d(x, kh, kw, stride, pad, out_hw):
    """Patch matrix of an already validated input (see :func:`im2col2d`)."""
    N, C, H, W = x.shape
    (sh, sw), (ph, pw), (Ho, Wo) = stride, pad, out_hw
    if ph or pw:
        # Pad once; the padded copy is small (input sized), the patch matrix is kh*kw times larger.
        xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=x.dtype)
        xp[:, :, ph:ph + H, pw:pw + W] = x
    else:
        xp = x
    # Read-only view of every kh x kw window, no copy: shape (N, C, Ho, Wo, kh, kw).
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    cols = np.empty((N, Ho, Wo, C, kh, kw), dtype=x.dtype)
    # The single copy into the patch matrix. A plain ``cols[...] = windows`` walks the kernel
    # column j innermost (runs of only kw elements, ~3x slower); ``np.positive`` with
    # order="C" on axes permuted to (n, ho, c, i, j, wo) copies in long runs along wo while the
    # rows being filled for one (n, ho) stay in cache. np.positive is an exact copy for floats.
    np.positive(windows.transpose(0, 2, 1, 4, 5, 3),
                out=cols.transpose(0, 1, 3, 4, 5, 2), order="C")
    return cols.reshape(N * Ho * Wo, C * kh * kw)


def _valid_outputs(offset: int, pad: int, stride: int, size: int, out_size: int):
    """Output positions whose kernel tap ``offset`` lands inside the unpadded input.

    Output ``o`` reads input position ``o * stride + offset - pad``. Returns ``(o0, count,
    first_input)`` with ``count = 0`` when the tap only ever sees padding.
    """
    o0 = max(0, -((offset - pad) // stride))             # ceil((pad - offset) / stride)
    o1 = min(out_size - 1, (size - 1 + pad - offset) // stride)
    count = max(0, o1 - o0 + 1)
    return o0, count, o0 * stride + offset - pad


def _im2col2d_kmajor_into(ut, x, kh, kw, stride, pad, scratch):
    """Write the patches of ``x`` (B, C, H, W) into ``ut`` (C, kh, kw, B, Ho, Wo): U^T, not U.

    This is the layout the convolution layers keep (see :mod:`lmsbn.nn.conv`): for one kernel
    tap (c, i, j) the patches of all B images are one contiguous block, so the copy below runs
    along whole output rows on both sides, and ``ut.reshape(K, B*Ho*Wo)`` is U^T without a copy.

    ``scratch`` is a zero-bordered buffer of shape (>= B, C, H + 2 ph, W + 2 pw) reused from one
    block of images to the next: only its interior is overwritten, so its border stays the zero
    padding and no padded copy of the whole batch is ever allocated.
    """
    B, _, H, W = x.shape
    (sh, sw), (ph, pw) = stride, pad
    xp = scratch[:B]
    xp[:, :, ph:ph + H, pw:pw + W] = x
    # Read-only view of every kh x kw window, no copy: shape (B, C, Ho, Wo, kh, kw).
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    np.copyto(ut, windows.transpose(1, 4, 5, 0, 2, 3))


def _col2im2d_add(dx, patches, stride, pad):
    """Add the col2im of ``patches`` (C, kh, kw, N, Ho, Wo) into ``dx`` (N, C, H, W), in place.

    One vectorised add per kernel offset (i, j): all output pixels at once, each adding into the
    input pixel that tap read. Taps that read padding are cropped here, so no padded buffer is
    needed. With ``patches`` C-contiguous in this layout every add reads whole output rows.
    """
    C, kh, kw, N, Ho, Wo = patches.shape
    (sh, sw), (ph, pw) = stride, pad
    H, W = dx.shape[2], dx.shape[3]
    dx_cn = dx.transpose(1, 0, 2, 3)                  # a view (C, N, H, W), to match patches
    for i in range(kh):
        ho0, nh, r0 = _valid_outputs(i, ph, sh, H, Ho)
        for j in range(kw):
            wo0, nw, c0 = _valid_outputs(j, pw, sw, W, Wo)
            if nh == 0 or nw == 0:
                continue
            # Within one offset the strided target pixels are distinct, so ``+=`` is safe.
            dx_cn[:, :, r0:r0 + sh * (nh - 1) + 1:sh, c0:c0 + sw * (nw - 1) + 1:sw] += \
                patches[:, i, j, :, ho0:ho0 + nh, wo0:wo0 + nw]
    return dx


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
        C-contiguous, dtype of ``x``. Rows ordered (n, ho, wo), columns ordered (c, i, j), so
        ``cols @ w.reshape(F, -1).T`` is the convolution with weights ``w`` of shape
        (F, C, kh, kw).

    Notes
    -----
    .. math::

        U_{(n, h_o, w_o),\, (c, i, j)} = x^{\text{pad}}_{n,\, c,\, h_o s_h + i,\, w_o s_w + j},
        \qquad H_o = \left\lfloor \frac{H + 2 p_h - k_h}{s_h} \right\rfloor + 1 .

    Memory: one padded copy of ``x`` (only when ``pad > 0``) plus the patch matrix itself.

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
    x, kh, kw, stride, pad, out_hw = _check_2d(x, kh, kw, stride, pad)
    return _im2col2d(x, kh, kw, stride, pad, out_hw)


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

    .. math:: \langle \operatorname{im2col}(x), U \rangle = \langle x, \operatorname{col2im}(U) \rangle
              \quad \text{for all } x, U,

    which is exactly why it back-propagates a gradient through im2col. The loop runs over the
    kh*kw kernel offsets only; each step adds all N*Ho*Wo patches at once.
    """
    cols, x_shape, kh, kw, stride, pad, (Ho, Wo) = _check_cols(cols, x_shape, kh, kw, stride, pad)
    N, C = x_shape[0], x_shape[1]
    # Reorder once to U^T, (C, kh, kw, N, Ho, Wo), so that each per-offset add reads contiguous
    # rows instead of gathering with a stride of C*kh*kw elements.
    patches = np.ascontiguousarray(cols.T).reshape(C, kh, kw, N, Ho, Wo)
    return _col2im2d_add(np.zeros(x_shape, dtype=cols.dtype), patches, stride, pad)


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
    cols = as_float_array(cols, "cols", ndim=2)
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
    x, k, stride, pad, Lo = _check_1d(x, k, stride, pad)
    return _im2col2d(x[:, :, None, :], 1, k, (1, stride), (0, pad), (1, Lo))


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
