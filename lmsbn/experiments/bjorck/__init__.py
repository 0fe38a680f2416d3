r"""Bjorck, Gomes, Selman and Weinberger (2018), *Understanding Batch Normalization*, NeurIPS.

Four experiments on the library's own layers (tutorial 08 runs them):

* :func:`same_lr_comparison` -- at one small learning rate BatchNorm and no BatchNorm train alike;
  BatchNorm's benefit is the *larger* learning rate it tolerates.
* :func:`activation_growth` -- apply a fraction :math:`\alpha` of one large gradient step to a deep
  plain CNN: without BatchNorm the activations grow exponentially with depth, with it they do not.
* :func:`gradient_statistics` -- per-layer gradient histograms, kurtosis, and how much the
  per-example gradients agree in sign (input-independent gradients without BatchNorm).
* :func:`lyapunov_exponents` and :func:`random_matrix_products` -- the random-matrix view: the log
  condition number of a product of :math:`L` Gaussian matrices grows linearly in :math:`L`.

The first three live in :mod:`~lmsbn.experiments.bjorck.training`, the last in
:mod:`~lmsbn.experiments.bjorck.random_matrices`. Each experiment returns a
:class:`lmsbn.io.Result` (``summary()``, ``save(path)``, ``load(path)``, its arguments in
``params``); :func:`lyapunov_exponents` and :func:`digamma` return arrays.

Provenance: the claims are those of the paper's abstract (the only part of it the project has);
every experiment design, measure and threshold here is lmsbn's own. The Lyapunov exponents of
Gaussian matrix products are a classical random-matrix result, not taken from the paper.

References
----------
J. Bjorck, C. Gomes, B. Selman, K. Q. Weinberger. Understanding Batch Normalization. NeurIPS 2018.
"""

from lmsbn.experiments.bjorck.random_matrices import (
    MatrixProducts,
    digamma,
    lyapunov_exponents,
    random_matrix_products,
)
from lmsbn.experiments.bjorck.training import (
    ActivationGrowth,
    GradientStatistics,
    SameLRComparison,
    activation_growth,
    deep_plain_cnn,
    gradient_statistics,
    same_lr_comparison,
)

__all__ = [
    "ActivationGrowth", "GradientStatistics", "MatrixProducts", "SameLRComparison",
    "activation_growth", "deep_plain_cnn", "digamma", "gradient_statistics",
    "lyapunov_exponents", "random_matrix_products", "same_lr_comparison",
]
