"""lmsbn: why BatchNorm works, seen through classical adaptive-filter theory.

A pure-NumPy teaching simulator. The rooms, in the order a course meets them:

==========================  =====================================================================
``lmsbn.signals``           tapped delay lines, coloured inputs, the classical equalizer problem
``lmsbn.filters``           LMS, NLMS and their block forms (``AdaptiveFilter`` subclasses); the
                            reference loop is ``AdaptiveFilter.reference_run``
``lmsbn.learning_curves``   ensemble learning curves and mode statistics of filter runs
``lmsbn.spectral``          the analysis core: autocorrelation, ``Spectrum``, natural modes
``lmsbn.nn.functional``     im2col, convolution, BatchNorm (and variants): ``*_forward`` /
                            ``*_backward`` pairs, each fast op with a naive twin
``lmsbn.nn``                thin layer classes, ``Sequential``, ``SGD``, ``small_cnn``
``lmsbn.train``             the training loop, callbacks, ``History``, divergence detection
``lmsbn.data``              the embedded procedural image dataset
``lmsbn.gradcheck``         numerical gradients and ``rel_error``
``lmsbn.bridge``            a conv layer seen as an adaptive filter; BatchNorm versus NLMS
``lmsbn.stability``         the Gauss-Newton stability bound, in the units of the learning rate
``lmsbn.layer_modes``       natural modes inside a layer: the exact case, Gauss-Newton blocks
``lmsbn.experiments``       one module per paper (Chai et al., Bjorck et al., Wei et al., Ergen et al.)
``lmsbn.plot``              figures and animations
``lmsbn.exercises``         homework checkers; ``lmsbn.use(...)`` swaps a student's function in
==========================  =====================================================================

Main reference: Chai, Pilanci and Murmann (2020), "Separating the Effects of Batch Normalization
on CNN Training Speed and Stability Using Classical Adaptive Filter Theory".
"""

import importlib

from ._version import __version__

_SUBMODULES = (
    "adaptive", "assignments", "autograders", "bench", "bridge", "cli", "data", "exercises", "experiments",
    "filters", "gradcheck", "io", "layer_modes", "learning_curves", "mode_tracker", "nn",
    "notebooks", "plot", "signals", "spectral", "stability", "sweep", "swap", "tour", "train",
)


def __getattr__(name):
    # Submodules load on first use, so ``import lmsbn`` stays cheap and never pulls in matplotlib.
    if name in _SUBMODULES:
        return importlib.import_module(f"lmsbn.{name}")
    if name == "use":  # ``with lmsbn.use(conv2d_backward=my_fn): ...`` (the homework kit)
        return importlib.import_module("lmsbn.swap").use
    raise AttributeError(f"module 'lmsbn' has no attribute {name!r}")
