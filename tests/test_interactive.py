"""The interactive explorers: their pure views and figures (no ipywidgets needed), the widgets
driven headless (skipped without ipywidgets), and bad input."""

import base64
import io
import sys

import numpy as np
import pytest
from figcheck import cut_off

from lmsbn import interactive
from lmsbn.interactive import (
    EqualizerView,
    LayerView,
    equalizer_view,
    layer_view,
    plot_equalizer_view,
    plot_layer_view,
)

# Small sizes: every test here stays well under a second or two.
EQ = dict(runs=20, steps=200)
LATE = slice(100, None)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    # drawing for real: a mathtext or layout error fails here
    fig.savefig(buf, format="png", dpi=40)
    return buf.getvalue()


def _measured(ax):
    """The ydata of the measured learning curve on the left axes (not the theory, not J_min)."""
    lines = [ln for ln in ax.get_lines() if ln.get_label().startswith(("LMS", "NLMS"))
             and not ln.get_label().endswith("theory")]
    assert len(lines) == 1, [ln.get_label() for ln in ax.get_lines()]
    return np.asarray(lines[0].get_ydata(), dtype=float)


# ---------------------------------------------------------------------- pure views, no widgets


def test_a_larger_step_converges_faster_in_the_view_and_in_its_figure():
    slow, fast = equalizer_view(mu=0.01, rng=0, **EQ), equalizer_view(mu=0.05, rng=0, **EQ)
    # Measured on seeds 0-3: late mean J is 0.18-0.19 at mu = 0.01 and 0.012-0.015 at mu = 0.05.
    assert fast.curve.mse[LATE].mean() < 0.3 * slow.curve.mse[LATE].mean()
    assert fast.curve.theory[LATE].mean() < 0.3 * slow.curve.theory[LATE].mean()
    y_slow = _measured(plot_equalizer_view(slow).axes[0])
    y_fast = _measured(plot_equalizer_view(fast).axes[0])
    np.testing.assert_array_equal(y_fast, fast.curve.mse)  # the figure draws the view's curve
    assert np.mean(y_fast[LATE]) < 0.3 * np.mean(y_slow[LATE])


def test_a_wider_channel_spreads_the_eigenvalues_and_slows_lms():
    easy = equalizer_view(W=2.9, mu=0.05, rng=1, **EQ)
    hard = equalizer_view(W=3.5, mu=0.05, rng=1, **EQ)
    assert hard.problem.spectrum.spread > 5 * easy.problem.spectrum.spread  # Haykin: 6.08 vs 46.8
    assert hard.curve.mse[LATE].mean() > 3 * easy.curve.mse[LATE].mean()


def test_the_mean_modes_follow_the_prediction_for_a_small_step():
    view = equalizer_view(mu=0.01, rng=2, **EQ)
    v, p = view.curve.mode_mean, view.predicted
    assert p.shape == v.shape == (EQ["steps"] + 1, view.problem.taps)
    # Independence theory at mu lambda_max = 0.024, 20 runs: measured deviations 0.006-0.02 of
    # ||v(0)|| (Monte Carlo noise); 0.1 leaves room for any seed while a wrong mu would not pass.
    assert np.max(np.abs(v - p)) / np.linalg.norm(v[0]) < 0.1
    fig = plot_equalizer_view(view)
    assert len(fig.axes) == 2 and _png(fig)[:8] == b"\x89PNG\r\n\x1a\n"
    assert cut_off(fig) == []


def test_nlms_uses_the_input_power_normalised_step_and_is_reproducible():
    a = equalizer_view(mu=0.5, rule="nlms", rng=3, **EQ)
    b = equalizer_view(mu=0.5, rule="nlms", rng=3, **EQ)
    assert a.mu_theory == pytest.approx(0.5 / a.problem.spectrum.trace, rel=1e-12)
    assert a.result.params["filter"] == "NLMS"
    np.testing.assert_array_equal(a.curve.mse, b.curve.mse)  # same seed, same computation
    assert not np.any(a.result.diverged)
    assert "NLMS mu~ = 0.5" in a.summary() and "mu~/tr R" in a.summary()


def test_a_diverging_step_is_recorded_and_still_drawn():
    view = equalizer_view(mu=1.0, runs=4, steps=100)  # mu lambda_max = 2.4: past the mean bound
    assert np.all(view.result.diverged)
    assert "4 of 4 runs diverged" in view.summary()
    fig = plot_equalizer_view(view)
    assert "diverged" in fig.axes[0].get_title()
    _png(fig)


def test_gamma_scales_the_next_layers_spectrum_by_gamma_squared():
    one = layer_view("full", gamma=1.0, steps=0, n_images=8)
    two = layer_view("full", gamma=2.0, steps=0, n_images=8)
    # beta = 0, ReLU and max-pool are positively homogeneous: R of conv2 scales as gamma^2.
    # Tolerance: eigh of a matrix scaled by 4 may round differently in its last bits.
    np.testing.assert_allclose(two.spectrum.eigenvalues, 4 * one.spectrum.eigenvalues,
                               rtol=1e-9, atol=1e-12 * one.spectrum.lambda_max)
    np.testing.assert_array_equal(two.reference.eigenvalues, one.reference.eigenvalues)
    plain = layer_view("none", steps=0, n_images=8)
    # The reference is the plain network with the same conv weights.
    np.testing.assert_array_equal(plain.spectrum.eigenvalues, one.reference.eigenvalues)
    assert one.history is None and one.trained is None


def test_the_first_step_comparison_is_there_for_full_batchnorm_only():
    full = layer_view("full", lr=1e-3, steps=2, n_images=8)
    assert "conv2" in full.report.layers and not full.history.diverged
    assert full.trained is not None and full.trained.K == full.spectrum.K
    assert "median rho" in full.summary()
    fig = plot_layer_view(full)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert [lab.split(" (")[0] for lab in labels] == [
        "none, init", "full, init", "full, after 2 steps"]
    assert fig.axes[1].collections  # rho and ratio scatter points
    _png(fig)
    assert cut_off(fig) == []
    center = layer_view("center", steps=0, n_images=8)
    assert not center.report.layers and "conv2" in center.report.skipped
    fig = plot_layer_view(center)
    assert not fig.axes[1].axison and "norm='center'" in fig.axes[1].texts[0].get_text()
    _png(fig)


def test_a_diverging_learning_rate_is_recorded_and_still_drawn():
    view = layer_view("none", lr=5.0, steps=3, n_images=8)  # measured: diverges at step 1
    assert view.history.diverged and view.trained is None
    fig = plot_layer_view(view)
    assert "diverged at step" in fig.axes[0].get_title()
    _png(fig)


def test_views_have_compact_reprs():
    view = layer_view("none", steps=0, n_images=4, layer="conv1")
    assert repr(view) == "LayerView(norm='none', gamma=1, lr=0.05, layer='conv1', steps=0)"
    assert isinstance(view, LayerView)
    assert repr(equalizer_view(runs=2, steps=5)) == "EqualizerView(W=3.1, mu=0.075, rule='lms')"


@pytest.mark.parametrize("call, exc, names", [
    (lambda: equalizer_view(mu=-0.1), ValueError, "mu"),
    (lambda: equalizer_view(mu="big"), TypeError, "mu"),
    (lambda: equalizer_view(W=0), ValueError, "W"),
    (lambda: equalizer_view(rule="rls"), ValueError, "rule"),
    (lambda: equalizer_view(runs=0), ValueError, "runs"),
    (lambda: equalizer_view(theory="exact", runs=2, steps=5), ValueError, "theory"),
    (lambda: equalizer_view(rng=-1), ValueError, "rng"),
    (lambda: layer_view("batch"), ValueError, "norm"),
    (lambda: layer_view(gamma=0.0), ValueError, "gamma"),
    (lambda: layer_view(lr=float("nan")), ValueError, "lr"),
    (lambda: layer_view(layer="relu1", n_images=4), ValueError, "layer"),
    (lambda: layer_view(layer=2, n_images=4), TypeError, "layer"),
    (lambda: layer_view(steps=-1), ValueError, "steps"),
    (lambda: layer_view(data=np.zeros((4, 3, 8, 8))), TypeError, "data"),
    (lambda: layer_view(data=(np.zeros((4, 1, 8, 8)), np.zeros(4, int))), ValueError, "data[0]"),
    (lambda: layer_view(data=(np.zeros((4, 3, 8, 8)), np.zeros(3, int))), ValueError, "data[1]"),
    (lambda: plot_equalizer_view("view"), TypeError, "view"),
    (lambda: plot_layer_view(None), TypeError, "view"),
])
def test_bad_input_names_the_argument(call, exc, names):
    with pytest.raises(exc, match=f"^{names.replace('[', '.').replace(']', '.')} "):
        call()


def test_without_ipywidgets_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # makes `import ipywidgets` fail
    for build in (interactive.equalizer_explorer, interactive.layer_explorer):
        with pytest.raises(ImportError, match=r'pip install "lmsbn\[notebooks\]"'):
            build()


# ------------------------------------------------------------------- the widgets, driven headless


@pytest.fixture
def widgets():
    return pytest.importorskip("ipywidgets")


def test_moving_the_mu_slider_redraws_a_faster_curve(widgets):
    ex = interactive.equalizer_explorer(mu=0.01, **EQ)
    assert set(ex.controls) == {"W", "mu", "rule"}
    assert isinstance(ex.controls["mu"], widgets.FloatLogSlider)
    before_y, before_png, before_text = _measured(ex.figure.axes[0]), ex.image.value, ex.text.value
    ex.controls["mu"].value = 0.05
    after_y = _measured(ex.figure.axes[0])
    assert ex.view.mu == pytest.approx(0.05) and isinstance(ex.view, EqualizerView)
    assert np.mean(after_y[LATE]) < 0.3 * np.mean(before_y[LATE])
    assert ex.image.value != before_png and ex.image.value[:4] == b"\x89PNG"
    assert "LMS mu = 0.05" in ex.text.value and ex.text.value != before_text
    ex.controls["W"].value = 3.5
    assert ex.view.problem.W == pytest.approx(3.5)
    assert "46.8" in ex.figure.axes[0].get_title()  # the eigenvalue spread of W = 3.5
    assert np.mean(_measured(ex.figure.axes[0])[LATE]) > 3 * np.mean(after_y[LATE])
    ex.controls["rule"].value = "nlms"
    assert ex.view.rule == "nlms" and ex.view.result.params["filter"] == "NLMS"
    assert len(ex.figure.axes) == 2  # redraws replace the axes, they do not pile up
    assert cut_off(ex.figure) == []  # the explorer's fixed margins hold its labels
    bundle = ex._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    # Without a widget manager (a static HTML page) the figure and the summary show instead.
    assert base64.b64decode(bundle["image/png"]) == ex.image.value
    assert bundle["text/plain"] == ex.view.summary()


def test_moving_gamma_and_the_norm_changes_the_layer_spectrum(widgets):
    ex = interactive.layer_explorer(steps=1, n_images=8)
    assert set(ex.controls) == {"norm", "layer", "gamma", "lr"}

    def lam_max(label):
        (line,) = [ln for ln in ex.figure.axes[0].get_lines() if ln.get_label().startswith(label)]
        return np.nanmax(line.get_ydata())

    one = lam_max("full, init")
    ex.controls["gamma"].value = 2.0
    assert ex.view.gamma == pytest.approx(2.0)
    # The plotted lambda_max of conv2 quadruples (gamma^2; see the pure test for the reason).
    assert lam_max("full, init") == pytest.approx(4 * one, rel=1e-9)
    assert lam_max("none, init") == pytest.approx(ex.view.reference.lambda_max, rel=1e-12)
    assert ex.figure.axes[1].collections  # the first-step comparison is drawn for "full"
    ex.controls["norm"].value = "center"
    assert ex.view.norm == "center" and not ex.figure.axes[1].axison
    loss, trained = ex.view.history.loss.copy(), lam_max("center, after 1 step")
    ex.controls["lr"].value = 0.5
    assert ex.view.lr == pytest.approx(0.5)
    # Measured: conv2's lambda_max after one step of `center` at gamma 2 is 611 at lr 0.05 and
    # 898 at lr 0.5 (from 655 at initialisation).
    assert abs(lam_max("center, after 1 step") / trained - 1) > 0.1
    assert ex.view.history.loss[0] == pytest.approx(loss[0], rel=1e-12)  # same data and weights
    ex.controls["layer"].value = "conv3"
    assert ex.view.spectrum.K == 32 * 9
    assert cut_off(ex.figure) == []


def test_explorers_check_their_arguments_before_building(widgets):
    with pytest.raises(ValueError, match="^mu "):
        interactive.equalizer_explorer(mu=0.0)
    with pytest.raises(ValueError, match="^layer "):
        interactive.layer_explorer(layer="bn2")
    with pytest.raises(ValueError, match="^norm "):
        interactive.layer_explorer(norm="batchnorm")
