"""Argument checks and seeds shared by the experiments of every paper.

The data default (:func:`_data`) is the procedural dataset, so every experiment runs offline; data
passed in (for example MNIST from :func:`lmsbn.data.load_npz`) is validated the same way for all.
"""

from __future__ import annotations

import numpy as np

from lmsbn._checks import as_float_array, check_choice, check_int, describe
from lmsbn.data import shapes
from lmsbn.nn import NORMS

#: The two moments at which the experiments measure a layer's spectrum.
STAGES = ("init", "trained")


def _seed(gen) -> int:
    """A child seed drawn from the generator ``gen``: one per independent part of an experiment."""
    return int(gen.integers(2**32))


def _data(X, y, n, rng, *, size: int = 16):
    """(X, y) as given (validated) or ``n`` procedural ``size`` x ``size`` images; 3-D X gains a
    channel axis."""
    if X is None and y is None:
        return shapes(n, size=size, rng=rng)
    if X is None or y is None:
        raise ValueError("pass both X and y, or neither (then procedural data is generated)")
    X = as_float_array(X, "X", ndim=(3, 4))
    if X.ndim == 3:  # (N, H, W) greyscale such as MNIST: one channel
        X = X[:, None]
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != X.shape[0] or y.dtype.kind not in "iu":
        raise ValueError(f"y must be a vector of {X.shape[0]} integer labels, got {describe(y)}")
    if y.min() < 0:
        raise ValueError(f"y must hold class labels >= 0, got minimum {y.min()}")
    return X, y.astype(np.int64)


def _widths(widths):
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__len__") or len(widths) == 0:
        raise TypeError(f"widths must be a non-empty sequence of ints, got {describe(widths)}")
    return tuple(check_int(w, "widths entry", min_value=1) for w in widths)


def _norms(norms, name="norms"):
    if isinstance(norms, str) or not hasattr(norms, "__iter__"):
        raise TypeError(f"{name} must be a sequence of normalisations from {NORMS}, "
                        f"got {describe(norms)}")
    norms = tuple(check_choice(n, f"{name} entry", NORMS) for n in norms)
    if not norms or len(set(norms)) != len(norms):
        raise ValueError(f"{name} must be non-empty without repeats, got {norms}")
    return norms
