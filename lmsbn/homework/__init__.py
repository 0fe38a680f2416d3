"""The homework kit: checkers for the student's functions, and the notebooks they are handed.

In the order a course uses them:

===============  ================================================================================
``checkers``     ``check_*``: run a student's function on seeded random cases and say what is
                 wrong (an ``ExerciseFailed`` assertion naming the worst entry)
``harness``      what the checkers share: ``ExerciseFailed``, ``ExerciseReport``, the seeds
``swap``         ``use(...)``: run the whole library through a student's functions
                 (``with lmsbn.use(conv2d_backward=mine): train(...)``)
``markers``      the ``BEGIN SOLUTION`` / ``BEGIN HIDDEN TESTS`` grammar and the student source
``percent``      a reader of jupytext's percent format (when jupytext is not installed)
``assignments``  ``lmsbn assignment``: student, teacher, nbgrader and otter notebooks of a
                 ``tutorials/hw_*.py`` source
``autograders``  the per-cell metadata nbgrader and otter-grader need
``notebooks``    ``lmsbn notebooks``: the tutorials as notebooks, and as HTML pages
===============  ================================================================================

The checkers and ``use`` are imported here; the notebook tools load with their own modules (their
optional dependencies -- jupytext, nbformat, nbconvert -- are imported inside the functions that
need them).
"""

from lmsbn.homework.checkers import (
    check_autocorrelation,
    check_batchnorm_backward,
    check_batchnorm_forward,
    check_col2im,
    check_conv_backward,
    check_conv_forward,
    check_im2col,
    check_lms_step,
    check_nlms_step,
    check_tapped_delay_line,
)
from lmsbn.homework.harness import HIDDEN_SEED, VISIBLE_SEED, ExerciseFailed, ExerciseReport
from lmsbn.homework.swap import swappable, use

__all__ = [
    "HIDDEN_SEED", "VISIBLE_SEED", "ExerciseFailed", "ExerciseReport", "check_autocorrelation",
    "check_batchnorm_backward", "check_batchnorm_forward", "check_col2im", "check_conv_backward",
    "check_conv_forward", "check_im2col", "check_lms_step", "check_nlms_step",
    "check_tapped_delay_line", "swappable", "use",
]
