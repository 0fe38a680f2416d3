"""Shared plotting conventions: a colour-blind-safe palette and the ``ax=None`` idiom.

The palette is Okabe & Ito's (2008), distinguishable under the common colour-vision deficiencies.
Nothing here touches matplotlib's global rcParams.
"""

from __future__ import annotations

__all__ = ["NORM_COLORS", "OKABE_ITO", "get_axes"]

#: Okabe-Ito colours, in the order used for successive lines.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

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
