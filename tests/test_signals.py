"""Tests of lmsbn.filters.signals: delay lines, AR inputs, the equalizer, system identification."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmsbn.filters import signals as sg
from lmsbn.spectral import Spectrum, autocorrelation, wiener

pytestmark = pytest.mark.a2_spectral


def bartlett_std(r, k, N):
    r"""Standard deviation of the sample autocovariance at lag k of a Gaussian process.

    Bartlett (1946): Var[c^(k)] ~ (1/N) sum_m [c(m)^2 + c(m+k) c(m-k)], for N samples (pooling
    independent realizations just adds samples). ``r`` holds c(0), c(1), ... long enough for the
    tail to be negligible.
    """
    L = len(r)
    c = lambda m: r[abs(m)] if abs(m) < L else 0.0  # noqa: E731
    total = sum(c(m) ** 2 + c(m + k) * c(m - k) for m in range(-L + 1, L))
    return np.sqrt(total / N)


# ---------------------------------------------------------------------------------------------
# tapped_delay_line
# ---------------------------------------------------------------------------------------------


def test_tapped_delay_line_hand_example():
    U = sg.tapped_delay_line([1.0, 2.0, 3.0, 4.0], 3)
    # Newest sample first, zeros before n = 0.
    np.testing.assert_array_equal(U, [[1, 0, 0], [2, 1, 0], [3, 2, 1], [4, 3, 2]])
    assert U.dtype == np.float64  # integers would be converted too


@settings(max_examples=25, deadline=None)
@given(T=st.integers(1, 12), taps=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_tapped_delay_line_is_fir_filtering_and_reversed_conv1d_im2col(T, taps, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.normal(size=T), rng.normal(size=taps)
    U = sg.tapped_delay_line(x, taps)
    # U w is the FIR filter output with zero initial state: the first T terms of the full
    # convolution. Different summation order only: round-off of a few ulps.
    np.testing.assert_allclose(U @ w, np.convolve(x, w)[:T], rtol=0, atol=1e-12)
    # A Conv1d (cross-correlation) with left padding taps-1 and kernel k = w[::-1].
    xp = np.concatenate([np.zeros(taps - 1), x])
    conv = np.array([xp[n : n + taps] @ w[::-1] for n in range(T)])
    np.testing.assert_allclose(U @ w, conv, rtol=0, atol=1e-12)


def test_tapped_delay_line_ensemble_axes_and_copy():
    x = np.random.default_rng(0).normal(size=(2, 3, 5)).astype(np.float32)
    U = sg.tapped_delay_line(x, 4)
    assert U.shape == (2, 3, 5, 4) and U.dtype == np.float32
    for i, j in itertools.product(range(2), range(3)):
        np.testing.assert_array_equal(U[i, j], sg.tapped_delay_line(x[i, j], 4))
    U[0, 0, 0, 0] = 99.0  # a copy, not a view of x
    assert x[0, 0, 0] != 99.0


# ---------------------------------------------------------------------------------------------
# AR inputs
# ---------------------------------------------------------------------------------------------


def test_ar1_autocorrelation_closed_form():
    R = sg.ar1_autocorrelation(0.5, 4, power=2.0)
    i, j = np.indices((4, 4))
    np.testing.assert_allclose(R, 2.0 * 0.5 ** np.abs(i - j), rtol=1e-15)
    # The Yule-Walker route gives the same thing (innovation variance power * (1 - a^2)).
    r = sg.ar_autocorrelation([0.5], 4, noise_var=2.0 * 0.75)
    np.testing.assert_allclose(r, R[0], rtol=1e-14)


def test_ar_autocorrelation_against_impulse_response():
    # Independent route: r(k) = sigma^2 sum_j h_j h_{j+k}, h the impulse response of 1/A(z).
    a = np.array([0.5, -0.3, 0.2])
    h = np.zeros(400)
    h[0] = 1.0
    for n in range(1, 400):
        h[n] = sum(a[i] * h[n - 1 - i] for i in range(3) if n - 1 - i >= 0)
    r_ir = 0.7 * np.array([h[: 400 - k] @ h[k:] for k in range(8)])
    # |h_n| decays like 0.7^n, so truncating at 400 terms leaves ~1e-60: only round-off remains.
    np.testing.assert_allclose(sg.ar_autocorrelation(a, 8, noise_var=0.7), r_ir, rtol=1e-12)


def test_ar_rejects_unstable_coefficients():
    with pytest.raises(ValueError, match="coeffs must define a stable AR process"):
        sg.ar(10, [0.5, 0.6])  # roots 1.06 and -0.56
    with pytest.raises(ValueError, match="coeffs"):
        sg.ar_autocorrelation([1.0], 3)
    with pytest.raises(ValueError, match=r"\|a\| < 1"):
        sg.ar1(10, 1.0)


def test_ar1_is_ar_with_matching_innovations_and_reproducible():
    x1 = sg.ar1(50, 0.9, power=2.0, runs=3, rng=7)
    x2 = sg.ar(50, [0.9], noise_var=2.0 * (1 - 0.81), runs=3, rng=7)
    assert np.array_equal(x1, x2)
    assert np.array_equal(x1, sg.ar1(50, 0.9, power=2.0, runs=3, rng=7))
    assert sg.ar1(50, 0.9).shape == (50,) and x1.shape == (3, 50)


def test_ar1_starts_stationary():
    # x(0) must have the stationary variance `power`, not the innovation variance (0.19 here).
    # Sample variance of 20000 N(0, 1) values has std sqrt(2 / 20000) = 0.01; allow 5 of them.
    x = sg.ar1(2, 0.9, runs=20000, rng=1)
    assert abs(np.mean(x[:, 0] ** 2) - 1.0) < 5 * np.sqrt(2 / 20000)
    assert abs(np.mean(x[:, 0] * x[:, 1]) - 0.9) < 5 * np.sqrt(2 / 20000)


@pytest.mark.parametrize("coeffs", [[0.9], [0.5, -0.3]])
def test_sample_autocorrelation_of_ar_matches_theory(coeffs):
    taps, runs, n = 6, 4, 25_000
    x = sg.ar(n, coeffs, noise_var=1.0, runs=runs, rng=2)
    U = sg.tapped_delay_line(x, taps)[:, taps - 1 :]
    R_hat = autocorrelation(U)
    r = sg.ar_autocorrelation(coeffs, 300, noise_var=1.0)
    R = sg.toeplitz_autocorrelation(r[:taps])
    N = U.shape[0] * U.shape[1]
    # Entry (i, j) estimates r(|i - j|); five Bartlett standard deviations per lag.
    tol = np.array([bartlett_std(r, k, N) for k in range(taps)])
    lag = np.abs(np.subtract.outer(np.arange(taps), np.arange(taps)))
    assert np.all(np.abs(R_hat - R) <= 5 * tol[lag])


def test_ar1_coefficient_for_spread():
    for taps in (2, 5, 11):
        for spread in (1.0, 1.5, 10.0, 100.0, 1e4):
            a = sg.ar1_coefficient_for_spread(spread, taps)
            achieved = Spectrum.from_matrix(sg.ar1_autocorrelation(a, taps)).spread
            assert achieved == pytest.approx(spread, rel=1e-8)
    # 2 taps: eigenvalues 1 +- a, so a = (chi - 1) / (chi + 1) in closed form.
    assert sg.ar1_coefficient_for_spread(3.0, 2) == pytest.approx(0.5, rel=1e-14)
    with pytest.raises(ValueError, match="spread"):
        sg.ar1_coefficient_for_spread(0.5, 4)
    with pytest.raises(ValueError, match="taps=1"):
        sg.ar1_coefficient_for_spread(2.0, 1)


def test_random_functions_never_touch_global_state():
    before = np.random.get_state()[1].copy()
    sg.ar1(20, 0.5, rng=None)
    sg.independent_regressors(5, np.eye(2), rng=None)
    sg.equalizer(3.1).sample(10, rng=None)
    assert np.array_equal(np.random.get_state()[1], before)


# ---------------------------------------------------------------------------------------------
# independent_regressors
# ---------------------------------------------------------------------------------------------


def test_independent_regressors_covariance_and_singular_R():
    R = sg.ar1_autocorrelation(0.8, 3, power=2.0)
    U = sg.independent_regressors(40_000, R, runs=2, rng=3)
    assert U.shape == (2, 40_000, 3)
    N = 80_000
    # Gaussian rows: Var[u_i u_j] = R_ii R_jj + R_ij^2, so the entry's std is sqrt(that / N).
    std = np.sqrt((np.outer(np.diag(R), np.diag(R)) + R**2) / N)
    assert np.all(np.abs(autocorrelation(U) - R) <= 5 * std)
    u = np.array([1.0, 2.0, 2.0]) / 3
    U1 = sg.independent_regressors(100, np.outer(u, u), rng=4)
    # All rows lie on span(u): the orthogonal component is round-off only.
    P = np.eye(3) - np.outer(u, u)
    assert np.max(np.abs(U1 @ P)) < 1e-12


# ---------------------------------------------------------------------------------------------
# Equalizer
# ---------------------------------------------------------------------------------------------


def test_raised_cosine_channel():
    h = sg.raised_cosine_channel(3.1)
    np.testing.assert_allclose(h, 0.5 * (1 + np.cos(2 * np.pi * np.array([-1, 0, 1]) / 3.1)))
    assert h[1] == 1.0 and h[0] == h[2]


def test_equalizer_reproduces_haykins_eigenvalue_spreads():
    # Haykin, Adaptive Filter Theory, adaptive-equalizer experiment (11 taps, noise 0.001).
    table = {2.9: 6.0782, 3.1: 11.1238, 3.3: 21.7132, 3.5: 46.8216}
    spreads = [sg.equalizer(W).spectrum.spread for W in table]
    assert np.all(np.diff(spreads) > 0)
    np.testing.assert_allclose(spreads, list(table.values()), rtol=1e-3)
    eq = sg.equalizer(2.9)
    # r(0) = 1.0963 in Haykin's table (h1^2 + h2^2 + h3^2 + 0.001; rounding in the book's h).
    assert eq.r[0] == pytest.approx(1.0963, abs=2e-3) and eq.r[1] == pytest.approx(0.4388, abs=1e-4)
    assert np.all(eq.r[3:] == 0)


def test_equalizer_theory_is_consistent():
    eq = sg.equalizer(3.1)
    np.testing.assert_allclose(eq.R @ eq.w_opt, eq.p, rtol=0, atol=1e-12)
    # With delay 7 and 11 taps the channel (h3, h2, h1) sits on taps 4, 5, 6.
    np.testing.assert_array_equal(np.nonzero(eq.p)[0], [4, 5, 6])
    assert eq.p[5] == 1.0
    assert 0 < eq.J_min < 0.01  # a good 11-tap equalizer of a mild channel
    with pytest.raises(ValueError, match="W"):
        sg.equalizer(-1.0)
    with pytest.raises(TypeError, match="taps"):
        sg.equalizer(3.1, taps=2.5)


def _fourth_moment(eq):
    """E[x^4] for x = h . a + noise, a uniform on {-1, 1}^3 (exact, by enumeration)."""
    s = np.array([eq.h @ a for a in itertools.product([-1, 1], repeat=3)])
    return np.mean(s**4) + 6 * np.mean(s**2) * eq.noise_var + 3 * eq.noise_var**2


def test_equalizer_sample_matches_theory():
    eq = sg.equalizer(3.3)
    runs, n = 8, 25_000
    U, d = eq.sample(n, runs=runs, rng=5)
    assert U.shape == (runs, n, 11) and d.shape == (runs, n)
    assert set(np.unique(d)) == {-1.0, 1.0}
    N = runs * n
    # Conservative tolerance. Entry (i, j) averages x(m) x(m-k), k = |i-j|, over N rows. Each
    # term has variance <= E[x^4] (Cauchy-Schwarz), and terms more than k + 2 steps apart share
    # no symbol or noise sample, so at most 2k + 5 covariances per term are non-zero, each
    # bounded by the variance: Var[mean] <= (2k + 5) E[x^4] / N.
    m4 = _fourth_moment(eq)
    lag = np.abs(np.subtract.outer(np.arange(11), np.arange(11)))
    tol = 5 * np.sqrt((2 * lag + 5) * m4 / N)
    assert np.all(np.abs(autocorrelation(U) - eq.R) <= tol)
    # p: x(m-i) a(m-delay) has variance E[x^2] = r(0) (a^2 = 1); terms further apart than
    # delay + taps + 3 are independent, so Var[mean] <= (2 (7 + 11 + 3) + 1) r(0) / N.
    p_hat = np.mean(U * d[..., None], axis=(0, 1))
    assert np.all(np.abs(p_hat - eq.p) <= 5 * np.sqrt(43 * eq.r[0] / N))


def test_equalizer_is_in_steady_state_from_the_first_row():
    # Only the first row of each of 20000 independent runs: these rows are independent, so each
    # entry's std is at most sqrt(E[x^4] / runs). A zero initial state would fail badly
    # (U[0] = [x(0), 0, ..., 0] makes R_hat[1, 1] = 0 instead of r(0) ~ 1.2).
    eq = sg.equalizer(2.9)
    runs = 20_000
    U, d = eq.sample(1, runs=runs, rng=6)
    assert U.shape == (runs, 1, 11)
    assert np.all(np.abs(autocorrelation(U) - eq.R) <= 5 * np.sqrt(_fourth_moment(eq) / runs))


# ---------------------------------------------------------------------------------------------
# System identification
# ---------------------------------------------------------------------------------------------


def test_system_identification_theory():
    plant = [1.0, -0.5, 0.25, 0.1]
    white = sg.system_identification(plant, input_power=2.0, noise_var=0.01)
    np.testing.assert_array_equal(white.R, 2.0 * np.eye(4))
    ar = sg.system_identification(plant, input=[0.8], input_power=3.0)
    np.testing.assert_allclose(ar.R, sg.ar1_autocorrelation(0.8, 4, power=3.0), rtol=1e-14)
    np.testing.assert_allclose(wiener(ar.R, ar.p), plant, rtol=1e-12)
    np.testing.assert_array_equal(ar.w_opt, plant)
    assert white.J_min == 0.01 and ar.K == 4


@pytest.mark.parametrize("regressors", ["delay_line", "independent"])
def test_system_identification_sample(regressors):
    prob = sg.system_identification(
        [1.0, -0.5, 0.25], 20_000, input=[0.9], noise_var=0.04, regressors=regressors, runs=4, rng=8
    )
    U, d = prob.sample()
    assert U.shape == (4, 20_000, 3) and d.shape == (4, 20_000)
    N = U.shape[0] * U.shape[1]
    # The residual is the Gaussian noise: its sample variance has std sigma^2 sqrt(2 / N).
    resid = d - U @ prob.plant
    assert abs(np.mean(resid**2) - 0.04) < 5 * 0.04 * np.sqrt(2 / N)
    # Sample R: Bartlett bound for the delay line; for i.i.d. rows the Bartlett sum reduces to
    # its m = 0 term, which the same formula covers when r is cut to the needed lags only.
    r = sg.ar_autocorrelation([0.9], 300, noise_var=0.19)
    if regressors == "independent":
        std = np.sqrt((1 + prob.R**2) / N)  # Var[u_i u_j] = R_ii R_jj + R_ij^2, R_ii = 1
    else:
        lag = np.abs(np.subtract.outer(np.arange(3), np.arange(3)))
        std = np.array([bartlett_std(r, k, N) for k in range(3)])[lag]
    assert np.all(np.abs(autocorrelation(U) - prob.R) <= 5 * std)


def test_system_identification_rng_defaults():
    seeded = sg.system_identification([1.0, 2.0], 10, rng=3)
    assert np.array_equal(seeded.sample()[0], seeded.sample()[0])  # an int seed: same data
    gen = sg.system_identification([1.0, 2.0], 10, rng=np.random.default_rng(3))
    assert not np.array_equal(gen.sample()[0], gen.sample()[0])  # a Generator advances
    assert seeded.sample(5, runs=2)[0].shape == (2, 5, 2)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(input="pink"), ValueError, "input"),
        (dict(input=[1.2]), ValueError, "coeffs"),
        (dict(input=3), TypeError, "input"),
        (dict(regressors="lattice"), ValueError, "regressors"),
        (dict(noise_var=-1.0), ValueError, "noise_var"),
        (dict(runs=0), ValueError, "runs"),
        (dict(rng="seed"), TypeError, "rng"),
    ],
)
def test_system_identification_validates(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        sg.system_identification([1.0, 2.0], **kwargs)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: sg.tapped_delay_line(np.ones(4), 0), ValueError, "taps"),
        (lambda: sg.tapped_delay_line(np.ones((2, 0)), 2), ValueError, "x"),
        (lambda: sg.ar1(0, 0.5), ValueError, "n"),
        (lambda: sg.ar1(5, 0.5, power=0.0), ValueError, "power"),
        (lambda: sg.ar(5, [0.5], runs=-1), ValueError, "runs"),
        (lambda: sg.ar(5, [0.5], burn_in=-1), ValueError, "burn_in"),
        (lambda: sg.independent_regressors(5, np.ones((2, 3))), ValueError, "R"),
        (lambda: sg.equalizer(3.1).sample(0), ValueError, "n"),
    ],
)
def test_errors_name_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
