r"""The rectified linear unit, :math:`\mathrm{relu}(x) = \max(x, 0)`."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lmsbn._checks import as_float_array, check_shape

__all__ = ["ReluCache", "relu_backward", "relu_forward"]


class ReluCache(NamedTuple):
    """What :func:`relu_backward` needs.

    Attributes
    ----------
    mask : ndarray of bool, shape of x
        True where the input was strictly positive (where the gradient passes).
    """

    mask: np.ndarray


def relu_forward(x):
    r"""Elementwise :math:`\max(x, 0)`.

    Parameters
    ----------
    x : ndarray, any shape
        float64 by default; float32 is preserved. Non-finite values propagate (NaN stays NaN).

    Returns
    -------
    out : ndarray, shape of x
    cache : ReluCache

    Notes
    -----
    At the kink :math:`x = 0` the gradient is taken as 0, like PyTorch.
    """
    x = as_float_array(x, "x", finite=False)
    mask = x > 0
    # np.where keeps NaN (rather than mapping it to 0) so that divergence stays visible downstream.
    out = np.where(mask | np.isnan(x), x, x.dtype.type(0))
    return out, ReluCache(mask=mask)


def relu_backward(dout, cache: ReluCache):
    r"""Gradient of :func:`relu_forward`: ``dout`` where the input was positive, else 0.

    Parameters
    ----------
    dout : ndarray, shape of x
    cache : ReluCache

    Returns
    -------
    dx : ndarray, shape of x
    """
    if not isinstance(cache, ReluCache):
        raise TypeError("cache must be the ReluCache returned by relu_forward, "
                        f"got {type(cache).__name__}")
    dout = as_float_array(dout, "dout", finite=False, allow_empty=True)
    check_shape(dout, "dout", cache.mask.shape, what="(the shape of the forward output)")
    return np.where(cache.mask, dout, dout.dtype.type(0))
