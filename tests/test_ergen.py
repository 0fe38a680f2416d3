"""Ergen et al. (2021): closed form, non-convex training and the convex program agree.

The instances are small (n <= 20) so the whole file runs in a few seconds; the expensive part is
gradient descent through the library's layers, so it is trained once per instance (module-scoped
fixtures) and reused.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from lmsbn.experiments.ergen import (  # noqa: E402
    BNReLUNetwork,
    ClosedFormResult,
    ConvexResult,
    NonconvexResult,
    closed_form,
    convex_program,
    network_arrangements,
    sample_arrangements,
    train_nonconvex,
    whiten,
)
from lmsbn.experiments.ergen.model import neuron_from_coefficients  # noqa: E402

BETA = 0.3


def _instance(seed, n, d):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=n)


@pytest.fixture(scope="module")
def full_rank():
    """n = 6 <= d + 1: the whitened data has full rank, the closed form is exact."""
    X, y = _instance(4, 6, 12)
    return X, y, train_nonconvex(X, y, BETA, 6, steps=1000, restarts=2, rng=0)


@pytest.fixture(scope="module")
def low_rank():
    """n = 16 > d + 1 = 4: the closed form is only a lower bound; the convex program is needed."""
    X, y = _instance(5, 16, 3)
    return X, y, train_nonconvex(X, y, BETA, 8, steps=1000, restarts=2, rng=0)


# ----------------------------------------------------------------------------- whitening
def test_whitened_data_has_orthonormal_columns_and_the_constant_column():
    X, _ = _instance(0, 10, 4)
    w = whiten(X)
    assert w.rank == 4 and not w.full_rank
    # Orthonormality is an SVD property: equal to machine precision.
    np.testing.assert_allclose(w.U_prime.T @ w.U_prime, np.eye(5), atol=1e-12)
    np.testing.assert_allclose(w.U_prime[:, -1], 1 / np.sqrt(10))


def test_neuron_from_coefficients_reproduces_relu_of_the_whitened_combination():
    # A neuron built through the library's Linear -> BatchNorm1d -> ReLU -> Linear must output
    # sign * relu(U' c): this is the map from the convex program back to a network.
    X, _ = _instance(1, 9, 5)
    w = whiten(X)
    c = np.random.default_rng(2).normal(size=w.U_prime.shape[1])
    W, gamma, alpha, v = neuron_from_coefficients(c, -1.0, w)
    net = BNReLUNetwork(W=W[None], gamma=[gamma], alpha=[alpha], v=[v])
    np.testing.assert_allclose(net.forward(X), -np.maximum(w.U_prime @ c, 0), atol=1e-12)
    # Weight decay of the neuron = group-lasso penalty beta ||c||.
    assert net.regularizer(BETA) == pytest.approx(BETA * np.linalg.norm(c), rel=1e-12)


# ----------------------------------------------------------------------------- closed form
def test_closed_form_value_outputs_and_network():
    X, y = _instance(1, 8, 20)                  # n = 8 < d = 20: the full-rank regime
    res = closed_form(X, y, BETA)
    assert res.full_rank and res.network.width == 2
    # p* = sum over v in {y+, y-} of 1/2 min(||v||, beta)^2 + beta (||v|| - beta)_+ (Ergen et al.
    # 2021), written out here from y alone; float rounding only. (0.8297039 for this instance.)
    norms = [np.linalg.norm(np.maximum(s * y, 0)) for s in (1, -1)]
    p_star = sum(0.5 * min(v, BETA) ** 2 + BETA * max(v - BETA, 0.0) for v in norms)
    assert res.value == pytest.approx(p_star, rel=1e-12)
    yp, ym = np.maximum(y, 0), np.maximum(-y, 0)
    f = (1 - BETA / np.linalg.norm(yp)) * yp - (1 - BETA / np.linalg.norm(ym)) * ym
    np.testing.assert_allclose(res.outputs, f, atol=1e-14)
    # The two-neuron network evaluated by the library's layers attains p* (float rounding only).
    assert res.network.objective(X, y, BETA) == pytest.approx(res.value, rel=1e-10)
    np.testing.assert_allclose(res.network.forward(X), res.outputs, atol=1e-10)


def test_closed_form_when_beta_kills_a_part():
    # ||y-|| < beta: the negative part is shrunk to zero and costs ||y-||^2 / 2.
    X = np.random.default_rng(0).normal(size=(4, 6))
    y = np.array([2.0, 1.0, -0.1, 0.0])
    res = closed_form(X, y, 0.5)
    assert res.value == pytest.approx(0.5 * 0.5**2 + 0.5 * (np.sqrt(5) - 0.5) + 0.5 * 0.01)
    assert res.network.width == 1 and np.all(res.outputs >= 0)


def test_closed_form_requires_full_rank(low_rank):
    X, y, _ = low_rank
    with pytest.raises(ValueError, match="full rank"):
        closed_form(X, y, BETA)
    res = closed_form(X, y, BETA, require_full_rank=False)
    assert not res.full_rank and res.rank == 3 and res.network.width == 0
    assert "LOWER BOUND" in res.summary()


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(3, 7), beta=st.floats(0.1, 2.0))
def test_closed_form_equals_the_convex_program_on_random_full_rank_data(seed, n, beta):
    # Two independent computations of P*: the formula, and FISTA on the group lasso (which does
    # not know the formula).
    X, y = _instance(seed, n, n + 2)
    cf = closed_form(X, y, beta)
    # Near beta = ||y+|| or ||y-|| a neuron is on the verge of dying, the optimum is degenerate
    # and FISTA slows to a crawl (measured: about 1% of random instances); skip that kink.
    assume(min(abs(beta - cf.norm_pos), abs(beta - cf.norm_neg)) > 0.05)
    cv = convex_program(X, y, beta, arrangements=8, rng=seed, tol=1e-7, max_iter=20000)
    # tol = 1e-7 bounds the gradient mapping and the constraint violation; the objective is then
    # accurate to about 1e-6 relative. A sweep of 480 instances (beta 0.05 to 2): every converged
    # run was within 2e-6; the few flagged converged=False away from the kink were within 3e-5.
    assert cv.objective == pytest.approx(cf.value, rel=2e-6 if cv.converged else 1e-4)
    assert cf.network.objective(X, y, beta) == pytest.approx(cf.value, rel=1e-9)


# ----------------------------------------------------------------------------- non-convex
def test_nonconvex_training_reaches_the_closed_form(full_rank):
    X, y, nc = full_rank
    p_star = closed_form(X, y, BETA).value
    # p* is the global minimum: no network may go below it (beyond rounding) ...
    assert nc.objective >= p_star - 1e-9
    # ... and GD from restarts gets close but not exactly there (1000 steps leave a gap of about
    # 1e-4 relative on this instance, measured); 2e-3 is the agreement we claim.
    assert nc.objective == pytest.approx(p_star, rel=2e-3)
    # The stored network is the trained one: its objective recomputed through the layers agrees.
    assert nc.network.objective(X, y, BETA) == pytest.approx(nc.objective, rel=1e-12)


def test_nonconvex_divergence_is_recorded_not_raised():
    X, y = _instance(4, 6, 12)
    res = train_nonconvex(X, y, BETA, 4, steps=50, lr=50.0, restarts=2, rng=0)
    assert np.all(res.diverged_at >= 0) and np.isinf(res.objective)
    assert all(res.reasons) and res.network.width == 0
    assert np.isnan(res.history[0, -1])


def test_nonconvex_is_reproducible_from_a_seed():
    X, y = _instance(4, 6, 12)
    a = train_nonconvex(X, y, BETA, 3, steps=20, restarts=2, rng=7)
    b = train_nonconvex(X, y, BETA, 3, steps=20, restarts=2, rng=7)
    np.testing.assert_array_equal(a.history, b.history)


# ----------------------------------------------------------------------------- convex
def test_arrangements_are_distinct_and_start_with_all_ones():
    X, _ = _instance(3, 12, 4)
    pats = sample_arrangements(X, 50, rng=0)
    assert pats.dtype == bool and pats.shape[1] == 12
    assert pats[0].all() and pats.any(axis=1).all()
    assert len(np.unique(pats, axis=0)) == len(pats)
    np.testing.assert_array_equal(pats, sample_arrangements(X, 50, rng=0))


def test_convex_program_matches_closed_form_in_full_rank_regime(full_rank):
    X, y, nc = full_rank
    cf = closed_form(X, y, BETA)
    cv = convex_program(X, y, BETA, arrangements=30, rng=0, tol=1e-7)
    assert cv.converged
    # Solver tolerance 1e-7 on the gradient mapping and the constraints: the objective is
    # accurate to about 1e-6 relative.
    assert cv.objective == pytest.approx(cf.value, rel=1e-5)
    assert cv.objective <= nc.objective + 1e-5


def test_convex_program_is_below_the_trained_network(low_rank):
    X, y, nc = low_rank
    # Including the trained network's own arrangements makes it a feasible point of the program,
    # so the convex optimum cannot be above it (beyond the solver tolerance).
    pats = np.vstack([sample_arrangements(X, 40, rng=1), network_arrangements(nc.network, X)])
    cv = convex_program(X, y, BETA, arrangements=pats, tol=1e-6, max_iter=20000)
    assert cv.converged
    # tol = 1e-6 bounds the gradient mapping and the constraint violation; the objective is then
    # accurate to about 1e-6 relative, so 1e-5 is the margin.
    assert cv.objective <= nc.objective * (1 + 1e-5)
    # And the closed form, a lower bound here, is below both.
    assert closed_form(X, y, BETA, require_full_rank=False).value <= cv.objective
    # The network rebuilt from the convex solution attains the convex objective: the outputs
    # differ only where a constraint is violated, by at most max_violation per sample.
    assert cv.max_violation < 1e-5
    assert cv.network_objective == pytest.approx(cv.objective, rel=1e-5)
    assert cv.network.width == int(cv.active.sum()) > 0


def test_a_larger_penalty_costs_more_fista_iterations():
    # rho's trade-off (convex_program's docstring): past L_data, the smaller FISTA steps
    # 1/(L_data + rho) cost more iterations than the fewer multiplier updates save. Measured at
    # rho = 4 L_data against L_data: 2746 against 1630 iterations here, x1.5-1.7 on three other
    # instances; the test asks for x1.2. Both must reach the same optimum (tol 1e-4).
    X, y = _instance(5, 16, 3)
    base = convex_program(X, y, 0.1, arrangements=40, rng=0, max_iter=20000, tol=1e-4)
    L_data = base.lipschitz - base.rho                   # default rho = L_data
    big = convex_program(X, y, 0.1, arrangements=40, rng=0, max_iter=20000, tol=1e-4,
                         rho=4 * L_data)
    assert base.converged and big.converged
    assert big.objective == pytest.approx(base.objective, rel=1e-4)
    assert big.iterations > 1.2 * base.iterations


def test_convex_program_reports_non_convergence():
    X, y = _instance(5, 16, 3)
    cv = convex_program(X, y, BETA, arrangements=10, rng=0, max_iter=5)
    assert not cv.converged and cv.iterations == 5 and cv.history.size == 5
    assert "NOT converged" in cv.summary()


# ----------------------------------------------------------------------------- save/load
def _assert_same_network(a, b):
    for k in ("W", "gamma", "alpha", "v"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))


def test_results_round_trip(tmp_path, full_rank):
    # The protocol itself is tested over every type in test_results_keep.py; this checks that
    # real results (and the arguments they record) survive it.
    X, y, nc = full_rank
    cf = closed_form(X, y, BETA)
    cv = convex_program(X, y, BETA, arrangements=10, rng=0, max_iter=50)
    for res, cls in ((cf, ClosedFormResult), (nc, NonconvexResult), (cv, ConvexResult)):
        back = cls.load(res.save(tmp_path / cls.__name__))
        _assert_same_network(res.network, back.network)
        assert back.summary() == res.summary()
        assert back.params == res.params and back.params["beta"] == BETA
    back = NonconvexResult.load(tmp_path / "NonconvexResult.npz")
    np.testing.assert_array_equal(back.history, nc.history)
    assert back.reasons == nc.reasons
    back = ConvexResult.load(tmp_path / "ConvexResult.npz")
    np.testing.assert_array_equal(back.coefficients, cv.coefficients)
    np.testing.assert_array_equal(back.arrangements, cv.arrangements)
    np.testing.assert_array_equal(back.history, cv.history)
    assert cv.params["arrangements"] == 10 and cv.params["rng"] == 0
    with pytest.raises(ValueError, match="ergen.convex.ConvexResult"):
        ClosedFormResult.load(tmp_path / "ConvexResult.npz")


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("call, exc, match", [
    (lambda X, y: closed_form(X[0], y, BETA), ValueError, "X must have 2"),
    (lambda X, y: closed_form(X, y[:-1], BETA), ValueError, "y must have shape"),
    (lambda X, y: closed_form(X, y, 0.0), ValueError, "beta must be positive"),
    (lambda X, y: closed_form(X, y, "big"), TypeError, "beta"),
    (lambda X, y: closed_form(X[:1], y[:1], BETA), ValueError, "at least 2 rows"),
    (lambda X, y: closed_form(np.where(X > 1, np.nan, X), y, BETA), ValueError, "finite"),
    (lambda X, y: train_nonconvex(X, y, BETA, 0), ValueError, "width"),
    (lambda X, y: train_nonconvex(X, y, BETA, 2, momentum=1.0), ValueError, "momentum"),
    (lambda X, y: train_nonconvex(X, y, BETA, 2, lr=-1.0), ValueError, "lr"),
    (lambda X, y: convex_program(X, y, BETA, arrangements=np.ones((3, 2), bool)), ValueError,
     "arrangements must have shape"),
    (lambda X, y: convex_program(X, y, BETA, arrangements=np.ones((3, 6))), TypeError,
     "boolean"),
    (lambda X, y: convex_program(X, y, BETA, tol=0.0), ValueError, "tol"),
    (lambda X, y: network_arrangements("net", X), TypeError, "BNReLUNetwork"),
])
def test_bad_input(call, exc, match):
    X, y = _instance(4, 6, 12)
    with pytest.raises(exc, match=match):
        call(X, y)


def test_float32_and_column_targets_are_accepted():
    X, y = _instance(4, 6, 12)
    a = closed_form(X.astype(np.float32), y[:, None].astype(np.float32), BETA)
    b = closed_form(X.astype(np.float32), y.astype(np.float32), BETA)
    assert a.value == pytest.approx(b.value)


# ----------------------------------------------------------------------------- plots
def test_plots_show_the_data(full_rank):
    from lmsbn.plot import plot_ergen_convergence, plot_ergen_fit, plot_ergen_objectives

    X, y, nc = full_rank
    cf = closed_form(X, y, BETA)
    cv = convex_program(X, y, BETA, arrangements=10, rng=0, max_iter=200)
    ax = plot_ergen_objectives(nc, closed=cf, convex=cv)
    assert ax.get_yscale() == "log" and len(ax.lines) == nc.history.shape[0] + 2
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), nc.history[0])
    assert ax.lines[-2].get_ydata()[0] == cf.value
    ax = plot_ergen_fit(y, {"closed form": cf.outputs})
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), cf.outputs)
    ax = plot_ergen_convergence(cv, reference=cf.value)
    assert ax.get_yscale() == "log" and ax.get_xscale() == "log"
    assert ax.lines[0].get_xdata().size == cv.history.size
    plt.close("all")
