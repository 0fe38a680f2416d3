r"""Classical LMS theory on a spectrum: the Wiener solution, misadjustment, the stability bounds,
the natural-mode coordinates and their predicted decay, and the learning curve.

.. math::

    v(n) = Q^T (w(n) - w_o), \qquad E\,v_k(n) = (1 - \mu\lambda_k)^n\, v_k(0).

References
----------
Widrow and Stearns, *Adaptive Signal Processing*, 1985; Haykin, *Adaptive Filter Theory*, the
chapter on LMS convergence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmsbn._checks import as_float_array, check_int, check_positive, check_shape, describe
from lmsbn.spectral.spectrum import _as_spectrum

__all__ = ["StabilityBounds", "learning_curve_theory", "misadjustment", "mode_coordinates",
           "predicted_modes", "stability_bounds", "wiener"]


def wiener(R, p) -> np.ndarray:
    r"""Wiener (minimum mean-square error) solution :math:`w_o = R^{-1} p`.

    Parameters
    ----------
    R : ndarray, shape (K, K)
        Input autocorrelation matrix :math:`E[u u^T]`.
    p : ndarray, shape (K,) or (K, F)
        Cross-correlation :math:`E[u\, d]` (one column per output for F outputs).

    Returns
    -------
    w_o : ndarray, shape (K,) or (K, F)

    Notes
    -----
    Solved with ``numpy.linalg.solve`` (an LU factorisation), never by forming :math:`R^{-1}`,
    which is slower and less accurate. A singular ``R`` (some direction of weight space never
    excited by the input) has no unique Wiener solution and raises ``ValueError``.
    """
    R = as_float_array(R, "R", ndim=2)
    if R.shape[0] != R.shape[1]:
        raise ValueError(f"R must be a square matrix, got shape {R.shape}")
    p = as_float_array(p, "p", ndim=(1, 2))
    if p.shape[0] != R.shape[0]:
        raise ValueError(f"p must have {R.shape[0]} rows to match R {R.shape}, got shape {p.shape}")
    try:
        w = np.linalg.solve(R, p)
    except np.linalg.LinAlgError:
        raise ValueError(
            "R is singular, so the Wiener solution is not unique; the input does not excite "
            "every direction of weight space"
        ) from None
    if not np.all(np.isfinite(w)):
        raise ValueError("R is numerically singular: the Wiener solution is not finite")
    return w


_THEORIES = ("small_step", "haykin", "gaussian")


def _check_theory(theory) -> str:
    if not isinstance(theory, str) or theory not in _THEORIES:
        raise ValueError(f"theory must be one of {_THEORIES}, got {describe(theory)}")
    return theory


def _ms_sum(x: np.ndarray, theory: str) -> float:
    """The sum S of the steady-state formulas (misadjustment = S / (1 - S)); inf if a single
    mode is already mean-square unstable (mu lambda >= 2 for "haykin", >= 1 for "gaussian")."""
    denom = 2 - x if theory == "haykin" else 2 - 2 * x  # "gaussian"
    if np.any(denom <= 0):
        return float("inf")
    return float(np.sum(x / denom))


def misadjustment(R, mu, theory: str = "small_step") -> float:
    r"""Steady-state misadjustment :math:`\mathcal{M} = J_{ex}(\infty) / J_{min}` of LMS.

    Parameters
    ----------
    R : ndarray, shape (K, K), or Spectrum
        Input autocorrelation matrix.
    mu : float
        Step size, > 0.
    theory : {"small_step", "haykin", "gaussian"}, default "small_step"
        ``"small_step"``: the first-order formula :math:`\frac{\mu}{2}\operatorname{tr}R`. The
        other two: the exact steady state of that theory's recursion (Notes), ``inf`` when
        ``mu`` is beyond its mean-square stability bound.

    Notes
    -----
    .. math::

        \mathcal{M} \approx \frac{\mu}{2} \operatorname{tr} R, \qquad
        \mathcal{M} = \frac{S}{1 - S}, \quad
        S = \sum_k \frac{\mu\lambda_k}{2 - \mu\lambda_k} \ (\text{haykin}), \quad
        S = \sum_k \frac{\mu\lambda_k}{2(1 - \mu\lambda_k)} \ (\text{gaussian}),

    valid while :math:`S < 1`. All three agree to first order in :math:`\mu`. (Haykin,
    *Adaptive Filter Theory*, LMS convergence chapter; Widrow and Stearns 1985.) The
    ``"small_step"`` *recursion* of :func:`learning_curve_theory` settles at
    :math:`\sum_k \mu\lambda_k/(2 - \mu\lambda_k)`, which is also
    :math:`\frac{\mu}{2}\operatorname{tr}R` to first order. The three theories are described
    in the Notes of :func:`learning_curve_theory`.
    """
    spec = _as_spectrum(R)
    mu = check_positive(mu, "mu")
    theory = _check_theory(theory)
    if theory == "small_step":
        return mu / 2 * spec.trace
    S = _ms_sum(mu * spec.eigenvalues.astype(np.float64), theory)
    return float("inf") if S >= 1 else S / (1 - S)


@dataclass(frozen=True)
class StabilityBounds:
    r"""Step-size bounds for LMS with input autocorrelation :math:`R`.

    Attributes
    ----------
    mean : float
        :math:`2/\lambda_{max}`: the mean weights converge iff :math:`0 < \mu <` ``mean``.
    mean_square : float
        :math:`2/\operatorname{tr} R`: the textbook "conservative" mean-square bound (Haykin),
        easy to estimate because :math:`\operatorname{tr} R` is the input power times K. It is
        conservative relative to ``mean`` (:math:`\lambda_{max} \le \operatorname{tr} R`).
    mean_square_gaussian : float
        The exact mean-square bound for real Gaussian regressors independent over time: the
        :math:`\mu` where :math:`\sum_k \mu\lambda_k / (2(1 - \mu\lambda_k)) = 1` and the
        ``"gaussian"`` misadjustment becomes infinite. It is *below* ``mean_square``: e.g.
        :math:`2/((K+2)\sigma^2)` for :math:`R = \sigma^2 I_K`. So :math:`2/\operatorname{tr}R`
        is a rule of thumb, not a guarantee.
    """

    mean: float
    mean_square: float
    mean_square_gaussian: float


def stability_bounds(R) -> StabilityBounds:
    r"""Mean and mean-square step-size bounds of LMS for autocorrelation ``R``.

    Parameters
    ----------
    R : ndarray, shape (K, K), or Spectrum

    Returns
    -------
    StabilityBounds
        ``mean`` = :math:`2/\lambda_{max}`, ``mean_square`` = :math:`2/\operatorname{tr}R`
        (the usual rule of thumb), ``mean_square_gaussian`` (found by bisection to machine
        precision). All ``inf`` for the zero matrix.

    Notes
    -----
    Ordering: ``mean_square_gaussian < mean_square <= mean`` for every non-zero :math:`R`
    (equality in the second for rank one). The first is strict because
    :math:`S(\mu) = \sum_k \mu\lambda_k/(2(1 - \mu\lambda_k)) > \mu\operatorname{tr}R/2`.
    """
    spec = _as_spectrum(R)
    lam = spec.eigenvalues.astype(np.float64)
    if spec.lambda_max == 0:
        inf = float("inf")
        return StabilityBounds(inf, inf, inf)
    mean = 2.0 / spec.lambda_max
    mean_square = 2.0 / float(np.sum(lam))
    # S(mu) increases from 0 and S(mu) >= mu tr R / 2, so S = 1 somewhere in (0, 2 / tr R].
    lo, hi = 0.0, mean_square
    while (mid := (lo + hi) / 2) not in (lo, hi):
        if _ms_sum(mid * lam, "gaussian") < 1:
            lo = mid
        else:
            hi = mid
    return StabilityBounds(mean, mean_square, lo)


# Natural modes -----------------------------------------------------------------------------------


def mode_coordinates(w_history, spectrum, w_ref) -> np.ndarray:
    r"""Project a weight trajectory onto the eigenvectors of :math:`R`.

    Parameters
    ----------
    w_history : ndarray, shape (T, K) or (..., T, K)
        Weight vectors; ``w_history[..., n, :]`` is the weight vector used at step ``n``.
        Leading axes (ensemble realizations) are kept.
    spectrum : Spectrum or ndarray, shape (K, K)
        Spectrum of the input autocorrelation (a matrix is decomposed first).
    w_ref : ndarray, shape (K,) or (..., K)
        Reference point, usually the Wiener solution :math:`w_o`. A leading shape must match
        ``w_history``'s (one reference per realization).

    Returns
    -------
    v : ndarray, shape (..., T, K)
        :math:`v(n) = Q^T (w(n) - w_{ref})`; column ``k`` is the coordinate along the ``k``-th
        eigenvector (descending eigenvalue order).
    """
    spec = _as_spectrum(spectrum, "spectrum")
    K = spec.K
    w = as_float_array(w_history, "w_history", min_ndim=2)
    if w.shape[-1] != K:
        raise ValueError(f"w_history must have last axis {K} to match the spectrum, got {w.shape}")
    w_ref = as_float_array(w_ref, "w_ref", min_ndim=1)
    if w_ref.shape not in ((K,), w.shape[:-2] + (K,)):
        raise ValueError(
            f"w_ref must have shape ({K},) or {w.shape[:-2] + (K,)} to match w_history of "
            f"shape {w.shape}, got {w_ref.shape}"
        )
    return (w - w_ref[..., None, :]) @ spec.eigenvectors


def predicted_modes(v0, spectrum, mu, steps) -> np.ndarray:
    r"""Mean-mode trajectories predicted by LMS theory, :math:`v_k(n) = (1-\mu\lambda_k)^n v_k(0)`.

    Parameters
    ----------
    v0 : ndarray, shape (K,) or (..., K)
        Initial mode coordinates, e.g. ``mode_coordinates(w_history, spectrum, w_o)[..., 0, :]``.
    spectrum : Spectrum or ndarray, shape (K, K)
    mu : float
        Step size, > 0.
    steps : int
        Number of steps, >= 0.

    Returns
    -------
    v : ndarray, shape (..., steps + 1, K)
        Rows n = 0, ..., steps. A mode with :math:`|1 - \mu\lambda_k| > 1` grows geometrically
        and may overflow to ``inf`` (silently: divergence is an outcome, not an error).

    Notes
    -----
    From :math:`E\,c(n+1) = (I - \mu R)\,E\,c(n)` and :math:`R = Q\Lambda Q^T`. Exact for the mean
    when the regressors are independent over time; for a tapped delay line (overlapping
    regressors) it is the independence approximation, good for small :math:`\mu`
    (Haykin, *Adaptive Filter Theory*; tutorial 01 shows where it fails).
    """
    spec = _as_spectrum(spectrum, "spectrum")
    v0 = as_float_array(v0, "v0", min_ndim=1)
    if v0.shape[-1] != spec.K:
        raise ValueError(f"v0 must have last axis {spec.K} to match the spectrum, got {v0.shape}")
    mu = check_positive(mu, "mu")
    steps = check_int(steps, "steps", min_value=0)
    n = np.arange(steps + 1)[:, None]
    with np.errstate(over="ignore", invalid="ignore"):
        powers = spec.mode_factors(mu)[None, :] ** n  # (steps + 1, K)
        return v0[..., None, :] * powers


def learning_curve_theory(
    R, mu, J_min, c0, steps, *, theory: str = "small_step", cross_terms: bool | None = None
) -> np.ndarray:
    r"""Mean-square error of LMS predicted by theory, :math:`J(n)` for n = 0, ..., steps.

    Parameters
    ----------
    R : ndarray, shape (K, K), or Spectrum
        Input autocorrelation matrix.
    mu : float
        Step size, > 0.
    J_min : float
        Minimum (Wiener) mean-square error, >= 0.
    c0 : ndarray, shape (K,)
        Initial weight error :math:`c(0) = w(0) - w_o` (a deterministic start).
    steps : int
        Number of steps, >= 0.
    theory : {"small_step", "haykin", "gaussian"}, default "small_step"
        Which recursion (Notes). ``"gaussian"`` is exact for real Gaussian regressors that are
        independent over time; ``"small_step"`` is the textbook default.
    cross_terms : bool, optional
        Shorthand kept for existing callers: ``False`` means ``"small_step"``, ``True`` means
        ``"haykin"``. Give either this or ``theory``, not both.

    Returns
    -------
    J : ndarray, shape (steps + 1,)
        ``J[0] = J_min + c0^T R c0``. Past the stability bound the curve grows and may reach
        ``inf``; from the first non-finite value on it is ``inf``.

    Notes
    -----
    The three mean-square theories of LMS share one vocabulary (``theory=``). All assume
    regressors independent over time and differ in how they treat the fourth moment
    :math:`E[u u^T c\, c^T u u^T]` of the weight-error update:

    ``"small_step"``
        drop it except for its :math:`J_{min}` part (Haykin's small-step-size theory):
        :math:`x_k' = (1-\mu\lambda_k)^2 x_k + \mu^2\lambda_k J_{min}`;
    ``"haykin"``
        factor it as for *complex circular* Gaussian data, :math:`RKR + R\operatorname{tr}(RK)`
        (Haykin's independence theory):
        :math:`x_k' = (1-\mu\lambda_k)^2 x_k + \mu^2\lambda_k (\sum_j \lambda_j x_j + J_{min})`;
    ``"gaussian"``
        factor it as for *real* Gaussian data, :math:`2RKR + R\operatorname{tr}(RK)`
        (Feuer and Weinstein 1985):
        :math:`x_k' = (1 - 2\mu\lambda_k + 2\mu^2\lambda_k^2) x_k + \mu^2\lambda_k
        (\sum_j \lambda_j x_j + J_{min})`. *Exact* for real Gaussian regressors independent over
        time (e.g. :func:`lmsbn.filters.signals.independent_regressors`) and an optimal error
        independent of them (system identification with independent noise),

    where :math:`x_k = E[v_k^2]`, :math:`v = Q^T (w - w_o)`, and :math:`J = J_{min} + \sum_k
    \lambda_k x_k`. For a tapped delay line (overlapping regressors) all three are approximations.

    Each theory propagates the mode energies :math:`x_k(n) = E[v_k(n)^2]` from
    :math:`x_k(0) = v_k(0)^2` with a linear recursion :math:`x(n+1) = B x(n) + \mu^2 J_{min}
    \lambda` and reads off :math:`J(n) = J_{min} + \lambda^T x(n)`. The ``"small_step"``
    curve settles at :math:`J_{min}(1 + \sum_k \mu\lambda_k/(2 - \mu\lambda_k)) \approx
    J_{min}(1 + \frac{\mu}{2}\operatorname{tr}R)`; the other two settle at
    :math:`J_{min}(1 + \mathcal{M})` with :func:`misadjustment` of the same ``theory``.
    """
    spec = _as_spectrum(R)
    K = spec.K
    mu = check_positive(mu, "mu")
    J_min = check_positive(J_min, "J_min", allow_zero=True)
    c0 = as_float_array(c0, "c0", ndim=1)
    check_shape(c0, "c0", (K,), what="to match R")
    steps = check_int(steps, "steps", min_value=0)
    if cross_terms is not None:
        if not isinstance(cross_terms, (bool, np.bool_)):
            raise TypeError(f"cross_terms must be a bool, got {describe(cross_terms)}")
        if theory != "small_step":
            raise ValueError("give either theory or cross_terms, not both")
        theory = "haykin" if cross_terms else "small_step"
    theory = _check_theory(theory)

    lam = spec.eigenvalues.astype(np.float64)
    # B maps the mode energies x(n) to x(n + 1): diagonal = each mode's own decay, outer
    # product = the gradient noise that the excess error of all modes injects into each mode.
    if theory == "gaussian":
        B = np.diag(1 - 2 * mu * lam + 2 * mu**2 * lam**2)
    else:
        B = np.diag((1 - mu * lam) ** 2)
    if theory != "small_step":
        B += mu**2 * np.outer(lam, lam)
    drive = mu**2 * J_min * lam  # gradient noise from the irreducible error J_min
    x = (spec.eigenvectors.T.astype(np.float64) @ c0) ** 2
    J = np.full(steps + 1, np.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        for n in range(steps + 1):
            J[n] = J_min + lam @ x
            if not np.isfinite(J[n]):
                break  # diverged: the rest stays inf
            x = B @ x + drive
    return J


