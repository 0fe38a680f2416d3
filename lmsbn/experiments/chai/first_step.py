r"""Claim (3) of Chai et al., stated exactly: on the first training step, per filter, BatchNorm's
step is the NLMS step divided by rho.

:func:`first_step` measures, on a ``small_cnn`` with BatchNorm, the per-filter ratio of the two
steps and rho at step 0 (on average over the random initialisation E[rho] = 1, with a per-filter
spread predicted by :func:`lmsbn.bridge.rho_spread`), and then tracks the ratio step by step to
measure the drift (its direction is not assumed). rho and its spread are lmsbn's own tests of the
abstract's claim.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lmsbn._checks import as_generator, check_choice, check_int, check_positive
from lmsbn.bridge import FirstStepReport, ModeTracker, compare_first_step
from lmsbn.experiments._inputs import _data, _seed, _widths
from lmsbn.io import Result
from lmsbn.nn import small_cnn
from lmsbn.train import train

__all__ = ["FirstStep", "first_step"]


# --------------------------------------------------------------------------------- first_step
_BN_KEYS = ("ratio", "rho", "w_norm", "bn_step", "nlms_step")


@dataclass
class FirstStep(Result):
    """BatchNorm versus NLMS on the first step and the drift afterwards (claim 3, stated exactly).

    Attributes
    ----------
    report : lmsbn.bridge.FirstStepReport
        :func:`lmsbn.bridge.compare_first_step` at ``params["probe_lr"]`` on the first batch.
    steps : dict ``[layer] -> ndarray of int (T,)``
        The recorded training steps (every ``params["every"]``).
    drift : dict ``[layer][quantity] -> ndarray (T, F)``
        Per filter, for ``quantity`` in ``ratio`` (BatchNorm step / NLMS step), ``rho``,
        ``w_norm``, ``bn_step``, ``nlms_step`` (see :func:`lmsbn.bridge.bn_nlms_quantities`).
    loss : ndarray (steps_taken,)
    diverged : bool
    params : dict
    """

    report: FirstStepReport
    steps: dict
    drift: dict
    loss: np.ndarray
    diverged: bool
    params: dict = field(default_factory=dict)

    def quartiles(self, layer: str, quantity: str = "ratio") -> np.ndarray:
        """(T, 3) array of the 25th, 50th and 75th percentiles over filters at each record."""
        layer = check_choice(layer, "layer", tuple(self.drift))
        quantity = check_choice(quantity, "quantity", _BN_KEYS)
        return np.percentile(self.drift[layer][quantity], [25, 50, 75], axis=1).T

    def drift_direction(self, layer: str) -> str:
        """``"away"``, ``"closer"`` or ``"steady"``: how median |ratio - 1| moved over training.

        "away" when it grew by more than half (and past 0.1), "closer" when it shrank by a
        third or more, else "steady" -- thresholds of lmsbn's own choosing, printed in
        :meth:`verdict` next to the numbers they judge.
        """
        layer = check_choice(layer, "layer", tuple(self.drift))
        start, end = (float(np.median(np.abs(self.drift[layer]["ratio"][i] - 1))) for i in (0, -1))
        if end > max(1.5 * start, 0.1):
            return "away"
        if end < start / 1.5:
            return "closer"
        return "steady"

    def verdict(self) -> str:
        """Claim (3) judged from the numbers: exact per filter, on average at init, then the drift.

        What holds *exactly, per filter*: BatchNorm's step is :math:`\\eta\\gamma^2/\\sigma^2`
        (its first-order prediction error is O(probe_lr)) and it equals the NLMS step divided by
        rho. What holds *in expectation over the random initialisation*: :math:`E\\rho = 1`,
        with the per-filter spread :func:`lmsbn.bridge.rho_spread`. After the first step the
        drift is measured, not assumed.
        """
        lines, moves = [], {}
        for name, c in self.report.layers.items():
            F = c.rho.size
            mean, sd, sd_pred = float(np.mean(c.rho)), float(np.std(c.rho)), float(c.rho_sd[0])
            se = sd_pred / np.sqrt(F)
            dep = float(np.median(np.abs(c.ratio - 1)))
            lines.append(
                f"{name} (K = {c.K}, {F} filters), first step at lr {self.report.lr:g}: exact per "
                f"filter -- BatchNorm's step lr gamma^2/sigma^2 predicts its output change to "
                f"{np.median(c.bn_error):.1e} (median), and BN/NLMS = 1/rho. On average over "
                f"the initialisation -- mean rho {mean:.3f}, "
                + ("consistent with" if abs(mean - 1) <= 3 * se else "NOT consistent with")
                + f" E[rho] = 1 (3 standard errors = {3 * se:.3f}); per-filter sd of rho "
                f"{sd:.3f} against {sd_pred:.3f} predicted for isotropic filters. So BatchNorm's "
                "normaliser is NLMS's on average over initialisation"
                + (f" and, here, per filter within 10% (median |ratio - 1| = {dep:.3f})."
                   if dep < 0.1 else
                   f", not per filter: median |ratio - 1| = {dep:.3f}, BN/NLMS median "
                   f"{np.median(c.ratio):.3f}."))
            if name in self.drift and self.steps[name].size > 1:
                q = self.quartiles(name, "ratio")
                w = np.median(self.drift[name]["w_norm"], axis=1)
                start, end = (float(np.median(np.abs(self.drift[name]["ratio"][i] - 1)))
                              for i in (0, -1))
                moves[name] = self.drift_direction(name)
                lines.append(
                    f"{name}: after {int(self.steps[name][-1])} steps at lr {self.params['lr']:g} "
                    f"the BN/NLMS ratio has median {q[-1, 1]:.3f} (quartiles {q[-1, 0]:.3f}-"
                    f"{q[-1, 2]:.3f}); median |ratio - 1| went {start:.3f} -> {end:.3f} from the "
                    f"training run's step 0 (its own minibatch, not the first-step batch above), "
                    f"median ||w|| {w[0]:.3g} -> {w[-1]:.3g}: drift {moves[name]} "
                    "(away: grew by half and past 0.1; closer: shrank by a third).")
        if moves:
            kinds = sorted(set(moves.values()))
            overall = (f"every layer {kinds[0]}" if len(kinds) == 1 else
                       "mixed -- " + ", ".join(f"{n} {m}" for n, m in moves.items()))
            lines.append(f"drift after the first step: {overall}.")
        if self.diverged:
            lines.append("training diverged: the drift record stops at the divergence.")
        return "\n".join(lines) if lines else "no conv layer followed by full BatchNorm"

    def summary(self) -> str:
        """A readable text report of the result, with its numbers."""
        return self.report.summary() + "\n" + self.verdict()

    @classmethod
    def _example(cls) -> FirstStep:
        T, F = 3, 3
        drift = {k: np.linspace(0.9, 1.4, T * F).reshape(T, F) for k in _BN_KEYS}
        return cls(FirstStepReport._example(), {"conv1": np.array([0, 4, 8])}, {"conv1": drift},
                   np.array([2.3, 2.1, 1.9, np.nan]), False,
                   {"lr": 0.1, "probe_lr": 1e-4, "steps": 9, "every": 4, "seed": 0})


def first_step(*, X=None, y=None, lr: float = 0.1, probe_lr: float = 1e-4, steps: int = 100,
               every: int = 10, batch_size: int = 32, n_data: int = 512, widths=(8, 16, 16),
               max_rows: int = 2048, rng=0) -> FirstStep:
    r"""BatchNorm's update against NLMS's: on the first step, then over training (claim 3).

    1. At initialisation, :func:`lmsbn.bridge.compare_first_step` with the small ``probe_lr``
       on one batch: per conv+BN layer and filter, the BatchNorm and NLMS effective steps, their
       ratio, rho, and the errors of both first-order predictions of the output change.
    2. Then ``small_cnn(norm="full")`` trains at ``lr`` with a :class:`lmsbn.bridge.ModeTracker`
       recording the same quantities every ``every`` steps.

    Parameters
    ----------
    X, y : optional
        Images (N, C, H, W) or (N, H, W) and integer labels; default ``n_data`` procedural images.
        The experiment runs in float64 whatever the dtype of ``X`` (see the comment in the code:
        the first-order check is below float32 resolution).
    lr : float, default 0.1
        Training learning rate for the drift.
    probe_lr : float, default 1e-4
        Learning rate of the first-step comparison: small, so the first-order prediction holds.
    steps : int, default 100
        Training steps of the drift run.
    every : int, default 10
        The tracker records every ``every`` steps (step 0 included).
    batch_size : int, default 32
        Also the size of the first-step comparison's batch.
    n_data : int, default 512
    widths : sequence of int, default (8, 16, 16)
    max_rows : int, default 2048
        Regressor rows per layer and record for the tracker's covariance.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    FirstStep

    Notes
    -----
    With :math:`\rho = K w^T C w / (\|w\|^2 \operatorname{tr} C)`, BatchNorm's step
    :math:`\eta\gamma^2/\sigma^2` equals the NLMS step :math:`\eta\gamma^2 K / (\|w\|^2
    \operatorname{tr} C)` divided by :math:`\rho` (see :func:`lmsbn.bridge.rho` and tutorial 07),
    exactly and per filter. Over an isotropic random initialisation :math:`E\rho = 1` and
    :math:`\operatorname{Var}\rho
    = \frac{2}{K+2}(K \operatorname{tr}C^2/(\operatorname{tr}C)^2 - 1)`
    (:func:`lmsbn.bridge.rho_spread`); so "BatchNorm is NLMS on the first step" holds for the
    normalisers on average over initialisations (BatchNorm's :math:`\sigma^2` against NLMS's
    :math:`\|w\|^2 \operatorname{tr} C / K`), each filter within that spread. Whether training
    then moves rho away from 1 or towards it is measured, per layer
    (:meth:`FirstStep.drift_direction`).
    rho, its spread and the drift thresholds are lmsbn's own devices for testing the claim
    (the project has only the paper's abstract).
    """
    lr = check_positive(lr, "lr")
    probe_lr = check_positive(probe_lr, "probe_lr")
    steps = check_int(steps, "steps", min_value=1)
    every = check_int(every, "every", min_value=1)
    batch_size = check_int(batch_size, "batch_size", min_value=2)
    n_data = check_int(n_data, "n_data", min_value=2)
    widths = _widths(widths)
    gen = as_generator(rng)
    X, y = _data(X, y, n_data, gen)
    # Always float64: the first-order check compares output changes of relative size ~probe_lr,
    # which float32 round-off (~1e-7 per operation, accumulated) would swamp.
    X = X.astype(np.float64, copy=False)
    init_seed, train_seed, track_seed = _seed(gen), _seed(gen), _seed(gen)
    model = small_cnn(X.shape[1], int(y.max()) + 1, widths, "full", rng=init_seed, dtype=X.dtype)
    report = compare_first_step(model, X[:batch_size], y[:batch_size], probe_lr)
    tracker = ModeTracker(every, max_rows=max_rows, rng=track_seed,
                          layers=[n for n, _ in model.named_layers() if n.startswith("conv")])
    history = train(model, X, y, steps=steps, batch_size=batch_size, lr=lr, callbacks=[tracker],
                    rng=train_seed)
    steps_rec = {n: rec.steps for n, rec in tracker.record.items() if rec.bn}
    drift = {n: {k: rec.bn[k] for k in _BN_KEYS} for n, rec in tracker.record.items() if rec.bn}
    params = {"lr": lr, "probe_lr": probe_lr, "steps": steps, "every": every,
              "batch_size": batch_size, "widths": list(widths), "max_rows": max_rows,
              "n_data": int(X.shape[0]), "seed": rng if isinstance(rng, int) else None}
    return FirstStep(report, steps_rec, drift, history.loss, history.diverged, params)
