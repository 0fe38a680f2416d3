r"""The full loss Hessian: the curvature the Gauss-Newton matrix leaves out.

The Hessian of the mean loss :math:`L(\theta) = \ell(f_\theta(X))` is

.. math::
    H = \nabla^2 L = \underbrace{J^\top H_\ell J}_{G}
        + \sum_k \frac{\partial \ell}{\partial f_k}\,\frac{\partial^2 f_k}{\partial\theta^2},

the Gauss-Newton matrix :math:`G` of :mod:`lmsbn.bridge.stability` plus a term that carries the
loss gradient times the network's second derivative in its parameters. For a model linear in its
parameters (a single linear layer) the second term vanishes and :math:`H = G` exactly. BatchNorm
makes the network strongly nonlinear in the weights before it: the output does not change when
such a weight vector is scaled, :math:`f(c\,w) = f(w)`, so :math:`J [w; 0] = 0` and hence
:math:`G [w; 0] = 0`, while differentiating :math:`\nabla L(c\,w) \cdot w = 0` gives
:math:`H [w; 0] = [-\nabla_w L; 0]` -- curvature that :math:`G` does not see at all. Unlike
:math:`G`, :math:`H` can have negative eigenvalues.

How :math:`H v` is computed (:func:`hessian_matvec`), by manual backprop only: a **central finite
difference of the exact gradient**,

.. math:: H v \approx \frac{\nabla L(\theta + h v) - \nabla L(\theta - h v)}{2h},

with the gradient computed as :func:`lmsbn.train.train` does (training-mode forward, the loss's
``dout``, one backward pass). Between kinks the error is :math:`O(h^2)` (third derivatives) plus
rounding :math:`O(u\,\|\nabla L\|/h)`. A ReLU or max-pool **kink** crossed within :math:`\pm h`
is worse: the gradient jumps there, and the quotient gains a term of order :math:`1/h`. The
chance of a crossing grows with :math:`h` and with the number of units (on 32 images, a
``small_cnn`` (2, 4, 4) with BatchNorm: a float64 step of 6e-6, the :math:`u^{1/3}` that would
balance the first two errors, crossed a kink in 14 of 20 random products; 1e-6 in none), so:

* the default step is small, :math:`h` = 1e-6 times the parameters' scale in float64 (rounding
  then ~1e-10 of :math:`Hv`; measured: products at steps 1e-5 to 1e-7 agree to 1e-9 once no
  kink is crossed); in float32, :math:`u^{1/3}` = 4.9e-3 (use float64);
* every product compares the activation pattern (ReLU masks, max-pool winners) at
  :math:`\theta \pm hv` with the one at :math:`\theta` and, if either differs, divides the step
  by 8 and repeats (at most 4 times per call, and later products start from the reduced step).
  The result is the Hessian of the smooth piece that contains :math:`\theta`.

``tests/test_hessian.py`` checks the product against :math:`G` where :math:`H = G`, against the
scale-invariance identity above, against a second difference of the loss, and its symmetry.

References
----------
Pearlmutter (1994), "Fast exact multiplication by the Hessian", Neural Computation 6(1).
Schraudolph (2002), "Fast curvature matrix-vector products for second-order gradient descent",
Neural Computation 14(7).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmsbn._checks import as_float_array, as_generator, check_choice, check_int, check_positive
from lmsbn.bridge.stability import GNEstimate, _GaussNewton, _power_iteration
from lmsbn.io import rng_param
from lmsbn.train.loop import LOSSES, _check_labels, _loss_fn

__all__ = ["HessianEstimate", "hessian_lambda_max", "hessian_matvec"]


class _Hessian(_GaussNewton):
    """H v by central differences of the exact gradient; restores the model on leaving.

    The Gauss-Newton context supplies the bookkeeping (chosen parameters, saving and restoring
    parameters, gradients, caches and BatchNorm statistics); only the product differs.
    """

    def __init__(self, model, X, y, loss, names=None, fd_step=None):
        loss = check_choice(loss, "loss", LOSSES)
        X = as_float_array(X, "X", min_ndim=2)
        if fd_step is None:
            fd_step = _default_step(X.dtype)
        super().__init__(model, X, loss, names, fd_step)
        self.y = _check_labels(y, self.X, loss)
        self.grad_fn = _loss_fn(loss)
        # step reductions for kinks so far / products that still crossed one after all of them
        self.reduced, self.kinks = 0, 0

    def __enter__(self):
        super().__enter__()
        self.pattern = _pattern(self.layers[self.first:])
        return self

    def _gradient(self):
        """The gradient over the chosen parameters at the model's current parameters, and the
        activation pattern (ReLU masks, max-pool winners) of that forward pass."""
        out = self._forward_from_first()
        pattern = _pattern(self.layers[self.first:])
        _, dout = self.grad_fn(out, self.y)
        for _, layer in reversed(self.layers[self.first:]):
            dout = layer.backward(dout)
        return np.concatenate([g.ravel() for _, g in self.params]), pattern

    def matvec(self, v):
        v = as_float_array(v, "v", ndim=1)
        if v.size != self.size:
            raise ValueError(f"v must have {self.size} entries (the chosen parameters, in "
                             f"model.named_parameters() order), got {v.size}")
        vn = float(np.sqrt(np.mean(v * v)))
        if vn == 0:
            return np.zeros(self.size)
        # The same relative step as the J v product, times the reductions earlier products of
        # this context needed: a unit that sits near its kink at theta does so for every v.
        h = self.fd_step * max(1.0, self.theta_rms) / vn * 8.0 ** -self.reduced
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            tries = max(1, _REDUCTIONS + 1 - self.reduced)
            for attempt in range(tries):
                self._assign(h, v)
                g_plus, p_plus = self._gradient()
                self._assign(-h, v)
                g_minus, p_minus = self._gradient()
                if _same(p_plus, self.pattern) and _same(p_minus, self.pattern):
                    break
                if attempt == tries - 1:  # reductions exhausted: accept, and count it
                    self.kinks += 1
                    break
                # A kink between theta - h v and theta + h v: the gradient jumps there and the
                # difference quotient would be O(1/h). Shrink the step until both ends lie on
                # theta's piece (the chance of a crossing grows with h).
                h /= 8
                self.reduced += 1
            self._assign(0.0, None)
            return (g_plus - g_minus) / (2 * h)


def _default_step(dtype):
    """1e-6 in float64, u^(1/3) in float32 (the module notes give the reasons)."""
    return max(1e-6, float(np.cbrt(np.finfo(np.result_type(dtype, np.float32)).eps)))


#: Step reductions (by 8 each) allowed per product context when a step crosses a kink
#: (8^-4: the step stays above 2e-10 relative, where rounding is still ~1e-6 of H v).
_REDUCTIONS = 4


def _pattern(layers):
    """The piece of a piecewise-smooth network: every ReLU mask and max-pool winner."""
    found = []
    for _, layer in layers:
        cache = getattr(layer, "cache", None)
        for name in ("mask", "argmax"):
            value = getattr(cache, name, None)
            if isinstance(value, np.ndarray):
                found.append(value)
    return found


def _same(a, b):
    return len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x, y)
                                    for x, y in zip(a, b))


def hessian_matvec(model, X, y, v, *, loss: str = "cross_entropy", params=None,
                   fd_step=None) -> np.ndarray:
    r"""Return :math:`H v`, the Hessian of the mean loss on the batch ``(X, y)`` times ``v``.

    Parameters
    ----------
    model : Sequential
    X : ndarray, shape (N, ...)
        One batch (training-mode forward, BatchNorm with its batch statistics, as ``train``).
    y : ndarray, shape (N,) or (N, ...)
        Labels (``cross_entropy``) or targets (``mse``): unlike :math:`G`, :math:`H` needs them.
    v : ndarray, shape (P,)
        A direction over the chosen parameters, in ``model.named_parameters()`` order.
    loss : {"cross_entropy", "mse"}
        As in :func:`lmsbn.train.train`.
    params : iterable of str, optional
        Parameter names: :math:`H`'s diagonal block over them. Default: every parameter.
    fd_step : float, optional
        Relative step: :math:`h` = ``fd_step`` * max(1, RMS(theta)) / RMS(v), reduced where it
        crosses a kink. Default 1e-6 in float64 (:math:`u^{1/3}` in float32; module notes).

    Returns
    -------
    ndarray, shape (P,)
        Exact up to the finite-difference error; the model is left untouched.
    """
    with _Hessian(model, X, y, loss, params, fd_step) as H:
        return H.matvec(v)


@dataclass
class HessianEstimate(GNEstimate):
    r"""Result of :func:`hessian_lambda_max`.

    Attributes
    ----------
    lambda_max : float
        The largest Rayleigh quotient :math:`v^\top H v` over every unit iterate of both power
        iterations: a lower bound on the largest (most positive) eigenvalue of :math:`H`, up to
        the finite-difference error.
    history : ndarray, shape (iterations,)
        The Rayleigh quotients of :math:`H` (shift removed) of both phases, in order.
    converged : bool
        Whether the phase that produced the answer met its tolerance.
    vector : ndarray, shape (P,)
        The iterate of ``lambda_max``.
    lambda_abs : float
        The first phase's last Rayleigh quotient: the eigenvalue of largest magnitude, with its
        sign (negative when the most negative curvature dominates).
    shift : float
        The shift :math:`\sigma` of the second phase (0: it was not needed).
    params : dict
    """

    lambda_abs: float = float("nan")
    shift: float = 0.0

    _matrix = "Hessian"

    def summary(self) -> str:
        return (super().summary() + f"; largest |eigenvalue| ~ {self.lambda_abs:.6g}"
                + (f" (second phase shifted by {self.shift:.4g})" if self.shift else ""))

    @classmethod
    def _example(cls) -> HessianEstimate:
        return cls(2.5, np.array([-3.0, -3.1, 2.4, 2.5]), True, np.array([0.6, 0.0, 0.8]),
                   {"loss": "cross_entropy", "iters": 2, "tol": 1e-3, "rng": 0, "batch_size": 4},
                   lambda_abs=-3.1, shift=3.1)


def hessian_lambda_max(model, X, y, *, loss: str = "cross_entropy", params=None, iters: int = 50,
                       tol: float = 1e-4, rng=None, v0=None, fd_step=None) -> HessianEstimate:
    r"""Largest (most positive) eigenvalue of the Hessian of the mean loss on ``(X, y)``.

    Parameters
    ----------
    model : Sequential
    X, y : ndarray
        The batch and its labels or targets.
    loss : {"cross_entropy", "mse"}
    params : iterable of str, optional
        Restrict to these parameters (a diagonal block of H); default every parameter.
    iters : int, default 50
        Maximum power iterations per phase (two phases at most).
    tol : float, default 1e-4
        Stop a phase when its Rayleigh quotient changes by less than ``tol`` relative.
    rng : None, int or Generator
        Draws the random starting vector (unless ``v0`` is given).
    v0 : ndarray, shape (P,), optional
        Starting vector of both phases, e.g. the top Gauss-Newton eigenvector
        (:attr:`GNEstimate.vector`): its Rayleigh quotient :math:`v_0^\top H v_0` is already a
        lower bound on :math:`\lambda_{max}(H)`.
    fd_step : float, optional
        See :func:`hessian_matvec`.

    Returns
    -------
    HessianEstimate

    Notes
    -----
    Power iteration converges to the eigenvalue of largest *magnitude*, and :math:`H` can have
    negative ones; the one that bounds the stable learning rate is the most positive. So:

    1. power iteration on :math:`H` gives :math:`\mu`, the largest-magnitude eigenvalue with
       its sign (``lambda_abs``). If :math:`\mu > 0`, its Rayleigh quotient converged and its
       residual :math:`\|Hv - \mu v\| / \mu` is at most :math:`\sqrt{tol}`, it is also the
       most positive eigenvalue: done.
    2. Otherwise (a negative :math:`\mu`, or no convergence, e.g. :math:`+a` and :math:`-a'`
       competing: then the quotient can settle while :math:`v` is still a mixture, which the
       residual shows), power iteration on :math:`H + \sigma I` with :math:`\sigma = |\mu|`, whose
       spectrum :math:`\lambda_i + \sigma` is (nearly) non-negative, so its dominant eigenvalue
       is :math:`\lambda_{max}(H) + \sigma`.

    Every Rayleigh quotient :math:`v^\top H v` of a unit vector is at most :math:`\lambda_{max}(H)`
    (Courant-Fischer), so the largest one seen in either phase is reported: a lower bound,
    whichever phase found it. Each iteration costs two forward and two backward passes.
    """
    iters = check_int(iters, "iters", min_value=1)
    tol = check_positive(tol, "tol")
    if fd_step is not None:
        fd_step = check_positive(fd_step, "fd_step")
    record = {"loss": loss, "param_names": None if params is None else list(params),
              "iters": iters, "tol": tol, "fd_step": fd_step, "rng": rng_param(rng),
              "batch_size": int(np.shape(X)[0]), "warm_start": v0 is not None}
    rng = as_generator(rng)
    with _Hessian(model, X, y, loss, params, fd_step) as H:
        record["fd_step"] = H.fd_step
        if v0 is None:
            start = rng.standard_normal(H.size)
        else:
            start = as_float_array(v0, "v0", ndim=1).copy()
            if start.size != H.size or not np.any(start):
                raise ValueError(f"v0 must be a non-zero vector of {H.size} entries, "
                                 f"got {start.size}")
        start /= np.linalg.norm(start)
        quotients, vectors, residuals = [], [], []

        def keep(shift):
            def product(v):
                w = H.matvec(v)
                q = float(v @ w)
                quotients.append(q)
                vectors.append(v)
                residuals.append(float(np.linalg.norm(w - q * v)) / abs(q) if q else np.inf)
                return w + shift * v
            return product

        history, converged, v = _power_iteration(keep(0.0), start, iters, tol)
        mu = history[-1] if history else float("nan")
        shift = 0.0
        # A small change of the Rayleigh quotient is not enough: with eigenvalues +a and -a'
        # competing it changes slowly while v is still a mixture. The residual tells them apart.
        if np.isfinite(mu) and not (mu > 0 and converged and residuals[-1] <= np.sqrt(tol)):
            shift = abs(mu)
            # a positive mu's iterate is a good start; a negative one's points the wrong way
            _, converged, _ = _power_iteration(keep(shift), v if mu > 0 else start, iters, tol)
        record["steps_reduced"], record["kinks_left"] = H.reduced, H.kinks
    finite = [i for i, q in enumerate(quotients) if np.isfinite(q)]
    best = max(finite, key=quotients.__getitem__) if finite else None
    lam = quotients[best] if best is not None else float("nan")
    vector = vectors[best] if best is not None else start
    record["residual"] = residuals[best] if best is not None else float("nan")
    return HessianEstimate(lam, np.asarray(quotients), bool(converged), vector, record,
                           lambda_abs=float(mu), shift=float(shift))
