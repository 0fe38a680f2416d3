r"""The Fisher information of a network's outputs, by power iteration on manual backprop only.

For a Gaussian output model :math:`p(t \mid x) = N(f_\theta(x), I)` the Fisher information is

.. math:: I(\theta) = \frac1N \sum_{n=1}^N J_n^\top J_n, \qquad J_n = \partial f_\theta(x_n) / \partial \theta,

which is also the Gauss-Newton matrix of the mean squared error
:math:`\frac{1}{2N}\sum_n \lVert f_\theta(x_n) - t_n\rVert^2`. Its largest eigenvalue sets the
largest stable learning rate of gradient descent (Wei, Stokes and Schwab 2019; LeCun et al. 1998).

:func:`fim_matvec` computes :math:`I v` without forming :math:`I`:

* :math:`u_n = J_n v` by a **central finite difference** of the forward pass along :math:`v`,
  :math:`(f(\theta + h v) - f(\theta - h v)) / 2h`. For a ReLU network the output is a polynomial
  in the parameters between kinks, so the error is :math:`O(h^2)` (third-order terms) plus a rare
  kink crossing; with the default :math:`h` the relative error is about :math:`10^{-8}` (measured
  against the exact Jacobian in the tests);
* :math:`\sum_n J_n^\top u_n` by **one backward pass** with ``dout = u``: exact.

BatchNorm in training mode couples the examples of a batch: :math:`f(x_n)` depends on the whole
batch through its statistics. We use the **batch-level Jacobian**: :math:`J_n` is the derivative
of the *batch* forward pass's n-th output, statistics included, which is exactly what the
training step differentiates. Running statistics are saved before and restored after, so the
model is left untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._checks import as_float_array, as_generator, check_int, check_positive
from ..io import Result, rng_param
from ..nn.sequential import Sequential

__all__ = ["FIMEstimate", "fim_explicit", "fim_lambda_max", "fim_matvec"]


def _params(model):
    return [(p, g) for _, p, g in model.named_parameters()]


def _states(model):
    return [(layer, layer.state.copy()) for _, layer in model.named_layers() if hasattr(layer, "state")]


def _restore(saved):
    for layer, state in saved:
        layer.state = state.copy()


def _flat(arrays):
    return np.concatenate([a.ravel() for a in arrays])


def _assign(params, theta):
    i = 0
    for p, _ in params:
        p[...] = theta[i:i + p.size].reshape(p.shape)
        i += p.size


def fim_matvec(model: Sequential, x, v, *, fd_step: float = 1e-4) -> np.ndarray:
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
    params = _params(model)
    theta = _flat([p for p, _ in params])
    v = as_float_array(v, "v", ndim=1)
    if v.size != theta.size:
        raise ValueError(f"v must have {theta.size} entries (the model's parameters), got {v.size}")
    fd_step = check_positive(fd_step, "fd_step")
    vn = np.sqrt(np.mean(v * v))
    if vn == 0:
        return np.zeros_like(theta)
    h = fd_step * max(1.0, float(np.sqrt(np.mean(theta * theta)))) / vn
    saved = _states(model)
    try:
        _assign(params, theta + h * v)
        f_plus = model.forward(x, train=True)
        _restore(saved)
        _assign(params, theta - h * v)
        f_minus = model.forward(x, train=True)
        _restore(saved)
        _assign(params, theta)
        u = (f_plus - f_minus) / (2 * h)
        model.forward(x, train=True)
        model.backward(u / x.shape[0])
        out = _flat([g for _, g in params])
    finally:
        _assign(params, theta)
        _restore(saved)
    return out


def fim_explicit(model: Sequential, x) -> np.ndarray:
    """The full Fisher matrix (P x P) from the exact batch Jacobian, one backward pass per output.

    For small networks only (tests, tutorials): row (n, c) of J is the parameter gradient of
    output ``f[n, c]``, obtained with ``dout`` = the indicator of that entry.
    """
    params = _params(model)
    theta = _flat([p for p, _ in params])
    saved = _states(model)
    try:
        out = model.forward(x, train=True)
        rows = []
        for idx in np.ndindex(out.shape):
            dout = np.zeros_like(out)
            dout[idx] = 1.0
            model.backward(dout)
            rows.append(_flat([g for _, g in params]))
    finally:
        _assign(params, theta)
        _restore(saved)
    J = np.array(rows)
    return J.T @ J / out.shape[0]


@dataclass
class FIMEstimate(Result):
    """Result of :func:`fim_lambda_max`.

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

    lambda_max: float
    history: np.ndarray
    converged: bool
    vector: np.ndarray
    params: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One line: the estimate and how the power iteration ended."""
        return (f"Fisher lambda_max ~ {self.lambda_max:.6g} after {self.history.size} power "
                f"iterations ({'converged' if self.converged else 'NOT converged'})")

    @classmethod
    def _example(cls) -> FIMEstimate:
        return cls(4.2, np.array([3.0, 4.1, 4.2]), True, np.array([0.6, 0.8, 0.0]),
                   {"iters": 3, "tol": 1e-3, "fd_step": 1e-4, "rng": 0, "batch_size": 8})

    def __float__(self):
        return float(self.lambda_max)


def fim_lambda_max(model: Sequential, x, *, iters: int = 50, tol: float = 1e-6, rng=None,
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
    Power iteration :math:`v \leftarrow I v / \|I v\|` converges to the top eigenvector at the rate
    :math:`\lambda_2/\lambda_1` per step. Each iteration costs three forward and one backward pass
    (:func:`fim_matvec`), about twice a training step. The largest stable learning rate of full-batch
    gradient descent on the squared error :math:`\frac{1}{2N}\sum_n \|f(x_n) - t_n\|^2` is
    :math:`2/\lambda_{max}`; for lmsbn's ``mse_loss`` (mean over all N*C entries) it is
    :math:`2C/\lambda_{max}`.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a lmsbn.nn.Sequential, got {type(model).__name__}")
    x = as_float_array(x, "x", min_ndim=2)
    iters = check_int(iters, "iters", min_value=1)
    tol = check_positive(tol, "tol")
    params = {"iters": iters, "tol": tol, "fd_step": fd_step, "rng": rng_param(rng),
              "batch_size": int(x.shape[0])}
    rng = as_generator(rng)
    P = model.num_parameters()
    v = rng.standard_normal(P)
    v /= np.linalg.norm(v)
    history, converged = [], False
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(iters):
            w = fim_matvec(model, x, v, fd_step=fd_step)
            lam = float(v @ w)
            history.append(lam)
            norm = np.linalg.norm(w)
            if not np.isfinite(norm) or norm == 0:
                break
            v = w / norm
            if len(history) > 1 and abs(history[-1] - history[-2]) <= tol * abs(history[-1]):
                converged = True
                break
    return FIMEstimate(history[-1], np.asarray(history), converged, v, params)
