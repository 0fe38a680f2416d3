r"""Bjorck et al. (2018), the random-matrix view: the log condition number of a product of ``L``
Gaussian matrices grows linearly in ``L``, at a rate set by the Lyapunov exponents.

The Lyapunov exponents of Gaussian matrix products are a classical random-matrix result, not taken
from the paper (:func:`lyapunov_exponents`, with the digamma function :func:`digamma` written
here so that SciPy is not needed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lmsbn._checks import as_float_array, as_generator, check_int
from lmsbn.io import Result, rng_param

__all__ = [
    "MatrixProducts", "digamma", "lyapunov_exponents", "random_matrix_products",
]


_ASYMPTOTIC = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)


def digamma(x):
    r"""The digamma function :math:`\psi(x) = \Gamma'(x)/\Gamma(x)` for real :math:`x > 0`.

    Parameters
    ----------
    x : array_like
        Positive reals.

    Returns
    -------
    ndarray or float

    Notes
    -----
    Shift up with :math:`\psi(x) = \psi(x + 1) - 1/x` until :math:`x \ge 10`, then the asymptotic
    series :math:`\psi(x) \approx \ln x - \frac{1}{2x} - \sum_k \frac{B_{2k}}{2k\,x^{2k}}`
    (Abramowitz & Stegun 6.3.18), whose first omitted term is below :math:`10^{-15}` at
    :math:`x = 10`; with the round-off of the upward shifts the result is accurate to about
    :math:`10^{-15}`.
    """
    arr = as_float_array(x, "x", allow_empty=True).astype(np.float64)
    if np.any(arr <= 0):
        raise ValueError(f"x must be positive, got minimum {arr.min()}")
    x = arr.copy()
    acc = np.zeros_like(x)
    while True:
        small = x < 10
        if not small.any():
            break
        acc[small] -= 1.0 / x[small]
        x[small] += 1.0
    inv2 = 1.0 / (x * x)
    series = np.zeros_like(x)
    for c in reversed(_ASYMPTOTIC[:6]):
        series = (series + c) * inv2   # Horner in 1/x^2: sum_k B_2k / (2k) x^(-2k)
    out = np.log(x) - 0.5 / x - series + acc
    return float(out) if out.ndim == 0 else out


def lyapunov_exponents(n: int) -> np.ndarray:
    r"""Lyapunov exponents of a product of i.i.d. :math:`N(0, 1/n)` matrices of size n x n.

    Returns
    -------
    ndarray, shape (n,)
        :math:`\lambda_k = \tfrac12[\ln 2 + \psi(\tfrac{n-k+1}{2})] - \tfrac12 \ln n`,
        :math:`k = 1..n`, descending.

    Notes
    -----
    In a QR decomposition of a Gaussian matrix the squared diagonal entries are independent,
    :math:`n R_{kk}^2 \sim \chi^2_{n-k+1}` (Bartlett), and :math:`E \ln \chi^2_m = \ln 2 +
    \psi(m/2)`. Since :math:`M Q` is again Gaussian for orthogonal :math:`Q`, the log growth rate
    of the k-th direction is exactly :math:`E \ln |R_{kk}|`. The log condition number of the
    product grows by :math:`\lambda_1 - \lambda_n` per factor: the random-matrix view the paper's
    abstract mentions, in this classical form.
    """
    n = check_int(n, "n", min_value=1)
    k = np.arange(1, n + 1)
    return 0.5 * (np.log(2.0) + digamma((n - k + 1) / 2.0)) - 0.5 * np.log(n)


@dataclass
class MatrixProducts(Result):
    """Log condition numbers of Gaussian matrix products, ``log_cond[t, L-1]`` for depth L."""

    depths: np.ndarray
    log_cond: np.ndarray
    n: int = 0
    params: dict = field(default_factory=dict)

    @classmethod
    def _example(cls) -> MatrixProducts:
        return cls(np.arange(1, 4), np.array([[1.9, 4.1, 6.0], [2.1, 3.9, 6.2]]), 16,
                   {"n": 16, "depth": 3, "trials": 2, "rng": 0})

    @property
    def slope(self) -> float:
        """Measured growth per layer: least-squares slope of the mean log condition number."""
        return float(np.polyfit(self.depths, self.log_cond.mean(axis=0), 1)[0])

    @property
    def theory_slope(self) -> float:
        """The predicted growth of log(condition number) per factor, lambda_1 - lambda_n."""
        lam = lyapunov_exponents(self.n)
        return float(lam[0] - lam[-1])

    def summary(self) -> str:
        """A readable text report of the result, with its numbers."""
        return (f"Products of {self.n}x{self.n} Gaussian matrices: log cond grows by "
                f"{self.slope:.3f} per layer (theory {self.theory_slope:.3f})")


def random_matrix_products(n: int = 16, depth: int = 50, trials: int = 20,
                           rng=None) -> MatrixProducts:
    r"""Log condition number of :math:`M_L \cdots M_1`, :math:`M_l \sim N(0, 1/n)`, L = 1..depth.

    Parameters
    ----------
    n, depth, trials : int
    rng : None, int or Generator

    Returns
    -------
    MatrixProducts

    Notes
    -----
    The product's condition number passes :math:`1/\epsilon` of float64 after about
    :math:`\ln(1/\epsilon)/(\lambda_1 - \lambda_n)` factors (tutorial 08 computes it), so
    it is never formed. Instead (Benettin's method) carry an orthonormal frame:
    :math:`Q_l R_l = M_l Q_{l-1}`, accumulate :math:`S_k = \sum_l \ln |(R_l)_{kk}|`, and take
    :math:`\ln \kappa \approx S_1 - S_n`. The :math:`S_k` estimate the log singular values of the
    product; each summand is an independent draw with mean exactly :math:`\lambda_k`
    (:func:`lyapunov_exponents`), so :math:`E[S_1 - S_n] = L (\lambda_1 - \lambda_n)` at every
    depth.
    """
    n = check_int(n, "n", min_value=2)
    depth = check_int(depth, "depth", min_value=1)
    trials = check_int(trials, "trials", min_value=1)
    args = {"n": n, "depth": depth, "trials": trials, "rng": rng_param(rng)}
    rng = as_generator(rng)
    log_cond = np.zeros((trials, depth))
    for t in range(trials):
        Q = np.eye(n)
        S = np.zeros(n)
        for layer in range(depth):
            M = rng.standard_normal((n, n)) / np.sqrt(n)
            Q, R = np.linalg.qr(M @ Q)
            S += np.log(np.abs(np.diag(R)))
            log_cond[t, layer] = S[0] - S[-1]
    return MatrixProducts(np.arange(1, depth + 1), log_cond, n, args)
