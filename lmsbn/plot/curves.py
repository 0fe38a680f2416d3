r"""Learning curves and natural-mode trajectories, measured against LMS theory.

The same three figures serve a classical filter and a training network:

* :func:`plot_learning_curve` -- the ensemble mean-square error :math:`\hat J(n)` of a filter
  (or a network's training loss) with the independence-theory curve dashed over it;
* :func:`plot_mode_trajectories` -- measured mode coordinates :math:`v_k(n)` of a filter against
  the prediction :math:`(1 - \mu\lambda_k)^n v_k(0)`;
* :func:`plot_training_modes` -- the same coordinates for one filter of a conv layer, recorded by
  :class:`lmsbn.bridge.ModeTracker`, relative to the final weights;
* :func:`plot_mode_decay` -- measured against predicted time constants of a layer's top modes
  (:meth:`lmsbn.bridge.ModeTracker.mode_decay`).

References: Haykin, *Adaptive Filter Theory*, ch. 5-6 (natural modes, learning curves);
Chai, Pilanci and Murmann (2020) for the layer view.
"""

from __future__ import annotations

import numbers

import numpy as np

from lmsbn._checks import as_float_array, check_bool, check_int, check_positive, describe
from lmsbn.bridge import LayerModes
from lmsbn.filters import FilterResult, LearningCurve, learning_curve
from lmsbn.plot.style import get_axes, line_style
from lmsbn.spectral import Spectrum
from lmsbn.train import History

__all__ = ["plot_learning_curve", "plot_mode_decay", "plot_mode_trajectories",
           "plot_training_modes"]


def _positive_or_nan(y: np.ndarray) -> np.ndarray:
    """Mask values a log axis cannot show (<= 0, non-finite), instead of letting them be clipped."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(y) & (y > 0), y, np.nan)


def _default_modes(K: int) -> list[int]:
    """The fastest (0), a middle (K // 2) and the slowest (K - 1) mode, without repeats."""
    return sorted({0, K // 2, K - 1})


def _check_modes(modes, K: int) -> list[int]:
    """Validate a list of mode indices (descending-eigenvalue order) against ``K`` modes."""
    if modes is None:
        return _default_modes(K)
    if isinstance(modes, numbers.Integral) and not isinstance(modes, bool):
        modes = [modes]
    if not isinstance(modes, (list, tuple, np.ndarray)) or len(modes) == 0:
        raise TypeError(
            f"modes must be a non-empty sequence of mode indices, got {describe(modes)}")
    return [check_int(k, "modes", min_value=0, max_value=K - 1) for k in modes]


# Learning curves ---------------------------------------------------------------------------------


def _curve_modes(curve: LearningCurve, steps, name: str):
    """(mean mode coordinates (T, K), their steps) of a LearningCurve built with a spectrum."""
    if curve.mode_mean is None:
        raise ValueError(f"{name} is a LearningCurve without mode statistics: build it with "
                         "ensemble_learning_curve(result, spectrum=..., w_ref=...)")
    return np.asarray(curve.mode_mean, dtype=float), curve.mode_steps if steps is None else steps


def plot_learning_curve(curve_or_mse, *, theory=None, ax=None, log: bool = True, label=None,
                        J_min=None, color=None):
    r"""Plot a learning curve, with the theory curve dashed over it.

    Parameters
    ----------
    curve_or_mse : LearningCurve, FilterResult, History or array_like, shape (T,)
        A :class:`lmsbn.filters.LearningCurve` (from :func:`~lmsbn.filters.ensemble_learning_curve`;
        its ``theory`` is drawn unless ``theory`` is given), a filter run's
        :class:`lmsbn.filters.FilterResult` (averaged by :func:`lmsbn.filters.learning_curve`), a
        training :class:`lmsbn.train.History` (its per-step ``loss``; a divergence is marked), or
        the values themselves. Non-finite values (a diverged ensemble) are left out of the line.
    theory : array_like, shape (T,) or (T + 1,), optional
        The predicted curve for steps 0, 1, ...; e.g.
        :func:`lmsbn.spectral.learning_curve_theory` with ``steps=T`` (whose extra last point is
        dropped). Any other length is an error.
    ax : matplotlib.axes.Axes, optional
    log : bool, default True
        Logarithmic y axis (the excess error decays geometrically: straight lines on it).
    label : str, optional
        Legend text of the measured curve (default "simulation", or "simulation (N runs)").
    J_min : float, optional
        The minimum mean-square error, drawn as a horizontal dotted line.
    color : matplotlib colour, optional

    Returns
    -------
    matplotlib.axes.Axes

    Notes
    -----
    The independence theory (Haykin, *Adaptive Filter Theory*) is
    :math:`J(n) \approx J_{min} + \sum_k \lambda_k E[v_k(n)^2]`: after the transient, the curve
    settles at :math:`J_{min}(1 + \mathcal{M})` with misadjustment
    :math:`\mathcal{M} \approx \tfrac{\mu}{2}\operatorname{tr}R`. The theory describes LMS; for
    NLMS, the block forms and a network it is at most a guide.
    """
    diverged_at = -1
    default_label = "simulation"
    if isinstance(curve_or_mse, LearningCurve):
        y = np.asarray(curve_or_mse.mse, dtype=float)
        if theory is None:
            theory = curve_or_mse.theory
        if curve_or_mse.n_used > 1:
            default_label = f"simulation ({curve_or_mse.n_used} runs)"
        xlabel, ylabel = "iteration $n$", r"mean-square error $\hat J(n)$"
    elif isinstance(curve_or_mse, FilterResult):
        y = learning_curve(curve_or_mse)
        runs = int(np.prod(np.shape(curve_or_mse.e)[:-1]))
        if runs > 1:
            default_label = f"simulation ({runs} runs)"
        xlabel, ylabel = "iteration $n$", r"mean-square error $\hat J(n)$"
    elif isinstance(curve_or_mse, History):
        y = np.asarray(curve_or_mse.loss, dtype=float)
        diverged_at = int(curve_or_mse.diverged_at) if curve_or_mse.diverged else -1
        default_label = "training loss"
        xlabel, ylabel = "training step", "minibatch loss"
    else:
        y = as_float_array(curve_or_mse, "curve_or_mse", ndim=1, finite=False)
        xlabel, ylabel = "iteration $n$", r"mean-square error $\hat J(n)$"
    if y.size == 0:
        raise ValueError("curve_or_mse must hold at least one value, got an empty curve")
    T = y.size
    if theory is not None:
        theory = as_float_array(theory, "theory", ndim=1, finite=False)
        if theory.size not in (T, T + 1):
            raise ValueError(
                f"theory must have {T} or {T + 1} points to match a curve of {T} steps, "
                f"got shape {theory.shape}"
            )
        theory = theory[:T]
    if J_min is not None:
        J_min = check_positive(J_min, "J_min", allow_zero=True)
    log = check_bool(log, "log")
    if label is not None and not isinstance(label, str):
        raise TypeError(f"label must be a str, got {describe(label)}")

    ax = get_axes(ax)
    # The i-th curve on these axes gets the i-th colour and marker (the theory line carries the
    # marker), so overlaid curves differ in greyscale too.
    i = sum(line.get_gid() == _CURVE_GID for line in ax.get_lines())
    style = line_style(i)
    if color is not None:
        style["color"] = color
    color = style["color"]
    mask = _positive_or_nan if log else (lambda v: np.where(np.isfinite(v), v, np.nan))
    n = np.arange(T)
    # The measured curve is translucent so that the theory, dashed in the same colour (several
    # curves share one axes in the classical equalizer figure), stays visible on top of it.
    ax.plot(n, mask(y), "-", color=color, linewidth=1.0, alpha=0.6, label=label or default_label,
            gid=_CURVE_GID)
    if theory is not None:
        ax.plot(n, mask(theory), "--", color=color, marker=style["marker"], ms=5,
                markevery=(i * max(T // 40, 1), max(T // 8, 1)), linewidth=2.0,
                label="theory" if label is None else f"{label}, theory")
    if J_min is not None:
        ax.axhline(J_min, color="gray", linestyle=":", linewidth=1.0, label="$J_{min}$")
    if diverged_at >= 0:
        ax.axvline(diverged_at, color="#D55E00", linestyle="-.", linewidth=1.0,
                   label=f"diverged at step {diverged_at}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize="small")
    return ax


_CURVE_GID = "lmsbn-measured-curve"


# Mode trajectories -------------------------------------------------------------------------------


def _eigen_labels(spectrum, K):
    """``{k: ", λ = 0.123"}`` from a Spectrum or eigenvalue array, or empty strings."""
    if spectrum is None:
        return {k: "" for k in range(K)}
    lam = spectrum.eigenvalues if isinstance(spectrum, Spectrum) else as_float_array(
        spectrum, "spectrum", ndim=1)
    if lam.shape != (K,):
        raise ValueError(f"spectrum must have {K} eigenvalues to match the modes, got {lam.shape}")
    return {k: rf", $\lambda$ = {float(lam[k]):.3g}" for k in range(K)}


def plot_mode_trajectories(measured, predicted=None, *, modes=None, ax=None, steps=None,
                           spectrum=None, log: bool = False):
    r"""Measured natural-mode coordinates of a filter against the LMS prediction.

    Parameters
    ----------
    measured : LearningCurve or array_like, shape (T, K) or (..., T, K)
        Mode coordinates :math:`v_k(n) = q_k^T (w(n) - w_o)`, e.g. from
        :func:`lmsbn.spectral.mode_coordinates`. Leading (ensemble) axes are averaged: the theory
        is about the *mean*. A :class:`lmsbn.filters.LearningCurve` gives its ``mode_mean`` at its
        ``mode_steps``.
    predicted : array_like, shape (T', K), optional
        :math:`(1 - \mu\lambda_k)^n v_k(0)` for n = 0, ..., T' - 1, e.g.
        :func:`lmsbn.spectral.predicted_modes`. Drawn dashed in the colour of the measured mode.
    modes : sequence of int, optional
        Which columns (descending-eigenvalue order: 0 is the fastest mode). Default: the
        fastest, a middle and the slowest. The legend counts from 1: column 0 is :math:`v_1`.
    ax : matplotlib.axes.Axes, optional
    steps : array_like of int, shape (T,), optional
        The iteration of each measured row (default 0, 1, ...; a ``LearningCurve`` brings its
        own). Use it for a run recorded with ``record="every:k"``.
    spectrum : Spectrum or array_like, shape (K,), optional
        Eigenvalues to print in the legend next to each mode.
    log : bool, default False
        Plot :math:`|v_k(n)|` on a logarithmic axis, where a geometric decay is a straight line
        of slope :math:`\ln|1 - \mu\lambda_k|`. The default plots the signed coordinates, which
        shows the sign flips of an over-stepped mode (:math:`\mu\lambda_k > 1`).

    Returns
    -------
    matplotlib.axes.Axes

    Notes
    -----
    :math:`E\,v_k(n) = (1-\mu\lambda_k)^n v_k(0)` is exact for regressors independent over time;
    for a tapped delay line it is the independence approximation, visibly off for a large
    :math:`\mu` and strongly coloured input (tutorial 01, AR(1) input with :math:`a = 0.9`).
    """
    if isinstance(measured, LearningCurve):
        v, steps = _curve_modes(measured, steps, "measured")
    else:
        v = as_float_array(measured, "measured", min_ndim=2, finite=False)
        if v.ndim > 2:
            with np.errstate(invalid="ignore"):
                v = v.reshape(-1, *v.shape[-2:]).mean(axis=0)
    T, K = v.shape
    if steps is None:
        steps = np.arange(T)
    else:
        steps = as_float_array(steps, "steps", ndim=1)
        if steps.shape != (T,):
            raise ValueError(f"steps must have shape ({T},) to match measured, got {steps.shape}")
    if predicted is not None:
        predicted = as_float_array(predicted, "predicted", ndim=2, finite=False)
        if predicted.shape[1] != K:
            raise ValueError(
                f"predicted must have shape (T', {K}) to match measured's {K} modes, "
                f"got {predicted.shape}"
            )
    modes = _check_modes(modes, K)
    extra = _eigen_labels(spectrum, K)
    log = check_bool(log, "log")

    ax = get_axes(ax)
    show = (lambda a: _positive_or_nan(np.abs(a))) if log else (lambda a: a)
    for i, k in enumerate(modes):
        style = line_style(i)
        # Legends count modes from 1 (v_1: largest eigenvalue), as the spectrum plots' x axis.
        ax.plot(steps, show(v[:, k]), "-", color=style["color"],
                label=f"$v_{{{k + 1}}}$ measured{extra[k]}")
        if predicted is not None:
            # Markers on the prediction tell the modes apart in greyscale.
            ax.plot(np.arange(predicted.shape[0]), show(predicted[:, k]), "--", **style, ms=4,
                    markevery=max(predicted.shape[0] // 8, 1), linewidth=1.5,
                    label=f"$v_{{{k + 1}}}$ predicted")
    ax.set_xlabel("iteration $n$")
    ax.set_ylabel(r"$|v_k(n)|$" if log else r"mode coordinate $v_k(n)$")
    if log:
        ax.set_yscale("log")
        # A predicted mean keeps shrinking geometrically to 1e-20 and beyond while the measured
        # mean stops at the ensemble's noise floor; keep the axis on what was measured.
        shown = np.abs(v[:, modes])
        floor = shown[np.isfinite(shown) & (shown > 0)]
        if floor.size:
            ax.set_ylim(bottom=float(floor.min()) / 10)
    else:
        ax.axhline(0.0, color="gray", linewidth=0.5)
    ax.legend(fontsize="small", ncols=2 if predicted is not None else 1)
    return ax


def plot_training_modes(layer_modes, *, filter: int = 0, modes=None, ax=None):
    r"""How fast each natural mode of one conv filter settles during training.

    Parameters
    ----------
    layer_modes : LayerModes
        One layer's record from :class:`lmsbn.bridge.ModeTracker` (``tracker.record[name]``).
    filter : int, default 0
        Which output filter (row of the layer's weight matrix).
    modes : sequence of int, optional
        Mode indices in descending-eigenvalue order (0: the largest eigenvalue; the legend counts
        from 1). Default: the largest eigenvalue, a middle one and the smallest.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Log y axis of :math:`|v_k(t)|`, one line per mode; the title says whether the LMS picture
        is exact or approximate for this layer (:func:`lmsbn.bridge.layer_case`).

    Notes
    -----
    The tracker records :math:`v(t) = Q_t^T (w(t) - w(T))`: the final weights stand in for the
    unknown optimum, and :math:`Q_t` is the eigenbasis of the layer's input autocorrelation at
    record ``t`` (it moves as the layers below learn). In the LMS picture the large-eigenvalue
    modes collapse within a few steps and the small-eigenvalue modes linger; the last record is
    0 by construction when it is the final step, and is not drawn on the log axis.
    """
    if not isinstance(layer_modes, LayerModes):
        raise TypeError(f"layer_modes must be a LayerModes record (ModeTracker.record[name]), "
                        f"got {describe(layer_modes)}")
    rec_modes = np.asarray(layer_modes.modes, dtype=float)
    if rec_modes.ndim != 3 or rec_modes.shape[0] == 0:
        raise ValueError(f"layer_modes.modes must have shape (T, F, K) with T >= 1, got "
                         f"{rec_modes.shape}; was training finished (on_train_end)?")
    T, F, K = rec_modes.shape
    f = check_int(filter, "filter", min_value=0, max_value=F - 1)
    modes = _check_modes(modes, K)
    eig = np.asarray(layer_modes.eigenvalues, dtype=float)
    steps = np.asarray(layer_modes.steps)

    ax = get_axes(ax)
    for i, k in enumerate(modes):
        ax.plot(steps, _positive_or_nan(np.abs(rec_modes[:, f, k])), "-", markersize=4,
                **line_style(i),
                label=rf"$k$ = {k + 1}, $\lambda_k$ = {eig[0, k]:.3g} at step {int(steps[0])}")
    ax.set_yscale("log")
    ax.set_xlabel("training step (weights after its update)")
    ax.set_ylabel(r"$|q_k^T (w(t) - w_{final})|$")
    ax.set_title(f"filter {f}: LMS picture {layer_modes.case}", fontsize="medium")
    ax.legend(fontsize="small")
    return ax


def plot_mode_decay(decays, *, ax=None):
    r"""Measured against predicted time constants of a layer's top natural modes.

    Parameters
    ----------
    decays : ModeDecay or sequence of ModeDecay
        From :meth:`lmsbn.bridge.ModeTracker.mode_decay` or
        :func:`lmsbn.bridge.layer_modes.mode_decay`, e.g. one for the Gauss-Newton basis and one
        for R.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Log-log: x the predicted :math:`\tau_k = -1/\ln|1 - \mu\lambda_k|`, y the measured one,
        one marker per mode numbered from 1, one colour per result; the dotted diagonal is
        agreement. Modes with an infinite time constant (predicted unstable or measured not
        decaying) cannot sit on a log axis; the legend counts them.
    """
    from lmsbn.bridge import ModeDecay

    items = [decays] if isinstance(decays, ModeDecay) else list(decays) if isinstance(
        decays, (list, tuple)) else None
    if not items or not all(isinstance(d, ModeDecay) for d in items):
        raise TypeError(f"decays must be a ModeDecay or a sequence of them, got {describe(decays)}")
    ax = get_axes(ax)
    finite = []
    for i, d in enumerate(items):
        x, y = np.asarray(d.tau_predicted, float), np.asarray(d.tau_measured, float)
        ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
        style = line_style(i)   # colour and marker: the results differ in greyscale too
        colour = style["color"]
        hidden = f", {int(np.sum(~ok))} with infinite tau not drawn" if np.any(~ok) else ""
        ax.scatter(x[ok], y[ok], color=colour, marker=style["marker"], zorder=3,
                   label=f"{d.layer} {d.basis} (mu = {d.mu:.3g}{hidden})")
        for k in np.flatnonzero(ok):
            ax.annotate(str(k + 1), (x[k], y[k]), textcoords="offset points", xytext=(4, 3),
                        fontsize=7, color=colour)
        finite += [x[ok], y[ok]]
    values = np.concatenate(finite) if finite else np.zeros(0)
    lo, hi = (values.min() / 2, values.max() * 2) if values.size else (0.1, 10.0)
    ax.plot([lo, hi], [lo, hi], "k:", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(r"predicted $\tau_k$ (steps), from $(1 - \mu\lambda_k)^n$")
    ax.set_ylabel(r"measured $\tau_k$ (steps)")
    ax.set_title("natural modes: measured vs predicted time constants", fontsize="medium")
    ax.legend(fontsize="small")
    return ax
