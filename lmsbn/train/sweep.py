r"""Run a function over a grid of parameters, serially or on any ``concurrent.futures`` executor.

A sweep is the experiment students run most: the same training run at many learning rates,
normalisations and seeds. :func:`run_sweep` evaluates ``fn(**point)`` for every point of a grid
and hands back one :class:`PointResult` per point, **in grid order**, whatever order the points
finished in. Three properties matter more than speed:

* **It keeps going.** A point whose function raises is recorded as failed, with the exception
  text, and the sweep carries on. (A diverging training run is not even a failure: ``train``
  records divergence in its ``History``; the failure path is for genuine bugs and bad points.)
* **It is reproducible.** With ``seed=...`` each point gets its own integer seed derived
  deterministically from ``seed`` and the point's *index* (``numpy.random.SeedSequence.spawn``),
  never from the order in which workers pick points up; so a serial run and a process-pool run
  give bit-identical results.
* **It works with any executor.** The default is serial (debuggable: a breakpoint in ``fn`` just
  works); ``n_jobs > 1`` uses a :class:`concurrent.futures.ProcessPoolExecutor`; and any
  :class:`concurrent.futures.Executor` may be passed instead. A distributed engine that exposes
  that interface works the same way, e.g. with dask.distributed (not a dependency of lmsbn)::

      from dask.distributed import Client
      client = Client()                      # or Client("scheduler-address:8786")
      results = run_sweep(fn, points, executor=client.get_executor())

  With a process-based or distributed executor, ``fn`` must be picklable: a module-level
  function (or a :func:`functools.partial` of one), not a lambda or a closure.

Examples
--------
>>> def square_plus(a, b):
...     return a * a + b
>>> [r.value for r in run_sweep(square_plus, grid(a=[1, 2], b=[0, 10]))]
[1, 11, 4, 14]
"""

from __future__ import annotations

import itertools
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np

from lmsbn._checks import check_int, describe

__all__ = ["ONE_THREAD_ENV", "PointResult", "grid", "run_sweep", "point_seeds"]

#: Pins the usual BLAS libraries to one thread. They read it when they load, so it only takes
#: effect in a fresh process.
ONE_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                  "VECLIB_MAXIMUM_THREADS": "1"}



def grid(**axes) -> list[dict]:
    """The Cartesian product of named axes, as a list of dicts.

    Parameters
    ----------
    **axes : sequence
        One keyword per parameter, each a non-empty sequence of values.

    Returns
    -------
    list of dict
        ``len = prod(len(axis))``; the *last* axis varies fastest (``itertools.product`` order),
        so ``grid(norm=..., lr=...)`` lists every lr of the first norm, then the next norm.

    Examples
    --------
    >>> grid(lr=[0.1, 1.0], norm=["none", "full"])  # doctest: +NORMALIZE_WHITESPACE
    [{'lr': 0.1, 'norm': 'none'}, {'lr': 0.1, 'norm': 'full'},
     {'lr': 1.0, 'norm': 'none'}, {'lr': 1.0, 'norm': 'full'}]
    """
    if not axes:
        raise ValueError("grid needs at least one axis, e.g. grid(lr=[0.01, 0.1])")
    values = []
    for name, axis in axes.items():
        if isinstance(axis, (str, bytes)) or not isinstance(axis, (Sequence, np.ndarray)):
            raise TypeError(f"grid axis {name!r} must be a list, tuple or 1-D array of values, "
                            f"got {describe(axis)}")
        if len(axis) == 0:
            raise ValueError(f"grid axis {name!r} must not be empty")
        values.append(list(axis))
    return [dict(zip(axes, combo)) for combo in itertools.product(*values)]


def point_seeds(seed: int, n: int) -> list[int]:
    """``n`` independent integer seeds derived from ``seed``, one per grid index.

    Seed ``i`` depends only on ``(seed, i)`` (``SeedSequence(seed).spawn(n)[i]``), so it is the
    same however the points are scheduled, and adding points at the end of a grid does not change
    the seeds of the existing ones.
    """
    seed = check_int(seed, "seed", min_value=0)
    n = check_int(n, "n", min_value=0)
    return [int(child.generate_state(1, dtype=np.uint32)[0])
            for child in np.random.SeedSequence(seed).spawn(n)]


@dataclass
class PointResult:
    """The outcome of one grid point.

    Attributes
    ----------
    index : int
        Position in the grid.
    point : dict
        The keyword arguments ``fn`` was called with (including the derived seed, if any).
    value : object
        What ``fn`` returned, or ``None`` if it raised.
    error : str
        ``""`` on success; otherwise the exception type and message followed by the traceback.
    seconds : float
        Wall time of the call (in the worker).
    """

    index: int
    point: dict
    value: Any = None
    error: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True if ``fn`` returned normally."""
        return not self.error


def _call(fn, kwargs):
    """Run one point in the worker; turn an exception into text so the sweep goes on.

    Catching ``Exception`` (not ``BaseException``: Ctrl-C must still stop the sweep) is the
    documented contract of :func:`run_sweep`, and the full traceback is kept for debugging.
    """
    t0 = time.perf_counter()
    try:
        value, error = fn(**kwargs), ""
    except Exception as exc:  # noqa: BLE001 -- recorded, see docstring
        value = None
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    return value, error, time.perf_counter() - t0


class _Progress:
    """tqdm when installed, else one stdlib line on stderr rewritten in place; or nothing."""

    def __init__(self, total, enabled):
        self.total, self.done, self.failed = total, 0, 0
        self.enabled, self.bar, self.t0 = enabled, None, time.perf_counter()
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, desc="sweep", leave=False)

    def update(self, ok):
        self.done += 1
        self.failed += not ok
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(failed=self.failed, refresh=False)
            return
        print(f"\rsweep {self.done}/{self.total} points, {self.failed} failed "
              f"({time.perf_counter() - self.t0:.1f}s)", end="", file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            print(file=sys.stderr)


def run_sweep(fn: Callable, points, *, executor: Executor | None = None, n_jobs: int = 1,
              seed: int | None = None, seed_name: str = "rng",
              progress: bool = False) -> list[PointResult]:
    """Evaluate ``fn(**point)`` for every point; results in grid order, failures recorded.

    Parameters
    ----------
    fn : callable
        Called with each point's entries as keyword arguments. Must be picklable for a process
        or distributed executor (a module-level function or a ``functools.partial`` of one).
    points : list of dict, or dict of sequences
        The grid. A dict of sequences is expanded with :func:`grid` (Cartesian product).
    executor : concurrent.futures.Executor, optional
        Any executor (thread pool, process pool, ``dask.distributed.Client.get_executor()``,
        ...). It is used, not shut down: its owner keeps control of it.
    n_jobs : int, default 1
        Without ``executor``: 1 runs serially in this process; ``n_jobs > 1`` runs a
        :class:`~concurrent.futures.ProcessPoolExecutor` with that many workers for the duration
        of the call.
    seed : int, optional
        If given, point ``i`` is called with the extra keyword ``seed_name=point_seeds(seed,
        n)[i]``, so every point has its own reproducible random stream whatever the scheduling.
        Leave it ``None`` when the grid already carries the seeds.
    seed_name : str, default "rng"
        Keyword under which the derived seed is passed.
    progress : bool, default False
        Show progress (tqdm if installed, else a line on stderr).

    Returns
    -------
    list of PointResult
        ``results[i]`` belongs to ``points[i]``. A point whose ``fn`` raised has ``ok == False``
        and the exception text in ``error``; nothing is re-raised.

    Notes
    -----
    Reproducibility needs ``fn`` itself to be deterministic given its arguments (draw randomness
    only from the ``rng``/seed it is given). Under that condition serial, thread, process and
    distributed runs return bit-identical values.

    Each worker process runs NumPy with its own BLAS thread pool, so ``n_jobs`` workers can ask
    for ``n_jobs`` x (BLAS threads) cores. On a small machine set ``OPENBLAS_NUM_THREADS=1``
    (or ``OMP_NUM_THREADS=1`` / ``MKL_NUM_THREADS=1``) in the environment *before* starting
    Python; the sweep's own parallelism then uses the cores.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {describe(fn)}")
    if isinstance(points, Mapping):
        points = grid(**points)
    elif isinstance(points, (str, bytes)) or not isinstance(points, Sequence):
        raise TypeError("points must be a list of dicts or a dict of sequences, "
                        f"got {describe(points)}")
    points = [dict(p) if isinstance(p, Mapping) else _bad_point(i, p) for i, p in enumerate(points)]
    n_jobs = check_int(n_jobs, "n_jobs", min_value=1)
    if executor is not None and not isinstance(executor, Executor):
        raise TypeError(f"executor must be a concurrent.futures.Executor, got {describe(executor)}")
    if seed is not None:
        if not isinstance(seed_name, str) or not seed_name.isidentifier():
            raise ValueError(f"seed_name must be a keyword name, got {seed_name!r}")
        clash = next((p for p in points if seed_name in p), None)
        if clash is not None:
            raise ValueError(f"seed={seed} would overwrite the grid's own {seed_name!r} entry "
                             f"({clash}); pass seed=None or another seed_name")
        for p, s in zip(points, point_seeds(seed, len(points))):
            p[seed_name] = s

    results = [PointResult(i, p) for i, p in enumerate(points)]
    bar = _Progress(len(points), progress)
    try:
        if executor is None and n_jobs == 1:
            for r in results:
                r.value, r.error, r.seconds = _call(fn, r.point)
                bar.update(r.ok)
        elif executor is not None:
            _run_on(executor, fn, results, bar)
        else:
            with ProcessPoolExecutor(max_workers=n_jobs) as pool:
                _run_on(pool, fn, results, bar)
    finally:
        bar.close()
    return results


def _bad_point(i, p):
    raise TypeError(f"points[{i}] must be a dict of keyword arguments, got {describe(p)}")


def _run_on(executor, fn, results, bar):
    futures = {executor.submit(_call, fn, r.point): r for r in results}
    for fut in as_completed(futures):
        r = futures[fut]
        try:
            r.value, r.error, r.seconds = fut.result()
        except Exception as exc:  # noqa: BLE001 -- a worker crash or an unpicklable fn/value
            r.error = f"{type(exc).__name__}: {exc} (raised by the executor, not by fn)"
        bar.update(r.ok)
