r"""The stability bound in the units of ``train``: the Gauss-Newton curvature of the mean loss.

The LMS bound :math:`\mu < 2/\lambda_{max}(R)` assumes an error of unit gain, :math:`e = d - w^T u`.
Inside a network the error a layer sees is the back-propagated gradient, so the curvature its
weights feel is :math:`R` weighted by everything downstream: BatchNorm, ReLU, the later layers,
the loss's own curvature, the :math:`1/N` of a mean loss and the sum over output positions. The
matrix that carries all of it, for the mean loss exactly as :func:`lmsbn.train.train` computes
it, is the **Gauss-Newton matrix**

.. math::
    G = J^\top H_\ell J, \qquad J = \partial f_\theta(X) / \partial\theta, \qquad
    H_\ell = \partial^2 L / \partial f^2,

with :math:`f_\theta(X)` the network output on the whole batch (training-mode BatchNorm: batch
statistics included) and :math:`H_\ell` the loss Hessian at that output:

* softmax cross-entropy (mean over N): block-diagonal,
  :math:`(\operatorname{diag} p_n - p_n p_n^\top)/N` per example,
  :math:`p_n = \operatorname{softmax}(f_n)`;
* lmsbn's ``mse_loss`` (half mean over all S entries of the output): :math:`I/S`;
* ``"gaussian"``: :math:`I/N`, the half squared error summed over outputs and averaged over
  examples, whose Gauss-Newton matrix is the Fisher information of a unit-variance Gaussian
  output model (:mod:`lmsbn.experiments.chai.fisher` is built on it).

:math:`G` is positive semi-definite and equals the loss Hessian without the term that carries
:math:`\partial^2 f / \partial\theta^2` times the loss gradient. For gradient descent on a quadratic
model of the loss with curvature :math:`G`, the step :math:`\theta \leftarrow \theta - \eta\nabla L`
is stable iff :math:`\eta < 2/\lambda_{max}(G)` -- the LMS bound, now in the units of the learning
rate that ``train`` uses.

How :math:`G v` is computed (:func:`gn_matvec`), by manual backprop only:

* :math:`u = J v` by a **central finite difference** of the forward pass along :math:`v`. Between
  kinks a ReLU/max-pool network is smooth, so the error is :math:`O(h^2)`, about 1e-7 relative with
  the default step (measured against explicit matrices in ``tests/test_stability.py``);
* :math:`H_\ell u` in closed form;
* :math:`J^\top (H_\ell u)` by **one backward pass**: exact.

The forward pass at :math:`\theta` is done once per call and shared by every product, and a
product over one layer's parameters only re-runs the layers from that layer on. Parameters,
gradients, layer caches and BatchNorm running statistics are all restored afterwards: probing a
model never changes it.

References
----------
Schraudolph (2002), "Fast curvature matrix-vector products for second-order gradient descent",
Neural Computation 14(7). LeCun, Bottou, Orr, Mueller (1998), "Efficient BackProp" (the largest
stable learning rate 2/lambda_max of the Hessian). Cohen, Kaur, Li, Kolter, Talwalkar (2021),
"Gradient descent on neural networks typically occurs at the edge of stability", ICLR.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lmsbn._checks import as_float_array, as_generator, check_choice, check_int, check_positive
from lmsbn.bridge.regressors import COMBINERS, _BatchNormSnapshot, layer_spectra
from lmsbn.io import Result, rng_param
from lmsbn.nn import Sequential
from lmsbn.train.loop import LOSSES, Callback, _check_labels, _loss_fn

__all__ = ["GN_LOSSES", "GNEstimate", "Sharpness", "StabilityBound", "gn_explicit",
           "gn_lambda_max", "gn_matvec", "stability_bound"]

#: The losses whose output Hessian :func:`gn_matvec` knows (``train``'s two, and ``"gaussian"``).
GN_LOSSES = (*LOSSES, "gaussian")


# ------------------------------------------------------------------------------ the operator
def _loss_hessian(loss, out):
    """``u -> H u`` for the output Hessian of the mean loss at ``out`` (u: out's shape + axes)."""
    N = out.shape[0]
    if loss == "cross_entropy":
        if out.ndim != 2:
            raise ValueError(f"cross_entropy needs a model output of shape (N, classes), "
                             f"got {out.shape}")
        z = out - out.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)

        def hess(u):
            q = p.reshape(p.shape + (1,) * (u.ndim - 2))
            return (q * u - q * np.sum(q * u, axis=1, keepdims=True)) / N

        return hess
    scale = out.size if loss == "mse" else N
    return lambda u: u / scale


class _GaussNewton:
    """G = J^T H J at the model's current parameters on one batch, for a subset of parameters.

    A context manager: entering runs the forward pass at theta (training mode) and remembers
    what it must restore; leaving restores parameters, gradients, caches and BatchNorm state.
    """

    def __init__(self, model, X, loss, names=None, fd_step=1e-4):
        if not isinstance(model, Sequential):
            raise TypeError(f"model must be a lmsbn.nn.Sequential, got {type(model).__name__}")
        self.model = model
        self.X = as_float_array(X, "X", min_ndim=2)
        self.loss = check_choice(loss, "loss", GN_LOSSES)
        self.fd_step = check_positive(fd_step, "fd_step")
        every = list(model.named_parameters())
        if names is None:
            chosen = every
        else:
            names = [names] if isinstance(names, str) else list(names)
            known = [n for n, _, _ in every]
            bad = [n for n in names if n not in known]
            if bad or not names:
                raise ValueError(f"params must name parameters of the model ({known}), got {names}")
            chosen = [t for t in every if t[0] in names]
        self.params = [(p, g) for _, p, g in chosen]
        self.size = int(sum(p.size for p, _ in self.params))
        self.layers = list(model.named_layers())
        owners = {n.rsplit(".", 1)[0] for n, _, _ in chosen}
        self.first = min(i for i, (n, _) in enumerate(self.layers) if n in owners)

    def __enter__(self):
        self.theta = [p.copy() for p, _ in self.params]
        self._grads = [(g, g.copy()) for _, _, g in self.model.named_parameters()]
        self._caches = [(layer, layer.cache) for _, layer in self.layers]
        self._bn = _BatchNormSnapshot(self.model)
        x = self.X
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
                for i, (_, layer) in enumerate(self.layers):
                    if i == self.first:
                        self.x_first = x
                    x = layer.forward(x, train=True)
        except BaseException:
            self.__exit__()
            raise
        self.out = x
        self.caches = [layer.cache for _, layer in self.layers[self.first:]]
        self.hess = _loss_hessian(self.loss, self.out)
        theta = np.concatenate([t.ravel() for t in self.theta])
        self.theta_rms = float(np.sqrt(np.mean(theta * theta)))
        return self

    def __exit__(self, *exc):
        self._assign(0.0, None)
        for g, saved in self._grads:
            g[...] = saved
        for layer, cache in self._caches:
            layer.cache = cache
        self._bn.__exit__()

    def _assign(self, h, v):
        """Parameters <- theta + h v (v flat over the chosen parameters; None: theta)."""
        i = 0
        for (p, _), t in zip(self.params, self.theta):
            p[...] = t if v is None else t + h * v[i:i + p.size].reshape(p.shape)
            i += p.size

    def _forward_from_first(self):
        x = self.x_first
        for _, layer in self.layers[self.first:]:
            x = layer.forward(x, train=True)
        return x

    def backward(self, dout):
        """J^T dout (flat over the chosen parameters), through the layers from the first chosen."""
        for (_, layer), cache in zip(self.layers[self.first:], self.caches):
            layer.cache = cache
        for _, layer in reversed(self.layers[self.first:]):
            dout = layer.backward(dout)
        return np.concatenate([g.ravel() for _, g in self.params])

    def jvp(self, v):
        """J v by central differences: (f(theta + h v) - f(theta - h v)) / 2h."""
        vn = float(np.sqrt(np.mean(v * v)))
        if vn == 0:
            return np.zeros_like(self.out)
        # A relative step: each parameter moves by about fd_step of the parameters' RMS.
        h = self.fd_step * max(1.0, self.theta_rms) / vn
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            self._assign(h, v)
            f_plus = self._forward_from_first()
            self._assign(-h, v)
            f_minus = self._forward_from_first()
            self._assign(0.0, None)
            return (f_plus - f_minus) / (2 * h)

    def matvec(self, v):
        v = as_float_array(v, "v", ndim=1)
        if v.size != self.size:
            raise ValueError(f"v must have {self.size} entries (the chosen parameters, in "
                             f"model.named_parameters() order), got {v.size}")
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            return self.backward(self.hess(self.jvp(v)))


def gn_matvec(model: Sequential, X, v, *, loss: str = "cross_entropy", params=None,
              fd_step: float = 1e-4) -> np.ndarray:
    r"""Return :math:`G v`, the Gauss-Newton matrix of the mean loss on the batch ``X`` times ``v``.

    Parameters
    ----------
    model : Sequential
    X : ndarray, shape (N, ...)
        One batch (training-mode forward; BatchNorm uses its statistics, as ``train`` does).
    v : ndarray, shape (P,)
        A direction over the chosen parameters, in ``model.named_parameters()`` order.
    loss : {"cross_entropy", "mse", "gaussian"}
        See the module notes. The labels are not needed: :math:`G` does not depend on them.
    params : iterable of str, optional
        Parameter names (``"conv2.weight"``, ...): :math:`G`'s diagonal block over them.
        Default: every parameter.
    fd_step : float
        Relative finite-difference step of :math:`J v`:
        :math:`h` = ``fd_step`` * max(1, RMS(theta)) / RMS(v).

    Returns
    -------
    ndarray, shape (P,)
    """
    with _GaussNewton(model, X, loss, params, fd_step) as G:
        return G.matvec(v)


def gn_explicit(model: Sequential, X, *, loss: str = "cross_entropy", params=None) -> np.ndarray:
    """The Gauss-Newton matrix (P x P) from the exact batch Jacobian: one backward pass per output.

    For small networks (tests, tutorials): row ``(n, c)`` of J is the parameter gradient of output
    ``f[n, c]``, from a backward pass with ``dout`` = the indicator of that entry.
    """
    with _GaussNewton(model, X, loss, params) as G:
        rows = []
        for idx in np.ndindex(G.out.shape):
            dout = np.zeros_like(G.out)
            dout[idx] = 1.0
            rows.append(G.backward(dout))
        J = np.array(rows).reshape(*G.out.shape, G.size)
        return J.reshape(-1, G.size).T @ G.hess(J).reshape(-1, G.size)


@dataclass
class GNEstimate(Result):
    r"""Result of :func:`gn_lambda_max` (power iteration).

    Attributes
    ----------
    lambda_max : float
        The Rayleigh quotient :math:`v^\top G v` of the last iterate measured (a lower bound on
        the true lambda_max, up to the finite-difference error).
    history : ndarray, shape (iterations,)
        Rayleigh quotient per iteration.
    converged : bool
        Whether the relative change fell below ``tol``.
    vector : ndarray, shape (P,)
        The last unit-norm iterate: the sharpest direction found (a warm start for the next call).
    params : dict
        The arguments of :func:`gn_lambda_max` (and the batch size).
    """

    lambda_max: float
    history: np.ndarray
    converged: bool
    vector: np.ndarray
    params: dict = field(default_factory=dict)

    def __float__(self):
        return float(self.lambda_max)

    #: The matrix named in :meth:`summary` (a subclass for a special case renames it).
    _matrix = "Gauss-Newton"

    def summary(self) -> str:
        """One line: the estimate and how the power iteration ended."""
        return (f"{self._matrix} lambda_max ~ {self.lambda_max:.6g} after {self.history.size} "
                f"power iterations ({'converged' if self.converged else 'NOT converged'})")

    @classmethod
    def _example(cls) -> GNEstimate:
        return cls(2.5, np.array([2.0, 2.4, 2.5]), True, np.array([0.6, 0.0, 0.8]),
                   {"loss": "cross_entropy", "iters": 3, "tol": 1e-3, "rng": 0, "batch_size": 4})


def _power_iteration(matvec, v, iters, tol):
    """v <- A v / |A v| from the unit vector v: (Rayleigh quotients, converged, last iterate).

    Shared by every power iteration of the bridge (also :mod:`lmsbn.bridge.hessian`).
    """
    history, converged = [], False
    for _ in range(iters):
        w = matvec(v)
        history.append(float(v @ w))
        norm = np.linalg.norm(w)
        if not np.isfinite(norm) or norm == 0:
            break
        v = w / norm
        if len(history) > 1 and abs(history[-1] - history[-2]) <= tol * abs(history[-1]):
            converged = True
            break
    return history, converged, v


def gn_lambda_max(model: Sequential, X, *, loss: str = "cross_entropy", params=None,
                  iters: int = 50, tol: float = 1e-4, rng=None, v0=None,
                  fd_step: float = 1e-4) -> GNEstimate:
    r"""Largest eigenvalue of the Gauss-Newton matrix of the mean loss on the batch ``X``.

    Parameters
    ----------
    model : Sequential
    X : ndarray, shape (N, ...)
    loss : {"cross_entropy", "mse", "gaussian"}
    params : iterable of str, optional
        Restrict to these parameters (a diagonal block of G); default every parameter.
    iters : int, default 50
        Maximum number of power iterations.
    tol : float, default 1e-4
        Stop when the Rayleigh quotient changes by less than ``tol`` relative.
    rng : None, int or Generator
        Draws the random starting vector (unless ``v0`` is given).
    v0 : ndarray, shape (P,), optional
        Starting vector, e.g. the ``vector`` of an earlier estimate: the sharpest direction moves
        slowly during training, so a warm start converges in a few iterations.
    fd_step : float
        See :func:`gn_matvec`.

    Returns
    -------
    GNEstimate

    Notes
    -----
    Power iteration :math:`v \leftarrow G v / \|G v\|` converges to the top eigenvector at the rate
    :math:`\lambda_2/\lambda_1` per step (G is positive semi-definite, so no eigenvalue of larger
    magnitude competes). Each iteration costs two forward passes and one backward pass; the
    forward pass at :math:`\theta` is shared by all iterations.
    """
    iters = check_int(iters, "iters", min_value=1)
    tol = check_positive(tol, "tol")
    record = {"loss": loss, "param_names": None if params is None else list(params), "iters": iters,
              "tol": tol, "fd_step": fd_step, "rng": rng_param(rng),
              "batch_size": int(np.shape(X)[0]), "warm_start": v0 is not None}
    rng = as_generator(rng)
    with _GaussNewton(model, X, loss, params, fd_step) as G:
        if v0 is None:
            v = rng.standard_normal(G.size)
        else:
            v = as_float_array(v0, "v0", ndim=1).copy()
            if v.size != G.size or not np.any(v):
                raise ValueError(f"v0 must be a non-zero vector of {G.size} entries, got {v.size}")
        v /= np.linalg.norm(v)
        history, converged, v = _power_iteration(G.matvec, v, iters, tol)
    lam = history[-1] if history else float("nan")
    return GNEstimate(lam, np.asarray(history), converged, v, record)


# ------------------------------------------------------------------------- the stability bound
def _ratio(a, b) -> float:
    """a / b as a float, inf or nan instead of an exception (a zero or non-finite curvature)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.divide(a, b))


_LAYER_KEYS = ("gn_lambda_max", "gn_lr_max", "r_lambda_max", "r_lr_max", "gain", "converged")


@dataclass
class StabilityBound(Result):
    r"""The whole network's Gauss-Newton bound, and each layer's next to the unit-gain LMS bound.

    Attributes
    ----------
    lambda_max : float
        Top eigenvalue of the Gauss-Newton matrix of the mean loss (all parameters).
    lr_max : float
        ``2 / lambda_max``: the largest stable learning rate of full-batch gradient descent on
        the quadratic model of the loss (the units of ``train``'s ``lr``).
    loss : str
    loss_value : float
        The mean loss at the model's current parameters on the batch.
    n : int
        Batch size the bound was measured on.
    converged : bool
        Whether the whole-network power iteration met its tolerance.
    history : ndarray (iterations,)
        Its Rayleigh quotients.
    per_layer : dict of str to dict
        For each conv/linear layer: ``gn_lambda_max`` (top eigenvalue of the diagonal
        Gauss-Newton block of its weights), ``gn_lr_max`` (2 / that), ``r_lambda_max``
        (lambda_max of its input autocorrelation R, :func:`lmsbn.bridge.layer_spectra`),
        ``r_lr_max`` (2 / that: the **unit-gain LMS picture**), ``gain`` (``gn_lambda_max /
        r_lambda_max``: the back-propagated gain that converts one into the other) and
        ``converged``.
    params : dict
        How it was measured (iters, tol, fd_step, max_rows).

    Notes
    -----
    A block's top eigenvalue never exceeds the whole matrix's (Cauchy interlacing), so every
    ``gn_lr_max`` is at least ``lr_max``. For a conv or linear layer feeding lmsbn's ``mse_loss``
    directly, the block is :math:`R \otimes I_F / F` exactly (the mean runs over the F outputs
    too), so the gain is :math:`1/F`: the LMS picture with the loss's own normalisation.
    """

    lambda_max: float
    lr_max: float
    loss: str
    loss_value: float
    n: int
    converged: bool
    history: np.ndarray
    per_layer: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    def summary(self) -> str:
        """The bound, and a table of the layers' Gauss-Newton and unit-gain LMS bounds."""
        state = "converged" if self.converged else "NOT converged"
        lines = [f"Gauss-Newton stability bound ({self.loss}, {self.n} examples, loss "
                 f"{self.loss_value:.4g}): lambda_max = {self.lambda_max:.4g}, "
                 f"lr_max = 2/lambda_max = {self.lr_max:.4g} "
                 f"({state} after {self.history.size} iterations)"]
        if self.per_layer:
            lines.append(f"{'layer':<8} {'GN lambda':>10} {'2/lambda':>10} {'R lambda':>10} "
                         f"{'2/lambda_R':>10} {'gain GN/R':>10}"
                         "   (2/lambda_R = unit-gain LMS picture)")
            for name, d in self.per_layer.items():
                lines.append(f"{name:<8} {d['gn_lambda_max']:>10.4g} {d['gn_lr_max']:>10.4g} "
                             f"{d['r_lambda_max']:>10.4g} {d['r_lr_max']:>10.4g} "
                             f"{d['gain']:>10.3g}")
        return "\n".join(lines)

    @classmethod
    def _example(cls) -> StabilityBound:
        layer = {"gn_lambda_max": 0.5, "gn_lr_max": 4.0, "r_lambda_max": 10.0, "r_lr_max": 0.2,
                 "gain": 0.05, "converged": True}
        return cls(2.0, 1.0, "cross_entropy", 2.3, 8, True, np.array([1.5, 1.9, 2.0]),
                   {"conv1": layer}, {"iters": 3, "tol": 1e-3, "fd_step": 1e-4, "max_rows": 100,
                                      "rng": 0})


def stability_bound(model: Sequential, X, y, *, loss: str = "cross_entropy", iters: int = 50,
                    tol: float = 1e-4, per_layer: bool = True, max_rows: int = 20000, rng=None,
                    fd_step: float = 1e-4) -> StabilityBound:
    r"""The learning-rate stability bound of ``model`` on the batch ``(X, y)``, in ``train``'s lr.

    Parameters
    ----------
    model : Sequential
    X : ndarray, shape (N, ...)
        The batch, e.g. the full training subset of full-batch gradient descent.
    y : ndarray
        Labels (``cross_entropy``) or targets (``mse``): checked, and used for ``loss_value``
        only -- the Gauss-Newton matrix does not depend on them.
    loss : {"cross_entropy", "mse"}
        As in :func:`lmsbn.train.train`.
    iters, tol : int, float
        Power-iteration budget and relative tolerance (per estimate).
    per_layer : bool, default True
        Also estimate each conv/linear layer's diagonal block and its input R (costs one power
        iteration per layer, over the layers from that one on).
    max_rows : int, default 20000
        Rows of each layer's regressors used for R (:func:`lmsbn.bridge.layer_spectra`).
    rng : None, int or numpy.random.Generator
        Starting vectors and the regressor subsample.
    fd_step : float
        See :func:`gn_matvec`.

    Returns
    -------
    StabilityBound
        ``summary()`` prints the bound and the per-layer table.

    Notes
    -----
    For gradient descent :math:`\theta \leftarrow \theta - \eta \nabla L` on the quadratic model
    :math:`L(\theta + \delta) \approx L + \nabla L^\top\delta + \tfrac12 \delta^\top G \delta`,
    the component along the top eigenvector is multiplied by :math:`1 - \eta\lambda_{max}` each
    step, so the iteration is stable iff

    .. math:: \eta < \eta_{max} = 2 / \lambda_{max}(G).

    The LMS bound of a single layer, :math:`2/\lambda_{max}(R)`, is the same statement for the
    unit-gain error :math:`e = d - w^\top u`; the ratio ``gain`` of the layer's Gauss-Newton block
    to :math:`\lambda_{max}(R)` is what the network puts between the two. The model is left
    untouched (parameters, gradients, BatchNorm running statistics).

    Examples
    --------
    >>> from lmsbn.data import shapes
    >>> from lmsbn.nn import small_cnn
    >>> X, y = shapes(64, rng=0)
    >>> b = stability_bound(small_cnn(widths=(4, 8, 8), rng=0), X, y, iters=10, rng=0)
    >>> b.lr_max == 2 / b.lambda_max
    True
    """

    loss = check_choice(loss, "loss", LOSSES)
    X = as_float_array(X, "X", min_ndim=2)
    y = _check_labels(y, X, loss)
    iters = check_int(iters, "iters", min_value=1)
    max_rows = check_int(max_rows, "max_rows", min_value=1)
    rng_record = rng_param(rng)
    rng = as_generator(rng)
    est = gn_lambda_max(model, X, loss=loss, iters=iters, tol=tol, rng=rng, fd_step=fd_step)
    names = [n for n, layer in model.named_layers() if isinstance(layer, COMBINERS)]
    with _GaussNewton(model, X, loss) as G:  # leaving it restores the caches layer_spectra uses
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            value = float(_loss_fn(loss)(G.out, y)[0])
        if per_layer:
            spectra = layer_spectra(model, X, max_rows=max_rows, rng=rng, layers=names)
    layers = {}
    if per_layer:
        for name in names:
            block = gn_lambda_max(model, X, loss=loss, params=[f"{name}.weight"], iters=iters,
                                  tol=tol, rng=rng, fd_step=fd_step)
            lam, r = float(block.lambda_max), float(spectra[name].lambda_max)
            layers[name] = {"gn_lambda_max": lam, "gn_lr_max": _ratio(2.0, lam),
                            "r_lambda_max": r, "r_lr_max": _ratio(2.0, r),
                            "gain": _ratio(lam, r), "converged": bool(block.converged)}
    lr_max = _ratio(2.0, est.lambda_max)
    return StabilityBound(
        lambda_max=float(est.lambda_max), lr_max=lr_max, loss=loss, loss_value=value,
        n=int(X.shape[0]), converged=bool(est.converged), history=est.history, per_layer=layers,
        params={"iters": iters, "tol": float(tol), "fd_step": float(fd_step), "max_rows": max_rows,
                "rng": rng_record})


# ---------------------------------------------------------------------- sharpness in training
class Sharpness(Callback):
    r"""A training callback recording :math:`\lambda_{max}(G)` as the network trains.

    Watch :math:`2/\lambda_{max}(t)` fall towards the learning rate (progressive sharpening) and
    the loss start to rise when :math:`\eta\,\lambda_{max}(t)` passes 2 (the edge of stability,
    Cohen et al. 2021).

    Parameters
    ----------
    every : int, default 10
        Record after every ``every``-th step.
    X : ndarray, optional
        A fixed batch to measure on (e.g. the whole training set of full-batch descent); then
        :math:`\theta_0` is measured too. Default: each recorded step's own minibatch.
    loss : {"cross_entropy", "mse"}, default "cross_entropy"
        The loss ``train`` is given.
    iters, tol, rng, fd_step :
        As in :func:`gn_lambda_max`; each estimate is warm-started from the previous one.

    Attributes
    ----------
    steps : ndarray of int (T,)
        ``t`` of each record: :math:`\lambda_{max}` at the parameters :math:`\theta_t` that
        step ``t`` starts from (after step ``t - 1``'s update), measured on ``X`` or, without
        it, on step ``t - 1``'s minibatch.
    lambda_max : ndarray (T,)
    lr : float
        The learning rate of the run (``2 / lambda_max <= lr`` marks the edge).
    """

    def __init__(self, every: int = 10, *, X=None, loss: str = "cross_entropy", iters: int = 20,
                 tol: float = 1e-3, rng=None, fd_step: float = 1e-4):
        self.every = check_int(every, "every", min_value=1)
        self.X = None if X is None else as_float_array(X, "X", min_ndim=2)
        self.loss = check_choice(loss, "loss", LOSSES)
        self.iters = check_int(iters, "iters", min_value=1)
        self.tol = check_positive(tol, "tol")
        self.rng = as_generator(rng)
        self.fd_step = check_positive(fd_step, "fd_step")
        self.steps, self.lambda_max, self.lr = np.zeros(0, np.int64), np.zeros(0), float("nan")

    def measure(self, model, X) -> float:
        """lambda_max(G) of ``model`` on ``X`` now, warm-started from the last measurement."""
        v0 = self._v if self._v is not None and self._v.size == model.num_parameters() else None
        est = gn_lambda_max(model, X, loss=self.loss, iters=self.iters, tol=self.tol,
                            rng=self.rng, v0=v0, fd_step=self.fd_step)
        if np.all(np.isfinite(est.vector)):
            self._v = est.vector
        return float(est.lambda_max)

    def on_train_begin(self, model):
        self._v, self._steps, self._lam = None, [], []
        if self.X is not None:
            self._steps.append(0)
            self._lam.append(self.measure(model, self.X))

    def on_step(self, event):
        self.lr = float(event.lr)
        if (event.step + 1) % self.every == 0:
            self._steps.append(event.step + 1)
            self._lam.append(self.measure(event.model, event.x if self.X is None else self.X))

    def on_train_end(self, model, history):
        self.steps = np.asarray(self._steps, dtype=np.int64)
        self.lambda_max = np.asarray(self._lam, dtype=float)
