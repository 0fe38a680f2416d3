r"""Eigenvalue spectra and channel-block heat maps of autocorrelation matrices.

These functions take a :class:`lmsbn.spectral.Spectrum` (or a plain array of eigenvalues) and do
not care whether it came from the tapped delay line of an LMS filter or from the im2col patches
of a conv layer: that a filter's spectrum and a layer's spectrum go through the *same* plot is the
point of the library (see :mod:`lmsbn.spectral`).

What to look at (Haykin, *Adaptive Filter Theory*, ch. 5-6; Chai, Pilanci and Murmann 2020):

* the eigenvalue spread :math:`\chi(R) = \lambda_{max}/\lambda_{min}`, written into each legend
  entry: for small steps (time constants :math:`1/(\mu\lambda_k)`) the slowest LMS mode is
  :math:`\chi` times slower than the fastest one;
* the height of :math:`\lambda_{max}` (the stability bound) and of the small eigenvalues (the
  speed), which BatchNorm lowers and lifts respectively.
"""

from __future__ import annotations

import numpy as np

from lmsbn._checks import as_float_array, check_bool, check_choice, describe
from lmsbn.plot.style import LINE_COLORS, NORM_COLORS, get_axes
from lmsbn.spectral import Spectrum, channel_blocks

__all__ = ["plot_channel_blocks", "plot_spectra", "plot_spectrum"]

_KINDS = ("stem", "line")


def _eigenvalues(x, name: str) -> np.ndarray:
    """Eigenvalues in descending order from a Spectrum or a 1-D array (which is sorted)."""
    if isinstance(x, Spectrum):
        return np.asarray(x.eigenvalues)
    lam = as_float_array(x, name, ndim=1)
    if np.any(lam < 0):
        raise ValueError(
            f"{name} must hold the eigenvalues of an autocorrelation matrix (all >= 0), got "
            f"minimum {float(lam.min()):.3g}; pass a Spectrum to have round-off clipped for you"
        )
    return np.sort(lam)[::-1]


def _spread_text(lam: np.ndarray) -> str:
    r"""Legend text for the eigenvalue spread of descending eigenvalues ``lam``."""
    if lam[-1] == 0:
        return r"$\chi = \infty$"
    return rf"$\chi$ = {float(lam[0] / lam[-1]):.3g}"


def _mode_axis(K: int, normalize: bool) -> np.ndarray:
    """Mode index 1..K, or (k - 1) / (K - 1) in [0, 1] so spectra of different sizes align."""
    return np.linspace(0.0, 1.0, K) if normalize else np.arange(1, K + 1, dtype=float)


def _label_axes(ax, log: bool, normalize: bool) -> None:
    ax.set_xlabel("normalised mode index $(k-1)/(K-1)$" if normalize else "mode index $k$")
    ax.set_ylabel(r"eigenvalue $\lambda_k$")
    if log:
        ax.set_yscale("log")


def _draw(ax, lam, *, label, kind, log, normalize, color, bottom=None):
    """Draw one spectrum; return the Line2D carrying the eigenvalues (and the legend label)."""
    x = _mode_axis(lam.size, normalize)
    # A log axis cannot show an eigenvalue of 0: mask it (NaN) rather than let matplotlib clip
    # it to an invisible tiny number, and say in the legend how many are missing.
    y = np.where(lam > 0, lam, np.nan) if log else lam
    n_zero = int(np.sum(lam == 0)) if log else 0
    text = _spread_text(lam)
    if n_zero:
        text += f", {n_zero} zero not shown"
    full_label = f"{label} ({text})" if label is not None else text
    if kind == "stem":
        if bottom is None:
            # Stems start at 0 on a linear axis; on a log axis at the power of ten just below the
            # smallest positive eigenvalue, so every stem has a visible length.
            pos = lam[lam > 0]
            bottom = 10.0 ** np.floor(np.log10(pos.min())) if log and pos.size else 0.0
        ok = np.isfinite(y)
        ax.vlines(x[ok], bottom, y[ok], colors=color, linewidth=1.0, alpha=0.7)
        (line,) = ax.plot(x, y, "o", color=color, markersize=4, label=full_label)
    else:
        (line,) = ax.plot(x, y, "-", color=color, marker="." if lam.size <= 64 else None,
                          label=full_label)
    return line


def plot_spectrum(spectrum_or_eigenvalues, *, ax=None, label=None, kind: str = "stem",
                  log: bool = True, normalize: bool = False, color=None):
    r"""Plot the eigenvalues of an autocorrelation matrix in descending order.

    Parameters
    ----------
    spectrum_or_eigenvalues : Spectrum or array_like, shape (K,)
        A :class:`~lmsbn.spectral.Spectrum` (of a filter's or a layer's :math:`R`, it makes no
        difference), or eigenvalues (>= 0, any order; they are sorted descending).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure by default.
    label : str, optional
        Legend text; the eigenvalue spread :math:`\chi` is appended to it.
    kind : {"stem", "line"}, default "stem"
        Stems with markers (clearest for a few taps), or a line (for hundreds of eigenvalues).
    log : bool, default True
        Logarithmic eigenvalue axis: the spectra worth looking at span decades. Eigenvalues equal
        to 0 cannot be drawn on it and are left out (the legend says how many).
    normalize : bool, default False
        Put mode ``k`` at :math:`(k-1)/(K-1) \in [0, 1]` instead of at ``k``, so that spectra of
        different sizes (an 11-tap filter, a 288-tap conv layer) span the same width.
    color : matplotlib colour, optional
        Default: the next colour of :data:`lmsbn.plot.style.LINE_COLORS`.

    Returns
    -------
    matplotlib.axes.Axes

    Notes
    -----
    Mode :math:`k` of the mean LMS weight error decays as :math:`(1 - \mu\lambda_k)^n`, so the
    left end of the plot is the fastest (and, near :math:`\mu = 2/\lambda_{max}`, the first to
    go unstable) mode and the right end the slowest one.

    Examples
    --------
    >>> from lmsbn.filters.signals import equalizer
    >>> ax = plot_spectrum(equalizer(3.3).spectrum, label="W = 3.3")  # doctest: +SKIP
    """
    lam = _eigenvalues(spectrum_or_eigenvalues, "spectrum_or_eigenvalues")
    kind = check_choice(kind, "kind", _KINDS)
    log = check_bool(log, "log")
    normalize = check_bool(normalize, "normalize")
    if label is not None and not isinstance(label, str):
        raise TypeError(f"label must be a str, got {describe(label)}")
    ax = get_axes(ax)
    if color is None:
        color = LINE_COLORS[len(ax.get_legend_handles_labels()[0]) % len(LINE_COLORS)]
    _draw(ax, lam, label=label, kind=kind, log=log, normalize=normalize, color=color)
    _label_axes(ax, log, normalize)
    ax.legend(fontsize="small")
    return ax


def plot_spectra(spectra, *, ax=None, normalize=True, kind: str = "line", log: bool = True,
                 colors=None):
    r"""Overlay several eigenvalue spectra on one axes.

    Parameters
    ----------
    spectra : dict of str to (Spectrum or array_like of shape (K,))
        Legend label -> spectrum, e.g. ``{"equalizer W = 3.5": s0, "conv1": s1, "conv2": s2}``
        or one layer ``{"none": s_plain, "full": s_bn}``. Sizes may differ.
    ax : matplotlib.axes.Axes, optional
    normalize : bool or "auto", default True
        Normalise the mode index to [0, 1] (see :func:`plot_spectrum`). ``"auto"`` does so only
        when the spectra have different sizes.
    kind : {"line", "stem"}, default "line"
    log : bool, default True
    colors : dict of str to colour, optional
        Per-label colours. By default a label that names a normalisation (``"full"``,
        ``"none"``, ...) gets its colour from :data:`lmsbn.plot.style.NORM_COLORS`, and the others
        take the colours of :data:`lmsbn.plot.style.LINE_COLORS` in turn.

    Returns
    -------
    matplotlib.axes.Axes

    Notes
    -----
    With and without BatchNorm, the same layer has the same ``K``, and the plot shows directly
    what the adaptive-filter picture predicts (tutorial 05): BatchNorm pulls :math:`\lambda_{max}`
    down (the mean spike and the strong channels) and lifts the smallest eigenvalues (the weak
    channels), so the spread in the legend shrinks.
    """
    if not isinstance(spectra, dict):
        raise TypeError(f"spectra must be a dict of label -> Spectrum, got {describe(spectra)}")
    if not spectra:
        raise ValueError("spectra must contain at least one spectrum, got an empty dict")
    eig = {str(k): _eigenvalues(v, f"spectra[{k!r}]") for k, v in spectra.items()}
    if isinstance(normalize, str):
        check_choice(normalize, "normalize", ("auto",))
        normalize = len({lam.size for lam in eig.values()}) > 1
    normalize = check_bool(normalize, "normalize")
    kind = check_choice(kind, "kind", _KINDS)
    log = check_bool(log, "log")
    if colors is not None and not isinstance(colors, dict):
        raise TypeError(f"colors must be a dict of label -> colour, got {describe(colors)}")
    colors = colors or {}
    ax = get_axes(ax)
    # One common stem baseline, so overlaid stems all start at the same height.
    pos = np.concatenate([lam[lam > 0] for lam in eig.values()])
    bottom = 10.0 ** np.floor(np.log10(pos.min())) if log and pos.size else 0.0
    cycle = iter(LINE_COLORS * (len(eig) // len(LINE_COLORS) + 1))
    for label, lam in eig.items():
        color = colors.get(label) or NORM_COLORS.get(label) or next(cycle)
        _draw(ax, lam, label=label, kind=kind, log=log, normalize=normalize, color=color,
              bottom=bottom)
    _label_axes(ax, log, normalize)
    ax.legend(fontsize="small")
    return ax


_BLOCK_VIEWS = {
    # what -> (ChannelBlocks attribute or None for R itself, colourbar label)
    "coupling": ("coupling", r"block trace $\operatorname{tr} R_{cd}$"),
    "normalized": ("normalized_coupling", r"$\operatorname{tr} R_{cd} / "
                   r"\sqrt{\operatorname{tr} R_{cc}\,\operatorname{tr} R_{dd}}$"),
    "frobenius": ("frobenius", r"block norm $\|R_{cd}\|_F$"),
    "full": (None, r"$R_{ij}$"),
}


def plot_channel_blocks(R_or_spectrum, channels, kernel_size, *, ax=None, what: str = "coupling",
                        cmap=None):
    r"""Heat map of a conv layer's :math:`R` as a grid of ``C x C`` channel blocks.

    Parameters
    ----------
    R_or_spectrum : ndarray, shape (K, K), or Spectrum
        The layer's input autocorrelation, ``K = channels * prod(kernel_size)``, columns in
        im2col order (channel slowest).
    channels : int
        Input channels ``C``.
    kernel_size : int or (kh, kw)
    ax : matplotlib.axes.Axes, optional
    what : {"coupling", "normalized", "frobenius", "full"}, default "coupling"
        ``"coupling"``: the ``C x C`` block traces (diagonal = channel power times
        ``kh kw``); ``"normalized"``: the same divided by the geometric mean of the two channels'
        powers, a correlation coefficient in [-1, 1]; ``"frobenius"``: the block Frobenius norms;
        ``"full"``: all of :math:`R` (``K x K``) with lines between the channel blocks.
        See :class:`lmsbn.spectral.ChannelBlocks`.
    cmap : str or Colormap, optional
        Default: a sequential map for non-negative values, and a diverging one, centred on 0,
        when the values have both signs (always for ``"normalized"``, whose range is fixed to
        [-1, 1]).

    Returns
    -------
    matplotlib.axes.Axes
        The image is ``ax.images[-1]``, its colourbar ``ax.images[-1].colorbar``.

    Notes
    -----
    Unequal diagonal entries of the coupling map are unequal channel powers. They set
    :math:`\operatorname{tr}R = \sum_c \operatorname{tr}R_{cc}` and so bound :math:`\lambda_{max}`;
    equalising them (BatchNorm) lifts the smallest eigenvalues (tutorial 05).
    """
    what = check_choice(what, "what", tuple(_BLOCK_VIEWS))
    blocks = channel_blocks(R_or_spectrum, channels, kernel_size)
    attr, cbar_label = _BLOCK_VIEWS[what]
    if attr is None:
        C, _, k, _ = blocks.blocks.shape
        data = np.asarray(blocks.blocks).transpose(0, 2, 1, 3).reshape(C * k, C * k)
    else:
        data = np.asarray(getattr(blocks, attr))
    ax = get_axes(ax)
    if what == "normalized":
        vmin, vmax, default_cmap = -1.0, 1.0, "RdBu_r"
    elif data.min() < 0:
        vmax = float(np.abs(data).max()) or 1.0
        vmin, default_cmap = -vmax, "RdBu_r"
    else:
        vmin, vmax, default_cmap = None, None, "viridis"
    image = ax.imshow(data, cmap=cmap or default_cmap, vmin=vmin, vmax=vmax,
                      interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, label=cbar_label)
    C = blocks.channels
    if attr is None:
        k = data.shape[0] // C
        for edge in np.arange(1, C) * k - 0.5:
            ax.axhline(edge, color="white", linewidth=0.8)
            ax.axvline(edge, color="white", linewidth=0.8)
        centres = np.arange(C) * k + (k - 1) / 2
        ax.set_xlabel(f"input channel $d$ (blocks of {k} patch entries)")
        ax.set_ylabel(f"input channel $c$ (blocks of {k})")
    else:
        centres = np.arange(C, dtype=float)
        ax.set_xlabel("input channel $d$")
        ax.set_ylabel("input channel $c$")
    # Label every channel while that stays readable, otherwise every few.
    every = max(1, int(np.ceil(C / 16)))
    ax.set_xticks(centres[::every], [str(c) for c in range(0, C, every)])
    ax.set_yticks(centres[::every], [str(c) for c in range(0, C, every)])
    return ax
