r"""Classical adaptive filters: LMS, NLMS, their block and sign forms, and RLS.

Every filter here is an *adaptive linear combiner* (Widrow and Stearns 1985): it sees one regressor
:math:`u(n) \in \mathbb{R}^K` per sample, predicts :math:`y(n) = w(n)^T u(n)`, compares the
prediction with the desired sample :math:`d(n)` and nudges its weights along the regressor.
The filters differ **only** in how they nudge, so each class below overrides a single method,
``_update`` (RLS also ``reset``, to clear the state its rule keeps), and everything else --
validation, the reference loop, ``step``, ``run``, ensembles, divergence detection, history
recording -- lives once in :class:`lmsbn.filters.engine.AdaptiveFilter`. To read the algorithm, read
:meth:`~lmsbn.filters.engine.AdaptiveFilter.reference_run`: one sample at a time, padasip-short.

:func:`lms_step` and :func:`nlms_step` are the same rules as one function of one sample, with
homework 1's signature ``(w, u, d, *params) -> (w_next, e)``. ``lmsbn.use(lms_step=mine)``
swaps a student's version in, and :class:`LMS` then filters through it.

Conventions: :math:`u(n) = [x(n), x(n-1), \dots, x(n-K+1)]` (newest sample first),
:math:`e(n) = d(n) - w(n)^T u(n)`, ``w_history[n]`` holds the weights used to compute
:math:`y(n)` (``T + 1`` rows, the last being the final weights), ``w0=None`` means zeros, and
leading axes of the inputs are independent realizations. See :mod:`lmsbn.filters.engine`.

============================  ==============================================================
:class:`LMS`                  :math:`\Delta w = \mu e u`
:class:`NLMS`                 :math:`\Delta w = \tilde\mu e u / (\epsilon + \|u\|^2)`
:class:`LeakyLMS`             :math:`\Delta w = \mu (e u - \gamma w)`
:class:`SignErrorLMS`         :math:`\Delta w = \mu \operatorname{sgn}(e) u`
:class:`BlockLMS`             :math:`\Delta w = \mu U_b^T e_b / L` once per block of ``L``
:class:`BlockNLMS`            :math:`\Delta w = \tilde\mu U_b^T e_b / (\epsilon + \|U_b\|_F^2)`
:class:`AffineProjection`     :math:`\Delta w = \tilde\mu U^T (\epsilon I + U U^T)^{-1} e` over the
                              last ``P`` regressors
:class:`RLS`                  :math:`\Delta w = \mu P u e / (\lambda + u^T P u)`, with
                              :math:`P \approx (\sum \lambda^{n-i} u u^T)^{-1}` updated per sample
============================  ==============================================================

References
----------
.. [1] B. Widrow and M. E. Hoff, "Adaptive switching circuits", IRE WESCON Convention Record,
   part 4, pp. 96-104, 1960.
.. [2] S. Haykin, *Adaptive Filter Theory*, 4th ed., Prentice Hall, 2002 (chapters 5-6 on LMS and
   NLMS; chapter 7 on block and frequency-domain filters).
.. [3] A. H. Sayed, *Fundamentals of Adaptive Filtering*, Wiley, 2003 (the affine projection
   family and the minimum-norm interpretation of NLMS).
"""

from __future__ import annotations

import numpy as np

from lmsbn._checks import check_int, check_positive
from lmsbn.filters.engine import AdaptiveFilter

__all__ = [
    "AffineProjection", "BlockLMS", "BlockNLMS", "LMS", "LeakyLMS", "NLMS", "RLS", "SignErrorLMS",
    "lms_step", "nlms_step",
]

# --------------------------------------------------------------------------------------------
# One step of one realization: homework 1's functions, swappable with lmsbn.use
# --------------------------------------------------------------------------------------------


def lms_step(w, u, d, mu):
    r"""One LMS step for one realization: :math:`e = d - w^T u`, :math:`w' = w + \mu e u`.

    Parameters
    ----------
    w, u : ndarray, shape (K,)
        Current weights and regressor.
    d, mu : float
        Desired sample and step size.

    Returns
    -------
    w_next : ndarray, shape (K,)
    e : float
        The a-priori error.

    Notes
    -----
    The signature homework 1 asks for. Inside ``with lmsbn.use(lms_step=f):``, :class:`LMS`
    calls ``f`` for every sample instead of its vectorised rule.
    """
    e = d - w @ u
    return w + mu * e * u, e


def nlms_step(w, u, d, mu, eps):
    r"""One NLMS step: :math:`e = d - w^T u`, :math:`w' = w + \tilde\mu e u / (\epsilon + \|u\|^2)`.

    Parameters and return value as in :func:`lms_step`, plus the regularisation ``eps``; swapped
    by ``lmsbn.use(nlms_step=f)`` for :class:`NLMS`.
    """
    e = d - w @ u
    return w + mu * e * u / (eps + u @ u), e


#: The library's step functions, by name. ``lmsbn.use`` may replace the module attributes of
#: these names; a filter whose ``step_function`` no longer finds its reference here runs the
#: replacement.
REFERENCE_STEPS = {f.__name__: f for f in (lms_step, nlms_step)}
#: The names :func:`lmsbn.homework.swap.use` may replace in this module.
SWAPPABLE = tuple(REFERENCE_STEPS)

# --------------------------------------------------------------------------------------------
# Sample-by-sample filters
# --------------------------------------------------------------------------------------------


class LMS(AdaptiveFilter):
    r"""The least-mean-squares filter of Widrow and Hoff (1960).

    Parameters
    ----------
    taps : int
        Number of weights ``K``.
    mu : float
        Step size (> 0).
    w0 : array_like, shape (K,) or (*B, K), optional
        Initial weights; zeros by default.
    divergence_threshold : float, default 1e12
        See :class:`AdaptiveFilter`.

    Notes
    -----
    Update (a stochastic-gradient step on :math:`\tfrac12 e(n)^2`):

    .. math:: w(n+1) = w(n) + \mu\, e(n)\, u(n).

    With :math:`R = E[u u^T] = Q \Lambda Q^T`, the mean weight error
    :math:`c(n) = w(n) - w_o` obeys :math:`E\,c(n+1) = (I - \mu R)\, E\,c(n)` (exact for
    regressors independent over time; the *independence approximation* for a tapped delay
    line), so each natural mode decays as :math:`(1 - \mu\lambda_k)^n` and the mean converges
    iff :math:`0 < \mu < 2/\lambda_{\max}`. The textbook rule of thumb for the mean-square error
    is :math:`\mu < 2/\operatorname{tr} R`; it is not a guarantee (for Gaussian regressors the
    exact bound is lower, see ``mean_square_gaussian`` of
    :func:`lmsbn.spectral.stability_bounds`). The misadjustment is about
    :math:`(\mu/2)\operatorname{tr} R` for small :math:`\mu` (Haykin [2]_, ch. 5-6).

    References
    ----------
    .. [1] B. Widrow and M. E. Hoff, "Adaptive switching circuits", IRE WESCON, 1960.
    .. [2] S. Haykin, *Adaptive Filter Theory*, 4th ed., 2002.
    """

    step_function = "lms_step"

    def _update(self, w, u, e):
        return (self.mu * e)[..., None] * u


class NLMS(AdaptiveFilter):
    r"""The normalised LMS filter: the LMS step divided by the regressor's energy.

    Parameters
    ----------
    taps : int
        Number of weights ``K``.
    mu : float
        Normalised step size :math:`\tilde\mu`; stable for :math:`0 < \tilde\mu < 2`. Larger
        values are accepted (and diverge) so that the bound can be demonstrated.
    eps : float, default 1e-8
        Regularisation of the denominator (>= 0). ``eps=0`` gives the exact minimum-norm
        update; a zero regressor then divides by zero and is reported as divergence.
    w0 : array_like, shape (K,) or (*B, K), optional
        Initial weights; zeros by default.
    divergence_threshold : float, default 1e12
        See :class:`AdaptiveFilter`.

    Notes
    -----
    Update:

    .. math:: w(n+1) = w(n) + \frac{\tilde\mu\, e(n)}{\epsilon + \|u(n)\|^2}\, u(n).

    With :math:`\tilde\mu = 1` and :math:`\epsilon = 0` it is the solution of

    .. math:: \min_{w'} \|w' - w(n)\|^2 \quad\text{subject to}\quad w'^T u(n) = d(n),

    i.e. the smallest change that makes the a-posteriori error zero (Sayed [3]_, ch. 10).
    Because numerator and denominator both scale with :math:`\|u\|^2`, multiplying the input
    by :math:`c \neq 0` leaves the outputs unchanged and scales the weights by :math:`1/c`:
    unlike LMS, the stable range :math:`0 < \tilde\mu < 2` does not depend on the input power.
    This is the input-power normalisation that BatchNorm performs in output space (see
    :func:`lmsbn.bridge.compare_first_step` and tutorial 07).

    References
    ----------
    .. [2] S. Haykin, *Adaptive Filter Theory*, 4th ed., 2002, ch. 6.
    .. [3] A. H. Sayed, *Fundamentals of Adaptive Filtering*, Wiley, 2003.
    """

    def __init__(self, taps, mu, eps=1e-8, w0=None, *, divergence_threshold=1e12):
        self.eps = check_positive(eps, "eps", allow_zero=True)
        super().__init__(taps, mu, w0, divergence_threshold=divergence_threshold)

    def _extra_repr(self):
        return {"eps": self.eps}

    step_function = "nlms_step"

    def _update(self, w, u, e):
        power = np.einsum("...k,...k->...", u, u)
        return (self.mu * e / (self.eps + power))[..., None] * u


class LeakyLMS(AdaptiveFilter):
    r"""LMS with leakage: stochastic gradient of :math:`\tfrac12 e^2 + \tfrac\gamma2\|w\|^2`.

    Parameters
    ----------
    taps, mu, w0, divergence_threshold
        As for :class:`LMS`.
    leak : float, default 1e-3
        Leakage :math:`\gamma \ge 0`; ``leak=0`` is plain LMS.

    Notes
    -----
    .. math:: w(n+1) = (1 - \mu\gamma)\, w(n) + \mu\, e(n)\, u(n).

    The mean dynamics become :math:`E\,c(n+1) = (I - \mu(R + \gamma I)) E\,c(n)` around the
    biased solution :math:`(R + \gamma I)^{-1} p`: leakage lifts every eigenvalue by
    :math:`\gamma`, so the slowest modes speed up -- the same remedy as weight decay
    (Haykin [2]_, ch. 5; Sayed [3]_).

    References
    ----------
    .. [2] S. Haykin, *Adaptive Filter Theory*, 4th ed., 2002.
    .. [3] A. H. Sayed, *Fundamentals of Adaptive Filtering*, Wiley, 2003.
    """

    def __init__(self, taps, mu, leak=1e-3, w0=None, *, divergence_threshold=1e12):
        self.leak = check_positive(leak, "leak", allow_zero=True)
        super().__init__(taps, mu, w0, divergence_threshold=divergence_threshold)

    def _extra_repr(self):
        return {"leak": self.leak}

    def _update(self, w, u, e):
        return self.mu * (e[..., None] * u - self.leak * w)


class SignErrorLMS(AdaptiveFilter):
    r"""Sign-error LMS: the LMS step with the error replaced by its sign.

    Parameters
    ----------
    taps, mu, w0, divergence_threshold
        As for :class:`LMS`.

    Notes
    -----
    .. math:: w(n+1) = w(n) + \mu\, \operatorname{sgn}(e(n))\, u(n).

    A stochastic-gradient step on :math:`|e(n)|` instead of :math:`\tfrac12 e(n)^2`: every
    update has the same size whatever the error, so one outlier in :math:`d` moves the weights no
    more than any other sample (robust to impulsive noise), and the filter tracks the
    conditional *median* rather than the mean. Near the optimum the steps do not shrink with the
    error, so for a fixed :math:`\mu` it converges more slowly and settles further away than LMS;
    it was popular in hardware because the sign needs no multiplier (Haykin [2]_; Sayed [3]_).

    References
    ----------
    .. [2] S. Haykin, *Adaptive Filter Theory*, 4th ed., 2002.
    .. [3] A. H. Sayed, *Fundamentals of Adaptive Filtering*, Wiley, 2003.
    """

    def _update(self, w, u, e):
        return (self.mu * np.sign(e))[..., None] * u


# --------------------------------------------------------------------------------------------
# Block and window filters
# --------------------------------------------------------------------------------------------


class BlockLMS(AdaptiveFilter):
    r"""Block LMS: one averaged LMS step per block of ``L`` samples.

    Parameters
    ----------
    taps : int
        Number of weights ``K``.
    mu : float
        Step size (> 0).
    block : int
        Block length ``L`` (>= 1); ``block=1`` is :class:`LMS`.
    w0, divergence_threshold
        As for :class:`LMS`.

    Notes
    -----
    The weights stay fixed during a block; all ``L`` outputs use the weights of the block's
    start, and ``w_history`` (one row per sample) is therefore constant inside a block. With
    :math:`U_b` (L x K) the block's regressors and :math:`e_b` (L,) their errors, at the end of
    each block

    .. math:: w \leftarrow w + \frac{\mu}{L}\, U_b^T e_b .

    This is exactly the SGD step of a 1-channel ``Conv1d`` on a mean-squared-error loss over
    the block (tutorial 03 checks it step for step): the im2col rows are the regressors.
    Averaging does not change the mean dynamics (still :math:`0 < \mu < 2/\lambda_{\max}`), it
    lowers the gradient noise and so the misadjustment by about a factor ``L`` (Haykin [2]_,
    ch. 7).

    References
    ----------
    .. [2] S. Haykin, *Adaptive Filter Theory*, 4th ed., 2002.
    """

    windowed = True

    def __init__(self, taps, mu, block, w0=None, *, divergence_threshold=1e12):
        self.block = self.window = check_int(block, "block", min_value=1)
        super().__init__(taps, mu, w0, divergence_threshold=divergence_threshold)

    def _extra_repr(self):
        return {"block": self.block}

    def _update(self, w, U, e):
        return (self.mu / self.block) * np.einsum("...p,...pk->...k", e, U)


class BlockNLMS(AdaptiveFilter):
    r"""Power-normalised block LMS: the block step divided by the block's energy.

    Parameters
    ----------
    taps : int
        Number of weights ``K``.
    mu : float
        Normalised step size :math:`\tilde\mu`, stable for :math:`0 < \tilde\mu < 2`.
    block : int
        Block length ``L`` (>= 1); ``block=1`` is :class:`NLMS`.
    eps : float, default 1e-8
        Regularisation of the denominator (>= 0).
    w0, divergence_threshold
        As for :class:`LMS`.

    Notes
    -----
    .. math:: w \leftarrow w + \frac{\tilde\mu}{\epsilon + \|U_b\|_F^2}\, U_b^T e_b .

    :math:`\|U_b\|_F^2 = L \operatorname{tr}\hat R_b` with :math:`\hat R_b = U_b^T U_b / L`, so
    this is block LMS with :math:`\mu = \tilde\mu / \operatorname{tr}\hat R_b`, which is below
    the rule-of-thumb bound :math:`2/\operatorname{tr}\hat R_b` whenever :math:`\tilde\mu < 2`
    (compare ``mean_square`` of :func:`lmsbn.spectral.stability_bounds`). Outputs inside a block
    use the block-start weights, as in :class:`BlockLMS`.
    """

    windowed = True

    def __init__(self, taps, mu, block, eps=1e-8, w0=None, *, divergence_threshold=1e12):
        self.block = self.window = check_int(block, "block", min_value=1)
        self.eps = check_positive(eps, "eps", allow_zero=True)
        super().__init__(taps, mu, w0, divergence_threshold=divergence_threshold)

    def _extra_repr(self):
        return {"block": self.block, "eps": self.eps}

    def _update(self, w, U, e):
        energy = np.einsum("...pk,...pk->...", U, U)
        return (self.mu / (self.eps + energy))[..., None] * np.einsum("...p,...pk->...k", e, U)


class AffineProjection(AdaptiveFilter):
    r"""The affine projection algorithm (APA): NLMS over the last ``P`` regressors.

    Parameters
    ----------
    taps : int
        Number of weights ``K``.
    mu : float
        Normalised step size :math:`\tilde\mu`, stable for :math:`0 < \tilde\mu < 2`.
    order : int
        Projection order ``P`` (>= 1); ``order=1`` is :class:`NLMS`.
    eps : float, default 1e-8
        Regularisation :math:`\epsilon \ge 0` of the P x P Gram matrix.
    w0, divergence_threshold
        As for :class:`LMS`.

    Notes
    -----
    The weights are updated at every sample. With :math:`U(n)` (P x K) the last ``P``
    regressors (fewer during the first ``P - 1`` samples) and
    :math:`e(n) = d(n) - U(n) w(n)` their errors *with the current weights*,

    .. math:: w(n+1) = w(n) + \tilde\mu\, U(n)^T \left(\epsilon I + U(n) U(n)^T\right)^{-1} e(n).

    With :math:`\tilde\mu = 1` and :math:`\epsilon = 0` it is the minimum-norm change that
    zeroes all ``P`` a-posteriori errors; the Gram matrix is pseudo-inverted, so linearly
    dependent regressors give the minimum-norm update instead of an error. Projecting onto ``P``
    directions at once decorrelates coloured input, so APA converges much faster than NLMS when
    the eigenvalue spread is large (Sayed [3]_, ch. 13; Haykin [2]_, ch. 6).

    References
    ----------
    .. [2] S. Haykin, *Adaptive Filter Theory*, 4th ed., 2002.
    .. [3] A. H. Sayed, *Fundamentals of Adaptive Filtering*, Wiley, 2003.
    """

    windowed = True

    def __init__(self, taps, mu, order, eps=1e-8, w0=None, *, divergence_threshold=1e12):
        self.window = check_int(order, "order", min_value=1)
        self.eps = check_positive(eps, "eps", allow_zero=True)
        super().__init__(taps, mu, w0, divergence_threshold=divergence_threshold)

    @property
    def order(self) -> int:
        """The projection order ``P``."""
        return self.window

    def _extra_repr(self):
        return {"order": self.order, "eps": self.eps}

    def _update(self, w, U, e):
        gram = np.einsum("...pk,...qk->...pq", U, U) + self.eps * np.eye(U.shape[-2], dtype=U.dtype)
        coef = np.einsum("...pq,...q->...p", np.linalg.pinv(gram), e)
        return self.mu * np.einsum("...p,...pk->...k", coef, U)


# --------------------------------------------------------------------------------------------
# Second-order filters
# --------------------------------------------------------------------------------------------


class RLS(AdaptiveFilter):
    r"""Recursive least squares with exponential forgetting: LMS with the inverse of R as its step.

    Parameters
    ----------
    taps : int
        Number of weights ``K``.
    lam : float, default 0.99
        Forgetting factor :math:`\lambda \in (0, 1]`; ``lam=1`` weighs every past sample equally.
    delta : float, default 1e-2
        Initial regularisation :math:`\delta > 0`: :math:`P(0) = I/\delta`. Small values trust
        the first samples at once.
    w0 : array_like, shape (K,) or (*B, K), optional
        Initial weights; zeros by default.
    mu : float, default 1.0
        Scale of the update; 1 is standard RLS.
    divergence_threshold : float, default 1e12
        See :class:`AdaptiveFilter`.

    Notes
    -----
    With :math:`P(n-1)` the filter's state (one K x K matrix per realization),

    .. math::

        k(n) = \frac{P(n-1)\, u(n)}{\lambda + u(n)^T P(n-1)\, u(n)}, \qquad
        w(n+1) = w(n) + \mu\, k(n)\, e(n), \qquad
        P(n) = \lambda^{-1}\left[P(n-1) - k(n)\, u(n)^T P(n-1)\right].

    By the matrix inversion lemma :math:`P(n) = \Phi(n)^{-1}` with
    :math:`\Phi(n) = \sum_{i=0}^{n} \lambda^{n-i} u(i) u(i)^T + \lambda^{n+1} \delta I` (samples
    counted from 0, :math:`P(-1) = I/\delta`), and (for
    :math:`\mu = 1`, ``w0 = 0``) :math:`w(n+1)` *is* the regularised least-squares solution
    :math:`\Phi(n)^{-1} \sum_i \lambda^{n-i} u(i) d(i)` after every sample.

    Compare with LMS's :math:`\mu\, u(n)\, e(n)`: RLS steps along :math:`P\, u \approx
    (n R)^{-1} u`, a Newton step. The inverse autocorrelation gives every natural mode the same
    rate, so convergence takes about :math:`2K` samples *whatever the eigenvalue spread* -- the
    limit of the normalisations NLMS (one scalar power) and BatchNorm (one power per channel)
    perform partially. The price is :math:`O(K^2)` work and memory per sample instead of
    :math:`O(K)` (Haykin [2]_, ch. 9; Sayed [3]_).

    The state survives between :meth:`~AdaptiveFilter.run` calls like the weights and is cleared
    by :meth:`~AdaptiveFilter.reset`.

    References
    ----------
    .. [2] S. Haykin, *Adaptive Filter Theory*, 4th ed., 2002, ch. 9.
    .. [3] A. H. Sayed, *Fundamentals of Adaptive Filtering*, Wiley, 2003.
    """

    def __init__(self, taps, lam=0.99, delta=1e-2, w0=None, *, mu=1.0, divergence_threshold=1e12):
        self.lam = check_positive(lam, "lam")
        if self.lam > 1:
            raise ValueError(f"lam must lie in (0, 1] (a forgetting factor), got {lam!r}")
        self.delta = check_positive(delta, "delta")
        super().__init__(taps, mu, w0, divergence_threshold=divergence_threshold)

    def _extra_repr(self):
        return {"lam": self.lam, "delta": self.delta}

    def reset(self) -> None:
        r"""Restore ``w0`` and the initial inverse correlation :math:`P(0) = I/\delta`."""
        super().reset()
        self._P = None

    def _inverse_correlation(self, u: np.ndarray) -> np.ndarray:
        """The state P, shape (..., K, K) like ``u`` (..., K) (created on first use)."""
        shape = (*u.shape[:-1], u.shape[-1], u.shape[-1])
        if self._P is None:
            self._P = np.array(np.broadcast_to(np.eye(u.shape[-1]) / self.delta, shape),
                               dtype=u.dtype)
        elif self._P.shape != shape:
            if self._P.shape[:-2] not in ((), (1,)):
                raise ValueError(f"this RLS filter carries state for {self._P.shape[:-2]} "
                                 f"realizations but the run has {u.shape[:-1]}; call reset() first")
            # A single filter's state handed to every realization of an ensemble, like its w.
            self._P = np.array(np.broadcast_to(self._P, shape))
        return self._P

    def _update(self, w, u, e):
        P = self._inverse_correlation(u)
        # Products and sums, not matmul or einsum: those pick their kernel (fused multiply-adds
        # or not) by shape and layout, so one realization alone could round differently from
        # the same realization inside an ensemble.
        Pu = np.sum(P * u[..., None, :], axis=-1)        # = (u^T P)^T, P being symmetric
        k = Pu / (self.lam + np.sum(u * Pu, axis=-1))[..., None]
        P -= k[..., :, None] * Pu[..., None, :]
        P /= self.lam
        # Round-off makes P drift from symmetric, which with lam < 1 can grow into the classical
        # RLS instability (P losing positive definiteness); re-symmetrising every step removes
        # that drift.
        P += np.swapaxes(P, -1, -2)
        P *= 0.5
        return (self.mu * e)[..., None] * k
