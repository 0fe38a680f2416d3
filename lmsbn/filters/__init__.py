r"""The classical adaptive filters: engine, learning rules, their signals and learning curves.

Read it in this order:

===================  ============================================================================
``rules``            the learning rules -- LMS, NLMS, their block and sign forms, affine
                     projection, RLS -- each a subclass overriding one method, ``_update``; and
                     homework 1's one-sample steps ``lms_step`` / ``nlms_step``
``engine``           what the rules share: :class:`AdaptiveFilter` (the padasip-short reference
                     loop :meth:`~AdaptiveFilter.reference_run` and the vectorised ensemble engine
                     ``run``) and :class:`FilterResult`
``signals``          the inputs: tapped delay lines, AR processes, the raised-cosine channel
                     equalizer and system identification problems
``learning_curves``  ensemble learning curves and mode statistics of filter runs
===================  ============================================================================

The theory of every filter here (Wiener solution, modes, bounds) is the analysis core's
(:mod:`lmsbn.spectral`), which the conv layers share; nothing in this package knows about
networks.

References
----------
Widrow and Hoff (1960); Widrow and Stearns, *Adaptive Signal Processing* (1985); Haykin,
*Adaptive Filter Theory*, 4th ed. (2002); Sayed, *Fundamentals of Adaptive Filtering* (2003).
"""

from lmsbn.filters import signals
from lmsbn.filters.engine import AdaptiveFilter, FilterResult
from lmsbn.filters.learning_curves import LearningCurve, ensemble_learning_curve, learning_curve
from lmsbn.filters.rules import (
    LMS,
    NLMS,
    RLS,
    AffineProjection,
    BlockLMS,
    BlockNLMS,
    LeakyLMS,
    SignErrorLMS,
    lms_step,
    nlms_step,
)

__all__ = [
    "AdaptiveFilter", "AffineProjection", "BlockLMS", "BlockNLMS", "FilterResult", "LMS",
    "LearningCurve", "LeakyLMS", "NLMS", "RLS", "SignErrorLMS", "ensemble_learning_curve",
    "learning_curve", "lms_step", "nlms_step", "signals",
]
