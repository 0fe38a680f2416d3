r"""The analysis core: autocorrelation matrices, their eigen-decomposition and the natural modes.

Everything here works on three kinds of object only:

* **regressors** ``U`` of shape ``(..., M, K)``: one row per input vector. For an adaptive filter
  the rows are the tapped-delay-line vectors :math:`u(n) = [x(n), \dots, x(n-K+1)]`; for a
  convolution layer they are the im2col patches (``K = C_in kh kw``);
* **autocorrelation matrices** :math:`R = E[u u^T]` of shape ``(K, K)``;
* **weight trajectories** ``w_history`` of shape ``(..., T, K)``.

No function asks where these came from. That is the point of the library: the same
:class:`Spectrum`, the same mode projection and the same stability bounds describe an LMS filter
and a conv layer (:mod:`lmsbn.bridge` hands it a layer's im2col patches).

The classical facts used here (Widrow and Stearns 1985; Haykin, *Adaptive Filter Theory*, the
chapter on LMS convergence):

.. math::

    R = Q \Lambda Q^T, \qquad v(n) = Q^T (w(n) - w_o), \qquad
    E\,v_k(n) = (1 - \mu\lambda_k)^n\, v_k(0),

so the mean weight error converges iff :math:`0 < \mu < 2/\lambda_{max}`, and the slowest mode is
:math:`\chi(R) = \lambda_{max}/\lambda_{min}` times slower than the fastest one.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from ._checks import as_float_array, check_int, check_positive, check_shape, describe
from .io import Result

__all__ = [
    "ChannelBlocks",
    "Spectrum",
    "StabilityBounds",
    "autocorrelation",
    "channel_blocks",
    "learning_curve_theory",
    "misadjustment",
    "mode_coordinates",
    "predicted_modes",
    "stability_bounds",
    "toeplitz_autocorrelation",
    "wiener",
]


# Autocorrelation matrices ------------------------------------------------------------------------


def autocorrelation(U, *, center: bool = False) -> np.ndarray:
    r"""Sample autocorrelation (or covariance) matrix of a set of regressors.

    Parameters
    ----------
    U : ndarray, shape (..., M, K)
        Regressors, one row per input vector. Leading axes (an ensemble of realizations, a batch
        of layers' worth of patches, ...) are pooled: all rows are treated as samples of the same
        distribution.
    center : bool, default False
        Subtract the column mean first, giving the covariance matrix instead of the (uncentred)
        autocorrelation matrix.

    Returns
    -------
    R : ndarray, shape (K, K)
        Symmetric positive semi-definite, same float dtype as ``U``.

    Notes
    -----
    .. math::

        R = \frac{1}{M}\sum_{m=1}^{M} u_m u_m^T = \frac{1}{M} U^T U, \qquad
        C = \frac{1}{M} (U - \mathbf{1}\bar u^T)^T (U - \mathbf{1}\bar u^T) = R - \bar u \bar u^T.

    The normalisation is :math:`1/M` (not :math:`1/(M-1)`), because LMS theory needs
    :math:`E[u u^T]`, and the block-LMS update :math:`W \leftarrow W + \mu E^T U / M` carries the
    same :math:`1/M`. The result is symmetrised exactly, :math:`(R + R^T)/2`, so that round-off in
    the matrix product can never make a "symmetric" matrix fail a symmetry test.

    A non-zero mean adds the rank-one "mean spike" :math:`\bar u \bar u^T` to the covariance; it
    inflates :math:`\lambda_{max}` and is what centring (BatchNorm's first step) removes
    (tutorial 05 shows the spike for post-ReLU inputs).
    """
    U = as_float_array(U, "U", min_ndim=2)
    if not isinstance(center, (bool, np.bool_)):
        raise TypeError(f"center must be a bool, got {describe(center)}")
    rows = U.reshape(-1, U.shape[-1])
    if center:
        rows = rows - rows.mean(axis=0)
    R = rows.T @ rows / rows.shape[0]
    return (R + R.T) / 2


def toeplitz_autocorrelation(r) -> np.ndarray:
    r"""Symmetric Toeplitz matrix of a wide-sense stationary autocorrelation sequence.

    Parameters
    ----------
    r : array_like, shape (K,)
        Autocorrelation at lags 0, 1, ..., K-1: :math:`r(k) = E[x(n) x(n-k)]`.

    Returns
    -------
    R : ndarray, shape (K, K)
        :math:`R_{ij} = r(|i - j|)`: the autocorrelation matrix of the tapped-delay-line
        regressor :math:`u(n) = [x(n), x(n-1), \dots, x(n-K+1)]` of a stationary signal.
    """
    r = as_float_array(r, "r", ndim=1)
    K = r.shape[0]
    lag = np.abs(np.arange(K)[:, None] - np.arange(K)[None, :])
    return r[lag]


# The spectrum ------------------------------------------------------------------------------------


def _frozen(a: np.ndarray) -> np.ndarray:
    """A read-only copy, so that a frozen dataclass really is immutable."""
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


def _fix_signs(Q: np.ndarray) -> np.ndarray:
    """Flip each column so that its largest-magnitude entry is positive.

    Entries within a relative ``4 sqrt(eps)`` of a column's largest magnitude count as tied, and
    the first of them decides. Without this tolerance round-off would decide between exact ties,
    and exact ties are common: the eigenvectors of a symmetric Toeplitz matrix are symmetric or
    antisymmetric, so their largest magnitude appears twice.
    """
    mag = np.abs(Q)
    tol = 4 * np.sqrt(np.finfo(Q.dtype).eps)
    is_top = mag >= mag.max(axis=0, keepdims=True) * (1 - tol)
    first = np.argmax(is_top, axis=0)  # argmax returns the first True
    signs = np.where(Q[first, np.arange(Q.shape[1])] < 0, -1, 1).astype(Q.dtype)
    return Q * signs


@dataclass(frozen=True, eq=False)
class Spectrum(Result):
    r"""Eigen-decomposition :math:`R = Q \Lambda Q^T` of an autocorrelation matrix.

    Build it with :meth:`from_matrix` or :meth:`from_regressors` rather than directly: those
    validate, sort, fix the eigenvector signs and clip round-off.

    Attributes
    ----------
    R : ndarray, shape (K, K)
        The (symmetrised) matrix.
    eigenvalues : ndarray, shape (K,)
        In descending order, :math:`\lambda_1 \ge \dots \ge \lambda_K \ge 0`.
    eigenvectors : ndarray, shape (K, K)
        Column ``k`` is the unit eigenvector of ``eigenvalues[k]``; its largest-magnitude entry is
        positive (ties, within round-off, go to the first such entry). For a repeated eigenvalue
        only the sign is fixed: which orthonormal basis of the eigenspace you get is up to
        ``numpy.linalg.eigh``.
    num_samples : int or None
        How many regressors ``R`` was estimated from (``None`` for a theoretical ``R``).
    centered : bool
        Whether ``R`` is a covariance (column means removed) rather than an autocorrelation.

    Notes
    -----
    **Round-off rule.** A singular PSD matrix comes out of ``eigh`` with eigenvalues like
    ``+-1e-17`` instead of 0. Let :math:`\tau = 10\,K\,\varepsilon \max_k |\lambda_k|`
    (:math:`\varepsilon` the machine epsilon of ``R``'s dtype), a bound on ``eigh``'s round-off.
    Eigenvalues with :math:`|\lambda| \le \tau` are set to exactly 0 (they cannot be told apart
    from 0); an eigenvalue below :math:`-\tau` means the matrix is not positive semi-definite,
    which an autocorrelation matrix always is, so :meth:`from_matrix` raises. Consequently
    ``lambda_min >= 0`` always, ``spread`` is ``inf`` exactly when ``lambda_min == 0``, and a
    rank-deficient ``R`` (fewer regressors than taps, a constant channel, ...) reports
    ``spread = inf`` rather than a meaningless ``1e17``.
    """

    R: np.ndarray
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    num_samples: int | None = None
    centered: bool = False

    # ---- construction ----------------------------------------------------------------------

    @classmethod
    def from_matrix(cls, R, *, num_samples: int | None = None, centered: bool = False) -> Spectrum:
        """Decompose a symmetric positive semi-definite matrix.

        Parameters
        ----------
        R : array_like, shape (K, K)
            Must be square, finite and symmetric within a relative ``sqrt(eps)`` (of its largest
            entry); it is then symmetrised exactly.
        num_samples : int, optional
            Metadata: the number of regressors ``R`` was estimated from.
        centered : bool, default False
            Metadata: whether ``R`` is a covariance.
        """
        R = as_float_array(R, "R", ndim=2)
        if R.shape[0] != R.shape[1]:
            raise ValueError(f"R must be a square matrix, got shape {R.shape}")
        eps = np.finfo(R.dtype).eps
        scale = float(np.max(np.abs(R)))
        asym = float(np.max(np.abs(R - R.T)))
        if asym > np.sqrt(eps) * scale:
            raise ValueError(
                f"R must be symmetric, got max |R - R^T| = {asym:.3g} "
                f"(relative {asym / scale:.3g} of max |R|)"
            )
        R = (R + R.T) / 2
        lam, Q = np.linalg.eigh(R)  # ascending
        lam, Q = lam[::-1], Q[:, ::-1]
        tau = 10 * R.shape[0] * eps * float(np.max(np.abs(lam)))
        if lam[-1] < -tau:
            raise ValueError(
                f"R must be positive semi-definite, got smallest eigenvalue {lam[-1]:.3g} "
                f"(round-off tolerance {tau:.3g})"
            )
        lam = np.where(lam <= tau, 0, lam).astype(R.dtype)
        if num_samples is not None:
            num_samples = check_int(num_samples, "num_samples", min_value=1)
        if not isinstance(centered, (bool, np.bool_)):
            raise TypeError(f"centered must be a bool, got {describe(centered)}")
        return cls(_frozen(R), _frozen(lam), _frozen(_fix_signs(Q)), num_samples, bool(centered))

    @classmethod
    def from_regressors(cls, U, center: bool = False) -> Spectrum:
        """Spectrum of the sample autocorrelation of regressors ``U`` of shape ``(..., M, K)``.

        See :func:`autocorrelation` for the pooling of leading axes and for ``center``.
        """
        R = autocorrelation(U, center=center)
        M = int(np.prod(np.shape(U)[:-1]))
        return cls.from_matrix(R, num_samples=M, centered=center)

    # ---- scalar summaries ------------------------------------------------------------------

    @property
    def K(self) -> int:
        """Dimension of the regressors (number of taps / weights)."""
        return int(self.eigenvalues.shape[0])

    @property
    def trace(self) -> float:
        r""":math:`\operatorname{tr} R = \sum_k \lambda_k`, the total input power."""
        return float(np.trace(self.R))

    @property
    def lambda_max(self) -> float:
        """Largest eigenvalue."""
        return float(self.eigenvalues[0])

    @property
    def lambda_min(self) -> float:
        """Smallest eigenvalue (>= 0 by the round-off rule)."""
        return float(self.eigenvalues[-1])

    @property
    def spread(self) -> float:
        r"""Eigenvalue spread :math:`\chi(R) = \lambda_{max}/\lambda_{min}`; ``inf`` if
        :math:`\lambda_{min} = 0` (a direction LMS never moves in), including for :math:`R = 0`."""
        if self.lambda_min == 0:
            return float("inf")
        return self.lambda_max / self.lambda_min

    # ---- LMS dynamics ----------------------------------------------------------------------

    def stability_bound(self) -> float:
        r"""Largest step size for which the mean weights converge, :math:`2/\lambda_{max}`."""
        return float("inf") if self.lambda_max == 0 else 2.0 / self.lambda_max

    def mode_factors(self, mu) -> np.ndarray:
        r"""Per-mode contraction factors :math:`1 - \mu\lambda_k`, shape (K,).

        Mode ``k`` of the mean weight error is multiplied by this factor at every step; it decays
        iff the factor lies in (-1, 1), and oscillates in sign when it is negative.
        """
        mu = check_positive(mu, "mu")
        return 1 - mu * self.eigenvalues

    def time_constants(self, mu, exact: bool = True) -> np.ndarray:
        r"""Time constants of the mean weight-error modes, shape (K,), in steps.

        Parameters
        ----------
        mu : float
            Step size, > 0.
        exact : bool, default True
            ``True``: :math:`\tau_k = -1/\ln|1 - \mu\lambda_k|`, the number of steps over which
            mode ``k`` shrinks by a factor :math:`e`. ``False``: the small-step approximation
            :math:`\tau_k \approx 1/(\mu\lambda_k)`.

        Returns
        -------
        tau : ndarray, shape (K,)
            ``inf`` for a mode that does not decay (:math:`\lambda_k = 0`, or
            :math:`|1 - \mu\lambda_k| \ge 1` in the exact formula, i.e. a diverging mode);
            0 for a mode killed in one step (:math:`\mu\lambda_k = 1`).

        Notes
        -----
        These are the *weight* time constants. The mean-square error decays through
        :math:`(1 - \mu\lambda_k)^{2n}`, so its time constants are half as long,
        :math:`\approx 1/(2\mu\lambda_k)`.
        """
        mu = check_positive(mu, "mu")
        lam = self.eigenvalues.astype(np.float64)
        tau = np.full(lam.shape, np.inf)
        if exact:
            factor = np.abs(1 - mu * lam)
            decays = factor < 1
            with np.errstate(divide="ignore"):  # log(0) = -inf gives tau = 0, as it should
                tau[decays] = -1.0 / np.log(factor[decays])
        else:
            pos = lam > 0
            tau[pos] = 1.0 / (mu * lam[pos])
        return tau

    # ---- lossless round trip ---------------------------------------------------------------

    def to_dict(self) -> dict:
        """Arrays and JSON-able metadata, enough to rebuild the object bit for bit.

        Returns
        -------
        dict
            ``{"R", "eigenvalues", "eigenvectors"}`` -> arrays, and ``"meta"`` -> a dict of
            plain Python values (``num_samples``, ``centered``, ``K``), suitable for
            ``numpy.savez`` plus ``json.dump``.
        """
        return {
            "R": np.array(self.R),
            "eigenvalues": np.array(self.eigenvalues),
            "eigenvectors": np.array(self.eigenvectors),
            "meta": {"kind": "Spectrum", "K": self.K, "num_samples": self.num_samples,
                     "centered": self.centered},
        }

    @classmethod
    def from_dict(cls, d) -> Spectrum:
        """Inverse of :meth:`to_dict`; validates keys, shapes and the decomposition itself."""
        if not isinstance(d, dict):
            raise TypeError(f"d must be a dict from Spectrum.to_dict(), got {describe(d)}")
        missing = {"R", "eigenvalues", "eigenvectors", "meta"} - set(d)
        if missing:
            raise ValueError(f"d is not a Spectrum dict: missing keys {sorted(missing)}")
        meta = d["meta"]
        if not isinstance(meta, dict) or meta.get("kind") != "Spectrum":
            raise ValueError(f"d['meta'] must be a Spectrum metadata dict, got {describe(meta)}")
        R = as_float_array(d["R"], "d['R']", ndim=2)
        K = R.shape[0]
        check_shape(R, "d['R']", (K, K))
        lam = as_float_array(d["eigenvalues"], "d['eigenvalues']", ndim=1)
        check_shape(lam, "d['eigenvalues']", (K,))
        Q = as_float_array(d["eigenvectors"], "d['eigenvectors']", ndim=2)
        check_shape(Q, "d['eigenvectors']", (K, K))
        # A corrupted file must not pass silently: the stored factors must rebuild R.
        scale = max(float(np.max(np.abs(R))), np.finfo(R.dtype).tiny)
        err = float(np.max(np.abs((Q * lam) @ Q.T - R))) / scale
        if err > 1e3 * K * np.finfo(R.dtype).eps:
            raise ValueError(f"d holds an inconsistent decomposition (relative error {err:.3g})")
        num_samples = meta.get("num_samples")
        if num_samples is not None:
            num_samples = check_int(num_samples, "d['meta']['num_samples']", min_value=1)
        return cls(_frozen(R), _frozen(lam), _frozen(Q), num_samples, bool(meta.get("centered")))

    # ---- the result protocol (save / load / summary come from lmsbn.io.Result) ----------------

    @property
    def params(self) -> dict:
        """How the spectrum was produced: ``num_samples`` and ``centered`` (stored with it)."""
        return {"num_samples": self.num_samples, "centered": self.centered}

    @classmethod
    def _from_state(cls, state: dict) -> Spectrum:
        # Through from_dict: a loaded file gets the same checks (and read-only arrays) as a
        # spectrum built in memory; a corrupted decomposition must not pass silently.
        meta = {"kind": "Spectrum", "num_samples": state.get("num_samples"),
                "centered": state.get("centered")}
        return cls.from_dict({**{k: state.get(k) for k in ("R", "eigenvalues", "eigenvectors")},
                              "meta": meta})

    def summary(self) -> str:
        """One line: size, extreme eigenvalues, spread, trace and the LMS step-size bound."""
        return (f"Spectrum of a {self.K}x{self.K} {'covariance' if self.centered else 'R'}"
                + (f" from {self.num_samples} regressors" if self.num_samples else "")
                + f": lambda_max {self.lambda_max:.4g}, lambda_min {self.lambda_min:.4g}, "
                f"spread {self.spread:.4g}, trace {self.trace:.4g}, "
                f"2/lambda_max {self.stability_bound():.4g}")

    @classmethod
    def _example(cls) -> Spectrum:
        U = np.arange(24.0).reshape(8, 3) % 5 - 2.0
        return cls.from_regressors(U, center=True)


def _as_spectrum(R, name: str = "R") -> Spectrum:
    """Accept either a :class:`Spectrum` or a matrix."""
    if isinstance(R, Spectrum):
        return R
    try:
        return Spectrum.from_matrix(R)
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        if name != "R" and msg.startswith("R "):  # rename the argument in the message
            msg = name + msg[1:]
        raise type(exc)(msg) from None


# Wiener solution, misadjustment and stability bounds ---------------------------------------------


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
        time (e.g. :func:`lmsbn.signals.independent_regressors`) and an optimal error
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



# Channel-block view of a conv layer's R ----------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ChannelBlocks:
    r"""A conv layer's :math:`R` seen as a ``C x C`` grid of ``k x k`` blocks.

    Attributes
    ----------
    blocks : ndarray, shape (C, C, k, k)
        ``blocks[c, d]`` is :math:`E[u_c u_d^T]`, the correlation between the ``k`` patch entries
        of input channel ``c`` and those of channel ``d``. Diagonal blocks are each channel's
        spatial autocorrelation.
    coupling : ndarray, shape (C, C)
        Block traces: :math:`\operatorname{tr}\,\text{blocks}[c, d] = \sum_j E[u_{c,j} u_{d,j}]`,
        the cross-channel correlation summed over the ``k`` kernel positions (about
        :math:`k\,E[x_c x_d]` for a spatially stationary input). Symmetric; its trace equals
        :math:`\operatorname{tr} R`.
    frobenius : ndarray, shape (C, C)
        Block Frobenius norms, :math:`\|\text{blocks}[c, d]\|_F`: the total size of the coupling,
        insensitive to the cancellations a trace can have.
    channels : int
    kernel_size : tuple of int
        ``(kh, kw)``; a 1-D kernel is ``(k,)``.
    """

    blocks: np.ndarray
    coupling: np.ndarray
    frobenius: np.ndarray
    channels: int
    kernel_size: tuple

    @property
    def powers(self) -> np.ndarray:
        r"""Per-channel power times k, shape (C,): the diagonal of ``coupling``.

        For a normalised previous layer (unit second moment per channel) every entry is about
        ``k``, which is how BatchNorm bounds :math:`\operatorname{tr}R` and so
        :math:`\lambda_{max}`.
        """
        return np.diagonal(self.coupling).copy()

    @property
    def normalized_coupling(self) -> np.ndarray:
        r"""Correlation-coefficient-like matrix, shape (C, C):
        :math:`\text{coupling}_{cd} / \sqrt{\text{powers}_c\, \text{powers}_d}`.

        Ones on the diagonal (for channels with non-zero power), entries in [-1, 1] by the
        Cauchy-Schwarz inequality; 0 wherever a channel has zero power.
        """
        p = self.powers
        denom = np.sqrt(np.outer(p, p))
        out = np.zeros_like(self.coupling)
        np.divide(self.coupling, denom, out=out, where=denom > 0)
        return out


def channel_blocks(R, channels, kernel_size) -> ChannelBlocks:
    r"""Split a conv layer's autocorrelation matrix into channel blocks.

    Parameters
    ----------
    R : ndarray, shape (K, K), or Spectrum
        With ``K = channels * k``, ``k = prod(kernel_size)``. The column order is that of an
        im2col patch: channel slowest, then kernel positions (row-major over ``(kh, kw)``).
    channels : int
        Number of input channels ``C``.
    kernel_size : int or tuple of int
        ``k``, or ``(kh, kw)``.

    Returns
    -------
    ChannelBlocks

    Notes
    -----
    A classical filter is the special case ``channels=1, kernel_size=K``: one block, ``R``
    itself. What the block structure says about BatchNorm (tutorial 05): equal
    diagonal-block traces bound :math:`\operatorname{tr}R`, and so :math:`\lambda_{max}`.
    """
    R = R.R if isinstance(R, Spectrum) else as_float_array(R, "R", ndim=2)
    if R.shape[0] != R.shape[1]:
        raise ValueError(f"R must be a square matrix, got shape {R.shape}")
    C = check_int(channels, "channels", min_value=1)
    if isinstance(kernel_size, numbers.Integral) and not isinstance(kernel_size, bool):
        ks = (check_int(kernel_size, "kernel_size", min_value=1),)
    elif isinstance(kernel_size, (tuple, list)) and len(kernel_size) in (1, 2):
        ks = tuple(check_int(s, "kernel_size", min_value=1) for s in kernel_size)
    else:
        raise TypeError(f"kernel_size must be an int or (kh, kw), got {describe(kernel_size)}")
    k = int(np.prod(ks))
    if R.shape[0] != C * k:
        raise ValueError(
            f"R has K = {R.shape[0]} but channels * prod(kernel_size) = {C} * {k} = {C * k}"
        )
    blocks = R.reshape(C, k, C, k).transpose(0, 2, 1, 3)
    coupling = np.trace(blocks, axis1=2, axis2=3)
    frobenius = np.sqrt(np.sum(blocks**2, axis=(2, 3)))
    return ChannelBlocks(_frozen(blocks), _frozen(coupling), _frozen(frobenius), C, ks)
