r"""Claim (2) of Chai et al. (2020): separating BatchNorm's speed from its stability.

:func:`lr_sweep` trains ``small_cnn(norm=...)`` over a grid learning rate x normalisation x seed
for a fixed budget, records what happened at every point (final loss, steps to a target loss,
divergence step and cause, held-out accuracy), and puts next to it the stability bound
:math:`2/\lambda_{max}` of the network's Gauss-Newton matrix at initialisation (in the units of
the learning rate, :mod:`lmsbn.bridge.stability`), with each layer's raw :math:`\lambda_{max}(R)`
beside it as the unit-gain LMS picture. The
:class:`LRSweep` result then answers the separation question from the measured numbers.

The BatchNorm variants (:data:`lmsbn.nn.batchnorm.BN_MODES`) are meant to isolate the two
halves of the claim: ``amplify`` only boosts channels weaker than the layer's median (to raise
the smallest eigenvalues), ``suppress`` only shrinks those stronger than it (to lower the
largest); how far they really do is measured by :func:`lmsbn.experiments.chai.variant_isolation`
and stored in the sweep (``LRSweep.isolation``). Prediction: at low learning rates ``amplify``
recovers most of ``full``'s speed and ``suppress`` does not; at high learning rates ``suppress``
still *learns* like ``full`` while ``amplify`` and no-BN do not.

Both halves are read from numbers (lmsbn's own operationalisation of the abstract's claim):

* **speed** = steps to the target loss at the low learning rates of the grid (0.01 to 0.1);
  a variant's *recovery* is ``(S_base - S_variant) / (S_base - S_full)`` with seed-mean steps
  ``S`` (a run that never reaches the target counts as the full budget, a lower bound);
* **stability** = the largest learning rate at which a run *learns*: its final loss lies below
  chance, :math:`\ln K` for K classes, by at least ``_LEARN_MARGIN`` = 0.2 nats. Staying finite
  is not enough (at lr 10 the BN networks stay finite near the chance loss without learning).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from lmsbn._checks import as_float_array, as_generator, check_int, check_positive
from lmsbn.bridge import gn_lambda_max, layer_spectra
from lmsbn.experiments._inputs import _data, _norms, _widths
from lmsbn.experiments.chai.isolation import VARIANTS, VariantIsolation, _isolation
from lmsbn.io import Result, rng_param
from lmsbn.nn import NORMS, small_cnn
from lmsbn.train import evaluate, run_sweep, train

__all__ = ["LRSweep", "lr_sweep"]

#: (default, quick) values of the sweep's size parameters; ``quick`` is for tests and the tour.
_SIZES = {
    "lrs": ((0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0), (0.03, 0.3, 3.0, 10.0)),
    "steps": (80, 25),
    "n_train": (1000, 256),
    "n_eval": (200, 64),
    "widths": ((8, 16, 16), (4, 8, 8)),
}
_TAIL = 10  # final loss = mean of the last _TAIL minibatch losses (one minibatch is noisy)
_GAP = 0.05  # a final-loss gap below this is within minibatch noise: too small to take ratios of
_LEARN_MARGIN = 0.2  # nats below chance (ln K) that a final loss must reach to count as learning
_SPEED_LRS = (0.01, 0.1)  # the low learning rates where speed is measured (inclusive)
_MIN_STEP_GAIN = 3  # full must beat the baseline by this many steps for a recovery ratio
_MOST = 0.5  # "most of full's gain"


@functools.lru_cache(maxsize=4)
def _procedural_split(n_train, n_eval, seed):
    """Procedural train/eval data, built once per worker process (cheaper than pickling it)."""
    from lmsbn.data import shapes
    X, y = shapes(n_train + n_eval, rng=seed)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def _train_point(*, norm, lr, seed, steps, batch_size, widths, target_loss, data):
    """One grid point: train from seed ``seed`` and reduce the History to scalars + the curve."""
    Xtr, ytr, Xev, yev = _procedural_split(*data) if len(data) == 3 else data
    init_ss, train_ss = np.random.SeedSequence(seed).spawn(2)
    model = small_cnn(Xtr.shape[1], int(max(ytr.max(), yev.max())) + 1, widths, norm,
                      rng=np.random.default_rng(init_ss), dtype=Xtr.dtype)
    h = train(model, Xtr, ytr, steps=steps, batch_size=batch_size, lr=lr,
              rng=np.random.default_rng(train_ss))
    curve = np.full(steps, np.nan)
    curve[:h.loss.size] = h.loss
    acc = np.nan if h.diverged else evaluate(model, Xev, yev)[1]
    return {"final_loss": np.inf if h.diverged else float(np.mean(h.loss[-_TAIL:])),
            "steps_to_target": h.steps_to_reach(target_loss), "diverged": h.diverged,
            "diverged_at": h.diverged_at, "reason": h.reason, "eval_accuracy": acc, "curve": curve}


@dataclass
class LRSweep(Result):
    r"""The learning-rate sweep of :func:`lr_sweep`; arrays are indexed ``[norm, lr, seed]``.

    Attributes
    ----------
    norms : tuple of str
    lrs : ndarray (L,)
        Ascending.
    seeds : ndarray of int (S,)
    final_loss : ndarray (N, L, S)
        Mean of the last 10 minibatch losses; ``inf`` for a diverged run, NaN for a failed one.
    steps_to_target : ndarray of int (N, L, S)
        ``History.steps_to_reach(target_loss)``; -1 if never reached.
    diverged : ndarray of bool (N, L, S)
    diverged_at : ndarray of int (N, L, S)
        Step of divergence, -1 if none.
    reason : ndarray of str (N, L, S)
    eval_accuracy : ndarray (N, L, S)
        Held-out accuracy at the end (NaN if diverged).
    loss_curves : ndarray (N, L, S, steps)
        Minibatch losses, NaN-padded after a divergence.
    errors : ndarray of str (N, L, S)
        ``""``, or the exception text of a grid point that failed (a bug, not a divergence).
    bound_layers : tuple of str
    layer_lambda_max : ndarray (N, n_layers)
        :math:`\lambda_{max}` of each layer's uncentred R at initialisation, per norm.
    params : dict
        Includes ``n_classes`` (chance loss = ln n_classes) and ``learn_margin``.
    isolation : VariantIsolation or None
        What ``amplify``/``suppress`` did to the normalised layers' input spectra relative to
        ``center``, on the sweep's data, widths and first seed (50 steps at lr 0.03); None when
        the sweep lacks one of the three norms or ``isolation=False``.
    gn_lambda_max : ndarray (N,)
        :math:`\lambda_{max}` of the whole network's Gauss-Newton matrix at initialisation, per
        norm (:func:`lmsbn.bridge.stability.gn_lambda_max`), the mean over the probe images'
        minibatches of ``batch_size``: the curvature one SGD step sees, in the units of ``lr``.

    Notes
    -----
    **Units of the predicted bound.** ``predicted_bound`` is ``2 / gn_lambda_max``, the
    Gauss-Newton bound in the units of ``train``'s learning rate (:mod:`lmsbn.bridge.stability`).
    ``lms_bound = min over layers of 2 / lambda_max(R)`` is the **unit-gain LMS picture**: the raw
    LMS bound on the step size :math:`\mu` of the update
    :math:`w \leftarrow w + \mu\, e\, u` of a single regressor with R = E[u u^T]. SGD on a loss
    averaged over a batch of B images moves a conv filter by
    :math:`\eta \sum_m e_m u_m` where :math:`e_m = -\partial L/\partial y_m` already carries the
    1/B of the mean and the back-propagated factor of every layer above. So the LMS step is
    :math:`\mu = \eta \times c` with :math:`c` = (positions per image) x (the size of the
    back-propagated error relative to an MSE residual), which is neither 1 nor constant in
    training. The ratio ``measured / predicted`` therefore is *not* expected to be 1; what the
    LMS picture predicts is the *ordering* between normalisations (a smaller
    :math:`\lambda_{max}` allows a larger step). The exact correspondence holds only for a layer
    feeding an MSE loss directly, or trained alone (see :func:`lmsbn.bridge.layer_case`).
    """

    norms: tuple
    lrs: np.ndarray
    seeds: np.ndarray
    final_loss: np.ndarray
    steps_to_target: np.ndarray
    diverged: np.ndarray
    diverged_at: np.ndarray
    reason: np.ndarray
    eval_accuracy: np.ndarray
    loss_curves: np.ndarray
    errors: np.ndarray
    bound_layers: tuple
    layer_lambda_max: np.ndarray
    params: dict = field(default_factory=dict)
    isolation: VariantIsolation | None = None
    gn_lambda_max: np.ndarray = field(default_factory=lambda: np.zeros(0))

    # ---------------------------------------------------------------- bounds vs measurement
    @property
    def predicted_bound(self) -> np.ndarray:
        """(N,) ``2 / gn_lambda_max``: the Gauss-Newton bound on ``lr`` (NaN if not measured)."""
        if self.gn_lambda_max.size != len(self.norms):
            return np.full(len(self.norms), np.nan)
        return 2.0 / self.gn_lambda_max

    @property
    def lms_bound(self) -> np.ndarray:
        """(N,) smallest ``2 / lambda_max(R)`` over layers: the unit-gain LMS picture (Notes)."""
        return np.min(2.0 / self.layer_lambda_max, axis=1)

    @property
    def divergence_lr(self) -> np.ndarray:
        """(N,) smallest lr of the grid at which every seed diverged (NaN if there is none)."""
        all_div = self.diverged.all(axis=2)
        return np.array([self.lrs[np.argmax(row)] if row.any() else np.nan for row in all_div])

    @property
    def max_stable_lr(self) -> np.ndarray:
        """(N,) largest lr such that no seed diverged there or at any smaller lr (NaN if none)."""
        any_div = self.diverged.any(axis=2)
        out = np.full(len(self.norms), np.nan)
        for i, row in enumerate(any_div):
            stable = np.flatnonzero(np.cumsum(row) == 0)
            if stable.size:
                out[i] = self.lrs[stable[-1]]
        return out

    @property
    def bound_ratio(self) -> np.ndarray:
        """(N,) ``divergence_lr / predicted_bound`` (NaN where nothing diverged)."""
        return self.divergence_lr / self.predicted_bound

    def index(self, norm: str) -> int:
        """Row of ``norm`` in the result arrays (``ValueError`` for an unknown norm)."""
        if norm not in self.norms:
            raise ValueError(f"norm must be one of {self.norms}, got {norm!r}")
        return self.norms.index(norm)

    # ---------------------------------------------------------------- learning, not just finite
    @property
    def chance_loss(self) -> float:
        """ln(n_classes): the cross-entropy of a uniform guess (n_classes from params, else 10)."""
        return float(np.log(self.params.get("n_classes", 10)))

    @property
    def learns(self) -> np.ndarray:
        """(N, L, S) bool: the final loss is below ``chance_loss - learn_margin`` (not diverged)."""
        margin = self.params.get("learn_margin", _LEARN_MARGIN)
        with np.errstate(invalid="ignore"):
            return np.isfinite(self.final_loss) & (self.final_loss < self.chance_loss - margin)

    @property
    def max_learning_lr(self) -> np.ndarray:
        """(N, S) largest lr of the grid at which that seed's run learns (NaN if it never does)."""
        out = np.full((len(self.norms), len(self.seeds)), np.nan)
        for k, s in np.ndindex(*out.shape):
            hit = np.flatnonzero(self.learns[k, :, s])
            if hit.size:
                out[k, s] = self.lrs[hit[-1]]
        return out

    # ---------------------------------------------------------------- claim (2)
    @property
    def separation(self) -> dict:
        """The numbers behind claim (2); see :meth:`verdict` for how they are read.

        Keys: ``baseline`` (``"none"`` if swept, else ``"center"``); **speed**: ``speed_lrs``
        (grid lrs in [0.01, 0.1] where full and the baseline trained and full reached the
        target at least 3 steps sooner), ``steps`` ``{norm: seed-mean steps to target per
        speed lr}`` (budget if never reached), ``recovery`` ``{variant: mean over speed_lrs of
        (S_base - S_v) / (S_base - S_full)}`` with ``recovery_per_lr``, and ``loss_recovery``
        (the same ratio on final loss, for reference); **stability**: ``learn_below`` (the
        final-loss threshold), ``max_learning_lr`` ``{norm: per-seed largest lr that learns}``,
        ``max_learning_lr_median``, ``finite_not_learning`` ``{norm: lrs where every seed
        stayed finite without learning}``, ``separating_lrs`` (lrs where full and suppress learn
        with every seed and amplify with none), ``max_stable_lr`` (finite only, for reference)
        and ``none_diverged_lrs`` (every seed diverged) / ``none_some_diverged_lrs``.
        """
        need = {"full", "amplify", "suppress"}
        base = "none" if "none" in self.norms else ("center" if "center" in self.norms else None)
        if not need <= set(self.norms) or base is None:
            missing = sorted(need - set(self.norms)) + ([] if base else ["none or center"])
            return {"missing": missing}
        i = self.index
        budget = int(self.params.get("steps", self.loss_curves.shape[-1]))
        stable = ~self.diverged.any(axis=2)
        st = np.where(self.steps_to_target >= 0, self.steps_to_target, budget).mean(axis=2)
        loss = np.mean(self.final_loss, axis=2)  # inf if any seed diverged
        lo, hi = _SPEED_LRS
        speed = [j for j, lr in enumerate(self.lrs)
                 if lo * (1 - 1e-9) <= lr <= hi * (1 + 1e-9) and stable[i("full"), j]
                 and stable[i(base), j] and st[i(base), j] - st[i("full"), j] >= _MIN_STEP_GAIN]
        recovery, per_lr, loss_rec = {}, {}, {}
        with np.errstate(invalid="ignore", divide="ignore"):  # inf losses of diverged variants
            for v in ("amplify", "suppress"):
                fr = [float((st[i(base), j] - st[i(v), j]) / (st[i(base), j] - st[i("full"), j]))
                      for j in speed]
                per_lr[v] = fr
                recovery[v] = float(np.mean(fr)) if fr else float("nan")
                lf = [(loss[i(base), j] - loss[i(v), j]) / (loss[i(base), j] - loss[i("full"), j])
                      for j in speed if loss[i(base), j] - loss[i("full"), j] > _GAP]
                loss_rec[v] = float(np.mean(lf)) if lf else float("nan")
        learns, mll = self.learns, self.max_learning_lr
        all_learn, none_learn = learns.all(axis=2), ~learns.any(axis=2)
        finite_only = ~self.diverged.any(axis=2) & none_learn
        all_div = self.diverged.all(axis=2)
        sep = [float(self.lrs[j]) for j in range(len(self.lrs))
               if all_learn[i("full"), j] and all_learn[i("suppress"), j]
               and none_learn[i("amplify"), j]]
        # Seed median with "learns at no lr" ranked below every lr (a NaN must not be skipped,
        # or one learning seed out of three would set the median); the lower median if even.
        rank = np.array([[np.searchsorted(self.lrs, v) if np.isfinite(v) else -1 for v in row]
                         for row in mll])
        mid = np.sort(rank, axis=1)[:, (rank.shape[1] - 1) // 2]
        med = {n: float(self.lrs[m]) if m >= 0 else float("nan")
               for n, m in zip(self.norms, mid)}
        return {"baseline": base, "speed_lrs": [float(self.lrs[j]) for j in speed],
                "steps": {n: [float(st[k, j]) for j in speed] for k, n in enumerate(self.norms)},
                "unreached": {n: [bool(np.all(self.steps_to_target[k, j] < 0)) for j in speed]
                              for k, n in enumerate(self.norms)},
                "recovery": recovery, "recovery_per_lr": per_lr, "loss_recovery": loss_rec,
                "learn_below": self.chance_loss - self.params.get("learn_margin", _LEARN_MARGIN),
                "max_learning_lr": {n: [float(v) for v in mll[k]]
                                    for k, n in enumerate(self.norms)},
                "max_learning_lr_median": med,
                "finite_not_learning": {n: [float(v) for v in self.lrs[finite_only[k]]]
                                        for k, n in enumerate(self.norms)},
                "separating_lrs": sep,
                "max_stable_lr": dict(zip(self.norms, map(float, self.max_stable_lr))),
                "none_some_diverged_lrs": (
                    [float(v) for v in self.lrs[self.diverged[i("none")].any(axis=1)]]
                    if "none" in self.norms else []),
                "none_diverged_lrs": ([float(v) for v in self.lrs[all_div[i("none")]]]
                                      if "none" in self.norms else [])}

    def _judge(self) -> dict:
        """``{"speed": True/False/None, "stability": True/False/None}`` (None = untestable)."""
        s = self.separation
        if "missing" in s:
            return {"speed": None, "stability": None}
        speed = None
        if s["speed_lrs"]:
            pa, ps = s["recovery_per_lr"]["amplify"], s["recovery_per_lr"]["suppress"]
            if all(np.isfinite(pa)) and all(np.isfinite(ps)):
                # "Most of the gain" lr by lr, so one lr cannot carry the average over the others.
                speed = all(f >= _MOST for f in pa) and not any(f >= _MOST for f in ps)
        med = s["max_learning_lr_median"]
        stab = None
        if np.isfinite(med["full"]):
            lr_index = {float(v): j for j, v in enumerate(self.lrs)}
            idx = {n: lr_index.get(v, -1) for n, v in med.items() if np.isfinite(v)}
            idx.update({n: -1 for n, v in med.items() if not np.isfinite(v)})
            # "Like full": at most one grid step below it; "do not": strictly below suppress.
            others = [n for n in ("amplify", "none") if n in idx]
            stab = (idx["suppress"] >= idx["full"] - 1
                    and all(idx[n] < idx["suppress"] for n in others))
        return {"speed": speed, "stability": stab}

    @property
    def headline(self) -> str:
        """One line with both halves of claim (2), each with its numbers and yes/no/untestable."""
        s = self.separation
        if "missing" in s:
            return f"claim (2) needs the norms {s['missing']} in the sweep; not tested."
        j = self._judge()
        word = {True: "agrees", False: "disagrees", None: "untestable"}
        rec = s["recovery"]
        if s["speed_lrs"]:
            speed = (f"speed (steps to loss {self.params.get('target_loss')} at lr "
                     f"{', '.join(f'{v:g}' for v in s['speed_lrs'])}): amplify recovers "
                     f"{rec['amplify']:.0%} of full's gain over {s['baseline']}, suppress "
                     f"{rec['suppress']:.0%} -> {word[j['speed']]}")
        else:
            speed = (f"speed: untestable (at lr {_SPEED_LRS[0]:g}-{_SPEED_LRS[1]:g} full does not "
                     f"reach loss {self.params.get('target_loss')} ahead of {s['baseline']} within "
                     f"{self.params.get('steps')} steps)")
        med = s["max_learning_lr_median"]
        stab = ("stability (largest lr that learns, seed median): "
                + ", ".join(f"{n} {med[n]:g}" if np.isfinite(med[n]) else f"{n} never"
                            for n in ("full", "suppress", "amplify", "none")
                            if n in med) + f" -> {word[j['stability']]}")
        return f"claim (2): {speed}; {stab}"

    def verdict(self) -> str:
        """Claim (2) read from :attr:`separation`: both halves, agree, disagree or untestable."""
        s = self.separation
        if "missing" in s:
            return f"claim (2) needs the norms {s['missing']} in the sweep; not tested."
        j = self._judge()
        fmt = lambda values: ", ".join(f"{v:g}" for v in values)  # noqa: E731
        base = s["baseline"]
        if not s["speed_lrs"]:
            speed = (f"Speed: at no lr in [{_SPEED_LRS[0]:g}, {_SPEED_LRS[1]:g}] does full reach "
                     f"the target loss {self.params.get('target_loss')} at least {_MIN_STEP_GAIN} "
                     f"steps before {base}, so the speed half cannot be tested here (lengthen the "
                     "budget or change the target).")
        else:
            ra, rs = s["recovery"]["amplify"], s["recovery"]["suppress"]
            cell = lambda n, k: (">=" if s["unreached"][n][k] else "") + f"{s['steps'][n][k]:.0f}"  # noqa: E731
            per_lr = "; ".join(
                f"lr {lr:g}: {base} {cell(base, k)}, full {cell('full', k)}, amplify "
                f"{cell('amplify', k)}, suppress {cell('suppress', k)}"
                + (f", center {cell('center', k)}" if "center" in self.norms else "")
                for k, lr in enumerate(s["speed_lrs"]))
            speed = (f"Speed (seed-mean steps to loss {self.params.get('target_loss')}, '>=' = "
                     f"no seed reached it in the budget; {per_lr}): "
                     f"amplify recovers {ra:.0%} of full's gain over {base}, suppress {rs:.0%}")
            pa, ps = s["recovery_per_lr"]["amplify"], s["recovery_per_lr"]["suppress"]
            na, ns, m = sum(f >= _MOST for f in pa), sum(f >= _MOST for f in ps), len(pa)
            if j["speed"] is None:
                speed += "; a variant diverged there, so this half is untestable."
            elif j["speed"]:
                speed += (": amplify recovers most of it at every low lr and suppress at none, as "
                          "claim (2) predicts.")
            elif na == m and ns == m:
                speed += (": both recover most of it at every low lr, so this budget does not "
                          "separate them (claim (2) says suppress should not).")
            elif ns == m and na == 0:
                speed += ": suppress recovers more than amplify, the opposite of claim (2)."
            elif na == 0 and ns == 0:
                speed += ": neither recovers most of it, which disagrees with claim (2)."
            else:
                speed += (f": amplify recovers most of it at {na} of {m} low lrs and suppress at "
                          f"{ns} of {m}, so claim (2) is not borne out consistently.")
        per_seed = "; ".join(f"{n} {fmt(v)}" for n, v in s["max_learning_lr"].items())
        margin = self.params.get("learn_margin", _LEARN_MARGIN)
        stab = (f"Stability (learns = final loss below {s['learn_below']:.2f}, chance ln "
                f"{self.params.get('n_classes', 10)} minus {margin:g}): "
                f"largest lr that learns, per seed: {per_seed} (nan = at no lr)")
        if j["stability"] is None:
            stab += "; full learns at no lr of the grid, so this half is untestable."
        elif j["stability"]:
            stab += ("; suppress learns up to full's limit (within one grid step) while amplify "
                     "and no-BN stop earlier, as claim (2) predicts.")
        else:
            stab += ("; that is not the pattern claim (2) predicts (suppress learning as high as "
                     "full, within one grid step, with amplify and no-BN stopping below it).")
        fin = {n: v for n, v in s["finite_not_learning"].items() if v}
        if fin:
            stab += (" Finite without learning at: "
                     + "; ".join(f"{n} lr {fmt(v)}" for n, v in fin.items()) + ".")
        if "none" in self.norms:
            nd = s["none_diverged_lrs"]
            stab += (f" The network without BatchNorm diverges at lr {fmt(nd)}." if nd else
                     " The network without BatchNorm never diverges with every seed in this grid"
                     + (f" (some seeds at lr {fmt(s['none_some_diverged_lrs'])})."
                        if s["none_some_diverged_lrs"] else "."))
        return speed + "\n" + stab

    def summary(self) -> str:
        """A readable text report of the result, with its numbers."""
        head = "norm      " + "".join(f"{lr:>10.3g}" for lr in self.lrs)
        lines = [f"lr sweep: {self.params.get('steps')} steps, batch "
                 f"{self.params.get('batch_size')}, seed-mean final loss "
                 "(x = all seeds diverged, ! = some)", head]
        for k, n in enumerate(self.norms):
            cells = []
            for j in range(len(self.lrs)):
                d = self.diverged[k, j]
                cells.append(f"{'x':>10}" if d.all() else
                             f"{np.mean(self.final_loss[k, j]):>9.3f}{'!' if d.any() else ' '}")
            lines.append(f"{n:<10}" + "".join(cells))
        lines.append("predicted bound 2/lambda_max(G) (Gauss-Newton, units of lr; unit-gain LMS "
                     "picture min_layers 2/lambda_max(R) in raw LMS step units, see LRSweep Notes) "
                     "vs measured divergence lr:")
        for k, n in enumerate(self.norms):
            layer = self.bound_layers[int(np.argmax(self.layer_lambda_max[k]))]
            lines.append(f"  {n:<9} 2/lambda_max(G) = {self.predicted_bound[k]:.3g} "
                         f"(unit-gain LMS 2/lambda_max(R) = {self.lms_bound[k]:.3g}, {layer}); "
                         f"divergence lr {self.divergence_lr[k]:.3g}; largest stable lr "
                         f"{self.max_stable_lr[k]:.3g}; ratio {self.bound_ratio[k]:.3g}")
        lines.append(self.verdict())
        if self.isolation is not None:
            lines.append(self.isolation.summary())
        return "\n".join(lines)

    @classmethod
    def _example(cls) -> LRSweep:
        norms, L, S = ("none", "full", "amplify", "suppress"), 3, 2
        shape = (len(norms), L, S)
        div = np.zeros(shape, bool)
        div[0, 2], div[2, 2, 0] = True, True
        loss = np.where(div, np.inf, np.linspace(0.5, 2.0, div.size).reshape(shape))
        curves = np.repeat(loss[..., None], 4, axis=3)
        curves[div] = [2.3, np.nan, np.nan, np.nan]
        reason = np.where(div, "loss is not finite (inf)", "")
        return cls(norms, np.array([0.01, 0.1, 1.0]), np.array([0, 1]), loss,
                   np.where(div, -1, 3), div, np.where(div, 1, -1), reason,
                   np.where(div, np.nan, 0.5), curves, np.full(shape, ""), ("conv1", "fc1"),
                   np.array([[4.0, 2.0], [1.0, 0.5], [2.0, 1.0], [1.5, 0.7]]),
                   {"steps": 4, "batch_size": 8, "target_loss": 1.5, "widths": [4, 8], "rng": 0},
                   gn_lambda_max=np.array([40.0, 1.0, 2.0, 1.5]))


def lr_sweep(*, lrs=None, norms=NORMS, seeds=(0,), steps=None, batch_size: int = 32,
             target_loss: float = 1.5, widths=None, n_train=None, n_eval=None, X=None, y=None,
             executor=None, n_jobs: int = 1, progress: bool = False, quick: bool = False,
             n_probe: int = 128, learn_margin: float = _LEARN_MARGIN, isolation: bool = True,
             rng=0) -> LRSweep:
    r"""Learning rate x normalisation x seed: speed, divergence, and the predicted bound.

    Parameters
    ----------
    lrs : sequence of float, optional
        Default (0.01, 0.03, 0.1, 0.3, 1, 3, 10); quick: (0.03, 0.3, 3, 10). Sorted
        ascending. The top of the range is where the network without BatchNorm starts to
        diverge on the procedural data (below it, large steps mostly kill its ReLUs instead).
    norms : sequence of str, default every entry of :data:`lmsbn.nn.NORMS`
    seeds : sequence of int, default (0,)
        Each seed fixes a point's initialisation and minibatch order; the same seed gives the
        same initial conv filters for every norm and lr.
    steps : int, optional
        Training budget per point; default 80 (quick: 25).
    batch_size : int, default 32
    target_loss : float, default 1.5
        For ``steps_to_target`` (ln 10 = 2.30 is chance level for 10 classes).
    widths : sequence of int, optional
        ``small_cnn`` conv widths; default (8, 16, 16) (quick: (4, 8, 8)).
    n_train, n_eval : int, optional
        Procedural images for training and held-out accuracy; default 1000 and 200 (quick: 256
        and 64). With ``X, y`` the last ``n_eval`` images are held out.
    X, y : optional
        Your own images (N, C, H, W) or (N, H, W) and integer labels.
    executor, n_jobs, progress :
        Passed to :func:`lmsbn.train.sweep.run_sweep` (any ``concurrent.futures.Executor``; or a
        process pool of ``n_jobs`` workers). Results do not depend on them.
    quick : bool, default False
        Much smaller defaults for tests and the tour (explicit arguments still win).
    n_probe : int, default 128
        Training images the initial layer spectra and the Gauss-Newton bound are measured on.
    learn_margin : float, default 0.2
        A run *learns* when its final loss is below ln(n_classes) minus this many nats.
    isolation : bool, default True
        Also measure :func:`lmsbn.experiments.chai.variant_isolation` on the sweep's training
        data, widths and first seed (50 steps at lr 0.03; about 3 more trainings) when
        ``center``, ``amplify`` and ``suppress`` are all swept.
    rng : int, default 0
        Seed of the procedural data and of the spectra's row subsampling.

    Returns
    -------
    LRSweep
        See its ``summary()``, ``verdict`` and Notes (units of the predicted bound).

    Notes
    -----
    The default sweep is 7 lrs x 7 norms x 1 seed x 80 steps on 1000 16x16 images; diverging
    points stop early, and ``n_jobs=2`` splits the rest over two processes. It costs about
    50 CPU-seconds in all (measured on a 2-core machine), so roughly half a minute of wall time
    with ``n_jobs=2`` on two idle cores (see :func:`lmsbn.train.sweep.run_sweep` on BLAS threads).
    """
    quick = bool(quick)
    pick = lambda name, value: _SIZES[name][quick] if value is None else value  # noqa: E731
    lrs = np.sort(as_float_array(pick("lrs", lrs), "lrs", ndim=1))
    if np.any(lrs <= 0) or np.unique(lrs).size != lrs.size:
        raise ValueError(f"lrs must be distinct positive learning rates, got {lrs.tolist()}")
    norms = _norms(norms)
    seeds = [check_int(s, "seeds entry", min_value=0) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty sequence of distinct ints, got {seeds}")
    steps = check_int(pick("steps", steps), "steps", min_value=1)
    batch_size = check_int(batch_size, "batch_size", min_value=2)
    target_loss = check_positive(target_loss, "target_loss")
    widths = _widths(pick("widths", widths))
    n_train = check_int(pick("n_train", n_train), "n_train", min_value=2)
    n_eval = check_int(pick("n_eval", n_eval), "n_eval", min_value=1)
    n_probe = check_int(n_probe, "n_probe", min_value=2)
    learn_margin = check_positive(learn_margin, "learn_margin", allow_zero=True)
    rng = check_int(rng, "rng", min_value=0)  # an int: it must travel to worker processes
    if X is None and y is None:
        data = (n_train, n_eval, rng)
        Xtr, ytr = _procedural_split(*data)[:2]
    else:
        Xall, yall = _data(X, y, 0, None)
        if Xall.shape[0] <= n_eval + 1:
            raise ValueError(f"X has {Xall.shape[0]} images; need more than n_eval={n_eval} + 1")
        data = (Xall[:-n_eval], yall[:-n_eval], Xall[-n_eval:], yall[-n_eval:])
        Xtr, ytr = data[:2]

    fn = functools.partial(_train_point, steps=steps, batch_size=batch_size, widths=widths,
                           target_loss=target_loss, data=data)
    points = [{"norm": n, "lr": float(lr), "seed": s} for n in norms for lr in lrs for s in seeds]
    results = run_sweep(fn, points, executor=executor, n_jobs=n_jobs, progress=progress)

    shape = (len(norms), lrs.size, len(seeds))
    out = {"final_loss": np.full(shape, np.nan), "steps_to_target": np.full(shape, -1, np.int64),
           "diverged": np.zeros(shape, bool), "diverged_at": np.full(shape, -1, np.int64),
           "eval_accuracy": np.full(shape, np.nan), "loss_curves": np.full((*shape, steps), np.nan)}
    reason, errors = np.full(shape, "", dtype=object), np.full(shape, "", dtype=object)
    for r, idx in zip(results, np.ndindex(*shape)):
        if not r.ok:
            errors[idx] = r.error
            continue
        v = r.value
        for key in ("final_loss", "steps_to_target", "diverged", "diverged_at", "eval_accuracy"):
            out[key][idx] = v[key]
        out["loss_curves"][idx] = v["curve"]
        reason[idx] = v["reason"]

    # The number of classes as _train_point counts it, so that the probed model is the very
    # initialisation of the sweep's first seed (a different output size would draw other weights).
    split = _procedural_split(*data) if len(data) == 3 else data
    n_classes = int(max(split[1].max(), split[3].max())) + 1
    lam = _initial_lambda_max(norms, Xtr, n_classes, widths, seeds[0], n_probe, rng, batch_size)
    params = {"steps": steps, "batch_size": batch_size, "target_loss": target_loss,
              "widths": list(widths), "n_train": int(Xtr.shape[0]), "n_eval": n_eval,
              "n_probe": n_probe, "quick": quick, "rng": rng_param(rng),
              "data": "shapes" if X is None else "given", "n_classes": n_classes,
              "learn_margin": learn_margin}
    iso = None
    if isolation and set(VARIANTS) <= set(norms):
        # with_rescaled: the verdict then also says why the other end of the spectrum moves.
        iso_layers, iso_lam, iso_spread, iso_rescaled = _isolation(
            Xtr, ytr, n_classes, seeds=seeds[:1], steps=50, lr=0.03, batch_size=batch_size,
            widths=widths, n_probe=min(256, Xtr.shape[0]), max_rows=8192, rng=rng,
            with_rescaled=True)
        iso = VariantIsolation(iso_layers, np.asarray(seeds[:1], dtype=np.int64),
                               iso_lam[..., 0], iso_lam[..., 1], iso_spread,
                               {"steps": 50, "lr": 0.03, "batch_size": batch_size,
                                "widths": list(widths), "n_probe": min(256, Xtr.shape[0]),
                                "max_rows": 8192, "rng": rng, "n_train": int(Xtr.shape[0]),
                                "data": params["data"]}, iso_rescaled)
    return LRSweep(norms, lrs, np.asarray(seeds, dtype=np.int64), out["final_loss"],
                   out["steps_to_target"], out["diverged"], out["diverged_at"],
                   reason.astype(str), out["eval_accuracy"], out["loss_curves"],
                   errors.astype(str), tuple(lam[1]), lam[0], params, iso, lam[2])


def _initial_lambda_max(norms, Xtr, n_classes, widths, seed, n_probe, rng, batch_size):
    """(N, n_layers) lambda_max of each layer's R, and (N,) of the Gauss-Newton matrix (mean
    over the probe's minibatches), at the initialisation of seed ``seed``."""
    rows, names, gn = [], None, []
    for norm in norms:
        init_ss = np.random.SeedSequence(seed).spawn(2)[0]  # the same init as the sweep's points
        model = small_cnn(Xtr.shape[1], n_classes, widths, norm,
                          rng=np.random.default_rng(init_ss), dtype=Xtr.dtype)
        spectra = layer_spectra(model, Xtr[:n_probe], max_rows=4096, rng=as_generator(rng))
        names = tuple(spectra)
        rows.append([spectra[n].lambda_max for n in names])
        probe = Xtr[:n_probe]
        starts = range(0, max(len(probe) - batch_size, 0) + 1, batch_size)
        gn.append(np.mean([gn_lambda_max(model, probe[i:i + batch_size], iters=30,
                                         rng=rng).lambda_max for i in starts]))
    return np.asarray(rows), names, np.asarray(gn)
