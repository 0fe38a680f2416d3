r"""Chai, Pilanci & Murmann (2020): BatchNorm seen through classical adaptive-filter theory.

The paper's abstract (the only part of it the project has) makes three claims; each experiment
here measures one of them on the procedural
dataset (:func:`lmsbn.data.shapes`, the offline default) or on data you pass in (e.g. MNIST):

=========================  ========================================================================
:func:`equalizer_speed`    the filter side: an LMS equalizer converges as fast as its slowest mode,
                           so a larger eigenvalue spread of R means slower learning.
:func:`eigen_spectra`      claim (1): a conv layer's update has natural modes set by the eigenvalues
                           of its input autocorrelation R, and BatchNorm controls them through R's
                           channel structure -- including the scale test (inputs x10: without BN
                           the deeper layers' eigenvalues grow x100, with BN they do not).
:func:`lr_sweep`           claim (2): at low learning rates BN's amplification of the smallest
                           eigenvalues buys speed; at high ones its suppression of the largest buys
                           stability (the ``amplify`` / ``suppress`` BatchNorm variants separate the
                           two).
:func:`variant_isolation`  whether ``amplify``/``suppress`` move only their own end of the next
                           layers' spectra, relative to ``center`` (the variants are lmsbn's own
                           design, not the paper's).
:func:`isolation_ceiling`  the best *any* one-sided per-channel rescale found by search does on
                           the same spectra: whether the variant family could isolate at all.
:func:`bound_check`        the stability bound in the units of ``train``: the onset and blow-up
                           learning rates of full-batch descent against 2/lambda_max of the
                           Gauss-Newton matrix, and the full loss Hessian where they disagree.
:func:`train_comparison`   the plainest test: small_cnn with and without BatchNorm at a small and
                           a large learning rate (:func:`lr_sweep` is the same over a grid).
:func:`first_step`         claim (3), stated exactly: per filter, BatchNorm's step is the NLMS step
                           divided by rho; on average over the random initialisation E[rho] = 1,
                           with a per-filter spread predicted by
                           :func:`lmsbn.bridge.rho_spread`; the drift after the first step is
                           measured step by step (its direction is not assumed).
=========================  ========================================================================

Each lives in its own module (``equalizer``, ``spectra``, ``training``, ``sweep``,
``isolation``, ``ceiling``, ``bound``, ``first_step``)
and returns a result dataclass with the arrays, the parameters, ``summary()`` and
``save``/``load`` (:mod:`lmsbn.io`); the figures are in :mod:`lmsbn.plot.sweeps`.

Every verdict text is generated from the measured numbers; nothing here assumes the paper is
right: whatever the simulator measures is the result, even where it disagrees with the paper.
Provenance: the claims are the abstract's; the tests of them -- the BatchNorm variants and their
reference scale, rho and its spread, the stability bounds, every threshold in a verdict -- are
lmsbn's own designs.

References
----------
Chai, Pilanci, Murmann (2020), "Separating the Effects of Batch Normalization on CNN Training
Speed and Stability Using Classical Adaptive Filter Theory", arXiv:2002.10674.
"""

from lmsbn.experiments.chai.bound import BoundCheck, bound_check
from lmsbn.experiments.chai.ceiling import IsolationCeiling, isolation_ceiling
from lmsbn.experiments.chai.equalizer import EqualizerSpeed, equalizer_speed
from lmsbn.experiments.chai.first_step import FirstStep, first_step
from lmsbn.experiments.chai.isolation import VariantIsolation, variant_isolation
from lmsbn.experiments.chai.spectra import EigenSpectra, eigen_spectra
from lmsbn.experiments.chai.sweep import LRSweep, lr_sweep
from lmsbn.experiments.chai.training import TrainingComparison, train_comparison

__all__ = ["BoundCheck", "EigenSpectra", "EqualizerSpeed", "FirstStep", "IsolationCeiling",
           "LRSweep", "TrainingComparison", "VariantIsolation", "bound_check", "eigen_spectra",
           "equalizer_speed", "first_step", "isolation_ceiling", "lr_sweep", "train_comparison",
           "variant_isolation"]
