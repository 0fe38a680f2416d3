r"""Fully connected (affine) layer: the adaptive linear combiner in its plainest form.

``linear_forward`` computes :math:`Y = X W^\top + b` in PyTorch's layout (``w`` is
``(out_features, in_features)``), which is exactly an adaptive linear combiner (as in
:mod:`lmsbn.filters`) with the batch rows of ``x`` as regressors.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lmsbn._checks import as_float_array, check_shape

__all__ = ["LinearCache", "linear_backward", "linear_forward"]


class LinearCache(NamedTuple):
    """Inputs kept for :func:`linear_backward`.

    Attributes
    ----------
    x : ndarray, shape (N, D)
        The layer input: the regressors, one row per example.
    w : ndarray, shape (F, D)
        The weights, one row per output.
    has_bias : bool
        Whether a bias was added (``linear_backward`` then returns its gradient).
    """

    x: np.ndarray
    w: np.ndarray
    has_bias: bool


def linear_forward(x, w, b=None):
    r"""Affine layer :math:`Y = X W^\top + b`.

    Parameters
    ----------
    x : ndarray, shape (N, D)
        Input, one row per example.
    w : ndarray, shape (F, D)
        Weights (PyTorch layout: one row per output feature).
    b : ndarray, shape (F,), optional
        Bias; ``None`` for none.

    Returns
    -------
    out : ndarray, shape (N, F)
        In the dtype NumPy promotes ``x`` and ``w`` to (float32 stays float32).
    cache : LinearCache

    Notes
    -----
    Non-finite entries are allowed and propagate silently, so that a diverging run reaches the
    training loop's divergence check instead of raising here.

    Examples
    --------
    >>> import numpy as np
    >>> out, _ = linear_forward(np.array([[1.0, 2.0]]), np.array([[3.0, 4.0]]), np.array([0.5]))
    >>> out
    array([[11.5]])
    """
    x = as_float_array(x, "x", ndim=2, finite=False)
    w = as_float_array(w, "w", ndim=2, finite=False)
    check_shape(w, "w", (None, x.shape[1]), what=f"(F, D) with D = x.shape[1] = {x.shape[1]}")
    with np.errstate(over="ignore", invalid="ignore"):
        out = x @ w.T
        if b is not None:
            b = as_float_array(b, "b", ndim=1, finite=False, dtype=out.dtype)
            check_shape(b, "b", (w.shape[0],), what="(one entry per output feature)")
            out += b
    return out, LinearCache(x=x, w=w, has_bias=b is not None)


def linear_backward(dout, cache: LinearCache):
    r"""Gradients of :func:`linear_forward`.

    Parameters
    ----------
    dout : ndarray, shape (N, F)
        Upstream gradient :math:`\partial L / \partial Y`.
    cache : LinearCache

    Returns
    -------
    dx : ndarray, shape (N, D)
        :math:`G W`.
    dw : ndarray, shape (F, D)
        :math:`G^\top X`: the block-LMS correlation of the error with the regressors
        (as in :class:`lmsbn.filters.BlockLMS`), so ``w -= lr * dw`` is block LMS with error
        :math:`-G`.
    db : ndarray of shape (F,), or None when the forward had no bias
        :math:`\sum_n G_n`.
    """
    if not isinstance(cache, LinearCache):
        raise TypeError("cache must be the LinearCache returned by linear_forward, "
                        f"got {type(cache).__name__}")
    x, w = cache.x, cache.w
    dout = as_float_array(dout, "dout", ndim=2, finite=False)
    check_shape(dout, "dout", (x.shape[0], w.shape[0]), what="(the shape of the forward output)")
    with np.errstate(over="ignore", invalid="ignore"):
        dx = dout @ w
        dw = dout.T @ x
        db = dout.sum(axis=0) if cache.has_bias else None
    return dx, dw, db
