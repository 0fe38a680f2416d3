"""Shared plotting conventions: a colour-blind-safe palette and the ``ax=None`` idiom.

The palette is Okabe & Ito's (2008), distinguishable under the common colour-vision deficiencies.
Nothing here touches matplotlib's global rcParams.
"""

from __future__ import annotations

__all__ = ["LINE_COLORS", "MARKERS", "NORM_COLORS", "OKABE_ITO", "get_axes", "line_style",
           "readable_log_axis"]

#: Okabe-Ito colours, in the order used for successive lines.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

#: Colours for successive curves: Okabe-Ito without its yellow, which is too pale on white (and
#: near-white in greyscale), the dark ones first.
LINE_COLORS = ("#0072B2", "#D55E00", "#009E73", "#000000", "#CC79A7", "#E69F00", "#56B4E9")

#: One marker per entry of LINE_COLORS: curves stay distinguishable when printed in greyscale,
#: where several of the colours have nearly the same lightness.
MARKERS = ("o", "s", "^", "D", "v", "P", "X")

#: One fixed colour per normalisation, so every figure of a lesson uses the same code.
NORM_COLORS = {
    "none": "#000000", "full": "#0072B2", "center": "#56B4E9", "scale": "#009E73",
    "amplify": "#E69F00", "suppress": "#D55E00", "frozen": "#CC79A7",
}


def get_axes(ax=None, *, figsize=(5.0, 3.5)):
    """Return ``ax``, or a new Axes on a new pyplot Figure.

    The new figure goes through pyplot so that Jupyter's inline backend displays it at the end
    of the cell, as students expect; code that makes many figures (the tour, tests) closes them
    with ``plt.close(fig)``.
    """
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def line_style(i: int) -> dict:
    """Colour and marker of the ``i``-th curve of an axes (``ax.plot(..., **line_style(i))``)."""
    return {"color": LINE_COLORS[i % len(LINE_COLORS)], "marker": MARKERS[i % len(MARKERS)]}


def readable_log_axis(axis) -> None:
    """Label a logarithmic axis that spans less than about two decades at 1-2-5 steps.

    Matplotlib labels only the powers of ten on a log axis and, when fewer than two of them are in
    view, some minor ticks in scientific notation (``9x10^-1``, none above 1): a ratio axis around
    1 then reads badly. This puts plain labels (0.5, 1, 2, ...) on the 1-2-5 ticks instead. Wider
    axes keep matplotlib's default. Call it after the data are drawn (it reads the limits).
    """
    import numpy as np
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    lo, hi = sorted(axis.get_view_interval())
    if not (lo > 0 and np.isfinite(hi)) or np.log10(hi / lo) > 2.0:
        return
    # Under ~0.7 decade, 1-2-5 may leave a single tick in view: use a finer set.
    subs = ((1.0, 2.0, 5.0) if np.log10(hi / lo) > 0.7
            else (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0))
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FormatStrFormatter("%g"))
    axis.set_minor_formatter(NullFormatter())
