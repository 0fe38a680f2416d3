r"""The opt-in fast convolution: the same maths as :mod:`lmsbn.nn.conv`, cache-blocked.

``conv2d_forward_fast`` / ``conv2d_backward_fast`` compute exactly what
:func:`~lmsbn.nn.conv.conv2d_forward` / :func:`~lmsbn.nn.conv.conv2d_backward` compute
(``Y = U W^T``, ``dW = dY^T U``, ``dx = col2im(dY W)``) and return the same :class:`ConvCache`
(``cols`` in the same column-major layout as ``im2col2d``'s), so either backward accepts either
forward's cache. Results agree to rounding, not bit for bit: the products are summed in blocks.
Use it with ``Conv2d(..., impl="fast")``. Read :mod:`lmsbn.nn.conv` first: this file is the same
algorithm rearranged for the memory hierarchy, and it does not call ``functional.im2col2d``,
so ``lmsbn.use(im2col2d=...)`` does not reach it.

Why it is faster (``lmsbn bench`` measures by how much): the work is done in blocks of images
(``_BLOCK_BYTES`` of patches each). A block of U^T written by the im2col copy is multiplied
while it is still in the CPU cache, and a block of the patch gradient dU^T is summed into dx
right after its product, so the full (M, K) dU is never allocated (the readable path writes it
to memory and reads it back, and each of col2im's kh*kw adds walks the whole input).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from lmsbn.nn.conv import ConvCache, _check_dout, _check_inputs

__all__ = ["conv2d_backward_fast", "conv2d_forward_fast"]

#: Bytes of patch matrix handled per block of images. A block this size stays in the CPU cache
#: between the copy (or GEMM) that writes it and the GEMM (or col2im) that reads it, instead of a
#: round trip through main memory; yet it is large enough for BLAS to run at full speed.
_BLOCK_BYTES = 2 * 2**20


def _image_blocks(N: int, bytes_per_image: int):
    """``(n0, n1)`` ranges covering ``range(N)``, each about ``_BLOCK_BYTES`` of patches."""
    size = max(1, min(N, _BLOCK_BYTES // bytes_per_image))
    return [(n0, min(N, n0 + size)) for n0 in range(0, N, size)]


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

    The layout :func:`~lmsbn.nn.im2col.im2col2d` builds too: for one kernel tap (c, i, j) the
    patches of all B images are one contiguous block, so the copy below runs along whole output
    rows on both sides, and ``ut.reshape(K, B*Ho*Wo)`` is U^T without a copy.

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


def conv2d_forward_fast(x, w, b=None, *, stride=1, pad=0):
    """:func:`~lmsbn.nn.conv.conv2d_forward`, cache-blocked: same arguments, same results (to
    rounding), same :class:`~lmsbn.nn.conv.ConvCache`.

    Returns
    -------
    out : ndarray, shape (N, F, Ho, Wo)
    cache : ConvCache
        ``cache.cols`` equals ``im2col2d(x, kh, kw, stride=stride, pad=pad)`` entry for entry,
        in the same column-major layout.
    """
    x, w, b, stride, pad, out_hw = _check_inputs(x, w, b, stride, pad, ndim=4)
    out, cols = _forward(x, w, b, stride, pad, out_hw)
    return out, ConvCache(x.shape, cols, w, b is not None, stride, pad)


def conv2d_backward_fast(dout, cache: ConvCache):
    """:func:`~lmsbn.nn.conv.conv2d_backward`, cache-blocked: ``(dx, dw, db)`` from ``dout``
    (N, F, Ho, Wo) and the cache of either forward function."""
    dout = _check_dout(dout, cache, ConvCache, 4, "conv2d_forward")
    return _backward(dout, cache.cols, cache.w, cache.x_shape, cache.has_bias, cache.stride,
                     cache.pad)
