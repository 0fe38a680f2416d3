r"""Animations of the natural modes: watch the fast modes die and the slow ones linger.

:func:`animate_modes` turns a mode record -- a conv filter's, from
:class:`lmsbn.bridge.ModeTracker`, or a classical filter's, from
:func:`lmsbn.spectral.mode_coordinates` -- into a bar chart of :math:`|v_k|` per mode that evolves
over the recorded steps, next to the eigenvalue spectrum that sets each mode's speed
:math:`|1 - \mu\lambda_k|` per step. :func:`save_animation` writes a GIF (through Pillow, which
matplotlib already depends on) and :func:`to_html` gives the JavaScript player for notebooks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lmsbn._checks import as_float_array, check_int, check_positive, describe
from lmsbn.bridge import LayerModes
from lmsbn.filters import LearningCurve
from lmsbn.plot.curves import _curve_modes
from lmsbn.spectral import Spectrum

__all__ = ["animate_modes", "save_animation", "to_html"]


def _mode_record(data, filter, eigenvalues, steps):
    """Normalise the accepted inputs to (|v| (T, K), eigenvalues (T, K), steps (T,), title)."""
    if isinstance(data, LayerModes):
        modes = np.asarray(data.modes, dtype=float)
        if modes.ndim != 3 or modes.shape[0] == 0:
            raise ValueError(f"layer_modes_or_mode_array.modes must have shape (T, F, K) with "
                             f"T >= 1, got {modes.shape}; was training finished?")
        f = check_int(filter, "filter", min_value=0, max_value=modes.shape[1] - 1)
        if eigenvalues is not None or steps is not None:
            raise ValueError("a LayerModes record brings its own eigenvalues and steps; "
                             "do not pass eigenvalues= or steps=")
        title = rf"filter {f}: $|q_k^T (w(t) - w_{{final}})|$ (LMS picture {data.case})"
        return (modes[:, f, :], np.asarray(data.eigenvalues, dtype=float),
                np.asarray(data.steps), title)

    if isinstance(data, LearningCurve):
        v, steps = _curve_modes(data, steps, "layer_modes_or_mode_array")
    else:
        v = as_float_array(data, "layer_modes_or_mode_array", ndim=2, finite=False)
    T, K = v.shape
    if eigenvalues is None:
        raise ValueError("a mode array needs eigenvalues= (a Spectrum, or shape (K,) or (T, K)) "
                         "to sort and label the modes")
    lam = eigenvalues.eigenvalues if isinstance(eigenvalues, Spectrum) else as_float_array(
        eigenvalues, "eigenvalues", ndim=(1, 2))
    if lam.shape == (K,):
        lam = np.broadcast_to(lam, (T, K))
    elif lam.shape != (T, K):
        raise ValueError(f"eigenvalues must have shape ({K},) or ({T}, {K}) to match the mode "
                         f"array of shape {v.shape}, got {lam.shape}")
    if steps is None:
        steps = np.arange(T)
    steps = as_float_array(steps, "steps", ndim=1)
    if steps.shape != (T,):
        raise ValueError(f"steps must have shape ({T},) to match the mode array, got {steps.shape}")
    steps = steps.astype(np.int64) if np.all(steps == np.round(steps)) else steps
    # Modes are sorted by descending eigenvalue everywhere in lmsbn; a caller's array may not be.
    order = np.argsort(-lam[0], kind="stable")
    return v[:, order], np.asarray(lam)[:, order], steps, r"mean mode coordinates $|v_k(n)|$"


def _log_limits(a: np.ndarray) -> tuple[float, float]:
    """Fixed log-axis limits covering every positive finite value of ``a`` over all frames."""
    pos = a[np.isfinite(a) & (a > 0)]
    if pos.size == 0:
        return 0.1, 1.0
    lo, hi = float(pos.min()), float(pos.max())
    return lo / 2, hi * 2 if hi > lo else lo * 10


def animate_modes(layer_modes_or_mode_array, *, filter: int = 0, interval: int = 200, fig=None,
                  eigenvalues=None, steps=None, max_frames: int = 100):
    r"""Animate :math:`|v_k|` per natural mode over the recorded steps.

    Parameters
    ----------
    layer_modes_or_mode_array : LayerModes, LearningCurve or array_like, shape (T, K)
        A conv layer's record from :class:`lmsbn.bridge.ModeTracker` (its ``modes`` for one filter,
        with the eigenvalues recorded at each step), a filter ensemble's
        :class:`lmsbn.filters.LearningCurve` (its ``mode_mean`` at ``mode_steps``), or mode
        coordinates :math:`v(n)` of shape (T, K), e.g. from
        :func:`lmsbn.spectral.mode_coordinates`.
    filter : int, default 0
        Which output filter of a ``LayerModes`` record.
    interval : int, default 200
        Milliseconds between frames (also sets the GIF's frame rate).
    fig : matplotlib.figure.Figure, optional
        An empty figure to draw in; by default a new one, made through pyplot. In a notebook
        where you only want the HTML player, pass ``fig=plt.figure()`` and ``plt.close(fig)``
        after :func:`to_html`, or the still figure is shown as well.
    eigenvalues : Spectrum or array_like, shape (K,) or (T, K)
        Required for a mode array or a LearningCurve (not allowed for ``LayerModes``, which
        records its own). Columns are sorted by descending eigenvalue for display.
    steps : array_like of int, shape (T,), optional
        Step number of each row of a mode array (default 0, 1, ...).
    max_frames : int, default 100
        At most this many frames: a longer record is shown at evenly spaced rows (always the first
        and the last). Each frame costs a full redraw (a few tenths of a second) when the
        animation is saved or turned into HTML.

    Returns
    -------
    matplotlib.animation.FuncAnimation
        One frame per recorded step (or per shown row). It carries two extra attributes:
        ``show_frame(i)`` draws frame ``i`` into the figure (for a still image, or to inspect a
        frame), and ``rows``, the record rows shown, one per frame.

    Notes
    -----
    Left: a bar per mode, largest eigenvalue first, on a log axis held fixed over the frames, so
    that a mode decaying as :math:`(1 - \mu\lambda_k)^n` shrinks at a constant rate. Right: the
    eigenvalues at that step (a conv layer's spectrum changes as the layers below learn). Bars and
    points share one colour per mode index. Values of 0 (the last record of a ``LayerModes``,
    measured against the final weights) and non-finite values (a diverged run) have no bar.
    """
    import matplotlib.pyplot as plt
    from matplotlib import colormaps
    from matplotlib.animation import FuncAnimation
    from matplotlib.figure import Figure

    v, lam, steps, title = _mode_record(layer_modes_or_mode_array, filter, eigenvalues, steps)
    interval = check_int(interval, "interval", min_value=1)
    max_frames = check_int(max_frames, "max_frames", min_value=2)
    own_figure = fig is None
    if own_figure:
        fig = plt.figure(figsize=(9.0, 3.6), layout="constrained")
    elif not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {describe(fig)}")
    elif fig.axes:
        raise ValueError(f"fig must be empty, got a figure with {len(fig.axes)} axes")

    T, K = v.shape
    with np.errstate(invalid="ignore"):
        heights = np.abs(v)
    heights = np.where(np.isfinite(heights), heights, 0.0)
    colors = colormaps["viridis"](np.linspace(0.0, 0.9, K))
    k = np.arange(1, K + 1)

    ax_v, ax_lam = fig.subplots(1, 2, width_ratios=(3, 2))
    bars = ax_v.bar(k, heights[0], color=colors, width=0.8)
    ax_v.set_yscale("log")
    ax_v.set_ylim(*_log_limits(heights))
    ax_v.set_xlim(0.4, K + 0.6)
    ax_v.set_xlabel("mode $k$ (largest eigenvalue first)")
    ax_v.set_ylabel(r"$|v_k|$")
    ax_v.set_title(title, fontsize="medium")
    counter = ax_v.text(0.98, 0.95, "", transform=ax_v.transAxes, ha="right", va="top")

    lam_shown = np.where(lam > 0, lam, np.nan)  # 0 has no place on a log axis
    (line,) = ax_lam.plot(k, lam_shown[0], "-", color="gray", linewidth=0.8)
    points = ax_lam.scatter(k, lam_shown[0], c=colors, s=14, zorder=3)
    ax_lam.set_yscale("log")
    ax_lam.set_ylim(*_log_limits(lam))
    ax_lam.set_xlim(0.4, K + 0.6)
    ax_lam.set_xlabel("mode $k$")
    ax_lam.set_ylabel(r"eigenvalue $\lambda_k$")
    ax_lam.set_title("input autocorrelation spectrum", fontsize="medium")

    rows = np.unique(np.linspace(0, T - 1, min(T, max_frames)).round().astype(int))

    def show_frame(i):
        i = rows[check_int(i, "i", min_value=0, max_value=rows.size - 1)]
        for bar, h in zip(bars, heights[i]):
            bar.set_height(h)
        line.set_ydata(lam_shown[i])
        points.set_offsets(np.column_stack([k, lam_shown[i]]))
        counter.set_text(f"step {steps[i]}  ({i + 1}/{T})")
        return (*bars, line, points, counter)

    show_frame(0)
    if own_figure:
        # Lay the figure out once and freeze it: re-running the constrained layout for every
        # frame would double the cost of saving, and nothing that changes between frames (bar
        # heights, points inside fixed limits, the counter inside the axes) affects the layout.
        fig.get_layout_engine().execute(fig)
        fig.set_layout_engine("none")
    anim = FuncAnimation(fig, show_frame, frames=rows.size, interval=interval, blit=False)
    anim.show_frame = show_frame
    anim.rows = rows
    return anim


def _check_animation(anim):
    from matplotlib.animation import Animation

    if not isinstance(anim, Animation):
        raise TypeError(f"anim must be a matplotlib Animation (from animate_modes), got "
                        f"{describe(anim)}")


def save_animation(anim, path, *, fps=None, dpi: int = 80) -> Path:
    """Write an animation to a GIF file.

    Parameters
    ----------
    anim : matplotlib.animation.Animation
        E.g. from :func:`animate_modes`.
    path : str or os.PathLike
        Must end in ``.gif``; the parent directory must exist.
    fps : float, optional
        Frames per second; by default ``1000 / interval`` of the animation.
    dpi : int, default 80
        Resolution; the file size grows with its square.

    Returns
    -------
    pathlib.Path
        The file written.

    Notes
    -----
    Uses :class:`matplotlib.animation.PillowWriter`: Pillow is a dependency of matplotlib, so
    no ffmpeg or ImageMagick is needed.
    """
    _check_animation(anim)
    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise ValueError(f"path must end in '.gif' (GIF is the format written without extra "
                         f"tools; use to_html(anim) for notebooks), got {str(path)!r}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"the directory of path does not exist: {str(path.parent)!r}")
    if fps is not None:
        fps = check_positive(fps, "fps")
    dpi = check_int(dpi, "dpi", min_value=1)
    anim.save(path, writer="pillow", fps=fps, dpi=dpi)
    return path


def to_html(anim) -> str:
    """The animation as a self-contained HTML/JavaScript player, for a notebook or a report.

    In Jupyter, ``IPython.display.HTML(to_html(anim))`` shows it; the frames are embedded as
    images, so the HTML works offline.
    """
    _check_animation(anim)
    return anim.to_jshtml()
