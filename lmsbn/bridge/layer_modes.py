r"""Natural modes inside a network layer: the exact case, and measured against predicted decay.

Two questions, one per case of :func:`lmsbn.bridge.layer_case`:

* **Exact.** One conv (or linear) layer trained *alone* by :func:`lmsbn.train.train` with
  ``loss="mse"`` on a fixed full batch towards a fixed target is deterministic block LMS. Its
  weight error along each eigenvector of the layer's input autocorrelation
  :math:`R = U^T U / M` decays as :math:`(1 - \mu\lambda_k)^n`, with :math:`\mu` the learning
  rate converted to LMS units by :func:`lms_step_size`. :func:`exact_layer_modes` runs it and
  returns both trajectories; they agree to round-off.
* **Approximate.** In full training the error a layer sees is back-propagated through layers that
  move. :func:`mode_decay` fits the per-record decay factor of each mode of a recorded weight
  trajectory and sets it against :math:`(1 - \mu\lambda_k)^{\Delta}` for the eigenvalues of R
  (the unit-gain LMS picture) or of the layer's Gauss-Newton block
  (:func:`gauss_newton_block`, the curvature the layer's weights really see).
  :meth:`lmsbn.bridge.ModeTracker.mode_decay` applies it to a training record.

The unit conversion (derived in :func:`lms_step_size`) is lmsbn's own bookkeeping of its loss
normalisation; the mode theory is the classical one (Widrow and Stearns 1985; Haykin,
*Adaptive Filter Theory*).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lmsbn._checks import as_float_array, as_generator, check_choice, check_int, check_positive
from lmsbn.bridge.regressors import COMBINERS, layer_weights, regressors, rows_last
from lmsbn.bridge.stability import _GaussNewton
from lmsbn.io import Result, rng_param
from lmsbn.nn import Sequential
from lmsbn.spectral import Spectrum, mode_coordinates, predicted_modes
from lmsbn.train.loop import LOSSES, train

__all__ = ["ExactLayerModes", "GaussNewtonBlock", "ModeDecay", "exact_layer_modes",
           "gauss_newton_block", "lms_step_size", "mode_decay"]


def _out_features(layer) -> int:
    if not isinstance(layer, COMBINERS):
        raise TypeError(f"layer must be a Conv1d, Conv2d or Linear, got {type(layer).__name__}")
    return int(layer.params["weight"].shape[0])


def lms_step_size(layer, lr) -> float:
    r"""The LMS step size :math:`\mu` of an SGD step at ``lr`` on lmsbn's MSE of ``layer``'s output.

    Parameters
    ----------
    layer : Conv1d, Conv2d or Linear
        F output channels (features).
    lr : float
        The learning rate given to :func:`lmsbn.train.train`.

    Returns
    -------
    float
        :math:`\mu = \eta / F`.

    Notes
    -----
    :func:`lmsbn.nn.mse_loss` is :math:`L = \frac{1}{2S}\sum (y - t)^2` over all
    :math:`S = N F H_o W_o` output entries, so :math:`\partial L/\partial Y = (Y - T)/S`, and the
    conv backward sums over the :math:`M = N H_o W_o` patch rows:

    .. math::

        W \leftarrow W - \frac{\eta}{S} (Y - T)^T U
          = W - \frac{\eta M}{S}\,(W R - P^T), \qquad R = U^T U / M,\; P = U^T T / M.

    Hence block LMS with :math:`\mu = \eta M / S = \eta / F`: the batch size and the number of
    output positions cancel against the :math:`1/M` of R, the 1/2 of the loss cancels the 2 of
    the square, and what remains is the mean over the F output channels.
    """
    return check_positive(lr, "lr") / _out_features(layer)


def _augmented(U, bias: bool):
    """Regressors with a column of ones appended when the bias is trained (it is one more tap)."""
    return np.concatenate([U, np.ones((U.shape[0], 1), dtype=U.dtype)], axis=1) if bias else U


def _weights_with_bias(layer, bias: bool):
    W = layer_weights(layer)
    return np.concatenate([W, layer.params["bias"][:, None]], axis=1) if bias else W.copy()


@dataclass
class ExactLayerModes(Result):
    r"""Result of :func:`exact_layer_modes` (F filters, K' taps = K, plus 1 with a bias).

    Attributes
    ----------
    lr, mu : float
        The learning rate and its LMS step size :math:`\mu = \eta/F`.
    eigenvalues : ndarray, (K',)
        Of the layer's (bias-augmented) R, descending.
    measured : ndarray, (F, steps + 1, K')
        :math:`Q^T (w_f(n) - w_{o,f})` of the trained weights; row n uses the weights of step n.
    predicted : ndarray, (F, steps + 1, K')
        :math:`(1 - \mu\lambda_k)^n` times row 0.
    bias : bool
        Whether the bias was trained (and so appended to the regressors).
    params : dict
        ``steps`` and ``rng`` of :func:`exact_layer_modes`.
    """

    lr: float
    mu: float
    eigenvalues: np.ndarray
    measured: np.ndarray
    predicted: np.ndarray
    bias: bool
    params: dict = field(default_factory=dict)

    @classmethod
    def _example(cls) -> ExactLayerModes:
        lam = np.array([2.0, 0.5])
        measured = np.array([[[1.0, 1.0], [-1.0, 0.75], [1.0, 0.5625]]])
        return cls(0.5, 0.5, lam, measured, measured.copy(), False, {"steps": 2, "rng": 0})

    def relative_error(self) -> float:
        r"""Largest :math:`|v_{f,k}(n) - \hat v_{f,k}(n)| / \|v_f(0)\|` over f, n and k."""
        scale = np.linalg.norm(self.measured[:, :1, :], axis=-1, keepdims=True)
        return float(np.max(np.abs(self.measured - self.predicted) / scale))

    def summary(self) -> str:
        """One line: the step sizes, the eigenvalue range and the agreement."""
        lam = self.eigenvalues
        return (f"exact case: lr {self.lr:g} -> LMS mu = lr/F = {self.mu:.4g}; "
                f"mu*lambda from {self.mu * lam[-1]:.3g} to {self.mu * lam[0]:.3g} over "
                f"{lam.size} modes; {self.measured.shape[1] - 1} steps; largest deviation from "
                f"(1 - mu lambda)^n: {self.relative_error():.1e} of ||v(0)||")


def exact_layer_modes(layer, X, target, lr, steps: int, *, rng=None) -> ExactLayerModes:
    r"""Train ``layer`` alone on a full batch towards ``target``; return measured, predicted modes.

    Parameters
    ----------
    layer : Conv1d, Conv2d or Linear
        Trained in place (weights and bias if it has one) by :func:`lmsbn.train.train` with
        ``loss="mse"``, ``batch_size=N``, no momentum or weight decay.
    X : ndarray, (N, ...)
        The fixed batch.
    target : ndarray, shape of ``layer``'s output
        For example a teacher layer's output. The optimum :math:`w_o` is the least-squares
        solution for it (the teacher itself when the target is exactly realisable).
    lr : float
    steps : int
    rng : None, int or Generator
        The training loop's shuffling (a full batch only changes the summation order).

    Returns
    -------
    ExactLayerModes

    Notes
    -----
    Full-batch gradient descent on a quadratic is deterministic block LMS,
    :math:`c(n+1) = (I - \mu R)\, c(n)` with :math:`c = w - w_o`, so
    :math:`Q^T c(n) = (1 - \mu\Lambda)^n Q^T c(0)` holds exactly, not only in the mean: the
    regressors are the same every step. :math:`\mu` is :func:`lms_step_size`.
    """
    mu = lms_step_size(layer, lr)
    steps = check_int(steps, "steps", min_value=1)
    X = as_float_array(X, "X", min_ndim=2)
    model = Sequential(layer)
    bias = "bias" in layer.params
    U = _augmented(regressors(layer, X), bias)
    target = as_float_array(target, "target", min_ndim=2)
    out_shape = layer.forward(X).shape
    if target.shape != out_shape:
        raise ValueError(f"target must have the shape of the layer's output for X, {out_shape}; "
                         f"got {target.shape}")
    T = rows_last(target)
    spec = Spectrum.from_regressors(U)
    w_o = np.linalg.lstsq(U, T, rcond=None)[0].T  # (F, K'): the Wiener solution of this batch
    history = [_weights_with_bias(layer, bias)]

    def keep(event):
        history.append(_weights_with_bias(layer, bias))

    train(model, X, target, steps=steps, batch_size=X.shape[0], lr=lr, loss="mse",
          callbacks=[keep], rng=rng)
    w_hist = np.stack(history, axis=1)  # (F, steps + 1, K')
    measured = mode_coordinates(w_hist, spec, w_o)
    predicted = predicted_modes(measured[:, 0, :], spec, mu, w_hist.shape[1] - 1)
    return ExactLayerModes(float(lr), mu, spec.eigenvalues.copy(), measured, predicted, bias,
                           {"steps": steps, "rng": rng_param(rng)})


# ------------------------------------------------------------------------ Gauss-Newton block
@dataclass
class GaussNewtonBlock(Result):
    r"""Top eigenpairs of one layer's Gauss-Newton block (P = F K weights of the layer).

    Attributes
    ----------
    layer : str
    eigenvalues : ndarray, (k,)
        Descending; in the units of the learning rate (:math:`2/\lambda` is the bound on ``lr``).
    eigenvectors : ndarray, (P, k)
        Orthonormal columns; entry order is ``layer.params["weight"].ravel()``.
    residual : ndarray, (k,)
        :math:`\|G q - \lambda q\| / \lambda` of each pair after the last iteration.
    params : dict
        The arguments of :func:`gauss_newton_block` and the batch size ``n``.
    """

    layer: str
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    residual: np.ndarray
    params: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One line: the eigenvalues and their 2/lambda learning-rate bounds."""
        return (f"{self.layer}: Gauss-Newton block, top eigenvalues "
                + ", ".join(f"{v:.4g}" for v in self.eigenvalues)
                + f"; 2/lambda_max = {2 / self.eigenvalues[0]:.4g} (in lr units); largest "
                f"relative residual {np.max(self.residual):.1e}")

    @classmethod
    def _example(cls) -> GaussNewtonBlock:
        return cls("conv1", np.array([3.0, 1.0]), np.eye(4)[:, :2], np.array([1e-9, 1e-7]),
                   {"loss": "cross_entropy", "k": 2, "iters": 30, "fd_step": 1e-4, "rng": 0,
                    "n": 8})


def gauss_newton_block(model, x, layer: str, *, loss: str = "cross_entropy", k: int = 6,
                       iters: int = 30, fd_step: float = 1e-4, rng=None) -> GaussNewtonBlock:
    r"""Top-``k`` eigenpairs of the Gauss-Newton block of ``layer``'s weights for the mean loss.

    Parameters
    ----------
    model : Sequential
    x : ndarray
        The batch, as :func:`lmsbn.train.train` sees it. The Gauss-Newton matrix does not
        depend on the labels (only on the network's outputs).
    layer : str
        A conv or linear layer of ``model``.
    loss : {"cross_entropy", "mse"}
    k : int
        Number of eigenpairs.
    iters : int
        Subspace iterations (each costs k Gauss-Newton products).
    fd_step : float
        Relative central finite-difference step of the Jacobian-vector product.
    rng : None, int or Generator
        The starting subspace.

    Returns
    -------
    GaussNewtonBlock

    Notes
    -----
    :math:`G = J^T H_L J`, with :math:`J = \partial f / \partial W` the batch Jacobian of the
    network output (training-mode BatchNorm statistics included) and :math:`H_L` the Hessian of
    the loss in the output: :math:`(\operatorname{diag} p_n - p_n p_n^T)/N` per example for the
    mean softmax cross-entropy, :math:`I/S` for lmsbn's MSE. :math:`Jv` is a central difference
    of the forward pass; :math:`J^T(\cdot)` one exact backward pass -- the products of
    :mod:`lmsbn.bridge.stability` (whose :func:`~lmsbn.bridge.stability.stability_bound` is the
    network-wide bound). Subspace iteration with a Rayleigh-Ritz step at every iteration. The
    model is left unchanged (weights, gradients and BatchNorm running statistics).
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a lmsbn.nn.Sequential, got {type(model).__name__}")
    loss = check_choice(loss, "loss", LOSSES)
    names = [n for n, lay in model.named_layers() if isinstance(lay, COMBINERS)]
    if layer not in names:
        raise ValueError(f"layer must be a conv or linear layer of the model, one of {names}; "
                         f"got {layer!r}")
    k = check_int(k, "k", min_value=1)
    iters = check_int(iters, "iters", min_value=1)
    fd_step = check_positive(fd_step, "fd_step")
    x = as_float_array(x, "x", min_ndim=2)
    w = model[layer].params["weight"]
    if k > w.size:
        raise ValueError(f"k must be at most the layer's {w.size} weights, got {k}")
    gen = as_generator(rng)

    # The Gauss-Newton products of lmsbn.bridge.stability, over this layer's weights only (it
    # restores the weights, gradients, caches and BatchNorm statistics when done).
    with _GaussNewton(model, x, loss, [f"{layer}.weight"], fd_step) as G, \
            np.errstate(over="ignore", invalid="ignore"):
        V = np.linalg.qr(gen.standard_normal((w.size, k)))[0]
        for _ in range(iters):
            GV = np.column_stack([G.matvec(v) for v in V.T])
            small = V.T @ GV
            lam, S = np.linalg.eigh((small + small.T) / 2)
            order = np.argsort(lam)[::-1]
            lam, S = lam[order], S[:, order]
            ritz, GV = V @ S, GV @ S
            V = np.linalg.qr(GV)[0]
        residual = np.linalg.norm(GV - ritz * lam, axis=0) / np.abs(lam)
    ritz = ritz * np.where(ritz[np.argmax(np.abs(ritz), axis=0), np.arange(k)] < 0, -1.0, 1.0)
    return GaussNewtonBlock(layer, lam, ritz, residual,
                            {"loss": loss, "k": k, "iters": iters, "fd_step": fd_step,
                             "rng": rng_param(rng), "n": int(x.shape[0])})


# --------------------------------------------------------------- measured versus predicted decay
@dataclass
class ModeDecay(Result):
    r"""Measured against predicted decay of the top modes of one layer (k modes).

    Attributes
    ----------
    layer : str
    basis : str
        ``"R"`` (the layer's input autocorrelation, shared by its filters) or ``"gauss_newton"``.
    eigenvalues : ndarray, (k,)
    mu : float
        The step size the prediction uses, :math:`(1 - \mu\lambda_k)^n`.
    every : int
        Steps between two records.
    measured_factor, predicted_factor : ndarray, (k,)
        Per-record decay factor: least-squares :math:`r_k = \sum v_k(t+1) v_k(t) / \sum v_k(t)^2`
        over the fitted records (and filters), against :math:`(1 - \mu\lambda_k)^{every}`.
    tau_measured, tau_predicted : ndarray, (k,)
        Time constants in steps, :math:`-every / \ln|r|` (inf for a mode that does not decay).
    params : dict
    """

    layer: str
    basis: str
    eigenvalues: np.ndarray
    mu: float
    every: int
    measured_factor: np.ndarray
    predicted_factor: np.ndarray
    tau_measured: np.ndarray
    tau_predicted: np.ndarray
    params: dict = field(default_factory=dict)

    @classmethod
    def _example(cls) -> ModeDecay:
        return cls("conv2", "R", np.array([4.0, 1.0]), 0.1, 1, np.array([0.5, 0.95]),
                   np.array([0.6, 0.9]), np.array([1.4427, 19.496]), np.array([1.9576, 9.4912]),
                   {"records": 10, "pairs": 8})

    @property
    def tau_ratio(self) -> np.ndarray:
        """Measured over predicted time constant, per mode."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.tau_measured / self.tau_predicted

    def summary(self) -> str:
        """A table of the modes, with the factor by which measurement and theory differ."""
        lines = [f"{self.layer}: top {self.eigenvalues.size} modes of {self.basis}, "
                 f"predicted with mu = {self.mu:.4g}, records every {self.every} steps",
                 f"{'mode':>4} {'lambda':>10} {'mu*lambda':>9} {'tau pred':>9} {'tau meas':>9} "
                 f"{'meas/pred':>9}"]
        for i, (lam, tp, tm, r) in enumerate(zip(self.eigenvalues, self.tau_predicted,
                                                 self.tau_measured, self.tau_ratio), 1):
            lines.append(f"{i:>4} {lam:>10.4g} {self.mu * lam:>9.3g} {tp:>9.3g} {tm:>9.3g} "
                         f"{r:>9.3g}")
        return "\n".join(lines)


def _tau(factor, every):
    with np.errstate(divide="ignore"):
        a = np.abs(factor)
        return np.where(a < 1, -every / np.log(np.where(a > 0, a, np.finfo(float).tiny)), np.inf)


def mode_decay(weights, eigenvalues, eigenvectors, mu, *, every: int = 1, fit=None,
               layer: str = "", basis: str = "R") -> ModeDecay:
    r"""Fit the decay factor of each mode of a weight trajectory and set it against LMS theory.

    Parameters
    ----------
    weights : ndarray, (T, F, K)
        Recorded filters, one record every ``every`` steps.
    eigenvalues : ndarray, (k,)
    eigenvectors : ndarray, (K, k) or (F K, k)
        Columns: the modes. (K, k) is a basis shared by all filters (R); (F K, k) a basis of the
        whole weight array (a Gauss-Newton block).
    mu : float
        Step size of the prediction: ``lr`` for a Gauss-Newton basis; for R, ``lr`` times the
        back-propagated gain you assume (1 is the unit-gain LMS picture).
    every : int
    fit : int, optional
        Fit over the first ``fit`` pairs of successive moves; default all of them.
    layer, basis : str
        Labels for the result.

    Returns
    -------
    ModeDecay

    Notes
    -----
    The fit uses the *moves* between records, :math:`d(t) = Q^T (w(t+1) - w(t))`, not the
    distance to an optimum, which a network does not provide. If
    :math:`v(t) = Q^T(w(t) - w_o)` obeys :math:`v_k(t+1) = r_k v_k(t)`, so do its differences,
    with the same :math:`r_k`; the least-squares estimate is
    :math:`r_k = \sum_t d_k(t+1) d_k(t) / \sum_t d_k(t)^2` (pooled over filters for R).
    """
    W = as_float_array(weights, "weights", ndim=3)
    lam = as_float_array(eigenvalues, "eigenvalues", ndim=1)
    Q = as_float_array(eigenvectors, "eigenvectors", ndim=2)
    mu = check_positive(mu, "mu")
    every = check_int(every, "every", min_value=1)
    T, F, K = W.shape
    if T < 3:
        raise ValueError(f"weights must hold at least 3 records to fit a decay, got {T}")
    if Q.shape[1] != lam.size or Q.shape[0] not in (K, F * K):
        raise ValueError(
            f"eigenvectors must have shape ({K} or {F * K}, {lam.size}), got {Q.shape}")
    pairs = T - 2 if fit is None else min(check_int(fit, "fit", min_value=1), T - 2)
    moves = np.diff(W, axis=0)
    d = moves @ Q if Q.shape[0] == K else (moves.reshape(T - 1, -1) @ Q)[:, None, :]
    a, b = d[:pairs], d[1:pairs + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        measured = np.sum(a * b, axis=(0, 1)) / np.sum(a * a, axis=(0, 1))
    predicted = (1 - mu * lam) ** every
    return ModeDecay(layer, basis, lam.copy(), float(mu), every, measured, predicted,
                     _tau(measured, every), _tau(predicted, every),
                     {"records": int(T), "pairs": int(pairs)})
