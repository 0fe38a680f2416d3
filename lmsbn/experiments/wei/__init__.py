r"""Wei, Stokes and Schwab (2019), *Mean-field analysis of batch normalization*, arXiv:1903.02606.

The claim (from the paper's abstract, the only part of it the project has): BatchNorm flattens
the loss landscape, as quantified by the largest eigenvalue :math:`\lambda_{max}` of the Fisher
information; this justifies larger learning rates, with a maximal allowable learning rate; and a
smaller BatchNorm scale :math:`\gamma` trains to a lower loss in the same number of epochs.

Provenance: the quantitative forms used here are lmsbn's own choices. The bound
:math:`\eta^* = 2(1 + m)/\lambda_{max}` for momentum :math:`m` is the classical stability bound
of heavy-ball gradient descent on a quadratic; the mean-field estimate is derived here (see
:func:`mean_field_lambda_max`); a threshold "gamma below about 3" and reference values of
:math:`\eta^*` were given to the project as the paper's; they are **unverified** and unused.

* :func:`fim_lambda_max` (:mod:`~lmsbn.experiments.wei.fisher`) measures :math:`\lambda_{max}` of a
  real lmsbn network by power iteration on manual backprop;
* :func:`mean_field_lambda_max` (:mod:`~lmsbn.experiments.wei.mean_field`) predicts it for wide
  fully connected ReLU nets;
* :func:`gamma_lr_sweep` trains over a grid of learning rates x :math:`\gamma` and compares the
  measured divergence threshold with the predicted :math:`\eta^*`.

References
----------
M. Wei, J. Stokes, D. J. Schwab. Mean-field analysis of batch normalization. arXiv:1903.02606, 2019.
R. Karakida, S. Akaho, S. Amari. Universal statistics of Fisher information in deep neural
networks: mean field approach. AISTATS 2019.
"""

from lmsbn.experiments.wei.fisher import FIMEstimate, fim_explicit, fim_lambda_max, fim_matvec
from lmsbn.experiments.wei.mean_field import (
    GammaLRSweep,
    gamma_lr_sweep,
    max_learning_rate,
    mean_field_lambda_max,
)

__all__ = [
    "FIMEstimate", "GammaLRSweep", "fim_explicit", "fim_lambda_max", "fim_matvec",
    "gamma_lr_sweep", "max_learning_rate", "mean_field_lambda_max",
]
