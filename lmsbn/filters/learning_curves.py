r"""Learning curves: ensemble statistics of a filter run, next to the LMS theory.

:func:`learning_curve` averages :math:`e(n)^2` over the realizations of a :class:`FilterResult`;
:func:`ensemble_learning_curve` adds the natural-mode statistics of the recorded weights and the
independence-theory curve. The theory itself -- eigen-decomposition, mode coordinates,
:math:`J(n)` -- belongs to the analysis core :mod:`lmsbn.spectral`; this module only averages the
simulation and hands the core what it needs. Import from :mod:`lmsbn.filters`, which re-exports
every public name here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lmsbn._checks import as_float_array, describe
from lmsbn.filters.engine import FilterResult
from lmsbn.io import Result

__all__ = ["LearningCurve", "learning_curve", "ensemble_learning_curve"]

def _errors_and_mask(result_or_errors, exclude_diverged):
    """The error array (*B, T) and a boolean mask (B) of the realizations to average."""
    if isinstance(result_or_errors, FilterResult):
        e = result_or_errors.e
        diverged = np.asarray(result_or_errors.diverged)
    else:
        e = as_float_array(result_or_errors, "result_or_errors", min_ndim=1, finite=False)
        with np.errstate(invalid="ignore"):
            diverged = ~np.all(np.isfinite(e), axis=-1)
    keep = ~diverged if exclude_diverged else np.ones(e.shape[:-1], dtype=bool)
    if not keep.any():
        raise ValueError(
            "every realization diverged: exclude_diverged=True leaves nothing to average")
    return e, keep


def learning_curve(result_or_errors, *, exclude_diverged=False) -> np.ndarray:
    r"""Ensemble-averaged squared error :math:`\hat J(n) = \langle e(n)^2 \rangle`.

    Parameters
    ----------
    result_or_errors : FilterResult or array_like, shape (*B, T)
        A run's result, or its errors.
    exclude_diverged : bool, default False
        By default a diverged realization (NaN errors after divergence) makes the curve NaN
        from that step on -- the mean square error of an ensemble with a diverging member *is*
        unbounded. ``True`` averages only the realizations that never diverged; this is biased
        towards the lucky ones, so report how many were dropped.

    Returns
    -------
    J : ndarray, shape (T,)
        The mean over all leading axes of ``e**2``.
    """
    e, keep = _errors_and_mask(result_or_errors, exclude_diverged)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.mean(np.square(e[keep]), axis=0) if e.ndim > 1 else np.square(e)


@dataclass
class LearningCurve(Result):
    r"""Ensemble statistics of a run, with the LMS theory curve when it applies.

    Saved and loaded by :class:`lmsbn.io.Result`.

    Attributes
    ----------
    mse : ndarray, shape (T,)
        :math:`\langle e(n)^2 \rangle` over the realizations used.
    steps : ndarray of int, shape (T,)
        ``0, ..., T - 1``.
    mode_mean : ndarray, shape (S, K), or None
        :math:`\langle v_k(n) \rangle`, with :math:`v(n) = Q^T (w(n) - w_{ref})`, at the recorded
        steps ``mode_steps``.
    mode_energy : ndarray, shape (S, K), or None
        :math:`\langle v_k(n)^2 \rangle` at ``mode_steps``.
    mode_steps : ndarray of int, shape (S,), or None
        The run's ``history_steps``.
    theory : ndarray, shape (T,), or None
        :func:`lmsbn.spectral.learning_curve_theory` for steps ``0, ..., T - 1`` (aligned with
        ``mse``), from the mean initial weight error.
    n_used : int
        Number of realizations averaged.
    params : dict
        How it was computed: the arguments of :func:`ensemble_learning_curve` that are numbers
        or names, and the run's own ``params`` under ``"run"``.
    """

    mse: np.ndarray
    steps: np.ndarray
    mode_mean: np.ndarray | None = None
    mode_energy: np.ndarray | None = None
    mode_steps: np.ndarray | None = None
    theory: np.ndarray | None = None
    n_used: int = 0
    params: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One line: realizations averaged, the first and last mean-square error, the theory's."""
        text = (f"learning curve of {self.n_used} realization(s) over {self.mse.size} steps: "
                f"J(0) = {self.mse[0]:.4g}, J(end) = {self.mse[-1]:.4g}")
        if self.theory is not None:
            text += f" (theory {self.theory[0]:.4g} -> {self.theory[-1]:.4g})"
        return text

    @classmethod
    def _example(cls):
        result = FilterResult._example()
        return ensemble_learning_curve(result, spectrum=np.diag([2.0, 0.5]), w_ref=np.ones(2),
                                       mu=0.1, J_min=0.01)


def ensemble_learning_curve(result, *, spectrum=None, w_ref=None, mu=None, J_min=None,
                            exclude_diverged=False, theory="small_step") -> LearningCurve:
    r"""Learning curve, mode statistics and LMS theory for an ensemble run.

    Parameters
    ----------
    result : FilterResult
        An ensemble run (leading axes are realizations). Mode statistics need its
        ``w_history`` (a run with ``record`` other than ``"none"``).
    spectrum : lmsbn.spectral.Spectrum or ndarray, shape (K, K), optional
        Spectrum of the input autocorrelation :math:`R`. With ``w_ref`` it gives the mode
        statistics; with ``mu`` and ``J_min`` as well, the theory curve.
    w_ref : array_like, shape (K,) or (*B, K), optional
        Reference weights, usually the Wiener solution :math:`w_o`.
    mu : float, optional
        The LMS step size the run used.
    J_min : float, optional
        The minimum mean-square error (the noise power for system identification).
    exclude_diverged : bool, default False
        See :func:`learning_curve`.
    theory : {"small_step", "haykin", "gaussian"}, default "small_step"
        Which independence theory :func:`lmsbn.spectral.learning_curve_theory` uses;
        ``"gaussian"`` keeps the fourth-moment terms of real Gaussian regressors and matches
        simulations beyond small steps.

    Returns
    -------
    LearningCurve

    Notes
    -----
    The theory is LMS independence theory (Haykin, *Adaptive Filter Theory*):
    :math:`J(n) \approx J_{min} + \sum_k \lambda_k E[v_k(n)^2]`; it is computed by
    :mod:`lmsbn.spectral`, never here. It is exact in the mean only for regressors independent
    over time and describes :class:`LMS`, not NLMS or the block forms.
    """
    from lmsbn import spectral  # the analysis core; imported here so the filters load on their own

    if not isinstance(result, FilterResult):
        raise TypeError(f"result must be a FilterResult, got {describe(result)}")
    mse = learning_curve(result, exclude_diverged=exclude_diverged)
    _, keep = _errors_and_mask(result, exclude_diverged)
    params = {"exclude_diverged": bool(exclude_diverged), "theory": theory,
              "mu": None if mu is None else float(mu),
              "J_min": None if J_min is None else float(J_min),
              "modes": spectrum is not None and w_ref is not None, "run": dict(result.params)}
    curve = LearningCurve(mse=mse, steps=np.arange(mse.size), n_used=int(keep.sum()), params=params)
    if spectrum is None or w_ref is None:
        if mu is not None or J_min is not None:
            raise ValueError("the theory curve needs spectrum and w_ref as well as mu and J_min")
        return curve
    if result.w_history is None:
        raise ValueError("mode statistics need a run recorded with record='full' or 'every:k', "
                         "got a run with record='none'")
    # The core rejects NaN, so the NaN rows of diverged realizations are projected as zeros and
    # put back to NaN afterwards.
    w_hist = result.w_history.reshape(-1, *result.w_history.shape[-2:])  # (R, S, K)
    w_ref = as_float_array(w_ref, "w_ref", min_ndim=1)
    if w_ref.ndim > 1:
        w_ref = np.broadcast_to(w_ref, result.w_final.shape).reshape(-1, w_ref.shape[-1])
    finite = np.all(np.isfinite(w_hist), axis=-1)  # (R, S)
    v = spectral.mode_coordinates(np.where(finite[..., None], w_hist, 0.0), spectrum, w_ref)
    v[~finite] = np.nan
    v = v[keep.reshape(-1)]
    with np.errstate(over="ignore", invalid="ignore"):
        curve.mode_mean = v.mean(axis=0)
        curve.mode_energy = np.square(v).mean(axis=0)
    curve.mode_steps = result.history_steps
    if (mu is None) != (J_min is None):
        raise ValueError("the theory curve needs both mu and J_min")
    if mu is not None:
        if result.history_steps[0] != 0:
            raise ValueError("the theory curve needs the initial weights (history step 0)")
        spec = spectrum
        if not isinstance(spec, spectral.Spectrum):
            spec = spectral.Spectrum.from_matrix(spectrum)
        c0 = spec.eigenvectors @ curve.mode_mean[0]  # mean initial weight error w(0) - w_ref
        curve.theory = spectral.learning_curve_theory(
            spec, mu, J_min, c0, mse.size - 1, theory=theory)
    return curve
