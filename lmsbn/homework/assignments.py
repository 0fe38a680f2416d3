r"""``lmsbn assignment``: student, teacher and autograder notebooks from one annotated source.

An assignment is a jupytext percent-format script, ``tutorials/hw_*.py``. Inside the functions
students must write, the solution sits between two marker lines::

    def im2col(x, kh, kw, stride=1, pad=0):
        N, C, H, W = x.shape
        # BEGIN SOLUTION
        ...the teacher's code...
        # END SOLUTION
        return cols

Markers are recognised the way nbgrader recognises them: **any line containing** the text
``BEGIN SOLUTION``, ``END SOLUTION``, ``BEGIN HIDDEN TESTS`` or ``END HIDDEN TESTS`` is a marker
line, in code, markdown and raw cells alike (``### BEGIN SOLUTION ###``,
``# BEGIN SOLUTION  (teacher only)`` and ``<!-- BEGIN SOLUTION -->`` all count; so does the text
inside a string, which is why the checks never spell it).

* ``lmsbn assignment teacher SRC -o OUT.ipynb`` writes the full notebook, markers kept.
* ``lmsbn assignment student SRC -o OUT.ipynb`` replaces each solution block in a code cell by

  .. code-block:: python

        # YOUR CODE HERE
        raise NotImplementedError()

  indented like its ``BEGIN SOLUTION`` line (the whole marker line goes, as in nbgrader), so the
  function stays valid Python and fails loudly -- at the first check cell that calls it -- until
  it is written. Blocks between ``BEGIN HIDDEN TESTS`` and ``END HIDDEN TESTS`` (the
  ``hidden=True`` checks) are deleted. In markdown and raw cells a written answer becomes
  :data:`ANSWER_PROMPT`; text before the ``BEGIN`` marker and after the ``END`` marker on the
  same line is kept, so ``Answer: <!-- BEGIN SOLUTION --> 42 <!-- END SOLUTION -->`` becomes
  ``Answer: _Type your answer here._``.

  The student notebook is then **verified**: if any marker text, or any line of a solution or a
  hidden test (a line that occurs nowhere else in the source), survives anywhere in it,
  nothing is written and :class:`AssignmentError` names the cell and the line. A source without
  any marker gives an :class:`AssignmentWarning` (its "student version" is the full notebook).
* ``lmsbn assignment nbgrader SRC -o OUT.ipynb`` and ``lmsbn assignment otter SRC -o OUT.ipynb``
  write the teacher notebook in the form nbgrader and otter-grader need
  (:mod:`lmsbn.homework.autograders`, where the question annotations are described).

All versions have their outputs cleared. The conversion to ``.ipynb`` uses jupytext when it is
installed, else the built-in percent-format reader of :mod:`lmsbn.homework.notebooks` (needs only
``nbformat``), else raises an :class:`ImportError` naming the ``notebooks`` extra. An output
path ending in ``.py`` writes the transformed percent-format script instead (needs jupytext;
student and teacher versions only).
"""

from __future__ import annotations

import argparse
import copy
import sys
import warnings
from pathlib import Path

from lmsbn.homework.markers import (  # noqa: F401  (ANSWER_PROMPT, STUB: what a student sees)
    ANSWER_PROMPT,
    STUB,
    AssignmentError,
    AssignmentWarning,
    _cell_name,
    _secrets,
    find_leaks,
    student_source,
)

__all__ = ["AssignmentError", "AssignmentWarning", "VERSIONS", "find_leaks", "main",
           "make_version", "read_assignment", "student_source", "write_assignment"]

VERSIONS = ("student", "teacher", "nbgrader", "otter")

_EXTRA_HINT = 'install the notebooks extra: pip install "lmsbn[notebooks]" (jupytext)'


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
        from lmsbn.homework.percent import read_percent
        return read_percent(text)
    except ImportError as exc:
        raise ImportError(f"writing an assignment notebook needs jupytext or nbformat: "
                          f"{_EXTRA_HINT}") from exc


def _clear_outputs(nb) -> None:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None


def make_version(nb, version: str = "student", *, name: str | None = None):
    """A copy of the assignment notebook ``nb`` in the given version, outputs cleared.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        From :func:`read_assignment` (not modified).
    version : {"student", "teacher", "nbgrader", "otter"}, default "student"
        ``"nbgrader"`` and ``"otter"`` are the teacher notebook in each tool's format
        (:func:`lmsbn.homework.autograders.to_nbgrader`,
        :func:`lmsbn.homework.autograders.to_otter`).
    name : str, optional
        The assignment's name (otter's ``name:``); default ``"assignment"``.

    Returns
    -------
    nbformat.NotebookNode
        With ``metadata["lmsbn"] = {"assignment_version": version}``.

    Raises
    ------
    AssignmentError
        Unbalanced markers (every version), or a student version that would still show marker
        text or a line of a solution or hidden test (see :func:`find_leaks`).

    Warns
    -----
    AssignmentWarning
        When ``nb`` has no marker at all.
    """
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")
    # Validates every cell's markers in every version, so broken markers are caught early.
    _, n_markers = _secrets(nb)
    if n_markers == 0:
        warnings.warn("the assignment has no BEGIN SOLUTION / BEGIN HIDDEN TESTS marker: its "
                      "student version would be the full notebook", AssignmentWarning,
                      stacklevel=2)
    if version in ("nbgrader", "otter"):
        from lmsbn.homework import autograders

        out = (autograders.to_nbgrader(nb) if version == "nbgrader"
               else autograders.to_otter(nb, name=name or "assignment"))
    else:
        out = copy.deepcopy(nb)
        if version == "student":
            for i, cell in enumerate(out.cells, start=1):
                cell.source = student_source(cell.source, markdown=cell.cell_type != "code",
                                             where=_cell_name(i, cell))
            leaks = find_leaks(nb, out)
            if leaks:
                raise AssignmentError("the student version would still contain solution or "
                                      "hidden-test text; nothing written:\n  "
                                      + "\n  ".join(leaks[:10]))
    _clear_outputs(out)
    out.metadata["lmsbn"] = {"assignment_version": version}
    return out


def write_assignment(src, out=None, *, version: str = "student") -> Path:
    """Write the student, teacher, nbgrader or otter version of the assignment ``src``.

    Parameters
    ----------
    src : str or Path
        The percent-format assignment script.
    out : str or Path, optional
        ``.ipynb`` (a notebook) or, for the student and teacher versions, ``.py`` (a
        percent-format script, needs jupytext). Default: ``<src stem>_<version>.ipynb`` in the
        current directory.
    version : {"student", "teacher", "nbgrader", "otter"}, default "student"

    Returns
    -------
    Path
        The file written (atomically: a failure never leaves half a file).
    """
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")
    src = Path(src)
    out = Path(f"{src.stem}_{version}.ipynb") if out is None else Path(out)
    suffixes = (".ipynb", ".py") if version in ("student", "teacher") else (".ipynb",)
    if out.suffix not in suffixes:
        raise ValueError(f"out must end in {' or '.join(suffixes)} for the {version} version, "
                         f"got {str(out)!r}")
    if out.resolve() == src.resolve():
        raise ValueError(f"out must differ from SRC, got {str(out)!r} for both")
    nb = make_version(read_assignment(src), version, name=src.stem)
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
    """``lmsbn assignment {student,teacher,nbgrader,otter} SRC [-o OUT]``; the exit status."""
    parser = argparse.ArgumentParser(
        prog="lmsbn assignment",
        description="Write a tutorials/hw_*.py assignment as a notebook: the student version "
                    "(solutions replaced by `raise NotImplementedError`, hidden tests removed), "
                    "the teacher version, or the teacher notebook in nbgrader's or "
                    "otter-grader's format (feed it to `nbgrader generate_assignment` or "
                    "`otter assign`).")
    parser.add_argument("version", choices=VERSIONS)
    parser.add_argument("src", help="the assignment script (jupytext percent format)")
    parser.add_argument("-o", "--out", default=None,
                        help="output .ipynb (or .py for student/teacher; default: "
                             "<stem>_<version>.ipynb)")
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", AssignmentWarning)
            warnings.showwarning = _show_warning
            path = write_assignment(args.src, args.out, version=args.version)
    except (FileNotFoundError, ImportError, AssignmentError, ValueError) as exc:
        print(f"lmsbn assignment: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"lmsbn assignment: warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
