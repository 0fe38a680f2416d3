r"""The network of Ergen et al. (2021): two-layer ReLU with BatchNorm, and the whitened data.

This module holds what the closed form, the non-convex training and the convex program share:

* :func:`whiten` -- the whitened data :math:`U' = [U, \mathbf 1/\sqrt n]` on which BatchNorm
  networks secretly operate;
* :class:`BNReLUNetwork` -- the network's parameters in the norm parametrisation below, built into
  the library's own layers (``Linear``, ``BatchNorm1d``, ``ReLU``, ``Linear``) to evaluate it;
* :func:`neuron_from_coefficients` -- the map from a coefficient vector of the convex program
  (or of the closed form) back to one neuron :math:`(w_j, \gamma_j, \alpha_j, v_j)`.

The two BatchNorm parametrisations
----------------------------------
lmsbn's reconstruction of the convex-BN setting (the project has only the paper's abstract, so
this parametrisation is ours, checked by the closed form agreeing with non-convex training)
normalises by the Euclidean *norm* of the centred pre-activation,

.. math::

    \mathrm{BN}_{\gamma,\alpha}(x) = \gamma\,\frac{(I - \tfrac1n \mathbf 1 \mathbf 1^T)\,x}
    {\lVert (I - \tfrac1n \mathbf 1 \mathbf 1^T)\,x \rVert_2} + \frac{\alpha}{\sqrt n}\,\mathbf 1,

while the library's (and PyTorch's) training-mode BatchNorm divides by the *standard deviation*
:math:`\lVert x - \bar x\rVert_2/\sqrt n` and adds its shift unscaled. The two agree when the
library's scale and shift are :math:`\gamma/\sqrt n` and :math:`\alpha/\sqrt n`. We keep
:math:`(\gamma, \alpha)` in :class:`BNReLUNetwork`, so that the regulariser is
:math:`\tfrac\beta2\sum_j(\gamma_j^2 + \alpha_j^2 + v_j^2)`, and convert only when the
library layers are built (:meth:`BNReLUNetwork.to_sequential`). The BatchNorm layers use
``eps = 0``, the exact normalisation above (the library raises for a constant channel).

References
----------
T. Ergen, A. Sahiner, B. Ozturkler, J. Pauly, M. Mardani, M. Pilanci, "Demystifying Batch
Normalization in ReLU Networks: Equivalent Convex Optimization Models and Implicit
Regularization", ICLR 2022, arXiv:2103.01499.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmsbn._checks import as_float_array, check_positive, check_shape

__all__ = [
    "BNReLUNetwork",
    "Whitening",
    "check_regression_data",
    "neuron_from_coefficients",
    "whiten",
]


def check_regression_data(X, y, beta=None):
    """Validate ``(X, y[, beta])`` at a public boundary; return float64 copies-or-views.

    ``X`` must be (n, d) with n >= 2 (BatchNorm needs two samples); ``y`` must be (n,) or (n, 1).
    Computations run in float64 whatever the input dtype: the experiments compare objectives to
    1e-6 and more, beyond float32's resolution.
    """
    X = as_float_array(X, "X", ndim=2, dtype=np.float64)
    if X.shape[0] < 2:
        raise ValueError(f"X must have at least 2 rows (BatchNorm in training mode needs two "
                         f"samples), got shape {X.shape}")
    y = as_float_array(y, "y", ndim=(1, 2), dtype=np.float64)
    if y.ndim == 2:
        check_shape(y, "y", (X.shape[0], 1), what="(one target per row of X)")
        y = y[:, 0]
    check_shape(y, "y", (X.shape[0],), what="(one target per row of X)")
    if beta is None:
        return X, y
    return X, y, check_positive(beta, "beta")


@dataclass(frozen=True)
class Whitening:
    r"""The whitened data of Ergen et al.: the SVD of the centred data, plus the constant column.

    Attributes
    ----------
    U_prime : ndarray, shape (n, r + 1)
        :math:`U' = [U, \mathbf 1/\sqrt n]`, orthonormal columns.
    V : ndarray, shape (d, r)
        Right singular vectors of the centred data.
    s : ndarray, shape (r,)
        Its nonzero singular values, in decreasing order.
    """

    U_prime: np.ndarray
    V: np.ndarray
    s: np.ndarray

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.U_prime.shape[0])

    @property
    def rank(self) -> int:
        """r, the rank of the centred data."""
        return int(self.s.shape[0])

    @property
    def full_rank(self) -> bool:
        r""":math:`\operatorname{rank} U' = n`: the regime of the closed form (needs d >= n - 1)."""
        return self.rank + 1 == self.n

    def weights_for(self, direction) -> np.ndarray:
        r"""First-layer weights w with :math:`\Sigma V^T w = ` ``direction`` (shape (r,)).

        The minimum-norm choice :math:`w = V \Sigma^{-1} z`; since BatchNorm is scale invariant,
        only the direction of w matters.
        """
        return self.V @ (np.asarray(direction) / self.s)


def whiten(X, *, rtol: float | None = None) -> Whitening:
    r"""The whitened data :math:`U'` on which a BatchNorm layer makes the network operate.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    rtol : float, optional
        Singular values below ``rtol * s_max`` count as zero; default ``max(n, d) * eps64``
        (NumPy's ``matrix_rank`` rule).

    Returns
    -------
    Whitening

    Notes
    -----
    With :math:`(I - \tfrac1n\mathbf 1\mathbf 1^T)X = U\Sigma V^T` (compact SVD, rank r), a
    neuron's BatchNorm output is

    .. math::

        \mathrm{BN}_{\gamma,\alpha}(Xw) = \gamma\,\frac{U z}{\lVert z\rVert}
        + \frac{\alpha}{\sqrt n} \mathbf 1 = U' q, \qquad z = \Sigma V^T w, \quad
        q = \Big[\gamma \frac{z}{\lVert z\rVert}; \alpha\Big],

    with :math:`\lVert q\rVert^2 = \gamma^2 + \alpha^2`. So the BN network on X is a plain ReLU
    network without bias on the whitened data :math:`U'`, with weight decay on q: BatchNorm
    whitens the data -- lmsbn's reconstruction of that statement of the Ergen et al. abstract.

    Examples
    --------
    >>> W = whiten(np.random.default_rng(0).normal(size=(5, 8)))
    >>> W.U_prime.shape, W.full_rank
    ((5, 5), True)
    """
    X = as_float_array(X, "X", ndim=2, dtype=np.float64)
    n, d = X.shape
    if n < 2:
        raise ValueError(f"X must have at least 2 rows, got shape {X.shape}")
    if rtol is None:
        rtol = max(n, d) * np.finfo(np.float64).eps
    rtol = check_positive(rtol, "rtol")
    centred = X - X.mean(axis=0)
    U, s, Vt = np.linalg.svd(centred, full_matrices=False)
    keep = s > rtol * s[0] if s[0] > 0 else np.zeros(s.shape, dtype=bool)
    U, s, V = U[:, keep], s[keep], Vt[keep].T
    U_prime = np.column_stack([U, np.full(n, 1.0 / np.sqrt(n))])
    return Whitening(U_prime=U_prime, V=V, s=s)


def neuron_from_coefficients(c, sign: float, whitening: Whitening):
    r"""One neuron :math:`(w, \gamma, \alpha, v)` whose output is ``sign * relu(U' c)``.

    Parameters
    ----------
    c : ndarray, shape (r + 1,)
        Coefficients in the whitened basis (a group of the convex program).
    sign : {+1, -1}
        The sign of the output weight.
    whitening : Whitening

    Returns
    -------
    w : ndarray, shape (d,)
    gamma, alpha, v : float

    Notes
    -----
    Split :math:`c = \lVert c\rVert\,\hat c` evenly between the layers,
    :math:`q = c/\sqrt{\lVert c\rVert}` and :math:`v = \pm\sqrt{\lVert c\rVert}`, so that
    :math:`\mathrm{relu}(U'q)\,v = \pm\mathrm{relu}(U'c)` (ReLU is positively homogeneous) and the
    weight decay :math:`\tfrac\beta2(\lVert q\rVert^2 + v^2) = \beta\lVert c\rVert` equals the
    group-lasso penalty. Then :math:`\gamma = \lVert q_{1:r}\rVert`, :math:`\alpha = q_{r+1}`, and
    w points along :math:`V\Sigma^{-1} q_{1:r}`. A neuron with :math:`q_{1:r} = 0` has
    :math:`\gamma = 0` and any w; we take :math:`V\Sigma^{-1}e_1`.
    """
    c = np.asarray(c, dtype=np.float64)
    norm = float(np.linalg.norm(c))
    if norm == 0.0:
        raise ValueError("c is zero: a zero group defines no neuron")
    q = c / np.sqrt(norm)
    gamma = float(np.linalg.norm(q[:-1]))
    direction = q[:-1] / gamma if gamma > 0 else np.eye(whitening.rank)[0]
    return whitening.weights_for(direction), gamma, float(q[-1]), float(sign) * np.sqrt(norm)


@dataclass
class BNReLUNetwork:
    r"""A two-layer ReLU network with BatchNorm and no biases.

    :math:`f(X) = \sum_j \mathrm{relu}(\mathrm{BN}_{\gamma_j,\alpha_j}(X w_j))\, v_j`.

    Attributes
    ----------
    W : ndarray, shape (m, d)
        First-layer weights, one row per neuron (no bias: BatchNorm's shift replaces it).
    gamma, alpha : ndarray, shape (m,)
        BatchNorm scale and shift in the norm parametrisation (module docstring).
    v : ndarray, shape (m,)
        Output weights.

    Notes
    -----
    The training objective of Ergen et al. (2021) is

    .. math::

        P(\theta) = \tfrac12 \lVert f(X) - y\rVert_2^2 + \tfrac\beta2 \sum_{j=1}^m
        (\gamma_j^2 + \alpha_j^2 + v_j^2):

    weight decay on the BatchNorm parameters and the output weights only, since BatchNorm makes
    the output invariant to the scale of each :math:`w_j`.
    """

    W: np.ndarray
    gamma: np.ndarray
    alpha: np.ndarray
    v: np.ndarray

    def __post_init__(self):
        self.W = as_float_array(self.W, "W", ndim=2, allow_empty=True, dtype=np.float64)
        m = self.W.shape[0]
        for name in ("gamma", "alpha", "v"):
            arr = as_float_array(getattr(self, name), name, ndim=1, allow_empty=True,
                                 dtype=np.float64)
            check_shape(arr, name, (m,), what="(one entry per row of W)")
            setattr(self, name, arr)

    @property
    def width(self) -> int:
        """m, the number of neurons."""
        return int(self.W.shape[0])

    def to_sequential(self, n: int):
        """The network as library layers ``fc1 -> bn1 -> relu1 -> fc2`` for a batch of n samples.

        BatchNorm runs with ``eps = 0`` and the library's scale and shift set to
        :math:`\\gamma/\\sqrt n` and :math:`\\alpha/\\sqrt n` (module docstring).
        """
        from lmsbn.nn import BatchNorm1d, Linear, ReLU, Sequential

        m, d = self.W.shape
        if m == 0:
            raise ValueError("the network has no neurons; it has no layers to build")
        fc1 = Linear(d, m, bias=False, rng=0)
        bn = BatchNorm1d(m, eps=0.0)
        fc2 = Linear(m, 1, bias=False, rng=0)
        fc1.params["weight"][...] = self.W
        bn.params["weight"][...] = self.gamma / np.sqrt(n)
        bn.params["bias"][...] = self.alpha / np.sqrt(n)
        fc2.params["weight"][...] = self.v[None, :]
        return Sequential(fc1, bn, ReLU(), fc2)

    @classmethod
    def from_sequential(cls, model, n: int) -> BNReLUNetwork:
        """Read the parameters back from a model built like :meth:`to_sequential`."""
        fc1, bn, fc2 = model["fc1"], model["bn1"], model["fc2"]
        return cls(W=fc1.params["weight"].copy(),
                   gamma=bn.params["weight"] * np.sqrt(n),
                   alpha=bn.params["bias"] * np.sqrt(n),
                   v=fc2.params["weight"][0].copy())

    def forward(self, X) -> np.ndarray:
        """f(X), shape (n,), computed by the library's layers in training mode (batch = X)."""
        X = as_float_array(X, "X", ndim=2, dtype=np.float64)
        if X.shape[1] != self.W.shape[1]:
            raise ValueError(f"X must have {self.W.shape[1]} columns, got shape {X.shape}")
        if self.width == 0:
            return np.zeros(X.shape[0])
        return self.to_sequential(X.shape[0]).forward(X, train=True)[:, 0]

    def regularizer(self, beta) -> float:
        r""":math:`\tfrac\beta2\sum_j(\gamma_j^2 + \alpha_j^2 + v_j^2)`."""
        beta = check_positive(beta, "beta")
        return 0.5 * beta * float(np.sum(self.gamma**2) + np.sum(self.alpha**2) + np.sum(self.v**2))

    def objective(self, X, y, beta) -> float:
        r"""Regularised loss: :math:`\tfrac12\lVert f(X) - y\rVert^2` plus :meth:`regularizer`."""
        X, y, beta = check_regression_data(X, y, beta)
        r = self.forward(X) - y
        return 0.5 * float(r @ r) + self.regularizer(beta)
