r"""Interactive explorers for a notebook: move a slider, watch the theory and the simulation move.

Each explorer has three layers, so that everything but the sliders runs (and is tested) without
ipywidgets: a pure compute function returning a view, a figure function, and the controls.

* **The adaptive equalizer** (tutorial 01): :func:`equalizer_view`, :func:`plot_equalizer_view`,
  :func:`equalizer_explorer`. An ensemble of LMS (or NLMS) equalizers on Haykin's raised-cosine
  channel with parameter :math:`W` and step :math:`\mu`: the ensemble learning curve with the
  independence theory over it, and the mean natural modes against
  :math:`(1 - \mu\lambda_k)^n v_k(0)`.
* **A conv layer** (tutorial 05): :func:`layer_view`, :func:`plot_layer_view`,
  :func:`layer_explorer`. :func:`lmsbn.nn.small_cnn` with a chosen normalisation and BatchNorm
  scale :math:`\gamma`: the eigenvalues of one layer's :math:`R = U^T U / M` (at initialisation,
  after a few SGD steps at the chosen learning rate, and for the plain network with the same conv
  weights) beside the first-step BatchNorm/NLMS comparison
  (:func:`lmsbn.bridge.compare_first_step`).

Nothing here computes theory of its own: the views call :mod:`lmsbn.filters`,
:mod:`lmsbn.spectral`, :mod:`lmsbn.bridge` and :mod:`lmsbn.train`, and :mod:`lmsbn.plot` draws.
The controls need ipywidgets, from the ``notebooks`` extra (``pip install "lmsbn[notebooks]"``),
imported only when an explorer is built. In a notebook::

    from lmsbn.interactive import equalizer_explorer, layer_explorer
    equalizer_explorer()          # sliders for W and mu, a dropdown for LMS / NLMS
    layer_explorer()              # dropdowns for the norm and the layer, sliders for gamma and lr
"""

from __future__ import annotations

import base64
import html
import io
import numbers
from dataclasses import dataclass
from functools import partial

import numpy as np

from lmsbn._checks import (
    as_float_array,
    as_generator,
    check_choice,
    check_int,
    check_positive,
    describe,
)

__all__ = ["EqualizerView", "Explorer", "LayerView", "equalizer_explorer", "equalizer_view",
           "layer_explorer", "layer_view", "plot_equalizer_view", "plot_layer_view"]

#: The learning rules the equalizer explorer offers.
RULES = ("lms", "nlms")

_INSTALL = 'pip install "lmsbn[notebooks]"'


def _require_ipywidgets():
    """The ipywidgets module, or an ImportError that says which extra provides it."""
    try:
        import ipywidgets
    except ImportError as exc:
        raise ImportError(f"the interactive explorers need ipywidgets, which the 'notebooks' extra "
                          f"installs: {_INSTALL}") from exc
    return ipywidgets


def _seed(rng) -> int:
    """One int seed from ``rng`` (None, int or Generator).

    Every redraw of an explorer reuses it, so moving a slider changes the parameter and nothing
    else: the channel symbols, the noise, the images and the initial weights stay the same.
    """
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        as_generator(rng)  # rejects a negative seed with the usual message
        return int(rng)
    return int(as_generator(rng).integers(2**32))


def _new_figure(fig, figsize):
    """``fig``, or a new pyplot Figure (so Jupyter's inline backend shows it) of ``figsize``."""
    if fig is not None:
        return fig
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize, layout="constrained")


# The equalizer -----------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class EqualizerView:
    r"""What :func:`equalizer_view` computed for one setting of the sliders.

    Attributes
    ----------
    W, mu : float
        Channel parameter and step size (:math:`\tilde\mu` for NLMS).
    rule : {"lms", "nlms"}
    problem : lmsbn.filters.signals.Equalizer
        The equalizer problem (its ``spectrum``, ``w_opt``, ``J_min``).
    result : lmsbn.filters.FilterResult
        The ensemble run, shape (runs, steps) errors.
    curve : lmsbn.filters.LearningCurve
        Ensemble learning curve with mode statistics and the theory curve.
    predicted : ndarray, shape (steps + 1, K)
        :math:`(1 - \mu_{th}\lambda_k)^n v_k(0)`, from :func:`lmsbn.spectral.predicted_modes`.
    mu_theory : float
        The LMS step the theory uses: ``mu`` for LMS, ``mu / tr R`` for NLMS.
    """

    W: float
    mu: float
    rule: str
    problem: object
    result: object
    curve: object
    predicted: np.ndarray
    mu_theory: float

    def __repr__(self) -> str:
        return f"EqualizerView(W={self.W:g}, mu={self.mu:g}, rule={self.rule!r})"

    def summary(self) -> str:
        """Two lines: the spectrum and its bound, then the run against the theory."""
        s = self.problem.spectrum
        runs = np.size(self.result.diverged)
        diverged = int(np.sum(self.result.diverged))
        late = slice(-max(self.curve.mse.size // 10, 1), None)
        with np.errstate(invalid="ignore", over="ignore"):
            sim, th = np.mean(self.curve.mse[late]), np.mean(self.curve.theory[late])
        step = f"LMS mu = {self.mu:.4g}" if self.rule == "lms" else (
            f"NLMS mu~ = {self.mu:.4g} (theory: LMS at mu = mu~/tr R = {self.mu_theory:.4g})")
        return (f"W = {self.W:g}: spread chi(R) = {s.spread:.4g}, lambda_max = {s.lambda_max:.4g}, "
                f"mean bound 2/lambda_max = {2 / s.lambda_max:.4g}, tr R = {s.trace:.4g}\n"
                f"{step}: mu lambda_max = {self.mu_theory * s.lambda_max:.3g}; "
                f"{diverged} of {runs} runs diverged; mean J over the last 10%: simulated "
                f"{sim:.4g}, theory {th:.4g}, J_min {self.problem.J_min:.4g}")


def equalizer_view(W=3.1, mu=0.075, *, rule: str = "lms", runs: int = 50, steps: int = 300,
                   theory: str = "haykin", rng=0) -> EqualizerView:
    r"""Run an ensemble of equalizers and compute its learning curve, modes and theory.

    Parameters
    ----------
    W : float, default 3.1
        Raised-cosine channel parameter (:func:`lmsbn.filters.signals.equalizer`); the textbook
        uses 2.9 to 3.5, the larger the more eigenvalue spread.
    mu : float, default 0.075
        LMS step size, or NLMS's normalised step :math:`\tilde\mu` (stable below 2).
    rule : {"lms", "nlms"}, default "lms"
    runs : int, default 50
        Realizations in the ensemble (few: the explorer redraws on every slider move).
    steps : int, default 300
        Samples per realization.
    theory : {"small_step", "haykin", "gaussian"}, default "haykin"
        Independence theory of the curve (:func:`lmsbn.spectral.learning_curve_theory`).
    rng : None, int or numpy.random.Generator, default 0

    Returns
    -------
    EqualizerView

    Notes
    -----
    LMS: :math:`w(n+1) = w(n) + \mu e(n) u(n)`, mean modes
    :math:`E v_k(n) = (1 - \mu\lambda_k)^n v_k(0)`, stable in the mean for
    :math:`0 < \mu < 2/\lambda_{max}`. NLMS divides the step by :math:`\|u(n)\|^2`; the theory
    drawn for it is LMS's at :math:`\mu = \tilde\mu / \operatorname{tr} R`, because
    :math:`E\|u\|^2 = \operatorname{tr} R` -- an approximation (Haykin, *Adaptive Filter
    Theory*, ch. 6), good when :math:`\|u\|^2` varies little around its mean.
    """
    from lmsbn import spectral
    from lmsbn.filters import LMS, NLMS, ensemble_learning_curve
    from lmsbn.filters.signals import equalizer

    rule = check_choice(rule, "rule", RULES)
    mu = check_positive(mu, "mu")
    runs = check_int(runs, "runs", min_value=1)
    steps = check_int(steps, "steps", min_value=1)
    problem = equalizer(W)
    U, d = problem.sample(steps, runs=runs, rng=rng)
    spec = problem.spectrum
    if rule == "lms":
        filt, mu_theory = LMS(problem.taps, mu), mu
    else:
        filt, mu_theory = NLMS(problem.taps, mu), mu / spec.trace
    result = filt.run(U, d)
    curve = ensemble_learning_curve(result, spectrum=spec, w_ref=problem.w_opt, mu=mu_theory,
                                    J_min=problem.J_min, theory=theory)
    predicted = spectral.predicted_modes(curve.mode_mean[0], spec, mu_theory, steps)
    return EqualizerView(float(problem.W), mu, rule, problem, result, curve, predicted, mu_theory)


def plot_equalizer_view(view, *, fig=None):
    r"""Draw an :class:`EqualizerView`: learning curve (left) and natural modes (right).

    Parameters
    ----------
    view : EqualizerView
    fig : matplotlib.figure.Figure, optional
        Filled with two Axes (a new pyplot figure by default).

    Returns
    -------
    matplotlib.figure.Figure
        Left: :func:`lmsbn.plot.plot_learning_curve` of the ensemble with its theory dashed and
        :math:`J_{min}` dotted. Right: :func:`lmsbn.plot.plot_mode_trajectories`, the measured
        mean modes (fastest, middle, slowest) against :math:`(1 - \mu\lambda_k)^n v_k(0)`.
    """
    from lmsbn.plot import plot_learning_curve, plot_mode_trajectories

    if not isinstance(view, EqualizerView):
        raise TypeError(
            f"view must be an EqualizerView (from equalizer_view), got {describe(view)}")
    fig = _new_figure(fig, (10.0, 3.8))
    ax_curve, ax_modes = fig.subplots(1, 2)
    spec = view.problem.spectrum
    name = "LMS $\\mu$" if view.rule == "lms" else "NLMS $\\tilde\\mu$"
    plot_learning_curve(view.curve, ax=ax_curve, label=f"{name} = {view.mu:.3g}",
                        J_min=view.problem.J_min)
    diverged = int(np.sum(view.result.diverged))
    note = f", {diverged} runs diverged" if diverged else ""
    ax_curve.set_title(f"W = {view.W:g} ($\\chi$ = {spec.spread:.3g}), "
                       f"$\\mu\\lambda_{{max}}$ = {view.mu_theory * spec.lambda_max:.2g}{note}",
                       fontsize="medium")
    plot_mode_trajectories(view.curve, view.predicted, ax=ax_modes, spectrum=spec)
    ax_modes.set_title("mean natural modes (dashed: $(1-\\mu\\lambda_k)^n v_k(0)$)",
                       fontsize="medium")
    return fig


# The conv layer ----------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class LayerView:
    r"""What :func:`layer_view` computed for one setting of the controls.

    Attributes
    ----------
    norm : str
        Normalisation of :func:`lmsbn.nn.small_cnn` (``"none"`` or a BatchNorm mode).
    gamma, lr : float
        Initial BatchNorm scale and learning rate.
    layer : str
        The conv/linear layer whose spectrum is drawn.
    steps : int
        SGD steps taken at ``lr`` before the ``trained`` spectrum.
    spectrum : lmsbn.spectral.Spectrum
        Spectrum of the layer's :math:`R` at initialisation.
    reference : lmsbn.spectral.Spectrum
        The same for the plain network (``norm="none"``, the same conv weights).
    trained : lmsbn.spectral.Spectrum or None
        After ``steps`` steps at ``lr``; None if training diverged or ``steps`` is 0.
    history : lmsbn.train.History or None
        The short training run (None for ``steps=0``).
    report : lmsbn.bridge.FirstStepReport
        BatchNorm versus NLMS on the first step at ``lr``; its ``layers`` is empty unless the
        network has standard BatchNorm (``norm="full"``).
    """

    norm: str
    gamma: float
    lr: float
    layer: str
    steps: int
    spectrum: object
    reference: object
    trained: object
    history: object
    report: object

    def __repr__(self) -> str:
        return (f"LayerView(norm={self.norm!r}, gamma={self.gamma:g}, lr={self.lr:g}, "
                f"layer={self.layer!r}, steps={self.steps})")

    def summary(self) -> str:
        """Three lines: the spectrum at initialisation, after training, the first step."""
        s, r = self.spectrum, self.reference
        lines = [f"{self.layer} (K = {s.K}), norm={self.norm!r}, gamma = {self.gamma:g}: "
                 f"lambda_max {s.lambda_max:.4g}, lambda_min {s.lambda_min:.4g}, spread "
                 f"{s.spread:.4g} (plain network: {r.lambda_max:.4g}, {r.lambda_min:.4g}, "
                 f"{r.spread:.4g})"]
        if self.history is None:
            lines.append("no training steps")
        elif self.trained is None:
            lines.append(f"lr {self.lr:g}: {self.history.summary()}")
        else:
            t = self.trained
            plural = "s" if self.steps != 1 else ""
            lines.append(f"after {self.steps} step{plural} at lr {self.lr:g}: lambda_max "
                         f"{t.lambda_max:.4g}, lambda_min {t.lambda_min:.4g}, spread "
                         f"{t.spread:.4g}; {self.history.summary()}")
        comp = self.report.layers.get(self.layer)
        if comp is None:
            lines.append("first step: BatchNorm vs NLMS is compared for standard BatchNorm "
                         "(norm='full') layers only")
        else:
            lines.append(f"first step at lr {self.lr:g}: median rho {np.median(comp.rho):.3f}, "
                         f"median BN/NLMS step ratio {np.median(comp.ratio):.3f}, median error of "
                         f"BatchNorm's first-order prediction {np.median(comp.bn_error):.2e} "
                         "(grows with lr)")
        return "\n".join(lines)


def _check_data(data):
    """``(X, y)``: images (N, 3, H, W) and N labels."""
    if not isinstance(data, tuple) or len(data) != 2:
        raise TypeError(f"data must be a tuple (X, y) of images and labels, got {describe(data)}")
    X = as_float_array(data[0], "data[0]", ndim=4)
    if X.shape[1] != 3 or X.shape[0] < 2:
        raise ValueError(f"data[0] must be images of shape (N >= 2, 3, H, W), got {X.shape}")
    y = np.asarray(data[1])
    if y.shape != (X.shape[0],):
        raise ValueError(f"data[1] must hold {X.shape[0]} labels, got shape {y.shape}")
    return X, y


def layer_view(norm: str = "full", gamma=1.0, lr=0.05, *, layer: str = "conv2", steps: int = 5,
               data=None, n_images: int = 32, rng=0) -> LayerView:
    r"""A conv layer's input spectrum and the first-step BatchNorm/NLMS comparison.

    Parameters
    ----------
    norm : {"none", "full", "center", "scale", "amplify", "suppress", "frozen"}, default "full"
        Normalisation after each conv of :func:`lmsbn.nn.small_cnn` (the BatchNorm modes of
        :mod:`lmsbn.nn.batchnorm`).
    gamma : float, default 1.0
        Initial BatchNorm scale (ignored for ``norm="none"``).
    lr : float, default 0.05
        Learning rate of the first-step comparison and of the short training run.
    layer : str, default "conv2"
        A conv or linear layer of the network (``conv1``, ``conv2``, ``conv3``, ``fc1``).
    steps : int, default 5
        Full-batch SGD steps before the ``trained`` spectrum (0: none).
    data : tuple (X, y), optional
        Images (N, 3, H, W) and labels; by default ``n_images`` procedural images
        (:func:`lmsbn.data.shapes`).
    n_images : int, default 32
    rng : None, int or numpy.random.Generator, default 0
        One seed is drawn from it for the data, the network (the same conv weights for every
        ``norm``) and the training run.

    Returns
    -------
    LayerView

    Notes
    -----
    :math:`R = U^T U / M` of the layer's im2col regressors (:func:`lmsbn.bridge.layer_spectra`).
    With :math:`\beta = 0` (its initial value), ReLU and max-pooling are positively homogeneous,
    so the :math:`R` of the layer after a BatchNorm scales exactly as :math:`\gamma^2` at
    initialisation. The first-step comparison (:func:`lmsbn.bridge.compare_first_step`) is for
    standard BatchNorm only.
    """
    from lmsbn.bridge import COMBINERS, compare_first_step, layer_spectra
    from lmsbn.data import shapes
    from lmsbn.nn import NORMS, small_cnn
    from lmsbn.train import train

    norm = check_choice(norm, "norm", NORMS)
    gamma = check_positive(gamma, "gamma")
    lr = check_positive(lr, "lr")
    steps = check_int(steps, "steps", min_value=0)
    seed = _seed(rng)
    if data is None:
        data = shapes(check_int(n_images, "n_images", min_value=2), rng=seed)
    X, y = _check_data(data)
    model = small_cnn(norm=norm, rng=seed, gamma=gamma)
    names = [n for n, lay in model.named_layers() if isinstance(lay, COMBINERS)]
    if not isinstance(layer, str):
        raise TypeError(f"layer must be one of {names}, got {describe(layer)}")
    layer = check_choice(layer, "layer", names)

    def spectrum_of(net):
        return layer_spectra(net, X, rng=seed, layers=[layer])[layer]

    spectrum = spectrum_of(model)
    reference = spectrum if norm == "none" else spectrum_of(small_cnn(norm="none", rng=seed))
    report = compare_first_step(model, X, y, lr)  # leaves the weights and statistics unchanged
    history = trained = None
    if steps:
        history = train(model, X, y, steps=steps, lr=lr, batch_size=X.shape[0], rng=seed)
        if not history.diverged:
            trained = spectrum_of(model)
    return LayerView(norm, gamma, lr, layer, steps, spectrum, reference, trained, history, report)


def plot_layer_view(view, *, fig=None):
    r"""Draw a :class:`LayerView`: the layer's eigenvalues (left), BatchNorm vs NLMS (right).

    Parameters
    ----------
    view : LayerView
    fig : matplotlib.figure.Figure, optional
        Filled with two Axes (a new pyplot figure by default).

    Returns
    -------
    matplotlib.figure.Figure
        Left: :func:`lmsbn.plot.plot_spectra` of :math:`R` for the plain network (label
        ``"none, init"``, unless ``view.norm`` is ``"none"``), the chosen network at
        initialisation (``"<norm>, init"``) and after the training steps (``"<norm>, after"``,
        dashed; absent if training diverged). Right: :func:`lmsbn.plot.plot_first_step` for
        standard BatchNorm, otherwise a note saying why there is none.
    """
    from lmsbn.plot import plot_first_step, plot_spectra
    from lmsbn.plot.style import NORM_COLORS

    if not isinstance(view, LayerView):
        raise TypeError(f"view must be a LayerView (from layer_view), got {describe(view)}")
    fig = _new_figure(fig, (10.0, 3.8))
    ax_spec, ax_step = fig.subplots(1, 2)
    spectra = {} if view.norm == "none" else {"none, init": view.reference}
    spectra[f"{view.norm}, init"] = view.spectrum
    after = f"{view.norm}, after {view.steps} step{'s' if view.steps != 1 else ''}"
    if view.trained is not None:
        spectra[after] = view.trained
    colours = {label: NORM_COLORS[label.split(",")[0]] for label in spectra}
    plot_spectra(spectra, ax=ax_spec, normalize=False, colors=colours)
    for line in ax_spec.get_lines():
        if line.get_label().startswith(after):
            line.set_linestyle("--")  # its initial spectrum's colour, told apart by the dashes
    ax_spec.legend(fontsize="small")
    what = (f"diverged at step {view.history.diverged_at}" if view.history is not None
            and view.history.diverged else f"lr {view.lr:g}")
    ax_spec.set_title(f"{view.layer}: eigenvalues of R, $\\gamma$ = {view.gamma:g}, {what}",
                      fontsize="medium")
    if view.report.layers:
        plot_first_step(view.report, ax=ax_step)
        ax_step.title.set_fontsize("medium")
    else:
        ax_step.set_axis_off()
        ax_step.text(0.5, 0.5, "The first-step BatchNorm / NLMS comparison\nis defined for "
                     f"standard BatchNorm (norm='full');\nthis network has norm={view.norm!r}.",
                     ha="center", va="center", transform=ax_step.transAxes)
    return fig


# The widgets -------------------------------------------------------------------------------------


#: Fixed margins of an explorer's figure, instead of constrained layout: the layout pass took
#: about half of each redraw (measured), and both explorers' labels fit these at 10 x 3.8 inches.
_MARGINS = dict(left=0.07, right=0.985, bottom=0.17, top=0.91, wspace=0.28)


class Explorer:
    """Controls wired to a pure compute function and a figure function; shown by Jupyter.

    Built by :func:`equalizer_explorer` and :func:`layer_explorer`. On every change of a
    control it calls ``compute(**values)`` and ``draw(view, fig=figure)``, and shows the
    figure as a PNG image with the view's ``summary()`` under it.

    Attributes
    ----------
    controls : dict of str to ipywidgets.Widget
        The sliders and dropdowns, keyed by the compute function's argument names; set their
        ``value`` to redraw from code.
    view : EqualizerView or LayerView
        The latest result of the compute function.
    figure : matplotlib.figure.Figure
        The latest figure (not registered with pyplot, so it never shows twice).
    image : ipywidgets.Image
        Its PNG rendering.
    text : ipywidgets.HTML
        The view's summary.
    widget : ipywidgets.VBox
        The whole explorer (what Jupyter displays).
    """

    def __init__(self, compute, draw, controls: dict, *, figsize=(10.0, 3.8), dpi: int = 90):
        widgets = _require_ipywidgets()
        from matplotlib.figure import Figure

        self.controls = dict(controls)
        self._compute, self._draw, self._dpi = compute, draw, dpi
        self.figure = Figure(figsize=figsize)
        self.image = widgets.Image(format="png")
        self.text = widgets.HTML()
        self.view = None
        row = widgets.HBox(list(self.controls.values()),
                           layout=widgets.Layout(flex_flow="row wrap"))
        self.widget = widgets.VBox([row, self.image, self.text])
        for control in self.controls.values():
            control.observe(self._changed, names="value")
        self.redraw()

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={v!r}" for k, v in self.values().items())
        return f"Explorer({values})"

    def values(self) -> dict:
        """The controls' current values, ``{argument name: value}``."""
        return {name: control.value for name, control in self.controls.items()}

    def redraw(self):
        """Recompute the view from the controls and redraw the figure, image and text."""
        self.view = self._compute(**self.values())
        self.figure.clear()  # also resets the margins: set them again
        self.figure.subplots_adjust(**_MARGINS)
        self._draw(self.view, fig=self.figure)
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=self._dpi)
        self.image.value = buf.getvalue()
        self.text.value = f"<pre>{html.escape(self.view.summary())}</pre>"

    def _changed(self, change):
        self.redraw()

    def _repr_mimebundle_(self, **kwargs):
        # The widget for a live front-end; the current figure and summary for a page rendered
        # without a widget manager (nbconvert HTML, a notebook viewer), which shows those instead.
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["image/png"] = base64.b64encode(self.image.value).decode("ascii")
        bundle["text/plain"] = self.view.summary()
        return bundle


def _log_slider(widgets, value, lo, hi, description):
    """A FloatLogSlider over [lo, hi] (widened to hold ``value``) that redraws on release."""
    lo, hi = np.log10(min(lo, value)), np.log10(max(hi, value))
    return widgets.FloatLogSlider(value=value, base=10, min=lo, max=hi, step=0.02,
                                  description=description, readout_format=".3g",
                                  continuous_update=False)


def equalizer_explorer(W=3.1, mu=0.075, *, rule: str = "lms", runs: int = 50, steps: int = 300,
                       theory: str = "haykin", rng=0) -> Explorer:
    r"""Sliders for the channel parameter W and the step size mu of :func:`equalizer_view`.

    Parameters
    ----------
    W, mu, rule, runs, steps, theory
        Initial values and sizes, as in :func:`equalizer_view`. The W slider spans 2.5-4
        (step 0.05), the mu slider 0.001-2 on a log scale, the rule dropdown LMS and NLMS.
    rng : None, int or numpy.random.Generator, default 0
        One seed is drawn from it and reused by every redraw, so a slider move changes only
        its parameter (the symbols and the noise stay the same).

    Returns
    -------
    Explorer
        Display it (the last expression of a notebook cell); ``explorer.controls["mu"].value =
        0.02`` redraws from code.

    Raises
    ------
    ImportError
        Without ipywidgets: ``pip install "lmsbn[notebooks]"``.
    """
    widgets = _require_ipywidgets()
    rule = check_choice(rule, "rule", RULES)
    W, mu = check_positive(W, "W"), check_positive(mu, "mu")
    compute = partial(equalizer_view, runs=check_int(runs, "runs", min_value=1),
                      steps=check_int(steps, "steps", min_value=1), theory=theory, rng=_seed(rng))
    controls = {
        "W": widgets.FloatSlider(value=W, min=min(2.5, W), max=max(4.0, W), step=0.05,
                                 description="W", continuous_update=False),
        "mu": _log_slider(widgets, mu, 1e-3, 2.0, "μ"),
        "rule": widgets.Dropdown(options=list(RULES), value=rule, description="rule"),
    }
    return Explorer(compute, plot_equalizer_view, controls)


def layer_explorer(norm: str = "full", gamma=1.0, lr=0.05, *, layer: str = "conv2",
                   steps: int = 5, n_images: int = 32, rng=0) -> Explorer:
    r"""A normalisation dropdown, gamma and lr sliders and a layer dropdown for :func:`layer_view`.

    Parameters
    ----------
    norm, gamma, lr, layer, steps, n_images
        Initial values and sizes, as in :func:`layer_view`. The gamma slider spans 0.1-10 and
        the lr slider 1e-4-1, both on log scales.
    rng : None, int or numpy.random.Generator, default 0
        One seed is drawn from it and reused by every redraw: the images and the initial conv
        weights stay the same while the controls move.

    Returns
    -------
    Explorer

    Raises
    ------
    ImportError
        Without ipywidgets: ``pip install "lmsbn[notebooks]"``.
    """
    from lmsbn.bridge import COMBINERS
    from lmsbn.data import shapes
    from lmsbn.nn import NORMS, small_cnn

    widgets = _require_ipywidgets()
    norm = check_choice(norm, "norm", NORMS)
    gamma, lr = check_positive(gamma, "gamma"), check_positive(lr, "lr")
    names = [n for n, lay in small_cnn(norm="none", rng=0).named_layers()
             if isinstance(lay, COMBINERS)]
    if not isinstance(layer, str):
        raise TypeError(f"layer must be one of {names}, got {describe(layer)}")
    layer = check_choice(layer, "layer", names)
    seed = _seed(rng)
    data = shapes(check_int(n_images, "n_images", min_value=2), rng=seed)  # drawn once, reused
    compute = partial(layer_view, steps=check_int(steps, "steps", min_value=0), data=data, rng=seed)
    controls = {
        "norm": widgets.Dropdown(options=list(NORMS), value=norm, description="norm"),
        "layer": widgets.Dropdown(options=names, value=layer, description="layer"),
        "gamma": _log_slider(widgets, gamma, 0.1, 10.0, "γ"),
        "lr": _log_slider(widgets, lr, 1e-4, 1.0, "lr"),
    }
    return Explorer(compute, plot_layer_view, controls)
