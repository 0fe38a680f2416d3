"""The from-scratch CNN: thin layer classes over the pure functions of :mod:`lmsbn.nn.functional`.

Course order, one file per concept: ``im2col`` -> ``conv`` -> ``linear``, ``activations``,
``pooling`` -> ``batchnorm`` -> ``losses`` -> ``layers`` -> ``sequential`` -> ``optim`` ->
``models``.

Names load on first use, so importing one kernel module (say ``lmsbn.nn.im2col`` while working
on an assignment) does not import the rest of the network code.
"""

import importlib

_EXPORTS = {
    "functional": None,
    "kaiming_normal": "init",
    "Layer": "layers", "Conv1d": "layers", "Conv2d": "layers", "Linear": "layers",
    "ReLU": "layers", "MaxPool2d": "layers", "AvgPool2d": "layers",
    "GlobalAvgPool2d": "layers", "Flatten": "layers", "BatchNorm1d": "layers",
    "BatchNorm2d": "layers",
    "Sequential": "sequential", "HookHandle": "sequential",
    "SGD": "optim",
    "small_cnn": "models", "NORMS": "models",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lmsbn.nn' has no attribute {name!r}")
    module = _EXPORTS[name]
    if module is None:
        return importlib.import_module(f"lmsbn.nn.{name}")
    return getattr(importlib.import_module(f"lmsbn.nn.{module}"), name)


def __dir__():
    return __all__
