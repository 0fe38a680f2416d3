r"""The eigen-decomposition of an autocorrelation matrix, :math:`R = Q \Lambda Q^T`, as a
:class:`Spectrum` with deterministic eigenvector signs and the natural-mode quantities (eigenvalue
spread, the stability limit :math:`2/\lambda_{max}`, mode time constants); and a conv layer's
:math:`R` seen as a grid of channel blocks (:class:`ChannelBlocks`).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from lmsbn._checks import as_float_array, check_int, check_positive, check_shape, describe
from lmsbn.io import Result
from lmsbn.spectral.autocorrelation import autocorrelation

__all__ = ["ChannelBlocks", "Spectrum", "channel_blocks"]


def _frozen(a: np.ndarray) -> np.ndarray:
    """A read-only copy, so that a frozen dataclass really is immutable."""
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


def _fix_signs(Q: np.ndarray) -> np.ndarray:
    """Flip each column so that its largest-magnitude entry is positive.

    Entries within a relative ``4 sqrt(eps)`` of a column's largest magnitude count as tied, and
    the first of them decides. Without this tolerance round-off would decide between exact ties,
    and exact ties are common: the eigenvectors of a symmetric Toeplitz matrix are symmetric or
    antisymmetric, so their largest magnitude appears twice.
    """
    mag = np.abs(Q)
    tol = 4 * np.sqrt(np.finfo(Q.dtype).eps)
    is_top = mag >= mag.max(axis=0, keepdims=True) * (1 - tol)
    first = np.argmax(is_top, axis=0)  # argmax returns the first True
    signs = np.where(Q[first, np.arange(Q.shape[1])] < 0, -1, 1).astype(Q.dtype)
    return Q * signs


@dataclass(frozen=True, eq=False)
class Spectrum(Result):
    r"""Eigen-decomposition :math:`R = Q \Lambda Q^T` of an autocorrelation matrix.

    Build it with :meth:`from_matrix` or :meth:`from_regressors` rather than directly: those
    validate, sort, fix the eigenvector signs and clip round-off.

    Attributes
    ----------
    R : ndarray, shape (K, K)
        The (symmetrised) matrix.
    eigenvalues : ndarray, shape (K,)
        In descending order, :math:`\lambda_1 \ge \dots \ge \lambda_K \ge 0`.
    eigenvectors : ndarray, shape (K, K)
        Column ``k`` is the unit eigenvector of ``eigenvalues[k]``; its largest-magnitude entry is
        positive (ties, within round-off, go to the first such entry). For a repeated eigenvalue
        only the sign is fixed: which orthonormal basis of the eigenspace you get is up to
        ``numpy.linalg.eigh``.
    num_samples : int or None
        How many regressors ``R`` was estimated from (``None`` for a theoretical ``R``).
    centered : bool
        Whether ``R`` is a covariance (column means removed) rather than an autocorrelation.

    Notes
    -----
    **Round-off rule.** A singular PSD matrix comes out of ``eigh`` with eigenvalues like
    ``+-1e-17`` instead of 0. Let :math:`\tau = 10\,K\,\varepsilon \max_k |\lambda_k|`
    (:math:`\varepsilon` the machine epsilon of ``R``'s dtype), a bound on ``eigh``'s round-off.
    Eigenvalues with :math:`|\lambda| \le \tau` are set to exactly 0 (they cannot be told apart
    from 0); an eigenvalue below :math:`-\tau` means the matrix is not positive semi-definite,
    which an autocorrelation matrix always is, so :meth:`from_matrix` raises. Consequently
    ``lambda_min >= 0`` always, ``spread`` is ``inf`` exactly when ``lambda_min == 0``, and a
    rank-deficient ``R`` (fewer regressors than taps, a constant channel, ...) reports
    ``spread = inf`` rather than a meaningless ``1e17``.
    """

    R: np.ndarray
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    num_samples: int | None = None
    centered: bool = False

    # ---- construction ----------------------------------------------------------------------

    @classmethod
    def from_matrix(cls, R, *, num_samples: int | None = None, centered: bool = False) -> Spectrum:
        """Decompose a symmetric positive semi-definite matrix.

        Parameters
        ----------
        R : array_like, shape (K, K)
            Must be square, finite and symmetric within a relative ``sqrt(eps)`` (of its largest
            entry); it is then symmetrised exactly.
        num_samples : int, optional
            Metadata: the number of regressors ``R`` was estimated from.
        centered : bool, default False
            Metadata: whether ``R`` is a covariance.
        """
        R = as_float_array(R, "R", ndim=2)
        if R.shape[0] != R.shape[1]:
            raise ValueError(f"R must be a square matrix, got shape {R.shape}")
        eps = np.finfo(R.dtype).eps
        scale = float(np.max(np.abs(R)))
        asym = float(np.max(np.abs(R - R.T)))
        if asym > np.sqrt(eps) * scale:
            raise ValueError(
                f"R must be symmetric, got max |R - R^T| = {asym:.3g} "
                f"(relative {asym / scale:.3g} of max |R|)"
            )
        R = (R + R.T) / 2
        lam, Q = np.linalg.eigh(R)  # ascending
        lam, Q = lam[::-1], Q[:, ::-1]
        tau = 10 * R.shape[0] * eps * float(np.max(np.abs(lam)))
        if lam[-1] < -tau:
            raise ValueError(
                f"R must be positive semi-definite, got smallest eigenvalue {lam[-1]:.3g} "
                f"(round-off tolerance {tau:.3g})"
            )
        lam = np.where(lam <= tau, 0, lam).astype(R.dtype)
        if num_samples is not None:
            num_samples = check_int(num_samples, "num_samples", min_value=1)
        if not isinstance(centered, (bool, np.bool_)):
            raise TypeError(f"centered must be a bool, got {describe(centered)}")
        return cls(_frozen(R), _frozen(lam), _frozen(_fix_signs(Q)), num_samples, bool(centered))

    @classmethod
    def from_regressors(cls, U, center: bool = False) -> Spectrum:
        """Spectrum of the sample autocorrelation of regressors ``U`` of shape ``(..., M, K)``.

        See :func:`autocorrelation` for the pooling of leading axes and for ``center``.
        """
        R = autocorrelation(U, center=center)
        M = int(np.prod(np.shape(U)[:-1]))
        return cls.from_matrix(R, num_samples=M, centered=center)

    # ---- scalar summaries ------------------------------------------------------------------

    @property
    def K(self) -> int:
        """Dimension of the regressors (number of taps / weights)."""
        return int(self.eigenvalues.shape[0])

    @property
    def trace(self) -> float:
        r""":math:`\operatorname{tr} R = \sum_k \lambda_k`, the total input power."""
        return float(np.trace(self.R))

    @property
    def lambda_max(self) -> float:
        """Largest eigenvalue."""
        return float(self.eigenvalues[0])

    @property
    def lambda_min(self) -> float:
        """Smallest eigenvalue (>= 0 by the round-off rule)."""
        return float(self.eigenvalues[-1])

    @property
    def spread(self) -> float:
        r"""Eigenvalue spread :math:`\chi(R) = \lambda_{max}/\lambda_{min}`; ``inf`` if
        :math:`\lambda_{min} = 0` (a direction LMS never moves in), including for :math:`R = 0`."""
        if self.lambda_min == 0:
            return float("inf")
        return self.lambda_max / self.lambda_min

    # ---- LMS dynamics ----------------------------------------------------------------------

    def stability_bound(self) -> float:
        r"""Largest step size for which the mean weights converge, :math:`2/\lambda_{max}`."""
        return float("inf") if self.lambda_max == 0 else 2.0 / self.lambda_max

    def mode_factors(self, mu) -> np.ndarray:
        r"""Per-mode contraction factors :math:`1 - \mu\lambda_k`, shape (K,).

        Mode ``k`` of the mean weight error is multiplied by this factor at every step; it decays
        iff the factor lies in (-1, 1), and oscillates in sign when it is negative.
        """
        mu = check_positive(mu, "mu")
        return 1 - mu * self.eigenvalues

    def time_constants(self, mu, exact: bool = True) -> np.ndarray:
        r"""Time constants of the mean weight-error modes, shape (K,), in steps.

        Parameters
        ----------
        mu : float
            Step size, > 0.
        exact : bool, default True
            ``True``: :math:`\tau_k = -1/\ln|1 - \mu\lambda_k|`, the number of steps over which
            mode ``k`` shrinks by a factor :math:`e`. ``False``: the small-step approximation
            :math:`\tau_k \approx 1/(\mu\lambda_k)`.

        Returns
        -------
        tau : ndarray, shape (K,)
            ``inf`` for a mode that does not decay (:math:`\lambda_k = 0`, or
            :math:`|1 - \mu\lambda_k| \ge 1` in the exact formula, i.e. a diverging mode);
            0 for a mode killed in one step (:math:`\mu\lambda_k = 1`).

        Notes
        -----
        These are the *weight* time constants. The mean-square error decays through
        :math:`(1 - \mu\lambda_k)^{2n}`, so its time constants are half as long,
        :math:`\approx 1/(2\mu\lambda_k)`.
        """
        mu = check_positive(mu, "mu")
        lam = self.eigenvalues.astype(np.float64)
        tau = np.full(lam.shape, np.inf)
        if exact:
            factor = np.abs(1 - mu * lam)
            decays = factor < 1
            with np.errstate(divide="ignore"):  # log(0) = -inf gives tau = 0, as it should
                tau[decays] = -1.0 / np.log(factor[decays])
        else:
            pos = lam > 0
            tau[pos] = 1.0 / (mu * lam[pos])
        return tau

    # ---- lossless round trip ---------------------------------------------------------------

    def to_dict(self) -> dict:
        """Arrays and JSON-able metadata, enough to rebuild the object bit for bit.

        Returns
        -------
        dict
            ``{"R", "eigenvalues", "eigenvectors"}`` -> arrays, and ``"meta"`` -> a dict of
            plain Python values (``num_samples``, ``centered``, ``K``), suitable for
            ``numpy.savez`` plus ``json.dump``.
        """
        return {
            "R": np.array(self.R),
            "eigenvalues": np.array(self.eigenvalues),
            "eigenvectors": np.array(self.eigenvectors),
            "meta": {"kind": "Spectrum", "K": self.K, "num_samples": self.num_samples,
                     "centered": self.centered},
        }

    @classmethod
    def from_dict(cls, d) -> Spectrum:
        """Inverse of :meth:`to_dict`; validates keys, shapes and the decomposition itself."""
        if not isinstance(d, dict):
            raise TypeError(f"d must be a dict from Spectrum.to_dict(), got {describe(d)}")
        missing = {"R", "eigenvalues", "eigenvectors", "meta"} - set(d)
        if missing:
            raise ValueError(f"d is not a Spectrum dict: missing keys {sorted(missing)}")
        meta = d["meta"]
        if not isinstance(meta, dict) or meta.get("kind") != "Spectrum":
            raise ValueError(f"d['meta'] must be a Spectrum metadata dict, got {describe(meta)}")
        R = as_float_array(d["R"], "d['R']", ndim=2)
        K = R.shape[0]
        check_shape(R, "d['R']", (K, K))
        lam = as_float_array(d["eigenvalues"], "d['eigenvalues']", ndim=1)
        check_shape(lam, "d['eigenvalues']", (K,))
        Q = as_float_array(d["eigenvectors"], "d['eigenvectors']", ndim=2)
        check_shape(Q, "d['eigenvectors']", (K, K))
        # A corrupted file must not pass silently: the stored factors must rebuild R.
        scale = max(float(np.max(np.abs(R))), np.finfo(R.dtype).tiny)
        err = float(np.max(np.abs((Q * lam) @ Q.T - R))) / scale
        if err > 1e3 * K * np.finfo(R.dtype).eps:
            raise ValueError(f"d holds an inconsistent decomposition (relative error {err:.3g})")
        num_samples = meta.get("num_samples")
        if num_samples is not None:
            num_samples = check_int(num_samples, "d['meta']['num_samples']", min_value=1)
        return cls(_frozen(R), _frozen(lam), _frozen(Q), num_samples, bool(meta.get("centered")))

    # ---- the result protocol (save / load / summary come from lmsbn.io.Result) ----------------

    @property
    def params(self) -> dict:
        """How the spectrum was produced: ``num_samples`` and ``centered`` (stored with it)."""
        return {"num_samples": self.num_samples, "centered": self.centered}

    @classmethod
    def _from_state(cls, state: dict) -> Spectrum:
        # Through from_dict: a loaded file gets the same checks (and read-only arrays) as a
        # spectrum built in memory; a corrupted decomposition must not pass silently.
        meta = {"kind": "Spectrum", "num_samples": state.get("num_samples"),
                "centered": state.get("centered")}
        return cls.from_dict({**{k: state.get(k) for k in ("R", "eigenvalues", "eigenvectors")},
                              "meta": meta})

    def summary(self) -> str:
        """One line: size, extreme eigenvalues, spread, trace and the LMS step-size bound."""
        return (f"Spectrum of a {self.K}x{self.K} {'covariance' if self.centered else 'R'}"
                + (f" from {self.num_samples} regressors" if self.num_samples else "")
                + f": lambda_max {self.lambda_max:.4g}, lambda_min {self.lambda_min:.4g}, "
                f"spread {self.spread:.4g}, trace {self.trace:.4g}, "
                f"2/lambda_max {self.stability_bound():.4g}")

    @classmethod
    def _example(cls) -> Spectrum:
        U = np.arange(24.0).reshape(8, 3) % 5 - 2.0
        return cls.from_regressors(U, center=True)


def _as_spectrum(R, name: str = "R") -> Spectrum:
    """Accept either a :class:`Spectrum` or a matrix."""
    if isinstance(R, Spectrum):
        return R
    try:
        return Spectrum.from_matrix(R)
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        if name != "R" and msg.startswith("R "):  # rename the argument in the message
            msg = name + msg[1:]
        raise type(exc)(msg) from None


@dataclass(frozen=True, eq=False)
class ChannelBlocks:
    r"""A conv layer's :math:`R` seen as a ``C x C`` grid of ``k x k`` blocks.

    Attributes
    ----------
    blocks : ndarray, shape (C, C, k, k)
        ``blocks[c, d]`` is :math:`E[u_c u_d^T]`, the correlation between the ``k`` patch entries
        of input channel ``c`` and those of channel ``d``. Diagonal blocks are each channel's
        spatial autocorrelation.
    coupling : ndarray, shape (C, C)
        Block traces: :math:`\operatorname{tr}\,\text{blocks}[c, d] = \sum_j E[u_{c,j} u_{d,j}]`,
        the cross-channel correlation summed over the ``k`` kernel positions (about
        :math:`k\,E[x_c x_d]` for a spatially stationary input). Symmetric; its trace equals
        :math:`\operatorname{tr} R`.
    frobenius : ndarray, shape (C, C)
        Block Frobenius norms, :math:`\|\text{blocks}[c, d]\|_F`: the total size of the coupling,
        insensitive to the cancellations a trace can have.
    channels : int
    kernel_size : tuple of int
        ``(kh, kw)``; a 1-D kernel is ``(k,)``.
    """

    blocks: np.ndarray
    coupling: np.ndarray
    frobenius: np.ndarray
    channels: int
    kernel_size: tuple

    @property
    def powers(self) -> np.ndarray:
        r"""Per-channel power times k, shape (C,): the diagonal of ``coupling``.

        For a normalised previous layer (unit second moment per channel) every entry is about
        ``k``, which is how BatchNorm bounds :math:`\operatorname{tr}R` and so
        :math:`\lambda_{max}`.
        """
        return np.diagonal(self.coupling).copy()

    @property
    def normalized_coupling(self) -> np.ndarray:
        r"""Correlation-coefficient-like matrix, shape (C, C):
        :math:`\text{coupling}_{cd} / \sqrt{\text{powers}_c\, \text{powers}_d}`.

        Ones on the diagonal (for channels with non-zero power), entries in [-1, 1] by the
        Cauchy-Schwarz inequality; 0 wherever a channel has zero power.
        """
        p = self.powers
        denom = np.sqrt(np.outer(p, p))
        out = np.zeros_like(self.coupling)
        np.divide(self.coupling, denom, out=out, where=denom > 0)
        return out


def channel_blocks(R, channels, kernel_size) -> ChannelBlocks:
    r"""Split a conv layer's autocorrelation matrix into channel blocks.

    Parameters
    ----------
    R : ndarray, shape (K, K), or Spectrum
        With ``K = channels * k``, ``k = prod(kernel_size)``. The column order is that of an
        im2col patch: channel slowest, then kernel positions (row-major over ``(kh, kw)``).
    channels : int
        Number of input channels ``C``.
    kernel_size : int or tuple of int
        ``k``, or ``(kh, kw)``.

    Returns
    -------
    ChannelBlocks

    Notes
    -----
    A classical filter is the special case ``channels=1, kernel_size=K``: one block, ``R``
    itself. What the block structure says about BatchNorm (tutorial 05): equal
    diagonal-block traces bound :math:`\operatorname{tr}R`, and so :math:`\lambda_{max}`.
    """
    R = R.R if isinstance(R, Spectrum) else as_float_array(R, "R", ndim=2)
    if R.shape[0] != R.shape[1]:
        raise ValueError(f"R must be a square matrix, got shape {R.shape}")
    C = check_int(channels, "channels", min_value=1)
    if isinstance(kernel_size, numbers.Integral) and not isinstance(kernel_size, bool):
        ks = (check_int(kernel_size, "kernel_size", min_value=1),)
    elif isinstance(kernel_size, (tuple, list)) and len(kernel_size) in (1, 2):
        ks = tuple(check_int(s, "kernel_size", min_value=1) for s in kernel_size)
    else:
        raise TypeError(f"kernel_size must be an int or (kh, kw), got {describe(kernel_size)}")
    k = int(np.prod(ks))
    if R.shape[0] != C * k:
        raise ValueError(
            f"R has K = {R.shape[0]} but channels * prod(kernel_size) = {C} * {k} = {C * k}"
        )
    blocks = R.reshape(C, k, C, k).transpose(0, 2, 1, 3)
    coupling = np.trace(blocks, axis1=2, axis2=3)
    frobenius = np.sqrt(np.sum(blocks**2, axis=(2, 3)))
    return ChannelBlocks(_frozen(blocks), _frozen(coupling), _frozen(frobenius), C, ks)
