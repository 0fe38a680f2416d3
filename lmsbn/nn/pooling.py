r"""Max, average and global average pooling over NCHW images.

The windows come from :func:`numpy.lib.stride_tricks.sliding_window_view`, a zero-copy view of
shape (N, C, H_out, W_out, kh, kw), so the forward passes have no Python loop over pixels. The
backward passes build each window's gradient in that same shape and scatter it back with
col2im's scatter (``lmsbn.nn.im2col._add_windows``): a loop over the kh * kw offsets inside a
window, each step a strided slice of the whole image, so overlapping windows (stride < kernel)
accumulate correctly.

Output size (no padding, PyTorch's ``ceil_mode=False``):
:math:`H_\text{out} = \lfloor (H - k_h) / s_h \rfloor + 1`, and likewise for the width.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from lmsbn._checks import as_float_array, check_shape
from lmsbn.nn.im2col import _add_windows, _pair

__all__ = [
    "GlobalAvgPoolCache",
    "PoolCache",
    "avgpool2d_backward",
    "avgpool2d_forward",
    "global_avgpool_backward",
    "global_avgpool_forward",
    "maxpool2d_backward",
    "maxpool2d_forward",
]


class PoolCache(NamedTuple):
    """What the 2-D pooling backward passes need.

    Attributes
    ----------
    x_shape : tuple of int
        (N, C, H, W) of the input.
    kernel, stride : tuple of int
        (kh, kw) and (sh, sw).
    argmax : ndarray of int, shape (N, C, H_out, W_out), or None
        Max pooling: flat index ``a * kw + b`` of the winning entry inside each window
        (None for average pooling).
    """

    x_shape: tuple
    kernel: tuple
    stride: tuple
    argmax: np.ndarray | None


class GlobalAvgPoolCache(NamedTuple):
    """Input shape kept for :func:`global_avgpool_backward`."""

    x_shape: tuple


def _windows_setup(x, k, stride):
    """Validate a pooling call and return (x, kernel, stride, output size)."""
    x = as_float_array(x, "x", ndim=4, finite=False)
    kernel = _pair(k, "k", min_value=1)
    stride = kernel if stride is None else _pair(stride, "stride", min_value=1)
    H, W = x.shape[2:]
    if kernel[0] > H or kernel[1] > W:
        raise ValueError(f"k = {kernel} is larger than the input's spatial size {(H, W)} "
                         f"(x has shape {x.shape})")
    out_hw = ((H - kernel[0]) // stride[0] + 1, (W - kernel[1]) // stride[1] + 1)
    return x, kernel, stride, out_hw


def _windows(x, kernel, stride):
    """Zero-copy view (N, C, H_out, W_out, kh, kw) of the pooling windows."""
    return sliding_window_view(x, kernel, axis=(2, 3))[:, :, ::stride[0], ::stride[1]]


def _check_backward(dout, cache, fn):
    if not isinstance(cache, PoolCache):
        raise TypeError(f"cache must be the PoolCache returned by {fn}, got {type(cache).__name__}")
    dout = as_float_array(dout, "dout", ndim=4, finite=False)
    N, C, H, W = cache.x_shape
    (kh, kw), (sh, sw) = cache.kernel, cache.stride
    out_hw = ((H - kh) // sh + 1, (W - kw) // sw + 1)
    check_shape(dout, "dout", (N, C) + out_hw, what="(the shape of the forward output)")
    return dout


def maxpool2d_forward(x, k, *, stride=None):
    r"""Max pooling with a (kh, kw) window.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    k : int or (int, int)
        Window size; must not exceed (H, W).
    stride : int or (int, int), optional
        Defaults to ``k`` (non-overlapping windows), like PyTorch.

    Returns
    -------
    out : ndarray, shape (N, C, H_out, W_out)
    cache : PoolCache

    Notes
    -----
    Ties: when several entries of a window share the maximum, the whole gradient goes to the
    *first* one in row-major order inside the window (:func:`numpy.argmax`'s rule). PyTorch's CPU
    kernel makes the same choice for finite values, but do not rely on ties in gradient checks.
    """
    x, kernel, stride, out_hw = _windows_setup(x, k, stride)
    win = _windows(x, kernel, stride)
    # Usually a copy: a window's row and column axes cannot be merged into one strided axis.
    flat = win.reshape(win.shape[:4] + (-1,))
    argmax = flat.argmax(axis=-1)
    out = np.take_along_axis(flat, argmax[..., None], axis=-1)[..., 0]
    return out, PoolCache(x_shape=x.shape, kernel=kernel, stride=stride, argmax=argmax)


def maxpool2d_backward(dout, cache: PoolCache):
    """Gradient of :func:`maxpool2d_forward`: each ``dout`` entry goes to its window's argmax.

    Parameters
    ----------
    dout : ndarray, shape (N, C, H_out, W_out)
    cache : PoolCache

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    """
    dout = _check_backward(dout, cache, "maxpool2d_forward")
    if cache.argmax is None:
        raise ValueError("cache comes from avgpool2d_forward, not maxpool2d_forward")
    kh, kw = cache.kernel
    # Each window's gradient: dout at its argmax, 0 elsewhere; (N, C, H_out, W_out, kh, kw).
    winner = cache.argmax[..., None, None] == np.arange(kh * kw).reshape(kh, kw)
    dx = np.zeros(cache.x_shape, dtype=dout.dtype)
    _add_windows(dx, np.where(winner, dout[..., None, None], 0), cache.stride)
    return dx


def avgpool2d_forward(x, k, *, stride=None):
    r"""Average pooling with a (kh, kw) window (no padding).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    k : int or (int, int)
        Window size; must not exceed (H, W).
    stride : int or (int, int), optional
        Defaults to ``k``, like PyTorch.

    Returns
    -------
    out : ndarray, shape (N, C, H_out, W_out)
        :math:`\frac{1}{k_h k_w} \sum_{a, b} x[n, c, i s_h + a, j s_w + b]`.
    cache : PoolCache
    """
    x, kernel, stride, out_hw = _windows_setup(x, k, stride)
    out = _windows(x, kernel, stride).mean(axis=(-2, -1))
    return out, PoolCache(x_shape=x.shape, kernel=kernel, stride=stride, argmax=None)


def avgpool2d_backward(dout, cache: PoolCache):
    """Gradient of :func:`avgpool2d_forward`: ``dout / (kh kw)`` spread over each window.

    Parameters
    ----------
    dout : ndarray, shape (N, C, H_out, W_out)
    cache : PoolCache

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    """
    dout = _check_backward(dout, cache, "avgpool2d_forward")
    kh, kw = cache.kernel
    share = dout / (kh * kw)
    dx = np.zeros(cache.x_shape, dtype=dout.dtype)
    # Every entry of a window gets the same share: a broadcast view, nothing is copied.
    _add_windows(dx, np.broadcast_to(share[..., None, None], share.shape + (kh, kw)), cache.stride)
    return dx


def global_avgpool_forward(x):
    r"""Mean over all spatial positions: (N, C, ...) -> (N, C).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W) or (N, C, L)

    Returns
    -------
    out : ndarray, shape (N, C)
    cache : GlobalAvgPoolCache
    """
    x = as_float_array(x, "x", ndim=(3, 4), finite=False)
    return x.mean(axis=tuple(range(2, x.ndim))), GlobalAvgPoolCache(x_shape=x.shape)


def global_avgpool_backward(dout, cache: GlobalAvgPoolCache):
    """Gradient of :func:`global_avgpool_forward`: ``dout`` spread evenly over the positions.

    Parameters
    ----------
    dout : ndarray, shape (N, C)
    cache : GlobalAvgPoolCache

    Returns
    -------
    dx : ndarray, shape (N, C, H, W) or (N, C, L)
    """
    if not isinstance(cache, GlobalAvgPoolCache):
        raise TypeError("cache must be the GlobalAvgPoolCache returned by global_avgpool_forward, "
                        f"got {type(cache).__name__}")
    shape = cache.x_shape
    dout = as_float_array(dout, "dout", ndim=2, finite=False)
    check_shape(dout, "dout", shape[:2], what="(the shape of the forward output)")
    positions = int(np.prod(shape[2:]))
    dx = dout.reshape(shape[:2] + (1,) * (len(shape) - 2)) / positions
    return np.broadcast_to(dx, shape).copy()
