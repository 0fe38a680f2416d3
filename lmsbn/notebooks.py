r"""``lmsbn notebooks [DIR]``: turn the tutorials' ``.py`` sources into Jupyter notebooks.

The tutorials are kept as jupytext *percent-format* Python files: they diff cleanly, run as plain
scripts, and step through in a debugger. Notebooks are generated from them (and are not kept
in git). The conversion uses, in order of preference:

1. ``jupytext`` when it is installed (``pip install "lmsbn[notebooks]"``): the reference reader;
2. otherwise a small built-in reader of the percent format that needs only ``nbformat``;
3. otherwise an :class:`ImportError` that names the ``notebooks`` extra.

The percent format, as far as the built-in reader needs it
----------------------------------------------------------
* An optional header of comment lines between ``# ---`` and ``# ---`` (jupytext's YAML metadata);
  it is dropped, because the notebook metadata is rebuilt (kernel ``python3``).
* A line starting ``# %%`` opens a cell. ``# %% [markdown]`` opens a markdown cell, whose lines
  lose their leading ``# ``. Options after the marker are ``key=value`` pairs with JSON values,
  e.g. ``# %% tags=["parameters"]``; they become the cell's metadata.
* Blank lines at the start and end of a cell are dropped.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from pathlib import Path

__all__ = ["convert", "convert_dir", "main", "read_percent"]

_EXTRA_HINT = ('install jupytext (pip install "lmsbn[notebooks]") or at least nbformat '
               '(pip install nbformat)')
_CELL = re.compile(r"^# %%(?P<rest>.*)$")
_KIND = re.compile(r"\[(markdown|md|raw)\]")
_KEY = re.compile(r"(\w+)=")
_KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def _parse_options(text: str) -> dict:
    """``key=<json> key2=<json>`` -> dict; anything that is not such a pair is a cell title."""
    meta, pos, decoder = {}, 0, json.JSONDecoder()
    while (m := _KEY.search(text, pos)) is not None:
        try:
            value, end = decoder.raw_decode(text, m.end())
        except json.JSONDecodeError:
            pos = m.end()
            continue
        meta[m.group(1)] = value
        pos = end
    return meta


def _strip_blank(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def _uncomment(line: str) -> str:
    """A markdown line of the percent format: ``# text`` -> ``text``, ``#`` -> ``""``."""
    if line.startswith("# "):
        return line[2:]
    return line[1:] if line.startswith("#") else line


def read_percent(text: str):
    """Parse a percent-format script into a notebook with the built-in reader.

    Parameters
    ----------
    text : str
        The content of a jupytext percent-format ``.py`` file.

    Returns
    -------
    nbformat.NotebookNode
        A version-4 notebook, kernel ``python3``.

    Raises
    ------
    ImportError
        If ``nbformat`` is not installed (names the ``notebooks`` extra).
    """
    try:
        import nbformat.v4 as v4
    except ImportError as exc:
        raise ImportError(f"lmsbn notebooks needs nbformat: {_EXTRA_HINT}") from exc
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    lines = text.splitlines()
    # The YAML header is a block of comment lines fenced by "# ---" at the top of the file.
    if lines and lines[0].strip() == "# ---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "# ---"), None)
        if end is not None:
            lines = lines[end + 1:]
    cells, kind, meta, body = [], "code", {}, []

    def flush():
        source = _strip_blank(body)
        if kind == "markdown":
            source = [_uncomment(line) for line in source]
        if not source and kind == "code" and not meta:
            return  # the code before the first marker, if it is only blank lines
        make = {"code": v4.new_code_cell, "markdown": v4.new_markdown_cell,
                "raw": v4.new_raw_cell}[kind]
        cells.append(make("\n".join(source), metadata=dict(meta)))

    for line in lines:
        m = _CELL.match(line)
        if m is None:
            body.append(line)
            continue
        flush()
        rest = m.group("rest")
        k = _KIND.search(rest)
        kind = {"md": "markdown"}.get(k.group(1), k.group(1)) if k else "code"
        meta = _parse_options(rest[k.end():] if k else rest)
        body = []
    flush()
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = dict(_KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    return nb


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
    ``"teacher"`` writes that version through :func:`lmsbn.assignments.write_assignment`.
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
            from .assignments import write_assignment

            written.append(write_assignment(src, out / (src.stem + ".ipynb"), version=homework))
    return written


def main(argv=None) -> int:
    """``lmsbn notebooks [DIR] [--out OUT] [--pattern GLOB] [--backend ...]``."""
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
    args = parser.parse_args(argv)
    try:
        written = convert_dir(args.directory, args.out, pattern=args.pattern,
                              backend=args.backend, homework=args.homework)
    except (OSError, ImportError, ValueError) as exc:
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
