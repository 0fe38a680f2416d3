r"""Auto-checks for homework: run a student's function on randomised cases and say what is wrong.

Every ``check_*`` function takes the student's implementation, calls it on a handful of seeded
random cases and compares each output with the library's reference implementation
(:mod:`lmsbn.nn.functional`, :mod:`lmsbn.filters`, :mod:`lmsbn.spectral`,
:mod:`lmsbn.filters.signals`). On success it returns an :class:`ExerciseReport` whose ``str`` is one
line, ``check_conv_forward: 6 cases passed (max rel error 3.1e-16)``. On failure it raises
:class:`ExerciseFailed`, an :class:`AssertionError`, whose message names the output, the worst
index, the values there, the relative error and the case's shapes. Because the failure is a plain
assertion, the same call works unchanged in a Jupyter cell, under pytest, and in nbgrader and
otter-grader autograder cells.

``hidden=True`` draws other seeds *and* other shapes (odd sizes, larger strides and pads), so
that an implementation tuned to the visible cases still gets tested; graders put those calls in
hidden test cells.

A student function that is not callable, raises, writes into its input arrays, returns the
wrong number of outputs, an output that cannot be read as an array (any exception NumPy raises
reading it, e.g. a torch tensor that requires grad) or an output of the wrong shape or dtype is
reported the same way -- a short message saying what was expected and what came back -- never
as a traceback from inside lmsbn. The exception behind the failure, if any, is kept as
``ExerciseFailed.student_exception``.

How the comparison works. For output arrays :math:`a` (student) and :math:`b` (reference),

.. math::

    \text{err} = \max_i \frac{|a_i - b_i|}{\max\big(|a_i| + |b_i|,\ 10^{-6} \max_j |b_j|\big)},

an elementwise relative error whose floor is relative to the output's scale, so that an entry
that cancels to nearly zero cannot fail on round-off alone: a correct float64 implementation
written in any order stays below about 1e-9, a wrong one is off by order one. The default
tolerance is 1e-7.

Functions the student writes (the signatures match the reference; a passing function from
im2col to batchnorm, the ``lmsbn.nn.functional`` ones, can also be swapped into the library with
:func:`lmsbn.use`):

================================  ===============================================================
checker                           student function
================================  ===============================================================
:func:`check_im2col`              ``im2col(x, kh, kw, stride=1, pad=0) -> cols``
:func:`check_col2im`              ``col2im(cols, x_shape, kh, kw, stride=1, pad=0) -> dx``
:func:`check_conv_forward`        ``conv_forward(x, w, b=None, stride=1, pad=0) -> (out, cache)``
:func:`check_conv_backward`       ``conv_backward(dout, cache) -> (dx, dw, db)``
:func:`check_batchnorm_forward`   ``batchnorm_forward(x, gamma, beta, state, *, train, ...)``
:func:`check_batchnorm_backward`  ``batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)``
:func:`check_lms_step`            ``lms_step(w, u, d, mu) -> (w_next, e)``
:func:`check_nlms_step`           ``nlms_step(w, u, d, mu, eps) -> (w_next, e)``
:func:`check_autocorrelation`     ``autocorrelation(U) -> R``
:func:`check_tapped_delay_line`   ``tapped_delay_line(x, taps) -> U``
================================  ===============================================================
"""

from __future__ import annotations

import numpy as np

from lmsbn._checks import describe
from lmsbn.homework.harness import (  # noqa: F401  (ExerciseFailed/Report are part of this API)
    ExerciseFailed,
    ExerciseReport,
    _plain_failure,
    _Session,
    _setup,
    _shape_label,
)

__all__ = [
    "ExerciseFailed",
    "ExerciseReport",
    "check_autocorrelation",
    "check_batchnorm_backward",
    "check_batchnorm_forward",
    "check_col2im",
    "check_conv_backward",
    "check_conv_forward",
    "check_im2col",
    "check_lms_step",
    "check_nlms_step",
    "check_tapped_delay_line",
]


# --------------------------------------------------------------------------------------------
# im2col, col2im and convolution
# --------------------------------------------------------------------------------------------

# (N, C, H, W, kh, kw, stride, pad): every list mixes pad > 0 (catches off-by-one padding) and
# stride > 1 (catches a col2im that forgets the stride), and non-square images and kernels.
_CONV_CASES = [(1, 1, 3, 3, 2, 2, 1, 0), (2, 3, 5, 5, 3, 3, 1, 1), (2, 2, 6, 5, 3, 2, 2, 1),
               (1, 3, 7, 7, 3, 3, 2, 0), (2, 1, 4, 6, 1, 3, 1, 2), (1, 2, 5, 4, 2, 2, 2, 1)]
_CONV_CASES_HIDDEN = [(3, 2, 8, 7, 3, 3, 3, 1), (1, 4, 5, 9, 2, 4, 2, 2), (2, 3, 6, 6, 5, 5, 1, 2),
                      (1, 2, 9, 4, 3, 1, 2, 0), (2, 1, 7, 8, 4, 3, 3, 3)]


def _out_size(size, k, stride, pad):
    return (size + 2 * pad - k) // stride + 1


def _conv_specs(hidden):
    return _CONV_CASES_HIDDEN if hidden else _CONV_CASES


@_plain_failure
def check_im2col(im2col, *, hidden: bool = False, rng=None, tol: float = 1e-7) -> ExerciseReport:
    """Check ``im2col(x, kh, kw, stride=1, pad=0) -> cols`` against the library's ``im2col2d``.

    Parameters
    ----------
    im2col : callable
        ``cols`` must have shape (N*Ho*Wo, C*kh*kw), rows ordered (n, ho, wo) and columns
        (c, i, j), and the dtype of ``x``.
    hidden : bool, default False
        Use the hidden seeds and shapes.
    rng : None, int or Generator
        Overrides the seed (``None``: the fixed visible or hidden seed).
    tol : float, default 1e-7
        Largest accepted relative error.

    Returns
    -------
    ExerciseReport

    Raises
    ------
    ExerciseFailed
        Naming the case, the output, the worst index and the relative error.
    """
    from lmsbn.nn import functional as F

    rng, hidden, tol = _setup(rng, hidden, tol)
    cases = []
    for N, C, H, W, kh, kw, s, p in _conv_specs(hidden):
        x = rng.standard_normal((N, C, H, W))
        cases.append((_shape_label(x=x, kh=kh, kw=kw, stride=s, pad=p), (x, kh, kw, s, p)))
    session = _Session("check_im2col", tol, cases, hidden)
    session.require_callable(im2col, "im2col", "(x, kh, kw, stride=1, pad=0)")
    for x, kh, kw, s, p in session:
        expected = F.im2col2d(x, kh, kw, stride=s, pad=p)
        cols = session.call(im2col, "im2col", x.copy(), kh, kw, stride=s, pad=p)
        session.compare(cols, "im2col", "cols", expected)
    return session.report()


@_plain_failure
def check_col2im(col2im, *, hidden: bool = False, rng=None, tol: float = 1e-7) -> ExerciseReport:
    """Check ``col2im(cols, x_shape, kh, kw, stride=1, pad=0) -> dx`` against the reference.

    The reference is :func:`lmsbn.nn.functional.col2im2d`: the adjoint of im2col, which adds
    every patch entry back into the pixel it was copied from (overlaps summed, padding dropped).
    ``cols`` is random, not an im2col output, so an "inverse" that overwrites instead of adding
    fails. Parameters, return value and exceptions as in :func:`check_im2col`.
    """
    from lmsbn.nn import functional as F

    rng, hidden, tol = _setup(rng, hidden, tol)
    cases = []
    for N, C, H, W, kh, kw, s, p in _conv_specs(hidden):
        M = N * _out_size(H, kh, s, p) * _out_size(W, kw, s, p)
        cols = rng.standard_normal((M, C * kh * kw))
        x_shape = (N, C, H, W)
        cases.append((_shape_label(cols=cols, x_shape=x_shape, kh=kh, kw=kw, stride=s, pad=p),
                      (cols, x_shape, kh, kw, s, p)))
    session = _Session("check_col2im", tol, cases, hidden)
    session.require_callable(col2im, "col2im", "(cols, x_shape, kh, kw, stride=1, pad=0)")
    for cols, x_shape, kh, kw, s, p in session:
        expected = F.col2im2d(cols, x_shape, kh, kw, stride=s, pad=p)
        dx = session.call(col2im, "col2im", cols.copy(), x_shape, kh, kw, stride=s, pad=p)
        session.compare(dx, "col2im", "dx", expected)
    return session.report()


def _conv_cases(rng, hidden, *, with_dout=False):
    cases = []
    for k, (N, C, H, W, kh, kw, s, p) in enumerate(_conv_specs(hidden)):
        F_out = 2 + k % 3
        x = rng.standard_normal((N, C, H, W))
        w = rng.standard_normal((F_out, C, kh, kw))
        # Every third case has no bias: a conv followed by BatchNorm is built without one.
        b = None if k % 3 == 1 else rng.standard_normal(F_out)
        dout = rng.standard_normal((N, F_out, _out_size(H, kh, s, p), _out_size(W, kw, s, p)))
        label = _shape_label(x=x, w=w, b=b if b is not None else "None", stride=s, pad=p)
        cases.append((label, (x, w, b, s, p, dout) if with_dout else (x, w, b, s, p)))
    return cases


@_plain_failure
def check_conv_forward(conv_forward, *, hidden: bool = False, rng=None,
                       tol: float = 1e-7) -> ExerciseReport:
    """Check ``conv_forward(x, w, b=None, stride=1, pad=0) -> (out, cache)``.

    ``out`` is compared with :func:`lmsbn.nn.functional.conv2d_forward` (cross-correlation,
    zero padding, PyTorch semantics); ``cache`` can be anything the student's backward needs.
    Some cases pass ``b=None`` (a conv layer without bias). Parameters, return value and
    exceptions as in :func:`check_im2col`.
    """
    from lmsbn.nn import functional as F

    rng, hidden, tol = _setup(rng, hidden, tol)
    session = _Session("check_conv_forward", tol, _conv_cases(rng, hidden), hidden)
    session.require_callable(conv_forward, "conv_forward", "(x, w, b=None, stride=1, pad=0)")
    for x, w, b, s, p in session:
        expected, _ = F.conv2d_forward(x, w, b, stride=s, pad=p)
        result = session.call(conv_forward, "conv_forward", x.copy(), w.copy(),
                              None if b is None else b.copy(), stride=s, pad=p)
        out, _ = session.outputs(result, "conv_forward", ("out", "cache"))
        session.compare(out, "conv_forward", "out", expected)
    return session.report()


@_plain_failure
def check_conv_backward(conv_backward, conv_forward=None, *, hidden: bool = False, rng=None,
                        tol: float = 1e-7) -> ExerciseReport:
    """Check ``conv_backward(dout, cache) -> (dx, dw, db)`` with a random upstream gradient.

    Parameters
    ----------
    conv_backward : callable
        The student's backward pass. ``db`` must be ``None`` when the forward pass had no bias.
    conv_forward : callable, optional
        The student's forward pass, used only to produce the ``cache`` (so the cache can be the
        student's own). Default: the library's :func:`~lmsbn.nn.functional.conv2d_forward`,
        whose :class:`~lmsbn.nn.conv.ConvCache` the backward then receives.
    hidden, rng, tol
        As in :func:`check_im2col`.

    Notes
    -----
    The reference gradients come from :func:`lmsbn.nn.functional.conv2d_backward`, which the
    library's own tests check against numerical gradients of the forward pass.
    """
    from lmsbn.nn import functional as F

    rng, hidden, tol = _setup(rng, hidden, tol)
    session = _Session("check_conv_backward", tol, _conv_cases(rng, hidden, with_dout=True), hidden)
    session.require_callable(conv_backward, "conv_backward", "(dout, cache)")
    if conv_forward is not None:
        session.require_callable(conv_forward, "conv_forward", "(x, w, b=None, stride=1, pad=0)")
    for x, w, b, s, p, dout in session:
        _, ref_cache = F.conv2d_forward(x, w, b, stride=s, pad=p)
        dx_ref, dw_ref, db_ref = F.conv2d_backward(dout, ref_cache)
        if conv_forward is None:
            cache = F.conv2d_forward(x.copy(), w.copy(), None if b is None else b.copy(),
                                     stride=s, pad=p)[1]
        else:
            result = session.call(conv_forward, "conv_forward", x.copy(), w.copy(),
                                  None if b is None else b.copy(), stride=s, pad=p)
            cache = session.outputs(result, "conv_forward", ("out", "cache"))[1]
        grads = session.call(conv_backward, "conv_backward", dout.copy(), cache)
        dx, dw, db = session.outputs(grads, "conv_backward", ("dx", "dw", "db"))
        session.compare(dx, "conv_backward", "dx", dx_ref)
        session.compare(dw, "conv_backward", "dw", dw_ref)
        if db_ref is None:
            if db is not None:
                session.fail(f"`db` must be None when the forward pass had no bias (b=None): the "
                             f"layer has no bias to update; got {describe(db)}")
        else:
            session.compare(db, "conv_backward", "db", db_ref)
    return session.report()


# --------------------------------------------------------------------------------------------
# BatchNorm
# --------------------------------------------------------------------------------------------

_BN_SHAPES = [(4, 3), (5, 2, 3, 3), (2, 4, 2, 3), (3, 2)]
_BN_SHAPES_HIDDEN = [(3, 5), (6, 3, 2, 2), (2, 2, 4, 3), (7, 1, 1, 2)]


def _bn_cases(rng, hidden):
    """Inputs with channel means and scales far from 0 and 1, so centring and scaling matter."""
    cases = []
    for k, shape in enumerate(_BN_SHAPES_HIDDEN if hidden else _BN_SHAPES):
        C = shape[1]
        view = (1, C) + (1,) * (len(shape) - 2)
        x = (rng.normal(0, 3, C).reshape(view)
             + np.exp(rng.normal(0, 1, C)).reshape(view) * rng.standard_normal(shape))
        gamma, beta = rng.normal(1, 0.5, C), rng.standard_normal(C)
        running = (rng.standard_normal(C), np.exp(rng.normal(0, 0.5, C)))
        momentum, eps = (0.1, 1e-5) if k % 2 == 0 else (0.3, 1e-3)
        dout = rng.standard_normal(shape)   # random, never ones: BN's dx is 0 for ones
        label = _shape_label(x=x, gamma=gamma, momentum=momentum, eps=eps)
        cases.append((label, (x, gamma, beta, running, momentum, eps, dout)))
    return cases


def _bn_state(running):
    from lmsbn.nn.functional import BatchNormState

    state = BatchNormState.create(running[0].shape[0])
    state.running_mean[...], state.running_var[...] = running
    return state


@_plain_failure
def check_batchnorm_forward(batchnorm_forward, *, hidden: bool = False, rng=None,
                            tol: float = 1e-7) -> ExerciseReport:
    r"""Check a standard (``mode="full"``) BatchNorm forward pass, in training and evaluation.

    The student's function is called as
    ``batchnorm_forward(x, gamma, beta, state, train=..., momentum=..., eps=...)`` with ``x`` of
    shape (N, C) or (N, C, H, W) and ``state`` a :class:`~lmsbn.nn.functional.BatchNormState`
    whose ``running_mean`` and ``running_var`` (C,) it must update when ``train`` is True (in
    place, or by assigning new arrays) and leave alone otherwise. It returns ``(out, cache)``.

    Compared with :func:`lmsbn.nn.functional.batchnorm_forward`: ``out`` in training mode,
    the running statistics after the step (PyTorch convention: the running variance takes the
    *unbiased* batch variance :math:`\tfrac{M}{M-1} v`, the normalisation the biased one
    :math:`v`), and ``out`` in evaluation mode. Parameters, return value and exceptions as in
    :func:`check_im2col`.
    """
    from lmsbn.nn import functional as F

    rng, hidden, tol = _setup(rng, hidden, tol)
    cases = []
    for label, data in _bn_cases(rng, hidden):
        cases.append((label + ", train=True", (data, True)))
        cases.append((label + ", train=False", (data, False)))
    session = _Session("check_batchnorm_forward", tol, cases, hidden)
    session.require_callable(batchnorm_forward, "batchnorm_forward",
                             "(x, gamma, beta, state, train, momentum=0.1, eps=1e-5)")
    name = "batchnorm_forward"
    for (x, gamma, beta, running, momentum, eps, _), train in session:
        ref_state = _bn_state(running)
        expected, _ = F.batchnorm_forward(x, gamma, beta, ref_state, train=train,
                                          momentum=momentum, eps=eps)
        state = _bn_state(running)
        result = session.call(batchnorm_forward, name, x.copy(), gamma.copy(), beta.copy(), state,
                              train=train, momentum=momentum, eps=eps)
        out, _ = session.outputs(result, name, ("out", "cache"))
        session.compare(out, name, "out", expected)
        session.compare(state.running_mean, name, "state.running_mean", ref_state.running_mean)
        session.compare(state.running_var, name, "state.running_var", ref_state.running_var)
    return session.report()


@_plain_failure
def check_batchnorm_backward(batchnorm_backward, batchnorm_forward=None, *, hidden: bool = False,
                             rng=None, tol: float = 1e-7) -> ExerciseReport:
    r"""Check a training-mode BatchNorm backward pass, ``(dout, cache) -> (dx, dgamma, dbeta)``.

    Parameters
    ----------
    batchnorm_backward : callable
        The student's backward pass.
    batchnorm_forward : callable, optional
        The student's forward pass (called with ``train=True``), used only to produce the
        ``cache``. Default: the library's, whose
        :class:`~lmsbn.nn.batchnorm.BatchNormCache` has fields ``xhat``, ``sigma`` and ``gamma``.
    hidden, rng, tol
        As in :func:`check_im2col`.

    Notes
    -----
    The upstream gradient is random: with ``dout`` = ones the true ``dx`` is exactly zero, and a
    backward that drops the mean terms would pass. The reference is
    :func:`lmsbn.nn.functional.batchnorm_backward`,

    .. math:: \frac{\partial L}{\partial x_i} = \frac{\gamma}{\sigma}
              \Big[g_i - \overline{g} - \hat x_i\, \overline{g \hat x}\Big].
    """
    from lmsbn.nn import functional as F

    rng, hidden, tol = _setup(rng, hidden, tol)
    session = _Session("check_batchnorm_backward", tol, _bn_cases(rng, hidden), hidden)
    session.require_callable(batchnorm_backward, "batchnorm_backward", "(dout, cache)")
    if batchnorm_forward is not None:
        session.require_callable(batchnorm_forward, "batchnorm_forward",
                                 "(x, gamma, beta, state, train, momentum=0.1, eps=1e-5)")
    name = "batchnorm_backward"
    for x, gamma, beta, running, momentum, eps, dout in session:
        _, ref_cache = F.batchnorm_forward(x, gamma, beta, _bn_state(running), train=True,
                                           momentum=momentum, eps=eps)
        dx_ref, dgamma_ref, dbeta_ref = F.batchnorm_backward(dout, ref_cache)
        if batchnorm_forward is None:
            cache = F.batchnorm_forward(x.copy(), gamma.copy(), beta.copy(), _bn_state(running),
                                        train=True, momentum=momentum, eps=eps)[1]
        else:
            result = session.call(batchnorm_forward, "batchnorm_forward", x.copy(), gamma.copy(),
                                  beta.copy(), _bn_state(running), train=True, momentum=momentum,
                                  eps=eps)
            cache = session.outputs(result, "batchnorm_forward", ("out", "cache"))[1]
        grads = session.call(batchnorm_backward, name, dout.copy(), cache)
        dx, dgamma, dbeta = session.outputs(grads, name, ("dx", "dgamma", "dbeta"))
        session.compare(dx, name, "dx", dx_ref)
        session.compare(dgamma, name, "dgamma", dgamma_ref)
        session.compare(dbeta, name, "dbeta", dbeta_ref)
    return session.report()


# --------------------------------------------------------------------------------------------
# LMS and NLMS
# --------------------------------------------------------------------------------------------

def _step_cases(rng, hidden, *, nlms: bool):
    """Single steps with regressors of very different norms, then one 40-step trajectory."""
    cases = []
    taps = (2, 4, 8, 1, 6) if hidden else (1, 3, 5, 4, 2)
    for k, K in enumerate(taps):
        # Norms of u from about 0.2 to 5: ||u|| and ||u||^2 differ, so the wrong norm is caught.
        u = np.exp(rng.normal(0, 0.8)) * rng.standard_normal(K)
        w, d = rng.standard_normal(K), float(rng.standard_normal())
        mu = float(rng.uniform(0.2, 1.5) if nlms else rng.uniform(0.01, 0.5))
        # eps comparable to ||u||^2, so an NLMS without eps is off by order one.
        eps = float((0.5, 0.1, 1.0, 2.0, 0.3)[k])
        label = _shape_label(w=w, u=u, mu=round(mu, 4)) + (f", eps={eps}" if nlms else "")
        cases.append((label, (w, u[None, :], np.array([d]), mu, eps)))
    K, T = (5, 40) if hidden else (3, 40)
    x = rng.standard_normal(T + K)
    U = np.lib.stride_tricks.sliding_window_view(x, K)[:T, ::-1].copy()   # a tapped delay line
    d = U @ rng.standard_normal(K) + 0.1 * rng.standard_normal(T)
    mu, eps = (0.5, 0.1) if nlms else (0.05, 0.0)
    label = f"a run of {T} steps from w = 0: U {U.shape}, d {d.shape}, mu={mu}"
    cases.append((label + (f", eps={eps}" if nlms else ""), (np.zeros(K), U, d, mu, eps)))
    return cases


def _check_step(check, name, fn, signature, filter_cls, *, nlms, hidden, rng, tol):
    rng, hidden, tol = _setup(rng, hidden, tol)
    session = _Session(check, tol, _step_cases(rng, hidden, nlms=nlms), hidden)
    session.require_callable(fn, name, signature)
    for w0, U, d, mu, eps in session:
        K = w0.shape[0]
        ref = filter_cls(K, mu, eps, w0=w0) if nlms else filter_cls(K, mu, w0=w0)
        w = w0.copy()
        for n in range(U.shape[0]):
            _, e_ref = ref.step(U[n], d[n])
            extra = (eps,) if nlms else ()
            result = session.call(fn, name, w.copy(), U[n].copy(), float(d[n]), mu, *extra)
            w_next, e = session.outputs(result, name, ("w_next", "e"))
            step = f" (step {n})" if U.shape[0] > 1 else ""
            session.compare(e, name, "e" + step, np.asarray(e_ref, dtype=np.float64))
            session.compare(w_next, name, "w_next" + step, ref.w)
            w = np.asarray(w_next, dtype=np.float64)
    return session.report()


@_plain_failure
def check_lms_step(lms_step, *, hidden: bool = False, rng=None,
                   tol: float = 1e-7) -> ExerciseReport:
    r"""Check ``lms_step(w, u, d, mu) -> (w_next, e)``, one step of the LMS filter.

    ``w`` and ``u`` have shape (K,), ``d`` and ``mu`` are floats; ``e`` is the a-priori error
    :math:`d - w^T u` (a float) and :math:`w_{next} = w + \mu e u`. Compared with
    :class:`lmsbn.filters.LMS` on single steps and on a 40-step run in which each step starts
    from the student's previous ``w_next``. Parameters, return value and exceptions as in
    :func:`check_im2col`.
    """
    from lmsbn.filters import LMS

    return _check_step("check_lms_step", "lms_step", lms_step, "(w, u, d, mu)", LMS, nlms=False,
                       hidden=hidden, rng=rng, tol=tol)


@_plain_failure
def check_nlms_step(nlms_step, *, hidden: bool = False, rng=None,
                    tol: float = 1e-7) -> ExerciseReport:
    r"""Check ``nlms_step(w, u, d, mu, eps) -> (w_next, e)``, one step of the NLMS filter.

    :math:`e = d - w^T u` and :math:`w_{next} = w + \tilde\mu\, e\, u / (\epsilon + \|u\|^2)`.
    ``eps`` is chosen comparable to :math:`\|u\|^2` and the norms of ``u`` vary, so a missing
    ``eps`` or :math:`\|u\|` in place of :math:`\|u\|^2` is caught. Compared with
    :class:`lmsbn.filters.NLMS` as in :func:`check_lms_step`.
    """
    from lmsbn.filters import NLMS

    return _check_step("check_nlms_step", "nlms_step", nlms_step, "(w, u, d, mu, eps)", NLMS,
                       nlms=True, hidden=hidden, rng=rng, tol=tol)


# --------------------------------------------------------------------------------------------
# The analysis core: regressors and their autocorrelation
# --------------------------------------------------------------------------------------------

@_plain_failure
def check_autocorrelation(autocorrelation, *, hidden: bool = False, rng=None,
                          tol: float = 1e-7) -> ExerciseReport:
    r"""Check ``autocorrelation(U) -> R`` with :math:`R = U^T U / M` for U of shape (M, K).

    Compared with :func:`lmsbn.spectral.autocorrelation` (normalised by :math:`M`, not
    :math:`M - 1`, and uncentred: the mean is part of :math:`R`). The regressors have a non-zero
    mean, so a covariance in place of the autocorrelation is caught. Parameters, return value
    and exceptions as in :func:`check_im2col`.
    """
    from lmsbn.spectral import autocorrelation as reference

    rng, hidden, tol = _setup(rng, hidden, tol)
    cases = []
    for M, K in ((40, 6), (9, 2), (100, 11)) if hidden else ((20, 3), (7, 5), (50, 1)):
        U = 0.7 + rng.standard_normal((M, K)) * np.exp(rng.normal(0, 1, K))
        cases.append((_shape_label(U=U), U))
    session = _Session("check_autocorrelation", tol, cases, hidden)
    session.require_callable(autocorrelation, "autocorrelation", "(U)")
    for U in session:
        R = session.call(autocorrelation, "autocorrelation", U.copy())
        session.compare(R, "autocorrelation", "R", reference(U))
    return session.report()


@_plain_failure
def check_tapped_delay_line(tapped_delay_line, *, hidden: bool = False, rng=None,
                            tol: float = 1e-7) -> ExerciseReport:
    r"""Check ``tapped_delay_line(x, taps) -> U`` for a signal ``x`` of shape (T,).

    ``U[n] = [x(n), x(n-1), ..., x(n-taps+1)]`` (newest first), with zeros before the start:
    shape (T, taps), as :func:`lmsbn.filters.signals.tapped_delay_line`. Parameters, return value
    and exceptions as in :func:`check_im2col`.
    """
    from lmsbn.filters.signals import tapped_delay_line as reference

    rng, hidden, tol = _setup(rng, hidden, tol)
    cases = []
    for T, K in ((13, 4), (6, 6), (20, 1)) if hidden else ((10, 3), (5, 1), (8, 8)):
        x = rng.standard_normal(T)
        cases.append((_shape_label(x=x, taps=K), (x, K)))
    session = _Session("check_tapped_delay_line", tol, cases, hidden)
    session.require_callable(tapped_delay_line, "tapped_delay_line", "(x, taps)")
    for x, K in session:
        U = session.call(tapped_delay_line, "tapped_delay_line", x.copy(), K)
        session.compare(U, "tapped_delay_line", "U", reference(x, K))
    return session.report()
