"""Figures of the stability bound: measured onset and blow-up against the Gauss-Newton bound,
and the sharpness 2/lambda_max(t) meeting the learning rate.

Each function takes a :class:`lmsbn.experiments.chai.BoundCheck` (or a sharpness record) and an
``ax=None``, and returns the Axes.
"""

from __future__ import annotations

import numpy as np

from lmsbn._checks import check_choice, describe
from lmsbn.plot.style import NORM_COLORS, OKABE_ITO, get_axes

__all__ = ["plot_bound_check", "plot_sharpness"]

_MARKERS = ("o", "s", "^", "D", "v")


def _need_bound_check(result):
    for name in ("lr_max", "onset", "blowup", "datasets", "norms", "seeds", "trajectory"):
        if not hasattr(result, name):
            raise TypeError(f"result must be a BoundCheck (from lmsbn.experiments.chai."
                            f"bound_check), got {describe(result)}")


def plot_bound_check(result, *, ax=None):
    """Measured onset and blow-up learning rates against the Gauss-Newton bound, per case.

    x is each case's ``lr_max = 2 / lambda_max`` at initialisation, y a measured learning rate
    (both log). A filled marker is the onset (the loss first rises within ``onset_steps``), an X
    the blow-up (the divergence rule fires), joined by a line: the catapult range. Colour = norm,
    marker shape = dataset. The diagonal is "measured = bound"; the grey band is the 3x window
    the verdict accepts. A blow-up never reached is drawn as a dotted line from the onset to an
    arrow at the top of the grid.

    Parameters
    ----------
    result : BoundCheck
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        The onsets are the line labelled ``"onset"`` (one point per case, in ``result.cases()``
        order, NaN where none was found), the blow-ups the line labelled ``"blow-up"``.
    """
    _need_bound_check(result)
    ax = get_axes(ax, figsize=(5.5, 4.2))
    lr_max, onset, blowup = (np.asarray(a, float) for a in (result.lr_max, result.onset,
                                                              result.blowup))
    top = result.ratio ** result.params.get("k_max", 26)
    finite = lr_max[np.isfinite(lr_max)]
    lo, hi = (finite.min() / 2, finite.max() * 2) if finite.size else (1e-3, 1e3)
    xs = np.geomspace(lo, hi, 50)
    ax.fill_between(xs, xs / 3, xs * 3, color="0.9", zorder=0, label="within 3x of the bound")
    ax.plot(xs, xs, color="0.4", lw=1, ls="--", zorder=1, label="lr = 2/λmax(G) at init")
    xo, yo, xb, yb = [], [], [], []
    for d, n, _, idx in result.cases():
        color = NORM_COLORS.get(n, OKABE_ITO[result.norms.index(n) % len(OKABE_ITO)])
        marker = _MARKERS[result.datasets.index(d) % len(_MARKERS)]
        x, on, bu = lr_max[idx], onset[idx], blowup[idx]
        xo.append(x)
        yo.append(on)
        xb.append(x)
        yb.append(bu)
        ax.plot([x], [on], marker, color=color, ms=7, mec="k", zorder=3)
        if np.isfinite(bu):
            ax.plot([x], [bu], "x", color=color, ms=8, mew=2, zorder=3)
            ax.plot([x, x], [on, bu], color=color, lw=1, alpha=0.6, zorder=2)
        else:  # no divergence up to the top of the grid: an arrow up from there
            ax.annotate("", xy=(x, x * top * 1.6), xytext=(x, x * top),
                        arrowprops={"arrowstyle": "->", "color": color}, zorder=2)
            ax.plot([x, x], [on, x * top], color=color, lw=1, ls=":", alpha=0.6, zorder=2)
    # Invisible carriers of the data and the legend entries.
    ax.plot(xo, yo, "o", color="0.3", ls="none", ms=0, label="onset")
    ax.plot(xb, yb, "x", color="0.3", ls="none", ms=0, label="blow-up")
    for n in result.norms:
        ax.plot([], [], "s", color=NORM_COLORS.get(n, "0.3"), label=f"norm {n}")
    for k, d in enumerate(result.datasets):
        ax.plot([], [], _MARKERS[k % len(_MARKERS)], color="0.5", mec="k", label=d)
    ax.plot([], [], "x", color="0.3", mew=2, label="blow-up (line: catapult range)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Gauss-Newton bound 2/λmax(G) at initialisation")
    ax.set_ylabel("measured learning rate")
    ax.set_title("stability bound: onset (markers) and blow-up (x)")
    handles, labels = ax.get_legend_handles_labels()
    keep = [(h, lab) for h, lab in zip(handles, labels) if lab not in ("onset", "blow-up")]
    ax.legend(*zip(*keep), fontsize=7, loc="lower right", frameon=False)
    return ax


def plot_sharpness(record, *, dataset=None, norm=None, seed=None, ax=None):
    """2 / lambda_max(t) of the Gauss-Newton matrix along training, meeting the learning rate.

    Parameters
    ----------
    record : BoundCheck, or Sharpness / ModeTracker with a sharpness record
        For a :class:`~lmsbn.experiments.chai.BoundCheck`, the two runs that bracket the onset of
        one case are drawn (solid: the onset lr, dashed: one grid step below), each with its
        learning rate as a horizontal line and the first loss rise marked. For a
        :class:`lmsbn.bridge.stability.Sharpness` callback (or a ModeTracker built with
        ``sharpness=True``), its record and learning rate.
    dataset, norm, seed : optional
        The BoundCheck case (default: the first of each).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Lines labelled ``"2/λmax(t) at lr ..."`` (y log); the learning rates are dotted lines.
        The loss can rise once the curve is at or below its lr (lr * lambda_max >= 2).
    """
    ax = get_axes(ax)
    if hasattr(record, "trajectory") and hasattr(record, "cases"):
        _need_bound_check(record)
        d = check_choice(dataset if dataset is not None else record.datasets[0], "dataset",
                         record.datasets)
        n = check_choice(norm if norm is not None else record.norms[0], "norm", record.norms)
        seeds = [int(s) for s in record.seeds]
        s = seeds[0] if seed is None else seed
        if s not in seeds:
            raise ValueError(f"seed must be one of {seeds}, got {seed!r}")
        idx = (record.datasets.index(d), record.norms.index(n), seeds.index(s))
        on = record.onset[idx]
        for row, (lr, style) in enumerate(((on, "-"), (on / record.ratio, "--"))):
            lam = record.trajectory[idx][row]
            if not np.isfinite(lr) or not np.isfinite(lam).any():
                continue
            color = OKABE_ITO[row]
            with np.errstate(divide="ignore"):
                ax.plot(record.traj_steps, 2 / lam, style, marker="o", color=color,
                        label=f"2/λmax(t) at lr {lr:.3g}")
            ax.axhline(lr, color=color, ls=":", lw=1.5)
        rise = record.rise_step[idx]
        if rise > 0 and np.isfinite(record.lambda_at_rise[idx]):
            ax.plot([rise - 1], [2 / record.lambda_at_rise[idx]], "*", color="#D55E00", ms=13,
                    label=f"step before the loss first rises (t = {rise - 1})")
        ax.set_title(f"sharpness at the onset: {d}/{n}/seed {s}")
    else:
        sharp = getattr(record, "sharpness", record)
        steps, lam = getattr(sharp, "steps", None), getattr(sharp, "lambda_max", None)
        if steps is None or lam is None:
            raise TypeError(f"record must be a BoundCheck, a Sharpness callback or a ModeTracker "
                            f"with sharpness=True, got {describe(record)}")
        lam = np.asarray(lam, float)
        if lam.size == 0:
            raise ValueError("the sharpness record is empty (train with the callback first)")
        with np.errstate(divide="ignore"):
            ax.plot(steps, 2 / lam, marker="o", color=OKABE_ITO[0], label="2/λmax(t)")
        lr = float(getattr(sharp, "lr", np.nan))
        if np.isfinite(lr):
            ax.axhline(lr, color=OKABE_ITO[0], ls=":", lw=1.5, label=f"lr {lr:.3g}")
        ax.set_title("sharpness during training")
    ax.set_yscale("log")
    ax.set_xlabel("step t")
    ax.set_ylabel("2 / λmax(G)(t)  (dotted: lr)")
    ax.legend(fontsize=7, frameon=False)
    return ax
