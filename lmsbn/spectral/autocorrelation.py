r"""Autocorrelation matrices :math:`R = E[u u^T]`, from regressors or from a Toeplitz sequence.

The regressors ``U`` have shape ``(..., M, K)``, one row per input vector: tapped-delay-line
vectors for an adaptive filter, im2col patches for a conv layer (``K = C_in kh kw``). Nothing here
asks which.
"""

from __future__ import annotations

import numpy as np

from lmsbn._checks import as_float_array, describe

__all__ = ["autocorrelation", "toeplitz_autocorrelation"]


def autocorrelation(U, *, center: bool = False) -> np.ndarray:
    r"""Sample autocorrelation (or covariance) matrix of a set of regressors.

    Parameters
    ----------
    U : ndarray, shape (..., M, K)
        Regressors, one row per input vector. Leading axes (an ensemble of realizations, a batch
        of layers' worth of patches, ...) are pooled: all rows are treated as samples of the same
        distribution.
    center : bool, default False
        Subtract the column mean first, giving the covariance matrix instead of the (uncentred)
        autocorrelation matrix.

    Returns
    -------
    R : ndarray, shape (K, K)
        Symmetric positive semi-definite, same float dtype as ``U``.

    Notes
    -----
    .. math::

        R = \frac{1}{M}\sum_{m=1}^{M} u_m u_m^T = \frac{1}{M} U^T U, \qquad
        C = \frac{1}{M} (U - \mathbf{1}\bar u^T)^T (U - \mathbf{1}\bar u^T) = R - \bar u \bar u^T.

    The normalisation is :math:`1/M` (not :math:`1/(M-1)`), because LMS theory needs
    :math:`E[u u^T]`, and the block-LMS update :math:`W \leftarrow W + \mu E^T U / M` carries the
    same :math:`1/M`. The result is symmetrised exactly, :math:`(R + R^T)/2`, so that round-off in
    the matrix product can never make a "symmetric" matrix fail a symmetry test.

    A non-zero mean adds the rank-one "mean spike" :math:`\bar u \bar u^T` to the covariance; it
    inflates :math:`\lambda_{max}` and is what centring (BatchNorm's first step) removes
    (tutorial 05 shows the spike for post-ReLU inputs).
    """
    U = as_float_array(U, "U", min_ndim=2)
    if not isinstance(center, (bool, np.bool_)):
        raise TypeError(f"center must be a bool, got {describe(center)}")
    rows = U.reshape(-1, U.shape[-1])
    if center:
        rows = rows - rows.mean(axis=0)
    R = rows.T @ rows / rows.shape[0]
    return (R + R.T) / 2


def toeplitz_autocorrelation(r) -> np.ndarray:
    r"""Symmetric Toeplitz matrix of a wide-sense stationary autocorrelation sequence.

    Parameters
    ----------
    r : array_like, shape (K,)
        Autocorrelation at lags 0, 1, ..., K-1: :math:`r(k) = E[x(n) x(n-k)]`.

    Returns
    -------
    R : ndarray, shape (K, K)
        :math:`R_{ij} = r(|i - j|)`: the autocorrelation matrix of the tapped-delay-line
        regressor :math:`u(n) = [x(n), x(n-1), \dots, x(n-K+1)]` of a stationary signal.
    """
    r = as_float_array(r, "r", ndim=1)
    K = r.shape[0]
    lag = np.abs(np.arange(K)[:, None] - np.arange(K)[None, :])
    return r[lag]


