r"""Batch Normalization and the variants that separate its speed effect from its stability effect.

Every variant is one per-channel map

.. math:: \hat x = \frac{x - \mu_c}{s_c}, \qquad y = \gamma_c \hat x + \beta_c,

and the variants differ only in the centre :math:`\mu_c` and the divisor :math:`s_c`
(tutorial 06 compares them). With :math:`m_c` and :math:`v_c` the batch mean and the *biased*
batch variance of channel :math:`c` (over every axis except axis 1),
:math:`\sigma_c = \sqrt{v_c + \epsilon}`, and the layer's **reference scale**
:math:`\sigma_{ref} = \operatorname{median}_c \sigma_c` (the median over the layer's channels):

============  ==================  =================================================  ============
mode          centre              divisor :math:`s_c`                                what it does
============  ==================  =================================================  ============
``full``      :math:`m_c`         :math:`\sigma_c`                                   standard BN
``center``    :math:`m_c`         :math:`1`                                          centre only
``scale``     :math:`0`           :math:`\sqrt{\overline{x^2}_c + \epsilon}`         uncentred RMS
``amplify``   :math:`m_c`         :math:`\min(\sigma_c, \sigma_{ref})/\sigma_{ref}`  boost weak
``suppress``  :math:`m_c`         :math:`\max(\sigma_c, \sigma_{ref})/\sigma_{ref}`  shrink strong
``frozen``    first batch's       first batch's :math:`\sigma_c`, kept fixed         constant map
============  ==================  =================================================  ============

``amplify`` raises every channel weaker than the reference to the reference's spread and leaves
the others exactly as ``center`` does; ``suppress`` lowers every channel stronger than the
reference to it and leaves the others as ``center`` does. Both are therefore ``center`` plus a
one-sided change, relative to the layer's *own* scale: whatever the scale of the layer's input,
about half of the channels are touched. The intent is that the next layer's input
autocorrelation gains small eigenvalues (``amplify``) or loses large ones (``suppress``) and
keeps the other end. Measured, that does **not** hold to the project's targets (own end 2x,
other end within 10 %; :func:`lmsbn.experiments.chai.variant_isolation`, 3 seeds, procedural
data and MNIST: no layer passes): the next layer's R is uncentred and post-ReLU, so its top
eigenvector (mostly the mean direction) has weight on the channels ``amplify`` lifts, and its
bottom eigenvector often lies partly on channels ``suppress`` shrinks. Rescaling the
eigen-directions of the channel covariance instead was tried and isolates no better (see
:mod:`lmsbn.experiments.chai.isolation`).

**Provenance.** These two definitions (the median reference, the one-sided rescale) are lmsbn's
own design of the experiment that Chai, Pilanci and Murmann (2020) describe in their abstract
(BatchNorm's amplification of the smallest eigenvalues versus its suppression of the largest);
the project has only the abstract, so nothing here reproduces the paper's own variants. An
earlier lmsbn design clipped at the fixed value 1 (:math:`\min(\sigma_c, 1)`); at He
initialisation the channels' :math:`\sigma_c` straddle 1, so it behaved like ``center`` and
``full`` respectively.

The reference is a batch statistic like :math:`m_c` and :math:`\sigma_c`, so in training the
gradient flows through it (through the one or two middle channels that define the median); in
evaluation mode its running average ``running_ref`` (PyTorch momentum semantics, over the
unbiased :math:`\sigma_c`) takes its place.

In evaluation mode (``train=False``) the same map uses the running estimates of the statistics in
place of the batch ones, so it is a constant affine map whose gradient is simply
:math:`\gamma_c / s_c`.

The one function :func:`batchnorm_backward` differentiates all six modes exactly, because each
mode is the standard formula with two switches: whether the centre is a function of the batch
(``center_from_batch``) and, per channel, whether the divisor is (``sigma_from_batch``), plus,
for ``amplify``/``suppress``, the term through the reference scale.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from lmsbn._checks import (
    as_float_array,
    check_choice,
    check_int,
    check_positive,
    check_shape,
    describe,
)

__all__ = [
    "BN_MODES",
    "BatchNormCache",
    "BatchNormState",
    "batchnorm_backward",
    "batchnorm_forward",
]

BN_MODES = ("full", "center", "scale", "amplify", "suppress", "frozen")
"""The valid values of ``mode``, in the order of the table in the module docstring."""


@dataclasses.dataclass
class BatchNormState:
    r"""Running statistics of one BatchNorm layer, updated in place by training-mode forwards.

    Attributes
    ----------
    running_mean : ndarray, shape (C,)
        Exponential moving average of the batch means (starts at 0, like PyTorch).
    running_var : ndarray, shape (C,)
        Exponential moving average of the *unbiased* batch variances (starts at 1, like PyTorch).
    running_meansq : ndarray, shape (C,)
        Exponential moving average of the batch means of :math:`x^2`, the ``scale`` mode's
        evaluation statistic (starts at 1, consistent with mean 0 and variance 1).
    running_ref : ndarray, shape ()
        Exponential moving average of the reference scale, the median over channels of the
        *unbiased* batch :math:`\sigma_c`, the ``amplify``/``suppress`` evaluation statistic
        (starts at 1, consistent with ``running_var``). ``None`` at construction means 1.
    frozen_mean, frozen_var : ndarray of shape (C,) or None
        The mean and the *biased* variance of the first training batch seen in ``frozen`` mode;
        ``None`` until then.
    num_batches_tracked : int
        Number of training-mode forwards so far.

    Examples
    --------
    >>> state = BatchNormState.create(3)
    >>> state.running_mean, state.running_var
    (array([0., 0., 0.]), array([1., 1., 1.]))
    """

    running_mean: np.ndarray
    running_var: np.ndarray
    running_meansq: np.ndarray
    frozen_mean: np.ndarray | None = None
    frozen_var: np.ndarray | None = None
    num_batches_tracked: int = 0
    running_ref: np.ndarray | None = None

    def __post_init__(self):
        if self.running_ref is None:  # states built field by field (before running_ref existed)
            self.running_ref = np.ones((), dtype=np.asarray(self.running_mean).dtype)

    @classmethod
    def create(cls, num_features: int, dtype=np.float64) -> BatchNormState:
        """A fresh state for ``num_features`` channels, initialised like PyTorch's BatchNorm."""
        num_features = check_int(num_features, "num_features", min_value=1)
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        return cls(
            running_mean=np.zeros(num_features, dtype=dtype),
            running_var=np.ones(num_features, dtype=dtype),
            running_meansq=np.ones(num_features, dtype=dtype),
            running_ref=np.ones((), dtype=dtype),
        )

    @property
    def num_features(self) -> int:
        """Number of channels C."""
        return int(self.running_mean.shape[0])

    def reset(self) -> None:
        """Return to the freshly created state (running statistics and frozen statistics)."""
        self.running_mean[...] = 0
        self.running_var[...] = 1
        self.running_meansq[...] = 1
        self.running_ref[...] = 1
        self.frozen_mean = None
        self.frozen_var = None
        self.num_batches_tracked = 0

    def copy(self) -> BatchNormState:
        """A deep copy (the arrays are copied, so updating one never touches the other)."""
        return dataclasses.replace(
            self,
            running_mean=self.running_mean.copy(),
            running_var=self.running_var.copy(),
            running_meansq=self.running_meansq.copy(),
            running_ref=self.running_ref.copy(),
            frozen_mean=None if self.frozen_mean is None else self.frozen_mean.copy(),
            frozen_var=None if self.frozen_var is None else self.frozen_var.copy(),
        )


class BatchNormCache(NamedTuple):
    r"""What :func:`batchnorm_backward` needs, and what the BatchNorm/NLMS bridge reads.

    Attributes
    ----------
    xhat : ndarray, shape of x
        The normalised input :math:`(x - \mu_c) / s_c`, before ``gamma`` and ``beta``.
    sigma : ndarray, shape (C,)
        The per-channel divisor :math:`s_c` actually used: :math:`\sqrt{v_c + \epsilon}` for
        ``full``, 1 for ``center``, :math:`\sigma_c/\sigma_{ref}` or 1 for
        ``amplify``/``suppress``, and so on.
    center : ndarray, shape (C,)
        The per-channel centre :math:`\mu_c` that was subtracted (0 for ``scale``).
    gamma : ndarray, shape (C,)
        The scale parameter, in the dtype of x.
    mode : str
        One of :data:`BN_MODES`.
    train : bool
        The forward's ``train`` flag: batch statistics (True) or running statistics (False).
        In ``frozen`` mode the frozen statistics are used either way.
    center_from_batch : bool
        True when :math:`\mu_c` is the current batch mean, so the gradient flows through it.
    sigma_from_batch : ndarray of bool, shape (C,)
        True for the channels whose divisor is a function of the current batch (for
        ``amplify``/``suppress``: the channels strictly weaker, resp. stronger, than the
        reference, whose divisor is :math:`\sigma_c / \sigma_{ref}`).
    ref : float or None
        ``amplify``/``suppress`` only: the reference scale :math:`\sigma_{ref}` used (the batch
        median of :math:`\sigma_c` in training, ``running_ref`` in evaluation).
    ref_weights : ndarray, shape (C,), or None
        Training ``amplify``/``suppress`` only: :math:`\partial \sigma_{ref} / \partial
        \sigma_c` (1 for the middle channel of an odd C, 1/2 for the two middle ones of an even C,
        0 elsewhere), the path of the gradient through the reference.
    batch_sigma : ndarray, shape (C,), or None
        Training ``amplify``/``suppress`` only: the batch :math:`\sigma_c = \sqrt{v_c + \epsilon}`.
    """

    xhat: np.ndarray
    sigma: np.ndarray
    center: np.ndarray
    gamma: np.ndarray
    mode: str
    train: bool
    center_from_batch: bool
    sigma_from_batch: np.ndarray
    ref: float | None = None
    ref_weights: np.ndarray | None = None
    batch_sigma: np.ndarray | None = None


def _channel_view(v: np.ndarray, ndim: int) -> np.ndarray:
    """Reshape a per-channel vector (C,) so that it broadcasts against an (N, C, ...) array."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _reduce_axes(ndim: int) -> tuple[int, ...]:
    """Every axis except the channel axis 1."""
    return (0,) + tuple(range(2, ndim))


def batchnorm_forward(x, gamma, beta, state: BatchNormState, *, train: bool, momentum: float = 0.1,
                      eps: float = 1e-5, mode: str = "full"):
    r"""BatchNorm forward pass for (N, C), (N, C, L) or (N, C, H, W) inputs, in any mode.

    Parameters
    ----------
    x : ndarray, shape (N, C), (N, C, L) or (N, C, H, W)
        Input. float64 by default; float32 is preserved; integers become float64.
        Must be finite.
    gamma, beta : ndarray, shape (C,)
        Per-channel scale and shift, cast to the dtype of ``x``.
    state : BatchNormState
        Running statistics for C channels. Updated in place when ``train`` is True, never
        otherwise.
    train : bool
        True: normalise with batch statistics and update ``state``. False: use the running
        statistics (or the frozen ones) and leave ``state`` untouched.
    momentum : float in [0, 1], default 0.1
        Weight of the new batch in the running averages (PyTorch convention).
    eps : float >= 0, default 1e-5
        Added to the variance inside the square root.
    mode : {'full', 'center', 'scale', 'amplify', 'suppress', 'frozen'}, default 'full'
        The variant (see the table in the module docstring).

    Returns
    -------
    out : ndarray, shape of x
        :math:`y = \gamma_c \hat x + \beta_c`, in the dtype of ``x``.
    cache : BatchNormCache
        For :func:`batchnorm_backward` (see its fields).

    Raises
    ------
    ValueError
        Unknown mode, wrong shapes, non-finite ``x``, negative ``eps``, ``momentum`` outside
        [0, 1], a state for another number of channels, one value per channel in training, or a
        zero divisor (a constant channel with ``eps=0``).
    TypeError
        ``train`` is not a bool, or ``state`` is not a :class:`BatchNormState`.

    Notes
    -----
    **Forward (training, mode ``full``).** Per channel, over its :math:`M = N \cdot L` (or
    :math:`N H W`) values,

    .. math::

        m = \frac1M \sum_i x_i, \quad v = \frac1M \sum_i (x_i - m)^2, \quad
        \sigma = \sqrt{v + \epsilon}, \quad \hat x_i = \frac{x_i - m}{\sigma}, \quad
        y_i = \gamma \hat x_i + \beta.

    **Running statistics** (every mode, training only), as in PyTorch's ``BatchNorm1d/2d``:

    .. math::

        \bar m \leftarrow (1 - \alpha) \bar m + \alpha m, \quad
        \bar v \leftarrow (1 - \alpha) \bar v + \alpha \tfrac{M}{M - 1} v, \quad
        \overline{x^2} \leftarrow (1 - \alpha) \overline{x^2}
        + \alpha \tfrac1M \textstyle\sum_i x_i^2,
        \quad \bar r \leftarrow (1 - \alpha) \bar r + \alpha
        \operatorname{median}_c \sqrt{\tfrac{M}{M - 1} v_c + \epsilon},

    with :math:`\alpha` = ``momentum``: the running variance takes the *unbiased* batch variance,
    while the normalisation uses the biased one; the running reference :math:`\bar r`
    (``running_ref``, starting at 1) is built from the same unbiased spreads, so that in
    evaluation ``amplify``/``suppress`` compare :math:`\sqrt{\bar v_c + \epsilon}` with
    :math:`\bar r` on one footing. ``frozen`` mode stores the first training batch's
    :math:`m` and biased :math:`v` and from then on (training and evaluation alike) applies the
    constant map :math:`(x - m_0)/\sqrt{v_0 + \epsilon}`; the statistics are treated as
    constants, so not even the first batch back-propagates through them. In evaluation mode a
    ``frozen`` layer that has never seen a training batch falls back to the running statistics
    (0 and 1 when fresh), so it acts like a fresh PyTorch BatchNorm in ``eval()``.

    **amplify / suppress** (lmsbn's own design, not a paper's). With
    :math:`\sigma_c = \sqrt{v_c + \epsilon}` and :math:`r = \operatorname{median}_c \sigma_c`
    in training (``running_ref`` against :math:`\sqrt{\bar v_c + \epsilon}` in evaluation),

    .. math::

        \hat x^{amplify}_i = \frac{r\,(x_i - m_c)}{\min(\sigma_c, r)}, \qquad
        \hat x^{suppress}_i = \frac{r\,(x_i - m_c)}{\max(\sigma_c, r)},

    so a channel weaker (stronger) than the reference is brought to the reference's spread
    :math:`r` and every other channel is exactly ``center``'s :math:`x_i - m_c`.

    **Backward** (:func:`batchnorm_backward`), with :math:`g = \partial L / \partial y`:

    .. math::

        \frac{\partial L}{\partial x_i} = \frac{\gamma}{\sigma}
        \Big[g_i - \overline{g} - \hat x_i\, \overline{g \hat x}\Big],

    where the bar is the mean over the channel's :math:`M` values. Consequences: the input
    gradient of every channel sums to zero (so an upstream gradient of ones gives
    :math:`\partial L/\partial x = 0`), and it is orthogonal to :math:`\hat x`, hence to
    :math:`x - m`. If :math:`x = U w` comes from a linear layer (a conv filter :math:`w`), then
    :math:`w^\top \partial L / \partial w = x^\top \partial L / \partial x = 0` (exactly for
    :math:`\epsilon = 0`): BatchNorm's output is invariant to the scale of :math:`w`, so plain SGD
    can never shrink :math:`\|w\|` (fact 2 of tutorial 07; :func:`lmsbn.bridge.compare_first_step`
    measures it as ``scale_invariance``).

    References
    ----------
    .. [1] S. Ioffe and C. Szegedy, "Batch Normalization: Accelerating deep network training by
       reducing internal covariate shift", ICML 2015.
    .. [2] E. Chai, M. Pilanci and B. Murmann, "Separating the effects of batch normalization on
       CNN training speed and stability using classical adaptive filter theory", Asilomar 2020
       (abstract only: the ``amplify``/``suppress`` definitions here are lmsbn's own).

    Examples
    --------
    >>> import numpy as np
    >>> state = BatchNormState.create(2)
    >>> x = np.array([[1.0, 10.0], [3.0, 30.0]])
    >>> out, cache = batchnorm_forward(x, np.ones(2), np.zeros(2), state, train=True, eps=0.0)
    >>> out
    array([[-1., -1.],
           [ 1.,  1.]])
    >>> state.running_mean
    array([0.2, 2. ])
    """
    mode = check_choice(mode, "mode", BN_MODES)
    if not isinstance(train, (bool, np.bool_)):
        raise TypeError(f"train must be a bool, got {describe(train)}")
    train = bool(train)
    if not isinstance(state, BatchNormState):
        raise TypeError(f"state must be a BatchNormState, got {type(state).__name__}")
    momentum = check_positive(momentum, "momentum", allow_zero=True)
    if momentum > 1:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    eps = check_positive(eps, "eps", allow_zero=True)

    x = as_float_array(x, "x", ndim=(2, 3, 4))
    C = x.shape[1]
    gamma = as_float_array(gamma, "gamma", dtype=x.dtype)
    beta = as_float_array(beta, "beta", dtype=x.dtype)
    check_shape(gamma, "gamma", (C,), what=f"(one entry per channel of x, shape {x.shape})")
    check_shape(beta, "beta", (C,), what=f"(one entry per channel of x, shape {x.shape})")
    if state.num_features != C:
        raise ValueError(f"state has {state.num_features} channels but x has {C} (shape {x.shape})")

    axes = _reduce_axes(x.ndim)
    M = x.size // C
    if train:
        if M < 2:
            raise ValueError("x must have more than 1 value per channel when train=True (the batch "
                             f"variance is undefined), got shape {x.shape}")
        center, sigma, center_from_batch, sigma_from_batch, extra = _train_statistics(
            x, state, axes=axes, momentum=momentum, eps=eps, mode=mode)
    else:
        center, sigma, extra = _eval_statistics(state, eps=eps, mode=mode, dtype=x.dtype)
        center_from_batch, sigma_from_batch = False, np.zeros(C, dtype=bool)

    if np.any(sigma == 0):
        bad = np.flatnonzero(sigma == 0).tolist()
        raise ValueError(f"channels {bad} have zero variance and eps is {eps}: the divisor is 0; "
                         "use eps > 0")
    xhat = (x - _channel_view(center, x.ndim)) / _channel_view(sigma, x.ndim)
    out = _channel_view(gamma, x.ndim) * xhat + _channel_view(beta, x.ndim)
    cache = BatchNormCache(xhat=xhat, sigma=sigma, center=center, gamma=gamma, mode=mode,
                           train=train, center_from_batch=center_from_batch,
                           sigma_from_batch=sigma_from_batch, **extra)
    return out, cache


def _train_statistics(x, state, *, axes, momentum, eps, mode):
    """Batch centre and divisor for ``mode``, and the in-place update of ``state``."""
    C = x.shape[1]
    M = x.size // C
    mean = x.mean(axis=axes)
    var = ((x - _channel_view(mean, x.ndim)) ** 2).mean(axis=axes)  # biased: used to normalise
    meansq = (x * x).mean(axis=axes)

    # Running statistics are tracked in every mode so that evaluation works everywhere.
    keep = 1.0 - momentum
    unbiased = var * (M / (M - 1))
    state.running_mean[...] = keep * state.running_mean + momentum * mean
    state.running_var[...] = keep * state.running_var + momentum * unbiased
    state.running_meansq[...] = keep * state.running_meansq + momentum * meansq
    state.running_ref[...] = (keep * state.running_ref
                              + momentum * np.median(np.sqrt(unbiased + eps)))
    state.num_batches_tracked += 1

    sigma = np.sqrt(var + eps)
    one = np.ones(C, dtype=x.dtype)
    if mode == "full":
        return mean, sigma, True, np.ones(C, dtype=bool), {}
    if mode == "center":
        return mean, one, True, np.zeros(C, dtype=bool), {}
    if mode == "scale":
        return np.zeros(C, dtype=x.dtype), np.sqrt(meansq + eps), False, np.ones(C, dtype=bool), {}
    if mode in ("amplify", "suppress"):
        ref, weights = _median_and_weights(sigma)
        # Strict inequalities: a channel exactly at the reference (the middle channel of an odd
        # C, always) takes the constant branch s_c = 1, so its gradient is `center`'s there.
        active = sigma < ref if mode == "amplify" else sigma > ref
        extra = {"ref": x.dtype.type(ref), "ref_weights": weights, "batch_sigma": sigma}
        return mean, np.where(active, sigma / ref, one), True, active, extra
    # frozen: the first training batch fixes the map for good.
    if state.frozen_mean is None:
        state.frozen_mean = mean.astype(state.running_mean.dtype)
        state.frozen_var = var.astype(state.running_mean.dtype)
    return (state.frozen_mean.astype(x.dtype), np.sqrt(state.frozen_var.astype(x.dtype) + eps),
            False, np.zeros(C, dtype=bool), {})


def _median_and_weights(sigma):
    """The median of ``sigma`` (C,) and its derivative with respect to each entry.

    The median is the middle order statistic (odd C) or the mean of the two middle ones (even
    C), so its derivative is 1 or 1/2 on those channels and 0 elsewhere. Ties between channels
    are resolved by a stable sort (the lower channel index counts as the smaller): the median's
    value does not depend on that choice, its one-sided derivative does.
    """
    C = sigma.shape[0]
    order = np.argsort(sigma, kind="stable")
    middle = order[[(C - 1) // 2, C // 2]]
    weights = np.zeros(C, dtype=sigma.dtype)
    np.add.at(weights, middle, 0.5)
    return (sigma[middle[0]] + sigma[middle[1]]) / 2, weights


def _eval_statistics(state, *, eps, mode, dtype):
    """Centre and divisor from the running (or frozen) statistics: constants for backward."""
    mean = state.running_mean.astype(dtype)
    sigma = np.sqrt(state.running_var.astype(dtype) + dtype.type(eps))
    one = np.ones_like(sigma)
    if mode == "full":
        return mean, sigma, {}
    if mode == "center":
        return mean, one, {}
    if mode == "scale":
        return (np.zeros_like(mean), np.sqrt(state.running_meansq.astype(dtype) + dtype.type(eps)),
                {})
    if mode in ("amplify", "suppress"):
        ref = state.running_ref.astype(dtype)[()]
        clip = np.minimum if mode == "amplify" else np.maximum
        return mean, clip(sigma, ref) / ref, {"ref": ref}
    if state.frozen_mean is None:  # frozen, never trained: behave like a fresh BatchNorm
        return mean, sigma, {}
    return (state.frozen_mean.astype(dtype),
            np.sqrt(state.frozen_var.astype(dtype) + dtype.type(eps)), {})


def batchnorm_backward(dout, cache: BatchNormCache):
    r"""Exact gradients of :func:`batchnorm_forward` for every mode and for train and eval.

    Parameters
    ----------
    dout : ndarray, shape of x
        Upstream gradient :math:`g = \partial L / \partial y`.
    cache : BatchNormCache
        From the matching :func:`batchnorm_forward`.

    Returns
    -------
    dx : ndarray, shape of x
    dgamma, dbeta : ndarray, shape (C,)

    Notes
    -----
    With :math:`\delta_i = \gamma g_i`, the per-channel mean :math:`\overline{\cdot}` over the
    channel's :math:`M` values, and the two switches of the cache,

    .. math::

        \frac{\partial L}{\partial x_i} = \frac{1}{s}\Big[\delta_i
            - [\text{centre from batch}]\; \overline{\delta}
            - [\text{divisor from batch}]\; \hat x_i\, \overline{\delta \hat x}\Big],
        \qquad
        \frac{\partial L}{\partial \gamma} = \sum_i g_i \hat x_i, \qquad
        \frac{\partial L}{\partial \beta} = \sum_i g_i.

    Both switches on is standard BatchNorm. The ``scale`` mode has only the divisor switch: for
    :math:`s = \sqrt{\overline{x^2} + \epsilon}`, :math:`\partial s / \partial x_i = \hat x_i / M`,
    which gives the same last term. ``center`` has only the centre switch (:math:`s = 1`);
    ``frozen`` and evaluation mode have both switches off:
    :math:`\partial L/\partial x = \gamma g / s`.

    ``amplify``/``suppress`` (training) switch the divisor term on for the active channels
    :math:`A` (strictly weaker, resp. stronger, than :math:`r = \sigma_{ref}`), where
    :math:`\hat x = r (x - m)/\sigma` has variance :math:`r^2`, so the projection reads
    :math:`\hat x_i\, \overline{\delta \hat x} / r^2`. The reference adds one term: with
    :math:`w_k = \partial r / \partial \sigma_k` (1 or 1/2 on the middle channel(s), else 0),

    .. math::

        \frac{\partial L}{\partial r} = \frac1r \sum_{c \in A} \sum_i \delta_{ci} \hat x_{ci},
        \qquad
        \frac{\partial L}{\partial x_{ki}} \mathrel{+}= \frac{\partial L}{\partial r}\, w_k\,
        \frac{x_{ki} - m_k}{M \sigma_k}
        = \frac{\partial L}{\partial r}\, w_k\, \frac{s_k \hat x_{ki}}{M \sigma_k}.

    It couples the channels: the middle channel(s) carry the gradient of every active channel's
    dependence on the reference. In evaluation mode the reference is ``running_ref``, a constant.
    """
    if not isinstance(cache, BatchNormCache):
        raise TypeError(f"cache must be the BatchNormCache returned by batchnorm_forward, "
                        f"got {type(cache).__name__}")
    xhat = cache.xhat
    dout = as_float_array(dout, "dout", dtype=xhat.dtype, finite=False)
    check_shape(dout, "dout", xhat.shape, what="(the shape of the forward output)")
    ndim = xhat.ndim
    axes = _reduce_axes(ndim)

    dbeta = dout.sum(axis=axes)
    dgamma = (dout * xhat).sum(axis=axes)
    dxhat = dout * _channel_view(cache.gamma, ndim)
    if cache.center_from_batch:
        dxhat = dxhat - dxhat.mean(axis=axes, keepdims=True)
    active = np.asarray(cache.sigma_from_batch, dtype=bool)
    if np.any(active):
        # The projection off xhat only for channels whose divisor moves with the batch. With a
        # reference, xhat = ref (x - m) / sigma has variance ref^2 instead of 1, hence 1/ref^2.
        unit = 1.0 if cache.ref is None else 1.0 / (cache.ref * cache.ref)
        proj = (dxhat * xhat).mean(axis=axes) * active * unit
        dxhat = dxhat - xhat * _channel_view(proj.astype(xhat.dtype), ndim)
    dx = dxhat / _channel_view(cache.sigma, ndim)
    if cache.ref_weights is not None and np.any(active):
        # The path through the reference: xhat_c = ref (x_c - m_c) / sigma_c on the active
        # channels, and ref = median of sigma moves with the middle channels' sigma_k, whose
        # derivative is (x_k - m_k) / (M sigma_k) = xhat_k s_k / (M sigma_k).
        delta = dout * _channel_view(cache.gamma, ndim)
        dref = np.sum((delta * xhat).sum(axis=axes) * active) / cache.ref
        M = xhat.size // xhat.shape[1]
        coef = dref * cache.ref_weights * cache.sigma / (M * cache.batch_sigma)
        dx = dx + xhat * _channel_view(coef.astype(xhat.dtype), ndim)
    return dx, dgamma, dbeta
