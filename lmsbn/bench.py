"""``lmsbn bench``: every speed and memory figure of the project, as ratios measured in one run.

Absolute times on a shared machine are noise; a ratio of two things timed back to back on the
same shapes is not. So each row here is a *ratio* against a floor or a peer:

* ``conv2d / GEMM floor``: conv forward+backward against the three matrix products it must do
  (``U W^T``, ``dY^T U``, ``dY W``) timed alone on the same shapes. What remains is im2col/col2im
  overhead. The goal is set on one thread (BLAS pinned, in a child process if need be), because
  a threaded BLAS speeds up the floor's products but not im2col's copies: on n cores the
  default-threads ratio mixes the overhead with n. The default-threads rows are printed too, in
  the same run, and a one-thread row with glibc keeping freed memory, which shows what page
  faults cost (no goal).
* ``naive / readable``: how much the vectorised path saves over its loop twin.
* ``batchnorm / conv``: BatchNorm forward+backward against the conv that precedes it.
* ``lmsbn / torch``: against PyTorch's CPU time on the same shapes and dtype (float64), at one
  thread and at default threads, when torch is importable (never a dependency).
* ``ensemble``: filters run as one broadcast ensemble against a padasip-style per-sample loop
  written here (:func:`padasip_style_loop`), and against the same realizations one by one.

Run ``lmsbn bench`` or ``python -m lmsbn.bench --json out.json``.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from lmsbn.train.sweep import ONE_THREAD_ENV

__all__ = ["CONV_SHAPES", "ONE_THREAD_ENV", "THREADS", "goal_verdict", "main", "run", "thread_rows",
           "time_call", "time_ratio"]

#: (N, C_in, C_out, H, W) of the tutorials' conv layers plus a larger one; all 3x3, pad 1.
CONV_SHAPES = ((64, 3, 16, 32, 32), (64, 16, 32, 32, 32), (64, 32, 64, 16, 16))


def _calibrate(fn, min_time):
    """How many calls of ``fn`` last at least ``min_time`` seconds (after one warm-up call)."""
    fn()  # warm-up: first-touch allocations and caches
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t0 >= min_time or n >= 1 << 12:
            return n
        n *= 2


def _once(fn, n):
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def time_call(fn: Callable[[], object], *, repeat: int = 7, min_time: float = 0.02) -> float:
    """Median seconds per call of ``fn`` over ``repeat`` timings of enough calls to last
    ``min_time``."""
    n = _calibrate(fn, min_time)
    return float(np.median([_once(fn, n) for _ in range(repeat)]))


def time_ratio(num: Callable, den: Callable, *, repeat: int = 7, min_time: float = 0.02) -> float:
    """Median over ``repeat`` rounds of time(num) / time(den), the two timed back to back.

    Interleaving is what makes a ratio trustworthy on a shared machine: a burst of load from
    another process hits both sides of one round instead of one side of the whole comparison.
    """
    n_num, n_den = _calibrate(num, min_time), _calibrate(den, min_time)
    return float(np.median([_once(num, n_num) / _once(den, n_den) for _ in range(repeat)]))


def _torch(one_thread: bool):
    """torch, or None when it is not installed; ``one_thread`` pins its intra-op pool to 1."""
    try:
        import torch
    except ImportError:
        return None
    if one_thread:
        torch.set_num_threads(1)
    return torch




def _conv_problem(shape, rng):
    """Input, weights and upstream gradient of a 3x3, pad-1 conv of ``shape`` (N, C, F, H, W)."""
    n, c, f, h, w = shape
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((f, c, 3, 3))
    dout = rng.standard_normal((n, f, h, w))
    return x, wt, dout


def _conv_timers(x, wt, dout):
    """``(conv, floor)``: lmsbn's conv forward+backward, and the three products it must do,
    alone (row-major operands, the layout BLAS is fastest on)."""
    from lmsbn.nn import functional as F

    f = wt.shape[0]
    U = np.ascontiguousarray(F.im2col2d(x, 3, 3, pad=1))
    W2 = wt.reshape(f, -1)
    dY = np.ascontiguousarray(dout.transpose(0, 2, 3, 1).reshape(-1, f))

    def floor():
        U @ W2.T
        dY.T @ U
        dY @ W2

    def conv():
        o, cch = F.conv2d_forward(x, wt, pad=1)
        F.conv2d_backward(dout, cch)

    return conv, floor


def _label(shape):
    n, c, f, h, w = shape
    return f"N={n} {c}->{f} {h}x{w}"


#: The goals, as ``[op, value]`` for a row's ratio (issue 13). The conv: against the GEMM floor
#: at one thread, and against torch's CPU conv (float64) at default threads -- the issue set the
#: torch goal for an opt-in fast path, which was not ~20 % faster than the readable one and was
#: deleted, so the goal stays on the conv. The filter ensemble against the padasip-style loop
#: (stretch 20); a default ModeTracker's cost in training.
FLOOR_GOAL, TORCH_GOAL = ("<=", 1.6), ("<=", 1.0)
ENSEMBLE_GOAL, TRACKER_GOAL = (">=", 10.0), ("<=", 1.25)
_MEETS = {"<=": operator.le, ">=": operator.ge}


def _goal_text(goal, setting: str = "") -> str:
    """``"goal <= 1.6 at 1 thread"`` for a row's detail."""
    return f"goal {goal[0]} {goal[1]:g}" + (f" at {setting}" if setting else "")


def goal_verdict(rows) -> str:
    """Which goals the rows meet, computed from their ratios: one line for the end of the table.

    A row with a goal carries ``"goal": [op, value]`` (``op`` ``"<="`` or ``">="``); only the
    rows measured in the setting a goal is set for carry one (the floor rows at one thread, the
    torch rows at default threads).
    """
    judged = [r for r in rows if "goal" in r]
    if not judged:
        return "goals: none among these rows"
    missed = [r for r in judged if not _MEETS[r["goal"][0]](r["ratio"], r["goal"][1])]
    line = f"goals: {len(judged) - len(missed)} of {len(judged)} met"
    if missed:
        line += "; not met: " + "; ".join(
            f"{r['name']} {r['shape']} {r['ratio']:.2f}{r.get('unit', 'x')} "
            f"({_goal_text(r['goal'])})" for r in missed)
    return line


#: The two BLAS/torch thread settings every conv row is measured at, in one run.
THREADS = ("1 thread", "default threads")

#: A diagnostic third setting for the floor rows: one thread, with glibc's malloc told (at
#: start-up, through these tunables) to keep freed memory instead of handing it back to the OS.
#: Its gap to the one-thread row is what page faults cost the conv; other allocators ignore the
#: variables, and the two rows then agree.
KEEP_MEMORY = "1 thread, freed memory kept"
KEEP_MEMORY_ENV = {"MALLOC_TRIM_THRESHOLD_": "1000000000", "MALLOC_MMAP_THRESHOLD_": "1000000000"}


def _threads_note(threads: str) -> str:
    """What this process's BLAS runs on, as read from its environment, for a row's detail."""
    if threads == "1 thread":
        return ""
    if threads == KEEP_MEMORY:
        kept = ", ".join(f"{k}={os.environ.get(k)}" for k in KEEP_MEMORY_ENV)
        return f" (a diagnostic): glibc malloc with {kept}"
    pins = ", ".join(f"{k}={os.environ[k]}" for k in ONE_THREAD_ENV if k in os.environ)
    pins = pins or "no thread variable set"
    return f"; BLAS threads: its default ({pins}) on {os.cpu_count()} CPUs"


def _floor_goal_text(threads: str) -> str:
    """The floor row's goal, as its detail says it: set at one thread, none for the diagnostic."""
    return "no goal" if threads == KEEP_MEMORY else _goal_text(FLOOR_GOAL, "1 thread")


def _faults_per_call(fn, calls: int = 5) -> float | None:
    """Minor page faults per call of ``fn`` (after one warm-up call), or None without
    :mod:`resource` (Windows).

    Why it is in the floor row: freshly allocated memory costs a page fault per page on first
    touch, and glibc hands large freed blocks back to the OS once more than its trim threshold
    is free at the top of the heap. The conv frees its two patch-sized temporaries (dU and the
    dY^T copy) with its output and cache at the end of every call, so in this tight loop it
    faults again every call while the floor's products reuse warm memory.
    """
    try:
        import resource
    except ImportError:
        return None
    fn()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls


def _faults_note(conv, floor) -> str:
    conv_faults, floor_faults = _faults_per_call(conv), _faults_per_call(floor)
    if conv_faults is None:
        return ""
    return f"; page faults per call: conv {conv_faults:.0f}, floor {floor_faults:.0f}"


def _conv_rows(shapes, rng, threads: str, torch) -> list:
    """For each shape: the conv against the GEMM floor and, with torch, against torch's conv2d
    forward+backward (float64), all in this process's thread setting ``threads``."""
    rows = []
    for shape in shapes:
        x, wt, dout = _conv_problem(shape, rng)
        conv, floor = _conv_timers(x, wt, dout)
        rows.append({"name": f"conv2d fwd+bwd / GEMM floor ({threads})", "shape": _label(shape),
                     "ratio": time_ratio(conv, floor),
                     "detail": f"{_floor_goal_text(threads)}{_threads_note(threads)}"
                               f"{_faults_note(conv, floor)}",
                     **({"goal": list(FLOOR_GOAL)} if threads == "1 thread" else {})})
        if torch is None:
            continue
        tx = torch.tensor(x, requires_grad=True)
        tw = torch.tensor(wt, requires_grad=True)
        tg = torch.tensor(dout)

        def torch_fb(tx=tx, tw=tw, tg=tg):
            y = torch.nn.functional.conv2d(tx, tw, padding=1)
            y.backward(tg)

        rows.append({"name": f"conv2d fwd+bwd: lmsbn / torch CPU ({threads})",
                     "shape": _label(shape), "ratio": time_ratio(conv, torch_fb),
                     "detail": f"float64, torch threads: {torch.get_num_threads()}; "
                               f"{_goal_text(TORCH_GOAL, 'default threads')}",
                     **({"goal": list(TORCH_GOAL)} if threads == "default threads" else {})})
    return rows


def thread_rows(shapes, seed: int, threads: str, with_torch: bool = True) -> list:
    """The rows measured at one thread setting: the conv against its GEMM floor and
    against torch; at ``"1 thread"`` also BatchNorm against torch. Call it in a process whose
    BLAS runs that setting (see :func:`_rows_at`). ``with_torch=False`` leaves torch out even
    when it is installed (importing it takes seconds)."""
    from lmsbn.nn import functional as F

    rng = np.random.default_rng(seed)
    torch = _torch(one_thread=threads == "1 thread") if with_torch else None
    rows = _conv_rows(shapes, rng, threads, torch)
    if torch is not None and threads == "1 thread":
        for shape in shapes:
            x, wt, _ = _conv_problem(shape, rng)
            out, _ = F.conv2d_forward(x, wt, pad=1)
            _torch_batchnorm(out, _label(shape), rows, rng, torch)
    return rows


def _child_env(threads: str) -> dict | None:
    """The environment of a child process running ``threads``, or None when this one does.

    One thread: every BLAS variable of :data:`ONE_THREAD_ENV` set to 1. Default threads: none of
    them set, so each library picks its own default (whatever this process was started with).
    :data:`KEEP_MEMORY`: one thread and :data:`KEEP_MEMORY_ENV`, always in a child (malloc reads
    its tunables when the process starts).
    """
    if threads == KEEP_MEMORY:
        return {**os.environ, **ONE_THREAD_ENV, **KEEP_MEMORY_ENV}
    pins = {k: os.environ.get(k) for k in ONE_THREAD_ENV}
    if threads == "1 thread":
        if pins == ONE_THREAD_ENV:
            return None
        return {**os.environ, **ONE_THREAD_ENV}
    if all(v is None for v in pins.values()):
        return None
    return {k: v for k, v in os.environ.items() if k not in ONE_THREAD_ENV}


def _rows_at(threads: str, shapes, seed: int, with_torch: bool = True) -> list:
    """:func:`thread_rows` at ``threads``: here when this process already runs that setting,
    otherwise in a child Python whose environment sets it (:func:`_child_env`).

    A child process because BLAS libraries fix their thread pool when they load; in this process
    NumPy's BLAS is already loaded. So one ``lmsbn bench`` reports both settings, whatever the
    environment it was started in.
    """
    env = _child_env(threads)
    if env is None:
        return thread_rows(shapes, seed, threads, with_torch)
    root = str(Path(__file__).resolve().parents[1])      # so a source checkout works uninstalled
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    code = ("import json, sys; from lmsbn.bench import thread_rows; "
            f"json.dump(thread_rows({[list(s) for s in shapes]!r}, {seed}, {threads!r}, "
            f"{with_torch!r}), sys.stdout)")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"the {threads} benchmark process failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def bench_conv(quick: bool, rows: list, rng: np.random.Generator):
    """conv2d against its GEMM floor, torch and its naive twin; BatchNorm on its output.

    Every floor and torch row is measured twice in the same run: with BLAS (and torch) on one
    thread and at their default thread counts, each in a process started with that setting.
    The one-thread ratio is the one with a goal: with a threaded BLAS the floor's products run
    on every core while im2col's copies and col2im's adds run on one, so the ratio grows with
    the core count instead of measuring the overhead. A third floor row per shape, without a
    goal, repeats the one-thread measurement with freed memory kept (:data:`KEEP_MEMORY`), to
    show what page faults cost.
    """
    from lmsbn.nn import functional as F

    shapes = CONV_SHAPES[:1] if quick else CONV_SHAPES
    for threads in THREADS:
        rows.extend(_rows_at(threads, shapes, int(rng.integers(2**32))))
    rows.extend(_rows_at(KEEP_MEMORY, shapes, int(rng.integers(2**32)), with_torch=False))
    for shape in shapes:
        x, wt, dout = _conv_problem(shape, rng)
        out, _ = F.conv2d_forward(x, wt, pad=1)
        bench_batchnorm(out, _conv_timers(x, wt, dout)[0], _label(shape), rows, rng)
    # Naive twins are slow by design: time them on a small shape only.
    x = rng.standard_normal((2, 3, 12, 12))
    wt = rng.standard_normal((4, 3, 3, 3))
    out, cache = F.conv2d_forward(x, wt, pad=1)
    dout = rng.standard_normal(out.shape)

    def naive():
        o, cch = F.conv2d_forward_naive(x, wt, pad=1)
        F.conv2d_backward_naive(dout, cch)

    def readable():
        o, cch = F.conv2d_forward(x, wt, pad=1)
        F.conv2d_backward(dout, cch)

    rows.append({"name": "conv2d fwd+bwd: naive / readable", "shape": "N=2 3->4 12x12",
                 "ratio": time_ratio(naive, readable, repeat=3),
                 "detail": "speedup of the vectorised path"})


def _bn_timer(x, rng):
    """lmsbn's BatchNorm forward+backward (training mode) on ``x``, and the ``dout`` it uses."""
    from lmsbn.nn import functional as F

    c = x.shape[1]
    gamma, beta = np.ones(c), np.zeros(c)
    dout = rng.standard_normal(x.shape)

    def bn_fb():
        state = F.BatchNormState.create(c)
        o, cch = F.batchnorm_forward(x, gamma, beta, state, train=True)
        F.batchnorm_backward(dout, cch)

    return bn_fb, dout


def bench_batchnorm(x, conv_fb, label, rows, rng):
    """BatchNorm forward+backward on a conv's output ``x``, against that conv."""
    bn_fb, _ = _bn_timer(x, rng)
    rows.append({"name": "batchnorm fwd+bwd / conv fwd+bwd", "shape": label,
                 "ratio": time_ratio(bn_fb, conv_fb), "detail": "on the conv's output"})


def _torch_batchnorm(x, label, rows, rng, torch):
    """BatchNorm forward+backward on ``x``: lmsbn against torch's ``batch_norm``."""
    bn_fb, dout = _bn_timer(x, rng)
    c = x.shape[1]
    tx = torch.tensor(x, requires_grad=True)
    tg = torch.ones(c, dtype=torch.float64, requires_grad=True)
    tb = torch.zeros(c, dtype=torch.float64, requires_grad=True)
    tdo = torch.tensor(dout)

    def torch_bn():
        rm, rv = torch.zeros(c, dtype=torch.float64), torch.ones(c, dtype=torch.float64)
        y = torch.nn.functional.batch_norm(tx, rm, rv, tg, tb, training=True)
        y.backward(tdo)

    rows.append({"name": "batchnorm fwd+bwd: lmsbn / torch CPU (1 thread)", "shape": label,
                 "ratio": time_ratio(bn_fb, torch_bn), "detail": "float64"})


def bench_train_step(quick: bool, rows: list, rng: np.random.Generator):
    """One SGD step of small_cnn with BatchNorm against one without."""
    from lmsbn.data import shapes
    from lmsbn.nn import SGD, small_cnn
    from lmsbn.nn import functional as F

    X, y = shapes(64, rng=rng)

    def make_step(norm):
        model = small_cnn(norm=norm, rng=0)
        opt = SGD(model.named_parameters(), lr=0.01)

        def step():
            out = model.forward(X, train=True)
            _, d = F.softmax_cross_entropy(out, y)
            model.backward(d)
            opt.step()

        return step

    rows.append({"name": "small_cnn train step: BN / no-BN", "shape": "N=64 3x16x16",
                 "ratio": time_ratio(make_step("full"), make_step("none"), repeat=5),
                 "detail": "cost of BatchNorm in a whole step"})


def bench_memory(quick: bool, rows: list, rng: np.random.Generator):
    """Peak memory of one conv forward+backward, in units of its patch matrix.

    NumPy reports its allocations to :mod:`tracemalloc`, so the peak is measured, not estimated.
    The conv holds two patch-sized arrays at its peak (U in the cache and the patch gradient dU)
    plus input/output-sized ones.
    """
    import tracemalloc

    from lmsbn.nn import functional as F

    n, c, f, h, w = CONV_SHAPES[1]
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((f, c, 3, 3))
    dout = rng.standard_normal((n, f, h, w))
    patch_bytes = n * h * w * c * 9 * 8
    tracemalloc.start()
    tracemalloc.reset_peak()
    out, cache = F.conv2d_forward(x, wt, pad=1)
    F.conv2d_backward(dout, cache)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del out, cache
    rows.append({"name": "conv2d fwd+bwd peak memory / one patch matrix",
                 "shape": f"N={n} {c}->{f} {h}x{w}", "ratio": peak / patch_bytes,
                 "detail": f"patch matrix {patch_bytes / 2**20:.0f} MiB"})


#: Realizations x samples x taps of the filter rows (the issue's size) and of ``--quick``.
FILTER_SHAPE, FILTER_SHAPE_QUICK = (200, 2000, 11), (50, 500, 11)


def padasip_style_loop(U, d, mu, eps=None):
    """padasip's ``FilterLMS.run`` / ``FilterNLMS.run`` loop, written here (padasip is no
    dependency).

    One realization after another, one sample at a time, keeping padasip's weight history. With
    ``eps`` it is NLMS. Returns the errors (R, T) and final weights (R, K) so that a test can
    check it computes what lmsbn's filters compute.
    """
    R, T, K = U.shape
    errors, finals = np.empty((R, T)), np.empty((R, K))
    for r in range(R):
        w, y, e, w_history = np.zeros(K), np.zeros(T), np.zeros(T), np.zeros((T, K))
        for n in range(T):
            w_history[n] = w
            y[n] = w @ U[r, n]
            e[n] = d[r, n] - y[n]
            step = mu if eps is None else mu / (eps + U[r, n] @ U[r, n])
            w = w + step * e[n] * U[r, n]
        errors[r], finals[r] = e, w
    return errors, finals


def _slow_ratio(num, den, repeat: int = 3) -> float:
    """Median of time(num) / time(den), one call of each per round: for calls of a second or
    more, where :func:`time_ratio`'s calibration would only repeat them."""
    den()  # warm-up of the fast side; the slow side is long enough to warm up by itself
    return float(np.median([_once(num, 1) / _once(den, 1) for _ in range(repeat)]))


def bench_filters(quick: bool, rows: list, rng: np.random.Generator):
    """The vectorised ensemble against per-sample loops over the same realizations.

    * padasip-style loop / lmsbn ensemble: :func:`padasip_style_loop` (what a filter library
      that works one realization at a time does) against ``run`` with its default recording
      (the full weight history, like padasip's);
    * one-by-one / vectorised: lmsbn's own ``run`` called once per realization;
    * padasip itself, when it happens to be installed.
    """
    from lmsbn.filters import LMS, NLMS

    runs, T, K = FILTER_SHAPE_QUICK if quick else FILTER_SHAPE
    U = rng.standard_normal((runs, T, K))
    d = U @ rng.standard_normal(K) + 0.01 * rng.standard_normal((runs, T))
    shape = f"{runs} runs x {T} x {K} taps"
    try:
        import padasip
    except ImportError:
        padasip = None
    for cls, mu, eps in ((LMS, 0.01, None), (NLMS, 0.5, 1e-8)):
        make = partial(LMS, K, mu) if eps is None else partial(NLMS, K, mu, eps)

        def ensemble(make=make):
            make().run(U, d)

        def one_by_one(make=make):
            for r in range(runs):
                make().run(U[r], d[r])

        rows.append({"name": f"{cls.__name__} ensemble: padasip-style loop / lmsbn run",
                     "shape": shape,
                     "ratio": _slow_ratio(partial(padasip_style_loop, U, d, mu, eps), ensemble),
                     "detail": f"default record='full'; {_goal_text(ENSEMBLE_GOAL)}, stretch 20",
                     "goal": list(ENSEMBLE_GOAL)})
        rows.append({"name": f"{cls.__name__} ensemble: one-by-one / vectorised", "shape": shape,
                     "ratio": _slow_ratio(one_by_one, ensemble),
                     "detail": "the same lmsbn run per realization"})
        if padasip is None:
            continue
        pa_cls = padasip.filters.FilterLMS if eps is None else padasip.filters.FilterNLMS

        def padasip_run(pa_cls=pa_cls, mu=mu):
            for r in range(runs):
                pa_cls(n=K, mu=mu, w="zeros").run(d[r], U[r])

        rows.append({"name": f"{cls.__name__}: padasip one-by-one / lmsbn run", "shape": shape,
                     "ratio": _slow_ratio(padasip_run, ensemble),
                     "detail": "padasip happened to be installed; default record='full'"})


def bench_tracker(quick: bool, rows: list, rng: np.random.Generator):
    """Training time of small_cnn with a default ModeTracker against without it."""
    from lmsbn.bridge import ModeTracker
    from lmsbn.data import shapes
    from lmsbn.nn import small_cnn
    from lmsbn.train import train

    X, y = shapes(512, rng=rng)
    steps = 40 if quick else 100

    def plain():
        train(small_cnn(rng=0), X, y, steps=steps, lr=0.05, rng=0)

    def tracked():
        train(small_cnn(rng=0), X, y, steps=steps, lr=0.05, rng=0, callbacks=[ModeTracker(rng=0)])

    rows.append({"name": "small_cnn training: with ModeTracker / without",
                 "shape": f"{steps} steps, N=64",
                 "ratio": time_ratio(tracked, plain, repeat=5, min_time=0),
                 "detail": f"default interval; {_goal_text(TRACKER_GOAL)}",
                 "goal": list(TRACKER_GOAL)})


def bench_papers(quick: bool, rows: list, rng: np.random.Generator):
    """Cost of one Fisher-information matrix-vector product (Wei et al.) in training steps."""
    from lmsbn.data import shapes
    from lmsbn.experiments.wei.fisher import fim_matvec
    from lmsbn.nn import SGD, small_cnn
    from lmsbn.nn import functional as F

    X, y = shapes(32, rng=rng)
    model = small_cnn(widths=(8, 16), rng=0)
    opt = SGD(model.named_parameters(), lr=1e-6)
    v = rng.standard_normal(model.num_parameters())

    def step():
        out = model.forward(X, train=True)
        model.backward(F.softmax_cross_entropy(out, y)[1])
        opt.step()

    rows.append({"name": "FIM power-iteration step / training step",
                 "shape": "small_cnn (8,16), N=32",
                 "ratio": time_ratio(lambda: fim_matvec(model, X, v), step, repeat=5),
                 "detail": "one I v product of fim_lambda_max"})

    # Ergen et al.: the convex program at the size the issue names, against one FISTA iteration's
    # worth of work (a matrix product of the same data), so the row reads "iterations to solve".
    from lmsbn.experiments.ergen import convex_program

    n, d, P = (60, 20, 100) if quick else (200, 50, 500)
    Xc = rng.standard_normal((n, d))
    yc = rng.standard_normal(n)
    t0 = time.perf_counter()
    res = convex_program(Xc, yc, 0.1, arrangements=P, rng=0, tol=1e-3)
    seconds = time.perf_counter() - t0
    rows.append({"name": "Ergen convex program: iterations to tol 1e-3",
                 "shape": f"n={n} d={d} P={P}",
                 "ratio": float(res.iterations), "unit": " iters",
                 "detail": f"converged={res.converged}; {seconds:.1f} s in this run"})


BENCHES = {"conv": bench_conv, "memory": bench_memory, "train": bench_train_step,
           "tracker": bench_tracker, "filters": bench_filters, "papers": bench_papers}


def run(*, quick: bool = False, only=None, rng=0) -> dict:
    """Run the benchmarks; return ``{"rows": [...], "machine": {...}}``."""
    from lmsbn._checks import as_generator

    rng = as_generator(rng)
    rows: list[dict] = []
    for name, fn in BENCHES.items():
        if only and name not in only:
            continue
        fn(quick, rows, rng)
    machine = {"python": platform.python_version(), "numpy": np.__version__,
               "processor": platform.machine(), "cpus": os.cpu_count(),
               "blas_thread_env": {k: os.environ.get(k) for k in ONE_THREAD_ENV},
               "quick": quick}
    return {"rows": rows, "machine": machine}


def format_rows(rows) -> str:
    """The rows as an aligned text table."""
    w = max(len(r["name"]) for r in rows)
    s = max(len(r["shape"]) for r in rows)
    return "\n".join(f"{r['name']:<{w}}  {r['shape']:<{s}}  {r['ratio']:8.2f}{r.get('unit', 'x')}  "
                     f"{r.get('detail', '')}" for r in rows)


def main(argv=None) -> int:
    """Entry point of ``lmsbn bench``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="lmsbn bench", description=__doc__.split("\n")[0])
    parser.add_argument("--json", metavar="PATH", help="also write the rows to this JSON file")
    parser.add_argument("--quick", action="store_true", help="fewer shapes, for a smoke run")
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHES), help="run only these groups")
    args = parser.parse_args(argv)
    if args.json and not Path(args.json).resolve().parent.is_dir():
        # Checked before the benchmark runs, not after minutes of timing.
        print(f"lmsbn bench: --json must be in an existing folder, got {args.json!r}",
              file=sys.stderr)
        return 2
    result = run(quick=args.quick, only=args.only)
    result["goals"] = goal_verdict(result["rows"])
    print(format_rows(result["rows"]))
    print(result["goals"])
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
