"""Tests of lmsbn.experiments.bjorck (Bjorck et al. 2018)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from lmsbn.experiments import bjorck as B  # noqa: E402
from lmsbn.experiments.bjorck.training import _per_example_grads  # noqa: E402
from lmsbn.plot import (  # noqa: E402
    plot_activation_growth,
    plot_condition_growth,
    plot_gradient_histograms,
    plot_same_lr,
)

EULER = 0.5772156649015329


# ----------------------------------------------------------------------------- digamma
def test_digamma_known_values():
    # Closed forms; the series is accurate to a few ulp, so 1e-14 absolute is generous.
    assert B.digamma(1.0) == pytest.approx(-EULER, abs=1e-14)
    assert B.digamma(0.5) == pytest.approx(-EULER - 2 * np.log(2), abs=1e-14)
    # psi(n) = H_{n-1} - gamma for integers
    assert B.digamma(8.0) == pytest.approx(sum(1 / k for k in range(1, 8)) - EULER, abs=1e-14)
    assert B.digamma(1e6) == pytest.approx(np.log(1e6) - 0.5e-6, rel=1e-14)


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=1e-3, max_value=1e4))
def test_digamma_recurrence(x):
    # psi(x + 1) = psi(x) + 1/x; tolerance scaled by the magnitude of the terms (rounding only).
    lhs, rhs = B.digamma(x + 1), B.digamma(x) + 1 / x
    assert lhs == pytest.approx(rhs, abs=1e-12 * (1 + abs(rhs) + 1 / x))


def test_digamma_vectorised_and_validated():
    out = B.digamma(np.array([0.5, 1.0, 2.0]))
    assert out.shape == (3,)
    assert out[2] == pytest.approx(1 - EULER, abs=1e-14)
    with pytest.raises(ValueError, match="positive"):
        B.digamma(0.0)


# ----------------------------------------------------------------------------- Lyapunov
def test_lyapunov_gap_matches_its_closed_form():
    # lambda_1 - lambda_n = (psi(n/2) - psi(1/2)) / 2 = (H_{n/2 - 1} + 2 ln 2) / 2 for even n,
    # with psi(m) = H_{m-1} - gamma and psi(1/2) = -gamma - 2 ln 2: 1.98958 (n = 16) and 2.70677
    # (n = 64), computed here without B.digamma; float rounding only.
    for n in (16, 64):
        lam = B.lyapunov_exponents(n)
        assert np.all(np.diff(lam) < 0)
        harmonic = sum(1.0 / k for k in range(1, n // 2))
        assert lam[0] - lam[-1] == pytest.approx(0.5 * (harmonic + 2 * np.log(2)), abs=1e-12)


def test_lyapunov_sum_is_log_det_rate():
    # sum_k lambda_k = E ln|det M| per factor = 1/2 E ln det(W) for a Wishart: check n = 1 exactly:
    # lambda_1 = 1/2 (ln 2 + psi(1/2)) = E ln|z| for z ~ N(0, 1) = -(gamma + ln 2)/2.
    assert B.lyapunov_exponents(1)[0] == pytest.approx(-(EULER + np.log(2)) / 2, abs=1e-14)


def test_matrix_products_slope_matches_theory():
    n, depth, trials = 16, 40, 30
    res = B.random_matrix_products(n, depth, trials, rng=1)
    assert res.log_cond.shape == (trials, depth)
    # Each layer adds independent terms with mean lambda_1 - lambda_n and variance
    # (psi'(n/2) + psi'(1/2))/4 (Bartlett); psi'(1/2) = pi^2/2 and psi'(8) < 0.14. So the
    # per-trial endpoint slope S/L has std sqrt(var/L), the trial mean std sqrt(var/(L trials)).
    var = (0.14 + np.pi ** 2 / 2) / 4
    std = np.sqrt(var / (depth * trials))
    end_slope = res.log_cond[:, -1].mean() / depth
    assert abs(end_slope - res.theory_slope) < 5 * std
    # the least-squares slope over depths uses correlated points; allow the same 5-sigma with 2x.
    assert abs(res.slope - res.theory_slope) < 10 * std


def test_matrix_products_reproducible_and_roundtrip(tmp_path):
    a = B.random_matrix_products(4, 5, 3, rng=7)
    b = B.random_matrix_products(4, 5, 3, rng=7)
    np.testing.assert_array_equal(a.log_cond, b.log_cond)
    a.save(tmp_path / "m")
    c = B.MatrixProducts.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(c.log_cond, a.log_cond)
    assert c.n == 4
    with pytest.raises(ValueError, match="holds"):
        B.ActivationGrowth.load(tmp_path / "m.npz")
    ax = plot_condition_growth(a)
    assert ax.get_xlabel() and len(ax.lines) == 2
    np.testing.assert_allclose(ax.lines[1].get_ydata(), a.theory_slope * a.depths)
    plt.close("all")


# ----------------------------------------------------------------------------- networks
def test_activation_growth_exponential_without_bn(tmp_path):
    res = B.activation_growth(depth=12, width=8, fractions=[0.0, 0.5, 1.0], rng=0)
    assert res.means.shape == (2, 3, 12, 8)
    ratio = res.growth_ratio()[:, -1]
    # No BN: the step's effect compounds over 12 layers (measured ~1e5-1e6 for this seed); with BN
    # each block is renormalised, so the change stays within a factor of a few.
    assert ratio[0] > 1e3
    assert 0.1 < ratio[1] < 10
    assert ratio[0] > 100 * ratio[1]
    res.save(tmp_path / "a")
    back = B.ActivationGrowth.load(tmp_path / "a.npz")
    np.testing.assert_array_equal(back.variances, res.variances)
    assert back.lr == res.lr
    ax = plot_activation_growth(res)
    assert ax.get_yscale() == "log"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), res.relative_variance()[0, -1])
    plt.close("all")


def test_a_moderate_step_shrinks_the_deep_activations_without_bn():
    # The other direction of the same compounding (activation_growth's Notes): at lr = 1 the
    # plain net's gains fall below one, block after block. Measured for this seed: last over
    # first 2.3e-3 without BN, 0.95 with it; the bounds leave a factor of 20 and 3.
    res = B.activation_growth(depth=12, width=8, fractions=[0.0, 1.0], lr=1.0, rng=0)
    ratio = res.growth_ratio()[:, -1]
    assert ratio[0] < 0.05
    assert 1 / 3 < ratio[1] < 3
    # exponential in depth: log relative variance falls along the blocks (least-squares slope)
    slope = np.polyfit(np.arange(12), np.log(res.relative_variance()[0, -1]), 1)[0]
    assert slope < -0.2


@pytest.mark.parametrize("seed", [0, 1])
def test_gradients_are_heavy_tailed_without_bn_at_initialisation(seed):
    # Excess kurtosis of each conv layer's gradient entries (0 for a Gaussian). Measured at depth
    # 8 on 16 8x8 images: median over layers 13.1 / 7.3 without BN, 0.86 / 0.52 with it (seeds
    # 0 / 1); the bounds leave a factor of two or more on each side.
    res = B.gradient_statistics(depth=8, width=8, n=16, size=8, rng=seed)
    plain, bn = np.median(res.kurtosis, axis=1)
    assert plain > 3 and bn < 2
    assert plain > 3 * bn


def test_gradient_statistics_shapes_and_consistency(tmp_path):
    res = B.gradient_statistics(depth=4, width=4, n=8, size=8, bins=11, rng=0)
    assert res.counts.shape == (2, 4, 11)
    assert np.all((res.agreement > 0) & (res.agreement <= 1 + 1e-12))
    assert np.all((res.top_channel_share >= 1 / 4 - 1e-12) & (res.top_channel_share <= 1))
    # every gradient entry lands in a bin (clipped to +-8 sd): conv1 has 3*9*4 weights,
    # the rest 4*9*4
    np.testing.assert_array_equal(res.counts.sum(axis=2), [[108, 144, 144, 144]] * 2)
    res.save(tmp_path / "g")
    back = B.GradientStatistics.load(tmp_path / "g.npz")
    np.testing.assert_array_equal(back.kurtosis, res.kurtosis)
    assert back.lr == 0.0 and "at initialisation" in back.summary()
    ax = plot_gradient_histograms(res)
    assert ax.get_yscale() == "log"
    plt.close("all")


def test_gradients_become_input_independent_without_bn_after_a_large_step():
    # The abstract's "input-independent gradients", in lmsbn's measure: without BN, after a large
    # step, every example pushes a weight the same way. Seed-dependent (the plain net was above
    # BN for 7 of 8 weight seeds when this was written); with this seed the layer-mean agreement
    # is 0.90 without BN and 0.26 with it.
    res = B.gradient_statistics(depth=12, size=16, lr=10.0, rng=0)
    plain, bn = np.nanmean(res.agreement, axis=1)
    assert plain > 0.6 and bn < 0.4
    assert "after one SGD step of lr 10" in res.summary()


def test_per_example_gradients_sum_to_batch_gradient():
    from lmsbn.nn import functional as F

    X = np.random.default_rng(0).standard_normal((5, 3, 6, 6))
    y = np.array([0, 1, 2, 1, 0])
    model = B.deep_plain_cnn(3, 4, num_classes=3, norm=True, rng=0)
    rows, _ = _per_example_grads(model, X, y)
    _, dout = F.softmax_cross_entropy(model.forward(X), y)
    model.backward(dout)
    # Backprop is linear in dout, so the split is exact up to rounding.
    np.testing.assert_allclose(rows[0].sum(axis=0), model["conv1"].grads["weight"].ravel(),
                               rtol=1e-10, atol=1e-14)


@pytest.mark.slow
def test_same_lr_comparison_runs_and_roundtrips(tmp_path):
    res = B.same_lr_comparison(steps=8, n=64, widths=(4,), window=4, rng=0)
    assert res.loss.shape == (4, 8)
    assert list(res.labels) == ["BN", "no BN", "BN", "no BN"]
    assert "lr=" in res.verdict()
    res.save(tmp_path / "s")
    back = B.SameLRComparison.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(back.loss, res.loss)
    assert back.verdict() == res.verdict() and back.params == res.params
    ax = plot_same_lr(res)
    assert len(ax.lines) == 4
    plt.close("all")


def test_validation():
    with pytest.raises(TypeError, match="depth"):
        B.random_matrix_products(4, 2.5)
    with pytest.raises(ValueError, match="lr"):
        B.activation_growth(lr=-1.0)


def test_same_lr_plot_marks_a_diverged_run_and_keeps_the_others_visible():
    # A run that blows up to 1e9 before it is stopped: log y keeps the other curves readable, the
    # legend says it diverged, and an X marks its last finite loss.
    loss = np.array([[2.3, 2.0, 1.8, 1.7], [2.3, 1e3, 1e9, np.nan]])
    res = B.SameLRComparison(labels=np.array(["BN", "no BN"]), lrs=np.array([0.1, 5.0]),
                             loss=loss, diverged=np.array([False, True]),
                             final_loss=np.array([1.7, np.inf]))
    ax = plot_same_lr(res)
    assert ax.get_yscale() == "log"
    labels = [line.get_label() for line in ax.get_lines()]
    assert "no BN, lr=5 (diverged: X)" in labels and "BN, lr=0.1" in labels
    (x_mark,) = [line for line in ax.get_lines() if line.get_marker() == "x"]
    assert (x_mark.get_xdata()[0], x_mark.get_ydata()[0]) == (2, 1e9)
    plt.close("all")
