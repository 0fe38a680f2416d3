"""Figures and animations of lmsbn.plot (spectra, curves, animate): data on the axes, not pixels.

Every test builds its figures from real objects -- a Spectrum, an LMS ensemble run and its
LearningCurve, a ModeTracker record of a 5-step training run -- and checks what was drawn: line
data, bar heights, scales, labels, limits and frame counts. Drawn data are compared with
``assert_array_equal`` (exact): the plot functions pass the numbers through unchanged, so any
difference is a bug, not round-off.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.animation import FuncAnimation  # noqa: E402
from numpy.testing import assert_array_equal  # noqa: E402

from lmsbn.bridge import ModeTracker, layer_spectra  # noqa: E402
from lmsbn.data import shapes  # noqa: E402
from lmsbn.filters import LMS, ensemble_learning_curve, learning_curve  # noqa: E402
from lmsbn.filters.signals import ar1_autocorrelation, system_identification  # noqa: E402
from lmsbn.nn import small_cnn  # noqa: E402
from lmsbn.plot import (  # noqa: E402
    NORM_COLORS,
    animate_modes,
    plot_channel_blocks,
    plot_learning_curve,
    plot_mode_trajectories,
    plot_spectra,
    plot_spectrum,
    plot_training_modes,
    save_animation,
    to_html,
)
from lmsbn.spectral import (  # noqa: E402
    Spectrum,
    channel_blocks,
    learning_curve_theory,
    mode_coordinates,
    predicted_modes,
)
from lmsbn.train import History, train  # noqa: E402

MU = 0.05


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def spectrum():
    """A 4-tap AR(1) autocorrelation (a = 0.8): eigenvalues spanning more than a decade."""
    return Spectrum.from_matrix(ar1_autocorrelation(0.8, 4))


@pytest.fixture(scope="module")
def filter_run():
    """An LMS ensemble (12 runs x 120 samples) on a system-identification problem."""
    prob = system_identification([1.0, -0.5, 0.25, 0.1], 120, input=[0.8], runs=12,
                                 regressors="independent", rng=0)
    U, d = prob.sample()
    result = LMS(4, MU).run(U, d, record="every:4")
    curve = ensemble_learning_curve(result, spectrum=prob.spectrum, w_ref=prob.w_opt, mu=MU,
                                    J_min=prob.J_min)
    return prob, result, curve


@pytest.fixture(scope="module")
def trained():
    """A small CNN trained for 5 steps with a ModeTracker recording every step."""
    X, y = shapes(48, size=8, rng=0)
    model = small_cnn(widths=(3, 4), rng=0)
    tracker = ModeTracker(every=1, rng=0)
    history = train(model, X, y, steps=5, batch_size=16, callbacks=[tracker], rng=0)
    return model, X, tracker, history


def _labelled(ax, text):
    """The unique line whose label contains ``text``."""
    lines = [ln for ln in ax.get_lines() if text in ln.get_label()]
    assert len(lines) == 1, [ln.get_label() for ln in ax.get_lines()]
    return lines[0]


# --------------------------------------------------------------------------------- spectra
def test_plot_spectrum_draws_descending_eigenvalues_on_log_axis(spectrum):
    ax = plot_spectrum(spectrum, label="AR(1)")
    line = _labelled(ax, "AR(1)")
    assert_array_equal(line.get_xdata(), [1, 2, 3, 4])
    assert_array_equal(line.get_ydata(), spectrum.eigenvalues)
    assert ax.get_yscale() == "log"
    assert f"{spectrum.spread:.3g}" in line.get_label()  # the spread is in the legend
    assert ax.get_legend() is not None
    assert "mode index" in ax.get_xlabel() and "eigenvalue" in ax.get_ylabel()
    # Every stem is drawn from below the smallest eigenvalue up to its own eigenvalue.
    (stems,) = ax.collections
    segs = stems.get_segments()
    assert len(segs) == 4
    assert all(s[0, 1] < spectrum.lambda_min and s[1, 1] == lam
               for s, lam in zip(segs, spectrum.eigenvalues))


def test_plot_spectrum_array_is_sorted_and_matches_the_spectrum(spectrum):
    shuffled = spectrum.eigenvalues[[2, 0, 3, 1]]
    ax = plot_spectrum(shuffled, kind="line", normalize=True, log=False)
    (line,) = ax.get_lines()
    assert_array_equal(line.get_ydata(), spectrum.eigenvalues)
    assert_array_equal(line.get_xdata(), np.linspace(0, 1, 4))
    assert ax.get_yscale() == "linear" and not ax.collections  # a line has no stems


def test_plot_spectrum_masks_zero_eigenvalues_on_log_axis():
    singular = Spectrum.from_matrix(np.diag([2.0, 1.0, 0.0]))
    ax = plot_spectrum(singular)
    line = ax.get_lines()[0]
    assert_array_equal(line.get_ydata()[:2], [2.0, 1.0])
    assert np.isnan(line.get_ydata()[2])
    assert "infty" in line.get_label() and "1 zero not shown" in line.get_label()


@pytest.mark.parametrize("bad, err", [
    ([1.0, -0.5], ValueError),            # eigenvalues of an autocorrelation are >= 0
    (np.eye(3), ValueError),              # a matrix is not a list of eigenvalues
    ("spectrum", TypeError),
])
def test_plot_spectrum_rejects_bad_eigenvalues(bad, err):
    with pytest.raises(err, match="spectrum_or_eigenvalues"):
        plot_spectrum(bad)


def test_plot_spectrum_rejects_bad_options(spectrum):
    with pytest.raises(ValueError, match="kind"):
        plot_spectrum(spectrum, kind="bars")
    with pytest.raises(TypeError, match="log"):
        plot_spectrum(spectrum, log="yes")


def test_plot_spectra_puts_a_filter_and_layers_on_one_normalised_axis(spectrum, trained):
    model, X, _, _ = trained
    layers = layer_spectra(model, X[:16], rng=0)
    ax = plot_spectra({"filter": spectrum, **layers})
    assert len(ax.get_lines()) == 1 + len(layers)
    for name, spec in {"filter": spectrum, **layers}.items():
        line = _labelled(ax, name)
        assert_array_equal(line.get_ydata(), spec.eigenvalues)
        assert line.get_xdata()[0] == 0 and line.get_xdata()[-1] == 1
    assert ax.get_yscale() == "log"
    assert "normalised" in ax.get_xlabel()


def test_plot_spectra_norm_colours_and_auto_normalisation(spectrum):
    twice = Spectrum.from_matrix(2 * spectrum.R)
    ax = plot_spectra({"none": twice, "full": spectrum}, normalize="auto", kind="stem")
    assert matplotlib.colors.same_color(_labelled(ax, "none").get_color(), NORM_COLORS["none"])
    assert matplotlib.colors.same_color(_labelled(ax, "full").get_color(), NORM_COLORS["full"])
    assert_array_equal(_labelled(ax, "full").get_xdata(), [1, 2, 3, 4])  # same sizes: raw index
    # Overlaid stems share one baseline below every eigenvalue.
    bottoms = {s[0, 1] for c in ax.collections for s in c.get_segments()}
    assert len(bottoms) == 1 and bottoms.pop() < spectrum.lambda_min


def test_plot_spectra_rejects_bad_input(spectrum):
    with pytest.raises(ValueError, match="empty"):
        plot_spectra({})
    with pytest.raises(TypeError, match="dict"):
        plot_spectra([spectrum])
    with pytest.raises(ValueError, match="normalize"):
        plot_spectra({"a": spectrum}, normalize="sometimes")


def test_plot_channel_blocks_coupling_and_normalized(trained):
    model, X, _, _ = trained
    spec = layer_spectra(model, X[:16], rng=0)["conv2"]  # 3 input channels, 3x3 kernel
    blocks = channel_blocks(spec, 3, (3, 3))
    ax = plot_channel_blocks(spec, 3, (3, 3))
    image = ax.images[-1]
    assert_array_equal(image.get_array(), blocks.coupling)
    assert image.get_cmap().name == "viridis"  # post-ReLU inputs: non-negative coupling
    assert image.colorbar is not None
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]

    ax = plot_channel_blocks(spec.R, 3, 9, what="normalized")
    image = ax.images[-1]
    assert_array_equal(image.get_array(), blocks.normalized_coupling)
    assert image.get_clim() == (-1.0, 1.0) and image.get_cmap().name == "RdBu_r"

    ax = plot_channel_blocks(spec, 3, (3, 3), what="full")
    assert_array_equal(ax.images[-1].get_array(), spec.R)  # im2col order: blocks are contiguous


def test_plot_channel_blocks_rejects_mismatched_sizes(spectrum):
    with pytest.raises(ValueError, match="channels"):
        plot_channel_blocks(spectrum, 3, 3)  # K = 4 is not 3 * 3
    with pytest.raises(ValueError, match="what"):
        plot_channel_blocks(spectrum, 1, 4, what="eigen")


# --------------------------------------------------------------------------------- curves
def test_plot_learning_curve_with_theory_and_J_min(filter_run):
    prob, _, curve = filter_run
    ax = plot_learning_curve(curve, J_min=prob.J_min)
    sim = _labelled(ax, "simulation (12 runs)")
    assert_array_equal(sim.get_ydata(), curve.mse)
    theory = _labelled(ax, "theory")
    assert_array_equal(theory.get_ydata(), curve.theory)
    assert theory.get_linestyle() == "--" and theory.get_color() == sim.get_color()
    assert_array_equal(_labelled(ax, "J_{min}").get_ydata(), [prob.J_min, prob.J_min])
    assert ax.get_yscale() == "log"
    assert "iteration" in ax.get_xlabel()


def test_plot_learning_curve_array_with_a_longer_theory_is_trimmed(filter_run):
    prob, result, curve = filter_run
    mse = learning_curve(result)
    c0 = prob.spectrum.eigenvectors @ curve.mode_mean[0]
    theory = learning_curve_theory(prob.spectrum, MU, prob.J_min, c0, mse.size)  # T + 1 points
    ax = plot_learning_curve(result)  # a FilterResult is averaged by learning_curve
    assert_array_equal(_labelled(ax, "simulation (12 runs)").get_ydata(), mse)
    ax = plot_learning_curve(mse, theory=theory, log=False, label="LMS")
    assert_array_equal(_labelled(ax, "LMS, theory").get_ydata(), theory[:-1])
    assert ax.get_yscale() == "linear"
    with pytest.raises(ValueError, match="theory must have 120 or 121 points"):
        plot_learning_curve(mse, theory=theory[:50])


def test_plot_learning_curve_of_training_history_marks_divergence(trained):
    _, _, _, history = trained
    ax = plot_learning_curve(history)
    assert_array_equal(_labelled(ax, "training loss").get_ydata(), history.loss)
    assert ax.get_xlabel() == "training step"
    # A diverged run: the inf loss is not drawn and the step is marked.
    broken = History(loss=np.array([2.0, 1.5, np.inf]), accuracy=np.full(3, np.nan),
                     diverged=True, diverged_at=2, reason="non-finite loss")
    ax = plot_learning_curve(broken)
    assert np.isnan(_labelled(ax, "training loss").get_ydata()[2])
    assert_array_equal(_labelled(ax, "diverged at step 2").get_xdata(), [2, 2])


def test_plot_learning_curve_rejects_bad_input():
    with pytest.raises(ValueError, match="curve_or_mse"):
        plot_learning_curve(np.ones((3, 4)))
    with pytest.raises(ValueError, match="J_min"):
        plot_learning_curve(np.ones(4), J_min=-1.0)


def test_plot_mode_trajectories_measured_vs_predicted(filter_run):
    prob, _, curve = filter_run
    pred = predicted_modes(curve.mode_mean[0], prob.spectrum, MU, 120)
    ax = plot_mode_trajectories(curve, pred, spectrum=prob.spectrum)
    # Default modes: fastest, middle, slowest of K = 4 -> columns 0, 2, 3, labelled v_1, v_3, v_4.
    for k in (0, 2, 3):
        measured = _labelled(ax, f"$v_{{{k + 1}}}$ measured")
        assert_array_equal(measured.get_xdata(), curve.mode_steps)
        assert_array_equal(measured.get_ydata(), curve.mode_mean[:, k])
        assert f"{prob.spectrum.eigenvalues[k]:.3g}" in measured.get_label()
        predicted = _labelled(ax, f"$v_{{{k + 1}}}$ predicted")
        assert_array_equal(predicted.get_ydata(), pred[:, k])
        assert predicted.get_color() == measured.get_color()
    assert ax.get_yscale() == "linear"


def test_plot_mode_trajectories_ensemble_array_and_log(filter_run):
    prob, result, _ = filter_run
    v = mode_coordinates(result.w_history, prob.spectrum, prob.w_opt)  # (12, S, 4)
    ax = plot_mode_trajectories(v, modes=[1], log=True, steps=result.history_steps)
    (line,) = ax.get_lines()
    assert_array_equal(line.get_ydata(), np.abs(v.mean(axis=0)[:, 1]))
    assert ax.get_yscale() == "log"
    # The axis stops a decade below the smallest measured value, not at the theory's 1e-20.
    assert ax.get_ylim()[0] == pytest.approx(np.abs(v.mean(axis=0)[:, 1]).min() / 10)


def test_plot_mode_trajectories_rejects_mismatched_shapes(filter_run):
    _, _, curve = filter_run
    with pytest.raises(ValueError, match="predicted must have shape"):
        plot_mode_trajectories(curve, np.zeros((10, 3)))
    with pytest.raises(ValueError, match="modes must be <= 3"):
        plot_mode_trajectories(curve, modes=[4])
    with pytest.raises(ValueError, match="steps must have shape"):
        plot_mode_trajectories(curve.mode_mean, steps=np.arange(5))
    no_modes = ensemble_learning_curve(filter_run[1])
    with pytest.raises(ValueError, match="without mode statistics"):
        plot_mode_trajectories(no_modes)


def test_plot_training_modes_from_a_tracker_record(trained):
    _, _, tracker, _ = trained
    rec = tracker.record["conv2"]
    ax = plot_training_modes(rec, filter=1)
    K = rec.modes.shape[-1]
    lines = ax.get_lines()
    assert len(lines) == 3  # largest, middle and smallest eigenvalue
    for line, k in zip(lines, (0, K // 2, K - 1)):
        assert_array_equal(line.get_xdata(), rec.steps)
        y = line.get_ydata()
        assert_array_equal(y[:-1], np.abs(rec.modes[:-1, 1, k]))
        assert np.isnan(y[-1])  # the final record is 0 against the final weights: not drawable
    assert ax.get_yscale() == "log"
    assert rec.case in ax.get_title()


def test_plot_training_modes_rejects_bad_input(trained):
    rec = trained[2].record["conv2"]
    with pytest.raises(ValueError, match="filter must be <= 3"):
        plot_training_modes(rec, filter=4)
    with pytest.raises(TypeError, match="LayerModes"):
        plot_training_modes(rec.modes)


# --------------------------------------------------------------------------------- animate
def _render(anim):
    """Draw the figure once, as a notebook would; it also starts the animation."""
    anim._fig.canvas.draw()


def test_animate_modes_from_a_tracker_record(trained):
    rec = trained[2].record["conv1"]
    anim = animate_modes(rec, filter=2, interval=50)
    _render(anim)
    assert isinstance(anim, FuncAnimation)
    T, _, K = rec.modes.shape
    assert len(list(anim.new_saved_frame_seq())) == T
    ax_v, ax_lam = anim._fig.axes[:2]
    assert ax_v.get_yscale() == ax_lam.get_yscale() == "log"
    heights = [p.get_height() for p in ax_v.patches]
    assert_array_equal(heights, np.abs(rec.modes[0, 2]))
    assert_array_equal(ax_lam.get_lines()[0].get_ydata(), rec.eigenvalues[0])
    anim.show_frame(3)
    assert_array_equal([p.get_height() for p in ax_v.patches], np.abs(rec.modes[3, 2]))
    assert_array_equal(ax_lam.get_lines()[0].get_ydata(), rec.eigenvalues[3])
    assert any(t.get_text().startswith("step 3") for t in ax_v.texts)
    # The limits are fixed over all frames and hold every positive value.
    lo, hi = ax_v.get_ylim()
    pos = np.abs(rec.modes[:, 2])[np.abs(rec.modes[:, 2]) > 0]
    assert lo < pos.min() and hi > pos.max()


def test_animate_modes_from_a_filter_mode_array(spectrum):
    rng = np.random.default_rng(0)
    v = rng.normal(size=(4,)) * (1 - MU * spectrum.eigenvalues) ** np.arange(30)[:, None]
    order = [3, 1, 0, 2]  # columns given in a scrambled order are sorted by eigenvalue
    anim = animate_modes(v[:, order], eigenvalues=spectrum.eigenvalues[order], max_frames=10)
    _render(anim)
    assert len(list(anim.new_saved_frame_seq())) == 10
    assert anim.rows[0] == 0 and anim.rows[-1] == 29
    anim.show_frame(9)
    assert_array_equal([p.get_height() for p in anim._fig.axes[0].patches], np.abs(v[29]))


def test_animate_modes_rejects_bad_input(trained, spectrum):
    rec = trained[2].record["conv1"]
    v = np.ones((5, 4))
    with pytest.raises(ValueError, match="needs eigenvalues"):
        animate_modes(v)
    with pytest.raises(ValueError, match="eigenvalues must have shape"):
        animate_modes(v, eigenvalues=np.ones(3))
    with pytest.raises(ValueError, match="do not pass eigenvalues"):
        animate_modes(rec, eigenvalues=spectrum)
    with pytest.raises(ValueError, match="filter must be <= 2"):
        animate_modes(rec, filter=3)
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="fig must be empty"):
        animate_modes(v, eigenvalues=spectrum, fig=fig)


def test_save_animation_writes_a_gif_and_html(tmp_path, spectrum):
    v = np.outer(0.5 ** np.arange(3), [1.0, 0.5, 0.2, 0.1])
    anim = animate_modes(v, eigenvalues=spectrum, fig=plt.figure(figsize=(4, 2)), interval=100)
    path = save_animation(anim, tmp_path / "modes.gif", dpi=30)
    assert path.read_bytes()[:4] == b"GIF8"
    html = to_html(anim)
    assert "<script" in html and html.count("data:image/png;base64") == 3  # one image per frame
    with pytest.raises(ValueError, match="gif"):
        save_animation(anim, tmp_path / "modes.mp4")
    with pytest.raises(FileNotFoundError, match="directory"):
        save_animation(anim, tmp_path / "missing" / "modes.gif")
    with pytest.raises(TypeError, match="Animation"):
        to_html(plt.figure())


def test_layer_modes_repr_is_one_short_line(trained):
    # A notebook cell ending in tracker.record["conv2"] shows a summary, not the arrays (the
    # repr comes from lmsbn.io.Result, shared by every result type).
    _, _, tracker, _ = trained
    text = repr(tracker.record["conv2"])
    assert text.startswith("LayerModes(") and "\n" not in text and len(text) < 600
    assert "weights=float64[" in text           # shape and dtype of the (T, F, K) arrays only
