"""The embedded procedural image dataset: small RGB pictures of ten kinds of pattern.

It is generated in NumPy from a seed, needs no file and no network, and is fast enough to build
on every run, so every tutorial and the tour work offline.

What makes it useful for *this* library is that its colour channels are deliberately unequal:
each channel has its own gain and offset (:data:`CHANNEL_GAIN`, :data:`CHANNEL_OFFSET`). The first
conv layer's input autocorrelation therefore has channel blocks of very different power and a
mean spike (see :func:`lmsbn.spectral.autocorrelation`), so its eigenvalue spread is large, which
is exactly the situation in which BatchNorm's equalisation of channel powers matters.
"""

from __future__ import annotations

import numpy as np

from lmsbn._checks import as_generator, check_int

__all__ = ["CHANNEL_GAIN", "CHANNEL_OFFSET", "CLASS_NAMES", "shapes"]

CLASS_NAMES = (
    "horizontal stripes", "vertical stripes", "diagonal stripes", "anti-diagonal stripes",
    "checkerboard", "rings", "blob", "plus", "frame", "x-cross",
)

#: Per-channel gain and offset applied to every image: unequal on purpose (see module docstring).
CHANNEL_GAIN = np.array([1.0, 0.25, 4.0])
CHANNEL_OFFSET = np.array([0.5, 0.1, 2.0])


def _stripes(u, freq, phase):
    return 0.5 + 0.5 * np.sin(2 * np.pi * freq * u + phase)


def _pattern(kind: int, yy, xx, rng) -> np.ndarray:
    """One grey pattern in [0, 1] of class ``kind`` on the grid (yy, xx) in [-1, 1]^2."""
    freq = rng.uniform(1.0, 2.5)
    phase = rng.uniform(0, 2 * np.pi)
    cy, cx = rng.uniform(-0.35, 0.35, size=2)
    width = rng.uniform(0.12, 0.25)
    if kind == 0:
        return _stripes(yy, freq, phase)
    if kind == 1:
        return _stripes(xx, freq, phase)
    if kind == 2:
        return _stripes((xx + yy) / np.sqrt(2), freq, phase)
    if kind == 3:
        return _stripes((xx - yy) / np.sqrt(2), freq, phase)
    if kind == 4:
        f = np.pi * rng.uniform(1.5, 2.5)
        return 0.5 + 0.5 * np.sign(np.sin(f * (xx - cx)) * np.sin(f * (yy - cy)))
    if kind == 5:
        r = np.hypot(xx - cx, yy - cy)
        return _stripes(r, freq, phase)
    if kind == 6:
        r2 = (xx - cx) ** 2 + (yy - cy) ** 2
        return np.exp(-r2 / (2 * rng.uniform(0.15, 0.35) ** 2))
    if kind == 7:
        return ((np.abs(xx - cx) < width) | (np.abs(yy - cy) < width)).astype(float)
    if kind == 8:
        half = rng.uniform(0.4, 0.65)
        d = np.maximum(np.abs(xx - cx), np.abs(yy - cy))
        return (np.abs(d - half) < width / 1.5).astype(float)
    # kind == 9: the two diagonals through a jittered centre
    a, b = (xx - cx), (yy - cy)
    return ((np.abs(a - b) < width * 1.2) | (np.abs(a + b) < width * 1.2)).astype(float)


def shapes(n: int, *, size: int = 16, classes: int = 10, noise: float = 0.25,
           rng=None) -> tuple[np.ndarray, np.ndarray]:
    """Generate ``n`` labelled images of the embedded procedural dataset.

    Parameters
    ----------
    n : int
        Number of images.
    size : int, default 16
        Height and width in pixels (at least 8).
    classes : int, default 10
        Use the first ``classes`` pattern kinds of :data:`CLASS_NAMES` (2 to 10).
    noise : float, default 0.25
        Standard deviation of the white pixel noise, relative to the pattern's unit contrast
        (before the channel gains).
    rng : None, int or numpy.random.Generator
        The same seed gives bit-identical images and labels.

    Returns
    -------
    X : ndarray of float64, shape (n, 3, size, size)
        NCHW images. Channel ``c`` is ``CHANNEL_GAIN[c] * (colour_c * (pattern - 0.5) + noise)
        + CHANNEL_OFFSET[c]`` with a random colour per image, so colour says nothing about the
        class.
    y : ndarray of int64, shape (n,)
        Class labels, balanced (each class appears ``n // classes`` or one more times, shuffled).

    Examples
    --------
    >>> X, y = shapes(20, rng=0)
    >>> X.shape, y.dtype
    ((20, 3, 16, 16), dtype('int64'))
    """
    n = check_int(n, "n", min_value=1)
    size = check_int(size, "size", min_value=8)
    classes = check_int(classes, "classes", min_value=2, max_value=len(CLASS_NAMES))
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise < np.inf:
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    rng = as_generator(rng)
    y = rng.permutation(np.arange(n) % classes).astype(np.int64)
    grid = np.linspace(-1.0, 1.0, size)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    X = np.empty((n, 3, size, size))
    for i in range(n):
        pattern = _pattern(int(y[i]), yy, xx, rng)
        # A random colour per image, with a random sign per channel, so that class identity lives
        # in the spatial pattern and not in the hue or in which channel is bright.
        colour = rng.uniform(0.5, 1.0, size=3) * rng.choice([-1.0, 1.0], size=3)
        X[i] = colour[:, None, None] * (pattern - 0.5)
    X += noise * rng.standard_normal(X.shape)
    X *= CHANNEL_GAIN[:, None, None]
    X += CHANNEL_OFFSET[:, None, None]
    return X, y
