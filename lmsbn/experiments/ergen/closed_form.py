r"""Ergen et al. (2021), the high-dimensional regime: when the whitened data :math:`U'` has full
rank n, the optimum of the BatchNorm network's training problem has a closed form with at most two
active neurons (:func:`closed_form`; the formula is lmsbn's reconstruction, see
:mod:`lmsbn.experiments.ergen`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lmsbn.experiments.ergen.model import (
    BNReLUNetwork,
    check_regression_data,
    neuron_from_coefficients,
    whiten,
)
from lmsbn.io import Result

__all__ = ["ClosedFormResult", "closed_form"]


# ------------------------------------------------------------------------------ closed form
@dataclass
class ClosedFormResult(Result):
    r"""The optimum of the BN network in the full-rank regime (:func:`closed_form`).

    Attributes
    ----------
    value : float
        :math:`p^*`. When ``full_rank`` is False it is only a lower bound on the optimum.
    outputs : ndarray, shape (n,)
        :math:`f^* = (1 - \beta/\lVert y_+\rVert)_+ y_+ - (1 - \beta/\lVert y_-\rVert)_+ y_-`.
    full_rank : bool
        Whether :math:`\operatorname{rank} U' = n`, the condition under which ``value`` is exact.
    rank : int
        The rank r of the centred data (so :math:`\operatorname{rank} U' = r + 1`).
    beta : float
    norm_pos, norm_neg : float
        :math:`\lVert y_+\rVert` and :math:`\lVert y_-\rVert`.
    network : BNReLUNetwork
        An optimal network (at most two neurons); empty when not full rank, or when
        :math:`\beta` exceeds both norms (then :math:`f^* = 0`).
    params : dict
        The arguments of :func:`closed_form` (and the data's n and d).
    """

    value: float
    outputs: np.ndarray
    full_rank: bool
    rank: int
    beta: float
    norm_pos: float
    norm_neg: float
    network: BNReLUNetwork
    params: dict = field(default_factory=dict)

    def summary(self) -> str:
        """A readable text report of the result, with its numbers."""
        exact = "exact" if self.full_rank else "LOWER BOUND only (rank U' < n)"
        return (f"Ergen closed form (n = {self.outputs.size}, rank U' = {self.rank + 1}, "
                f"beta = {self.beta:g}): p* = {self.value:.6f} [{exact}]; "
                f"||y+|| = {self.norm_pos:.4f}, ||y-|| = {self.norm_neg:.4f}, "
                f"{self.network.width} active neuron(s)")

    @classmethod
    def _example(cls) -> ClosedFormResult:
        net = BNReLUNetwork(np.array([[1.0, 0.0], [0.0, -1.0]]), np.array([0.5, 0.25]),
                            np.array([0.1, -0.1]), np.array([1.0, -1.0]))
        return cls(0.829704, np.array([0.5, -0.25, 0.0, -0.25]), True, 3, 0.3, 1.2, 0.9, net,
                   {"beta": 0.3, "require_full_rank": True, "n": 4, "d": 2})


def _shrink(v: np.ndarray, beta: float) -> np.ndarray:
    """Group soft-thresholding: (1 - beta/||v||)_+ v."""
    norm = np.linalg.norm(v)
    return v * max(0.0, 1.0 - beta / norm) if norm > 0 else v * 0.0


def closed_form(X, y, beta, *, require_full_rank: bool = True) -> ClosedFormResult:
    r"""The global optimum of the BN network when the whitened data has full rank.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    y : ndarray, shape (n,)
    beta : float > 0
        Weight-decay strength.
    require_full_rank : bool, default True
        Raise ``ValueError`` if :math:`\operatorname{rank} U' < n`. With False the result is
        returned with ``full_rank=False`` and its value is a lower bound.

    Returns
    -------
    ClosedFormResult

    Notes
    -----
    With :math:`U'` square and orthogonal, every vector :math:`u \in \mathbb R^n` is some neuron's
    BatchNorm output :math:`U'q` with :math:`\lVert q\rVert = \lVert u\rVert`, so the network is a
    sum of ReLUs of *arbitrary* vectors with penalty :math:`\beta\sum_j\lVert u_j\rVert`. The
    best fit puts one neuron on the positive part :math:`y_+` of y and one, with a negative
    output weight, on the negative part :math:`y_-`, each shrunk like a group lasso:

    .. math::

        f^* = \Big(1 - \frac{\beta}{\lVert y_+\rVert}\Big)_+ y_+ -
              \Big(1 - \frac{\beta}{\lVert y_-\rVert}\Big)_+ y_-, \qquad
        p^* = \sum_{u \in \{y_+, y_-\}} \Big[\tfrac12 \min(\lVert u\rVert, \beta)^2
              + \beta\,(\lVert u\rVert - \beta)_+\Big].

    Without full rank the outputs are restricted to the range of :math:`U'`, a subset, so the
    same formula bounds the optimum from below.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> res = closed_form(rng.normal(size=(8, 20)), rng.normal(size=8), 0.3)
    >>> res.full_rank, res.network.width
    (True, 2)
    """
    X, y, beta = check_regression_data(X, y, beta)
    white = whiten(X)
    if require_full_rank and not white.full_rank:
        raise ValueError(
            f"the whitened data U' = [U, 1/sqrt(n)] has rank {white.rank + 1} < n = {X.shape[0]}: "
            "the closed form holds only when it has full rank (this needs d >= n - 1 and X in "
            "general position); use convex_program, or require_full_rank=False for a lower bound")
    parts = (np.maximum(y, 0.0), np.maximum(-y, 0.0))
    value = 0.0
    for part in parts:
        norm = np.linalg.norm(part)
        value += 0.5 * min(norm, beta) ** 2 + beta * max(norm - beta, 0.0)
    fitted = [_shrink(part, beta) for part in parts]
    neurons = []
    if white.full_rank:
        for u, sign in zip(fitted, (1.0, -1.0)):
            if np.any(u > 0):
                # U' is orthogonal, so U'^T u are u's coordinates in the whitened basis.
                neurons.append(neuron_from_coefficients(white.U_prime.T @ u, sign, white))
    d = X.shape[1]
    network = BNReLUNetwork(
        W=np.array([nr[0] for nr in neurons]).reshape(len(neurons), d),
        gamma=np.array([nr[1] for nr in neurons]), alpha=np.array([nr[2] for nr in neurons]),
        v=np.array([nr[3] for nr in neurons]))
    return ClosedFormResult(value=float(value), outputs=fitted[0] - fitted[1],
                            full_rank=white.full_rank, rank=white.rank, beta=beta,
                            norm_pos=float(np.linalg.norm(parts[0])),
                            norm_neg=float(np.linalg.norm(parts[1])), network=network,
                            params={"beta": beta, "require_full_rank": bool(require_full_rank),
                                    "n": int(X.shape[0]), "d": int(X.shape[1])})

