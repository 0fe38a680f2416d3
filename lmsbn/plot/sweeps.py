"""Figures of the Chai et al. experiments: the learning-rate sweep map, BatchNorm versus NLMS
over training and on the first step, and the per-layer eigenvalue spectra.

Each function takes a result of :mod:`lmsbn.experiments.chai` (or a bridge record) and an
``ax=None`` / ``fig=None``, and returns the Axes / Figure.
"""

from __future__ import annotations

import numpy as np

from lmsbn._checks import check_choice, describe
from lmsbn.plot.style import NORM_COLORS, OKABE_ITO, get_axes, line_style, readable_log_axis

__all__ = ["plot_bn_nlms_drift", "plot_eigen_spectra", "plot_first_step", "plot_lr_sweep"]

_METRICS = ("final_loss", "eval_accuracy", "steps_to_target")


def plot_lr_sweep(result, *, metric: str = "final_loss", ax=None):
    """The learning-rate sweep map: lr (log x) by normalisation (rows), colour = ``metric``.

    Each cell is the seed mean of ``metric`` (a circle); a run where every seed diverged is a
    red X annotated with the mean divergence step; some seeds diverged is a hollow X over the
    circle. Short ticks in each row, below the cells, mark that norm's bounds at initialisation: a
    solid one the Gauss-Newton bound ``2 / lambda_max(G)``, in the units of the learning rate; a
    dotted one the unit-gain LMS picture ``min over layers 2 / lambda_max(R)``, in raw LMS
    step-size units, which are *not* the SGD learning rate (see
    :class:`lmsbn.experiments.chai.LRSweep` Notes). A green triangle under a row marks the largest
    lr at which that norm still *learns* (seed median of ``LRSweep.max_learning_lr``), and the
    title carries ``LRSweep.headline`` (both halves of claim (2)) when the sweep can judge it.

    Parameters
    ----------
    result : LRSweep
    metric : {"final_loss", "eval_accuracy", "steps_to_target"}
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.collections[0]`` holds the stable cells with a value (offsets = (lr, row)); the X
        markers are the line labelled ``"diverged (number: mean step)"``, stable cells without a
        value (target never reached, or a failed point) hollow grey circles, the bounds the lines
        labelled ``"2/lambda_max(G)"`` and ``"unit-gain LMS picture 2/lambda_max(R)"``.
    """
    metric = check_choice(metric, "metric", _METRICS)
    _need(result, ("lrs", "norms", "diverged", metric), "an LRSweep")
    ax = get_axes(ax, figsize=(6.5, 3.8))
    value = np.asarray(getattr(result, metric), dtype=float)
    if metric == "steps_to_target":
        value = np.where(value < 0, np.nan, value)  # -1 = never reached
    all_div = result.diverged.all(axis=2)
    some_div = result.diverged.any(axis=2) & ~all_div
    # Seed mean over the finite values only (a diverged seed's inf is shown by its X instead).
    finite = np.isfinite(value)
    count = finite.sum(axis=2)
    mean = np.where(finite, value, 0.0).sum(axis=2) / np.maximum(count, 1)
    mean[count == 0] = np.nan
    rows = np.arange(len(result.norms))
    L, R = np.meshgrid(result.lrs, rows)
    ok = ~all_div & np.isfinite(mean)
    sc = ax.scatter(L[ok], R[ok], c=mean[ok], s=160, cmap="viridis", edgecolors="k", zorder=2)
    ax.figure.colorbar(sc, ax=ax, label=_METRIC_LABEL[metric])
    # Stable cells without a value: the target was never reached (steps_to_target), or the
    # grid point failed with an error (its message is in result.errors).
    empty = ~all_div & ~np.isfinite(mean)
    ax.plot(L[empty], R[empty], "o", mfc="none", mec="0.5", ms=12, ls="none", zorder=2,
            label=("target not reached" if metric == "steps_to_target" else "no value (failed)")
            if empty.any() else "_nolegend_")
    if metric == "steps_to_target":
        # The colour is the mean over the seeds that reached the target; say when some did not.
        reached = np.asarray(result.steps_to_target) >= 0
        partly = ~all_div & reached.any(axis=2) & ~reached.all(axis=2)
        ax.plot(L[partly], R[partly], "o", mfc="none", mec="0.5", ms=17, mew=1.5, ls="none",
                zorder=3, label="some seeds did not reach it" if partly.any() else "_nolegend_")
    ax.plot(L[all_div], R[all_div], "x", color="#D55E00", ms=11, mew=2.5, ls="none",
            label="diverged (number: mean step)", zorder=3)
    ax.plot(L[some_div], R[some_div], "x", color="#D55E00", ms=8, mew=1, ls="none",
            label="some seeds diverged" if some_div.any() else "_nolegend_", zorder=3)
    for k, j in zip(*np.nonzero(all_div)):
        step = np.mean(result.diverged_at[k, j])
        ax.annotate(f"{step:.0f}", (result.lrs[j], k), textcoords="offset points", xytext=(7, 5),
                    fontsize=7, color="#D55E00")
    # The Gauss-Newton bound (units of lr) as a solid tick; the raw R bound, which assumes a
    # unit-gain error, as a faint dotted one (the unit-gain LMS picture).
    for attr, style, lw, label in (
            ("predicted_bound", "-", 2, "2/lambda_max(G)"),
            ("lms_bound", ":", 1.2, "unit-gain LMS picture 2/lambda_max(R)")):
        bound = np.asarray(getattr(result, attr, np.full(len(rows), np.nan)), dtype=float)
        for k, b in enumerate(bound):
            # Below the row's cells (radius ~0.15 row at the default size), so a bound that falls
            # on a sampled lr never hides its cell.
            if np.isfinite(b):
                ax.plot([b, b], [k - 0.5, k - 0.24], style, lw=lw, zorder=1,
                        color=NORM_COLORS.get(result.norms[k], "k"),
                        label=label if k == np.flatnonzero(np.isfinite(bound))[0] else "_" + label)
    learn = getattr(result, "max_learning_lr", None)
    if learn is not None:
        # Stable means *learns* (final loss below chance by a margin), not merely finite.
        first = True
        for k in rows:
            v = learn[k][np.isfinite(learn[k])]
            if v.size:
                ax.plot([np.median(v)], [k - 0.3], "^", color="#009E73", ms=7, ls="none", zorder=4,
                        label="largest lr that learns (seed median)" if first else "_nolegend_")
                first = False
    ax.set_xscale("log")
    ax.set_yticks(rows, result.norms)
    ax.set_ylim(-0.6, len(rows) - 0.5)
    ax.set_xlabel("SGD learning rate (ticks: 2/λmax(G); dotted: unit-gain 2/λmax(R), raw units)")
    ax.set_ylabel("normalisation")
    title = f"learning-rate sweep: {_METRIC_LABEL[metric]}"
    headline = getattr(result, "headline", "")
    if headline.startswith("claim (2): "):  # both halves of the claim, as the sweep judged them
        import textwrap
        # About 90 characters at 7 pt fit the axes of a 7-inch figure with room to spare: the
        # title is centred on the axes, which the row labels push right of the figure centre.
        title += "\n" + textwrap.fill(headline, 90)
    ax.set_title(title, fontsize=7 if "\n" in title else None)
    # Below the axes, so it never covers a row of cells.
    # Two columns: with both bounds' labels, more no longer fit a 7-inch figure.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, fontsize=7, frameon=False)
    return ax


_METRIC_LABEL = {"final_loss": "final loss (mean of last 10 steps)",
                 "eval_accuracy": "held-out accuracy", "steps_to_target": "steps to target loss"}


def plot_bn_nlms_drift(record, *, layer=None, ax=None):
    """BatchNorm/NLMS step ratio and rho over training: median and quartile band per layer.

    Parameters
    ----------
    record : FirstStep, ModeTracker, or dict of str to LayerModes
        A :func:`lmsbn.experiments.chai.first_step` result, a trained tracker, or its
        ``record``. Only layers followed by BatchNorm are drawn.
    layer : str or sequence of str, optional
        Restrict to these layers.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Per layer: a solid line (median ratio, label ``"<layer> BN/NLMS"``) with its 25-75%
        band, and a dashed line (median rho, label ``"<layer> rho"``); y is logarithmic, and
        the dotted line at 1 is where BatchNorm's step *is* NLMS's.
    """
    series = _drift_series(record)
    names = list(series)
    if layer is not None:
        wanted = [layer] if isinstance(layer, str) else list(layer)
        for n in wanted:
            if n not in series:
                raise ValueError(f"layer must be one of {names}, got {n!r}")
        names = wanted
    if not names:
        raise ValueError("record has no layer followed by BatchNorm (nothing to draw)")
    ax = get_axes(ax)
    for c, name in enumerate(names):
        steps, ratio, rho = series[name]
        # One colour and one marker per layer (markers tell the layers apart in greyscale, and
        # with a single record a marker-less line would draw nothing).
        style = line_style(c)
        q = np.percentile(ratio, [25, 50, 75], axis=1)
        ax.fill_between(steps, q[0], q[2], color=style["color"], alpha=0.15, lw=0)
        ax.plot(steps, q[1], **style, ms=4, label=f"{name} BN/NLMS")
        ax.plot(steps, np.median(rho, axis=1), ls="--", **style, ms=4, mfc="white",
                label=f"{name} rho")
    ax.axhline(1.0, color="k", ls=":", lw=1)
    ax.set_yscale("log")
    readable_log_axis(ax.yaxis)
    ax.set_xlabel("training step")
    ax.set_ylabel("BN step / NLMS step  (dashed: ρ)")
    ax.set_title("BatchNorm vs NLMS over training")
    # Beside the axes, so it never covers the bands; its title says what the lines are.
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0,
              title="median over filters\n(band: 25-75%)", title_fontsize=7)
    return ax


def _drift_series(record):
    """{layer: (steps (T,), ratio (T, F), rho (T, F))} from any of the accepted record types."""
    if hasattr(record, "drift") and hasattr(record, "steps"):  # chai.FirstStep
        return {n: (record.steps[n], d["ratio"], d["rho"]) for n, d in record.drift.items()}
    if hasattr(record, "record"):  # a ModeTracker
        record = record.record
    if isinstance(record, dict) and all(hasattr(v, "bn") for v in record.values()):
        return {n: (v.steps, v.bn["ratio"], v.bn["rho"]) for n, v in record.items() if v.bn}
    raise TypeError("record must be a chai.FirstStep, a ModeTracker or its record dict, "
                    f"got {describe(record)}")


def plot_first_step(report, *, ax=None):
    """Per-layer distribution of rho and of the BN/NLMS step ratio on the first step.

    Parameters
    ----------
    report : FirstStepReport or FirstStep
        :func:`lmsbn.bridge.compare_first_step`'s report (or a ``first_step`` result).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        One column per layer: the filters' rho as circles left of centre (collection label
        ``"rho"``), their BN/NLMS ratio as squares right of centre (``"BN/NLMS"``), medians as
        short black bars; a grey bar left of each column spans 1 +- the standard deviation of
        rho predicted for isotropic initialisations (``rho_sd``); the dotted line at 1 is the
        NLMS equivalence, which holds on average over initialisations.
    """
    report = getattr(report, "report", report)
    if not hasattr(report, "layers") or not isinstance(report.layers, dict):
        raise TypeError("report must be a FirstStepReport or a chai.FirstStep, "
                        f"got {describe(report)}")
    if not report.layers:
        raise ValueError("report has no conv+BatchNorm layer (nothing to draw)")
    ax = get_axes(ax)
    names = list(report.layers)
    for i, name in enumerate(names):
        c = report.layers[name]
        # Deterministic spread of the points (no jitter rng), sorted so the shape is readable.
        for values, dx, marker, colour, label in ((c.rho, -0.2, "o", OKABE_ITO[0], "rho"),
                                                  (c.ratio, 0.2, "s", OKABE_ITO[1], "BN/NLMS")):
            spread = np.linspace(-0.08, 0.08, values.size)
            ax.scatter(i + dx + spread, np.sort(values), marker=marker, s=14, color=colour,
                       label=label if i == 0 else f"_{label}")
            med = np.median(values)
            ax.plot([i + dx - 0.12, i + dx + 0.12], [med, med], color="k", lw=2)
        sd = getattr(c, "rho_sd", None)
        if sd is not None and np.size(sd):
            # 1 +- the spread of rho predicted over isotropic initialisations (bridge.rho_spread).
            ax.plot([i - 0.38] * 2, [1 - float(sd[0]), 1 + float(sd[0])], color="0.5", lw=3,
                    label="1 ± predicted sd of ρ" if i == 0 else "_sd")
    ax.axhline(1.0, color="k", ls=":", lw=1)
    ax.set_xticks(range(len(names)), [f"{n}\nK={report.layers[n].K}" for n in names])
    ax.set_ylabel("ρ  and  BN step / NLMS step")
    ax.set_title(f"first step (lr {report.lr:g}): BatchNorm vs NLMS per filter")
    ax.legend(fontsize=7, loc="best")
    return ax


def plot_eigen_spectra(result, *, fig=None, stages=("init", "trained")):
    """Per-layer eigenvalues of R, with vs without BatchNorm, at initialisation vs trained.

    Parameters
    ----------
    result : EigenSpectra
    fig : matplotlib Figure, optional
        Filled with one Axes per layer (created with pyplot when omitted).
    stages : sequence of {"init", "trained"}

    Returns
    -------
    matplotlib.figure.Figure
        Axes titled by layer, at most three per row (four layers make a 2 x 2 grid, so the text
        stays readable when the figure is shown at page width); in each, one line per
        (norm, stage) labelled ``"<norm> <stage>"`` (solid = init, dashed = trained), eigenvalue
        index on x, eigenvalue on a log y axis (they span decades).
    """
    _need(result, ("eigenvalues", "layers", "norms"), "an EigenSpectra")
    stages = [check_choice(s, "stages entry", ("init", "trained")) for s in stages]
    n = len(result.layers)
    nrows = -(-n // 3)
    ncols = -(-n // nrows)
    if fig is None:
        import matplotlib.pyplot as plt
        fig = plt.figure(figsize=(3.4 * ncols, 3.0 * nrows), layout="constrained")
    grid = fig.subplots(nrows, ncols, squeeze=False)
    axes = grid.ravel()[:n]
    for spare in grid.ravel()[n:]:
        spare.remove()
    for i, (ax, layer) in enumerate(zip(axes, result.layers)):
        zeros = 0
        for norm in result.norms:
            for stage in stages:
                ev = result.eigenvalues[norm][stage][layer]
                style = dict(color=NORM_COLORS.get(norm, "k"), ls="-" if stage == "init" else "--")
                if not np.all(np.isfinite(ev)):
                    # Training diverged: no trained spectrum. Said in the legend (first axes).
                    ax.plot([], [], **style, label=f"{norm} {stage} (diverged: not drawn)"
                            if i == 0 else "_nolegend_")
                    continue
                # Exact zeros (rank-deficient R) cannot sit on a log axis; they are left off and
                # counted in the title.
                k = np.flatnonzero(ev > 0)
                zeros += ev.size - k.size
                ax.plot(k + 1, ev[k], **style, label=f"{norm} {stage}")
        ax.set_yscale("log")
        ax.set_title(layer if not zeros else f"{layer} ({zeros} zero eigenvalues not shown)",
                     fontsize="medium" if not zeros else "small")
        if i >= n - ncols:  # the bottom axes of each column
            ax.set_xlabel("eigenvalue index k")
        if i % ncols == 0:
            ax.set_ylabel("λ_k of R = UᵀU/M")
    axes[0].legend(fontsize=7)
    return fig


def _need(result, attrs, what):
    missing = [a for a in attrs if not hasattr(result, a)]
    if missing:
        raise TypeError(f"result must be {what} (missing {missing}), got {describe(result)}")
