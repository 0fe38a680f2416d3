r"""Does the Gauss-Newton stability bound come true in the CNN? (issue 11, part 1)

:func:`bound_check` measures, for ``small_cnn`` with and without BatchNorm, several seeds and one
or more datasets, where full-batch gradient descent on a fixed subset stops behaving like the
stable LMS iteration, and compares it with the bound :math:`\eta_{max} = 2/\lambda_{max}(G)` of
:func:`lmsbn.bridge.stability_bound` measured at initialisation on the same subset:

* **onset**: the smallest learning rate of a fine grid (neighbours ``ratio`` = 1.25x apart, placed
  relative to :math:`\eta_{max}`) at which the loss stops decreasing monotonically within the
  first ``onset_steps`` steps;
* **blow-up**: the smallest learning rate at which the divergence rule of
  :func:`lmsbn.train.train` fires within ``blowup_steps`` steps;
* **sharpness**: :math:`\lambda_{max}(G)` along the runs at the onset and just below it, every
  ``sharp_every`` steps, and :math:`\eta\,\lambda_{max}(t)` at the step before the loss first rises;
* **full Hessian**: :math:`\lambda_{max}(H)` of the loss Hessian (:mod:`lmsbn.bridge.hessian`,
  the most positive eigenvalue) at :math:`t = 0` and at the step before the first rise of the
  onset run -- two measurements per case, not a trajectory. :math:`G` leaves out the term
  :math:`\sum_k (\partial L/\partial f_k)\,\partial^2 f_k/\partial\theta^2`; with BatchNorm,
  whose output does not change when a weight vector is scaled, :math:`G` has zero curvature
  along each such vector while :math:`H` has curvature there;
* **dead ReLU channels** (zero on every image) at the end of the run one grid step below the
  onset.

Between onset and blow-up lies the **catapult** range (Lewkowycz et al. 2020): the loss rises,
the sharpness falls, and training goes on; in full-batch training the sharpness also tends to
rise until :math:`\eta\lambda_{max}` reaches 2 (progressive sharpening and the *edge of
stability*, Cohen et al. 2021), which is how an onset can come *below* the initial bound.

The verdict is computed from these numbers (:meth:`BoundCheck.case_verdicts`): the bound passes
a case when the onset lies within 3x of :math:`\eta_{max}` (``within``), or when the miss is
explained by the measured sharpness (``explained``: :math:`\lambda_{max}(G)(t)` grown so that
:math:`\eta\lambda_{max}(t) \ge 2` at the first rise, having been below :math:`2/\eta` before),
or, for an onset below :math:`\eta_{max}/3`, by the full Hessian (``hessian``:
:math:`\eta\lambda_{max}(G) < 2` but :math:`\eta\lambda_{max}(H) \ge 2` at the step before the
first rise, so the quadratic model with the true curvature allows the rise that :math:`G`
forbids). Anything else is a ``miss`` with its numbers. A late onset whose sharpness collapsed
stays a miss: the loss fell at step 1 with :math:`\eta\lambda_{max}(0) > 2`. The 3x window and
these readings of "explained" are lmsbn's own acceptance rule, not the papers'.

Measured (``bound_check(datasets={"shapes": None, "mnist": (X[:, :, 6:22, 6:22], y)})`` with
``X, y = load_npz("../shared/data/mnist5k.npz", normalize=True)``; defaults: 128 images,
widths (4, 8, 8), seeds 0-2; 338 s on a shared 2-core machine):
7 of 12 within, 2 explained by the sharpness, 2 by the full Hessian -- MNIST/full seeds 0 and 2,
where :math:`\eta\lambda_{max}` before the rise is 1.44 and 1.19 with :math:`G` but 2.68 and
3.0 with :math:`H` (at :math:`t = 0` it was 0.65 and 0.14 with :math:`H`: the Hessian sharpened
4x and 21x, so :math:`2/\lambda_{max}(H)` at initialisation does not predict these onsets
either). :math:`\lambda_{max}(H)/\lambda_{max}(G)` before the rise was 1.86-2.63 in the three
MNIST/full cases and 1.01-1.17 in the other nine. MNIST/full seed 1 lies within 3x, yet its loss
rose at 0.50 (:math:`G`) and 1.31 (:math:`H`): below 2 with either curvature. One miss:
MNIST/none seed 2 (onset 35.5 :math:`\eta_{max}`): one grid step below it the first two steps,
at :math:`\eta\lambda_{max}` = 57 and 26, lowered the loss (3.22 to 2.81 to 2.29) where the
quadratic model along the gradient predicts a rise of +1126 and +462 -- the steps leave the
quadratic region; they kill half the ReLU channels (all of the last layer's), after which
:math:`\eta\lambda_{max}(t) \approx 0.2` and the loss settles near that of a constant
prediction.

References
----------
Lewkowycz, Bahri, Dyer, Sohl-Dickstein, Gur-Ari (2020), "The large learning rate phase of deep
learning: the catapult mechanism", arXiv:2003.02218. Cohen, Kaur, Li, Kolter, Talwalkar (2021),
"Gradient descent on neural networks typically occurs at the edge of stability", ICLR.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from lmsbn._checks import check_int, check_positive
from lmsbn.experiments._inputs import _data, _norms, _widths
from lmsbn.experiments.chai._bound_case import _K_FLOOR, _case
from lmsbn.io import Result
from lmsbn.train import run_sweep

__all__ = ["BoundCheck", "bound_check"]

#: (default, quick) sizes; quick is for tests and the tour (a few seconds).
_SIZES = {"n": (128, 32), "widths": ((4, 8, 8), (2, 4, 4)), "seeds": ((0, 1, 2), (0,)),
          "blowup_steps": (100, 30), "iters": (40, 8), "k_max": (26, 20)}
_WINDOW = 3.0   # the onset must lie within this factor of lr_max (lmsbn's acceptance rule)


_FIELDS = ("seeds", "traj_steps", "trajectory", "curves")
_CASE_ARRAYS = ("lambda0", "lr_max", "converged", "k_onset", "k_blowup", "rise_step",
                "lambda_at_rise", "hessian0", "hessian_at_rise", "dead_below")
_PROBES = ("probe_k", "probe_steps", "probe_rise", "probe_diverged_at", "probe_last_loss",
           "probe_blowup_checked")


@dataclass
class BoundCheck(Result):
    r"""The result of :func:`bound_check`; arrays are indexed ``[dataset, norm, seed]``.

    Attributes
    ----------
    datasets, norms : tuple of str
    seeds : ndarray of int (S,)
    ratio : float
        Neighbouring learning rates of the grid are this factor apart: lr_k = lr_max * ratio**k.
    lambda0 : ndarray (D, N, S)
        lambda_max of the Gauss-Newton matrix at initialisation on the subset.
    lr_max : ndarray (D, N, S)
        ``2 / lambda0``.
    converged : ndarray of bool (D, N, S)
        Whether that power iteration met its tolerance.
    k_onset, k_blowup : ndarray of int (D, N, S)
        Grid index of the onset and of the blow-up; -999 when not found below the grid's top.
    rise_step : ndarray of int (D, N, S)
        At the onset lr, the first step t whose loss is not below step t - 1's (-1: none).
    lambda_at_rise : ndarray (D, N, S)
        lambda_max(G) at step ``rise_step - 1`` of the onset run: the step before the loss rose.
    hessian0, hessian_at_rise : ndarray (D, N, S)
        lambda_max of the full loss Hessian H (:func:`lmsbn.bridge.hessian_lambda_max`, the most
        positive eigenvalue, a lower bound) at initialisation and at step ``rise_step - 1`` of
        the onset run (NaN without an onset).
    dead_below : ndarray (D, N, S)
        Fraction of the ReLU channels that are zero on every image at the last step of the run
        one grid step below the onset (NaN if not run).
    traj_steps : ndarray of int (T,)
        Steps of the sharpness trajectories: 0, sharp_every, ..., <= onset_steps.
    trajectory : ndarray (D, N, S, 2, T)
        lambda_max(G)(t) along the onset run ([..., 0, :]) and along the run one grid step below
        it ([..., 1, :]), NaN where not measured.
    curves : ndarray (D, N, S, 2, onset_steps + 1)
        The full-batch losses of those two runs over the first ``onset_steps`` steps.
    probes : dict
        Per case ``"dataset/norm/seed"``: every grid point that was run (``probe_k``), how many
        losses it recorded, its first rise within ``onset_steps`` (-1 none), its divergence step
        (-1 none) and whether it ran the full ``blowup_steps``.
    params : dict
    """

    datasets: tuple
    norms: tuple
    seeds: np.ndarray
    ratio: float
    lambda0: np.ndarray
    lr_max: np.ndarray
    converged: np.ndarray
    k_onset: np.ndarray
    k_blowup: np.ndarray
    rise_step: np.ndarray
    lambda_at_rise: np.ndarray
    hessian0: np.ndarray
    hessian_at_rise: np.ndarray
    dead_below: np.ndarray
    traj_steps: np.ndarray
    trajectory: np.ndarray
    curves: np.ndarray
    probes: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ derived numbers
    def _lr(self, k):
        return np.where(k == -999, np.nan, self.lr_max * self.ratio ** k.astype(float))

    @property
    def onset(self) -> np.ndarray:
        """(D, N, S) onset learning rate (NaN: the loss fell monotonically at every lr tried)."""
        return self._lr(self.k_onset)

    @property
    def blowup(self) -> np.ndarray:
        """(D, N, S) blow-up learning rate (NaN: no divergence up to the top of the grid)."""
        return self._lr(self.k_blowup)

    @property
    def onset_factor(self) -> np.ndarray:
        """(D, N, S) ``onset / lr_max``."""
        return self.ratio ** np.where(self.k_onset == -999, np.nan, self.k_onset)

    @property
    def blowup_factor(self) -> np.ndarray:
        """(D, N, S) ``blowup / lr_max``."""
        return self.ratio ** np.where(self.k_blowup == -999, np.nan, self.k_blowup)

    @property
    def catapult_range(self) -> np.ndarray:
        """(D, N, S) ``blowup / onset``: how far past the onset training survives."""
        return self.blowup_factor / self.onset_factor

    @property
    def lr_lambda_at_rise(self) -> np.ndarray:
        """(D, N, S) ``onset * lambda_max(t)`` at the step before the first rise (theory: >= 2)."""
        return self.onset * self.lambda_at_rise

    @property
    def lr_hessian_at_rise(self) -> np.ndarray:
        """(D, N, S) ``onset * lambda_max(H)`` at the step before the first rise."""
        return self.onset * self.hessian_at_rise

    @property
    def sharpening(self) -> np.ndarray:
        """(D, N, S) ``lambda_at_rise / lambda0``: > 1 where the network sharpened before rising."""
        return self.lambda_at_rise / self.lambda0

    def _index(self, case):
        d, n, seed = case.split("/")
        return (self.datasets.index(d), self.norms.index(n),
                int(np.flatnonzero(self.seeds == int(seed))[0]))

    def cases(self):
        """Yield ``(dataset, norm, seed, (i, j, s))`` for every case."""
        for i, d in enumerate(self.datasets):
            for j, n in enumerate(self.norms):
                for s, seed in enumerate(self.seeds):
                    yield d, n, int(seed), (i, j, s)

    def lr_lambda_before_rise(self) -> np.ndarray:
        """(D, N, S) smallest ``onset * lambda_max(t)`` measured along the onset run before the
        step preceding the first rise (t = 0 included); NaN without an onset."""
        out = np.full(self.lr_max.shape, np.nan)
        for *_, idx in self.cases():
            before = self.traj_steps < self.rise_step[idx] - 1
            lam = self.trajectory[idx][0][before]
            if np.isfinite(lam).any():
                out[idx] = self.onset[idx] * np.nanmin(lam)
        return out

    def case_verdicts(self) -> dict:
        """``{"dataset/norm/seed": "within" | "explained" | "hessian" | "miss"}``.

        ``within``: the onset's grid bracket (onset / ratio, onset] meets [lr_max / 3, 3 lr_max]
        (the lr one grid step below the onset was run and stayed monotone, so the true onset lies
        in that bracket). ``explained``: outside it, but the loss rose only after
        ``lr * lambda_max(t)`` had crossed 2 from below: ``lr * lambda_max(t) >= 2`` at the step
        before the first rise, and ``< 2`` at some earlier measured step (at t = 0 for an early
        onset: sharpening; later, after the sharpness first fell, for a late one). ``hessian``:
        an early onset (below lr_max / 3) where ``lr * lambda_max(G) < 2`` but ``lr *
        lambda_max(H) >= 2`` at the step before the first rise: the quadratic model with the
        full loss Hessian allows the rise that the Gauss-Newton matrix forbids. ``miss``:
        anything else, including no onset on the grid. A late onset is never ``hessian``: a
        larger curvature cannot explain why the loss kept falling. These categories are lmsbn's
        own acceptance rule.
        """
        out = {}
        f, at_rise, before = self.onset_factor, self.lr_lambda_at_rise, self.lr_lambda_before_rise()
        h_rise = self.lr_hessian_at_rise
        for d, n, seed, idx in self.cases():
            if np.isfinite(f[idx]) and f[idx] >= 1 / _WINDOW and f[idx] / self.ratio < _WINDOW:
                out[f"{d}/{n}/{seed}"] = "within"
            elif at_rise[idx] >= 2 and before[idx] < 2:
                out[f"{d}/{n}/{seed}"] = "explained"
            elif f[idx] < 1 / _WINDOW and at_rise[idx] < 2 and h_rise[idx] >= 2:
                out[f"{d}/{n}/{seed}"] = "hessian"
            else:
                out[f"{d}/{n}/{seed}"] = "miss"
        return out

    def miss_reasons(self) -> dict:
        """``{"dataset/norm/seed": reason}`` for every missed case, read from the measurements.

        A late onset whose sharpness collapsed one grid step below it (lambda_max(G) falling
        below 2/lr while the loss kept falling, e.g. as the ReLUs die) stays a miss: at step 0,
        ``lr * lambda_max(0) > 2 * 3 / ratio`` and the loss fell all the same, so the quadratic
        model failed at the first step whatever came after (lmsbn's rule; the collapse and the
        fraction of dead ReLU channels are reported as the measured cause).
        """
        out = {}
        f, at_rise, h0 = self.onset_factor, self.lr_lambda_at_rise, self.onset * self.hessian0
        verdicts = self.case_verdicts()
        for d, n, seed, idx in self.cases():
            case = f"{d}/{n}/{seed}"
            if verdicts[case] != "miss":
                continue
            if not np.isfinite(f[idx]):
                out[case] = "no onset on the grid"
            elif f[idx] < 1 / _WINDOW:
                out[case] = (f"early: the loss rose at lr*lambda_max(t) = {at_rise[idx]:.2g} (G) "
                             f"and {self.lr_hessian_at_rise[idx]:.2g} (H; {h0[idx]:.2g} at t = 0) "
                             "< 2, which the quadratic model forbids")
            else:
                below = self.trajectory[idx][1]
                lr = self.onset[idx] / self.ratio
                steps = np.flatnonzero(np.isfinite(below) & (self.traj_steps > 0))
                low = steps[lr * below[steps] < 2]
                drop = np.nanmin(below) / self.lambda0[idx] if np.isfinite(below).any() else np.nan
                if low.size and np.all(lr * below[steps[steps >= low[0]]] < 2):
                    out[case] = (f"late: one grid step below the onset the sharpness collapsed "
                                 f"(to {drop:.2g} x lambda_max(0); lr*lambda_max(t) < 2 from "
                                 f"step {self.traj_steps[low[0]]} on; "
                                 f"{self.dead_below[idx]:.0%} of the ReLU channels dead at the "
                                 f"end), but the loss also fell at step 1 with lr*lambda_max(0) = "
                                 f"{lr * self.lambda0[idx]:.2g} > 2")
                else:
                    out[case] = (f"late: the loss kept falling for "
                                 f"{self.params.get('onset_steps')} steps one grid step below "
                                 f"the onset with lr*lambda_max(t) >= 2 at measured steps")
        return out

    def verdict(self) -> str:
        """Whether the Gauss-Newton bound predicts the onset, computed from the numbers."""
        v = self.case_verdicts()
        f, b = self.onset_factor, self.blowup_factor
        within = sum(x == "within" for x in v.values())
        explained = [c for c, x in v.items() if x == "explained"]
        hessian = [c for c, x in v.items() if x == "hessian"]
        misses = [c for c, x in v.items() if x == "miss"]
        with np.errstate(invalid="ignore"):
            lo, hi = np.nanmin(f) if np.isfinite(f).any() else np.nan, np.nanmax(f) if \
                np.isfinite(f).any() else np.nan
        text = (f"Onset/lr_max over {len(v)} cases: {lo:.2g} to {hi:.2g}; within {_WINDOW:g}x of "
                f"the Gauss-Newton bound in {within} of {len(v)}")
        if explained:
            text += (f"; {len(explained)} more explained by the measured sharpness, which grew "
                     f"until lr*lambda_max(t) >= 2 at the first rise: {', '.join(explained)}")
        if hessian:
            text += (f"; {len(hessian)} more explained by the full loss Hessian, lr*lambda_max(G) "
                     f"< 2 but lr*lambda_max(H) >= 2 at the step before the first rise: "
                     + ", ".join(f"{c} ({self.lr_lambda_at_rise[i]:.2g} vs "
                                 f"{self.lr_hessian_at_rise[i]:.2g})"
                                 for c, i in zip(hessian, map(self._index, hessian))))
        if misses:
            reasons = self.miss_reasons()
            text += (". NOT explained (the bound disagrees with the measured onset): "
                     + "; ".join(f"{c} ({reasons[c]})" for c in misses) + ".")
        else:
            text += ". The bound agrees with the measured onset in every case."
        finite = b[np.isfinite(b)]
        blow = (f" Blow-up/lr_max {finite.min():.3g} to {finite.max():.3g}"
                if finite.size else " No blow-up")
        never = int(np.sum(~np.isfinite(b)))
        if never:
            blow += (f"; {never} case(s) never diverged up to lr_max x "
                     f"{self.ratio ** self.params.get('k_max', np.nan):.3g}")
        return text + "\n" + blow + " (catapult range = blow-up/onset, see summary)."

    def summary(self) -> str:
        """One line per case with its numbers, then the verdict."""
        lines = [f"bound_check: full-batch GD on {self.params.get('n')} images, small_cnn widths "
                 f"{self.params.get('widths')}, lr grid lr_max x {self.ratio:g}^k; onset within "
                 f"{self.params.get('onset_steps')} steps, blow-up within "
                 f"{self.params.get('blowup_steps')}",
                 f"{'case':<22} {'lr_max':>8} {'onset/':>7} {'blowup/':>8} {'catapult':>8} "
                 f"{'rise':>5} {'lr*lamG':>8} {'lr*lamH':>8} {'sharpen':>8}  verdict",
                 f"{'':<22} {'':>8} {'lr_max':>7} {'lr_max':>8} {'range':>8} {'step':>5} "
                 f"{'at rise':>8} {'at rise':>8} {'x':>8}"]
        verdicts = self.case_verdicts()
        with np.errstate(invalid="ignore"):
            for d, n, seed, idx in self.cases():
                c = f"{d}/{n}/{seed}"
                lines.append(
                    f"{c:<22} {self.lr_max[idx]:>8.3g} {self.onset_factor[idx]:>7.3g} "
                    f"{self.blowup_factor[idx]:>8.3g} {self.catapult_range[idx]:>8.3g} "
                    f"{self.rise_step[idx]:>5d} {self.lr_lambda_at_rise[idx]:>8.3g} "
                    f"{self.lr_hessian_at_rise[idx]:>8.3g} "
                    f"{self.sharpening[idx]:>8.3g}  {verdicts[c]}")
        return "\n".join(lines + [self.verdict()])

    @classmethod
    def _example(cls) -> BoundCheck:
        shape, nan = (1, 2, 1), np.nan
        probe = {"probe_k": np.array([-1, 0, 5]), "probe_steps": np.array([21, 100, 4]),
                 "probe_rise": np.array([-1, 3, 1]), "probe_diverged_at": np.array([-1, -1, 3]),
                 "probe_last_loss": np.array([2.2, 1.9, 1e5]),
                 "probe_blowup_checked": np.array([False, True, True])}
        return cls(("shapes",), ("none", "full"), np.array([0]), 1.25,
                   lambda0=np.array([[[20.0], [1.0]]]), lr_max=np.array([[[0.1], [2.0]]]),
                   converged=np.ones(shape, bool), k_onset=np.array([[[0], [-999]]]),
                   k_blowup=np.array([[[5], [-999]]]), rise_step=np.array([[[3], [-1]]]),
                   lambda_at_rise=np.array([[[25.0], [nan]]]),
                   hessian0=np.array([[[18.0], [1.5]]]),
                   hessian_at_rise=np.array([[[30.0], [nan]]]),
                   dead_below=np.array([[[0.1], [nan]]]), traj_steps=np.array([0, 4]),
                   trajectory=np.array([[[[[20.0, 25.0], [20.0, 18.0]]], [[[nan, nan]] * 2]]]),
                   curves=np.full((*shape, 2, 5), 2.0),
                   probes={"shapes/none/0": probe, "shapes/full/0": probe},
                   params={"n": 8, "widths": [2, 2, 2], "k_start": -1, "k_max": 5,
                           "onset_steps": 4, "blowup_steps": 8, "sharp_every": 4, "iters": 3,
                           "tol": 1e-3, "rng": 0, "quick": True, "data": {"shapes": "shapes"}})


def bound_check(*, datasets=None, norms=("none", "full"), seeds=None, n=None, widths=None,
                ratio: float = 1.25, k_start: int = -4, k_max=None, onset_steps: int = 20,
                blowup_steps=None, sharp_every: int = 4, iters=None, tol: float = 1e-3,
                quick: bool = False,
                rng: int = 0, n_jobs: int = 1, executor=None, progress: bool = False) -> BoundCheck:
    r"""Onset and blow-up of full-batch gradient descent against the Gauss-Newton bound.

    Parameters
    ----------
    datasets : dict of str to (X, y) or None, optional
        The data, by name: images (N, C, H, W) or (N, H, W) with integer labels; the first ``n``
        images form the fixed training subset. ``None`` as a value means the procedural images
        (:func:`lmsbn.data.shapes` with seed ``rng``). Default ``{"shapes": None}``. Pass real
        data yourself, e.g. ``{"shapes": None, "mnist": load_npz(path, normalize=True)}``.
    norms : sequence of str, default ("none", "full")
    seeds : sequence of int, optional
        Initialisation seeds; default (0, 1, 2) (quick: (0,)).
    n : int, optional
        Subset size; default 128 (quick: 32).
    widths : sequence of int, optional
        ``small_cnn`` conv widths; default (4, 8, 8) (quick: (2, 4, 4)).
    ratio : float, default 1.25
        Factor between neighbouring learning rates of the grid (at most 1.25 for the issue's
        fine grid).
    k_start : int, default -4
        The onset search starts at ``lr_max * ratio**k_start`` (0.41 lr_max) and steps down
        first if the loss already rises there.
    k_max : int, optional
        Top of the grid, ``lr_max * ratio**k_max``; default 26 (330 lr_max at ratio 1.25;
        quick: 20, 87 lr_max).
    onset_steps : int, default 20
    blowup_steps : int, optional
        Default 100 (quick: 30).
    sharp_every : int, default 4
        Steps between sharpness measurements along the onset runs.
    iters : int, optional
        Power iterations per lambda_max estimate; default 40 (quick: 8). Estimates along a run
        are warm-started from the previous one.
    tol : float, default 1e-3
        Relative tolerance of those estimates (power iteration approaches lambda_max from below).
    quick : bool, default False
        The small defaults, for tests and the tour (a few seconds).
    rng : int, default 0
        Seed of the procedural data.
    n_jobs, executor, progress :
        The cases are independent; they run through :func:`lmsbn.train.sweep.run_sweep`.

    Returns
    -------
    BoundCheck
        ``summary()``, ``verdict()``, and the factors ``onset_factor``, ``blowup_factor``,
        ``catapult_range`` per ``[dataset, norm, seed]``.

    Notes
    -----
    The learning rates are placed relative to each case's own :math:`\eta_{max}` and the rule
    for the verdict is fixed in advance; nothing is tuned to agree. The onset is the smallest
    grid lr whose loss rises within ``onset_steps`` steps, every grid lr below it (down to the
    first monotone one) having been run. The blow-up is found by an exponential search and a
    bisection above the last monotone lr, which returns two neighbouring grid lrs, one finite for
    ``blowup_steps`` and one diverged; it is the smallest diverging lr of the grid if divergence
    is monotone in the lr (``probes`` lists every run, to check). Cost: each run is up to
    ``blowup_steps`` full-batch steps; each lambda_max estimate about 1.5 steps per iteration
    (the two full-Hessian estimates per case: about 2 steps per iteration, at most two phases).
    """
    quick = bool(quick)
    pick = lambda name, value: _SIZES[name][quick] if value is None else value  # noqa: E731
    seeds = [check_int(s, "seeds entry", min_value=0) for s in pick("seeds", seeds)]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty sequence of distinct ints, got {seeds}")
    norms = _norms(norms)
    n = check_int(pick("n", n), "n", min_value=2)
    widths = _widths(pick("widths", widths))
    ratio = check_positive(ratio, "ratio")
    if not 1 < ratio <= 2:
        raise ValueError(f"ratio must lie in (1, 2], got {ratio}")
    k_start = check_int(k_start, "k_start", min_value=_K_FLOOR)
    k_max = check_int(pick("k_max", k_max), "k_max", min_value=k_start + 1)
    onset_steps = check_int(onset_steps, "onset_steps", min_value=1)
    blowup_steps = check_int(pick("blowup_steps", blowup_steps), "blowup_steps",
                             min_value=onset_steps + 1)
    sharp_every = check_int(sharp_every, "sharp_every", min_value=1)
    iters = check_int(pick("iters", iters), "iters", min_value=1)
    tol = check_positive(tol, "tol")
    rng = check_int(rng, "rng", min_value=0)
    if datasets is None:
        datasets = {"shapes": None}
    if not isinstance(datasets, dict) or not datasets:
        raise TypeError(f"datasets must be a non-empty dict of name -> (X, y) or None, "
                        f"got {type(datasets).__name__}")
    data = {}
    for name, pair in datasets.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"datasets keys must be non-empty names without '/', got {name!r}")
        X, y = _data(None, None, n, rng) if pair is None else _data(*pair, 0, None)
        if X.shape[0] < n:
            raise ValueError(f"datasets[{name!r}] has {X.shape[0]} images; need n={n}")
        data[name] = (X[:n], y[:n], int(y.max()) + 1)

    fn = functools.partial(_case, data=data, widths=widths, ratio=ratio, k_start=k_start,
                           k_max=k_max, onset_steps=onset_steps, blowup_steps=blowup_steps,
                           sharp_every=sharp_every, iters=iters, tol=tol)
    points = [{"dataset": d, "norm": m, "seed": s} for d in data for m in norms for s in seeds]
    results = run_sweep(fn, points, executor=executor, n_jobs=n_jobs, progress=progress)
    failed = [f"{p}: {r.error}" for p, r in zip(points, results) if not r.ok]
    if failed:
        raise RuntimeError("bound_check cases failed (a bug, not a divergence):\n"
                           + "\n".join(failed))
    shape = (len(data), len(norms), len(seeds))
    out = {k: np.empty(shape, dtype=np.int64 if k in ("k_onset", "k_blowup", "rise_step") else
                       (bool if k == "converged" else float)) for k in _CASE_ARRAYS}
    traj_steps = np.arange(0, onset_steps + 1, sharp_every)
    trajectory = np.full((*shape, 2, traj_steps.size), np.nan)
    curves = np.full((*shape, 2, onset_steps + 1), np.nan)
    probes = {}
    for p, r, idx in zip(points, results, np.ndindex(*shape)):
        for k in _CASE_ARRAYS:
            out[k][idx] = r.value[k]
        trajectory[idx] = r.value["trajectory"]
        curves[idx] = r.value["curves"]
        probes[f"{p['dataset']}/{p['norm']}/{p['seed']}"] = {k: r.value[k] for k in _PROBES}
    params = {"n": n, "widths": list(widths), "k_start": k_start, "k_max": k_max,
              "onset_steps": onset_steps, "blowup_steps": blowup_steps,
              "sharp_every": sharp_every, "iters": iters, "tol": tol, "rng": rng, "quick": quick,
              "data": {d: ("shapes" if datasets[d] is None else "given") for d in data}}
    return BoundCheck(tuple(data), norms, np.asarray(seeds, dtype=np.int64), float(ratio),
                      traj_steps=traj_steps, trajectory=trajectory, curves=curves, probes=probes,
                      params=params,
                      **out)
