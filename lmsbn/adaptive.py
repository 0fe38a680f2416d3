r"""The machinery shared by every adaptive filter: :class:`AdaptiveFilter` and its results.

:mod:`lmsbn.filters` holds the learning rules (LMS, NLMS, block forms); this module holds
everything they share -- validation, :meth:`~AdaptiveFilter.step`, :meth:`~AdaptiveFilter.run`,
ensembles, divergence detection, weight-history recording -- and the learning-curve helpers that
turn a :class:`FilterResult` into ensemble statistics. Import from :mod:`lmsbn.filters`, which
re-exports every public name here.

Conventions (checked by ``tests/test_filters.py``)
--------------------------------------------------
* Tap order: :math:`u(n) = [x(n), x(n-1), \dots, x(n-K+1)]`, newest sample first (this is what
  :func:`lmsbn.signals.tapped_delay_line` builds). The filters themselves accept any regressors.
* :math:`y(n) = w(n)^T u(n)` and :math:`e(n) = d(n) - y(n)` (the *a-priori* error).
* ``w_history[n]`` is the weight vector used to compute :math:`y(n)`, i.e. *before* update
  :math:`n`; it has :math:`T + 1` rows and the last one is the final weight vector.
* ``w0=None`` means zero initial weights (deterministic; never random).
* Leading axes of the inputs are independent realizations (an *ensemble*); they all run in one
  vectorised loop over time and give bit-for-bit the same numbers as running them one by one.
* Arithmetic happens in the floating dtype of the data (``U`` and ``d``): float32 data gives
  float32 results and the weights are converted to it.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from lmsbn._checks import as_float_array, check_int, check_positive, describe

__all__ = [
    "AdaptiveFilter",
    "FilterResult",
    "LearningCurve",
    "learning_curve",
    "ensemble_learning_curve",
]

# --------------------------------------------------------------------------------------------
# Result container
# --------------------------------------------------------------------------------------------


@dataclass
class FilterResult:
    r"""What :meth:`AdaptiveFilter.run` returns.

    Shapes use ``B`` for the ensemble (leading) axes of the run; ``B`` is empty for a single
    realization, in which case ``diverged`` is a plain ``bool``, ``diverged_at`` an ``int`` and
    ``reason`` a ``str``.

    Attributes
    ----------
    y : ndarray, shape (*B, T)
        Filter outputs :math:`y(n) = w(n)^T u(n)`.
    e : ndarray, shape (*B, T)
        A-priori errors :math:`e(n) = d(n) - y(n)`.
    w_history : ndarray, shape (*B, S, K), or None
        Recorded weight vectors; ``w_history[..., i, :]`` is :math:`w(n)` for
        ``n = history_steps[i]`` (the weights used to compute ``y[..., n]``; ``n = T`` is the
        final vector). ``S = T + 1`` for ``record="full"``; ``None`` for ``record="none"``.
    history_steps : ndarray of int, shape (S,), or None
        The sample index ``n`` of every recorded row, counted from the start of this run.
    w_final : ndarray, shape (*B, K)
        Weights after the last sample (NaN rows for realizations that diverged).
    diverged : ndarray of bool, shape B, or bool
        Whether each realization was flagged as diverged during this run.
    diverged_at : ndarray of int, shape B, or int
        The sample index at which divergence was detected, ``-1`` if never.
    reason : ndarray of str, shape B, or str
        Why a realization was flagged (``""`` if it was not).
    """

    y: np.ndarray
    e: np.ndarray
    w_history: np.ndarray | None
    history_steps: np.ndarray | None
    w_final: np.ndarray
    diverged: np.ndarray | bool
    diverged_at: np.ndarray | int
    reason: np.ndarray | str

    def save(self, path):
        """Save to ``path`` (.npz + JSON metadata via :mod:`lmsbn.io`; no pickle)."""
        from .io import save_arrays

        arrays = {k: np.asarray(getattr(self, k)) for k in
                  ("y", "e", "w_final", "diverged", "diverged_at", "reason")}
        for k in ("w_history", "history_steps"):
            if getattr(self, k) is not None:
                arrays[k] = getattr(self, k)
        # A single realization stores plain bool/int/str; remember that to give them back.
        return save_arrays(path, "FilterResult", arrays, {"scalar": np.ndim(self.diverged) == 0})

    @classmethod
    def load(cls, path) -> "FilterResult":
        """Inverse of :meth:`save`: equal arrays, bit for bit."""
        from .io import load_arrays

        a, meta = load_arrays(path, "FilterResult")
        flags = (a["diverged"], a["diverged_at"], a["reason"])
        if meta.get("scalar"):
            flags = (bool(flags[0]), int(flags[1]), str(flags[2]))
        return cls(a["y"], a["e"], a.get("w_history"), a.get("history_steps"), a["w_final"], *flags)

    @property
    def any_diverged(self) -> bool:
        """True if at least one realization diverged."""
        return bool(np.any(self.diverged))


def _parse_record(record) -> int:
    """Turn ``record`` into a recording period: 0 means "none", 1 means "full"."""
    if isinstance(record, numbers.Integral) and not isinstance(record, bool):
        return check_int(record, "record", min_value=1)
    if isinstance(record, str):
        if record == "full":
            return 1
        if record == "none":
            return 0
        if record.startswith("every:"):
            try:
                period = int(record[len("every:"):])
            except ValueError:
                period = 0
            if period >= 1:
                return period
    raise ValueError(
        f"record must be 'full', 'none', 'every:k' or a positive int k, got {describe(record)}"
    )


def _rebatch(a, old_batch, batch, dtype):
    """Broadcast a time-major buffer (h, prod(old_batch), ...) to (h, prod(batch), ...)."""
    h, rest = a.shape[0], a.shape[2:]
    a = np.broadcast_to(a.reshape(h, *old_batch, *rest), (h, *batch, *rest))
    return a.reshape(h, -1, *rest).astype(dtype)


# --------------------------------------------------------------------------------------------
# The base class
# --------------------------------------------------------------------------------------------


class AdaptiveFilter:
    r"""An adaptive linear combiner; subclasses supply only the learning rule.

    Parameters
    ----------
    taps : int
        Number of weights ``K`` (>= 1).
    mu : float
        Step size (> 0). Unstable values are allowed on purpose: divergence is recorded, not
        prevented (see Notes).
    w0 : array_like, shape (K,) or (*B, K), optional
        Initial weights. ``None`` means zeros. A leading shape gives every realization of an
        ensemble its own start.
    divergence_threshold : float, default 1e12
        A realization is flagged as diverged as soon as :math:`|e(n)|` or :math:`\|w(n+1)\|`
        exceeds this value or becomes non-finite.

    Attributes
    ----------
    w : ndarray, shape (K,) or (*B, K)
        The current weights (after an ensemble run they carry the ensemble axes).
    windowed : bool
        Class attribute: whether the rule sees a window of regressors (block forms, APA).
    block : int
        Samples per weight update ``L`` (1 for sample-by-sample filters).
    window : int
        Number of most recent regressors the learning rule sees ``P`` (1 for LMS and NLMS).

    Notes
    -----
    The loop implemented here, for every sample :math:`n`, is

    .. math::

        y(n) = w(n)^T u(n), \qquad e(n) = d(n) - y(n), \qquad
        w(n+1) = w(n) + \Delta w(n),

    where :math:`\Delta w(n)` is the subclass's ``_update``, always called on arrays whose
    first axis ``B`` runs over the (flattened) realizations. Sample-by-sample rules
    (``windowed = False``) get ``_update(w, u, e)`` with ``u`` of shape (B, K) and ``e`` of
    shape (B,), at every sample. Windowed rules get the ``P`` most recent regressors as ``U`` of
    shape (B, P, K) and their errors **computed with the current weights** as ``e`` of shape
    (B, P), once every ``L`` samples; the weights do not change inside a block, so all outputs of
    a block use the weights of its start and ``w_history`` is constant inside it. During the
    first ``P - 1`` samples after a reset fewer rows exist and ``P`` is smaller. ``w`` (B, K) is
    read-only for the rule.

    *Divergence.* A step size above the stability bound makes the weights grow geometrically.
    When :math:`|e(n)|` or :math:`\|w(n+1)\|` is non-finite or exceeds
    ``divergence_threshold``, the realization is flagged at sample :math:`n` and frozen by
    setting its weights to NaN: from then on its ``y`` and ``e`` are NaN and it costs nothing
    to the others, which carry on. NaN thus always means "diverged". No floating-point warning is
    emitted (the loop runs under ``np.errstate(all="ignore")``).

    *State.* :meth:`run` starts from the current weights (and, for block/window rules, the
    regressors buffered by earlier calls) and leaves the filter in its final state, so one
    ``run`` over ``T`` samples equals ``T`` calls of :meth:`step` bit for bit. :meth:`reset`
    restores ``w0``.

    *Memory.* ``run`` keeps ``y`` and ``e`` (``2 B T`` numbers), a time-major copy of ``U``
    (``B T K``) and the recorded weights (``B S K``). For 1000 realizations x 10000 samples x
    32 taps in float64 that is 160 MB for ``y``/``e`` plus 2.6 GB each for ``U`` and its copy, and
    another 2.6 GB if every weight vector is recorded -- use ``record="none"`` or ``record=k``
    and split the ensemble into chunks for runs of that size.
    """

    #: Whether ``_update`` takes a window of regressors (B, P, K) rather than one (B, K).
    windowed: bool = False
    #: Samples per weight update (L). Block filters override it in ``__init__``.
    block: int = 1
    #: Regressors the learning rule sees (P).
    window: int = 1

    def __init__(self, taps, mu, w0=None, *, divergence_threshold=1e12):
        self.taps = check_int(taps, "taps", min_value=1)
        self.mu = check_positive(mu, "mu")
        self.divergence_threshold = check_positive(divergence_threshold, "divergence_threshold")
        if w0 is None:
            w0 = np.zeros(self.taps)
        else:
            w0 = as_float_array(w0, "w0", min_ndim=1)
            if w0.shape[-1] != self.taps:
                raise ValueError(
                    f"w0 must have shape ({self.taps},) or (..., {self.taps}), got {w0.shape}")
        self.w0 = np.array(w0)  # a private copy: the caller's array is never modified
        self.reset()

    # -- the one method subclasses override ------------------------------------------------

    def _update(self, w: np.ndarray, u: np.ndarray, e: np.ndarray) -> np.ndarray:
        """Return the weight change ``dw`` (B, K); see the class Notes for the shapes."""
        raise NotImplementedError(f"{type(self).__name__} must implement _update(w, u, e)")

    # -- state ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Restore the initial weights ``w0`` and forget buffered regressors."""
        self._w = self.w0.copy()
        self._seen = 0  # samples processed since the last reset (fixes the block phase)
        self._past = None  # (U, d, e) of the last window-1 samples, time-major; window rules only

    @property
    def w(self) -> np.ndarray:
        """The current weights, shape (K,) or (*B, K)."""
        return self._w

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self._extra_repr().items())
        return f"{type(self).__name__}(taps={self.taps}, mu={self.mu!r}{extra})"

    def _extra_repr(self) -> dict:
        return {}

    # -- public API -------------------------------------------------------------------------

    def step(self, u, d):
        """Process one sample and update ``self.w`` in place.

        Parameters
        ----------
        u : array_like, shape (K,) or (*B, K)
            The regressor :math:`u(n)` (one per realization).
        d : float or array_like, shape B
            The desired sample :math:`d(n)`.

        Returns
        -------
        y, e : float or ndarray, shape B
            The output :math:`w(n)^T u(n)` and the a-priori error :math:`d(n) - y(n)`.
        """
        u = as_float_array(u, "u", min_ndim=1)
        d = as_float_array(d, "d")
        if d.shape != u.shape[:-1]:
            raise ValueError(f"d must have shape {u.shape[:-1]} (u.shape[:-1]), got {d.shape}")
        result = self.run(u[..., None, :], d[..., None], record="none")
        return result.y[..., 0][()], result.e[..., 0][()]  # [()] turns 0-d arrays into scalars

    def run(self, U, d, *, record="full") -> FilterResult:
        """Filter a whole signal (or an ensemble of them) in one vectorised loop over time.

        Parameters
        ----------
        U : array_like, shape (*B, T, K)
            Regressors, one row per sample (e.g. ``signals.tapped_delay_line(x, K)``).
        d : array_like, shape (*B, T)
            Desired samples.
        record : {"full", "none"}, "every:k" or int k, default "full"
            Which weight vectors to keep: all ``T + 1``, none, or every ``k``-th (steps
            ``0, k, 2k, ...`` plus the final step ``T``).

        Returns
        -------
        FilterResult
        """
        U = as_float_array(U, "U", min_ndim=2)
        d = as_float_array(d, "d")
        if U.shape[-1] != self.taps:
            raise ValueError(
                f"U must have shape (..., T, {self.taps}) for {self.taps} taps, got {U.shape}")
        if d.shape != U.shape[:-1]:
            raise ValueError(f"d must have shape {U.shape[:-1]} (U.shape[:-1]), got {d.shape}")
        period = _parse_record(record)
        try:
            batch = np.broadcast_shapes(self._w.shape[:-1], U.shape[:-2])
        except ValueError:
            raise ValueError(
                f"U's ensemble shape {U.shape[:-2]} does not broadcast with the filter's weights "
                f"of shape {self._w.shape}; call reset() or pass matching realizations"
            ) from None
        dtype = np.result_type(U.dtype, d.dtype)
        T, K = U.shape[-2], self.taps
        B = int(np.prod(batch, dtype=np.int64))

        # Time-major, with the ensemble flattened to one axis, so that Ut[n] is one contiguous
        # (B, K) slab: the loop body then touches only small contiguous arrays.
        Ut = np.ascontiguousarray(np.broadcast_to(np.moveaxis(U, -2, 0), (T, *batch, K)), dtype=dtype)
        Dt = np.ascontiguousarray(np.broadcast_to(np.moveaxis(d, -1, 0), (T, *batch)), dtype=dtype)
        Ut, Dt = Ut.reshape(T, B, K), Dt.reshape(T, B)
        # order="C": a copy of a broadcast view may come out Fortran-ordered, and einsum sums in a
        # different order for a different layout (which would break ensemble == one by one).
        w = np.array(np.broadcast_to(self._w, (*batch, K)), dtype=dtype, order="C").reshape(B, K)

        # Window rules see regressors from earlier calls too: prepend the buffered ones.
        h = 0
        if self._past is not None:
            past_u, past_d, past_e = (_rebatch(a, self._w.shape[:-1], batch, dtype) for a in self._past)
            h = past_u.shape[0]
            Ut, Dt = np.concatenate([past_u, Ut]), np.concatenate([past_d, Dt])
        y = np.empty((h + T, B), dtype=dtype)
        e = np.empty((h + T, B), dtype=dtype)
        if h:
            e[:h] = past_e

        steps = None if period == 0 else np.unique(np.r_[np.arange(0, T + 1, period), T])
        hist = None if steps is None else np.empty((steps.size, B, K), dtype=dtype)
        if hist is not None:
            hist[0] = w
        slot = 1

        diverged_at = np.full(B, -1, dtype=np.intp)
        reason = np.full(B, "", dtype=object)
        # Thresholds for |e| and ||w||^2, clipped to the largest finite value of the dtype so that
        # an infinite error or norm always fails the "<=" test below.
        big = float(np.finfo(dtype).max)
        thr = dtype.type(min(self.divergence_threshold, big))
        thr2 = dtype.type(min(self.divergence_threshold, np.sqrt(big)) ** 2)
        wsq = np.empty(B, dtype=dtype)

        with np.errstate(all="ignore"):  # overflow and NaN are detected below, not warned about
            for n in range(h, h + T):
                np.einsum("bk,bk->b", w, Ut[n], out=y[n])
                np.subtract(Dt[n], y[n], out=e[n])
                seen = self._seen + (n - h) + 1  # samples seen including this one
                if not self.windowed:
                    w += self._update(w, Ut[n], e[n])
                elif seen % self.block == 0:
                    w += self._update(w, *self._window_rows(w, Ut, Dt, e, n, seen))
                np.einsum("bk,bk->b", w, w, out=wsq)
                # "not <=" is True for NaN and inf as well as for values above the threshold.
                ok = (np.abs(e[n]) <= thr) & (wsq <= thr2)
                if not ok.all():
                    self._flag(~ok, e[n], wsq, n - h, diverged_at, reason, thr)
                    w[~ok] = np.nan
                if hist is not None and slot < steps.size and steps[slot] == n - h + 1:
                    hist[slot] = w
                    slot += 1

        self._seen += T
        self._w = w.reshape(*batch, K)
        if self.windowed:
            keep = min(self._seen, self.window - 1)
            self._past = tuple(a[a.shape[0] - keep:].copy() for a in (Ut, Dt, e)) if keep else None
        diverged = diverged_at >= 0
        if batch == ():
            diverged, diverged_at, reason = bool(diverged[0]), int(diverged_at[0]), str(reason[0])
        else:
            diverged, diverged_at = diverged.reshape(batch), diverged_at.reshape(batch)
            reason = reason.astype(str).reshape(batch)
        return FilterResult(
            y=np.moveaxis(y[h:].reshape(T, *batch), 0, -1),
            e=np.moveaxis(e[h:].reshape(T, *batch), 0, -1),
            w_history=None if hist is None else np.moveaxis(hist.reshape(-1, *batch, K), 0, -2),
            history_steps=steps,
            w_final=self._w.copy(),
            diverged=diverged,
            diverged_at=diverged_at,
            reason=reason,
        )

    # -- helpers of run ---------------------------------------------------------------------

    def _window_rows(self, w, Ut, Dt, e, n, seen):
        """The last P regressors (B, P, K) and their errors with the current weights (B, P)."""
        p = min(seen, self.window)
        in_block = (seen - 1) % self.block + 1  # rows of the current block, already errored with w
        first, start_block = n + 1 - p, n + 1 - min(in_block, p)
        U = Ut[first:n + 1]
        # Rows older than the current block were errored with older weights: recompute them.
        e_old = Dt[first:start_block] - np.einsum("pbk,bk->pb", Ut[first:start_block], w)
        errs = np.concatenate([e_old, e[start_block:n + 1]])
        # Contiguous copies: einsum's summation order depends on the memory layout, and the
        # layout of a (B, P, K) view of time-major data would depend on B.
        return np.ascontiguousarray(np.swapaxes(U, 0, 1)), np.ascontiguousarray(errs.T)

    @staticmethod
    def _flag(bad, e, wsq, n, diverged_at, reason, thr):
        """Record the step and the cause for realizations flagged for the first time."""
        new = bad & (diverged_at < 0)
        if not new.any():
            return
        diverged_at[new] = n
        causes = np.where(~np.isfinite(e), "non-finite error",
                 np.where(np.abs(e) > thr, f"|e| exceeded {float(thr):g}",
                 np.where(~np.isfinite(wsq), "non-finite weights", f"||w|| exceeded {float(thr):g}")))
        reason[new] = causes[new]


# --------------------------------------------------------------------------------------------
# Learning curves
# --------------------------------------------------------------------------------------------


def _errors_and_mask(result_or_errors, exclude_diverged):
    """The error array (*B, T) and a boolean mask (B) of the realizations to average."""
    if isinstance(result_or_errors, FilterResult):
        e = result_or_errors.e
        diverged = np.asarray(result_or_errors.diverged)
    else:
        e = as_float_array(result_or_errors, "result_or_errors", min_ndim=1, finite=False)
        with np.errstate(invalid="ignore"):
            diverged = ~np.all(np.isfinite(e), axis=-1)
    keep = ~diverged if exclude_diverged else np.ones(e.shape[:-1], dtype=bool)
    if not keep.any():
        raise ValueError("every realization diverged: exclude_diverged=True leaves nothing to average")
    return e, keep


def learning_curve(result_or_errors, *, exclude_diverged=False) -> np.ndarray:
    r"""Ensemble-averaged squared error :math:`\hat J(n) = \langle e(n)^2 \rangle`.

    Parameters
    ----------
    result_or_errors : FilterResult or array_like, shape (*B, T)
        A run's result, or its errors.
    exclude_diverged : bool, default False
        By default a diverged realization (NaN errors after divergence) makes the curve NaN
        from that step on -- the mean square error of an ensemble with a diverging member *is*
        unbounded. ``True`` averages only the realizations that never diverged; this is biased
        towards the lucky ones, so report how many were dropped.

    Returns
    -------
    J : ndarray, shape (T,)
        The mean over all leading axes of ``e**2``.
    """
    e, keep = _errors_and_mask(result_or_errors, exclude_diverged)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.mean(np.square(e[keep]), axis=0) if e.ndim > 1 else np.square(e)


@dataclass
class LearningCurve:
    r"""Ensemble statistics of a run, with the LMS theory curve when it applies.

    Attributes
    ----------
    mse : ndarray, shape (T,)
        :math:`\langle e(n)^2 \rangle` over the realizations used.
    steps : ndarray of int, shape (T,)
        ``0, ..., T - 1``.
    mode_mean : ndarray, shape (S, K), or None
        :math:`\langle v_k(n) \rangle`, with :math:`v(n) = Q^T (w(n) - w_{ref})`, at the recorded
        steps ``mode_steps``.
    mode_energy : ndarray, shape (S, K), or None
        :math:`\langle v_k(n)^2 \rangle` at ``mode_steps``.
    mode_steps : ndarray of int, shape (S,), or None
        The run's ``history_steps``.
    theory : ndarray, shape (T,), or None
        :func:`lmsbn.spectral.learning_curve_theory` for steps ``0, ..., T - 1`` (aligned with
        ``mse``), from the mean initial weight error.
    n_used : int
        Number of realizations averaged.
    """

    mse: np.ndarray
    steps: np.ndarray
    mode_mean: np.ndarray | None = None
    mode_energy: np.ndarray | None = None
    mode_steps: np.ndarray | None = None
    theory: np.ndarray | None = None
    n_used: int = 0


def ensemble_learning_curve(result, *, spectrum=None, w_ref=None, mu=None, J_min=None,
                            exclude_diverged=False, theory="small_step") -> LearningCurve:
    r"""Learning curve, mode statistics and LMS theory for an ensemble run.

    Parameters
    ----------
    result : FilterResult
        An ensemble run (leading axes are realizations). Mode statistics need its
        ``w_history`` (a run with ``record`` other than ``"none"``).
    spectrum : lmsbn.spectral.Spectrum or ndarray, shape (K, K), optional
        Spectrum of the input autocorrelation :math:`R`. With ``w_ref`` it gives the mode
        statistics; with ``mu`` and ``J_min`` as well, the theory curve.
    w_ref : array_like, shape (K,) or (*B, K), optional
        Reference weights, usually the Wiener solution :math:`w_o`.
    mu : float, optional
        The LMS step size the run used.
    J_min : float, optional
        The minimum mean-square error (the noise power for system identification).
    exclude_diverged : bool, default False
        See :func:`learning_curve`.
    theory : {"small_step", "haykin", "gaussian"}, default "small_step"
        Which independence theory :func:`lmsbn.spectral.learning_curve_theory` uses;
        ``"gaussian"`` keeps the fourth-moment terms of real Gaussian regressors and matches
        simulations beyond small steps.

    Returns
    -------
    LearningCurve

    Notes
    -----
    The theory is LMS independence theory (Haykin, *Adaptive Filter Theory*):
    :math:`J(n) \approx J_{min} + \sum_k \lambda_k E[v_k(n)^2]`; it is computed by
    :mod:`lmsbn.spectral`, never here. It is exact in the mean only for regressors independent
    over time and describes :class:`LMS`, not NLMS or the block forms.
    """
    from lmsbn import spectral  # the analysis core; imported here so filters load on their own

    if not isinstance(result, FilterResult):
        raise TypeError(f"result must be a FilterResult, got {describe(result)}")
    mse = learning_curve(result, exclude_diverged=exclude_diverged)
    _, keep = _errors_and_mask(result, exclude_diverged)
    curve = LearningCurve(mse=mse, steps=np.arange(mse.size), n_used=int(keep.sum()))
    if spectrum is None or w_ref is None:
        if mu is not None or J_min is not None:
            raise ValueError("the theory curve needs spectrum and w_ref as well as mu and J_min")
        return curve
    if result.w_history is None:
        raise ValueError("mode statistics need a run recorded with record='full' or 'every:k', "
                         "got a run with record='none'")
    # The core rejects NaN, so the NaN rows of diverged realizations are projected as zeros and
    # put back to NaN afterwards.
    w_hist = result.w_history.reshape(-1, *result.w_history.shape[-2:])  # (R, S, K)
    w_ref = as_float_array(w_ref, "w_ref", min_ndim=1)
    if w_ref.ndim > 1:
        w_ref = np.broadcast_to(w_ref, result.w_final.shape).reshape(-1, w_ref.shape[-1])
    finite = np.all(np.isfinite(w_hist), axis=-1)  # (R, S)
    v = spectral.mode_coordinates(np.where(finite[..., None], w_hist, 0.0), spectrum, w_ref)
    v[~finite] = np.nan
    v = v[keep.reshape(-1)]
    with np.errstate(over="ignore", invalid="ignore"):
        curve.mode_mean = v.mean(axis=0)
        curve.mode_energy = np.square(v).mean(axis=0)
    curve.mode_steps = result.history_steps
    if (mu is None) != (J_min is None):
        raise ValueError("the theory curve needs both mu and J_min")
    if mu is not None:
        if result.history_steps[0] != 0:
            raise ValueError("the theory curve needs the initial weights (history step 0)")
        spec = spectrum
        if not isinstance(spec, spectral.Spectrum):
            spec = spectral.Spectrum.from_matrix(spectrum)
        c0 = spec.eigenvectors @ curve.mode_mean[0]  # mean initial weight error w(0) - w_ref
        curve.theory = spectral.learning_curve_theory(
            spec, mu, J_min, c0, mse.size - 1, theory=theory)
    return curve
