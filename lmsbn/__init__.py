"""lmsbn: why BatchNorm works, seen through classical adaptive-filter theory.

A pure-NumPy teaching simulator. The parts, in the order a course meets them (tutorials 01-10):

========================  =======================================================================
``lmsbn.filters``         the classical adaptive filters: LMS, NLMS and their relatives
                          (``rules``), the engine they share (``engine``), their input signals
                          (``signals``) and learning curves (``learning_curves``)
``lmsbn.spectral``        the analysis core: autocorrelation, ``Spectrum``, natural modes, LMS
                          theory -- used by the filters and the network alike
``lmsbn.nn``              the from-scratch CNN: im2col, convolution, BatchNorm and its variants
                          (``*_forward`` / ``*_backward`` pairs, each fast op with a naive twin),
                          thin layer classes, ``Sequential``, ``SGD``, ``small_cnn``, ``gradcheck``
``lmsbn.train``           the training loop, callbacks, ``History``, divergence detection; sweeps
``lmsbn.data``            the embedded procedural image dataset and real-data loaders
``lmsbn.bridge``          a conv layer seen as an adaptive filter: its regressors and modes, the
                          stability bound in the learning rate's units, BatchNorm versus NLMS
``lmsbn.experiments``     one package per paper (Chai et al., Bjorck et al., Wei et al., Ergen
                          et al.)
``lmsbn.plot``            figures and animations (imported on its own: ``import lmsbn.plot``)
``lmsbn.homework``        checkers for the homework, ``lmsbn.use(...)`` to swap a student's
                          function in, assignment and notebook generation
``lmsbn.io``              the result protocol: every result saves, loads and summarises alike
``lmsbn.interactive``     sliders for a notebook (ipywidgets): the equalizer and one layer's
                          spectrum
``tour``, ``bench``,      the command-line faces: ``lmsbn tour``, ``lmsbn bench``, ``lmsbn ...``
``cli``
========================  =======================================================================

``import lmsbn`` imports every part above except the plots, the explorer and the command-line
faces, so that it never imports matplotlib.

Main reference: Chai, Pilanci and Murmann (2020), "Separating the Effects of Batch Normalization
on CNN Training Speed and Stability Using Classical Adaptive Filter Theory".
"""

from lmsbn import bridge, data, experiments, filters, homework, io, nn, spectral, train
from lmsbn._version import __version__
from lmsbn.homework import use

__all__ = ["__version__", "bridge", "data", "experiments", "filters", "homework", "io", "nn",
           "spectral", "train", "use"]
