r"""``ModeTracker``: watch the natural modes of every conv/linear layer while a network trains.

Every ``every`` steps, for each tracked layer, the tracker takes the regressors the layer saw in
that step (through a ``Sequential`` forward hook), decomposes their autocorrelation
``R = U^T U / M`` with the analysis core, and records

* the spectrum: eigenvalues, trace, :math:`\lambda_{max}`, :math:`\lambda_{min}`, spread, and the
  LMS stability bound :math:`2/\lambda_{max}` (on the step size of the layer's block-LMS update);
* the mode coordinates of each filter's *update* in that eigenbasis, :math:`Q^T \Delta w_f`;
* at the end of training, the mode coordinates of each recorded weight against the final weights,
  :math:`v_f(t) = Q_t^T (w_f(t) - w_f(T))` -- the LMS weight-error modes with the final weights
  standing in for the unknown optimum;
* for a layer followed by BatchNorm, the BatchNorm-versus-NLMS quantities of
  :func:`lmsbn.bridge.bn_nlms_quantities` (effective steps, their ratio, rho, ``||w||``).

:meth:`ModeTracker.mode_decay` then sets the measured decay of a layer's top modes against
:math:`(1 - \mu\lambda_k)^n`, for the eigenvalues of R or of the layer's Gauss-Newton block
(:mod:`lmsbn.bridge.layer_modes`).

Cost per layer per record: at most ``max_rows`` rows drawn from the patch matrix the layer's
forward pass left in its cache (no im2col is recomputed), one K x K product and one ``eigh``
(K is a few hundred at most); nothing the size of the whole dataset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lmsbn._checks import as_generator, check_int
from lmsbn.bridge.bn_vs_nlms import bn_nlms_quantities
from lmsbn.bridge.layer_modes import GaussNewtonBlock, ModeDecay, mode_decay
from lmsbn.bridge.regressors import (
    _combiner_names,
    _regressors_of,
    _subsample,
    bn_followers,
    layer_case,
    layer_weights,
)
from lmsbn.bridge.stability import Sharpness
from lmsbn.io import Result
from lmsbn.spectral import Spectrum, autocorrelation
from lmsbn.train import Callback

__all__ = ["LayerModes", "ModeTracker"]

_SERIES = ("steps", "eigenvalues", "trace", "lambda_max", "lambda_min", "spread",
           "stability_bound", "weights", "update_modes", "modes")
_BN_SERIES = ("bn_step", "nlms_mu", "nlms_step", "ratio", "rho", "w_norm")


@dataclass
class LayerModes(Result):
    r"""The record of one layer (T = number of records, F filters, K taps).

    Attributes
    ----------
    steps : ndarray of int, (T,)
    eigenvalues : ndarray, (T, K)
        Descending, of the layer's input autocorrelation at each record.
    trace, lambda_max, lambda_min, spread, stability_bound : ndarray, (T,)
    weights : ndarray, (T, F, K)
        Filters after the recorded step.
    update_modes : ndarray, (T, F, K)
        :math:`Q_t^T \Delta w_f` of the recorded step's update.
    modes : ndarray, (T, F, K)
        :math:`Q_t^T (w_f(t) - w_f(\text{final}))`; filled in when training ends.
    case : str
        ``"exact"`` or ``"approximate"`` (see :func:`lmsbn.bridge.layer_case`).
    bn : dict of str to ndarray (T, F)
        For a layer followed by BatchNorm: ``bn_step, nlms_mu, nlms_step, ratio, rho, w_norm``.
    params : dict
        ``layer``, ``every`` and ``max_rows`` of the tracker that recorded it.
    """

    steps: np.ndarray
    eigenvalues: np.ndarray
    trace: np.ndarray
    lambda_max: np.ndarray
    lambda_min: np.ndarray
    spread: np.ndarray
    stability_bound: np.ndarray
    weights: np.ndarray
    update_modes: np.ndarray
    modes: np.ndarray
    case: str = "approximate"
    bn: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One line: records, the spectrum's extremes at the first and last record, BN/NLMS."""
        if self.steps.size == 0:
            return f"{self.params.get('layer', 'layer')}: no records"
        line = (f"{self.params.get('layer', 'layer')} ({self.case}): {self.steps.size} records, "
                f"steps {int(self.steps[0])}-{int(self.steps[-1])}; lambda_max "
                f"{self.lambda_max[0]:.4g} -> {self.lambda_max[-1]:.4g}, spread "
                f"{self.spread[0]:.4g} -> {self.spread[-1]:.4g}")
        if "ratio" in self.bn:
            line += (f"; median BN/NLMS step ratio {np.median(self.bn['ratio'][0]):.3f} -> "
                     f"{np.median(self.bn['ratio'][-1]):.3f}")
        return line

    @classmethod
    def _example(cls, *, bn: bool = True, layer: str = "conv1"):
        T, F, K = 2, 2, 3
        w = np.arange(T * F * K, dtype=float).reshape(T, F, K) / 10
        ev = np.array([[3.0, 1.0, 0.0], [2.5, 1.5, 0.5]])
        return cls(np.array([0, 5]), ev, ev.sum(1), ev[:, 0], ev[:, -1], np.array([np.inf, 5.0]),
                   2 / ev[:, 0], w, w - 0.1, np.zeros((T, F, K)),
                   case="exact" if bn else "approximate",
                   bn={k: np.full((T, F), v)
                       for k, v in zip(_BN_SERIES, (0.1, 2.0, 0.05, 2.0, 0.5, 1.0))}
                   if bn else {},
                   params={"layer": layer, "every": 5, "max_rows": 64})


class ModeTracker(Callback, Result):
    """A training callback that records the natural modes of each conv/linear layer.

    Parameters
    ----------
    every : int, default 20
        Record at steps 0, every, 2 every, ...
    layers : iterable of str, optional
        Layer names to track (default: every Conv1d, Conv2d and Linear).
    max_rows : int, default 2048
        Regressor rows per layer and record used for R (a seeded subsample of the batch's rows).
    rng : None, int or numpy.random.Generator
        Drives the row subsampling.
    sharpness : bool, default False
        Also record lambda_max of the whole network's Gauss-Newton matrix every ``every`` steps
        (:class:`lmsbn.bridge.stability.Sharpness`, on that step's minibatch), to watch
        2 / lambda_max(t) fall to meet the learning rate. Costs about 1.5 training steps
        per power iteration (up to 20 per record, warm-started).
    loss : {"cross_entropy", "mse"}, default "cross_entropy"
        The loss ``train`` is given (the Gauss-Newton matrix depends on it).

    Attributes
    ----------
    record : dict of str to LayerModes
        Filled in by training; saved and loaded with :meth:`save` / :meth:`load`.
    sharpness : Sharpness or None
        With ``sharpness=True``: its ``steps``, ``lambda_max`` and ``lr`` after training
        (:func:`lmsbn.plot.plot_sharpness` draws them).

    Examples
    --------
    >>> from lmsbn.data import shapes
    >>> from lmsbn.nn import small_cnn
    >>> from lmsbn.train import train
    >>> X, y = shapes(256, rng=0)
    >>> tracker = ModeTracker(every=5, rng=0)
    >>> history = train(small_cnn(rng=0), X, y, steps=11, callbacks=[tracker], rng=0)
    >>> tracker.record["conv2"].eigenvalues.shape
    (3, 144)
    """

    def __init__(self, every: int = 20, *, layers=None, max_rows: int = 2048, rng=None,
                 sharpness: bool = False, loss: str = "cross_entropy"):
        self.every = check_int(every, "every", min_value=1)
        self.max_rows = check_int(max_rows, "max_rows", min_value=2)
        self.rng = as_generator(rng)
        self.layers = layers
        self.record: dict[str, LayerModes] = {}
        #: ``{layer: Q}``, the eigenvectors of R at each layer's first record (kept for
        #: :meth:`mode_decay`; not saved).
        self.first_basis: dict[str, np.ndarray] = {}
        #: The learning rate of the recorded run (not saved).
        self.lr: float | None = None
        self.sharpness = Sharpness(self.every, loss=loss, rng=self.rng) if sharpness else None

    # ------------------------------------------------------------------ callback protocol
    def on_train_begin(self, model):
        """Find the layers to track and hook their inputs; remember the initial weights."""
        self._names = _combiner_names(model, self.layers)
        self._bn = {n: b for n, b in bn_followers(model).items() if n in self._names}
        self._inputs = {}
        self._prev = {n: layer_weights(model[n]).copy() for n in self._names}
        self._rows = {n: {k: [] for k in (*_SERIES, *_BN_SERIES, "Q")} for n in self._names}
        self._trained = None

        def hook(name, layer, inp, out):
            if name in self._prev:
                # References, not copies (the next forward replaces them): the input, and the
                # cache whose cols are the regressors of this pass.
                self._inputs[name] = (inp, layer.cache)

        self._hook = model.register_forward_hook(hook)
        if self.sharpness is not None:
            self.sharpness.on_train_begin(model)

    def on_step(self, event):
        """Keep each layer's last weights; every ``every`` steps, record its spectrum and modes."""
        if self._trained is None:  # which layers the optimiser moves decides the exact case
            self._trained = {k.rsplit(".", 1)[0] for k in event.grads}
        for name in self._names:
            layer = event.model[name]
            W = layer_weights(layer).copy()
            before, self._prev[name] = self._prev[name], W
            if event.step % self.every == 0:
                self._record(event.model, name, event.step, before, W, event.lr)
        self.lr = float(event.lr)
        if self.sharpness is not None:  # after the layer records, which read the layer caches
            self.sharpness.on_step(event)

    def on_train_end(self, model, history):
        """Unhook, project every record onto the final weights and build :attr:`record`."""
        self._hook.remove()
        if self.sharpness is not None:
            self.sharpness.on_train_end(model, history)
        for name in self._names:
            rows = self._rows[name]
            if not rows["steps"]:
                continue
            final = layer_weights(model[name])
            rows["modes"] = [(W - final) @ Q for W, Q in zip(rows["weights"], rows["Q"])]
            series = {k: np.asarray(rows[k]) for k in _SERIES}
            bn = {k: np.asarray(rows[k]) for k in _BN_SERIES} if name in self._bn else {}
            case = layer_case(model, name, trained=self._trained)
            self.record[name] = LayerModes(**series, case=case, bn=bn, params={
                "layer": name, "every": self.every, "max_rows": self.max_rows})
        del self._rows, self._inputs, self._prev

    # ------------------------------------------------------------------ one record
    def _record(self, model, name, step, W_before, W_after, lr):
        U = _subsample(_regressors_of(model[name], *self._inputs[name]), self.max_rows, self.rng)
        spec = Spectrum.from_regressors(U)
        Q = spec.eigenvectors
        rows = self._rows[name]
        self.first_basis.setdefault(name, Q)
        for key, value in (("steps", step), ("eigenvalues", spec.eigenvalues),
                           ("trace", spec.trace), ("lambda_max", spec.lambda_max),
                           ("lambda_min", spec.lambda_min), ("spread", spec.spread),
                           ("stability_bound", spec.stability_bound()), ("weights", W_after),
                           ("update_modes", (W_after - W_before) @ Q), ("Q", Q)):
            rows[key].append(value)
        if name in self._bn:
            bn = model[self._bn[name]]
            # The quantities of the step just taken: the weights and BatchNorm divisor of its
            # forward pass, and the regressors' covariance.
            q = bn_nlms_quantities(W_before, autocorrelation(U, center=True), bn.params["weight"],
                                   lr, eps=bn.eps, sigma=bn.cache.sigma)
            for key in _BN_SERIES:
                rows[key].append(q[key])

    # ------------------------------------------------------------------ measured vs predicted
    def mode_decay(self, name: str, *, gauss_newton: GaussNewtonBlock | None = None,
                   lr: float | None = None, mu: float | None = None, top: int = 6,
                   fit: int | None = None) -> ModeDecay:
        r"""Measured against predicted decay of the top modes of layer ``name``.

        The recorded weights are projected on a *fixed* basis and each mode's per-record decay
        factor is fitted from the successive moves between records
        (:func:`lmsbn.bridge.layer_modes.mode_decay`; no optimum is needed). Record every step
        (``every=1``) for the cleanest fit.

        Parameters
        ----------
        name : str
            A tracked layer.
        gauss_newton : GaussNewtonBlock, optional
            Use its eigenvectors and eigenvalues
            (:func:`lmsbn.bridge.layer_modes.gauss_newton_block`, computed for this layer, e.g.
            at initialisation); the prediction is :math:`(1 - \eta g_k)^n` with the learning rate
            itself, since the Gauss-Newton block is the curvature of the loss ``train`` minimises.
            Default: the eigenvectors of R at the layer's first record, with :math:`\mu` = ``mu``.
        lr : float, optional
            Default: the learning rate of the recorded run.
        mu : float, optional
            Step size for the R basis; default ``lr`` (the unit-gain LMS picture: the error
            reaches the layer with gain 1). The exact single-layer MSE case needs
            ``lr / F`` (:func:`lmsbn.bridge.layer_modes.lms_step_size`).
        top : int, default 6
            Number of modes (largest eigenvalues first).
        fit : int, optional
            See :func:`lmsbn.bridge.layer_modes.mode_decay`.

        Returns
        -------
        ModeDecay

        Notes
        -----
        Only plain SGD is predicted (momentum changes the recursion). Inside a network the
        measured time constants differ from both predictions for reasons the summary lists:
        the downstream gain (R's prediction ignores it), a curvature that changes during
        training (the basis is fixed at one point), an error that the other layers reduce at
        the same time (a Gauss-Newton *block* ignores them) and minibatch noise, and
        BatchNorm's dependence of the error on the layer's own weights.
        """
        rec = self.record.get(name)
        if rec is None:
            raise ValueError(f"name must be a recorded layer, one of {sorted(self.record)}; "
                             f"got {name!r}")
        top = check_int(top, "top", min_value=1)
        lr = self.lr if lr is None else lr
        if lr is None:
            raise ValueError("lr is unknown for a loaded tracker: pass lr")
        gaps = np.diff(rec.steps)
        if gaps.size == 0 or np.any(gaps != gaps[0]):
            raise ValueError(f"the records of {name!r} must be evenly spaced (steps {rec.steps})")
        if gauss_newton is not None:
            if not isinstance(gauss_newton, GaussNewtonBlock):
                raise TypeError("gauss_newton must be a lmsbn.bridge.layer_modes.GaussNewtonBlock, "
                                f"got {type(gauss_newton).__name__}")
            lam, Q, step, basis = (gauss_newton.eigenvalues[:top],
                                   gauss_newton.eigenvectors[:, :top], lr, "gauss_newton")
        else:
            if name not in self.first_basis:
                raise ValueError("the R eigenvectors are kept only on the tracker that trained; "
                                 "pass gauss_newton, or use that tracker")
            lam, Q = rec.eigenvalues[0, :top], self.first_basis[name][:, :top]
            step, basis = (lr if mu is None else mu), "R"
        return mode_decay(rec.weights, lam, Q, step, every=int(gaps[0]), fit=fit, layer=name,
                          basis=basis)

    # ------------------------------------------------------------------ the result protocol
    @property
    def params(self) -> dict:
        """How the record was taken: ``every``, ``max_rows`` and ``layers`` (stored with it)."""
        return {"every": self.every, "max_rows": self.max_rows,
                "layers": None if self.layers is None else list(self.layers),
                "sharpness": self.sharpness is not None,
                "loss": "cross_entropy" if self.sharpness is None else self.sharpness.loss}

    def _state(self) -> dict:
        # A callback, not a dataclass: what it stores is its record and its settings.
        s = self.sharpness
        sharp = None if s is None else {"steps": s.steps, "lambda_max": s.lambda_max, "lr": s.lr}
        return {"record": self.record, "params": self.params, "sharpness": sharp}

    @classmethod
    def _from_state(cls, state: dict) -> ModeTracker:
        p, record = state["params"], state["record"]
        if not (isinstance(record, dict)
                and all(isinstance(r, LayerModes) for r in record.values())):
            raise ValueError("its record is not a dict of LayerModes")
        tracker = cls(every=p["every"], layers=p["layers"], max_rows=p["max_rows"],
                      sharpness=bool(p.get("sharpness")), loss=p.get("loss", "cross_entropy"))
        tracker.record = record
        sharp = state.get("sharpness")
        if tracker.sharpness is not None and sharp is not None:
            tracker.sharpness.steps = np.asarray(sharp["steps"], dtype=np.int64)
            tracker.sharpness.lambda_max = np.asarray(sharp["lambda_max"], dtype=float)
            tracker.sharpness.lr = float(sharp["lr"])
        return tracker

    def summary(self) -> str:
        """One line per tracked layer (see :meth:`LayerModes.summary`)."""
        lines = [f"ModeTracker (every {self.every} steps, at most {self.max_rows} rows)"]
        return "\n".join(lines + ["  " + rec.summary() for rec in self.record.values()])

    @classmethod
    def _example(cls) -> ModeTracker:
        tracker = cls(every=5, max_rows=64, layers=["conv1", "fc1"])
        tracker.record = {"conv1": LayerModes._example(),
                          "fc1": LayerModes._example(bn=False, layer="fc1")}
        return tracker
