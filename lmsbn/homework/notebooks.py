r"""``lmsbn notebooks [DIR]``: turn the tutorials' ``.py`` sources into Jupyter notebooks.

With ``--html OUT`` the notebooks are also executed and written to ``OUT`` as self-contained HTML
pages (figures embedded), which a student reads in any browser without Jupyter (:func:`to_html`).

The tutorials are kept as jupytext *percent-format* Python files: they diff cleanly, run as plain
scripts, and step through in a debugger. Notebooks are generated from them (and are not kept
in git). The conversion uses, in order of preference:

1. ``jupytext`` when it is installed (``pip install "lmsbn[notebooks]"``): the reference reader;
2. otherwise a small built-in reader of the percent format that needs only ``nbformat``;
3. otherwise an :class:`ImportError` that names the ``notebooks`` extra.

The built-in reader is :mod:`lmsbn.homework.percent`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from lmsbn.homework.percent import _KERNELSPEC, read_percent

__all__ = ["convert", "convert_dir", "main", "read_percent", "to_html"]


def _backend(backend: str) -> str:
    if backend not in ("auto", "jupytext", "builtin"):
        raise ValueError(f"backend must be 'auto', 'jupytext' or 'builtin', got {backend!r}")
    try:
        importlib.import_module("jupytext")
    except ImportError as exc:
        if backend == "jupytext":
            raise ImportError('backend=\'jupytext\' needs jupytext: pip install "lmsbn[notebooks]" '
                              '(or use the built-in reader: --backend builtin, needs nbformat)'
                              ) from exc
        return "builtin"
    return "jupytext" if backend == "auto" else backend


def convert(src, dst=None, *, backend: str = "auto") -> Path:
    """Convert one percent-format tutorial to a notebook.

    Parameters
    ----------
    src : str or Path
        A ``.py`` file in jupytext percent format.
    dst : str or Path, optional
        Where to write the ``.ipynb``; default: beside ``src`` with the suffix changed.
    backend : {"auto", "jupytext", "builtin"}, default "auto"
        ``"auto"`` uses jupytext if it is importable, else the built-in reader (needs nbformat).

    Returns
    -------
    Path
        The notebook written.
    """
    src = Path(src)
    if not src.is_file():
        raise FileNotFoundError(f"src must be an existing .py file, got {str(src)!r}")
    dst = src.with_suffix(".ipynb") if dst is None else Path(dst)
    text = src.read_text(encoding="utf-8")
    if _backend(backend) == "jupytext":
        import jupytext

        nb = jupytext.reads(text, fmt="py:percent")
        nb.metadata.setdefault("kernelspec", dict(_KERNELSPEC))
    else:
        nb = read_percent(text)
    import nbformat

    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    nbformat.write(nb, str(tmp))
    tmp.replace(dst)  # atomic: a half-written notebook never replaces a good one
    return dst


def convert_dir(directory="tutorials", out=None, *, pattern: str = "*.py",
                backend: str = "auto", homework: str = "skip") -> list[Path]:
    """Convert every ``pattern`` file of ``directory`` (sorted by name); return the notebooks.

    ``out`` (default: ``directory``) receives ``<stem>.ipynb`` for each source.

    Homework scripts (``hw_*.py``) hold their solutions and hidden tests, so they are never
    converted as they are: ``homework="skip"`` (default) leaves them out, ``"student"`` or
    ``"teacher"`` writes that version through :func:`lmsbn.homework.assignments.write_assignment`.
    """
    if homework not in ("skip", "student", "teacher"):
        raise ValueError(f"homework must be 'skip', 'student' or 'teacher', got {homework!r}")
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"directory must be a folder of tutorials, got {str(directory)!r}; run from the "
            f"project checkout or pass the tutorials folder")
    sources = sorted(p for p in directory.glob(pattern) if p.is_file())
    if not sources:
        raise FileNotFoundError(f"no {pattern} files in {str(directory)!r}")
    out = directory if out is None else Path(out)
    written = []
    for src in sources:
        if not src.name.startswith("hw_"):
            written.append(convert(src, out / (src.stem + ".ipynb"), backend=backend))
        elif homework != "skip":
            from lmsbn.homework.assignments import write_assignment

            written.append(write_assignment(src, out / (src.stem + ".ipynb"), version=homework))
    return written


def to_html(notebooks, out, *, cwd=None, timeout: int = 600, allow_errors=()) -> list[Path]:
    """Execute notebooks and write each as a self-contained HTML page, readable without Jupyter.

    Parameters
    ----------
    notebooks : sequence of str or Path
        ``.ipynb`` files (e.g. from :func:`convert_dir`).
    out : str or Path
        Folder that receives ``<stem>.html`` for each notebook (created if needed).
    cwd : str or Path, optional
        Working directory of the kernel (default: each notebook's folder).
    timeout : int, default 600
        Seconds allowed per cell.
    allow_errors : collection of str, default ()
        Notebook stems whose cells may raise (a student homework's stubs do, by design); any
        other notebook stops at its first error.

    Returns
    -------
    list of Path
        The pages written. Figures are embedded in them (base64), so each page is one file.

    Raises
    ------
    RuntimeError
        A cell of a notebook not in ``allow_errors`` failed (the message holds its traceback).

    Notes
    -----
    Needs nbclient, ipykernel and nbconvert (``pip install "lmsbn[notebooks]"``). The kernel is
    this Python's own (ipykernel's native ``python3`` spec), so it sees the installed lmsbn.
    """
    try:
        import nbclient
        import nbformat
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager
        from nbconvert import HTMLExporter
    except ImportError as exc:
        raise ImportError(f"--html needs nbconvert, nbclient and ipykernel ({exc}): "
                          'pip install "lmsbn[notebooks]"') from exc
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(embed_images=True)   # markdown images inlined too: one file per page
    written = []
    for path in map(Path, notebooks):
        nb = nbformat.read(str(path), as_version=4)
        # Only ipykernel's native spec (this interpreter), never another python3 on the machine.
        ksm = KernelSpecManager(kernel_dirs=[])
        km = KernelManager(kernel_name="python3", kernel_spec_manager=ksm)
        run_in = Path(cwd) if cwd is not None else path.parent
        client = nbclient.NotebookClient(nb, km=km, kernel_name="python3", timeout=timeout,
                                         allow_errors=path.stem in allow_errors,
                                         resources={"metadata": {"path": str(run_in)}})
        try:
            client.execute()
        except nbclient.exceptions.CellExecutionError as exc:
            raise RuntimeError(f"{path.name}: a cell failed while executing:\n{exc}") from None
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
        dst = out / (path.stem + ".html")
        tmp = dst.with_name(dst.name + ".tmp")
        tmp.write_text(body, encoding="utf-8")
        tmp.replace(dst)
        written.append(dst)
    return written


def main(argv=None) -> int:
    """``lmsbn notebooks [DIR] [--out OUT] [--pattern GLOB] [--backend ...] [--html HTML]``."""
    parser = argparse.ArgumentParser(
        prog="lmsbn notebooks",
        description="Convert the tutorials (jupytext percent-format .py files) to .ipynb.")
    parser.add_argument("directory", nargs="?", default="tutorials",
                        help="folder of tutorial .py files (default: ./tutorials)")
    parser.add_argument("--out", default=None, help="where to write the notebooks (default: DIR)")
    parser.add_argument("--pattern", default="*.py", help="which files (default: *.py)")
    parser.add_argument("--backend", default="auto", choices=("auto", "jupytext", "builtin"))
    parser.add_argument("--homework", default="skip", choices=("skip", "student", "teacher"),
                        help="hw_*.py assignments: leave them out (default, they hold the "
                             "solutions), or write their student or teacher version")
    parser.add_argument("--html", metavar="HTML", default=None,
                        help="also execute the notebooks and write them to this folder as "
                             "self-contained HTML pages, readable in a browser without Jupyter "
                             "(needs nbconvert: the [notebooks] extra)")
    parser.add_argument("--timeout", type=int, default=600,
                        help="with --html: seconds allowed per cell (default 600)")
    args = parser.parse_args(argv)
    try:
        written = convert_dir(args.directory, args.out, pattern=args.pattern,
                              backend=args.backend, homework=args.homework)
        if written and args.html is not None:
            # The kernel runs in DIR, as a student running the lessons there would.
            pages = to_html(written, args.html, cwd=args.directory, timeout=args.timeout,
                            allow_errors={p.stem for p in written if p.stem.startswith("hw_")
                                          and args.homework == "student"})
    except (OSError, ImportError, ValueError, RuntimeError) as exc:
        print(f"lmsbn notebooks: {exc}", file=sys.stderr)
        return 1
    if not written:
        print(f"lmsbn notebooks: nothing to write (only homework matched {args.pattern!r}; "
              f"see --homework)", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    print(f"{len(written)} notebook(s) written; open them with `jupyter lab {written[0].parent}`",
          file=sys.stderr)
    if args.html is not None:
        for page in pages:
            print(page)
        print(f"{len(pages)} HTML page(s) written to {args.html}; open them in any browser",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
