"""The from-scratch CNN: thin layer classes over the pure functions of :mod:`lmsbn.nn.functional`.

Course order, one file per concept: ``im2col`` -> ``conv`` -> ``linear``, ``activations``,
``pooling`` -> ``batchnorm`` -> ``losses`` -> ``layers`` -> ``sequential`` -> ``optim`` ->
``models``.

``gradcheck`` (numerical gradients, ``rel_error``) is the tool for checking any backward pass.
"""

from lmsbn.nn import functional, gradcheck
from lmsbn.nn.init import kaiming_normal
from lmsbn.nn.layers import (
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv1d,
    Conv2d,
    Flatten,
    GlobalAvgPool2d,
    Layer,
    Linear,
    MaxPool2d,
    ReLU,
)
from lmsbn.nn.models import NORMS, small_cnn
from lmsbn.nn.optim import SGD
from lmsbn.nn.sequential import HookHandle, Sequential

__all__ = [
    "NORMS", "SGD", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv1d", "Conv2d", "Flatten",
    "GlobalAvgPool2d", "HookHandle", "Layer", "Linear", "MaxPool2d", "ReLU", "Sequential",
    "functional", "gradcheck", "kaiming_normal", "small_cnn",
]
