r"""The network half of the argument, at its plainest: the same CNN with and without BatchNorm,
trained at a small and at a large learning rate.

:func:`train_comparison` trains ``small_cnn`` for each normalisation and learning rate from the
same initial weights and the same minibatch order, and records the loss curves, whether (and
where) each run diverged, and the held-out accuracy. It is the experiment the tour opens the
network part with; :func:`lmsbn.experiments.chai.lr_sweep` is the same question over a grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lmsbn._checks import as_float_array, as_generator, check_int
from lmsbn.experiments._inputs import _data, _norms, _seed
from lmsbn.io import Result, rng_param
from lmsbn.nn import small_cnn
from lmsbn.train import train

__all__ = ["TrainingComparison", "train_comparison"]


@dataclass(repr=False)
class TrainingComparison(Result):
    """Loss curves of ``small_cnn`` per normalisation and learning rate.

    Attributes
    ----------
    norms : tuple of str
    lrs : ndarray (n_lr,)
    loss : dict of str to ndarray (steps,)
        ``{"<norm>@<lr>": minibatch loss per step}`` (shorter when the run diverged).
    diverged : dict of str to bool
    diverged_at : dict of str to int
        Step of divergence, -1 if none.
    eval_accuracy : dict of str to float
        Held-out accuracy at the end; NaN for a diverged run.
    params : dict
    """

    norms: tuple
    lrs: np.ndarray
    loss: dict
    diverged: dict
    diverged_at: dict
    eval_accuracy: dict
    params: dict = field(default_factory=dict)

    @staticmethod
    def key(norm: str, lr: float) -> str:
        """The key of one run in the dicts: ``"full@1.0"``."""
        return f"{norm}@{float(lr)!r}"

    def fate(self, norm: str, lr: float) -> str:
        """One run's outcome in words: where it diverged, or its held-out accuracy."""
        k = self.key(norm, lr)
        if self.diverged[k]:
            return f"diverges at step {self.diverged_at[k]}"
        return f"reaches {self.eval_accuracy[k]:.0%} held-out accuracy"

    def summary(self) -> str:
        lines = [f"small_cnn, {self.params.get('steps')} steps:"]
        for lr in self.lrs:
            fates = "; ".join(f"{n} {self.fate(n, lr)}" for n in self.norms)
            lines.append(f"  lr {lr:g}: {fates}")
        return "\n".join(lines)

    @classmethod
    def _example(cls) -> TrainingComparison:
        keys = [cls.key(n, lr) for n in ("none", "full") for lr in (0.02, 1.0)]
        return cls(("none", "full"), np.array([0.02, 1.0]),
                   {k: np.linspace(2.3, 1.0 + i, 4) for i, k in enumerate(keys)},
                   {k: k == "none@1.0" for k in keys},
                   {k: 2 if k == "none@1.0" else -1 for k in keys},
                   {k: float("nan") if k == "none@1.0" else 0.5 for k in keys}, {"steps": 4})


def train_comparison(X=None, y=None, *, norms=("none", "full"), lrs=(0.02, 1.0), steps: int = 100,
                     eval_fraction: float = 0.25, n: int = 2000, rng=0) -> TrainingComparison:
    """Train ``small_cnn`` for every normalisation x learning rate, all from the same weights.

    Parameters
    ----------
    X : ndarray (N, C, H, W), optional
        Images; ``n`` procedural ones by default (:func:`lmsbn.data.shapes`).
    y : ndarray of int (N,), optional
    norms : sequence of str
        Normalisations of ``small_cnn`` (:data:`lmsbn.nn.NORMS`).
    lrs : sequence of float
        Learning rates.
    steps : int
        SGD steps per run.
    eval_fraction : float
        The first ``eval_fraction`` of the data is held out.
    n : int
        Number of procedural images when ``X`` is not given.
    rng : int, Generator or None
        Seed of the data, the weights and the minibatch order, the same for every run so that
        the runs differ only in the normalisation and the learning rate (a Generator or None
        draws that one seed).

    Returns
    -------
    TrainingComparison
    """
    norms = _norms(norms)
    lrs = as_float_array(lrs, "lrs", ndim=1)
    steps = check_int(steps, "steps", min_value=1)
    if not 0 < eval_fraction < 1:
        raise ValueError(f"eval_fraction must be in (0, 1), got {eval_fraction!r}")
    given = X is not None
    seed = rng if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) else _seed(
        as_generator(rng))
    X, y = _data(X, y, n, seed)
    n_eval = int(len(X) * eval_fraction)
    Xtr, ytr, Xte, yte = X[n_eval:], y[n_eval:], X[:n_eval], y[:n_eval]
    loss, diverged, diverged_at, accuracy = {}, {}, {}, {}
    for norm in norms:
        for lr in lrs:
            model = small_cnn(in_channels=X.shape[1], num_classes=int(y.max()) + 1, norm=norm,
                              rng=seed)
            h = train(model, Xtr, ytr, steps=steps, lr=float(lr), eval_data=(Xte, yte), rng=seed)
            k = TrainingComparison.key(norm, lr)
            loss[k], diverged[k] = np.asarray(h.loss), bool(h.diverged)
            diverged_at[k] = int(h.diverged_at) if h.diverged else -1
            ok = h.eval_accuracy.size and not h.diverged
            accuracy[k] = float(h.eval_accuracy[-1]) if ok else float("nan")
    params = {"steps": steps, "eval_fraction": eval_fraction, "n_data": int(len(X)),
              "data": "given" if given else "procedural", "rng": rng_param(rng)}
    return TrainingComparison(norms, lrs, loss, diverged, diverged_at, accuracy, params)
