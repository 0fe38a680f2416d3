"""``lmsbn bench``: every speed and memory figure of the project, as ratios measured in one run.

Absolute times on a shared machine are noise; a ratio of two things timed back to back on the
same shapes is not. So each row here is a *ratio* against a floor or a peer:

* ``conv2d / GEMM floor``: conv forward+backward against the three matrix products it must do
  (``U W^T``, ``dY^T U``, ``dY W``) timed alone on the same shapes. What remains is im2col/col2im
  overhead.
* ``naive / fast``: how much the vectorised path saves over its loop twin.
* ``batchnorm / conv``: BatchNorm forward+backward against the conv that precedes it.
* ``torch / lmsbn``: PyTorch's CPU time on the same shapes and dtype, when torch is importable
  (never a dependency).
* ``ensemble``: filters run as one broadcast ensemble against the same realizations one by one.

Run ``lmsbn bench`` or ``python -m lmsbn.bench --json out.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable

import numpy as np

__all__ = ["CONV_SHAPES", "main", "run", "time_call"]

#: (N, C_in, C_out, H, W) of the tutorials' conv layers plus a larger one; all 3x3, pad 1.
CONV_SHAPES = ((64, 3, 16, 32, 32), (64, 16, 32, 32, 32), (64, 32, 64, 16, 16))


def time_call(fn: Callable[[], object], *, repeat: int = 7, min_time: float = 0.02) -> float:
    """Median seconds per call of ``fn`` over ``repeat`` timings of enough calls to last ``min_time``."""
    fn()  # warm-up: first-touch allocations and caches
    n, t = 1, 0.0
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        t = time.perf_counter() - t0
        if t >= min_time or n >= 1 << 12:
            break
        n *= 2
    samples = [t / n]
    for _ in range(repeat - 1):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t0) / n)
    return float(np.median(samples))


def _torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


def bench_conv(quick: bool, rows: list, rng: np.random.Generator):
    from .nn import functional as F

    torch = _torch()
    shapes = CONV_SHAPES[:1] if quick else CONV_SHAPES
    for (n, c, f, h, w) in shapes:
        x = rng.standard_normal((n, c, h, w))
        wt = rng.standard_normal((f, c, 3, 3))
        out, cache = F.conv2d_forward(x, wt, pad=1)
        dout = rng.standard_normal(out.shape)
        U = F.im2col2d(x, 3, 3, pad=1)
        W2 = wt.reshape(f, -1)
        dY = np.ascontiguousarray(dout.transpose(0, 2, 3, 1).reshape(-1, f))

        def gemm_floor():
            U @ W2.T
            dY.T @ U
            dY @ W2

        def conv_fb():
            o, cch = F.conv2d_forward(x, wt, pad=1)
            F.conv2d_backward(dout, cch)

        t_floor, t_conv = time_call(gemm_floor), time_call(conv_fb)
        label = f"N={n} {c}->{f} {h}x{w}"
        rows.append({"name": "conv2d fwd+bwd / GEMM floor", "shape": label, "ratio": t_conv / t_floor,
                     "detail": "target <= 1.5 (float64)"})
        if torch is not None:
            tx = torch.tensor(x, requires_grad=True)
            tw = torch.tensor(wt, requires_grad=True)
            tg = torch.tensor(dout)

            def torch_fb():
                y = torch.nn.functional.conv2d(tx, tw, padding=1)
                y.backward(tg)

            rows.append({"name": "conv2d fwd+bwd: lmsbn / torch CPU (1 thread)", "shape": label,
                         "ratio": t_conv / time_call(torch_fb), "detail": "float64"})
        bench_batchnorm(out, t_conv, label, rows, rng, torch)
    # Naive twins are slow by design: time them on a small shape only.
    x = rng.standard_normal((2, 3, 12, 12))
    wt = rng.standard_normal((4, 3, 3, 3))
    out, cache = F.conv2d_forward(x, wt, pad=1)
    dout = rng.standard_normal(out.shape)

    def naive():
        o, cch = F.conv2d_forward_naive(x, wt, pad=1)
        F.conv2d_backward_naive(dout, cch)

    def fast():
        o, cch = F.conv2d_forward(x, wt, pad=1)
        F.conv2d_backward(dout, cch)

    rows.append({"name": "conv2d fwd+bwd: naive / fast", "shape": "N=2 3->4 12x12",
                 "ratio": time_call(naive, repeat=3) / time_call(fast), "detail": "speedup of the fast path"})


def bench_batchnorm(x, t_conv, label, rows, rng, torch):
    from .nn import functional as F

    c = x.shape[1]
    gamma, beta = np.ones(c), np.zeros(c)
    dout = rng.standard_normal(x.shape)

    def bn_fb():
        state = F.BatchNormState.create(c)
        o, cch = F.batchnorm_forward(x, gamma, beta, state, train=True)
        F.batchnorm_backward(dout, cch)

    t_bn = time_call(bn_fb)
    rows.append({"name": "batchnorm fwd+bwd / conv fwd+bwd", "shape": label, "ratio": t_bn / t_conv,
                 "detail": "on the conv's output"})
    if torch is not None:
        tx = torch.tensor(x, requires_grad=True)
        tg, tb = torch.ones(c, dtype=torch.float64, requires_grad=True), torch.zeros(c, dtype=torch.float64, requires_grad=True)
        tdo = torch.tensor(dout)

        def torch_bn():
            rm, rv = torch.zeros(c, dtype=torch.float64), torch.ones(c, dtype=torch.float64)
            y = torch.nn.functional.batch_norm(tx, rm, rv, tg, tb, training=True)
            y.backward(tdo)

        rows.append({"name": "batchnorm fwd+bwd: lmsbn / torch CPU (1 thread)", "shape": label,
                     "ratio": t_bn / time_call(torch_bn), "detail": "float64"})


def bench_train_step(quick: bool, rows: list, rng: np.random.Generator):
    from .data import shapes
    from .nn import SGD, functional as F, small_cnn

    X, y = shapes(64, rng=rng)
    t = {}
    for norm in ("none", "full"):
        model = small_cnn(norm=norm, rng=0)
        opt = SGD(model.named_parameters(), lr=0.01)

        def step():
            out = model.forward(X, train=True)
            _, d = F.softmax_cross_entropy(out, y)
            model.backward(d)
            opt.step()

        t[norm] = time_call(step, repeat=5)
    rows.append({"name": "small_cnn train step: BN / no-BN", "shape": "N=64 3x16x16",
                 "ratio": t["full"] / t["none"], "detail": "cost of BatchNorm in a whole step"})
    return t


BENCHES = {"conv": bench_conv, "train": bench_train_step}


def run(*, quick: bool = False, only=None, rng=0) -> dict:
    """Run the benchmarks; return ``{"rows": [...], "machine": {...}}``."""
    from ._checks import as_generator

    rng = as_generator(rng)
    rows: list[dict] = []
    for name, fn in BENCHES.items():
        if only and name not in only:
            continue
        fn(quick, rows, rng)
    return {"rows": rows, "machine": {"python": platform.python_version(), "numpy": np.__version__,
                                      "processor": platform.machine(), "quick": quick}}


def format_rows(rows) -> str:
    w = max(len(r["name"]) for r in rows)
    s = max(len(r["shape"]) for r in rows)
    return "\n".join(f"{r['name']:<{w}}  {r['shape']:<{s}}  {r['ratio']:8.2f}x  {r.get('detail', '')}"
                     for r in rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="lmsbn bench", description=__doc__.split("\n")[0])
    parser.add_argument("--json", metavar="PATH", help="also write the rows to this JSON file")
    parser.add_argument("--quick", action="store_true", help="fewer shapes, for a smoke run")
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHES), help="run only these groups")
    args = parser.parse_args(argv)
    result = run(quick=args.quick, only=args.only)
    print(format_rows(result["rows"]))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
