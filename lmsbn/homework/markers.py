r"""The solution markers of an assignment, and the student source they leave behind.

Markers are recognised the way nbgrader recognises them: **any line containing** the text
``BEGIN SOLUTION``, ``END SOLUTION``, ``BEGIN HIDDEN TESTS`` or ``END HIDDEN TESTS`` is a marker
line, in code, markdown and raw cells alike. :func:`student_source` replaces a solution in code by
:data:`STUB`, a written answer in markdown by :data:`ANSWER_PROMPT`, and deletes hidden tests;
:func:`find_leaks` checks that nothing of a solution or hidden test survived. How the versions of
a notebook are written from these is :mod:`lmsbn.homework.assignments`.
"""

from __future__ import annotations

import re

__all__ = ["ANSWER_PROMPT", "STUB", "AssignmentError", "AssignmentWarning", "find_leaks",
           "student_source"]

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
