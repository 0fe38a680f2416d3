r"""The adaptive-filter half of the argument: an LMS filter converges as fast as its slowest mode.

:func:`equalizer_speed` runs an ensemble of LMS equalizers (Haykin's raised-cosine channel,
:func:`lmsbn.filters.signals.equalizer`) for several channel parameters ``W``. A larger ``W``
gives the input autocorrelation R a larger eigenvalue spread
:math:`\chi = \lambda_{max}/\lambda_{min}`; at a fixed step size the slowest natural mode,
:math:`(1 - \mu\lambda_{min})^n`, then decays more slowly, and so does the learning curve. The
experiment measures the number of samples each curve needs to reach a target MSE and says whether
that number grows with the spread -- the classical fact that Chai et al. carry over to conv layers.

References
----------
Haykin, *Adaptive Filter Theory*, 4th ed. (2002), the LMS equalizer experiment of the chapter on
LMS; Widrow and Stearns, *Adaptive Signal Processing* (1985).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lmsbn._checks import as_float_array, as_generator, check_int, check_positive
from lmsbn.filters import LMS, LearningCurve, ensemble_learning_curve
from lmsbn.filters.signals import equalizer
from lmsbn.io import Result, rng_param

__all__ = ["EqualizerSpeed", "equalizer_speed"]


@dataclass(repr=False)
class EqualizerSpeed(Result):
    """LMS learning curves of the equalizer for several channel parameters ``W``.

    Attributes
    ----------
    W : ndarray (n_W,)
        Channel parameters, in the order run.
    spread : ndarray (n_W,)
        Eigenvalue spread of each input autocorrelation R.
    samples_to_target : ndarray of int (n_W,)
        Samples until the smoothed ensemble MSE first reaches ``params["target"]``; -1 if never.
    curves : dict of str to LearningCurve
        ``{str(W): curve}``, each with the Gaussian-theory prediction.
    params : dict
    """

    W: np.ndarray
    spread: np.ndarray
    samples_to_target: np.ndarray
    curves: dict
    params: dict = field(default_factory=dict)

    def slower_with_spread(self) -> bool:
        """Whether a larger spread never needed fewer samples (a curve that never reached the
        target counts as the slowest)."""
        order = np.argsort(self.spread, kind="stable")
        steps = np.where(self.samples_to_target < 0, np.iinfo(np.int64).max,
                         self.samples_to_target)[order]
        return bool(np.all(np.diff(steps) >= 0))

    def verdict(self) -> str:
        steps = ", ".join(str(int(s)) for s in self.samples_to_target)
        spreads = ", ".join(f"{s:.3g}" for s in self.spread)
        answer = "yes" if self.slower_with_spread() else "no"
        return (f"{answer}: eigenvalue spreads {spreads} needed {steps} samples to reach MSE "
                f"{self.params.get('target')} (-1: never)")

    def summary(self) -> str:
        return f"LMS equalizer, mu={self.params.get('mu')}: slower with spread? {self.verdict()}"

    @classmethod
    def _example(cls) -> EqualizerSpeed:
        curve = LearningCurve(np.array([1.0, 0.5, 0.2]), np.array([0, 1, 2]), n_used=2)
        return cls(np.array([2.9, 3.1]), np.array([6.1, 11.1]), np.array([40, -1]),
                   {"2.9": curve, "3.1": curve}, {"mu": 0.075, "target": 0.1})


def equalizer_speed(Ws=(2.9, 3.1, 3.3, 3.5), *, mu: float = 0.075, runs: int = 150,
                    n: int = 600, target: float = 0.1, window: int = 20,
                    rng=0) -> EqualizerSpeed:
    """Run LMS on the 11-tap equalizer for each channel parameter and time its learning curve.

    Parameters
    ----------
    Ws : sequence of float
        Channel parameters (each gives its own eigenvalue spread).
    mu : float, default 0.075
        LMS step size, the same for every ``W``.
    runs, n : int
        Ensemble size and samples per run.
    target : float, default 0.1
        The MSE whose first crossing is timed.
    window : int, default 20
        Length of the moving average applied to the ensemble MSE before timing it, so that one
        lucky sample does not count as convergence.
    rng : int, Generator or None
        An int seed gives channel ``k`` the seed ``rng + k``, so each curve is reproducible on its
        own; a Generator (or None, fresh entropy) draws one seed per channel.

    Returns
    -------
    EqualizerSpeed
    """
    Ws = as_float_array(Ws, "Ws", ndim=1)
    mu = check_positive(mu, "mu")
    runs = check_int(runs, "runs", min_value=1)
    n = check_int(n, "n", min_value=2)
    target = check_positive(target, "target")
    window = check_int(window, "window", min_value=1, max_value=n)
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        seeds = [int(rng) + k for k in range(Ws.size)]
    else:
        seeds = [int(s) for s in as_generator(rng).integers(2**32, size=Ws.size)]
    spreads, steps, curves = [], [], {}
    for k, W in enumerate(Ws):
        eq = equalizer(float(W))
        U, d = eq.sample(n, runs=runs, rng=seeds[k])
        res = LMS(eq.taps, mu).run(U, d, record="every:10")
        curve = ensemble_learning_curve(res, spectrum=eq.spectrum, w_ref=eq.w_opt, mu=mu,
                                        J_min=eq.J_min, theory="gaussian")
        smooth = np.convolve(curve.mse, np.ones(window) / window, mode="valid")
        hit = np.flatnonzero(smooth <= target)
        spreads.append(eq.spectrum.spread)
        steps.append(int(hit[0]) + window - 1 if hit.size else -1)
        curves[str(float(W))] = curve
    params = {"mu": mu, "runs": runs, "n": n, "target": target, "window": window,
              "rng": rng_param(rng)}
    return EqualizerSpeed(Ws, np.array(spreads), np.array(steps, dtype=np.int64), curves, params)
