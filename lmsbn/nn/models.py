"""The standard models of the tutorials and experiments."""

from __future__ import annotations

import numpy as np

from lmsbn._checks import as_generator, check_choice, check_int
from lmsbn.nn.batchnorm import BN_MODES
from lmsbn.nn.layers import BatchNorm2d, Conv2d, GlobalAvgPool2d, Linear, MaxPool2d, ReLU
from lmsbn.nn.sequential import Sequential

__all__ = ["NORMS", "small_cnn"]

#: ``"none"`` or any BatchNorm mode (see :data:`lmsbn.nn.batchnorm.BN_MODES`).
NORMS = ("none", *BN_MODES)


def small_cnn(in_channels: int = 3, num_classes: int = 10, widths=(16, 32, 32), norm: str = "full",
              *, rng=None, dtype=np.float64, gamma: float = 1.0) -> Sequential:
    """A small CNN: (conv3x3 -> [BatchNorm] -> ReLU [-> maxpool2]) per width, GAP, a linear head.

    Parameters
    ----------
    in_channels : int, default 3
    num_classes : int, default 10
    widths : sequence of int, default (16, 32, 32)
        Output channels of each conv layer. Every conv block but the last halves the resolution
        with a 2x2 max-pool, so a 16x16 input meets the last conv at 4x4.
    norm : {"none", "full", "center", "scale", "amplify", "suppress", "frozen"}, default "full"
        The normalisation after each conv: ``"none"`` for the plain network, ``"full"`` for
        standard BatchNorm, the others for the variants that separate BatchNorm's effects.
    rng : None, int or numpy.random.Generator
        Seeds the He initialisation; the same seed gives the same conv weights for every
        ``norm``, so runs that differ only in normalisation start from the same filters.
    dtype : numpy dtype, default float64
    gamma : float, default 1.0
        Initial BatchNorm scale.

    Returns
    -------
    Sequential
        Layers named ``conv1, bn1, relu1, pool1, conv2, ..., gap1, fc1``.

    Notes
    -----
    With a normalisation after a conv its bias is dropped: BatchNorm's centring would cancel it.
    """
    in_channels = check_int(in_channels, "in_channels", min_value=1)
    num_classes = check_int(num_classes, "num_classes", min_value=1)
    widths = tuple(widths)
    if not widths:
        raise ValueError("widths must list at least one conv layer, got ()")
    widths = tuple(check_int(w, "widths entry", min_value=1) for w in widths)
    norm = check_choice(norm, "norm", NORMS)
    rng = as_generator(rng)
    layers, c = [], in_channels
    for i, width in enumerate(widths):
        layers.append(Conv2d(c, width, 3, padding=1, bias=(norm == "none"), rng=rng, dtype=dtype))
        if norm != "none":
            layers.append(BatchNorm2d(width, mode=norm, gamma=gamma, dtype=dtype))
        layers.append(ReLU())
        if i < len(widths) - 1:
            layers.append(MaxPool2d(2))
        c = width
    layers += [GlobalAvgPool2d(), Linear(c, num_classes, rng=rng, dtype=dtype)]
    return Sequential(*layers)
