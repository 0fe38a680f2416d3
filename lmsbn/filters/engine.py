r"""What every adaptive filter shares: :class:`AdaptiveFilter` and :class:`FilterResult`.

:mod:`lmsbn.filters` holds the learning rules (LMS, NLMS, block forms, RLS); this module holds
what they share. It has two engines that compute the same thing:

* :meth:`AdaptiveFilter.reference_run` -- **the lesson.** One realization, one sample at a time,
  as short as padasip's loop::

      for n in range(T):
          w_history[n] = w
          y[n] = w @ U[n]
          e[n] = d[n] - y[n]
          w = w + self._update(w, U[n], e[n])

  Step through it in a debugger: it is the whole algorithm.
* :meth:`AdaptiveFilter.run` (and :meth:`~AdaptiveFilter.step`) -- **the engine.** The same loop
  over time, but every line acts on all realizations of an ensemble at once, the weights are
  written straight into a preallocated history, and divergence is checked once per chunk of
  samples instead of once per sample. Tests check it against the reference loop for every rule.

Conventions (checked by ``tests/test_filters.py`` and ``tests/test_filter_engine.py``)
--------------------------------------------------------------------------------------
* Tap order: :math:`u(n) = [x(n), x(n-1), \dots, x(n-K+1)]`, newest sample first (this is what
  :func:`lmsbn.filters.signals.tapped_delay_line` builds). The filters themselves accept any
  regressors.
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

import inspect
import numbers
import sys
from dataclasses import dataclass, field

import numpy as np

from lmsbn._checks import as_float_array, check_int, check_positive, describe
from lmsbn.io import Result

__all__ = ["AdaptiveFilter", "FilterResult"]

#: Numbers per chunk of the ensemble engine (2 MiB of float64). The engine copies one chunk of
#: regressors at a time into time-major order and checks divergence once per chunk, so memory
#: beyond the outputs stays bounded whatever the signal length.
_CHUNK_NUMBERS = 1 << 18

# --------------------------------------------------------------------------------------------
# Result container
# --------------------------------------------------------------------------------------------


@dataclass
class FilterResult(Result):
    r"""What :meth:`AdaptiveFilter.run` returns (saved and loaded by :class:`lmsbn.io.Result`).

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
    params : dict
        How the run was produced: the filter's class and settings, ``record`` and the engine
        (``"run"``, ``"reference_run"``, or ``"run through a swapped lms_step"``).
    """

    y: np.ndarray
    e: np.ndarray
    w_history: np.ndarray | None
    history_steps: np.ndarray | None
    w_final: np.ndarray
    diverged: np.ndarray | bool
    diverged_at: np.ndarray | int
    reason: np.ndarray | str

    params: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One line: the run's size, how many realizations diverged, the final mean-square error."""
        ok = ~np.asarray(self.diverged, dtype=bool)
        last = np.square(np.asarray(self.e)[..., -1])[ok]
        final = f"final e^2 {np.mean(last):.4g} over those that did not" if last.size else ""
        return (f"{self.params.get('filter', 'filter')}: {ok.size} realization(s) x "
                f"{self.e.shape[-1]} samples, {ok.size - last.size} diverged; {final}").rstrip("; ")

    @classmethod
    def _example(cls):
        class _PlainLMS(AdaptiveFilter):  # rules.LMS's rule, restated: rules imports this module
            def _update(self, w, u, e):
                return (self.mu * e)[..., None] * u

        # Two realizations; the first one's ||w(3)|| = 7.4 passes the threshold 5 at n = 2.
        U = np.array([[[1.0, 0.0], [2.0, 1.0], [3.0, 2.0]], [[0.5, 0.0], [-1.0, 0.5], [0.0, -1.0]]])
        d = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]])
        return _PlainLMS(2, 0.5, divergence_threshold=5.0).run(U, d, record=2)

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


def _recorded_steps(T: int, period: int):
    """The sample indices whose weights are kept: 0, k, 2k, ... and T; None for no recording."""
    return None if period == 0 else np.unique(np.r_[np.arange(0, T + 1, period), T])


class _DivergenceLog:
    """Which realizations diverged, at which sample and why; checked a chunk of samples at a time.

    Checking after a chunk instead of after every sample removes a handful of NumPy calls from
    each sample of the loop. It changes nothing in the results: realizations never interact, so
    a diverging one cannot disturb the others while it runs on, and everything it computed after
    its flag is overwritten with NaN, exactly as if it had been frozen at once.
    """

    def __init__(self, B: int, threshold: float, dtype):
        # Clipped to the largest finite value of the dtype, so that an infinite error or norm
        # always fails the "<=" test below.
        big = float(np.finfo(dtype).max)
        self.thr = dtype.type(min(threshold, big))
        self.thr2 = dtype.type(min(threshold, np.sqrt(big)) ** 2)
        self.at = np.full(B, -1, dtype=np.intp)
        self.reason = np.full(B, "", dtype=object)

    def check(self, y, e, W, n0: int) -> None:
        """Flag realizations whose |e(n)| or ||w(n+1)|| left the bounds in this chunk.

        ``y``, ``e`` (C, B) and ``W`` (C + 1, B, K) are one chunk, time-major, starting at sample
        ``n0`` (``W[i]`` is w(n0 + i)). Rows after a new flag are set to NaN in place.
        """
        wsq = np.einsum("tbk,tbk->tb", W[1:], W[1:])
        # "not <=" is True for NaN and inf as well as for values above the threshold.
        bad = ~((np.abs(e) <= self.thr) & (wsq <= self.thr2)) & (self.at < 0)
        new = np.flatnonzero(bad.any(axis=0))
        for b, i in zip(new, bad[:, new].argmax(axis=0)):
            self.at[b] = n0 + i
            self.reason[b] = self._cause(e[i, b], wsq[i, b])
            y[i + 1:, b] = e[i + 1:, b] = np.nan
            W[i + 1:, b] = np.nan          # w(n+1) on: NaN always means "diverged"

    def _cause(self, e, wsq) -> str:
        if not np.isfinite(e):
            return "non-finite error"
        if abs(e) > self.thr:
            return f"|e| exceeded {float(self.thr):g}"
        if not np.isfinite(wsq):
            return "non-finite weights"
        return f"||w|| exceeded {float(self.thr):g}"

    def flags(self, batch):
        """``(diverged, diverged_at, reason)`` shaped like the ensemble (scalars for none)."""
        diverged = self.at >= 0
        if batch == ():
            return bool(diverged[0]), int(self.at[0]), str(self.reason[0])
        return (diverged.reshape(batch), self.at.reshape(batch),
                self.reason.astype(str).reshape(batch))


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
    step_function : str or None
        Class attribute: the name of this rule's one-sample step in :mod:`lmsbn.filters`
        (``"lms_step"``, ``"nlms_step"``), which ``lmsbn.use`` can swap (see Notes). A subclass
        of :class:`~lmsbn.filters.LMS` that changes the rule sets it back to ``None``.

    Notes
    -----
    For every sample :math:`n` (:meth:`reference_run` is this loop, written out):

    .. math::

        y(n) = w(n)^T u(n), \qquad e(n) = d(n) - y(n), \qquad
        w(n+1) = w(n) + \Delta w(n),

    where :math:`\Delta w(n)` is the subclass's ``_update``. Sample-by-sample rules
    (``windowed = False``) get ``_update(w, u, e)`` with ``u`` of shape (..., K) and ``e`` of
    shape (...). Windowed rules get the ``P`` most recent regressors ``U`` (..., P, K) and their
    errors **computed with the current weights** ``e`` (..., P), once every ``L`` samples; the
    weights do not change inside a block, so all outputs of a block use the weights of its start
    and ``w_history`` is constant inside it. During the first ``P - 1`` samples after a reset
    fewer rows exist and ``P`` is smaller. The leading axes ``...`` are empty in
    :meth:`reference_run` and run over the realizations in :meth:`run`, so a rule must broadcast
    over them (write ``e[..., None] * u``, ``axis=-1``); ``w`` is read-only for the rule.

    *Divergence.* A step size above the stability bound makes the weights grow geometrically.
    When :math:`|e(n)|` or :math:`\|w(n+1)\|` is non-finite or exceeds
    ``divergence_threshold``, the realization is flagged at sample :math:`n` and frozen: from
    :math:`y(n+1)` and :math:`w(n+1)` on its values are NaN, and it costs nothing to the others,
    which carry on. NaN thus always means "diverged". No floating-point warning is emitted (the
    loops run under ``np.errstate(all="ignore")``).

    *State.* :meth:`run` starts from the current weights (and, for block/window rules, the
    regressors buffered by earlier calls) and leaves the filter in its final state, so one
    ``run`` over ``T`` samples equals ``T`` calls of :meth:`step` bit for bit. :meth:`reset`
    restores ``w0``; :meth:`reference_run` starts with a reset.

    *Swapping a step.* Inside ``with lmsbn.use(lms_step=f):`` an :class:`~lmsbn.filters.LMS`
    filter's :meth:`run` and :meth:`step` call ``f(w, u, d, mu) -> (w_next, e)`` -- homework 1's
    signature -- for every sample of every realization, one at a time (slow, but it is the
    student's function that filters). ``nlms_step(w, u, d, mu, eps)`` does the same for NLMS.

    *Memory.* ``run`` keeps ``y`` and ``e`` (``2 B T`` numbers) and the recorded weights
    (``B S K``; ``S = T + 1`` for ``record="full"``), plus chunk buffers of about 2 MiB. For
    1000 realizations x 10000 samples x 32 taps in float64 that is 160 MB for ``y``/``e`` and
    2.6 GB for a full weight history: use ``record="none"`` or ``record=k`` for runs of that size.
    """

    #: Whether ``_update`` takes a window of regressors (..., P, K) rather than one (..., K).
    windowed: bool = False
    #: Samples per weight update (L). Block filters override it in ``__init__``.
    block: int = 1
    #: Regressors the learning rule sees (P).
    window: int = 1
    #: Name of the rule's one-sample step function in :mod:`lmsbn.filters` (swappable), or None.
    step_function: str | None = None

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
        """Return the weight change ``dw`` (..., K); see the class Notes for the shapes."""
        raise NotImplementedError(f"{type(self).__name__} must implement _update(w, u, e)")

    # -- state ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Restore the initial weights ``w0`` and forget buffered regressors."""
        self._w = self.w0.copy()
        self._seen = 0  # samples processed since the last reset (fixes the block phase)
        self._past = None  # (U, d) of the last window-1 samples, time-major; window rules only

    @property
    def w(self) -> np.ndarray:
        """The current weights, shape (K,) or (*B, K)."""
        return self._w

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self._extra_repr().items())
        return f"{type(self).__name__}(taps={self.taps}, mu={self.mu!r}{extra})"

    def _extra_repr(self) -> dict:
        return {}

    # -- the lesson: one realization, one sample at a time ----------------------------------

    def reference_run(self, U, d) -> FilterResult:
        """Filter one signal sample by sample: the algorithm, with nothing else in the way.

        It starts from ``w0`` (it calls :meth:`reset`) and leaves the filter in its final state.
        :meth:`run` computes the same for whole ensembles at once (equal up to round-off,
        tested for every rule); use this one to read or step through the algorithm.

        Parameters
        ----------
        U : array_like, shape (T, K)
            Regressors of one realization, newest sample first in each row.
        d : array_like, shape (T,)
            Desired samples.

        Returns
        -------
        FilterResult
            With the full weight history and scalar divergence flags.
        """
        if self.w0.ndim != 1 or np.ndim(U) != 2:
            raise ValueError(f"reference_run filters one realization: U of shape (T, {self.taps}) "
                             f"and w0 of shape ({self.taps},), got U {np.shape(U)} and w0 "
                             f"{self.w0.shape}; use run() for an ensemble")
        self.reset()
        U, d, batch, dtype = self._check_signal(U, d)
        U, d = U.astype(dtype, copy=False), d.astype(dtype, copy=False)
        T, K = U.shape
        w = self.w0.astype(dtype)
        y, e, w_history = np.zeros(T, dtype), np.zeros(T, dtype), np.zeros((T + 1, K), dtype)
        with np.errstate(all="ignore"):  # divergence is recorded after the loop, not warned about
            for n in range(T):
                w_history[n] = w
                y[n] = w @ U[n]
                e[n] = d[n] - y[n]
                if not self.windowed:
                    w = w + self._update(w, U[n], e[n])
                elif (n + 1) % self.block == 0:  # block rules update once per block of L samples
                    rows = slice(max(0, n + 1 - self.window), n + 1)
                    w = w + self._update(w, U[rows], d[rows] - U[rows] @ w)
            w_history[T] = w
            log = _DivergenceLog(1, self.divergence_threshold, dtype)
            log.check(y[:, None], e[:, None], w_history[:, None], 0)
        self._seen = T
        rows = min(T, self.window - 1)  # what a later run() needs to continue the window
        self._past = (U[T - rows:, None].copy(), d[T - rows:, None].copy()) if rows else None
        return self._result(y[:, None], e[:, None], w_history[:, None], _recorded_steps(T, 1),
                            w_history[T][None].copy(), batch, log, "reference_run", "full")

    # -- the engine: every realization at once ----------------------------------------------

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
            ``0, k, 2k, ...`` plus the final step ``T``). Anything but ``"full"`` keeps the
            memory for weights bounded by the chunk size.

        Returns
        -------
        FilterResult
        """
        U, d, batch, dtype = self._check_signal(U, d)
        period = _parse_record(record)
        swapped = self._swapped_step()
        if swapped is not None:
            return self._run_swapped(*swapped, U, d, batch, dtype, record)
        T, K = U.shape[-2], self.taps
        B = int(np.prod(batch, dtype=np.int64))
        # order="C": a copy of a broadcast view may come out Fortran-ordered, and einsum sums in a
        # different order for a different layout (which would break ensemble == one by one).
        w = np.array(np.broadcast_to(self._w, (*batch, K)), dtype=dtype, order="C").reshape(B, K)
        steps = _recorded_steps(T, period)
        hist = None if steps is None else np.empty((steps.size, B, K), dtype=dtype)
        y, e = np.empty((T, B), dtype=dtype), np.empty((T, B), dtype=dtype)
        log = _DivergenceLog(B, self.divergence_threshold, dtype)
        chunk = min(T, max(16, _CHUNK_NUMBERS // (B * K)))
        # With a full history the weights are written straight into it; otherwise into a
        # reusable buffer of one chunk, from which the recorded rows are copied.
        buffer = None if period == 1 else np.empty((chunk + 1, B, K), dtype=dtype)
        with np.errstate(all="ignore"):  # overflow and NaN: detected by the log, not warned about
            for n0, n1, Uc, Dc in self._chunks(U, d, batch, dtype, chunk):
                W = hist[n0:n1 + 1] if period == 1 else buffer[:n1 - n0 + 1]
                W[0] = w
                self._advance(Uc, Dc, W, y[n0:n1], e[n0:n1], self._seen + n0)
                log.check(y[n0:n1], e[n0:n1], W, n0)
                w = W[-1].copy()
                if period > 1 and hist is not None:
                    keep = (steps >= n0) & (steps <= n1)
                    hist[keep] = W[steps[keep] - n0]
        self._seen += T
        return self._result(y, e, hist, steps, w, batch, log, "run", record)

    def _chunks(self, U, d, batch, dtype, chunk):
        """Yield ``(n0, n1, Uc, Dc)``: samples n0..n1-1 as time-major (h + C, B, K), (h + C, B).

        Each chunk is a contiguous copy (so every sample is a C-contiguous (B, K) slab, whatever
        the caller's layout) of at most ``chunk`` samples (so memory stays bounded). For window
        rules the ``h`` rows before the chunk come first -- from the previous chunk or from
        earlier calls -- and when the generator is exhausted the last rows are kept for the next
        call.
        """
        T, K = U.shape[-2], self.taps
        Ut = np.moveaxis(np.broadcast_to(U, (*batch, T, K)), -2, 0)  # views, no copy yet
        Dt = np.moveaxis(np.broadcast_to(d, (*batch, T)), -1, 0)
        tail = self._buffered_rows(batch, dtype)
        for n0 in range(0, T, chunk):
            n1 = min(T, n0 + chunk)
            Uc = np.ascontiguousarray(Ut[n0:n1], dtype=dtype).reshape(n1 - n0, -1, K)
            Dc = np.ascontiguousarray(Dt[n0:n1], dtype=dtype).reshape(n1 - n0, -1)
            if tail is not None:
                Uc, Dc = np.concatenate([tail[0], Uc]), np.concatenate([tail[1], Dc])
            yield n0, n1, Uc, Dc
            rows = min(self._seen + n1, self.window - 1)  # what the next window reaches back to
            tail = (Uc[len(Uc) - rows:], Dc[len(Dc) - rows:]) if rows else None
        if self.windowed:
            self._past = None if tail is None else (tail[0].copy(), tail[1].copy())

    def _advance(self, Uc, Dc, W, y, e, seen):
        """The loop over one chunk of samples: ``reference_run``'s loop for all realizations.

        ``Uc`` (h + C, B, K) and ``Dc`` (h + C, B) hold the chunk's regressors after ``h``
        buffered rows; ``W`` (C + 1, B, K) receives w(n + 1) in row ``i + 1``; ``y``, ``e`` (C, B)
        are filled in place; ``seen`` counts the samples before the chunk (the block phase).
        """
        h = len(Uc) - len(y)
        for i in range(len(y)):
            w, u, j = W[i], Uc[h + i], h + i
            np.einsum("bk,bk->b", w, u, out=y[i])       # y(n) = w(n)^T u(n), every realization
            np.subtract(Dc[j], y[i], out=e[i])           # e(n) = d(n) - y(n)
            if not self.windowed:
                np.add(w, self._update(w, u, e[i]), out=W[i + 1])
            elif (seen + i + 1) % self.block == 0:
                np.add(w, self._update(w, *self._window(Uc, Dc, j, seen + i + 1, w)), out=W[i + 1])
            else:
                W[i + 1] = w                             # inside a block the weights stay put

    def _window(self, Uc, Dc, j, seen, w):
        """The last P regressors (B, P, K) up to row ``j`` and their errors with ``w`` (B, P)."""
        p = min(seen, self.window)
        # Contiguous copies: einsum's summation order depends on the memory layout, and the
        # layout of a (B, P, K) view of time-major data would depend on B.
        U = np.ascontiguousarray(np.swapaxes(Uc[j + 1 - p:j + 1], 0, 1))
        d = np.ascontiguousarray(Dc[j + 1 - p:j + 1].T)
        return U, d - np.einsum("bpk,bk->bp", U, w)

    # -- helpers ----------------------------------------------------------------------------

    def _check_signal(self, U, d):
        """Validated ``U``, ``d``, the ensemble shape of the run and the dtype of its arithmetic."""
        U = as_float_array(U, "U", min_ndim=2)
        d = as_float_array(d, "d")
        if U.shape[-1] != self.taps:
            raise ValueError(
                f"U must have shape (..., T, {self.taps}) for {self.taps} taps, got {U.shape}")
        if d.shape != U.shape[:-1]:
            raise ValueError(f"d must have shape {U.shape[:-1]} (U.shape[:-1]), got {d.shape}")
        try:
            batch = np.broadcast_shapes(self._w.shape[:-1], U.shape[:-2])
        except ValueError:
            raise ValueError(
                f"U's ensemble shape {U.shape[:-2]} does not broadcast with the filter's weights "
                f"of shape {self._w.shape}; call reset() or pass matching realizations"
            ) from None
        return U, d, batch, np.result_type(U.dtype, d.dtype)

    def _buffered_rows(self, batch, dtype):
        """The (U, d) rows kept from earlier calls for window rules, broadcast to this run."""
        if self._past is None:
            return None
        return tuple(_rebatch(a, self._w.shape[:-1], batch, dtype) for a in self._past)

    def _result(self, y, e, hist, steps, w, batch, log, engine, record) -> FilterResult:
        """Store the final weights and pack time-major buffers (T, B, ...) as a FilterResult."""
        T, K = y.shape[0], self.taps
        self._w = w.reshape(*batch, K)
        params = {"filter": type(self).__name__, "taps": K, "mu": self.mu, **self._extra_repr(),
                  "divergence_threshold": self.divergence_threshold,
                  "record": record if isinstance(record, str) else int(record),
                  "engine": engine}
        return FilterResult(
            y=np.moveaxis(y.reshape(T, *batch), 0, -1),
            e=np.moveaxis(e.reshape(T, *batch), 0, -1),
            w_history=None if hist is None else np.moveaxis(hist.reshape(-1, *batch, K), 0, -2),
            history_steps=steps,
            w_final=self._w.copy(),
            **dict(zip(("diverged", "diverged_at", "reason"), log.flags(batch))),
            params=params,
        )

    # -- lmsbn.use: a student's step function drives the filter -----------------------------

    def _swapped_step(self):
        """``(function, extra arguments)`` if ``lmsbn.use`` swapped this rule's step, else None."""
        if self.step_function is None:
            return None
        # lmsbn.use replaces the step in the module that defines the rule (lmsbn.filters.rules), so
        # the current function is looked up there at each run, never captured at import time.
        rules = sys.modules[type(self).__module__]
        current = getattr(rules, self.step_function)
        reference = rules.REFERENCE_STEPS[self.step_function]
        if current is reference:
            return None
        # The step's parameters after (w, u, d) are named like the filter's: (mu,), (mu, eps).
        names = list(inspect.signature(reference).parameters)[3:]
        return current, tuple(getattr(self, name) for name in names)

    def _run_swapped(self, fn, args, U, d, batch, dtype, record):
        """:meth:`run` through a swapped-in step function: each realization, each sample in turn."""
        T, K = U.shape[-2], self.taps
        Ub = np.broadcast_to(U, (*batch, T, K)).reshape(-1, T, K)
        Db = np.broadcast_to(d, (*batch, T)).reshape(-1, T)
        B = Ub.shape[0]
        W = np.empty((T + 1, B, K), dtype=dtype)
        W[0] = np.broadcast_to(self._w, (*batch, K)).reshape(B, K)
        y, e = np.empty((T, B), dtype=dtype), np.empty((T, B), dtype=dtype)
        with np.errstate(all="ignore"):
            for b in range(B):
                for n in range(T):
                    y[n, b] = W[n, b] @ Ub[b, n]
                    # Copies: a student's function may modify its arguments in place.
                    w_next, e[n, b] = fn(W[n, b].copy(), Ub[b, n].copy(), float(Db[b, n]), *args)
                    W[n + 1, b] = w_next
            log = _DivergenceLog(B, self.divergence_threshold, dtype)
            log.check(y, e, W, 0)
        self._seen += T
        steps = _recorded_steps(T, _parse_record(record))
        return self._result(y, e, None if steps is None else W[steps], steps, W[T], batch, log,
                            f"run through a swapped {self.step_function}", record)
