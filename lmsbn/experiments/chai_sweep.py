r"""Claim (2) of Chai et al. (2020): separating BatchNorm's speed from its stability.

:func:`lr_sweep` trains ``small_cnn(norm=...)`` over a grid learning rate x normalisation x seed
for a fixed budget, records what happened at every point (final loss, steps to a target loss,
divergence step and cause, held-out accuracy), and puts next to it the stability bound that the
LMS picture predicts from each layer's :math:`\lambda_{max}` at initialisation. The
:class:`LRSweep` result then answers the separation question from the measured numbers.

The BatchNorm variants (:data:`lmsbn.nn.batchnorm.BN_MODES`) isolate the two halves of the
claim: ``amplify`` only boosts weak channels (raises the smallest eigenvalues), ``suppress`` only
shrinks strong ones (lowers the largest). Prediction: at low learning rates ``amplify`` recovers
most of ``full``'s speed and ``suppress`` does not; at high learning rates ``suppress`` stays
stable like ``full`` while ``amplify`` and no-BN diverge.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from .._checks import as_float_array, as_generator, check_int, check_positive
from ..bridge import layer_spectra
from ..io import Result, rng_param
from ..nn import NORMS, small_cnn
from ..sweep import run_sweep
from ..train import evaluate, train
from ._inputs import _data, _norms, _widths

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


@functools.lru_cache(maxsize=4)
def _procedural_split(n_train, n_eval, seed):
    """Procedural train/eval data, built once per worker process (cheaper than pickling it)."""
    from ..data import shapes
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

    Notes
    -----
    **Units of the predicted bound.** ``predicted_bound = min over layers of 2 / lambda_max``
    is the raw LMS bound on the step size :math:`\mu` of the update
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

    # ---------------------------------------------------------------- bounds vs measurement
    @property
    def predicted_bound(self) -> np.ndarray:
        """(N,) smallest ``2 / lambda_max`` over the layers, in raw step-size units (see Notes)."""
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

    # ---------------------------------------------------------------- claim (2)
    @property
    def separation(self) -> dict:
        """The numbers behind claim (2); see :meth:`verdict` for how they are read.

        Keys: ``baseline`` (``"none"`` if swept, else ``"center"``: what "full's speed" is
        measured against), ``low_lrs`` (lower half of the grid, where ``full`` beats the
        baseline by more than 0.05 in seed-mean final loss), ``recovery`` ``{norm: fraction}``,
        the mean over those lrs (each lr's value in ``recovery_per_lr``) of
        ``(L_base - L_norm) / (L_base - L_full)`` (1 = all of full's
        gain), ``loss_ratio`` ``{norm: mean of L_norm / L_full}`` there (< 1 = faster than
        full), ``steps_ratio`` ``{norm: steps_full / steps_norm}`` to reach the target (where
        both did; > 1 = faster than full), ``high_lrs`` (upper half of the grid),
        ``diverged_fraction`` ``{norm: fraction of runs at the high lrs that diverged}``,
        ``max_stable_lr``, ``separating_lrs`` (lrs where full and suppress trained with every
        seed while amplify diverged with every seed) and ``none_diverged_lrs``.
        """
        need = {"full", "amplify", "suppress"}
        base = "none" if "none" in self.norms else ("center" if "center" in self.norms else None)
        if not need <= set(self.norms) or base is None:
            missing = sorted(need - set(self.norms)) + ([] if base else ["none or center"])
            return {"missing": missing}
        loss = np.mean(self.final_loss, axis=2)  # inf if any seed diverged
        stable = ~self.diverged.any(axis=2)
        all_div = self.diverged.all(axis=2)
        i = self.index
        half = (len(self.lrs) + 1) // 2
        low = [j for j in range(half) if stable[i("full"), j] and stable[i(base), j]
               and loss[i(base), j] - loss[i("full"), j] > _GAP]
        recovery, recovery_per_lr, loss_ratio, steps_ratio = {}, {}, {}, {}
        with np.errstate(invalid="ignore"):  # inf - inf for a diverged variant: reported as nan
            for v in ("amplify", "suppress"):
                fr = [(loss[i(base), j] - loss[i(v), j]) / (loss[i(base), j] - loss[i("full"), j])
                      for j in low]
                recovery[v] = float(np.mean(fr)) if fr else float("nan")
                recovery_per_lr[v] = [float(f) for f in fr]
                lr_ = [loss[i(v), j] / loss[i("full"), j] for j in low]
                loss_ratio[v] = float(np.mean(lr_)) if lr_ else float("nan")
                st = self.steps_to_target
                r = [np.mean(st[i("full"), j]) / np.mean(st[i(v), j]) for j in low
                     if np.all(st[i("full"), j] > 0) and np.all(st[i(v), j] > 0)]
                steps_ratio[v] = float(np.mean(r)) if r else float("nan")
        high = list(range(len(self.lrs) // 2, len(self.lrs)))
        frac = {n: float(np.mean(self.diverged[k][high])) for k, n in enumerate(self.norms)}
        sep = [float(self.lrs[j]) for j in range(len(self.lrs))
               if stable[i("full"), j] and stable[i("suppress"), j] and all_div[i("amplify"), j]]
        none_div = ([float(v) for v in self.lrs[all_div[i("none")]]] if "none" in self.norms
                    else [])
        return {"baseline": base, "low_lrs": [float(self.lrs[j]) for j in low],
                "recovery": recovery, "recovery_per_lr": recovery_per_lr,
                "loss_ratio": loss_ratio, "steps_ratio": steps_ratio,
                "high_lrs": [float(self.lrs[j]) for j in high], "diverged_fraction": frac,
                "max_stable_lr": dict(zip(self.norms, map(float, self.max_stable_lr))),
                "separating_lrs": sep, "none_diverged_lrs": none_div}

    def verdict(self) -> str:
        """Claim (2) read from :attr:`separation`: agree, disagree or untestable, with numbers."""
        s = self.separation
        if "missing" in s:
            return f"claim (2) needs the norms {s['missing']} in the sweep; not tested."
        ra, rs = s["recovery"]["amplify"], s["recovery"]["suppress"]
        fmt = lambda values: ", ".join(f"{v:g}" for v in values)  # noqa: E731
        if not s["low_lrs"]:
            speed = (f"Speed: at no low learning rate of the grid does full beat {s['baseline']} "
                     f"by more than {_GAP} in final loss, so the speed half cannot be tested here "
                     "(lengthen the budget or lower the lrs).")
        else:
            la, ls = s["loss_ratio"]["amplify"], s["loss_ratio"]["suppress"]
            per_lr = "; ".join(
                f"lr {lr:g}: amplify {a:.0%}, suppress {b:.0%}" for lr, a, b in
                zip(s["low_lrs"], s["recovery_per_lr"]["amplify"], s["recovery_per_lr"]["suppress"]))
            speed = (f"Speed (lr {fmt(s['low_lrs'])}): amplify recovers {ra:.0%} of full's "
                     f"final-loss gain over {s['baseline']} on average, suppress {rs:.0%} "
                     f"({per_lr}; mean final loss relative to full: amplify x{la:.2f}, "
                     f"suppress x{ls:.2f})")
            # "Most of the gain" is judged lr by lr, so one lr with a large recovery cannot
            # carry the average over the others.
            m = len(s["low_lrs"])
            na = sum(f >= 0.5 for f in s["recovery_per_lr"]["amplify"])
            ns = sum(f >= 0.5 for f in s["recovery_per_lr"]["suppress"])
            if not (np.isfinite(ra) and np.isfinite(rs)):
                speed += "; a variant diverged there, so this half is untestable."
            elif na == m and ns == 0:
                speed += (": amplify recovers most of it at every low lr and suppress at none, as "
                          "claim (2) predicts.")
            elif na == m and ns == m:
                speed += (": both recover most of it at every low lr, so this budget does not "
                          "separate them (claim (2) says suppress should not)"
                          + ("; amplify is the faster of the two, the direction claim (2) predicts."
                             if la < ls else "; suppress is not slower than amplify."))
            elif ns == m and na == 0:
                speed += ": suppress recovers more than amplify, the opposite of claim (2)."
            elif na == 0 and ns == 0:
                speed += ": neither recovers most of it, which disagrees with claim (2)."
            else:
                speed += (f": amplify recovers most of it at {na} of {m} low lrs and suppress at "
                          f"{ns} of {m}, so the budget gives no consistent separation.")
        stable = ", ".join(f"{n} {v:g}" for n, v in s["max_stable_lr"].items())
        stab = f"Stability: largest stable lr per norm: {stable} (nan = unstable at every lr)."
        if s["separating_lrs"]:
            stab += (f" At lr {fmt(s['separating_lrs'])} full and suppress stay finite while "
                     "amplify diverges, as claim (2) predicts (whether they still learn there: "
                     "see their final losses).")
        else:
            frac = ", ".join(f"{n} {v:.0%}" for n, v in s["diverged_fraction"].items())
            stab += (" No lr of the grid has full and suppress stable while amplify diverges, so "
                     f"this half is not confirmed here; diverged fraction at the high lrs: {frac}.")
        if "none" in self.norms:
            nd = s["none_diverged_lrs"]
            stab += (f" The network without BatchNorm diverges at lr {fmt(nd)}." if nd else
                     " The network without BatchNorm never diverges in this grid (claim (2) "
                     "expects it to at high lrs); check its final losses for whether it learned.")
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
        lines.append("predicted bound min_layers 2/lambda_max (raw LMS step units, see LRSweep "
                     "Notes) vs measured divergence lr:")
        for k, n in enumerate(self.norms):
            layer = self.bound_layers[int(np.argmax(self.layer_lambda_max[k]))]
            lines.append(f"  {n:<9} 2/lambda_max = {self.predicted_bound[k]:.3g} ({layer}); "
                         f"divergence lr {self.divergence_lr[k]:.3g}; largest stable lr "
                         f"{self.max_stable_lr[k]:.3g}; ratio {self.bound_ratio[k]:.3g}")
        return "\n".join(lines + [self.verdict()])

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
                   {"steps": 4, "batch_size": 8, "target_loss": 1.5, "widths": [4, 8], "rng": 0})


def lr_sweep(*, lrs=None, norms=NORMS, seeds=(0,), steps=None, batch_size: int = 32,
             target_loss: float = 1.5, widths=None, n_train=None, n_eval=None, X=None, y=None,
             executor=None, n_jobs: int = 1, progress: bool = False, quick: bool = False,
             n_probe: int = 128, rng=0) -> LRSweep:
    r"""Learning rate x normalisation x seed: speed, divergence, and the LMS-predicted bound.

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
        Passed to :func:`lmsbn.sweep.run_sweep` (any ``concurrent.futures.Executor``; or a
        process pool of ``n_jobs`` workers). Results do not depend on them.
    quick : bool, default False
        Much smaller defaults for tests and the tour (explicit arguments still win).
    n_probe : int, default 128
        Training images the initial layer spectra (the predicted bound) are measured on.
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
    with ``n_jobs=2`` on two idle cores (see :func:`lmsbn.sweep.run_sweep` on BLAS threads).
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
    lam = _initial_lambda_max(norms, Xtr, n_classes, widths, seeds[0], n_probe, rng)
    params = {"steps": steps, "batch_size": batch_size, "target_loss": target_loss,
              "widths": list(widths), "n_train": int(Xtr.shape[0]), "n_eval": n_eval,
              "n_probe": n_probe, "quick": quick,
              "rng": rng_param(rng),
              "data": "shapes" if X is None else "given"}
    return LRSweep(norms, lrs, np.asarray(seeds, dtype=np.int64), out["final_loss"],
                   out["steps_to_target"], out["diverged"], out["diverged_at"],
                   reason.astype(str), out["eval_accuracy"], out["loss_curves"],
                   errors.astype(str), tuple(lam[1]), lam[0], params)


def _initial_lambda_max(norms, Xtr, n_classes, widths, seed, n_probe, rng):
    """(N, n_layers) lambda_max of each layer's R at the initialisation of seed ``seed``."""
    rows, names = [], None
    for norm in norms:
        init_ss = np.random.SeedSequence(seed).spawn(2)[0]  # the same init as the sweep's points
        model = small_cnn(Xtr.shape[1], n_classes, widths, norm,
                          rng=np.random.default_rng(init_ss), dtype=Xtr.dtype)
        spectra = layer_spectra(model, Xtr[:n_probe], max_rows=4096, rng=as_generator(rng))
        names = tuple(spectra)
        rows.append([spectra[n].lambda_max for n in names])
    return np.asarray(rows), names
