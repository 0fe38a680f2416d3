r"""Ergen et al. (2021): a two-layer ReLU network with BatchNorm is a convex program in disguise.

In lmsbn's reconstruction of the paper's setting (see Provenance below) the network is trained on

.. math::

    P^* = \min_{\{w_j, \gamma_j, \alpha_j, v_j\}} \tfrac12 \Big\lVert \sum_{j=1}^m
    \mathrm{relu}\big(\mathrm{BN}_{\gamma_j,\alpha_j}(X w_j)\big)\, v_j - y \Big\rVert_2^2
    + \tfrac\beta2 \sum_{j=1}^m (\gamma_j^2 + \alpha_j^2 + v_j^2)

and the abstract states three things this package reproduces:

1. BatchNorm *whitens* the data: the network only sees :math:`U' = [U, \mathbf 1/\sqrt n]`, where
   :math:`(I - \tfrac1n\mathbf 1\mathbf 1^T)X = U\Sigma V^T` (:func:`whiten`).
2. When :math:`U'` has full rank n (d >= n - 1, the high-dimensional regime) the optimum has a
   closed form, with at most two active neurons (:func:`closed_form`).
3. In general, :math:`P^*` equals a convex group-lasso program over the hyperplane arrangements
   of :math:`U'` (:func:`convex_program`).

:func:`train_nonconvex` is the ordinary way: gradient descent on the network built from the
library's layers, from several random starts. Comparing its objective with the other two is the
experiment.

One module per step: ``model`` (the network and the whitening), ``closed_form``, ``convex``
(the arrangements and the group-lasso program), ``nonconvex`` (gradient descent).

Provenance: the project has only the paper's abstract (a two-layer ReLU network with BatchNorm
and weight decay is equivalent to a convex program; BatchNorm whitens the data; closed forms in
the high-dimensional regime). The formulas above and in its modules are lmsbn's reconstruction of
those statements; they are checked numerically against non-convex training (tests/test_ergen.py),
not against the paper's text.

References
----------
T. Ergen, A. Sahiner, B. Ozturkler, J. Pauly, M. Mardani, M. Pilanci, "Demystifying Batch
Normalization in ReLU Networks: Equivalent Convex Optimization Models and Implicit
Regularization", ICLR 2022, arXiv:2103.01499.
"""

from lmsbn.experiments.ergen.closed_form import ClosedFormResult, closed_form
from lmsbn.experiments.ergen.convex import (
    ConvexResult,
    convex_program,
    network_arrangements,
    sample_arrangements,
)
from lmsbn.experiments.ergen.model import BNReLUNetwork, Whitening, whiten
from lmsbn.experiments.ergen.nonconvex import NonconvexResult, train_nonconvex

__all__ = [
    "BNReLUNetwork", "ClosedFormResult", "ConvexResult", "NonconvexResult", "Whitening",
    "closed_form", "convex_program", "network_arrangements", "sample_arrangements",
    "train_nonconvex", "whiten",
]
