"""Every public figure of lmsbn.plot is *drawn* to PNG, so an error that only appears at draw time
fails the suite.

Building a figure does not render it: matplotlib parses mathtext, lays out constrained axes and
resolves legends only when the canvas is drawn (``savefig``, or the notebook's inline backend). A
label such as ``$\\frac12$`` is accepted by ``set_ylabel`` and raises only then. The data tests in
``test_plot*.py`` check what is on the axes; this file checks that it can be looked at:

* each public plotting function of every ``lmsbn.plot`` module has a drawing case below -- a new
  function without one fails ``test_every_public_plot_function_has_a_drawing_case``;
* each case is saved to PNG with ``savefig``, and every title, axis label, tick label and legend
  lies inside the figure (a clipped title fails);
* the mode animation is written as a GIF (Pillow, no ffmpeg) and as the notebook's HTML player.
"""

import importlib
import inspect
import io
import pkgutil

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from figcheck import cut_off  # noqa: E402

import lmsbn.plot  # noqa: E402
from lmsbn.plot import LINE_COLORS, MARKERS, readable_log_axis  # noqa: E402

#: Public callables that draw nothing themselves; each is exercised by the case named here.
HELPERS = {"get_axes": "every case", "line_style": "plot_learning_curve",
           "readable_log_axis": "test_readable_log_axis_labels_a_ratio_axis",
           "save_animation": "animate_modes", "to_html": "test_plot.py"}

CASES = {}


def case(name):
    def register(fn):
        CASES[name] = fn
        return fn
    return register


def _public_functions():
    """{name: module} of every public function in every module of the lmsbn.plot package."""
    found = {}
    for info in pkgutil.iter_modules(lmsbn.plot.__path__):
        module = importlib.import_module(f"lmsbn.plot.{info.name}")
        for name in getattr(module, "__all__", ()):
            if inspect.isfunction(getattr(module, name)):
                found[name] = info.name
    return found


def draw_checked(fig):
    """Render ``fig`` to PNG bytes; fail on a draw error or a text outside the figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)
    png = buf.getvalue()
    assert png[:4] == b"\x89PNG"
    assert cut_off(fig) == [], "parts of the figure are cut off"
    return png


# ---------------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def data():
    """Small real objects for every figure (about 3 s in all), built once."""
    from lmsbn.bridge import ModeTracker
    from lmsbn.data import shapes
    from lmsbn.experiments import bjorck, ergen, wei
    from lmsbn.experiments.chai import eigen_spectra, first_step, lr_sweep
    from lmsbn.filters import LMS, ensemble_learning_curve
    from lmsbn.filters.signals import ar1_autocorrelation, system_identification
    from lmsbn.nn import small_cnn
    from lmsbn.spectral import Spectrum
    from lmsbn.train import train

    d = {"spectrum": Spectrum.from_matrix(ar1_autocorrelation(0.8, 4))}
    prob = system_identification([1.0, -0.5, 0.25, 0.1], 80, input=[0.8], runs=6,
                                 regressors="independent", rng=0)
    U, y = prob.sample()
    d["curve"] = ensemble_learning_curve(LMS(4, 0.05).run(U, y, record="every:4"),
                                         spectrum=prob.spectrum, w_ref=prob.w_opt, mu=0.05,
                                         J_min=prob.J_min)
    X, labels = shapes(48, size=8, rng=0)
    d["X"] = X
    tracker = ModeTracker(every=1, rng=0)
    train(small_cnn(widths=(3, 4), norm="full", rng=0), X, labels, steps=4, batch_size=16,
          callbacks=[tracker], rng=0)
    d["tracker"] = tracker
    tiny = {"widths": (4, 8, 8), "batch_size": 16}
    d["first"] = first_step(steps=5, every=2, n_data=64, **tiny)
    d["eigen"] = eigen_spectra(steps=3, n_data=64, n_probe=16, **tiny)
    # lr 30 makes the plain network diverge: the X markers and their step numbers are drawn too.
    d["sweep"] = lr_sweep(lrs=(0.1, 30.0), norms=("none", "full"), steps=4, n_train=64,
                          n_eval=32, n_probe=16, **tiny)
    d["products"] = bjorck.random_matrix_products(4, 5, 3, rng=7)
    d["growth"] = bjorck.activation_growth(depth=4, width=4, fractions=[0.0, 1.0], rng=0)
    d["gradients"] = bjorck.gradient_statistics(depth=2, width=4, n=8, size=8, bins=11, rng=0)
    d["same_lr"] = bjorck.SameLRComparison(
        labels=np.array(["BN", "no BN"]), lrs=np.array([0.1, 5.0]),
        loss=np.array([[2.3, 2.0, 1.8, 1.7], [2.3, 1e3, 1e9, np.nan]]),
        diverged=np.array([False, True]), final_loss=np.array([1.7, np.inf]))
    d["gamma"] = wei.gamma_lr_sweep(gammas=(0.5, 2.0), lrs=[0.05, 1.0, 50.0], steps=3, n=16,
                                    size=8, widths=(2,), batch_size=8, fim_iters=3, window=2,
                                    momentum=0.5, rng=0)
    rng = np.random.default_rng(4)
    Xe, ye = rng.normal(size=(6, 12)), rng.normal(size=6)
    d["ergen"] = (ye, ergen.train_nonconvex(Xe, ye, 0.3, 6, steps=100, restarts=2, rng=0),
                  ergen.closed_form(Xe, ye, 0.3),
                  ergen.convex_program(Xe, ye, 0.3, arrangements=10, rng=0, max_iter=50))
    from lmsbn.bridge import Sharpness

    sharp = Sharpness(every=2, X=X[:16], iters=5, rng=0)
    train(small_cnn(widths=(3, 4), rng=0), X[:16], labels[:16], steps=4, lr=0.1,
          batch_size=16, callbacks=[sharp], rng=0)
    d["sharpness"] = sharp
    return d


# ---------------------------------------------------------------------------------- cases
@case("plot_spectrum")
def _(d):
    return lmsbn.plot.plot_spectrum(d["spectrum"], label="AR(1), $a = 0.8$").figure


@case("plot_spectra")
def _(d):
    layer = d["eigen"].eigenvalues["none"]["init"]["conv2"]
    return lmsbn.plot.plot_spectra({"AR(1)": d["spectrum"], "conv2": layer}).figure


@case("plot_channel_blocks")
def _(d):
    from lmsbn.nn.im2col import im2col2d
    from lmsbn.spectral import autocorrelation

    R = autocorrelation(im2col2d(d["X"][:4], 3, 3, pad=1))
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.5), layout="constrained")
    lmsbn.plot.plot_channel_blocks(R, 3, (3, 3), ax=axes[0], what="normalized")
    lmsbn.plot.plot_channel_blocks(R, 3, (3, 3), ax=axes[1], what="full")
    return fig


@case("plot_learning_curve")
def _(d):
    ax = None
    for label in ("W = 2.9", "W = 3.1", "W = 3.3", "W = 3.5"):  # as the tour's equalizer
        ax = lmsbn.plot.plot_learning_curve(d["curve"], ax=ax, label=label, J_min=0.01)
    return ax.figure


@case("plot_mode_trajectories")
def _(d):
    from lmsbn.spectral import predicted_modes

    curve = d["curve"]
    pred = predicted_modes(curve.mode_mean[0], d["spectrum"], 0.05, steps=80)
    return lmsbn.plot.plot_mode_trajectories(curve, pred, spectrum=d["spectrum"], log=True).figure


@case("plot_training_modes")
def _(d):
    return lmsbn.plot.plot_training_modes(d["tracker"].record["conv2"]).figure


@case("plot_mode_decay")
def _(d):
    from lmsbn.bridge import mode_decay

    # Weights whose 3 modes decay geometrically (ratios 0.6, -0.4, 0.8) in a random basis.
    rng = np.random.default_rng(1)
    Q = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    v = np.array([0.6, -0.4, 0.8]) ** np.arange(10)[:, None] * rng.normal(size=3)
    W = (v @ Q.T).reshape(10, 1, 3)
    fits = [mode_decay(W, lam, Q, 0.5, basis=basis) for lam, basis in
            ((np.array([1.0, 0.6, 0.2]), "gauss_newton"), (np.array([5.0, 1.0, 0.4]), "R"))]
    return lmsbn.plot.plot_mode_decay(fits).figure


@case("plot_lr_sweep")
def _(d):
    return lmsbn.plot.plot_lr_sweep(d["sweep"]).figure


@case("plot_bn_nlms_drift")
def _(d):
    return lmsbn.plot.plot_bn_nlms_drift(d["first"]).figure


@case("plot_first_step")
def _(d):
    return lmsbn.plot.plot_first_step(d["first"]).figure


@case("plot_eigen_spectra")
def _(d):
    return lmsbn.plot.plot_eigen_spectra(d["eigen"])


@case("plot_same_lr")
def _(d):
    return lmsbn.plot.plot_same_lr(d["same_lr"]).figure


@case("plot_activation_growth")
def _(d):
    return lmsbn.plot.plot_activation_growth(d["growth"]).figure


@case("plot_gradient_histograms")
def _(d):
    return lmsbn.plot.plot_gradient_histograms(d["gradients"]).figure


@case("plot_condition_growth")
def _(d):
    return lmsbn.plot.plot_condition_growth(d["products"]).figure


@case("plot_gamma_lr_map")
def _(d):
    return lmsbn.plot.plot_gamma_lr_map(d["gamma"]).figure


@case("plot_ergen_objectives")
def _(d):
    _, nonconvex, closed, convex = d["ergen"]
    return lmsbn.plot.plot_ergen_objectives(nonconvex, closed=closed, convex=convex).figure


@case("plot_ergen_fit")
def _(d):
    y, _, closed, convex = d["ergen"]
    return lmsbn.plot.plot_ergen_fit(y, {"closed form": closed.outputs}).figure


@case("plot_ergen_convergence")
def _(d):
    _, _, closed, convex = d["ergen"]
    return lmsbn.plot.plot_ergen_convergence(convex, reference=closed.value).figure


@case("plot_bound_check")
def _(d):
    # The registry example: every marker kind at once (a found onset and blow-up, a norm with
    # neither); the bound check's own numbers are tested in test_stability.py.
    from lmsbn.experiments.chai import BoundCheck

    return lmsbn.plot.plot_bound_check(BoundCheck._example()).figure


@case("plot_sharpness")
def _(d):
    from lmsbn.experiments.chai import BoundCheck

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
    lmsbn.plot.plot_sharpness(BoundCheck._example(), norm="none", ax=axes[0])
    lmsbn.plot.plot_sharpness(d["sharpness"], ax=axes[1])       # a training callback's record
    return fig


@case("animate_modes")
def _(d):
    return lmsbn.plot.animate_modes(d["tracker"].record["conv2"])


# ---------------------------------------------------------------------------------- tests
@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_every_public_plot_function_has_a_drawing_case():
    public = _public_functions()
    # Sanity of the enumeration itself: the modules are found, and a known function is in it.
    assert {"plot_spectrum", "plot_lr_sweep", "animate_modes"} <= set(public)
    missing = sorted(set(public) - set(CASES) - set(HELPERS))
    assert missing == [], f"give these a drawing case in {__file__}: {missing}"
    assert sorted(set(CASES) - set(public)) == [], "cases for functions that no longer exist"
    # ``from lmsbn.plot import name`` must reach each of them (lazy lookup in plot/__init__).
    for name in public:
        assert getattr(lmsbn.plot, name) is getattr(
            importlib.import_module(f"lmsbn.plot.{public[name]}"), name)


@pytest.mark.parametrize("name", sorted(set(CASES) - {"animate_modes"}))
def test_figure_draws_to_png_with_every_text_inside(name, data):
    fig = CASES[name](data)
    assert isinstance(fig, matplotlib.figure.Figure)
    draw_checked(fig)


def test_animation_saves_every_frame_without_ffmpeg(data, tmp_path):
    from matplotlib.animation import FuncAnimation

    anim = CASES["animate_modes"](data)
    assert isinstance(anim, FuncAnimation) and len(anim.rows) >= 2
    # Saving draws every frame (Pillow's GIF writer: no ffmpeg needed).
    path = lmsbn.plot.save_animation(anim, tmp_path / "modes.gif", dpi=30)
    assert path.read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    from PIL import Image

    with Image.open(path) as gif:
        assert gif.n_frames == len(anim.rows)
    anim.show_frame(len(anim.rows) - 1)
    draw_checked(anim._fig)


def test_overlaid_curves_differ_in_marker_as_well_as_colour(data):
    # The 4 equalizer curves of the tour: in greyscale only the markers tell them apart.
    ax = None
    for label in "abcd":
        ax = lmsbn.plot.plot_learning_curve(data["curve"], ax=ax, label=label)
    theory = [line for line in ax.get_lines() if line.get_label().endswith("theory")]
    assert [line.get_marker() for line in theory] == list(MARKERS[:4])
    assert [line.get_color() for line in theory] == list(LINE_COLORS[:4])
    assert "#F0E442" not in LINE_COLORS     # Okabe-Ito yellow: unreadable on white


def test_readable_log_axis_labels_a_ratio_axis():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0.75, 2.6])
    ax.set_yscale("log")
    readable_log_axis(ax.yaxis)
    fig.canvas.draw()
    lo, hi = ax.get_ylim()
    locs = [v for v in ax.yaxis.get_majorticklocs() if lo <= v <= hi]
    labels = ax.yaxis.get_major_formatter().format_ticks(locs)
    assert 1.0 in locs and max(locs) >= 2.0 and len(locs) >= 3   # labels above 1 too
    assert [float(t) for t in labels] == pytest.approx(locs)      # plain numbers, no 10^x
    # Wide axes keep matplotlib's powers of ten.
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1e-3, 1e3])
    ax.set_yscale("log")
    before = type(ax.yaxis.get_major_formatter())
    readable_log_axis(ax.yaxis)
    assert type(ax.yaxis.get_major_formatter()) is before
