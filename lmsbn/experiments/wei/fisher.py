r"""The Fisher information of a network's outputs, by power iteration on manual backprop only.

For a Gaussian output model :math:`p(t \mid x) = N(f_\theta(x), I)` the Fisher information is

.. math::

    I(\theta) = \frac1N \sum_{n=1}^N J_n^\top J_n, \qquad
    J_n = \partial f_\theta(x_n) / \partial \theta,

which is also the Gauss-Newton matrix of the mean squared error
:math:`\frac{1}{2N}\sum_n \lVert f_\theta(x_n) - t_n\rVert^2`. Its largest eigenvalue sets the
largest stable learning rate of gradient descent (Wei, Stokes and Schwab 2019; LeCun et al. 1998).

:func:`fim_matvec` computes :math:`I v` without forming :math:`I`, with the Gauss-Newton
machinery of :mod:`lmsbn.bridge.stability` (the ``"gaussian"`` loss there: this matrix *is* the
Gauss-Newton matrix of :math:`\frac{1}{2N}\sum_n \lVert f_\theta(x_n) - t_n\rVert^2`):

* :math:`u_n = J_n v` by a **central finite difference** of the forward pass along :math:`v`,
  :math:`(f(\theta + h v) - f(\theta - h v)) / 2h`. For a ReLU network the output is a polynomial
  in the parameters between kinks, so the error is :math:`O(h^2)` (third-order terms) plus a rare
  kink crossing. With the default :math:`h` it is at rounding level for a plain ReLU network
  and small with BatchNorm, whose normalisation is smooth but not polynomial
  (``tests/test_wei.py`` bounds both against the explicit matrix);
* :math:`\sum_n J_n^\top u_n` by **one backward pass** with ``dout = u``: exact.

BatchNorm in training mode couples the examples of a batch: :math:`f(x_n)` depends on the whole
batch through its statistics. We use the **batch-level Jacobian**: :math:`J_n` is the derivative
of the *batch* forward pass's n-th output, statistics included, which is exactly what the
training step differentiates. Parameters, gradients and running statistics are restored after,
so the model is left untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmsbn.bridge import GNEstimate, gn_explicit, gn_lambda_max, gn_matvec
from lmsbn.io import rng_param

__all__ = ["FIMEstimate", "fim_explicit", "fim_lambda_max", "fim_matvec"]


def fim_matvec(model, x, v, *, fd_step: float = 1e-4) -> np.ndarray:
    r"""Return :math:`I v = \frac1N \sum_n J_n^\top J_n v` for the parameters of ``model``.

    Parameters
    ----------
    model : Sequential
    x : ndarray, shape (N, ...)
        The batch (training-mode forward; see the module notes on BatchNorm).
    v : ndarray, shape (P,)
        A direction in parameter space, in ``model.named_parameters()`` order.
    fd_step : float
        Relative finite-difference step: :math:`h` = ``fd_step`` * max(1, RMS(theta)) / RMS(v).

    Returns
    -------
    ndarray, shape (P,)
    """
    return gn_matvec(model, x, v, loss="gaussian", fd_step=fd_step)


def fim_explicit(model, x) -> np.ndarray:
    """The full Fisher matrix (P x P) from the exact batch Jacobian, one backward pass per output.

    For small networks only (tests, tutorials): row (n, c) of J is the parameter gradient of
    output ``f[n, c]``, obtained with ``dout`` = the indicator of that entry.
    """
    return gn_explicit(model, x, loss="gaussian")


@dataclass
class FIMEstimate(GNEstimate):
    """Result of :func:`fim_lambda_max`: a :class:`lmsbn.bridge.GNEstimate` of the Fisher matrix.

    Attributes
    ----------
    lambda_max : float
        The Rayleigh quotient :math:`v^\top I v` of the iterate before ``vector`` (a lower bound
        on the true lambda_max, up to the finite-difference error).
    history : ndarray, shape (iterations,)
        Rayleigh quotient per iteration.
    converged : bool
        Whether the relative change fell below ``tol``.
    vector : ndarray, shape (P,)
        The last (unit-norm) iterate: the sharpest direction in parameter space.
    params : dict
        The arguments of :func:`fim_lambda_max` (and the batch size).
    """

    _matrix = "Fisher"

    @classmethod
    def _example(cls) -> FIMEstimate:
        return cls(4.2, np.array([3.0, 4.1, 4.2]), True, np.array([0.6, 0.8, 0.0]),
                   {"iters": 3, "tol": 1e-3, "fd_step": 1e-4, "rng": 0, "batch_size": 8})


def fim_lambda_max(model, x, *, iters: int = 50, tol: float = 1e-6, rng=None,
                   fd_step: float = 1e-4) -> FIMEstimate:
    r"""Largest eigenvalue of the Fisher information of ``model`` on the batch ``x``.

    Parameters
    ----------
    model : Sequential
        Its output, shape (N, C), is the mean of the Gaussian output model.
    x : ndarray, shape (N, ...)
    iters : int
        Maximum number of power iterations.
    tol : float
        Stop when the Rayleigh quotient changes by less than ``tol`` relative.
    rng : None, int or Generator
        Draws the random starting vector.
    fd_step : float
        See :func:`fim_matvec`.

    Returns
    -------
    FIMEstimate

    Notes
    -----
    Power iteration :math:`v \leftarrow I v / \|I v\|` (:func:`lmsbn.bridge.gn_lambda_max`)
    converges to the top eigenvector at the rate :math:`\lambda_2/\lambda_1` per step. Each
    iteration costs two forward and one backward pass, about one and a half training steps. The
    largest stable learning rate of full-batch gradient descent on the squared error
    :math:`\frac{1}{2N}\sum_n \|f(x_n) - t_n\|^2` is :math:`2/\lambda_{max}`; for lmsbn's
    ``mse_loss`` (mean over all N*C entries) it is :math:`2C/\lambda_{max}`.
    """
    params = {"iters": iters, "tol": tol, "fd_step": fd_step, "rng": rng_param(rng),
              "batch_size": int(np.shape(x)[0])}
    est = gn_lambda_max(model, x, loss="gaussian", iters=iters, tol=tol, rng=rng,
                        fd_step=fd_step)
    return FIMEstimate(est.lambda_max, est.history, est.converged, est.vector, params)
