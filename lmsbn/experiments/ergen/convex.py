r"""The convex program equivalent to the BatchNorm network of Ergen et al. (2021), solved by FISTA.

The program
-----------
Each neuron's BatchNorm output is :math:`U'q` (see :func:`~lmsbn.experiments.ergen.model.whiten`),
and its ReLU switches on the samples :math:`D = \mathrm{diag}(\mathbb 1[U'q \ge 0])`: one
*hyperplane arrangement* of the whitened data. Grouping neurons by arrangement turns the
non-convex training problem into the group lasso

.. math::

    \min_{\{c_i, c_i'\}} \tfrac12 \Big\lVert \sum_{i=1}^P D_i U'(c_i - c_i') - y \Big\rVert_2^2
    + \beta \sum_{i=1}^P \big(\lVert c_i\rVert_2 + \lVert c_i'\rVert_2\big)
    \quad\text{s.t.}\quad (2D_i - I)U'c_i \ge 0,\; (2D_i - I)U'c_i' \ge 0,

whose constraints say that :math:`D_i` really is the pattern of :math:`U'c_i`, so
:math:`D_iU'c_i = \mathrm{relu}(U'c_i)`. With *all* arrangements its optimum equals the network's
global optimum :math:`P^*` (the equivalence Ergen et al. 2021 state in their abstract, in lmsbn's
reconstruction; Pilanci & Ergen 2020 without BN).
With a subset -- sampled, :math:`D_i = \mathrm{diag}(\mathbb 1[U'g_i \ge 0])` with Gaussian
:math:`g_i` -- every feasible point is still a network, so the optimum bounds :math:`P^*` from
above and is at most the objective of any network whose own arrangements are included.

The solver
----------
An augmented Lagrangian handles the cone constraints (Mishkin, Sahiner & Pilanci 2022 do the same
for ReLU networks without BN). For multipliers :math:`\lambda_i \ge 0` and a penalty
:math:`\rho > 0` the inner problem is

.. math::

    \min_c\; \underbrace{\tfrac12\lVert r(c)\rVert^2 + \tfrac{1}{2\rho}\sum_i
    \big\lVert (\lambda_i - \rho (2D_i - I)U'c_i)_+ \big\rVert^2}_{\text{smooth}}
    + \beta\sum_i \lVert c_i\rVert,

solved by FISTA: a gradient step of size :math:`1/L` on the smooth part, then the prox of the
group norm, *group soft-thresholding* :math:`c \mapsto (1 - \tfrac{\beta/L}{\lVert c\rVert})_+ c`,
with Nesterov momentum and O'Donoghue & Candes's gradient restart. The step uses the exact
Lipschitz constant :math:`L = \lambda_{\max}\big(U'U'^T \odot \sum_i 2\,d_i d_i^T\big) + \rho`
(the first term is :math:`\lVert A\rVert_2^2` for the data operator
:math:`A: c \mapsto \sum_i \pm D_iU'c_i`; the constraint operators have norm 1 because
:math:`U'` has orthonormal columns). After each inner solve the multipliers are updated,
:math:`\lambda_i \leftarrow (\lambda_i - \rho(2D_i - I)U'c_i)_+`.

Stopping rule: the inner loop stops when the FISTA *gradient mapping*
:math:`L\lVert c^{k+1} - \tilde c^k\rVert` (:math:`\tilde c^k` the extrapolated point; zero
exactly at a minimiser) falls below its tolerance,
which starts at ``1e-2 * (1 + ||y||)`` and shrinks tenfold per multiplier update down to
``tol * (1 + ||y||)`` (early multipliers are rough, so solving for them exactly is wasted work);
one inner solve is also capped at ``INNER_BUDGET`` iterations, because the gradient mapping can
decay as slowly as 1/k and the multipliers must keep moving meanwhile. The outer loop stops when
an inner solve has met the final tolerance, the largest constraint violation is below
``tol * (1 + max|y|)``, and the convex objective changed by less than ``tol`` relatively since
the previous multiplier update. ``max_iter`` caps the total number of FISTA iterations;
hitting it is reported as ``converged=False``, not raised.

References
----------
T. Ergen et al., "Demystifying Batch Normalization in ReLU Networks", ICLR 2022, arXiv:2103.01499.
M. Pilanci, T. Ergen, "Neural Networks are Convex Regularizers", ICML 2020.
A. Mishkin, A. Sahiner, M. Pilanci, "Fast Convex Optimization for Two-Layer ReLU Networks",
ICML 2022.
A. Beck, M. Teboulle, "A Fast Iterative Shrinkage-Thresholding Algorithm", SIAM J. Imaging
Sci. 2009.
B. O'Donoghue, E. Candes, "Adaptive Restart for Accelerated Gradient Schemes", FoCM 2015.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from lmsbn._checks import as_float_array, as_generator, check_int, check_positive, describe
from lmsbn.experiments.ergen.model import (
    BNReLUNetwork,
    check_regression_data,
    neuron_from_coefficients,
    whiten,
)
from lmsbn.io import Result, rng_param

__all__ = ["ConvexResult", "convex_program", "network_arrangements", "sample_arrangements"]

#: Cap on the FISTA iterations of one inner solve (between two multiplier updates).
INNER_BUDGET = 1000


def sample_arrangements(X, count, *, rng=None) -> np.ndarray:
    r"""Distinct hyperplane arrangements :math:`\mathbb 1[U'g \ge 0]` of the whitened data.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    count : int >= 1
        Number of Gaussian directions g to draw.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    ndarray of bool, shape (P, n)
        One pattern per row, duplicates and the all-false pattern removed, so P <= count + 1.
        The all-true pattern (g along the constant column :math:`\mathbf 1/\sqrt n`: a neuron
        active on every sample) comes first and is always included -- in the full-rank regime it
        alone carries the optimum.
    """
    count = check_int(count, "count", min_value=1)
    white = whiten(X)
    gen = as_generator(rng)
    G = gen.standard_normal((white.U_prime.shape[1], count))
    patterns = np.vstack([np.ones((1, white.n), dtype=bool), (white.U_prime @ G >= 0).T])
    _, first = np.unique(patterns, axis=0, return_index=True)
    patterns = patterns[np.sort(first)]  # keep the drawing order: reproducible and all-true first
    return patterns[patterns.any(axis=1)]


def network_arrangements(network: BNReLUNetwork, X) -> np.ndarray:
    r"""The arrangements :math:`\mathbb 1[\mathrm{BN}(Xw_j) \ge 0]` of a network's neurons.

    Passing them (with sampled ones) to :func:`convex_program` makes the program's optimum at
    most that network's objective: the network is a feasible point of the restricted program.

    Returns
    -------
    ndarray of bool, shape (m, n)
    """
    if not isinstance(network, BNReLUNetwork):
        raise TypeError(f"network must be a BNReLUNetwork, got {describe(network)}")
    X = as_float_array(X, "X", ndim=2, dtype=np.float64)
    if network.width == 0:
        return np.zeros((0, X.shape[0]), dtype=bool)
    model = network.to_sequential(X.shape[0])
    pre = model["bn1"].forward(model["fc1"].forward(X, train=True), train=True)
    return (pre >= 0).T


@dataclass
class ConvexResult(Result):
    r"""Solution of the convex program (:func:`convex_program`).

    Attributes
    ----------
    objective : float
        The convex objective at the solution, :math:`\tfrac12\lVert r\rVert^2 + \beta\sum
        \lVert c\rVert`.
    network : BNReLUNetwork
        The network defined by the active groups, one neuron each.
    network_objective : float
        That network's regularised loss, evaluated by the library's layers; equals
        ``objective`` up to the constraint violation.
    arrangements : ndarray of bool, shape (P, n)
    coefficients : ndarray, shape (2, P, r + 1)
        :math:`c_i` (row 0, positive output weight) and :math:`c_i'` (row 1, negative).
    iterations, outer_iterations : int
        FISTA iterations in total, and multiplier updates.
    converged : bool
        Whether the stopping rule was met within ``max_iter``.
    max_violation : float
        :math:`\max_i \max((-(2D_i - I)U'c_i)_+)` at the solution.
    history : ndarray, shape (iterations,)
        The convex objective after each FISTA iteration (the iterates may be slightly
        infeasible, so it can dip below the final value).
    beta, rho, lipschitz, tol, seconds : float
    params : dict
        The arguments of :func:`convex_program` (and the data's n and d).
    """

    objective: float
    network: BNReLUNetwork
    network_objective: float
    arrangements: np.ndarray
    coefficients: np.ndarray
    iterations: int
    outer_iterations: int
    converged: bool
    max_violation: float
    history: np.ndarray
    beta: float
    rho: float
    lipschitz: float
    tol: float
    seconds: float
    params: dict = field(default_factory=dict)

    @property
    def active(self) -> np.ndarray:
        """Boolean mask (2, P) of the groups with nonzero norm: the neurons of the network."""
        return np.linalg.norm(self.coefficients, axis=2) > 0

    def summary(self) -> str:
        """A readable text report of the result, with its numbers."""
        status = "converged" if self.converged else "NOT converged (max_iter reached)"
        return (f"Ergen convex program: P = {self.arrangements.shape[0]} arrangements, "
                f"beta = {self.beta:g}: objective {self.objective:.6f}, {status} after "
                f"{self.iterations} FISTA iterations / {self.outer_iterations} multiplier updates "
                f"({self.seconds:.2f} s); {int(self.active.sum())} active neurons; rebuilt network "
                f"objective {self.network_objective:.6f}; max constraint violation "
                f"{self.max_violation:.2e}")

    @classmethod
    def _example(cls) -> ConvexResult:
        net = BNReLUNetwork(np.array([[1.0, 0.0]]), np.array([0.5]), np.array([0.0]),
                            np.array([1.0]))
        arr = np.array([[True, False, True], [False, False, True]])
        coef = np.zeros((2, 2, 3))
        coef[0, 0] = [0.5, -0.1, 0.2]
        return cls(0.83, net, 0.8301, arr, coef, 40, 3, True, 0.0, np.array([1.0, 0.9, 0.83]),
                   0.3, 1.0, 12.5, 1e-6, 0.01,
                   {"beta": 0.3, "arrangements": 2, "rng": 0, "max_iter": 100, "tol": 1e-6,
                    "rho": None, "n": 3, "d": 2})


class _Program:
    """The data of one convex program: operators on the stacked groups C, shape (2P, k).

    Rows 0..P-1 of C are the :math:`c_i` (output sign +1), rows P..2P-1 the :math:`c_i'` (-1).
    ``Z = U' C^T`` (n, 2P) holds every group's pre-activation; all operators act on it.
    """

    def __init__(self, U_prime, y, beta, patterns):
        self.U, self.y, self.beta = U_prime, y, beta
        P = patterns.shape[0]
        self.M = np.concatenate([patterns, patterns]).T.astype(np.float64)   # (n, 2P): D_i twice
        self.S = 2.0 * self.M - 1.0                                          # (2D_i - I)
        self.sign = np.concatenate([np.ones(P), -np.ones(P)])
        self.Ms = self.M * self.sign                                         # D_i with output sign
        # ||A||^2 = lambda_max(A A^T), and A A^T = sum_j D_j U'U'^T D_j = (U'U'^T) * (M M^T).
        self.L_data = float(np.linalg.eigvalsh((U_prime @ U_prime.T) * (self.M @ self.M.T))[-1])

    def residual(self, Z):
        return (self.Ms * Z).sum(axis=1) - self.y

    def objective(self, C, Z) -> float:
        r = self.residual(Z)
        return 0.5 * float(r @ r) + self.beta * float(np.linalg.norm(C, axis=1).sum())

    def violation(self, Z) -> float:
        return float(np.max(np.maximum(-self.S * Z, 0.0), initial=0.0))

    def smooth_grad(self, Z, lam, rho):
        """Gradient (2P, k) of the smooth part of the augmented Lagrangian at ``Z = U'C^T``.

        Written for speed, as it dominates the run time: the (n, 2P) arrays are the big ones, so
        they are made once and updated in place, and :math:`M = (S + 1)/2` turns the residual
        into two matrix-vector products.
        """
        G = self.S * Z                                                   # (2D - I) U' c
        r = 0.5 * (Z @ self.sign + G @ self.sign) - self.y               # sum_i +-D_i U'c_i - y
        G *= -rho
        G += lam
        np.maximum(G, 0.0, out=G)                                        # (lam - rho S Z)_+
        G *= self.S
        np.subtract(self.Ms * r[:, None], G, out=G)
        return (self.U.T @ G).T


def _group_shrink(C, t):
    """Prox of t * sum_j ||c_j||: scale each row by (1 - t/||c_j||)_+ (exact zeros below t)."""
    norms = np.linalg.norm(C, axis=1, keepdims=True)
    scale = np.maximum(1.0 - t / np.maximum(norms, np.finfo(np.float64).tiny), 0.0)
    return C * scale


def _fista(prog, C, lam, rho, L, tol, budget, history):
    """FISTA with gradient restart on the augmented Lagrangian; returns (C, iterations, done)."""
    C_prev, Z = C, prog.U @ C.T
    Z_prev, t = Z, 1.0
    for it in range(1, budget + 1):
        t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        mom = (t - 1.0) / t_next
        Yc, Yz = C + mom * (C - C_prev), Z + mom * (Z - Z_prev)    # Z is linear in C
        C_new = _group_shrink(Yc - prog.smooth_grad(Yz, lam, rho) / L, prog.beta / L)
        Z_new = prog.U @ C_new.T
        history.append(prog.objective(C_new, Z_new))
        gmap = L * float(np.linalg.norm(C_new - Yc))
        # Restart the momentum when it points against the step just taken (O'Donoghue-Candes).
        t = 1.0 if np.sum((Yc - C_new) * (C_new - C)) > 0 else t_next
        C_prev, Z_prev, C, Z = C, Z, C_new, Z_new
        if gmap <= tol:
            return C, it, True
    return C, budget, False


def convex_program(X, y, beta, *, arrangements=200, rng=None, max_iter: int = 5000,
                   tol: float = 1e-6, rho: float | None = None) -> ConvexResult:
    r"""Solve the convex group-lasso equivalent of the BN network; rebuild the network.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    y : ndarray, shape (n,)
    beta : float > 0
    arrangements : int or array_like of bool, shape (P, n), default 200
        An int draws that many Gaussian directions (:func:`sample_arrangements`); an array gives
        the patterns :math:`D_i` explicitly (for example sampled ones stacked with
        :func:`network_arrangements` of a trained network).
    rng : None, int or numpy.random.Generator
        Used only to sample arrangements.
    max_iter : int, default 5000
        Cap on the total number of FISTA iterations.
    tol : float, default 1e-6
        Tolerance of the stopping rule (module docstring).
    rho : float, optional
        Augmented-Lagrangian penalty; default the data term's Lipschitz constant
        :math:`L_{data}`. A larger penalty pulls the iterates onto the constraints in fewer
        multiplier updates but shrinks every FISTA step :math:`1/(L_{data} + \rho)`; past
        :math:`L_{data}` the smaller steps cost more iterations than the fewer updates save
        (``tests/test_ergen.py`` checks it on one problem).

    Returns
    -------
    ConvexResult

    Notes
    -----
    Each active group :math:`c` becomes one neuron with :math:`q = c/\sqrt{\lVert c\rVert}` and
    :math:`v = \pm\sqrt{\lVert c\rVert}`
    (:func:`~lmsbn.experiments.ergen.model.neuron_from_coefficients`), so the rebuilt network's
    weight decay equals the group-lasso penalty and, where the constraints hold, its outputs equal
    the program's. ``network_objective`` checks this through the library's own layers.

    Cost per FISTA iteration: two products with :math:`U'` of size
    :math:`n \times (r + 1) \times 2P` -- for n = 200, d = 50, P = 500 about 20 Mflop.
    """
    X, y, beta = check_regression_data(X, y, beta)
    max_iter = check_int(max_iter, "max_iter", min_value=1)
    tol = check_positive(tol, "tol")
    white = whiten(X)
    n = white.n
    if isinstance(arrangements, (int, np.integer)) and not isinstance(arrangements, bool):
        patterns = sample_arrangements(X, arrangements, rng=rng)
    else:
        patterns = np.asarray(arrangements)
        if patterns.dtype != bool:
            raise TypeError("arrangements must be an int or a boolean array, "
                            f"got {describe(arrangements)}")
        if patterns.ndim != 2 or patterns.shape[1] != n or patterns.shape[0] == 0:
            raise ValueError(f"arrangements must have shape (P, {n}) with P >= 1, "
                             f"got {patterns.shape}")
    sampled = isinstance(arrangements, (int, np.integer)) and not isinstance(arrangements, bool)
    args = {"beta": beta, "rng": rng_param(rng), "max_iter": max_iter, "tol": tol, "rho": rho,
            "n": int(X.shape[0]), "d": int(X.shape[1]),
            "arrangements": int(arrangements) if sampled else f"{len(patterns)} given patterns"}
    start = time.perf_counter()
    prog = _Program(white.U_prime, y, beta, patterns)
    rho = prog.L_data if rho is None else check_positive(rho, "rho")
    L = prog.L_data + rho
    C = np.zeros((2 * patterns.shape[0], white.U_prime.shape[1]))
    lam = np.zeros((n, C.shape[0]))
    history: list[float] = []
    inner_tol = tol * (1.0 + float(np.linalg.norm(y)))
    feas_tol = tol * (1.0 + float(np.max(np.abs(y))))
    used, outer, converged, previous = 0, 0, False, np.inf
    with np.errstate(over="ignore", invalid="ignore"):
        while used < max_iter:
            # Inexact augmented Lagrangian: early multipliers are rough anyway, so the inner
            # tolerance starts loose and tightens tenfold per update down to the final one, and
            # one inner solve gets at most INNER_BUDGET iterations (FISTA's gradient mapping can
            # decay as slowly as 1/k; the multipliers must keep moving meanwhile).
            tol_k = max(inner_tol, 1e-2 * 0.1**outer * (1.0 + float(np.linalg.norm(y))))
            budget = min(INNER_BUDGET, max_iter - used)
            C, its, done = _fista(prog, C, lam, rho, L, tol_k, budget, history)
            used += its
            outer += 1
            Z = prog.U @ C.T
            value, viol = prog.objective(C, Z), prog.violation(Z)
            lam = np.maximum(lam - rho * prog.S * Z, 0.0)
            small_change = abs(previous - value) <= tol * max(1.0, abs(value))
            if done and tol_k == inner_tol and viol <= feas_tol and small_change:
                converged = True
                break
            previous = value
    Z = prog.U @ C.T
    objective = prog.objective(C, Z)
    signs = prog.sign
    neurons = [neuron_from_coefficients(C[j], signs[j], white)
               for j in np.flatnonzero(np.linalg.norm(C, axis=1) > 0)]
    network = BNReLUNetwork(W=np.array([nr[0] for nr in neurons]).reshape(len(neurons), X.shape[1]),
                            gamma=np.array([nr[1] for nr in neurons]),
                            alpha=np.array([nr[2] for nr in neurons]),
                            v=np.array([nr[3] for nr in neurons]))
    seconds = time.perf_counter() - start
    return ConvexResult(objective=objective, network=network,
                        network_objective=network.objective(X, y, beta), arrangements=patterns,
                        coefficients=C.reshape(2, patterns.shape[0], -1), iterations=used,
                        outer_iterations=outer, converged=converged,
                        max_violation=prog.violation(Z), history=np.array(history), beta=beta,
                        rho=rho, lipschitz=L, tol=tol, seconds=seconds, params=args)
