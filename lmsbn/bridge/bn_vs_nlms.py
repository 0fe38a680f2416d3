r"""BatchNorm's first update against NLMS: the one comparison that exists only inside a network.

For a conv layer followed by BatchNorm in mode ``"full"``, :func:`compare_first_step` measures, per
filter, the actual change of the normalised output after one SGD step against the first-order
predictions of a BatchNorm step and of an NLMS step, and the ratio :func:`rho` of their
normalisers (tutorial 07 derives the four facts used).

Provenance: the paper's abstract states that BatchNorm satisfies the same optimisation as NLMS
on the first training step and approximates it afterwards; rho, its spread
(:func:`rho_spread`) and the first-order comparison are lmsbn's own ways of testing that.

References
----------
Chai, Pilanci, Murmann (2020), "Separating the Effects of Batch Normalization on CNN Training
Speed and Stability Using Classical Adaptive Filter Theory", Asilomar / arXiv:2002.10674.
Haykin, *Adaptive Filter Theory* (NLMS: ch. 6).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lmsbn._checks import as_float_array, check_positive
from lmsbn.bridge.regressors import (
    _BatchNormSnapshot,
    _check_model,
    _regressors_of,
    bn_followers,
    layer_weights,
    rows_last,
)
from lmsbn.io import Result
from lmsbn.spectral import autocorrelation
from lmsbn.train.loop import _check_labels, _loss_fn

__all__ = ["FilterComparison", "FirstStepReport", "bn_nlms_quantities", "compare_first_step",
           "rho", "rho_spread"]


def rho(W, C) -> np.ndarray:
    r"""The Rayleigh-quotient ratio of BatchNorm's and NLMS's normalisers (tutorial 07, fact 4).

    .. math:: \rho_f = \frac{K\, w_f^T C w_f}{\|w_f\|^2 \operatorname{tr} C}

    Parameters
    ----------
    W : ndarray, shape (F, K) or (K,)
        Filters as rows.
    C : ndarray, shape (K, K)
        Covariance of the (centred) regressors.

    Returns
    -------
    ndarray, shape (F,) (or a scalar array for one filter)
        Exactly 1 for every ``w`` when C is proportional to I. Over an isotropic random ``w``
        it has mean exactly 1 and the standard deviation :func:`rho_spread`; for one given
        filter it is whatever its direction makes it.

    Notes
    -----
    rho is lmsbn's own device for comparing the two normalisers (the papers' abstracts do not
    define it); the identity ``BN step = NLMS step / rho`` it expresses is exact.
    """
    W = as_float_array(W, "W", ndim=(1, 2))
    C = _check_cov(C, W.shape[-1])
    K = C.shape[0]
    quad = np.einsum("...k,kl,...l->...", W, C, W)
    return K * quad / (np.sum(W * W, axis=-1) * np.trace(C))


def _check_cov(C, K=None):
    C = as_float_array(C, "C", ndim=2)
    if C.shape[0] != C.shape[1] or (K is not None and C.shape[0] != K):
        raise ValueError(f"C must be square (K, K) with K = {K if K is not None else C.shape[0]} "
                         f"(the filters' length); got C {C.shape}")
    return C


def rho_spread(C) -> float:
    r"""Standard deviation of :func:`rho` over isotropic random filters, for a covariance C.

    Parameters
    ----------
    C : ndarray, shape (K, K)

    Returns
    -------
    float
        :math:`\sqrt{\operatorname{Var}\rho}`, with (the mean is exactly 1)

        .. math::

            \operatorname{Var}\rho = \frac{2}{K + 2}
            \left(\frac{K \operatorname{tr} C^2}{(\operatorname{tr} C)^2} - 1\right).

    Notes
    -----
    Derivation. For :math:`w \sim N(0, s^2 I)` (He initialisation is such a draw), the direction
    :math:`w/\|w\|` is uniform on the sphere, so in C's eigenbasis
    :math:`w^T C w / \|w\|^2 = \sum_k \lambda_k \beta_k` with
    :math:`\beta \sim \mathrm{Dirichlet}(\tfrac12, \dots, \tfrac12)`:
    :math:`E\beta_k = 1/K`, :math:`\operatorname{Var}\beta_k = 2(K-1)/(K^2(K+2))`,
    :math:`\operatorname{Cov}(\beta_j, \beta_k) = -2/(K^2(K+2))`. Hence
    :math:`E\rho = 1` exactly and
    :math:`\operatorname{Var}(\sum\lambda_k\beta_k) = 2 (K \sum\lambda_k^2 - (\sum\lambda_k)^2)
    / (K^2 (K+2))`; multiplying by :math:`(K/\operatorname{tr} C)^2` gives the formula.
    :math:`K \operatorname{tr} C^2/(\operatorname{tr} C)^2 = K / r_{eff}`, with
    :math:`r_{eff}` the participation ratio of C's eigenvalues: rho concentrates only when C's
    power is spread over many eigenvalues (white input: Var = 0; rank one: Var
    :math:`\to 2(K-1)/(K+2) \approx 2`). BatchNorm's step divided by the NLMS step is
    :math:`1/\rho`, whose mean exceeds 1 (Jensen) and whose median differs from 1 because the
    distribution of rho is skewed; the exact statement is about rho.
    """
    C = _check_cov(C)
    K = C.shape[0]
    t1, t2 = float(np.trace(C)), float(np.sum(C * C))   # tr C and tr C^2 (C symmetric)
    return float(np.sqrt(max(2.0 * (K * t2 / t1**2 - 1.0) / (K + 2), 0.0)))


def bn_nlms_quantities(W, C, gamma, lr, *, eps: float = 1e-5, sigma=None) -> dict[str, np.ndarray]:
    r"""Per-filter BatchNorm and NLMS step sizes for one conv/linear layer followed by BatchNorm.

    Parameters
    ----------
    W : ndarray, shape (F, K)
    C : ndarray, shape (K, K)
        Covariance of the layer's regressors (``autocorrelation(U, center=True)``).
    gamma : ndarray, shape (F,)
    lr : float
    eps : float
        BatchNorm's eps.
    sigma : ndarray, shape (F,), optional
        The divisor BatchNorm actually used; default :math:`\sqrt{w^T C w + \epsilon}`.

    Returns
    -------
    dict of ndarray, each of shape (F,)
        ``bn_step`` :math:`= \eta\gamma^2/\sigma^2`; ``nlms_mu`` :math:`= \eta\gamma^2 K/\|w\|^2`
        (the equivalent NLMS step size, stable in (0, 2)); ``nlms_step`` = ``nlms_mu / tr C``;
        ``ratio`` = ``bn_step / nlms_step``; ``rho``; ``w_norm``; ``rho_sd``, the standard
        deviation of rho over isotropic random filters for this C (:func:`rho_spread`, the same
        for every filter).

    Notes
    -----
    BatchNorm divides the step it takes in output space by the *output* power
    :math:`\sigma^2 = w^T C w` of the filter; NLMS divides by the *input* power
    :math:`\operatorname{tr} C`. Writing :math:`\sigma^2 = \rho\,\|w\|^2 \operatorname{tr} C / K`
    shows that BatchNorm's step is the NLMS step with
    :math:`\tilde\mu = \eta\gamma^2 K / \|w\|^2`, divided by :math:`\rho`. Hence
    ``ratio`` = :math:`1/\rho` up to eps, **exactly, per filter**. What holds only **in
    expectation over the random initialisation** is :math:`E\rho = 1`: a given filter's rho
    lies within about ``rho_sd`` of 1, not at 1 (except for white inputs, where it is 1 for
    every w). After the first step nothing fixes rho; how it moves is measured
    (:func:`lmsbn.experiments.chai.first_step`).
    """
    W = as_float_array(W, "W", ndim=2)
    C = as_float_array(C, "C", ndim=2)
    lr = check_positive(lr, "lr")
    gamma = as_float_array(gamma, "gamma", ndim=1)
    K = W.shape[1]
    w_norm2 = np.sum(W * W, axis=1)
    trace_c = float(np.trace(C))
    if sigma is None:
        sigma = np.sqrt(np.einsum("fk,kl,fl->f", W, C, W) + eps)
    bn_step = lr * gamma**2 / sigma**2
    nlms_mu = lr * gamma**2 * K / w_norm2
    nlms_step = nlms_mu / trace_c
    return {"bn_step": bn_step, "nlms_mu": nlms_mu, "nlms_step": nlms_step,
            "ratio": bn_step / nlms_step, "rho": rho(W, C), "w_norm": np.sqrt(w_norm2),
            "rho_sd": np.full(W.shape[0], rho_spread(C))}


@dataclass
class FilterComparison:
    """BatchNorm versus NLMS for the filters of one conv/linear layer (arrays of shape (F,)).

    Attributes
    ----------
    layer, bn_layer : str
    K : int
        Regressor length C_in kh kw.
    trace_C : float
        Input power of the centred regressors, tr C.
    bn_step, nlms_mu, nlms_step, ratio, rho, w_norm : ndarray (F,)
        See :func:`bn_nlms_quantities`.
    bn_error : ndarray (F,)
        Relative error of BatchNorm's own first-order prediction of the change of its output
        (tutorial 07, fact 3) against the actual change: O(lr), the linearisation error.
    nlms_error : ndarray (F,)
        Relative error of the NLMS prediction (the same formula with the input-power normaliser)
        against the actual change: about :math:`|1 - \\rho|` -- zero for white input.
    scale_invariance : ndarray (F,)
        :math:`|w \\cdot \\nabla_w L| / (\\|w\\| \\|\\nabla_w L\\|)`, 0 up to eps
        (tutorial 07, fact 2).
    rho_sd : ndarray (F,)
        The standard deviation of rho predicted over isotropic random filters for this layer's
        C (:func:`rho_spread`; one value, repeated per filter).
    """

    layer: str
    bn_layer: str
    K: int
    trace_C: float
    bn_step: np.ndarray
    nlms_mu: np.ndarray
    nlms_step: np.ndarray
    ratio: np.ndarray
    rho: np.ndarray
    w_norm: np.ndarray
    bn_error: np.ndarray
    nlms_error: np.ndarray
    scale_invariance: np.ndarray
    rho_sd: np.ndarray


@dataclass
class FirstStepReport(Result):
    """:func:`compare_first_step`'s result: one :class:`FilterComparison` per conv+BN pair.

    ``params`` holds the arguments of the comparison (``lr``, ``loss``, ``batch_size``).
    """

    lr: float
    layers: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    def summary(self) -> str:
        """A table over filters, one line per layer: medians, and rho's mean and spread.

        ``sd rho`` is measured over the layer's filters, ``pred sd`` predicted for isotropic
        random filters (:func:`rho_spread`); the mean of rho is 1 on average over
        initialisations.
        """
        head = f"{'layer':<8} {'K':>4} {'median rho':>10} {'mean rho':>8} {'sd rho':>6} " \
               f"{'pred sd':>7} {'BN/NLMS':>8} {'NLMS mu~':>9} {'BN err':>8} {'NLMS err':>8}"
        lines = [head]
        for name, c in self.layers.items():
            lines.append(f"{name:<8} {c.K:>4} {np.median(c.rho):>10.3f} {np.mean(c.rho):>8.3f} "
                         f"{np.std(c.rho):>6.3f} {c.rho_sd[0]:>7.3f} {np.median(c.ratio):>8.3f} "
                         f"{np.median(c.nlms_mu):>9.3g} {np.median(c.bn_error):>8.1e} "
                         f"{np.median(c.nlms_error):>8.1e}")
        lines += [f"{name:<8} skipped: {why}" for name, why in self.skipped.items()]
        return "\n".join(lines)

    @classmethod
    def _example(cls) -> FirstStepReport:
        F = 3
        arr = {k: np.linspace(0.5, 1.5, F) for k in ("bn_step", "nlms_mu", "nlms_step", "ratio",
                                                      "rho", "w_norm")}
        comp = FilterComparison("conv1", "bn1", 27, 4.5, **arr, bn_error=np.full(F, 1e-5),
                                nlms_error=np.array([0.1, np.nan, 0.2]),
                                scale_invariance=np.zeros(F), rho_sd=np.full(F, 0.3))
        return cls(1e-4, {"conv1": comp}, {"conv2": "mode 'amplify' is not standard BatchNorm"},
                   {"lr": 1e-4, "loss": "cross_entropy", "batch_size": 8})


def _normalised_change(U, W_new, xhat, gamma, eps):
    """gamma * (xhat' - xhat): the actual change of BatchNorm's output after the filters change."""
    Z = U @ W_new.T
    Zc = Z - Z.mean(axis=0)
    return gamma * (Zc / np.sqrt(Zc.var(axis=0) + eps) - xhat)


def compare_first_step(model, x, y, lr, *, loss: str = "cross_entropy") -> FirstStepReport:
    r"""BatchNorm's update against NLMS's, for every conv/linear layer followed by BatchNorm.

    Runs one forward and backward pass on ``(x, y)`` at the model's current weights (without
    changing the weights or the running statistics), then for each filter :math:`f` of each such
    layer computes the quantities of :func:`bn_nlms_quantities`, and checks the first-order change
    of the normalised output (tutorial 07, fact 3)

    .. math::
        \Delta\hat z \approx -\eta\,\frac{\gamma^2}{\sigma^2}\,
        (I - \hat x \hat x^T / M)\, \tilde U \tilde U^T P g,
        \qquad P g = g - \bar g - \hat x\, \overline{g \hat x},

    against the actual change after the SGD step ``w - lr * dL/dw`` (``bn_error``), and the same
    formula with NLMS's normaliser :math:`K / (\|w\|^2 \operatorname{tr} C)` in place of
    :math:`1/\sigma^2` (``nlms_error``).

    Parameters
    ----------
    model : Sequential
    x, y : ndarray
        One batch and its labels (or targets for ``loss="mse"``).
    lr : float
        Use a small one (1e-4 or less) to see the first-order agreement.
    loss : {"cross_entropy", "mse"}

    Returns
    -------
    FirstStepReport
        Layers whose BatchNorm is not in ``"full"`` mode are listed in ``skipped``: the facts are
        about standard BatchNorm.

    Notes
    -----
    Read the report in two tiers. **Exact, per filter**: ``bn_error`` is O(lr) (BatchNorm's
    step is :math:`\eta\gamma^2/\sigma^2`, :math:`\sigma^2 = w^T C w + \epsilon`) and
    ``ratio`` :math:`= 1/\rho` up to eps. **On average over the random initialisation**:
    :math:`E\rho = 1`, so ``nlms_error`` (about :math:`|1 - \rho|`) is not small per filter;
    its typical size is ``rho_sd`` (:func:`rho_spread`). The function leaves the gradients of
    its backward pass in the layers' ``grads`` (the weights and running statistics are
    unchanged).
    """

    _check_model(model)
    lr = check_positive(lr, "lr")
    X = as_float_array(x, "x", min_ndim=2)
    y = _check_labels(y, X, loss)
    pairs = bn_followers(model)
    inputs, g_out = {}, {}

    def fwd(name, layer, inp, out):
        if name in pairs:
            inputs[name] = (inp, layer.cache)

    def bwd(name, layer, dout, din):
        if name in pairs.values():
            g_out[name] = dout

    report = FirstStepReport(lr=lr, params={"lr": lr, "loss": loss, "batch_size": int(X.shape[0])})
    with _BatchNormSnapshot(model), model.register_forward_hook(fwd), \
            model.register_backward_hook(bwd):
        out = model.forward(X, train=True)
        _, dout = _loss_fn(loss)(out, y)
        model.backward(dout)
    for name, bn_name in pairs.items():
        layer, bn = model[name], model[bn_name]
        if bn.mode != "full":
            report.skipped[name] = f"{bn_name} is in mode {bn.mode!r}; the comparison is for 'full'"
            continue
        U = _regressors_of(layer, *inputs[name])
        W = layer_weights(layer)
        dW = layer.grads["weight"].reshape(W.shape)
        gamma, sigma = bn.params["weight"], bn.cache.sigma
        xhat, g = rows_last(bn.cache.xhat), rows_last(g_out[bn_name])
        Ut = U - U.mean(axis=0)
        C = autocorrelation(U, center=True)
        q = bn_nlms_quantities(W, C, gamma, lr, eps=bn.eps, sigma=sigma)
        # Fact 1's projected error and fact 3's first-order output change, per filter column.
        Pg = g - g.mean(axis=0) - xhat * np.mean(g * xhat, axis=0)
        s = Ut @ (Ut.T @ Pg)
        Pi_s = s - xhat * np.mean(xhat * s, axis=0)
        actual = _normalised_change(U, W - lr * dW, xhat, gamma, bn.eps)
        norm = np.linalg.norm(actual, axis=0)
        bn_pred, nlms_pred = -q["bn_step"] * Pi_s, -q["nlms_step"] * Pi_s
        report.layers[name] = FilterComparison(
            layer=name, bn_layer=bn_name, K=W.shape[1], trace_C=float(np.trace(C)), **q,
            bn_error=np.linalg.norm(actual - bn_pred, axis=0) / norm,
            nlms_error=np.linalg.norm(actual - nlms_pred, axis=0) / norm,
            scale_invariance=np.abs(np.sum(W * dW, axis=1))
            / (np.linalg.norm(W, axis=1) * np.linalg.norm(dW, axis=1)),
        )
    return report

