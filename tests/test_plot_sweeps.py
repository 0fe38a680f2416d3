"""lmsbn.plot.sweeps: the data on the axes, not the pixels."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lmsbn.experiments.chai import LRSweep, eigen_spectra, first_step  # noqa: E402
from lmsbn.plot import (  # noqa: E402
    plot_bn_nlms_drift,
    plot_eigen_spectra,
    plot_first_step,
    plot_lr_sweep,
)

TINY = {"widths": (4, 8, 8), "n_data": 64, "batch_size": 16}


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def sweep():
    """A hand-made sweep (no training): 2 norms x 3 lrs x 2 seeds with known outcomes."""
    shape = (2, 3, 2)
    diverged = np.zeros(shape, bool)
    diverged[0, 2] = True  # none: every seed diverged at the largest lr
    diverged[1, 2, 1] = True  # full: one seed of two
    loss = np.array([[[2.0, 2.2], [1.0, 1.2], [np.inf, np.inf]],
                     [[1.5, 1.5], [0.5, 0.7], [0.4, np.inf]]])
    at = np.where(diverged, 7, -1)
    return LRSweep(("none", "full"), np.array([0.01, 0.1, 1.0]), np.array([0, 1]), loss,
                   np.full(shape, -1), diverged, at, np.full(shape, ""), np.full(shape, 0.5),
                   np.zeros((*shape, 3)), np.full(shape, ""), ("conv1", "conv2"),
                   np.array([[10.0, 400.0], [10.0, 40.0]]), {"steps": 3, "batch_size": 8},
                   gn_lambda_max=np.array([5.0, 0.5]))


@pytest.fixture(scope="module")
def first():
    return first_step(steps=9, every=4, **TINY)


def test_lr_sweep_map_shows_means_divergence_and_bounds(sweep):
    ax = plot_lr_sweep(sweep)
    cells = ax.collections[0]
    # Stable cells: every (lr, norm) except none at lr 1 (all seeds diverged) -> 5 circles.
    offsets = np.asarray(cells.get_offsets())
    assert offsets.shape == (5, 2)
    colours = dict(zip(map(tuple, offsets), cells.get_array()))
    assert colours[(0.01, 0.0)] == pytest.approx(2.1)  # seed mean
    assert colours[(1.0, 1.0)] == pytest.approx(0.4)  # mean over the finite seed only
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_array_equal(lines["diverged (number: mean step)"].get_xdata(), [1.0])
    np.testing.assert_array_equal(lines["diverged (number: mean step)"].get_ydata(), [0])
    np.testing.assert_array_equal(lines["some seeds diverged"].get_xdata(), [1.0])
    gn = [line for line in ax.get_lines() if line.get_label().endswith("2/lambda_max(G)")]
    assert [b.get_xdata()[0] for b in gn] == pytest.approx([2 / 5.0, 2 / 0.5])
    unit = [line for line in ax.get_lines() if "unit-gain" in line.get_label()]
    assert unit[0].get_label() == "unit-gain LMS picture 2/lambda_max(R)"
    assert [b.get_xdata()[0] for b in unit] == pytest.approx([2 / 400, 2 / 40])
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["none", "full"]
    assert "2/λmax(G)" in ax.get_xlabel() and "raw" in ax.get_xlabel()
    assert [t.get_text() for t in ax.texts] == ["7"]  # the divergence step


def test_lr_sweep_map_marks_cells_that_never_reached_the_target(sweep):
    # A stable cell with no seed reaching the target has no value: it must still be drawn. In
    # this fixture no seed ever reaches it (steps_to_target is -1 everywhere): 5 stable cells.
    ax = plot_lr_sweep(sweep, metric="steps_to_target")
    line = {line.get_label(): line for line in ax.get_lines()}["target not reached"]
    np.testing.assert_array_equal(line.get_xdata(), [0.01, 0.1, 0.01, 0.1, 1.0])
    np.testing.assert_array_equal(line.get_ydata(), [0, 0, 1, 1, 1])
    assert len(ax.collections[0].get_offsets()) == 0


def test_lr_sweep_map_other_metric_and_errors(sweep):
    ax = plot_lr_sweep(sweep, metric="eval_accuracy")
    assert np.allclose(ax.collections[0].get_array(), 0.5)
    with pytest.raises(ValueError, match="metric"):
        plot_lr_sweep(sweep, metric="bogus")
    with pytest.raises(TypeError, match="LRSweep"):
        plot_lr_sweep(object())


def test_drift_plot_medians_and_band(first):
    fig, ax = plt.subplots()
    assert plot_bn_nlms_drift(first, ax=ax) is ax
    lines = {line.get_label(): line for line in ax.get_lines()}
    med = np.median(first.drift["conv2"]["ratio"], axis=1)
    np.testing.assert_allclose(lines["conv2 BN/NLMS"].get_ydata(), med)
    np.testing.assert_array_equal(lines["conv2 BN/NLMS"].get_xdata(), first.steps["conv2"])
    np.testing.assert_allclose(lines["conv1 rho"].get_ydata(),
                               np.median(first.drift["conv1"]["rho"], axis=1))
    assert len(ax.collections) == 3  # one quartile band per layer
    assert ax.get_yscale() == "log"
    one = plot_bn_nlms_drift(first, layer="conv3")
    assert {line.get_label() for line in one.get_lines()} >= {"conv3 BN/NLMS", "conv3 rho"}
    with pytest.raises(ValueError, match="layer"):
        plot_bn_nlms_drift(first, layer="conv9")
    with pytest.raises(TypeError, match="record"):
        plot_bn_nlms_drift([1, 2])


def test_drift_plot_accepts_a_tracker_record():
    from lmsbn.bridge import ModeTracker
    from lmsbn.data import shapes
    from lmsbn.nn import small_cnn
    from lmsbn.train import train

    X, y = shapes(32, rng=0)
    tracker = ModeTracker(every=2, rng=0, layers=["conv1"])
    train(small_cnn(widths=(4, 8), rng=0), X, y, steps=5, batch_size=16, callbacks=[tracker], rng=0)
    ax = plot_bn_nlms_drift(tracker)
    line = next(line for line in ax.get_lines() if line.get_label() == "conv1 BN/NLMS")
    np.testing.assert_allclose(line.get_ydata(),
                               np.median(tracker.record["conv1"].bn["ratio"], axis=1))


def test_first_step_plot_shows_every_filter(first):
    ax = plot_first_step(first)
    rho_pts, ratio_pts = ax.collections[0], ax.collections[1]
    c1 = first.report.layers["conv1"]
    np.testing.assert_allclose(np.asarray(rho_pts.get_offsets())[:, 1], np.sort(c1.rho))
    np.testing.assert_allclose(np.asarray(ratio_pts.get_offsets())[:, 1], np.sort(c1.ratio))
    assert len(ax.collections) == 2 * len(first.report.layers)
    bars = [ln for ln in ax.lines if ln.get_color() == "0.5"]
    assert len(bars) == len(first.report.layers)
    np.testing.assert_allclose(bars[0].get_ydata(), [1 - c1.rho_sd[0], 1 + c1.rho_sd[0]])
    ticks = [t.get_text().split("\n")[0] for t in ax.get_xticklabels()]
    assert ticks == ["conv1", "conv2", "conv3"]
    with pytest.raises(TypeError, match="FirstStepReport"):
        plot_first_step("report")


def test_eigen_spectra_figure_one_axes_per_layer_log_y():
    res = eigen_spectra(norms=("none", "full"), steps=2, n_probe=16, max_rows=400, center=False,
                        **TINY)
    fig = plot_eigen_spectra(res)
    axes = fig.axes
    for ax, layer in zip(axes, res.layers):
        # Exact-zero eigenvalues (dead channels) are left off the log axis and counted in the title.
        zeros = sum(int(np.sum(res.eigenvalues[n][s][layer] == 0))
                    for n in res.norms for s in ("init", "trained"))
        assert ax.get_title() == (layer if not zeros else
                                  f"{layer} ({zeros} zero eigenvalues not shown)")
    assert all(a.get_yscale() == "log" for a in axes)
    lines = {line.get_label(): line for line in axes[1].get_lines()}
    assert set(lines) == {"none init", "none trained", "full init", "full trained"}
    ev = res.eigenvalues["full"]["init"]["conv2"]
    np.testing.assert_allclose(lines["full init"].get_ydata(), ev[ev > 0])
    assert lines["full trained"].get_linestyle() == "--"
    with pytest.raises(ValueError, match="stages"):
        plot_eigen_spectra(res, stages=("later",))


def test_steps_to_target_map_flags_cells_where_some_seeds_never_reached():
    # Seeds [5, -1] at lr 0.1: the colour is the mean of the seed that reached (5), and a grey
    # ring says the other did not; seeds [3, 4] at lr 1 need no ring.
    st = np.array([[[5, -1], [3, 4]]])
    shape = st.shape
    res = LRSweep(("full",), np.array([0.1, 1.0]), np.array([0, 1]), np.ones(shape), st,
                  np.zeros(shape, bool), np.full(shape, -1), np.full(shape, ""),
                  np.full(shape, 0.5), np.zeros((*shape, 3)), np.full(shape, ""), ("conv1",),
                  np.array([[10.0]]), {"steps": 3, "batch_size": 8})
    ax = plot_lr_sweep(res, metric="steps_to_target")
    np.testing.assert_array_equal(ax.collections[0].get_array(), [5.0, 3.5])
    ring = {line.get_label(): line for line in ax.get_lines()}["some seeds did not reach it"]
    np.testing.assert_array_equal(ring.get_xdata(), [0.1])
