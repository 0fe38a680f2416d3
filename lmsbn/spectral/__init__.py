r"""The analysis core: autocorrelation matrices, their eigen-decomposition and the natural modes.

Everything here works on three kinds of object only:

* **regressors** ``U`` of shape ``(..., M, K)``: one row per input vector. For an adaptive filter
  the rows are the tapped-delay-line vectors :math:`u(n) = [x(n), \dots, x(n-K+1)]`; for a
  convolution layer they are the im2col patches (``K = C_in kh kw``);
* **autocorrelation matrices** :math:`R = E[u u^T]` of shape ``(K, K)``;
* **weight trajectories** ``w_history`` of shape ``(..., T, K)``.

No function asks where these came from. That is the point of the library: the same
:class:`Spectrum`, the same mode projection and the same stability bounds describe an LMS filter
and a conv layer (:mod:`lmsbn.bridge` hands it a layer's im2col patches). The core imports
neither the network (:mod:`lmsbn.nn`) nor the filters (:mod:`lmsbn.filters`); a test keeps it so.

One module per step of the argument:

=====================  ==========================================================================
``autocorrelation``    :math:`R` from regressors or from a Toeplitz sequence
``spectrum``           :math:`R = Q \Lambda Q^T` as a :class:`Spectrum`; channel blocks of a conv R
``lms_theory``         Wiener solution, misadjustment, stability bounds, natural-mode coordinates,
                       their predicted decay and the learning curve
=====================  ==========================================================================

The classical facts used here (Widrow and Stearns 1985; Haykin, *Adaptive Filter Theory*, the
chapter on LMS convergence):

.. math::

    R = Q \Lambda Q^T, \qquad v(n) = Q^T (w(n) - w_o), \qquad
    E\,v_k(n) = (1 - \mu\lambda_k)^n\, v_k(0),

so the mean weight error converges iff :math:`0 < \mu < 2/\lambda_{max}`, and the slowest mode is
:math:`\chi(R) = \lambda_{max}/\lambda_{min}` times slower than the fastest one.
"""

from lmsbn.spectral.autocorrelation import autocorrelation, toeplitz_autocorrelation
from lmsbn.spectral.lms_theory import (
    StabilityBounds,
    learning_curve_theory,
    misadjustment,
    mode_coordinates,
    predicted_modes,
    stability_bounds,
    wiener,
)
from lmsbn.spectral.spectrum import ChannelBlocks, Spectrum, channel_blocks

__all__ = [
    "ChannelBlocks", "Spectrum", "StabilityBounds", "autocorrelation", "channel_blocks",
    "learning_curve_theory", "misadjustment", "mode_coordinates", "predicted_modes",
    "stability_bounds", "toeplitz_autocorrelation", "wiener",
]
