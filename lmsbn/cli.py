"""The ``lmsbn`` command.

==========================  ========================================================================
``lmsbn tour``              the headline experiments: figures, ``report.html`` and ``summary.json``
``lmsbn sweep chai|wei``    a learning-rate sweep, serially, on a process pool (``--workers N``) or
                            on a dask.distributed cluster (``--scheduler ADDRESS``): result file
                            (``.npz``) and figure (``.png``)
``lmsbn bench``             speed and memory ratios measured in one run (:mod:`lmsbn.bench`)
``lmsbn notebooks [DIR]``   turn the tutorials in DIR (jupytext ``.py``) into ``.ipynb`` notebooks;
                            ``--html PAGES`` also runs them and writes HTML pages
``lmsbn assignment ...``    a homework notebook: student, teacher, nbgrader or otter version
==========================  ========================================================================

``lmsbn --version`` prints the version; ``python -m lmsbn ...`` is the same command.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

__all__ = ["main"]


def _tour(args) -> int:
    from lmsbn.tour import run_tour

    data, path = "shapes", None
    if args.data:
        data = args.data[0]
        if len(args.data) > 2:
            print("lmsbn tour: --data takes a dataset name and an optional PATH", file=sys.stderr)
            return 2
        path = args.data[1] if len(args.data) == 2 else None
    try:
        run_tour(args.out, quick=args.quick, seed=args.seed, data=data, data_path=path)
    except (ValueError, OSError) as exc:      # OSError: missing files, a network failure, ...
        print(f"lmsbn tour: {exc}", file=sys.stderr)
        if isinstance(exc, FileNotFoundError) and data in ("mnist", "fashion_mnist", "cifar10"):
            print(f"lmsbn tour: from the command line, give the folder as `lmsbn tour --data "
                  f"{data} PATH`, or fetch the files first with `python -c \"import lmsbn.data "
                  f"as d; d.download('{data}')\"`", file=sys.stderr)
        return 2
    return 0


#: ``lmsbn sweep`` experiments: (file stem of the outputs, figure title).
_SWEEPS = {
    "chai": ("chai_lr_sweep", "learning rate x normalisation (Chai et al.)"),
    "wei": ("wei_gamma_lr_sweep", "learning rate x BatchNorm gamma (Wei et al.)"),
}


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}") from None


def _names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _run_sweep_experiment(args, executor):
    """The chosen sweep with the command's sizes; ``executor`` None means ``--workers``."""
    jobs = {"executor": executor} if executor is not None else {"n_jobs": args.workers}
    if args.experiment == "chai":
        from lmsbn.experiments.chai import lr_sweep

        kw = {k: v for k, v in (("lrs", args.lrs), ("norms", args.norms), ("steps", args.steps))
              if v is not None}
        return lr_sweep(quick=args.quick, seeds=(args.seed,), rng=args.seed,
                        progress=args.progress, **kw, **jobs)
    if args.norms is not None:
        raise ValueError("--norms is for the chai sweep; the wei sweep varies --gammas")
    from lmsbn.experiments.wei import gamma_lr_sweep

    kw = {"gammas": (0.5, 1.0, 2.0), "lrs": (0.03, 0.3, 3.0, 30.0), "steps": 20, "n": 128,
          "widths": (4, 8), "fim_iters": 10} if args.quick else {}
    kw.update({k: v for k, v in (("lrs", args.lrs), ("gammas", args.gammas),
                                 ("steps", args.steps)) if v is not None})
    return gamma_lr_sweep(rng=args.seed, **kw, **jobs)


def _sweep(args) -> int:
    """``lmsbn sweep``: run, save the result (.npz) and its figure (.png), print the summary."""
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "cairo"):
        matplotlib.use("Agg")  # writes files only; never open a window
    stem, title = _SWEEPS[args.experiment]
    if args.gammas is not None and args.experiment != "wei":
        print("lmsbn sweep: --gammas is for the wei sweep", file=sys.stderr)
        return 2
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"lmsbn sweep: --out must be a folder, got the file {str(out)!r}", file=sys.stderr)
        return 2
    client = None
    if args.scheduler is not None:
        try:
            from dask.distributed import Client
        except ImportError:
            print('lmsbn sweep: --scheduler needs dask.distributed: pip install '
                  '"lmsbn[distributed]"', file=sys.stderr)
            return 2
        try:
            client = Client(args.scheduler, timeout=args.connect_timeout)
        except OSError as exc:       # nothing listening there, or it timed out
            print(f"lmsbn sweep: cannot reach the dask scheduler at {args.scheduler!r}: {exc}",
                  file=sys.stderr)
            return 2
    t0 = time.perf_counter()
    try:
        result = _run_sweep_experiment(args, client.get_executor() if client else None)
    except (ValueError, TypeError, RuntimeError) as exc:
        print(f"lmsbn sweep: {exc}", file=sys.stderr)
        return 2
    finally:
        if client is not None:
            client.close()       # the connection only: the cluster belongs to whoever started it
    seconds = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    path = result.save(out / stem)
    fig = _sweep_figure(args.experiment, result)
    fig.suptitle(f"{title}, seed {args.seed}{', quick' if args.quick else ''}", fontsize="medium")
    png = out / f"{stem}.png"
    fig.savefig(png, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    where = (f"dask scheduler {args.scheduler}" if args.scheduler else
             f"{args.workers} worker processes" if args.workers > 1 else "serially")
    print(result.summary())
    print(f"{path}\n{png}")
    print(f"lmsbn sweep: {args.experiment} ran {where} in {seconds:.1f} s", file=sys.stderr)
    return 0


def _sweep_figure(experiment, result):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    if experiment == "chai":
        from lmsbn.plot import plot_lr_sweep

        plot_lr_sweep(result, ax=ax)
    else:
        from lmsbn.plot import plot_gamma_lr_map

        plot_gamma_lr_map(result, ax=ax)
    return fig


def _delegate(module: str, rest) -> int:
    """Hand the remaining arguments to ``lmsbn.<module>.main`` (each owns its own options)."""
    return importlib.import_module(f"lmsbn.{module}").main(rest)


def main(argv=None) -> int:
    """Entry point of the ``lmsbn`` command; returns the exit code."""
    from lmsbn._version import __version__

    parser = argparse.ArgumentParser(prog="lmsbn", description="Why BatchNorm works, seen "
                                     "through classical adaptive-filter theory.")
    parser.add_argument("--version", action="version", version=f"lmsbn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("tour", help="the headline experiments, as a report with figures")
    p.add_argument("--out", default="lmsbn-tour", help="output folder (default: lmsbn-tour)")
    p.add_argument("--quick", action="store_true", help="smaller runs: a smoke test")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", nargs="+", metavar=("NAME", "PATH"),
                   help="shapes (default), mnist, fashion_mnist, cifar10 or npz, and where the "
                        "files are")
    p = sub.add_parser("sweep", help="a learning-rate sweep, on a process pool or a dask cluster",
                       description="Run a sweep and write OUT/<name>.npz (the result, "
                       "loadable with its class's load) and OUT/<name>.png (its figure).")
    p.add_argument("experiment", choices=sorted(_SWEEPS),
                   help="chai: learning rate x normalisation (lmsbn.experiments.chai.lr_sweep); "
                        "wei: learning rate x BatchNorm gamma (lmsbn.experiments.wei."
                        "gamma_lr_sweep)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=1, metavar="N",
                       help="run on a local pool of N processes (default 1: serially)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on a dask.distributed cluster, e.g. tcp://host:8786 "
                            "(needs the [distributed] extra)")
    p.add_argument("--quick", action="store_true", help="a small grid: a smoke test")
    p.add_argument("--seed", type=int, default=0, help="seed of data, initialisation, batches")
    p.add_argument("--out", default="lmsbn-sweep", help="output folder (default: lmsbn-sweep)")
    p.add_argument("--lrs", type=_floats, help="learning rates, e.g. 0.01,0.1,1")
    p.add_argument("--norms", type=_names, help="chai: normalisations, e.g. none,full,amplify")
    p.add_argument("--gammas", type=_floats, help="wei: BatchNorm gammas, e.g. 0.5,1,2")
    p.add_argument("--steps", type=int, help="SGD steps per point")
    p.add_argument("--progress", action="store_true", help="chai: show progress on stderr")
    p.add_argument("--connect-timeout", default="30s", help=argparse.SUPPRESS)
    for name, module, text in (
            ("bench", "bench", "speed and memory ratios"),
            ("notebooks", "homework.notebooks", "tutorials to .ipynb"),
            ("assignment", "homework.assignments", "homework notebooks, 4 versions")):
        # These parse their own options (``--help`` included), so everything after the
        # command name is handed over untouched.
        q = sub.add_parser(name, help=text, add_help=False)
        q.set_defaults(module=module)
    args, rest = parser.parse_known_args(argv)
    if args.command in ("tour", "sweep"):
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        if args.command == "sweep":
            if args.workers < 1:
                parser.error(f"--workers must be at least 1, got {args.workers}")
            return _sweep(args)
        return _tour(args)
    return _delegate(args.module, rest)


if __name__ == "__main__":
    raise SystemExit(main())
