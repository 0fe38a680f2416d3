"""Stochastic gradient descent.

Seen from adaptive-filter theory, plain SGD on a conv layer *is* block LMS: the update
``W <- W - lr * dL/dW`` with ``dL/dW = dY^T U`` is ``W <- W + lr * E^T U`` with error
``E = -dY`` (tutorial 03 checks it step for step against :class:`lmsbn.filters.BlockLMS`).
Momentum and weight decay are here for the experiments of Wei et al. (2019) and Ergen et al.
(2021).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from lmsbn._checks import check_positive

__all__ = ["SGD"]


class SGD:
    r"""SGD with optional heavy-ball momentum and L2 weight decay (PyTorch's conventions).

    Parameters
    ----------
    params : iterable of (name, parameter, gradient)
        Usually ``model.named_parameters()``; pass a filtered list to train some layers only
        (for example one layer while the others stay frozen, the exact LMS case).
    lr : float > 0
    momentum : float in [0, 1), default 0
    weight_decay : float >= 0, default 0

    Notes
    -----
    .. math::

        g &\leftarrow \nabla_\theta L + \lambda_{wd}\, \theta \\
        v &\leftarrow \beta v + g \\
        \theta &\leftarrow \theta - \eta\, v

    Parameters are updated in place, so the model sees the change without copying.
    """

    def __init__(self, params: Iterable, lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0):
        self.lr = check_positive(lr, "lr")
        self.momentum = check_positive(momentum, "momentum", allow_zero=True)
        if self.momentum >= 1:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
        self.weight_decay = check_positive(weight_decay, "weight_decay", allow_zero=True)
        self.params = []
        for item in params:
            if not (isinstance(item, tuple) and len(item) == 3):
                raise TypeError("params must yield (name, parameter, gradient) triples, such as "
                                f"model.named_parameters(); got {item!r}")
            name, p, g = item
            if not (isinstance(p, np.ndarray) and isinstance(g, np.ndarray) and p.shape == g.shape):
                raise TypeError(f"parameter {name!r} and its gradient must be arrays of one shape")
            self.params.append((name, p, g))
        if not self.params:
            raise ValueError("params is empty: there is nothing to optimise")
        self.velocity = ({name: np.zeros_like(p) for name, p, _ in self.params}
                         if self.momentum else {})

    def step(self):
        """Apply one update to every parameter, in place."""
        for name, p, g in self.params:
            step = g + self.weight_decay * p if self.weight_decay else g
            if self.momentum:
                v = self.velocity[name]
                v *= self.momentum
                v += step
                step = v
            p -= self.lr * step

    def zero_grad(self):
        """Zero the gradients of the optimised parameters."""
        for _, _, g in self.params:
            g.fill(0.0)
