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
  (:mod:`lmsbn.autograders`, where the question annotations are described).

All versions have their outputs cleared. The conversion to ``.ipynb`` uses jupytext when it is
installed, else the built-in percent-format reader of :mod:`lmsbn.notebooks` (needs only
``nbformat``), else raises an :class:`ImportError` naming the ``notebooks`` extra. An output
path ending in ``.py`` writes the transformed percent-format script instead (needs jupytext;
student and teacher versions only).
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import warnings
from pathlib import Path

__all__ = ["AssignmentError", "AssignmentWarning", "VERSIONS", "find_leaks", "main",
           "make_version", "read_assignment", "student_source", "write_assignment"]

VERSIONS = ("student", "teacher", "nbgrader", "otter")

_EXTRA_HINT = 'install the notebooks extra: pip install "lmsbn[notebooks]" (jupytext)'
# nbgrader's rule is `delimiter in line`; a run of blanks between the words is accepted as well,
# so that a marker typed with two spaces is not silently shipped to students.
_MARK = re.compile(r"(?P<what>BEGIN|END)[ \t]+(?P<kind>SOLUTION|HIDDEN[ \t]+TESTS)")
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
ANSWER_PROMPT = "_Type your answer here._"
# The comment syntax around a marker on a markdown line (`<!--`, `-->`, `#`), dropped with it.
_MD_OPEN = re.compile(r"(?:<!--|#)[#\s]*$")
_MD_CLOSE = re.compile(r"^[#\s]*(?:-->)?")


class AssignmentError(ValueError):
    """The solution markers of an assignment are unbalanced or misplaced, or a student version
    would still contain part of a solution or a hidden test."""


class AssignmentWarning(UserWarning):
    """An assignment source has no solution marker at all: its student version hides nothing."""


def _kind(match) -> str:
    return "SOLUTION" if match.group("kind") == "SOLUTION" else "HIDDEN TESTS"


def _split(source: str, *, markdown: bool, where: str):
    """The student text of one cell, the lines it hides, and how many markers it has.

    Returns ``(student_lines, secret_lines, public_lines, n_markers)``: ``secret_lines`` are the
    stripped lines (and inline fragments) inside solution and hidden-test blocks,
    ``public_lines`` the stripped lines outside them (marker lines excluded).
    """
    out, secrets, public = [], [], []
    open_kind, open_line, n_markers = None, 0, 0
    for lineno, line in enumerate(source.splitlines(), start=1):
        marks = list(_MARK.finditer(line))
        if not marks:
            if open_kind is None:
                out.append(line)
                public.append(line.strip())
            else:
                secrets.append(line.strip())
            continue
        n_markers += len(marks)
        # Markdown keeps the text before the first marker (if outside a block) and after the
        # last one (if the line closes its block); a code line is replaced entirely, as nbgrader
        # does, and a new block leaves the stub in its place.
        pieces, stub, pos = [], False, 0
        for m in marks:
            what, kind = m.group("what"), _kind(m)
            text = line[pos:m.start()]
            if open_kind is None:
                if pos:                 # after an END marker on this line: drop its `-->`
                    text = _MD_CLOSE.sub("", text)
                pieces.append(_MD_OPEN.sub("", text) if markdown else "")
            elif text.strip():
                secrets.append(_MD_CLOSE.sub("", _MD_OPEN.sub("", text)).strip())
            if what == "BEGIN":
                if open_kind is not None:
                    raise AssignmentError(f"{where}, line {lineno}: BEGIN {kind} inside the BEGIN "
                                          f"{open_kind} block opened on line {open_line}")
                open_kind, open_line = kind, lineno
                if kind == "SOLUTION":
                    stub = True
                    pieces.append(ANSWER_PROMPT if markdown else "")
            else:
                if open_kind != kind:
                    raise AssignmentError(f"{where}, line {lineno}: END {kind} without a matching "
                                          f"BEGIN {kind}")
                open_kind = None
            pos = m.end()
        if open_kind is None:
            rest = line[pos:]
            pieces.append(_MD_CLOSE.sub("", rest) if markdown else "")
        elif line[pos:].strip():
            secrets.append(_MD_CLOSE.sub("", line[pos:]).strip())
        if markdown:
            text = " ".join(p.strip() for p in pieces if p.strip())
            if text:
                out.append(text)
        elif stub:
            indent = re.match(r"[ \t]*", line).group(0)
            out.extend(indent + s for s in STUB)
    if open_kind is not None:
        raise AssignmentError(f"{where}, line {open_line}: BEGIN {open_kind} is never closed by "
                              f"END {open_kind}")
    return out, [s for s in secrets if s], [p for p in public if p], n_markers


def student_source(source: str, *, markdown: bool = False, where: str = "cell") -> str:
    """The student version of one cell's source.

    Parameters
    ----------
    source : str
        The cell's text.
    markdown : bool, default False
        Treat it as a markdown (or raw) cell: answers become :data:`ANSWER_PROMPT`, rather than
        code, whose solutions become :data:`STUB`. Hidden tests disappear in both.
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
    return "\n".join(_split(source, markdown=markdown, where=where)[0])


def _cell_name(i: int, cell) -> str:
    return f"cell {i} ({cell.cell_type})"


def _secrets(nb) -> tuple[set, int]:
    """The stripped lines of ``nb`` that only its solution and hidden-test blocks contain."""
    secrets, public, n_markers = set(), set(), 0
    for i, cell in enumerate(nb.cells, start=1):
        _, sec, pub, n = _split(cell.source, markdown=cell.cell_type != "code",
                                where=_cell_name(i, cell))
        secrets.update(sec)
        public.update(pub)
        n_markers += n
    # A line that the student may see anyway (`else:`, `return x`) is not a secret; nor are the
    # stubs and prompts that replace the blocks.
    return secrets - public - set(STUB) - {ANSWER_PROMPT}, n_markers


def find_leaks(teacher, student) -> list[str]:
    """What a student notebook still holds of the teacher notebook's solutions and hidden tests.

    Parameters
    ----------
    teacher : nbformat.NotebookNode
        The full notebook, markers included (e.g. from :func:`read_assignment`).
    student : nbformat.NotebookNode
        Any notebook meant for students: lmsbn's student version, nbgrader's release version,
        otter-grader's student notebook.

    Returns
    -------
    list of str
        One entry per offending line, ``"cell 7 (code), line 3: <the line>"``: a line containing
        marker text (``BEGIN SOLUTION``, ``END SOLUTION``, ``BEGIN HIDDEN TESTS``, ...), or a line
        equal to a secret line of ``teacher`` (a line inside a solution or hidden-test block
        that occurs nowhere outside them), or containing one of at least 12 characters. Empty
        when nothing leaks.
    """
    secrets, _ = _secrets(teacher)
    long = [s for s in secrets if len(s) >= 12]
    leaks = []
    for i, cell in enumerate(student.cells, start=1):
        for lineno, line in enumerate(cell.source.splitlines(), start=1):
            text = line.strip()
            if (_MARK.search(line) or text in secrets
                    or any(s in text for s in long)):
                leaks.append(f"{_cell_name(i, cell)}, line {lineno}: {text}")
    return leaks


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
        (:func:`lmsbn.autograders.to_nbgrader`, :func:`lmsbn.autograders.to_otter`).
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
        from . import autograders

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
