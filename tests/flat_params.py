"""Test helper: a model's parameters as one flat vector, and back (the order of
``named_parameters()``), for finite differences and curvature checks."""

import numpy as np


def flat(model) -> np.ndarray:
    """Every parameter of ``model``, flattened and concatenated (a copy)."""
    return np.concatenate([p.ravel() for _, p, _ in model.named_parameters()])


def assign_flat(model, values) -> None:
    """Write the flat vector ``values`` back into ``model``'s parameters, in place."""
    i = 0
    for _, p, _ in model.named_parameters():
        p[...] = values[i:i + p.size].reshape(p.shape)
        i += p.size
