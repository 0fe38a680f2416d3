"""Figures of the other seed papers: Bjorck et al. (2018), Wei et al. (2019), Ergen et al. (2021).

Each function takes the result dataclass of the matching :mod:`lmsbn.experiments` module and
``ax=None``, and returns the Axes.
"""

from __future__ import annotations

import numpy as np

from lmsbn.plot.style import LINE_COLORS, OKABE_ITO, get_axes, line_style

__all__ = [
    # Bjorck et al. 2018
    "plot_activation_growth", "plot_condition_growth", "plot_gradient_histograms",
    "plot_same_lr",
    # Wei et al. 2019
    "plot_gamma_lr_map",
]

_NET_COLORS = {"no BN": "#000000", "BN": "#0072B2"}


# ==================================================================================================
# Bjorck, Gomes, Selman, Weinberger (2018): Understanding Batch Normalization
# ==================================================================================================
def plot_same_lr(result, ax=None):
    """Loss curves of :func:`lmsbn.experiments.bjorck.same_lr_comparison` (dashed: large lr)."""
    ax = get_axes(ax)
    small = result.lrs.min()
    for lab, lr, loss, div in zip(result.labels, result.lrs, result.loss, result.diverged):
        seen = np.flatnonzero(np.isfinite(loss))
        ax.plot(np.arange(loss.size), loss, color=_NET_COLORS[str(lab)],
                linestyle="-" if lr == small else "--",
                label=f"{lab}, lr={lr:g}" + (" (diverged: X)" if div else ""))
        if div and seen.size:   # where the run was stopped
            ax.plot(seen[-1], loss[seen[-1]], "x", color="#D55E00", ms=9, mew=2)
    # Log y: a diverging run climbs by orders of magnitude, which would flatten the others.
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("minibatch loss")
    ax.set_title("Same learning rate: BN vs no BN")
    ax.legend(fontsize="small")
    return ax


def plot_activation_growth(result, ax=None, *, fraction_index: int = -1):
    """Relative change of each block's activation variance after a fraction of one step (log y)."""
    ax = get_axes(ax)
    rel = result.relative_variance()[:, fraction_index]
    layers = np.arange(1, rel.shape[1] + 1)
    for k, lab in enumerate(("no BN", "BN")):
        ax.plot(layers, rel[k], marker="o", color=_NET_COLORS[lab], label=lab)
    ax.set_yscale("log")
    ax.axhline(1.0, color="0.6", linewidth=0.8)
    ax.set_xlabel("block (depth)")
    base = result.fractions[0]
    ax.set_ylabel("activation variance / variance before the step" if base == 0 else
                  f"activation variance / variance at {base:.0%} of the step")
    ax.set_title(f"{result.fractions[fraction_index]:.0%} of one step at lr={result.lr:g}")
    ax.legend()
    return ax


def plot_gradient_histograms(result, ax=None, *, layer: int = -1):
    """Histograms of one conv layer's gradient entries (in standard deviations), log counts."""
    ax = get_axes(ax)
    for k, lab in enumerate(("no BN", "BN")):
        edges, counts = result.edges[k, layer], result.counts[k, layer]
        ax.stairs(counts, edges, color=_NET_COLORS[lab],
                  label=f"{lab} (kurtosis {result.kurtosis[k, layer]:.1f})")
    ax.set_yscale("log")
    ax.set_xlabel("gradient entry / its standard deviation")
    ax.set_ylabel("count")
    n_layers = result.kurtosis.shape[1]
    ax.set_title(f"conv layer {range(1, n_layers + 1)[layer]} gradients")
    ax.legend(fontsize="small")
    return ax


def plot_condition_growth(result, ax=None):
    """Mean log condition number of Gaussian matrix products vs depth, with the Lyapunov slope."""
    ax = get_axes(ax)
    mean = result.log_cond.mean(axis=0)
    ax.plot(result.depths, mean, marker=".", color=OKABE_ITO[0], label="simulation (mean)")
    ax.plot(result.depths, result.theory_slope * result.depths, color=OKABE_ITO[3], linestyle="--",
            label=rf"theory $(\lambda_1-\lambda_n)L$, slope {result.theory_slope:.3f}")
    ax.set_xlabel("number of factors L")
    ax.set_ylabel("ln condition number")
    ax.set_title(f"Products of {result.n}x{result.n} Gaussian matrices")
    ax.legend(fontsize="small")
    return ax


# ==================================================================================================
# Wei, Stokes, Schwab (2019): Mean-field analysis of batch normalization
# ==================================================================================================
def plot_gamma_lr_map(result, ax=None):
    """log10 final loss over gamma (rows) x learning rate, diverged cells blank, eta* as markers."""
    ax = get_axes(ax, figsize=(6.0, 3.5))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(result.diverged, np.nan, np.log10(result.final_loss))
    rows = np.arange(result.gammas.size)
    log_lr = np.log10(result.lrs)
    # Cell edges halfway (in log) between neighbouring lrs: each cell holds its own lr, even on an
    # uneven grid, and a star at eta* falls in the cell of the nearest lr.
    if log_lr.size > 1:
        mid = (log_lr[1:] + log_lr[:-1]) / 2
        edges_x = np.concatenate([[2 * log_lr[0] - mid[0]], mid, [2 * log_lr[-1] - mid[-1]]])
    else:
        edges_x = log_lr[0] + np.array([-0.5, 0.5])
    mesh = ax.pcolormesh(edges_x, np.arange(rows.size + 1) - 0.5, z, cmap="viridis", shading="flat")
    ax.figure.colorbar(mesh, ax=ax, label="log10 final loss (blank: diverged)")
    with np.errstate(divide="ignore"):
        ax.plot(np.log10(result.predicted_lr), rows, "w*", markersize=10, markeredgecolor="k",
                linestyle="none", label=r"predicted $\eta^*$")
    ax.set_yticks(rows, result.labels())
    ax.set_xlabel("log10 learning rate")
    ax.set_ylabel("BatchNorm gamma")
    ax.set_title(r"Loss after a fixed budget; $\eta^* = 2C(1+m)/\lambda_{max}$")
    ax.legend(loc="lower left", fontsize="small")
    return ax


# ==================================================================================================
# Ergen, Sahiner, Ozturkler, Pauly, Mardani, Pilanci (2021): convex BatchNorm networks
# ==================================================================================================
__all__ += ["plot_ergen_convergence", "plot_ergen_fit", "plot_ergen_objectives"]


def plot_ergen_objectives(nonconvex, ax=None, *, closed=None, convex=None):
    """Objective of each gradient-descent restart against the step, with the optima drawn in.

    Parameters
    ----------
    nonconvex : lmsbn.experiments.ergen.NonconvexResult
    ax : matplotlib Axes, optional
    closed : ClosedFormResult, optional
        Its value is drawn as a dashed line (dotted when it is only a lower bound).
    convex : ConvexResult, optional
        Its objective is drawn as a dash-dotted line.

    Returns
    -------
    matplotlib Axes
        Log y axis: the objective falls by decades before it settles.
    """
    ax = get_axes(ax)
    for i, (hist, at) in enumerate(zip(nonconvex.history, nonconvex.diverged_at)):
        ax.plot(np.arange(hist.size), hist, **line_style(i), markevery=max(hist.size // 8, 1),
                ms=4, linewidth=1.0, alpha=0.8,
                label=f"GD restart {i}" + (f" (diverged at step {at})" if at >= 0 else ""))
    if closed is not None:
        ax.axhline(closed.value, color="black", linestyle="--" if closed.full_rank else ":",
                   label=f"closed form p* = {closed.value:.5f}"
                   + ("" if closed.full_rank else " (lower bound)"))
    if convex is not None:
        ax.axhline(convex.objective, color=OKABE_ITO[3], linestyle="-.",
                   label=f"convex program = {convex.objective:.5f}")
    ax.set_yscale("log")
    ax.set_xlabel("gradient step")
    # Braced \frac arguments: mathtext rejects TeX's \frac12 shorthand when the figure is drawn.
    ax.set_ylabel(r"objective $\frac{1}{2}\|f - y\|^2 "
                  r"+ \frac{\beta}{2}\sum(\gamma^2+\alpha^2+v^2)$")
    ax.set_title("Non-convex training vs the convex optimum")
    ax.legend(fontsize="small")
    return ax


def plot_ergen_fit(y, outputs, ax=None):
    """Targets and fitted outputs per sample: where the weight decay shrinks the fit.

    Parameters
    ----------
    y : ndarray, shape (n,)
    outputs : dict of str to ndarray of shape (n,)
        Named fits, e.g. ``{"closed form": cf.outputs, "GD": net.forward(X)}``.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = get_axes(ax)
    y = np.asarray(y, dtype=float).ravel()
    idx = np.arange(y.size)
    ax.plot(idx, y, "o", color="black", markerfacecolor="none", label="target y")
    markers = "x+^vsd"   # not "o": that is the targets' open circle
    for i, (name, out) in enumerate(outputs.items()):
        ax.plot(idx, np.asarray(out, dtype=float).ravel(), markers[i % len(markers)],
                color=LINE_COLORS[i % len(LINE_COLORS)], label=name)
    ax.axhline(0.0, color="0.7", linewidth=0.8)
    ax.set_xlabel("sample")
    ax.set_ylabel("output")
    ax.set_title("Targets and fits")
    ax.legend(fontsize="small")
    return ax


def plot_ergen_convergence(convex, ax=None, *, reference=None):
    """The convex solver's progress: objective after each FISTA iteration.

    With ``reference`` (a known optimum, e.g. the closed form's value) the relative distance
    ``|F_k - reference| / reference`` is drawn instead, on a log axis.

    Returns
    -------
    matplotlib Axes
    """
    ax = get_axes(ax)
    hist = np.asarray(convex.history, dtype=float)
    it = np.arange(1, hist.size + 1)
    if reference is None:
        ax.plot(it, hist, color=OKABE_ITO[0])
        ax.set_ylabel("convex objective")
    else:
        gap = np.abs(hist - reference) / abs(reference)
        ax.plot(it, np.where(gap > 0, gap, np.nan), color=OKABE_ITO[0])
        ax.set_yscale("log")
        ax.set_ylabel("relative distance to the optimum")
    ax.set_xscale("log")
    ax.set_xlabel("FISTA iteration")
    ax.set_title("Convex program (FISTA + augmented Lagrangian)")
    return ax
