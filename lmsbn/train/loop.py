"""The training loop: minibatch SGD with callbacks, progress and divergence detection.

Divergence is an *outcome*, not an error. A learning rate past the stability bound is exactly what
students are meant to try, so when the loss or the weights stop being finite, or grow past a
bound, the run stops cleanly and the :class:`History` records the step and the cause. NumPy's
overflow warnings are silenced inside the loop because the loop itself checks for them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from lmsbn._checks import as_float_array, as_generator, check_choice, check_int, check_positive
from lmsbn.io import Result
from lmsbn.nn import SGD, Sequential
from lmsbn.nn import functional as F

__all__ = ["Callback", "History", "StepEvent", "evaluate", "train"]

LOSSES = ("cross_entropy", "mse")


@dataclass
class StepEvent:
    """What a callback sees after each optimisation step.

    Attributes
    ----------
    step : int
        0-based index of the step just taken.
    model : Sequential
        The model, already updated by this step.
    x, y : ndarray
        The minibatch.
    loss : float
        The minibatch loss *before* the update.
    grads : dict of str to ndarray
        ``{"conv1.weight": dL/dW, ...}`` for the trained parameters (the gradients that drove the
        update; for plain SGD the update is ``-lr * grad``).
    lr : float
        The learning rate.
    """

    step: int
    model: Sequential
    x: np.ndarray
    y: np.ndarray
    loss: float
    grads: dict
    lr: float


class Callback:
    """Base class for training callbacks; override what you need.

    A plain function ``f(event)`` is accepted wherever a callback is, and is called as
    :meth:`on_step`.
    """

    def on_train_begin(self, model: Sequential) -> None:
        """Called once before the first step."""

    def on_step(self, event: StepEvent) -> None:
        """Called after every optimisation step."""

    def on_train_end(self, model: Sequential, history: "History") -> None:
        """Called once when training ends, whether it finished or diverged."""


class _FunctionCallback(Callback):
    def __init__(self, fn):
        self.fn = fn

    def on_step(self, event):
        self.fn(event)


@dataclass
class History(Result):
    """What happened during one training run (saved and loaded by :class:`lmsbn.io.Result`).

    Attributes
    ----------
    loss : ndarray of float, shape (steps_taken,)
        Minibatch loss at each step, before that step's update.
    accuracy : ndarray of float, shape (steps_taken,)
        Minibatch accuracy at each step (NaN for the MSE loss).
    eval_steps, eval_loss, eval_accuracy : ndarray
        Evaluation on held-out data every ``eval_every`` steps and at the end of a run that did
        not diverge (eval mode).
    diverged : bool
    diverged_at : int
        The step at which divergence was detected, or -1.
    reason : str
        Why the run stopped early ("" if it did not).
    params : dict
        The settings of the run, for the record: ``lr``, ``momentum``, ``weight_decay``,
        ``batch_size``, ``steps`` and ``loss``.
    """

    loss: np.ndarray
    accuracy: np.ndarray
    eval_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    eval_loss: np.ndarray = field(default_factory=lambda: np.zeros(0))
    eval_accuracy: np.ndarray = field(default_factory=lambda: np.zeros(0))
    diverged: bool = False
    diverged_at: int = -1
    reason: str = ""
    params: dict = field(default_factory=dict)

    @property
    def steps_taken(self) -> int:
        """Number of steps run (fewer than asked if the run diverged)."""
        return int(self.loss.size)

    @property
    def final_loss(self) -> float:
        """Last minibatch loss (inf if the run diverged)."""
        return float("inf") if self.diverged or self.loss.size == 0 else float(self.loss[-1])

    def steps_to_reach(self, target: float, *, window: int = 10) -> int:
        """First step at which the running mean of the last ``window`` losses is <= ``target``.

        Returns -1 if it never does (or the run diverged first).
        """
        window = check_int(window, "window", min_value=1)
        if self.loss.size < window:
            return -1
        smooth = np.convolve(self.loss, np.ones(window) / window, mode="valid")
        hit = np.flatnonzero(smooth <= target)
        return int(hit[0] + window - 1) if hit.size else -1

    def summary(self) -> str:
        """One line: the steps, the final loss and accuracy, or where and why it diverged."""
        if self.diverged:
            return f"diverged at step {self.diverged_at}: {self.reason}"
        acc = f", eval accuracy {self.eval_accuracy[-1]:.1%}" if self.eval_accuracy.size else ""
        return f"{self.steps_taken} steps, final loss {self.loss[-1]:.4f}{acc}"

    @classmethod
    def _example(cls):
        return cls(np.array([2.3, 1.9, np.nan]), np.array([0.1, 0.25, np.nan]),
                   np.array([0, 2], dtype=np.int64), np.array([2.2, 1.8]), np.array([0.2, 0.3]),
                   True, 2, "loss is not finite (nan)",
                   {"lr": 0.1, "momentum": 0.0, "batch_size": 32, "steps": 3,
                    "loss": "cross_entropy"})


def _loss_fn(name):
    return F.softmax_cross_entropy if name == "cross_entropy" else F.mse_loss


def _accuracy(logits, y, loss):
    if loss != "cross_entropy":
        return np.nan
    return float(np.mean(np.argmax(logits, axis=1) == y))


def evaluate(model: Sequential, X, y, *, loss: str = "cross_entropy", batch_size: int = 256):
    """Loss and accuracy of ``model`` on ``(X, y)`` in eval mode (running BatchNorm statistics).

    Returns
    -------
    (loss, accuracy) : tuple of float
        Accuracy is NaN for the MSE loss.
    """
    loss = check_choice(loss, "loss", LOSSES)
    X = as_float_array(X, "X", min_ndim=2)
    batch_size = check_int(batch_size, "batch_size", min_value=1)
    fn = _loss_fn(loss)
    total, correct = 0.0, 0.0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for start in range(0, len(X), batch_size):
            xb, yb = X[start:start + batch_size], y[start:start + batch_size]
            out = model.forward(xb, train=False)
            if not np.all(np.isfinite(out)):
                return float("nan"), float("nan")
            total += fn(out, yb)[0] * len(xb)
            if loss == "cross_entropy":
                correct += np.sum(np.argmax(out, axis=1) == yb)
    acc = correct / len(X) if loss == "cross_entropy" else np.nan
    return float(total / len(X)), float(acc)


def _progress_printer(total: int, enabled: bool):
    """A tqdm bar when tqdm is installed, else one stdlib line rewritten in place."""
    if not enabled:
        return lambda step, loss: None, lambda: None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        tqdm = None
    if tqdm is not None:
        bar = tqdm(total=total, desc="train", leave=False)

        def update(step, loss):
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

        return update, bar.close
    t0 = time.perf_counter()
    every = max(1, total // 50)

    def update(step, loss):
        if (step + 1) % every == 0 or step + 1 == total:
            print(f"\rtrain {step + 1}/{total} loss {loss:.4f} "
                  f"({time.perf_counter() - t0:.1f}s)", end="", file=sys.stderr, flush=True)

    return update, lambda: print(file=sys.stderr)


def _check_labels(y, X, loss):
    if loss == "cross_entropy":
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y must be a vector of {X.shape[0]} labels, got shape {y.shape}")
        if y.dtype.kind not in "iu":
            raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
        return y
    y = as_float_array(y, "y")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have {X.shape[0]} rows like X, got shape {y.shape}")
    return y


def train(
    model: Sequential,
    X,
    y,
    *,
    steps: int = 200,
    batch_size: int = 64,
    lr: float = 0.05,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    loss: str = "cross_entropy",
    params: Iterable | None = None,
    callbacks: Iterable[Callback | Callable] = (),
    eval_data: tuple | None = None,
    eval_every: int | None = None,
    max_loss: float = 1e4,
    max_weight: float = 1e8,
    progress: bool = False,
    rng=None,
) -> History:
    r"""Train ``model`` with minibatch SGD and return its :class:`History`.

    Parameters
    ----------
    model : Sequential
    X : ndarray, shape (N, ...)
        Inputs, e.g. (N, 3, 16, 16) images.
    y : ndarray, shape (N,) int labels for ``loss="cross_entropy"``, or (N, ...) float targets
        for ``loss="mse"``.
    steps : int, default 200
        Number of SGD steps; minibatches are drawn from a fresh shuffle of the data each epoch.
    batch_size : int, default 64
    lr, momentum, weight_decay : float
        Passed to :class:`lmsbn.nn.SGD`.
    loss : {"cross_entropy", "mse"}
    params : iterable of (name, param, grad), optional
        Which parameters to train; default all of ``model.named_parameters()``. Pass a subset to
        freeze the rest (the exact LMS case of :func:`lmsbn.bridge.layer_case`).
    callbacks : iterable of Callback or callable
    eval_data : (X_eval, y_eval), optional
        Evaluated in eval mode every ``eval_every`` steps and at the end of a run that did not
        diverge.
    eval_every : int, optional
        Steps between evaluations on ``eval_data``; default: only at the end.
    max_loss, max_weight : float
        Divergence bounds: a minibatch loss above ``max_loss``, or a parameter entry above
        ``max_weight`` in magnitude, stops the run as diverged (as does any non-finite value).
    progress : bool, default False
        Show a progress line (tqdm if installed, else a stdlib line on stderr).
    rng : None, int or numpy.random.Generator
        Drives the minibatch order; the same seed gives the same run, bit for bit.

    Returns
    -------
    History

    Notes
    -----
    Each step: forward in training mode, the loss, and a first divergence check (non-finite
    output, or a loss that is non-finite or above ``max_loss``: the run stops before updating);
    then backward, the :class:`~lmsbn.nn.SGD` update of the trained parameters
    (:math:`\theta \leftarrow \theta - \eta\, \nabla_\theta L` plus momentum and weight decay),
    the callbacks, and a check of the weights (non-finite or above ``max_weight``).
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a lmsbn.nn.Sequential, got {type(model).__name__}")
    loss = check_choice(loss, "loss", LOSSES)
    X = as_float_array(X, "X", min_ndim=2)
    y = _check_labels(y, X, loss)
    steps = check_int(steps, "steps", min_value=1)
    batch_size = check_int(batch_size, "batch_size", min_value=1)
    batch_size = min(batch_size, X.shape[0])
    max_loss = check_positive(max_loss, "max_loss")
    max_weight = check_positive(max_weight, "max_weight")
    eval_every = None if eval_every is None else check_int(eval_every, "eval_every", min_value=1)
    rng = as_generator(rng)
    opt = SGD(model.named_parameters() if params is None else params, lr, momentum, weight_decay)
    cbs = [c if isinstance(c, Callback) else _FunctionCallback(c) for c in callbacks]
    for c in cbs:
        if not callable(getattr(c, "on_step", None)):
            raise TypeError(f"callbacks must be Callback objects or functions, got {c!r}")
    fn = _loss_fn(loss)

    losses, accs = np.full(steps, np.nan), np.full(steps, np.nan)
    ev_steps, ev_loss, ev_acc = [], [], []
    diverged_at, reason = -1, ""
    update_bar, close_bar = _progress_printer(steps, progress)
    for c in cbs:
        c.on_train_begin(model)

    def run_eval(step):
        el, ea = evaluate(model, *eval_data, loss=loss)
        ev_steps.append(step)
        ev_loss.append(el)
        ev_acc.append(ea)

    order, pos = rng.permutation(X.shape[0]), 0
    taken = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for step in range(steps):
            if pos + batch_size > X.shape[0]:
                order, pos = rng.permutation(X.shape[0]), 0
            idx = order[pos:pos + batch_size]
            pos += batch_size
            xb, yb = X[idx], y[idx]
            out = model.forward(xb, train=True)
            if not np.all(np.isfinite(out)):
                diverged_at, reason = step, "the network output became non-finite"
                break
            value, dout = fn(out, yb)
            losses[step], accs[step] = value, _accuracy(out, yb, loss)
            taken = step + 1
            if not np.isfinite(value) or value > max_loss:
                diverged_at, reason = step, f"loss {value:.3g} exceeded max_loss={max_loss:g}"
                break
            model.backward(dout)
            opt.step()
            for c in cbs:
                c.on_step(StepEvent(step, model, xb, yb, float(value),
                                    {name: g for name, _, g in opt.params}, opt.lr))
            bad = next((name for name, p, _ in opt.params
                        if not np.all(np.abs(p) <= max_weight)), None)
            if bad is not None:
                diverged_at = step
                reason = f"parameter {bad} is non-finite or above max_weight={max_weight:g}"
                break
            update_bar(step, value)
            if eval_data is not None and eval_every and (step + 1) % eval_every == 0:
                run_eval(step)
    close_bar()
    if eval_data is not None and diverged_at < 0 and (not ev_steps or ev_steps[-1] != taken - 1):
        run_eval(taken - 1)
    history = History(
        loss=losses[:taken], accuracy=accs[:taken],
        eval_steps=np.asarray(ev_steps, dtype=np.int64), eval_loss=np.asarray(ev_loss, dtype=float),
        eval_accuracy=np.asarray(ev_acc, dtype=float),
        diverged=diverged_at >= 0, diverged_at=int(diverged_at), reason=reason,
        params={"lr": opt.lr, "momentum": opt.momentum, "weight_decay": opt.weight_decay,
                "batch_size": batch_size, "steps": steps, "loss": loss},
    )
    for c in cbs:
        c.on_train_end(model, history)
    return history
