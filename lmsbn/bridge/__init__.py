r"""The bridge: a conv layer seen as an adaptive filter, and BatchNorm seen as NLMS.

The bridge is the only part of lmsbn that knows both sides: it reads a layer's regressors (its
im2col patches) and weights out of the network (:mod:`lmsbn.nn`) and hands them, unchanged, to
the analysis core (:mod:`lmsbn.spectral`) that also describes the filters (:mod:`lmsbn.filters`).

One module per question a student asks of a layer:

=================  ===============================================================================
``regressors``     what are this layer's regressors, weights and spectrum? (``regressors``,
                   ``capture_regressors``, ``layer_spectra``, ``layer_case``)
``mode_tracker``   how do its natural modes evolve while it trains? (``ModeTracker``, a callback)
``layer_modes``    do they decay as :math:`(1-\mu\lambda)^n`? (the exact single-layer case,
                   Gauss-Newton blocks for the general one)
``stability``      which learning rate is too large? (:math:`2/\lambda_{max}` of the
                   Gauss-Newton matrix, in the units of ``train``'s learning rate)
``hessian``        what curvature does the Gauss-Newton matrix leave out? (the full loss Hessian:
                   ``hessian_matvec``, ``hessian_lambda_max``)
``bn_vs_nlms``     is BatchNorm's first step an NLMS step? (``compare_first_step``, ``rho``)
=================  ===============================================================================

Units of the stability bound
----------------------------
The LMS bound :math:`2/\lambda_{max}(R)` assumes an error of unit gain. Inside a network the
error is back-propagated, so the bound in the units of ``train``'s learning rate is
:math:`2/\lambda_{max}` of the Gauss-Newton matrix of the mean loss: :func:`stability_bound`
measures it, and for each layer puts its Gauss-Newton block next to :math:`\lambda_{max}(R)`, the
ratio being the gain the rest of the network applies.

References
----------
Chai, Pilanci, Murmann (2020), "Separating the Effects of Batch Normalization on CNN Training
Speed and Stability Using Classical Adaptive Filter Theory", Asilomar / arXiv:2002.10674.
Haykin, *Adaptive Filter Theory* (NLMS: ch. 6).
"""

from lmsbn.bridge.bn_vs_nlms import (
    FilterComparison,
    FirstStepReport,
    bn_nlms_quantities,
    compare_first_step,
    rho,
    rho_spread,
)
from lmsbn.bridge.hessian import HessianEstimate, hessian_lambda_max, hessian_matvec
from lmsbn.bridge.layer_modes import (
    ExactLayerModes,
    GaussNewtonBlock,
    ModeDecay,
    exact_layer_modes,
    gauss_newton_block,
    lms_step_size,
    mode_decay,
)
from lmsbn.bridge.mode_tracker import LayerModes, ModeTracker
from lmsbn.bridge.regressors import (
    COMBINERS,
    bn_followers,
    capture_regressors,
    layer_case,
    layer_spectra,
    layer_weights,
    regressors,
    rows_last,
)
from lmsbn.bridge.stability import (
    GN_LOSSES,
    GNEstimate,
    Sharpness,
    StabilityBound,
    gn_explicit,
    gn_lambda_max,
    gn_matvec,
    stability_bound,
)

__all__ = [
    "COMBINERS", "ExactLayerModes", "FilterComparison", "FirstStepReport", "GNEstimate",
    "GN_LOSSES", "GaussNewtonBlock", "HessianEstimate", "LayerModes", "ModeDecay", "ModeTracker",
    "Sharpness", "StabilityBound", "bn_followers", "bn_nlms_quantities", "capture_regressors",
    "compare_first_step", "exact_layer_modes", "gauss_newton_block", "gn_explicit", "gn_lambda_max",
    "gn_matvec", "hessian_lambda_max", "hessian_matvec", "layer_case", "layer_spectra",
    "layer_weights", "lms_step_size", "mode_decay", "regressors", "rho", "rho_spread", "rows_last",
    "stability_bound",
]
