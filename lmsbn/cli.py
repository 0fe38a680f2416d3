"""The ``lmsbn`` command.

==========================  ========================================================================
``lmsbn tour``              the headline experiments: figures, ``report.html`` and ``summary.json``
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

__all__ = ["main"]


def _tour(args) -> int:
    from .tour import run_tour

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


def _delegate(module: str, rest) -> int:
    """Hand the remaining arguments to ``lmsbn.<module>.main`` (each owns its own options)."""
    return importlib.import_module(f"lmsbn.{module}").main(rest)


def main(argv=None) -> int:
    """Entry point of the ``lmsbn`` command; returns the exit code."""
    from . import __version__

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
    for name, module, text in (("bench", "bench", "speed and memory ratios"),
                               ("notebooks", "notebooks", "tutorials to .ipynb"),
                               ("assignment", "assignments", "homework notebooks, 4 versions")):
        # These parse their own options (``--help`` included), so everything after the
        # command name is handed over untouched.
        q = sub.add_parser(name, help=text, add_help=False)
        q.set_defaults(module=module)
    args, rest = parser.parse_known_args(argv)
    if args.command == "tour":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return _tour(args)
    return _delegate(args.module, rest)


if __name__ == "__main__":
    raise SystemExit(main())
