r"""``lmsbn assignment``: student and teacher notebooks from one annotated source.

An assignment is a jupytext percent-format script, ``tutorials/hw_*.py``. Inside the functions
students must write, the solution sits between two marker lines (a single ``#`` is enough, the
form nbgrader and otter-grader both accept)::

    def im2col(x, kh, kw, stride=1, pad=0):
        N, C, H, W = x.shape
        # BEGIN SOLUTION
        ...the teacher's code...
        # END SOLUTION
        return cols

* ``lmsbn assignment teacher SRC -o OUT.ipynb`` writes the full notebook (markers kept, so the
  file can also be fed to nbgrader or otter-assign).
* ``lmsbn assignment student SRC -o OUT.ipynb`` replaces each solution block by

  .. code-block:: python

        # YOUR CODE HERE
        raise NotImplementedError()

  indented like its ``# BEGIN SOLUTION`` line, so the function stays valid Python and fails
  loudly -- at the first check cell that calls it -- until it is written. Blocks between
  ``# BEGIN HIDDEN TESTS`` and ``# END HIDDEN TESTS`` (the ``hidden=True`` checks) are deleted.
  In markdown cells a written answer between ``BEGIN SOLUTION`` and ``END SOLUTION`` lines
  (bare, as ``# ...`` or as an HTML comment ``<!-- BEGIN SOLUTION -->``) becomes a prompt.

Both versions have their outputs cleared. The conversion to ``.ipynb`` uses jupytext when it is
installed, else the built-in percent-format reader of :mod:`lmsbn.notebooks` (needs only
``nbformat``), else raises an :class:`ImportError` naming the ``notebooks`` extra. An output
path ending in ``.py`` writes the transformed percent-format script instead (needs jupytext).
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

__all__ = ["AssignmentError", "VERSIONS", "main", "make_version", "read_assignment",
           "student_source", "write_assignment"]

VERSIONS = ("student", "teacher")

_EXTRA_HINT = 'install the notebooks extra: pip install "lmsbn[notebooks]" (jupytext)'
_CODE_MARK = re.compile(r"^(?P<indent>[ \t]*)#+[ \t]*(?P<what>BEGIN|END)[ \t]+"
                        r"(?P<kind>SOLUTION|HIDDEN TESTS)[ \t]*$")
_MD_MARK = re.compile(r"^[ \t]*(?:<!--[ \t]*)?(?:#+[ \t]*)?(?P<what>BEGIN|END)[ \t]+"
                      r"(?P<kind>SOLUTION)[ \t]*(?:-->)?[ \t]*$")
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
ANSWER_PROMPT = "_Type your answer here._"


class AssignmentError(ValueError):
    """The solution markers of an assignment are unbalanced or misplaced."""


def student_source(source: str, *, markdown: bool = False, where: str = "cell") -> str:
    """The student version of one cell's source.

    Parameters
    ----------
    source : str
        The cell's text.
    markdown : bool, default False
        Treat it as a markdown cell (answers become :data:`ANSWER_PROMPT`) rather than code
        (solutions become :data:`STUB`, hidden tests disappear).
    where : str
        How to name the cell in error messages.

    Returns
    -------
    str

    Raises
    ------
    AssignmentError
        A ``BEGIN`` without its ``END`` (or the reverse), or nested blocks; the message names
        ``where`` and the line.
    """
    if not isinstance(source, str):
        raise TypeError(f"source must be a str, got {type(source).__name__}")
    marker = _MD_MARK if markdown else _CODE_MARK
    out, open_kind, open_line = [], None, 0
    for lineno, line in enumerate(source.splitlines(), start=1):
        m = marker.match(line)
        if m is None:
            if open_kind is None:
                out.append(line)
            continue
        what, kind = m.group("what"), m.group("kind")
        if what == "BEGIN":
            if open_kind is not None:
                raise AssignmentError(f"{where}, line {lineno}: BEGIN {kind} inside the BEGIN "
                                      f"{open_kind} block opened on line {open_line}")
            open_kind, open_line = kind, lineno
            if markdown:
                out.append(ANSWER_PROMPT)
            elif kind == "SOLUTION":
                out.extend(m.group("indent") + stub for stub in STUB)
        else:
            if open_kind != kind:
                raise AssignmentError(f"{where}, line {lineno}: END {kind} without a matching "
                                      f"BEGIN {kind}")
            open_kind = None
    if open_kind is not None:
        raise AssignmentError(f"{where}, line {open_line}: BEGIN {open_kind} is never closed by "
                              f"END {open_kind}")
    return "\n".join(out)


def read_assignment(src):
    """Read a percent-format assignment script into a notebook (jupytext, else nbformat).

    Parameters
    ----------
    src : str or Path
        The ``hw_*.py`` file.

    Returns
    -------
    nbformat.NotebookNode
    """
    src = Path(src)
    if not src.is_file():
        raise FileNotFoundError(f"SRC must be an existing assignment .py file, got {str(src)!r}")
    text = src.read_text(encoding="utf-8")
    try:
        import jupytext
    except ImportError:
        jupytext = None
    if jupytext is not None:
        nb = jupytext.reads(text, fmt="py:percent")
        nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3",
                                              "language": "python"})
        return nb
    try:
        from .notebooks import read_percent
        return read_percent(text)
    except ImportError as exc:
        raise ImportError(f"writing an assignment notebook needs jupytext or nbformat: "
                          f"{_EXTRA_HINT}") from exc


def make_version(nb, version: str = "student"):
    """A copy of the assignment notebook ``nb`` in the given version, outputs cleared.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        From :func:`read_assignment` (not modified).
    version : {"student", "teacher"}, default "student"

    Returns
    -------
    nbformat.NotebookNode
        With ``metadata["lmsbn"] = {"assignment_version": version}``.
    """
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")
    nb = copy.deepcopy(nb)
    for i, cell in enumerate(nb.cells, start=1):
        if cell.cell_type not in ("code", "markdown"):
            continue
        # Validate in both versions, so a teacher notebook with broken markers is caught early.
        student = student_source(cell.source, markdown=cell.cell_type == "markdown",
                                 where=f"cell {i}")
        if version == "student":
            cell.source = student
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata["lmsbn"] = {"assignment_version": version}
    return nb


def write_assignment(src, out=None, *, version: str = "student") -> Path:
    """Write the student or teacher version of the assignment ``src``.

    Parameters
    ----------
    src : str or Path
        The percent-format assignment script.
    out : str or Path, optional
        ``.ipynb`` (a notebook) or ``.py`` (a percent-format script, needs jupytext). Default:
        ``<src stem>_<version>.ipynb`` in the current directory.
    version : {"student", "teacher"}, default "student"

    Returns
    -------
    Path
        The file written (atomically: a failure never leaves half a file).
    """
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")
    src = Path(src)
    out = Path(f"{src.stem}_{version}.ipynb") if out is None else Path(out)
    if out.suffix not in (".ipynb", ".py"):
        raise ValueError(f"out must end in .ipynb or .py, got {str(out)!r}")
    if out.resolve() == src.resolve():
        raise ValueError(f"out must differ from SRC, got {str(out)!r} for both")
    nb = make_version(read_assignment(src), version)
    if out.suffix == ".py":
        try:
            import jupytext
        except ImportError as exc:
            raise ImportError(f"writing a .py assignment needs jupytext: {_EXTRA_HINT}") from exc
        text = jupytext.writes(nb, fmt="py:percent")
    else:
        import nbformat

        text = nbformat.writes(nb)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    tmp.replace(out)
    return out


def main(argv=None) -> int:
    """``lmsbn assignment {student,teacher} SRC [-o OUT]``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="lmsbn assignment",
        description="Write the student version (solutions replaced by `raise "
                    "NotImplementedError`) or the teacher version of a tutorials/hw_*.py "
                    "assignment.")
    parser.add_argument("version", choices=VERSIONS)
    parser.add_argument("src", help="the assignment script (jupytext percent format)")
    parser.add_argument("-o", "--out", default=None,
                        help="output .ipynb or .py (default: <stem>_<version>.ipynb)")
    args = parser.parse_args(argv)
    try:
        path = write_assignment(args.src, args.out, version=args.version)
    except (FileNotFoundError, ImportError, AssignmentError, ValueError) as exc:
        print(f"lmsbn assignment: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
