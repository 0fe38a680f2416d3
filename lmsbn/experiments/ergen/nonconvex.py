r"""Ergen et al. (2021), the ordinary way: gradient descent on the two-layer BatchNorm ReLU network,
built from the library's layers, from several random starts (:func:`train_nonconvex`). Its
objective is what the closed form and the convex program are compared with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lmsbn._checks import as_generator, check_int, check_positive
from lmsbn.experiments.ergen.model import BNReLUNetwork, check_regression_data
from lmsbn.io import Result, rng_param

__all__ = ["NonconvexResult", "train_nonconvex"]


# ------------------------------------------------------------------------------ non-convex training
@dataclass
class NonconvexResult(Result):
    """Gradient-descent training of the BN network from several random starts.

    Attributes
    ----------
    objective : float
        The best final objective over the restarts that did not diverge (inf if all diverged).
    network : BNReLUNetwork
        The network that reached it.
    objectives : ndarray, shape (restarts,)
        Final objective of each restart (inf for a diverged one).
    history : ndarray, shape (restarts, steps + 1)
        Objective before each step and after the last; NaN after a divergence.
    diverged_at : ndarray of int, shape (restarts,)
        Step at which a restart diverged, -1 if it did not.
    reasons : list of str
        Cause of each divergence ("" if none).
    beta, lr, momentum : float
    width, steps : int
    params : dict
        The arguments of :func:`train_nonconvex` (and the data's n and d).
    """

    objective: float
    network: BNReLUNetwork
    objectives: np.ndarray
    history: np.ndarray
    diverged_at: np.ndarray
    reasons: list = field(default_factory=list)
    beta: float = 0.0
    lr: float = 0.0
    momentum: float = 0.0
    width: int = 0
    steps: int = 0
    params: dict = field(default_factory=dict)

    @property
    def best(self) -> int:
        """Index of the best restart."""
        return int(np.argmin(self.objectives))

    def summary(self) -> str:
        """A readable text report of the result, with its numbers."""
        ok = int(np.sum(self.diverged_at < 0))
        return (f"Non-convex GD (width {self.width}, {self.steps} steps, lr {self.lr:g}, "
                f"momentum {self.momentum:g}, beta {self.beta:g}): best objective "
                f"{self.objective:.6f} (restart {self.best}); {ok}/{self.objectives.size} restarts "
                f"converged, final objectives {np.array2string(self.objectives, precision=5)}")

    @classmethod
    def _example(cls) -> NonconvexResult:
        net = BNReLUNetwork(np.array([[1.0, 2.0]]), np.array([0.5]), np.array([0.1]),
                            np.array([-1.0]))
        hist = np.array([[3.0, 2.0, 1.0], [3.0, 1e12, np.nan]])
        return cls(1.0, net, np.array([1.0, np.inf]), hist, np.array([-1, 1]),
                   ["", "objective above max_objective"], 0.3, 0.1, 0.5, 1, 2,
                   {"beta": 0.3, "width": 1, "steps": 2, "lr": 0.1, "momentum": 0.5,
                    "restarts": 2, "rng": 0})


def _build(d: int, width: int, rng):
    from lmsbn.nn import BatchNorm1d, Linear, ReLU, Sequential

    # eps = 0: the exact normalisation of ergen.model's parametrisation; a constant channel would
    # raise, but a random Gaussian w never gives one on data in general position.
    return Sequential(Linear(d, width, bias=False, rng=rng), BatchNorm1d(width, eps=0.0), ReLU(),
                      Linear(width, 1, bias=False, rng=rng))


def _run_restart(X, y, beta, width, steps, lr, momentum, max_objective, rng):
    """One gradient-descent run; returns (model, history, diverged_at, reason)."""
    from lmsbn.nn import SGD

    n, d = X.shape
    model = _build(d, width, rng)
    bn, fc2 = model["bn1"], model["fc2"]
    opt = SGD(model.named_parameters(), lr=lr, momentum=momentum)
    history = np.full(steps + 1, np.nan)
    # The penalty (beta/2)(gamma^2 + alpha^2) of ergen.model's parametrisation, on the library's
    # BatchNorm parameters gamma = sqrt(n) * weight and alpha = sqrt(n) * bias, is
    # (beta n / 2)(weight^2 + bias^2).
    for step in range(steps + 1):
        try:
            out = model.forward(X, train=True)[:, 0]
        except ValueError as exc:  # e.g. an overflow to inf that BatchNorm's input check refuses
            return model, history, step, f"forward pass failed: {exc}"
        r = out - y
        reg = 0.5 * beta * (n * (np.sum(bn.params["weight"] ** 2) + np.sum(bn.params["bias"] ** 2))
                            + np.sum(fc2.params["weight"] ** 2))
        obj = 0.5 * float(r @ r) + float(reg)
        history[step] = obj
        if not np.isfinite(obj) or obj > max_objective:
            history[step] = np.nan
            return (model, history, step,
                    f"objective {obj:.3g} not finite or above {max_objective:g}")
        if step == steps:
            break
        model.backward(r[:, None])  # d(1/2 ||f - y||^2)/df = f - y
        bn.grads["weight"] += beta * n * bn.params["weight"]
        bn.grads["bias"] += beta * n * bn.params["bias"]
        fc2.grads["weight"] += beta * fc2.params["weight"]
        opt.step()
        if not all(np.all(np.isfinite(p)) for _, p, _ in model.named_parameters()):
            return model, history, step + 1, "non-finite parameters"
    return model, history, -1, ""


def train_nonconvex(X, y, beta, width, *, steps: int = 2000, lr: float | None = None,
                    momentum: float = 0.5, restarts: int = 5, max_objective: float = 1e10,
                    rng=None) -> NonconvexResult:
    r"""Train the BN network of Ergen et al. by full-batch gradient descent, from several starts.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    y : ndarray, shape (n,)
    beta : float > 0
        Weight decay on the BatchNorm parameters and the output weights.
    width : int >= 1
        m, the number of hidden neurons.
    steps : int, default 2000
        Gradient steps per restart.
    lr : float, optional
        Step size; default :math:`0.4/n`. The loss is a *sum* over samples and each BatchNorm
        output has squared norm about n, so the curvature along the output weights grows like n.
    momentum : float in [0, 1), default 0.5
        Heavy-ball momentum (the library's :class:`~lmsbn.nn.SGD`).
    restarts : int >= 1, default 5
        Independent random initialisations; the best final objective is kept.
    max_objective : float, default 1e10
        A restart whose objective passes this (or stops being finite) is recorded as diverged.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    NonconvexResult

    Notes
    -----
    The network is ``Linear(d, m, bias=False) -> BatchNorm1d(m, eps=0) -> ReLU -> Linear(m, 1,
    bias=False)``, BatchNorm in training mode with the whole data as the batch, and the gradient
    comes from the layers' manual backprop, plus the weight-decay terms. The first-layer weights
    carry no penalty: BatchNorm makes the objective invariant to their scale, so their gradient
    is orthogonal to them (fact 2 of tutorial 07) and their norm only grows. Gradient descent on
    this non-convex problem has no guarantee; the restarts are the usual remedy, and the convex
    program (:func:`convex_program`) is the certificate.
    """
    X, y, beta = check_regression_data(X, y, beta)
    width = check_int(width, "width", min_value=1)
    steps = check_int(steps, "steps", min_value=1)
    restarts = check_int(restarts, "restarts", min_value=1)
    lr = 0.4 / X.shape[0] if lr is None else check_positive(lr, "lr")
    momentum = check_positive(momentum, "momentum", allow_zero=True)
    if momentum >= 1:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
    max_objective = check_positive(max_objective, "max_objective")
    gen = as_generator(rng)
    n = X.shape[0]
    histories, finals, diverged_at, reasons, nets = [], [], [], [], []
    with np.errstate(all="ignore"):  # divergence is detected and recorded below, not warned
        for _ in range(restarts):
            model, history, at, reason = _run_restart(X, y, beta, width, steps, lr, momentum,
                                                      max_objective, gen)
            histories.append(history)
            diverged_at.append(at)
            reasons.append(reason)
            finals.append(history[-1] if at < 0 else np.inf)
            nets.append(BNReLUNetwork.from_sequential(model, n) if at < 0 else None)
    finals = np.array(finals)
    best = int(np.argmin(finals))
    network = nets[best] if nets[best] is not None else BNReLUNetwork(
        W=np.zeros((0, X.shape[1])), gamma=np.zeros(0), alpha=np.zeros(0), v=np.zeros(0))
    return NonconvexResult(objective=float(finals[best]), network=network, objectives=finals,
                           history=np.array(histories), diverged_at=np.array(diverged_at),
                           reasons=reasons, beta=beta, lr=lr, momentum=momentum, width=width,
                           steps=steps, params={
                               "beta": beta, "width": width, "steps": steps, "lr": lr,
                               "momentum": momentum, "restarts": restarts,
                               "max_objective": max_objective, "rng": rng_param(rng),
                               "n": int(X.shape[0]), "d": int(X.shape[1])})
