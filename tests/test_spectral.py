"""Tests of the analysis core, lmsbn.spectral."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmsbn import spectral as sp
from lmsbn.filters.signals import ar1_autocorrelation, independent_regressors

pytestmark = pytest.mark.a2_spectral

EPS = np.finfo(np.float64).eps


# ---------------------------------------------------------------------------------------------
# autocorrelation / toeplitz
# ---------------------------------------------------------------------------------------------


def test_autocorrelation_matches_definition_and_pools_leading_axes():
    rng = np.random.default_rng(0)
    U = rng.normal(size=(3, 50, 4))
    rows = U.reshape(150, 4)
    expected = sum(np.outer(u, u) for u in rows) / 150
    R = sp.autocorrelation(U)
    # Same sum in a different order: round-off of a few ulps of the entries (|R| ~ 1).
    np.testing.assert_allclose(R, expected, rtol=0, atol=1e-13)
    assert np.array_equal(R, R.T)  # exactly symmetric, by construction


def test_autocorrelation_center_gives_covariance_without_mean_spike():
    rng = np.random.default_rng(1)
    m = np.array([3.0, -1.0, 2.0])
    U = rng.normal(size=(400, 3)) + m
    R = sp.autocorrelation(U)
    C = sp.autocorrelation(U, center=True)
    ubar = U.mean(axis=0)
    # R = C + ubar ubar^T is an algebraic identity; only round-off separates the two sides.
    np.testing.assert_allclose(R, C + np.outer(ubar, ubar), rtol=0, atol=1e-12)
    # The mean spike inflates lambda_max: ||m||^2 = 14 against unit-variance coordinates.
    assert sp.Spectrum.from_matrix(R).lambda_max > 10 > 3 > sp.Spectrum.from_matrix(C).lambda_max


def test_autocorrelation_preserves_float32():
    U = np.random.default_rng(2).normal(size=(20, 3)).astype(np.float32)
    assert sp.autocorrelation(U).dtype == np.float32
    assert sp.Spectrum.from_regressors(U).eigenvalues.dtype == np.float32


def test_toeplitz_autocorrelation():
    R = sp.toeplitz_autocorrelation([3.0, 2.0, 1.0])
    np.testing.assert_array_equal(R, [[3, 2, 1], [2, 3, 2], [1, 2, 3]])


# ---------------------------------------------------------------------------------------------
# Spectrum
# ---------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    M=st.integers(1, 30),
    K=st.integers(1, 8),
    lead=st.integers(1, 3),
    center=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_spectrum_properties_on_random_regressors(M, K, lead, center, seed):
    U = np.random.default_rng(seed).normal(size=(lead, M, K)) * np.arange(1, K + 1)
    s = sp.Spectrum.from_regressors(U, center=center)
    lam, Q = s.eigenvalues, s.eigenvectors
    scale = max(s.lambda_max, 1.0)
    # Symmetric exactly; PSD after the documented clipping.
    assert np.array_equal(s.R, s.R.T)
    assert np.all(lam >= 0)
    assert np.all(np.diff(lam) <= 0)  # descending
    # Sum of eigenvalues = trace: eigh is backward stable, so the error is a few K eps ||R||
    # (the clipping of tiny negative eigenvalues adds at most 10 K eps ||R||).
    assert abs(lam.sum() - s.trace) <= 1e-12 * scale * K
    # Orthonormal eigenvectors and reconstruction, both O(K eps) by backward stability.
    np.testing.assert_allclose(Q.T @ Q, np.eye(K), rtol=0, atol=1e-12)
    np.testing.assert_allclose((Q * lam) @ Q.T, s.R, rtol=0, atol=1e-12 * scale)
    # Sign convention: the first largest-magnitude entry of every column is positive.
    for k in range(K):
        col = Q[:, k]
        top = np.flatnonzero(np.abs(col) >= np.abs(col).max() * (1 - 4 * np.sqrt(EPS)))[0]
        assert col[top] > 0
    assert s.num_samples == lead * M
    assert s.K == K
    # Rank-deficient R (fewer independent rows than taps): the round-off eigenvalues are below
    # K eps lambda_max (measured: < 0.7 K eps over 20000 random cases), well inside the clipping
    # tolerance 10 K eps lambda_max, so they must come out exactly 0 and the spread infinite.
    if lead * M - center < K:
        assert s.lambda_min == 0.0 and s.spread == np.inf


def test_spectrum_sign_convention_breaks_exact_ties_by_first_entry():
    # Eigenvectors of a symmetric Toeplitz matrix are symmetric or antisymmetric, so the largest
    # magnitude appears twice; the first occurrence must be the positive one.
    s = sp.Spectrum.from_matrix(ar1_autocorrelation(0.7, 6))
    for k in range(6):
        col = s.eigenvectors[:, k]
        np.testing.assert_allclose(np.abs(col), np.abs(col[::-1]), atol=1e-12)
        near_top = np.isclose(np.abs(col), np.abs(col).max(), rtol=4 * np.sqrt(EPS), atol=0)
        top = np.flatnonzero(near_top)[0]
        assert col[top] > 0


def test_spectrum_known_eigenvalues_and_scalar_summaries():
    R = np.diag([1.0, 4.0, 2.0])
    s = sp.Spectrum.from_matrix(R)
    np.testing.assert_array_equal(s.eigenvalues, [4.0, 2.0, 1.0])
    np.testing.assert_array_equal(s.eigenvectors, np.eye(3)[:, [1, 2, 0]])
    assert (s.trace, s.lambda_max, s.lambda_min, s.spread) == (7.0, 4.0, 1.0, 4.0)
    assert s.stability_bound() == 0.5
    np.testing.assert_allclose(s.mode_factors(0.1), [0.6, 0.8, 0.9], rtol=1e-15)
    np.testing.assert_allclose(s.time_constants(0.1), -1 / np.log([0.6, 0.8, 0.9]), rtol=1e-15)
    np.testing.assert_allclose(s.time_constants(0.1, exact=False), [2.5, 5.0, 10.0], rtol=1e-15)


def test_time_constants_edge_cases():
    s = sp.Spectrum.from_matrix(np.diag([4.0, 1.0, 0.0]))
    tau = s.time_constants(0.25)  # mu * lambda = 1, 0.25, 0
    assert tau[0] == 0 and np.isfinite(tau[1]) and tau[2] == np.inf
    assert s.time_constants(0.25, exact=False)[2] == np.inf
    assert s.time_constants(1.0)[0] == np.inf  # |1 - 4| > 1: a diverging mode never settles


def test_spectrum_clips_roundoff_but_rejects_indefinite():
    # Rank-one matrix: eigh returns two eigenvalues of order -1e-16 that must become exact 0.
    u = np.array([1.0, 2.0, 3.0]) / 7
    s = sp.Spectrum.from_matrix(np.outer(u, u))
    assert s.lambda_min == 0.0 and s.spread == np.inf
    with pytest.raises(ValueError, match="positive semi-definite"):
        sp.Spectrum.from_matrix([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3 and -1


@pytest.mark.parametrize(
    "R, match",
    [
        (np.ones((2, 3)), "square"),
        ([[1.0, 0.5], [0.0, 1.0]], "symmetric"),
        ([[1.0, np.nan], [np.nan, 1.0]], "finite"),
        (np.ones(3), "dimensions"),
    ],
)
def test_spectrum_rejects_bad_matrices(R, match):
    with pytest.raises(ValueError, match=match):
        sp.Spectrum.from_matrix(R)


def test_spectrum_is_immutable():
    s = sp.Spectrum.from_matrix(np.eye(2))
    with pytest.raises(ValueError):
        s.eigenvalues[0] = 5.0
    with pytest.raises(AttributeError):
        s.R = np.eye(3)


def test_spectrum_round_trips_through_npz_and_json_bit_for_bit(tmp_path):
    U = np.random.default_rng(3).normal(size=(40, 5))
    s = sp.Spectrum.from_regressors(U, center=True)
    d = s.to_dict()
    np.savez(tmp_path / "s.npz", **{k: v for k, v in d.items() if k != "meta"})
    (tmp_path / "s.json").write_text(json.dumps(d["meta"]))
    with np.load(tmp_path / "s.npz") as f:
        loaded = {k: f[k] for k in f.files}
    loaded["meta"] = json.loads((tmp_path / "s.json").read_text())
    t = sp.Spectrum.from_dict(loaded)
    for name in ("R", "eigenvalues", "eigenvectors"):
        assert np.array_equal(getattr(t, name), getattr(s, name))
    assert (t.num_samples, t.centered) == (40, True)
    # A corrupted file is caught.
    loaded["eigenvalues"] = loaded["eigenvalues"] * 1.01
    with pytest.raises(ValueError, match="inconsistent"):
        sp.Spectrum.from_dict(loaded)
    with pytest.raises(ValueError, match="missing"):
        sp.Spectrum.from_dict({"R": s.R})


# ---------------------------------------------------------------------------------------------
# Wiener, misadjustment, bounds
# ---------------------------------------------------------------------------------------------


def test_wiener_solves_and_rejects_singular():
    R = ar1_autocorrelation(0.8, 4)
    w = np.array([1.0, -2.0, 0.5, 3.0])
    # Condition number of R is < 100, so solve is accurate to ~100 eps relative.
    np.testing.assert_allclose(sp.wiener(R, R @ w), w, rtol=1e-12)
    with pytest.raises(ValueError, match="singular"):
        sp.wiener(np.ones((3, 3)), np.ones(3))
    with pytest.raises(ValueError, match="p must have 4 rows"):
        sp.wiener(R, np.ones(3))


def test_misadjustment_theories():
    lam = np.array([2.0, 1.0, 0.5])
    R = np.diag(lam)
    mu = 0.01
    assert sp.misadjustment(R, mu) == pytest.approx(mu / 2 * 3.5, rel=1e-15)
    for theory, denom in (("haykin", 2 - mu * lam), ("gaussian", 2 - 2 * mu * lam)):
        S = np.sum(mu * lam / denom)
        M = sp.misadjustment(R, mu, theory=theory)
        assert M == pytest.approx(S / (1 - S), rel=1e-14)
        # First-order agreement: M exceeds (mu/2) tr R by a relative O(mu tr R).
        assert 1 < M / sp.misadjustment(R, mu) < 1 + 2 * mu * 3.5
    assert sp.misadjustment(R, 1.5, theory="haykin") == np.inf  # mu * lambda_max = 3 > 2
    assert sp.misadjustment(R, 0.6, theory="gaussian") == np.inf  # mu * lambda_max > 1
    with pytest.raises(ValueError, match="theory"):
        sp.misadjustment(R, mu, theory="exact")


def test_stability_bounds_ordering_and_values():
    b = sp.stability_bounds(2.0 * np.eye(4))
    assert b.mean == 1.0 and b.mean_square == 0.25
    # R = s I_K: K mu s / (2 (1 - mu s)) = 1  <=>  mu = 2 / ((K + 2) s) = 1/6.
    assert b.mean_square_gaussian == pytest.approx(1 / 6, rel=1e-14)
    R = ar1_autocorrelation(0.9, 8)
    b = sp.stability_bounds(R)
    assert b.mean_square_gaussian < b.mean_square < b.mean
    mu = b.mean_square_gaussian
    assert np.isfinite(sp.misadjustment(R, mu * (1 - 1e-9), theory="gaussian"))
    assert sp.misadjustment(R, mu * (1 + 1e-9), theory="gaussian") == np.inf
    assert sp.stability_bounds(np.zeros((2, 2))).mean == np.inf


# ---------------------------------------------------------------------------------------------
# Natural modes
# ---------------------------------------------------------------------------------------------


def test_predicted_modes_match_exact_mean_recursion():
    # w(n+1) = w(n) - mu R (w(n) - w_o) is exactly the LMS mean recursion; its mode coordinates
    # must be (1 - mu lambda)^n v(0). Each step adds O(eps) relative round-off; after 200 steps
    # of a contraction the accumulated error stays far below 1e-12 for |v| ~ 1.
    R = ar1_autocorrelation(0.9, 6)
    s = sp.Spectrum.from_matrix(R)
    w_o = np.linspace(-1, 1, 6)
    mu, steps = 0.05, 200
    w = np.empty((steps + 1, 6))
    w[0] = np.zeros(6)
    for n in range(steps):
        w[n + 1] = w[n] - mu * R @ (w[n] - w_o)
    v = sp.mode_coordinates(w, s, w_o)
    pred = sp.predicted_modes(v[0], s, mu, steps)
    assert pred.shape == v.shape == (steps + 1, 6)
    np.testing.assert_allclose(pred, v, rtol=0, atol=1e-12)


def test_mode_coordinates_and_predicted_modes_ensemble_shapes():
    s = sp.Spectrum.from_matrix(np.diag([3.0, 2.0, 1.0]))
    w = np.random.default_rng(4).normal(size=(5, 7, 3))
    v = sp.mode_coordinates(w, s, np.ones(3))
    assert v.shape == (5, 7, 3)
    np.testing.assert_allclose(v, (w - 1)[..., [0, 1, 2]], rtol=0, atol=1e-15)
    v_each = sp.mode_coordinates(w, s, np.arange(15.0).reshape(5, 3))  # one w_ref per run
    np.testing.assert_allclose(v_each[2], sp.mode_coordinates(w[2], s, np.arange(6.0, 9.0)))
    assert sp.predicted_modes(v[:, 0], s, 0.1, 10).shape == (5, 11, 3)
    with pytest.raises(ValueError, match="w_ref"):
        sp.mode_coordinates(w, s, np.ones(4))
    with pytest.raises(ValueError, match="w_history"):
        sp.mode_coordinates(w[..., :2], s, np.ones(3))


def test_predicted_modes_diverge_quietly():
    s = sp.Spectrum.from_matrix(np.diag([10.0, 1.0]))
    v = sp.predicted_modes(np.ones(2), s, 1.0, 1000)  # factor -9: overflows to inf, no warning
    assert np.isinf(v[-1, 0]) and v[-1, 1] == 0.0


def test_lms_mean_mode_decay_is_exact_for_independent_regressors():
    # Independence theory (Haykin; spectral.predicted_modes): with regressors independent over
    # time, E v_k(n) = (1 - mu lambda_k)^n v_k(0).
    R = ar1_autocorrelation(0.8, 4)
    s = sp.Spectrum.from_matrix(R)
    w_o = np.array([1.0, -0.5, 0.25, 2.0])
    runs, steps, mu = 4000, 60, 0.1
    rng = np.random.default_rng(5)
    U = independent_regressors(steps, R, runs=runs, rng=rng)
    d = U @ w_o + 0.1 * rng.normal(size=(runs, steps))
    w = np.zeros((runs, steps + 1, 4))
    for n in range(steps):  # block-free LMS, vectorised over the ensemble
        e = d[:, n] - np.sum(U[:, n] * w[:, n], axis=1)
        w[:, n + 1] = w[:, n] + mu * e[:, None] * U[:, n]
    v = sp.mode_coordinates(w, s, w_o)
    pred = sp.predicted_modes(v[0, 0], s, mu, steps)  # same deterministic start in every run
    # The ensemble mean is unbiased; its standard error is std / sqrt(runs). Five standard
    # errors (plus a floor for the n = 0 row, where the std is 0) bound a true mismatch.
    se = v.std(axis=0) / np.sqrt(runs)
    assert np.all(np.abs(v.mean(axis=0) - pred) <= 5 * se + 1e-12)


# ---------------------------------------------------------------------------------------------
# Learning curve theory
# ---------------------------------------------------------------------------------------------


def test_learning_curve_theory_start_and_steady_state():
    R = ar1_autocorrelation(0.7, 5)
    s = sp.Spectrum.from_matrix(R)
    lam = s.eigenvalues
    c0 = np.array([1.0, -1.0, 0.5, 0.0, 2.0])
    J_min, mu = 0.01, 0.01
    J = sp.learning_curve_theory(R, mu, J_min, c0, 20000)
    assert J.shape == (20001,)
    assert J[0] == pytest.approx(J_min + c0 @ R @ c0, rel=1e-13)
    assert np.all(np.diff(J[:50]) < 0)
    # Steady state of the small-step recursion: x_k = mu J_min / (2 - mu lambda_k). The slowest
    # mode contracts by (1 - mu lambda_min)^2 per step, so after 20000 steps the transient is
    # below exp(-2 * 20000 * mu * lambda_min) of its start: negligible.
    M_small = np.sum(mu * lam / (2 - mu * lam))
    assert J[-1] == pytest.approx(J_min * (1 + M_small), rel=1e-10)
    # ... which is J_min (1 + (mu/2) tr R) to within the relative O(mu lambda_max) correction.
    M = sp.misadjustment(R, mu)
    assert abs(J[-1] / (J_min * (1 + M)) - 1) < mu * s.lambda_max
    # The other two theories settle at their own closed-form misadjustment.
    for theory in ("haykin", "gaussian"):
        Jx = sp.learning_curve_theory(s, mu, J_min, np.zeros(5), 20000, theory=theory)
        M = sp.misadjustment(R, mu, theory=theory)
        assert Jx[-1] == pytest.approx(J_min * (1 + M), rel=1e-10)
    # cross_terms is shorthand for theory="haykin" / "small_step".
    Jh = sp.learning_curve_theory(s, mu, J_min, c0, 50, theory="haykin")
    assert np.array_equal(sp.learning_curve_theory(s, mu, J_min, c0, 50, cross_terms=True), Jh)
    with pytest.raises(ValueError, match="not both"):
        sp.learning_curve_theory(s, mu, J_min, c0, 5, theory="gaussian", cross_terms=True)


def test_gaussian_learning_curve_is_exact_for_independent_gaussian_regressors():
    # Real Gaussian rows independent over time, independent noise: E[c^T R c] + J_min follows
    # the "gaussian" recursion exactly. mu tr R = 0.3 is large enough that "small_step" is
    # visibly wrong (this is the regime where the theories differ).
    lam = np.array([3.0, 2.0, 1.0])
    Q = np.linalg.qr(np.random.default_rng(6).normal(size=(3, 3)))[0]
    R = (Q * lam) @ Q.T
    w_o, J_min, mu, steps, runs = np.array([1.0, -1.0, 0.5]), 0.05, 0.05, 40, 20000
    rng = np.random.default_rng(7)
    U = independent_regressors(steps, R, runs=runs, rng=rng)
    d = U @ w_o + np.sqrt(J_min) * rng.normal(size=(runs, steps))
    w = np.zeros((runs, 3))
    excess = np.empty((runs, steps + 1))
    for n in range(steps + 1):
        c = w - w_o
        excess[:, n] = np.einsum("ri,ij,rj->r", c, R, c)
        if n < steps:
            e = d[:, n] - np.sum(U[:, n] * w, axis=1)
            w = w + mu * e[:, None] * U[:, n]
    J_mc = J_min + excess.mean(axis=0)
    se = excess.std(axis=0) / np.sqrt(runs)
    theory = sp.learning_curve_theory(R, mu, J_min, -w_o, steps, theory="gaussian")
    # Unbiased ensemble mean: 5 standard errors, plus a relative round-off floor for n = 0,
    # where every run has the same deterministic c(0) and se = 0.
    assert np.all(np.abs(J_mc - theory) <= 5 * se + 1e-12 * theory)
    small = sp.learning_curve_theory(R, mu, J_min, -w_o, steps)
    assert np.max((J_mc - small) / se) > 10  # the small-step theory is measurably too fast here


def test_learning_curve_theory_diverges_quietly():
    R = np.diag([2.0, 1.0])
    J = sp.learning_curve_theory(R, 1.5, 0.1, np.ones(2), 5000)  # mu > 2 / lambda_max = 1
    assert np.all(np.isfinite(J[:10])) and J[-1] == np.inf


# ---------------------------------------------------------------------------------------------
# Channel blocks
# ---------------------------------------------------------------------------------------------


def test_channel_blocks_structure_and_reassembly():
    # R of a 3-channel, 2x2-kernel layer whose channels are uncorrelated with powers s_c^2 and
    # the same spatial correlation T: R = diag(s^2) (x) T, K = 12.
    s2 = np.array([1.0, 4.0, 0.25])
    T = ar1_autocorrelation(0.5, 4)
    R = np.kron(np.diag(s2), T)
    R[0:4, 4:8] = R[4:8, 0:4] = 0.3 * T  # some coupling between channels 0 and 1
    cb = sp.channel_blocks(R, 3, (2, 2))
    assert cb.blocks.shape == (3, 3, 4, 4) and cb.kernel_size == (2, 2)
    np.testing.assert_array_equal(cb.blocks.transpose(0, 2, 1, 3).reshape(12, 12), R)
    np.testing.assert_allclose(cb.powers, 4 * s2, rtol=1e-15)
    assert cb.powers.sum() == pytest.approx(np.trace(R), rel=1e-15)
    assert cb.coupling[0, 1] == pytest.approx(1.2, rel=1e-15) and cb.coupling[0, 2] == 0
    assert cb.normalized_coupling[0, 1] == pytest.approx(1.2 / np.sqrt(4 * 16), rel=1e-15)
    np.testing.assert_allclose(np.diag(cb.normalized_coupling), 1.0, rtol=1e-15)
    assert cb.frobenius[0, 1] == pytest.approx(0.3 * np.linalg.norm(T), rel=1e-14)


def test_channel_blocks_of_a_filter_is_one_block():
    R = ar1_autocorrelation(0.9, 7)
    cb = sp.channel_blocks(sp.Spectrum.from_matrix(R), channels=1, kernel_size=7)
    np.testing.assert_array_equal(cb.blocks[0, 0], R)
    assert cb.powers[0] == pytest.approx(7.0)


def test_channel_blocks_validates():
    with pytest.raises(ValueError, match="channels \\* prod\\(kernel_size\\)"):
        sp.channel_blocks(np.eye(10), 3, 3)
    with pytest.raises(TypeError, match="kernel_size"):
        sp.channel_blocks(np.eye(9), 1, "3")


# ---------------------------------------------------------------------------------------------
# Input validation names the argument
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda s: s.mode_factors(-0.1), ValueError, "mu"),
        (lambda s: s.time_constants(0), ValueError, "mu"),
        (lambda s: sp.predicted_modes(np.ones(2), s, 0.1, -1), ValueError, "steps"),
        (lambda s: sp.predicted_modes(np.ones(3), s, 0.1, 5), ValueError, "v0"),
        (lambda s: sp.learning_curve_theory(s, 0.1, -1.0, np.ones(2), 5), ValueError, "J_min"),
        (lambda s: sp.learning_curve_theory(s, 0.1, 1.0, np.ones(3), 5), ValueError, "c0"),
        (lambda s: sp.learning_curve_theory(s, 0.1, 1.0, np.ones(2), 2.5), TypeError, "steps"),
        (lambda s: sp.misadjustment(s, "0.1"), TypeError, "mu"),
        (lambda s: sp.autocorrelation(np.ones(3)), ValueError, "U"),
        (lambda s: sp.autocorrelation(np.ones((3, 2)), center=1), TypeError, "center"),
        (lambda s: sp.mode_coordinates(np.ones((2, 2)), np.ones((2, 3)), np.ones(2)), ValueError,
         "spectrum must be a square"),
    ],
)
def test_errors_name_the_argument(call, exc, match):
    s = sp.Spectrum.from_matrix(np.diag([2.0, 1.0]))
    with pytest.raises(exc, match=match):
        call(s)
