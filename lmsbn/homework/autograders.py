r"""The teacher notebook of an assignment in the form nbgrader and otter-grader need.

Both tools are fed from the same ``tutorials/hw_*.py`` source as lmsbn's own student and teacher
versions (:mod:`lmsbn.homework.assignments`). What the source adds for them is where each question
starts and what it is worth, written as cell options in the percent format (jupytext and lmsbn's
built-in reader both turn them into cell metadata)::

    # %% [markdown] question="lms_step" points=5
    # ## Exercise 1 -- one LMS step
    # ...the instructions...

    # %%
    def lms_step(w, u, d, mu):
        # BEGIN SOLUTION
        ...
        # END SOLUTION
        return w_next, e

    # %%
    print(check_lms_step(lms_step))
    # BEGIN HIDDEN TESTS
    print(check_lms_step(lms_step, hidden=True))
    # END HIDDEN TESTS

    # %% [markdown] question="min_norm" points=2 manual=true
    # ## Question
    # ...the question...
    #
    # <!-- BEGIN SOLUTION -->
    # ...the model answer, graded by hand...
    # <!-- END SOLUTION -->

The rules:

* A **question** is the markdown cell carrying ``question="<name>"`` (a Python identifier,
  unique in the notebook) and ``points=<number>``, plus every cell after it up to the next
  markdown cell.
* In an auto-graded question, the code cells with a solution block come first (the student's
  part); the code cells after them are its **test cells**: visible checks, and hidden ones
  between ``BEGIN HIDDEN TESTS`` and ``END HIDDEN TESTS``.
* A ``manual=true`` question is one markdown cell: the prompt, then the model answer between
  ``BEGIN SOLUTION`` and ``END SOLUTION`` lines. It is graded by hand.
* Solution blocks and hidden tests outside a question are an error for both tools (nothing
  would grade them).

nbgrader (0.9) -- :func:`to_nbgrader`
    Solution cells get ``{solution: true, grade: false, locked: false}``, test cells
    ``{grade: true, locked: true, points}`` (the question's points split equally over its test
    cells; the hidden block stays inside its test cell, which is what makes ``nbgrader
    autograde`` restore it), the written answer becomes its own markdown cell
    ``{solution: true, grade: true, points}``; every cell carries a ``grade_id`` and
    ``schema_version: 3``. ``nbgrader generate_assignment`` then writes the release version and
    ``nbgrader autograde`` scores submissions.

otter-grader (7) -- :func:`to_otter`
    An ``# ASSIGNMENT CONFIG`` raw cell first; each question inside ``# BEGIN QUESTION`` /
    ``# END QUESTION`` raw cells, its solution cells inside ``# BEGIN SOLUTION`` /
    ``# END SOLUTION`` raw cells (the inline markers stay too: with the raw cells alone otter
    ships the whole cell), its tests inside ``# BEGIN TESTS`` / ``# END TESTS``, one test cell
    per visible check cell and one ``# HIDDEN`` cell per hidden block (``# HIDDEN`` applies to a
    whole cell). Otter compares a test's output with the solution's, so in test cells a
    statement ``print(x)`` becomes ``_ = (x)`` and a bare expression ``x`` becomes ``_ = x``:
    a passing check prints nothing, a failing one raises. ``manual: true`` questions get their
    answer as a markdown cell between raw solution delimiters. Otter splits a question's points
    equally over its test cases. ``otter assign`` then writes the student notebook and the
    autograder, ``otter run`` scores submissions.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
import re

from lmsbn.homework.markers import AssignmentError

__all__ = ["Question", "questions", "to_nbgrader", "to_otter"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclasses.dataclass(frozen=True)
class Question:
    """One question of an assignment notebook (cell indices count from 0).

    Attributes
    ----------
    name : str
    points : float
    manual : bool
        Graded by hand (a written answer).
    header : int
        The markdown cell that opens it.
    solutions : tuple of int
        Code cells with a solution block.
    tests : tuple of int
        Code cells after them (visible and hidden checks).
    """

    name: str
    points: float
    manual: bool
    header: int
    solutions: tuple
    tests: tuple


def _has_solution(cell) -> bool:
    return any(re.search(r"BEGIN[ \t]+SOLUTION", line) for line in cell.source.splitlines())


def _has_marker(cell) -> bool:
    return any(re.search(r"(BEGIN|END)[ \t]+(SOLUTION|HIDDEN[ \t]+TESTS)", line)
               for line in cell.source.splitlines())


def questions(nb) -> list[Question]:
    """The questions of an assignment notebook, validated.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        From :func:`lmsbn.homework.assignments.read_assignment`.

    Returns
    -------
    list of Question

    Raises
    ------
    AssignmentError
        A bad name or points, a duplicate name, a question without solution or tests, a test
        cell before the solution, or a marker outside any question; the message names the cell.
    """
    found, seen, owner = [], set(), {}
    headers = [i for i, c in enumerate(nb.cells) if "question" in c.metadata]
    for i in headers:
        cell, where = nb.cells[i], f"cell {i + 1}"
        meta = cell.metadata
        name, points = meta.get("question"), meta.get("points")
        manual = meta.get("manual", False)
        if cell.cell_type != "markdown":
            raise AssignmentError(f"{where}: question={name!r} must sit on a markdown cell (the "
                                  f"question's instructions), got a {cell.cell_type} cell")
        if not isinstance(name, str) or not _NAME.match(name):
            raise AssignmentError(f"{where}: question must be a name made of letters, digits "
                                  f"and underscores, got {name!r}")
        if name in seen:
            raise AssignmentError(f"{where}: question name {name!r} is used twice")
        seen.add(name)
        if isinstance(points, bool) or not isinstance(points, (int, float)) or not points > 0:
            raise AssignmentError(f"{where}: question {name!r} needs points=<a positive number>,"
                                  f" got {points!r}")
        if not isinstance(manual, bool):
            raise AssignmentError(f"{where}: manual must be true or false, got {manual!r}")
        end = next((j for j in range(i + 1, len(nb.cells))
                    if nb.cells[j].cell_type == "markdown"), len(nb.cells))
        body = list(range(i + 1, end))
        for j in [i] + body:
            owner[j] = name
        if manual:
            if body or not _has_solution(cell):
                raise AssignmentError(f"{where}: manual question {name!r} must be one markdown "
                                      f"cell holding its answer between BEGIN SOLUTION and END "
                                      f"SOLUTION lines")
            found.append(Question(name, float(points), True, i, (), ()))
            continue
        if _has_marker(cell):
            raise AssignmentError(f"{where}: question {name!r} has markers in its instructions; "
                                  f"only a manual=true question holds an answer there")
        code = [j for j in body if nb.cells[j].cell_type == "code"]
        sols = [j for j in code if _has_solution(nb.cells[j])]
        tests = [j for j in code if j not in sols]
        if not sols or not tests:
            raise AssignmentError(f"{where}: question {name!r} needs a code cell with a solution "
                                  f"block followed by at least one test cell, before the next "
                                  f"markdown cell")
        if max(sols) > min(tests):
            raise AssignmentError(f"cell {min(tests) + 1}: in question {name!r} the test cells "
                                  f"must come after the solution cells")
        found.append(Question(name, float(points), False, i, tuple(sols), tuple(tests)))
    for j, cell in enumerate(nb.cells):
        if j not in owner and _has_marker(cell):
            raise AssignmentError(f"cell {j + 1}: solution or hidden-test markers outside any "
                                  f"question; open a question with a markdown cell carrying "
                                  f"question=\"<name>\" points=<n>")
    if not found:
        raise AssignmentError("the assignment has no question: mark each exercise's markdown "
                              "cell with question=\"<name>\" points=<n>")
    return found


def _answer_split(source: str, where: str) -> tuple[str, str]:
    """A manual question's cell -> (the prompt, the answer with its marker lines removed)."""
    lines = source.splitlines()
    begin = next(k for k, line in enumerate(lines) if re.search(r"BEGIN[ \t]+SOLUTION", line))
    end = next((k for k in range(begin + 1, len(lines))
                if re.search(r"END[ \t]+SOLUTION", lines[k])), None)
    if end is None or end != len(lines) - 1:
        raise AssignmentError(f"{where}: the answer of a manual question must be the end of its "
                              f"cell, from a BEGIN SOLUTION line to an END SOLUTION line")
    prompt = "\n".join(lines[:begin]).rstrip()
    return prompt, "\n".join(lines[begin + 1:end]).strip()


def _clean(cell):
    """A copy of ``cell`` without lmsbn's question options and outputs."""
    cell = copy.deepcopy(cell)
    for key in ("question", "points", "manual"):
        cell.metadata.pop(key, None)
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    return cell


def _nbgrader_meta(cell, grade_id, *, solution=False, grade=False, locked=False, points=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution}
    if grade:
        meta["points"] = points
    cell.metadata["nbgrader"] = meta
    return cell


def to_nbgrader(nb):
    """The teacher notebook with nbgrader's cell metadata (see the module docstring).

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The assignment, markers included (not modified).

    Returns
    -------
    nbformat.NotebookNode
        Ready for ``nbgrader generate_assignment`` (place it in ``source/<assignment>/``).
    """
    import nbformat.v4 as v4

    qs = {q.header: q for q in questions(nb)}
    by_cell = {}
    for q in qs.values():
        for k, j in enumerate(q.solutions):
            by_cell[j] = ("solution", q, k)
        for k, j in enumerate(q.tests):
            by_cell[j] = ("tests", q, k)
    cells = []
    for i, cell in enumerate(nb.cells):
        cell = _clean(cell)
        if i in qs and qs[i].manual:
            q = qs[i]
            prompt, answer = _answer_split(nb.cells[i].source, f"cell {i + 1}")
            cells.append(_nbgrader_meta(v4.new_markdown_cell(prompt), f"{q.name}_prompt",
                                        locked=True))
            # The markers stay: nbgrader replaces the region between them by its answer prompt.
            text = f"<!-- BEGIN SOLUTION -->\n{answer}\n<!-- END SOLUTION -->"
            cells.append(_nbgrader_meta(v4.new_markdown_cell(text), q.name, solution=True,
                                        grade=True, points=q.points))
            continue
        if i in by_cell:
            role, q, k = by_cell[i]
            if role == "solution":
                _nbgrader_meta(cell, f"{q.name}_solution_{k + 1}", solution=True)
            else:
                _nbgrader_meta(cell, f"{q.name}_tests_{k + 1}", grade=True, locked=True,
                               points=q.points / len(q.tests))
        cells.append(cell)
    out = copy.deepcopy(nb)
    out.cells = cells
    return out


def _silence(source: str, where: str) -> str:
    """Test code whose top-level expressions print nothing: ``print(x)`` -> ``_ = (x)``."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise AssignmentError(f"{where}: the test cell is not valid Python ({exc})") from exc
    lines = source.splitlines()
    for node in reversed(tree.body):
        if not isinstance(node, ast.Expr):
            continue
        row, col = node.lineno - 1, node.col_offset
        call = node.value
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                and call.func.id == "print" and call.func.col_offset == col):
            lines[row] = lines[row][:col] + "_ = " + lines[row][col + len("print"):]
        else:
            lines[row] = lines[row][:col] + "_ = " + lines[row][col:]
    return "\n".join(lines)


def _test_cells(source: str, where: str) -> list[tuple[str, bool]]:
    """A test cell -> [(code, hidden)]: its visible lines, then each hidden block."""
    visible, hidden, block = [], [], None
    for line in source.splitlines():
        if re.search(r"BEGIN[ \t]+HIDDEN[ \t]+TESTS", line):
            block = []
        elif re.search(r"END[ \t]+HIDDEN[ \t]+TESTS", line):
            hidden.append("\n".join(block).strip("\n"))
            block = None
        elif block is not None:
            block.append(line)
        else:
            visible.append(line)
    parts = [("\n".join(visible).strip("\n"), False)] + [(h, True) for h in hidden]
    return [(_silence(code, where), hid) for code, hid in parts if code.strip()]


def _raw(text: str):
    import nbformat.v4 as v4

    return v4.new_raw_cell(text)


def to_otter(nb, *, name: str = "assignment"):
    """The teacher notebook in otter-grader's format (see the module docstring).

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The assignment, markers included (not modified).
    name : str, default "assignment"
        The assignment's name in the ``# ASSIGNMENT CONFIG`` cell.

    Returns
    -------
    nbformat.NotebookNode
        Ready for ``otter assign NOTEBOOK DIST``; the config asks for the autograder zip that
        ``otter run`` needs (``generate: true``), runs the tests against the solution
        (``run_tests: true``) and adds no export cell.
    """
    import nbformat.v4 as v4

    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty str, got {name!r}")
    qs = questions(nb)
    header = {q.header: q for q in qs}
    member = {j: q for q in qs for j in q.solutions + q.tests}
    config = ["# ASSIGNMENT CONFIG", f"name: {json.dumps(name)}", "init_cell: true",
              "check_all_cell: false", "export_cell: false", "run_tests: true",
              "generate: true"]
    cells = [_raw("\n".join(config))]
    for i, cell in enumerate(nb.cells):
        where = f"cell {i + 1}"
        if i in header:
            q = header[i]
            spec = ["# BEGIN QUESTION", f"name: {q.name}", f"points: {q.points:g}"]
            if q.manual:
                prompt, answer = _answer_split(cell.source, where)
                cells += [_raw("\n".join(spec + ["manual: true"])),
                          v4.new_markdown_cell(prompt), _raw("# BEGIN SOLUTION"),
                          v4.new_markdown_cell(answer), _raw("# END SOLUTION"),
                          _raw("# END QUESTION")]
            else:
                cells += [_raw("\n".join(spec)), _clean(cell)]
            continue
        if i not in member:
            cells.append(_clean(cell))
            continue
        q = member[i]
        if i == q.solutions[0]:
            cells.append(_raw("# BEGIN SOLUTION"))
        if i in q.solutions:
            cells.append(_clean(cell))
            if i == q.solutions[-1]:
                cells += [_raw("# END SOLUTION"), _raw("# BEGIN TESTS")]
            continue
        for code, hidden in _test_cells(cell.source, where):
            cells.append(v4.new_code_cell(("# HIDDEN\n" if hidden else "") + code))
        if i == q.tests[-1]:
            cells += [_raw("# END TESTS"), _raw("# END QUESTION")]
    out = copy.deepcopy(nb)
    out.cells = cells
    return out
