r"""Input signals and the classical adaptive-filtering problems.

* :func:`tapped_delay_line` turns a signal into LMS regressors (the im2col of a 1-channel Conv1d);
* :func:`ar1`, :func:`ar` make coloured Gaussian inputs with a known autocorrelation
  (:func:`ar1_autocorrelation`, :func:`ar_autocorrelation`), and
  :func:`ar1_coefficient_for_spread` picks the colour that gives a chosen eigenvalue spread;
* :func:`equalizer` is Haykin's adaptive-equalizer experiment (raised-cosine channel);
* :func:`system_identification` is the plain "identify an unknown FIR plant" problem, and
  :func:`independent_regressors` gives regressors that are independent over time, the case where
  LMS mode theory is exact in the mean.

Every random function takes ``rng`` (``None``, an int seed or a ``numpy.random.Generator``) and
never touches NumPy's global random state.

Shape conventions: time is the last axis of a signal, ``(..., T)``; regressors are
``(..., T, K)`` with one row per time step; an optional leading ``runs`` axis holds independent
realizations (an ensemble), which every filter in :mod:`lmsbn.filters` runs at once.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lmsbn._checks import as_float_array, as_generator, check_int, check_positive, describe
from lmsbn.spectral import Spectrum, toeplitz_autocorrelation, wiener

__all__ = [
    "Equalizer",
    "SystemIdentification",
    "ar",
    "ar1",
    "ar1_autocorrelation",
    "ar1_coefficient_for_spread",
    "ar_autocorrelation",
    "equalizer",
    "independent_regressors",
    "raised_cosine_channel",
    "system_identification",
    "tapped_delay_line",
]


# Regressors --------------------------------------------------------------------------------------


def tapped_delay_line(x, taps) -> np.ndarray:
    r"""Regressor vectors of a transversal (FIR) filter.

    Parameters
    ----------
    x : array_like, shape (T,) or (..., T)
        Signal, time along the last axis; leading axes (realizations) are kept.
    taps : int
        Filter length K >= 1.

    Returns
    -------
    U : ndarray, shape (..., T, taps)
        ``U[..., n, :] = [x(n), x(n-1), ..., x(n-taps+1)]`` (newest sample first), with a zero
        initial state: :math:`x(n) = 0` for :math:`n < 0`. A fresh array (not a view of ``x``).

    Notes
    -----
    This is the im2col of a 1-channel ``Conv1d`` with kernel size ``taps`` and left zero padding
    ``taps - 1``, with the columns reversed: a convolution layer computes a cross-correlation and
    lists the oldest sample first, the delay line lists the newest first. So a Conv1d weight
    ``k`` and a filter weight ``w`` describe the same map when ``w = k[::-1]``.

    The first ``taps - 1`` rows contain the zero initial state, so for a stationary signal their
    autocorrelation differs from the Toeplitz :math:`R`; drop them (``U[..., taps-1:, :]``) when
    that matters.
    """
    x = as_float_array(x, "x", min_ndim=1)
    taps = check_int(taps, "taps", min_value=1)
    pad = [(0, 0)] * (x.ndim - 1) + [(taps - 1, 0)]
    xp = np.pad(x, pad)
    # windows[..., n, j] = xp[..., n + j] = x(n - taps + 1 + j): oldest first, so reverse.
    windows = np.lib.stride_tricks.sliding_window_view(xp, taps, axis=-1)
    return windows[..., ::-1].copy()


def independent_regressors(n, R, *, runs=None, rng=None) -> np.ndarray:
    r"""Gaussian regressors, independent over time, with autocorrelation ``R``.

    Parameters
    ----------
    n : int
        Number of time steps (rows), >= 1.
    R : ndarray, shape (K, K), or Spectrum
        Symmetric positive semi-definite (may be singular).
    runs : int, optional
        Number of independent realizations; ``None`` returns a single one without the runs axis.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    U : ndarray, shape (n, K) or (runs, n, K)
        Rows i.i.d. :math:`\mathcal{N}(0, R)`.

    Notes
    -----
    :math:`u = Q \Lambda^{1/2} z`, :math:`z \sim \mathcal{N}(0, I)`, which has covariance
    :math:`Q\Lambda Q^T = R`. This square root (instead of a Cholesky factor) also works for a
    singular ``R``. With such regressors the LMS mean weight error obeys
    :math:`E c(n+1) = (I - \mu R) E c(n)` *exactly*, because :math:`u(n)` is independent of
    :math:`w(n)`; for a tapped delay line this is only the independence approximation
    (Haykin, *Adaptive Filter Theory*; tutorial 01 measures the gap).
    """
    spec = R if isinstance(R, Spectrum) else Spectrum.from_matrix(R)
    n = check_int(n, "n", min_value=1)
    shape = (n,) if runs is None else (check_int(runs, "runs", min_value=1), n)
    gen = as_generator(rng)
    z = gen.standard_normal(shape + (spec.K,))
    root = spec.eigenvectors.astype(np.float64) * np.sqrt(spec.eigenvalues.astype(np.float64))
    return z @ root.T


# Autoregressive inputs ---------------------------------------------------------------------------


def _check_ar1_coefficient(a) -> float:
    if isinstance(a, bool) or not isinstance(a, numbers.Real):
        raise TypeError(f"a must be a real number, got {describe(a)}")
    a = float(a)
    if not np.isfinite(a) or abs(a) >= 1:
        raise ValueError(f"a must satisfy |a| < 1 for a stationary AR(1) process, got {a}")
    return a


def _check_ar_coefficients(coeffs) -> np.ndarray:
    """Validate AR coefficients and check that the process is stable (stationary)."""
    coeffs = as_float_array(coeffs, "coeffs", ndim=1).astype(np.float64)
    # x(n) = sum_i a_i x(n-i) + v(n) is stable iff the roots of
    # z^p - a_1 z^{p-1} - ... - a_p lie strictly inside the unit circle.
    roots = np.roots(np.concatenate([[1.0], -coeffs]))
    radius = float(np.max(np.abs(roots))) if roots.size else 0.0
    if radius >= 1:
        raise ValueError(
            f"coeffs must define a stable AR process (all roots of z^p - a_1 z^(p-1) - ... - a_p "
            f"inside the unit circle), got coeffs={coeffs.tolist()} with largest root modulus "
            f"{radius:.6g}"
        )
    return coeffs


def ar_autocorrelation(coeffs, lags, noise_var=1.0) -> np.ndarray:
    r"""Autocorrelation sequence of a stationary AR(p) process, from the Yule-Walker equations.

    Parameters
    ----------
    coeffs : array_like, shape (p,)
        :math:`a_1, \dots, a_p` in :math:`x(n) = \sum_{i=1}^p a_i x(n-i) + v(n)`.
    lags : int
        Number of lags to return, >= 1.
    noise_var : float, default 1.0
        Innovation variance :math:`\sigma_v^2 = E[v(n)^2]`.

    Returns
    -------
    r : ndarray, shape (lags,)
        :math:`r(0), \dots, r(lags-1)`; ``toeplitz_autocorrelation(r)`` is the autocorrelation
        matrix of the ``lags``-tap delay line.

    Notes
    -----
    Multiplying the recursion by :math:`x(n-k)` and taking expectations gives the Yule-Walker
    equations

    .. math::

        r(k) = \sum_{i=1}^{p} a_i\, r(|k - i|) + \sigma_v^2\, \delta_k, \qquad k = 0, \dots, p,

    a linear system in :math:`r(0), \dots, r(p)`, solved here directly. Larger lags follow from
    the recursion :math:`r(k) = \sum_i a_i r(k-i)`.
    """
    a = _check_ar_coefficients(coeffs)
    lags = check_int(lags, "lags", min_value=1)
    noise_var = check_positive(noise_var, "noise_var")
    p = a.shape[0]
    # Row k: r(k) - sum_i a_i r(|k - i|) = noise_var * delta_k, unknowns r(0..p).
    A = np.eye(p + 1)
    for k in range(p + 1):
        for i in range(1, p + 1):
            A[k, abs(k - i)] -= a[i - 1]
    rhs = np.zeros(p + 1)
    rhs[0] = noise_var
    r = np.linalg.solve(A, rhs)
    if lags > p + 1:
        r = np.concatenate([r, np.zeros(lags - p - 1)])
        back = np.arange(1, p + 1)
        for k in range(p + 1, lags):
            r[k] = a @ r[k - back]  # sum_i a_i r(k - i)
    return r[:lags]


def ar(n, coeffs, *, noise_var=1.0, runs=None, rng=None, burn_in=0) -> np.ndarray:
    r"""Stationary Gaussian AR(p) signal.

    Parameters
    ----------
    n : int
        Number of samples, >= 1.
    coeffs : array_like, shape (p,)
        :math:`a_1, \dots, a_p` in :math:`x(n) = \sum_{i=1}^p a_i x(n-i) + v(n)`. Must be stable.
    noise_var : float, default 1.0
        Innovation variance :math:`E[v(n)^2]` (the *output* power is ``ar_autocorrelation(coeffs,
        1, noise_var)[0]``; :func:`ar1` uses the output-power convention instead).
    runs : int, optional
        Number of independent realizations; ``None`` returns shape ``(n,)``.
    rng : None, int or numpy.random.Generator
    burn_in : int, default 0
        Extra samples generated first and discarded. Not needed for stationarity (see Notes);
        it only changes which random numbers end up in the output.

    Returns
    -------
    x : ndarray, shape (n,) or (runs, n)

    Notes
    -----
    The start is *exactly* stationary: the first p samples are drawn jointly from
    :math:`\mathcal{N}(0, R_p)`, :math:`R_p` the p x p Toeplitz autocorrelation from
    :func:`ar_autocorrelation`, and the recursion continues from there, so the process is
    stationary from sample 0 and no transient has to be burnt off. The recursion runs as a
    Python loop over time (vectorised over runs): a direct, debuggable transcription of the
    difference equation.
    """
    a = _check_ar_coefficients(coeffs)
    n = check_int(n, "n", min_value=1)
    noise_var = check_positive(noise_var, "noise_var")
    burn_in = check_int(burn_in, "burn_in", min_value=0)
    shape = () if runs is None else (check_int(runs, "runs", min_value=1),)
    gen = as_generator(rng)
    p = a.shape[0]
    total = n + burn_in
    z = gen.standard_normal(shape + (max(total, p),))
    x = np.empty(shape + (max(total, p),))
    # Exact stationary start: [x(0), ..., x(p-1)] ~ N(0, R_p).
    R_p = toeplitz_autocorrelation(ar_autocorrelation(a, p, noise_var))
    x[..., :p] = z[..., :p] @ np.linalg.cholesky(R_p).T
    v = np.sqrt(noise_var) * z
    a_rev = a[::-1]  # multiplies [x(n-p), ..., x(n-1)]
    for t in range(p, total):
        x[..., t] = x[..., t - p : t] @ a_rev + v[..., t]
    return x[..., burn_in:total]


def ar1(n, a, *, power=1.0, runs=None, rng=None) -> np.ndarray:
    r"""Stationary Gaussian AR(1) signal :math:`x(n) = a\,x(n-1) + v(n)` of power ``power``.

    Parameters
    ----------
    n : int
        Number of samples, >= 1.
    a : float
        Coefficient, :math:`|a| < 1`. Larger :math:`|a|` means a more strongly coloured input and
        a larger eigenvalue spread of its delay-line autocorrelation.
    power : float, default 1.0
        Output variance :math:`E[x(n)^2]`; the innovation variance is
        :math:`\text{power}\,(1 - a^2)`. With this convention changing ``a`` changes the colour
        but not the power, so :math:`\operatorname{tr} R` = ``power * taps`` stays fixed.
    runs : int, optional
        Number of independent realizations; ``None`` returns shape ``(n,)``.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    x : ndarray, shape (n,) or (runs, n)
        Stationary from the first sample (:math:`x(0) \sim \mathcal{N}(0, \text{power})`), so the
        autocorrelation is :math:`r(k) = \text{power}\; a^{|k|}` (:func:`ar1_autocorrelation`).
        Identical (same ``rng``) to ``ar(n, [a], noise_var=power * (1 - a**2), ...)``.
    """
    a = _check_ar1_coefficient(a)
    power = check_positive(power, "power")
    return ar(n, [a], noise_var=power * (1 - a * a), runs=runs, rng=rng)


def ar1_autocorrelation(a, taps, power=1.0) -> np.ndarray:
    r"""Autocorrelation matrix of the ``taps``-tap delay line of an AR(1) signal.

    Parameters
    ----------
    a : float
        AR(1) coefficient, :math:`|a| < 1`.
    taps : int
        K >= 1.
    power : float, default 1.0
        Signal power :math:`r(0)` (the :func:`ar1` convention).

    Returns
    -------
    R : ndarray, shape (taps, taps)
        :math:`R_{ij} = \text{power}\; a^{|i-j|}`.
    """
    a = _check_ar1_coefficient(a)
    taps = check_int(taps, "taps", min_value=1)
    power = check_positive(power, "power")
    return toeplitz_autocorrelation(power * a ** np.arange(taps))


def _ar1_spread(a: float, taps: int) -> float:
    lam = np.linalg.eigvalsh(ar1_autocorrelation(a, taps))
    return float(lam[-1] / lam[0]) if lam[0] > 0 else float("inf")


def ar1_coefficient_for_spread(spread, taps) -> float:
    r"""The AR(1) coefficient :math:`a \in [0, 1)` whose ``taps``-tap :math:`R` has a given spread.

    Parameters
    ----------
    spread : float
        Target eigenvalue spread :math:`\chi = \lambda_{max}/\lambda_{min} \ge 1`.
    taps : int
        K >= 2 (a 1-tap R always has spread 1, so only ``spread == 1`` is allowed for K = 1).

    Returns
    -------
    a : float
        Found by bisection on :math:`a`, to machine precision in :math:`a`.

    Notes
    -----
    :math:`\chi(a)` increases strictly from 1 at :math:`a = 0` to :math:`\infty` as
    :math:`a \to 1` (for large K it approaches :math:`((1+a)/(1-a))^2`, the ratio of the largest to
    the smallest value of the AR(1) power spectrum), so the root is unique.
    """
    if isinstance(spread, bool) or not isinstance(spread, numbers.Real):
        raise TypeError(f"spread must be a real number, got {describe(spread)}")
    spread = float(spread)
    if not np.isfinite(spread) or spread < 1:
        raise ValueError(f"spread must be a finite number >= 1, got {spread}")
    taps = check_int(taps, "taps", min_value=1)
    if spread == 1:
        return 0.0
    if taps == 1:
        raise ValueError(f"a 1-tap R always has spread 1, got spread={spread} with taps=1")
    lo, hi = 0.0, 1.0
    while True:
        mid = (lo + hi) / 2
        if mid in (lo, hi):  # interval down to adjacent floats
            break
        if _ar1_spread(mid, taps) < spread:
            lo = mid
        else:
            hi = mid
    if hi == 1.0:
        raise ValueError(f"spread={spread} is too large to reach with taps={taps} in float64")
    # Return whichever end is closer to the target.
    return lo if abs(_ar1_spread(lo, taps) - spread) <= abs(_ar1_spread(hi, taps) - spread) else hi


# The adaptive equalizer (Haykin) -----------------------------------------------------------------


def raised_cosine_channel(W) -> np.ndarray:
    r"""Impulse response of Haykin's raised-cosine channel, shape (3,).

    Parameters
    ----------
    W : float
        Channel "width", > 0: larger W means more amplitude distortion (intersymbol
        interference), hence a larger eigenvalue spread at the equalizer input.

    Returns
    -------
    h : ndarray, shape (3,)
        :math:`h_n = \frac12\left[1 + \cos\left(\frac{2\pi}{W}(n - 2)\right)\right]`,
        n = 1, 2, 3 (so ``h[0]`` is :math:`h_1`). Symmetric, :math:`h_2 = 1`.

    References
    ----------
    S. Haykin, *Adaptive Filter Theory*, the LMS chapter's adaptive-equalization experiment.
    """
    W = check_positive(W, "W")
    n = np.arange(1, 4)
    return 0.5 * (1 + np.cos(2 * np.pi * (n - 2) / W))


@dataclass(frozen=True)
class Equalizer:
    r"""Haykin's adaptive-equalizer problem (*Adaptive Filter Theory*, LMS chapter; tutorial 01).

    A random :math:`\pm1` sequence :math:`a(n)` passes through the raised-cosine channel and picks
    up white Gaussian noise :math:`\nu(n)`:

    .. math::

        x(n) = \sum_{k=1}^{3} h_k\, a(n-k) + \nu(n), \qquad
        u(n) = [x(n), \dots, x(n - K + 1)], \qquad d(n) = a(n - \Delta).

    The equalizer (K = ``taps`` weights) learns to undo the channel with decision delay
    :math:`\Delta` = ``delay``.

    Attributes
    ----------
    W : float
        Channel parameter (see :func:`raised_cosine_channel`).
    taps : int
        Equalizer length K.
    noise_var : float
        Channel noise variance :math:`\sigma_\nu^2`.
    delay : int
        Decision delay :math:`\Delta`.

    Notes
    -----
    Theory (all exact for this model, since :math:`a` is white with unit power):

    * :math:`R` is Toeplitz with :math:`r(0) = h_1^2 + h_2^2 + h_3^2 + \sigma_\nu^2`,
      :math:`r(1) = h_1 h_2 + h_2 h_3`, :math:`r(2) = h_1 h_3`, and 0 beyond;
    * :math:`p_i = E[x(n-i)\, a(n-\Delta)] = \sum_k h_k E[a(n-i-k) a(n-\Delta)] = h_{\Delta - i}`
      when :math:`1 \le \Delta - i \le 3`, else 0 (i = 0, ..., K-1). With K = 11 and
      :math:`\Delta = 7` the channel's peak :math:`h_2` sits on the middle tap, i = 5;
    * :math:`w_o = R^{-1} p` and :math:`J_{min} = E[d^2] - p^T w_o = 1 - p^T w_o`.

    Haykin's table of eigenvalue spreads for W = 2.9, 3.1, 3.3, 3.5 (6.08, 11.12, 21.71, 46.82)
    is reproduced by :attr:`spectrum`.
    """

    W: float
    taps: int = 11
    noise_var: float = 0.001
    delay: int = 7

    def __post_init__(self):
        # Validate (and normalise types) even when constructed directly.
        object.__setattr__(self, "W", check_positive(self.W, "W"))
        object.__setattr__(self, "taps", check_int(self.taps, "taps", min_value=1))
        noise_var = check_positive(self.noise_var, "noise_var", allow_zero=True)
        object.__setattr__(self, "noise_var", noise_var)
        object.__setattr__(self, "delay", check_int(self.delay, "delay", min_value=0))

    @property
    def h(self) -> np.ndarray:
        """Channel impulse response :math:`[h_1, h_2, h_3]`, shape (3,)."""
        return raised_cosine_channel(self.W)

    @property
    def r(self) -> np.ndarray:
        """Autocorrelation of the equalizer input at lags 0..taps-1, shape (taps,)."""
        h = self.h
        r = np.zeros(max(self.taps, 3))
        r[0] = h @ h + self.noise_var
        r[1] = h[0] * h[1] + h[1] * h[2]
        r[2] = h[0] * h[2]
        return r[: self.taps]

    @property
    def R(self) -> np.ndarray:
        """Theoretical input autocorrelation matrix, shape (taps, taps)."""
        return toeplitz_autocorrelation(self.r)

    @property
    def spectrum(self) -> Spectrum:
        """``Spectrum.from_matrix(self.R)``."""
        return Spectrum.from_matrix(self.R)

    @property
    def p(self) -> np.ndarray:
        r"""Cross-correlation :math:`p_i = E[x(n-i)\,a(n-\Delta)]`, shape (taps,)."""
        p = np.zeros(self.taps)
        for k, hk in enumerate(self.h, start=1):
            i = self.delay - k  # x(n - i) contains h_k a(n - i - k) = h_k a(n - delay)
            if 0 <= i < self.taps:
                p[i] = hk
        return p

    @property
    def w_opt(self) -> np.ndarray:
        """Wiener equalizer :math:`R^{-1} p`, shape (taps,)."""
        return wiener(self.R, self.p)

    @property
    def J_min(self) -> float:
        """Minimum mean-square error :math:`1 - p^T w_o`."""
        return float(1.0 - self.p @ self.w_opt)

    def sample(self, n, *, runs=1, rng=None):
        r"""Draw regressors and desired responses.

        Parameters
        ----------
        n : int
            Number of time steps, >= 1.
        runs : int, default 1
            Number of independent realizations. The runs axis is always present, even for
            ``runs=1``, so ensemble code needs no special case.
        rng : None, int or numpy.random.Generator

        Returns
        -------
        U : ndarray, shape (runs, n, taps)
            Tapped-delay-line regressors of the channel output.
        d : ndarray, shape (runs, n)
            Desired response :math:`a(n - \Delta)`.

        Notes
        -----
        The symbols and the noise start well before n = 0 and the first rows are discarded, so
        every returned row has a full history: the channel is in steady state and the sample
        autocorrelation of ``U`` estimates :attr:`R` from the very first row.
        """
        n = check_int(n, "n", min_value=1)
        runs = check_int(runs, "runs", min_value=1)
        gen = as_generator(rng)
        K = self.taps
        # Channel output x(t) is needed for t = -(K-1), ..., n-1, which uses symbols down to
        # a(-(K-1) - 3); the desired response needs a(n - delay) down to a(-delay).
        lead = max(K - 1 + 3, self.delay)
        a = 2.0 * gen.integers(0, 2, size=(runs, lead + n)) - 1.0  # a[:, j] = a(j - lead)
        noise = np.sqrt(self.noise_var) * gen.standard_normal((runs, n + K - 1))
        h = self.h
        start = lead - (K - 1)  # column of a(-(K-1))
        x = noise.copy()  # x[:, j] = x(j - (K-1))
        for k, hk in enumerate(h, start=1):
            x += hk * a[:, start - k : start - k + n + K - 1]
        U = tapped_delay_line(x, K)[:, K - 1 :, :]
        d = a[:, lead - self.delay : lead - self.delay + n]
        return U, d


def equalizer(W, *, taps=11, noise_var=0.001, delay=7) -> Equalizer:
    """Haykin's adaptive-equalizer problem; see :class:`Equalizer`.

    Parameters
    ----------
    W : float
        Raised-cosine channel parameter (2.9, 3.1, 3.3, 3.5 in the textbook experiment).
    taps : int, default 11
    noise_var : float, default 0.001
    delay : int, default 7

    Examples
    --------
    >>> eq = equalizer(3.1)
    >>> round(eq.spectrum.spread, 2)
    11.12
    >>> U, d = eq.sample(500, runs=4, rng=0)
    >>> U.shape, d.shape
    ((4, 500, 11), (4, 500))
    """
    return Equalizer(W, taps, noise_var, delay)


# System identification ---------------------------------------------------------------------------


_REGRESSOR_KINDS = ("delay_line", "independent")


@dataclass(frozen=True, eq=False)
class SystemIdentification:
    r"""Identify an unknown FIR plant from noisy observations, :math:`d(n) = w_o^T u(n) + v(n)`.

    Attributes
    ----------
    plant : ndarray, shape (K,)
        The unknown system :math:`w_o` (read-only).
    noise_var : float
        Observation noise variance :math:`\sigma_v^2`.
    input_coeffs : ndarray, shape (p,)
        AR coefficients of the input signal; empty for white input.
    input_power : float
        Input signal power :math:`E[x(n)^2]`.
    regressors : {"delay_line", "independent"}
        ``"delay_line"``: :math:`u(n)` is the tapped delay line of the input signal (the classical
        filter; successive regressors overlap). ``"independent"``: i.i.d. Gaussian rows with the
        same :math:`R` (:func:`independent_regressors`), the case where LMS mode theory is exact.
    n : int
        Default number of samples for :meth:`sample`.
    runs : int
        Default number of realizations for :meth:`sample`.
    rng : None, int or numpy.random.Generator
        Default ``rng`` for :meth:`sample`. An int seed makes every default call return the same
        data; a ``Generator`` advances from call to call.

    Notes
    -----
    :math:`R` is the Toeplitz matrix of the input's autocorrelation (for white input
    ``input_power * I``), :math:`p = R w_o`, so the Wiener solution is the plant itself and
    :math:`J_{min} = \sigma_v^2` (the noise is independent of the input).
    """

    plant: np.ndarray
    noise_var: float
    input_coeffs: np.ndarray
    input_power: float
    regressors: str
    n: int
    runs: int
    rng: object = None

    @property
    def K(self) -> int:
        """Number of taps."""
        return int(self.plant.shape[0])

    @property
    def R(self) -> np.ndarray:
        """Theoretical input autocorrelation matrix, shape (K, K)."""
        if self.input_coeffs.size == 0:
            return self.input_power * np.eye(self.K)
        r = ar_autocorrelation(self.input_coeffs, self.K, 1.0)
        return toeplitz_autocorrelation(self.input_power * r / r[0])

    @property
    def spectrum(self) -> Spectrum:
        """``Spectrum.from_matrix(self.R)``."""
        return Spectrum.from_matrix(self.R)

    @property
    def p(self) -> np.ndarray:
        """Cross-correlation :math:`E[u\\,d] = R w_o`, shape (K,)."""
        return self.R @ self.plant

    @property
    def w_opt(self) -> np.ndarray:
        """The Wiener solution, equal to the plant, shape (K,)."""
        return np.array(self.plant)

    @property
    def J_min(self) -> float:
        """Minimum mean-square error, equal to the noise variance."""
        return self.noise_var

    def sample(self, n=None, *, runs=None, rng=None):
        """Draw regressors and desired responses.

        Parameters
        ----------
        n : int, optional
            Number of time steps; defaults to ``self.n``.
        runs : int, optional
            Number of realizations; defaults to ``self.runs``. The runs axis is always present.
        rng : None, int or numpy.random.Generator, optional
            Defaults to ``self.rng``.

        Returns
        -------
        U : ndarray, shape (runs, n, K)
        d : ndarray, shape (runs, n)
            ``d = U @ plant + noise``.

        Notes
        -----
        For ``"delay_line"`` regressors the input starts ``K - 1`` samples before n = 0 (and the
        AR input is stationary from its first sample, see :func:`ar`), so every row has a full
        history and the sample autocorrelation estimates :attr:`R` from the first row.
        """
        n = self.n if n is None else check_int(n, "n", min_value=1)
        runs = self.runs if runs is None else check_int(runs, "runs", min_value=1)
        gen = as_generator(self.rng if rng is None else rng)
        K = self.K
        if self.regressors == "independent":
            U = independent_regressors(n, self.R, runs=runs, rng=gen)
        else:
            length = n + K - 1
            if self.input_coeffs.size == 0:
                x = np.sqrt(self.input_power) * gen.standard_normal((runs, length))
            else:
                r0 = ar_autocorrelation(self.input_coeffs, 1, 1.0)[0]
                var = self.input_power / r0  # innovation variance giving power input_power
                x = ar(length, self.input_coeffs, noise_var=var, runs=runs, rng=gen)
            U = tapped_delay_line(x, K)[:, K - 1 :, :]
        d = U @ self.plant + np.sqrt(self.noise_var) * gen.standard_normal((runs, n))
        return U, d


def system_identification(
    plant,
    n=1000,
    *,
    noise_var=1e-3,
    input="white",
    input_power=1.0,
    regressors="delay_line",
    runs=1,
    rng=None,
) -> SystemIdentification:
    r"""A system-identification problem: learn the FIR ``plant`` from its noisy output.

    Parameters
    ----------
    plant : array_like, shape (K,)
        The unknown system :math:`w_o`.
    n : int, default 1000
        Default number of time steps drawn by ``.sample()``.
    noise_var : float, default 1e-3
        Observation noise variance (= :math:`J_{min}`), >= 0.
    input : "white" or sequence of float
        ``"white"``: white Gaussian input. A sequence: the AR coefficients
        :math:`a_1, \dots, a_p` of a coloured Gaussian input (e.g. ``[0.9]`` for AR(1)).
    input_power : float, default 1.0
        Input signal power :math:`E[x(n)^2]` (the AR innovations are scaled to achieve it).
    regressors : {"delay_line", "independent"}, default "delay_line"
        Tapped delay line of the input, or i.i.d. rows with the same :math:`R`.
    runs : int, default 1
        Default number of realizations drawn by ``.sample()``.
    rng : None, int or numpy.random.Generator
        Default random source of ``.sample()``.

    Returns
    -------
    SystemIdentification

    Examples
    --------
    >>> prob = system_identification([1.0, -0.5, 0.25], 200, input=[0.9], runs=8, rng=0)
    >>> U, d = prob.sample()
    >>> U.shape, d.shape
    ((8, 200, 3), (8, 200))
    """
    plant = as_float_array(plant, "plant", ndim=1).astype(np.float64)
    n = check_int(n, "n", min_value=1)
    noise_var = check_positive(noise_var, "noise_var", allow_zero=True)
    input_power = check_positive(input_power, "input_power")
    if isinstance(input, str):
        if input != "white":
            raise ValueError(f"input must be 'white' or AR coefficients, got {input!r}")
        coeffs = np.zeros(0)
    elif isinstance(input, (Sequence, np.ndarray)):
        coeffs = _check_ar_coefficients(input) if len(input) else np.zeros(0)
    else:
        raise TypeError(f"input must be 'white' or AR coefficients, got {describe(input)}")
    if regressors not in _REGRESSOR_KINDS:
        raise ValueError(f"regressors must be one of {_REGRESSOR_KINDS}, got {regressors!r}")
    runs = check_int(runs, "runs", min_value=1)
    as_generator(rng)  # validate now rather than at the first .sample()
    plant = plant.copy()
    plant.setflags(write=False)
    coeffs.setflags(write=False)
    return SystemIdentification(plant, noise_var, coeffs, input_power, regressors, n, runs, rng)
