"""Homework notebooks: the teacher version passes its checks, the student version fails exactly at
its stubs, and ``lmsbn assignment`` writes both."""

from __future__ import annotations

import ast
import copy
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from lmsbn.homework import ExerciseFailed  # noqa: E402
from lmsbn.homework import assignments as A  # noqa: E402

nbformat = pytest.importorskip("nbformat")

HW_DIR = Path(__file__).resolve().parent.parent / "tutorials"
HOMEWORKS = sorted(HW_DIR.glob("hw_*.py"))
_TEST_VALUE = re.compile(r"^(?P<name>\w+)\s*=.*#\s*test:\s*(?P<value>.+?)\s*$")


def test_homeworks_exist():
    # A glob that finds nothing would make every parametrized test below pass vacuously.
    assert [p.name for p in HOMEWORKS] == ["hw_01_lms_nlms.py", "hw_02_im2col_conv.py",
                                           "hw_03_batchnorm.py"]


# ---------------------------------------------------------------------------------------------
# The text transformation
# ---------------------------------------------------------------------------------------------

def test_student_source_replaces_blocks_keeping_indentation():
    src = ("def f(x):\n"
           "    y = 1\n"
           "    # BEGIN SOLUTION\n"
           "    y = x + 1\n"
           "    if y:\n"
           "        y += 1\n"
           "    # END SOLUTION\n"
           "    return y\n"
           "print(f(1))\n"
           "# BEGIN HIDDEN TESTS\n"
           "print(f(2))\n"
           "# END HIDDEN TESTS")
    out = A.student_source(src)
    assert out == ("def f(x):\n    y = 1\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
                   "    return y\nprint(f(1))")
    ns = {}
    definition = out.rsplit("\nprint", 1)[0]
    exec(compile(definition, "<student>", "exec"), ns)  # noqa: S102 -- valid, fails when called
    with pytest.raises(NotImplementedError):
        ns["f"](1)


def test_student_source_markdown_answers():
    md = "Explain.\n\n<!-- BEGIN SOLUTION -->\nBecause.\nReally.\n<!-- END SOLUTION -->\nDone."
    assert A.student_source(md, markdown=True) == f"Explain.\n\n{A.ANSWER_PROMPT}\nDone."
    # In a markdown cell a code-style marker is still a marker; in code a string is not.
    assert "Because" not in A.student_source("# BEGIN SOLUTION\nBecause\n# END SOLUTION",
                                             markdown=True)
    # As in nbgrader, a line *containing* the marker text is a marker, even inside a string.
    with pytest.raises(A.AssignmentError, match="never closed"):
        A.student_source("s = 'BEGIN SOLUTION'")


@pytest.mark.parametrize("begin, end", [
    ("### BEGIN SOLUTION ###", "### END SOLUTION ###"),
    ("# BEGIN SOLUTION  (teacher only)", "# END SOLUTION  (teacher only)"),
    ("#BEGIN SOLUTION", "#END  SOLUTION"),
    ("x = 0  # BEGIN SOLUTION", "# END SOLUTION -- back to the student's code"),
])
def test_marker_lines_with_extra_text_are_markers(begin, end):
    src = f"def f(x):\n    {begin}\n    y = x + 41\n    {end}\n    return y"
    out = A.student_source(src)
    assert out == ("def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
                   "    return y")


def test_inline_markdown_answers_and_raw_cells():
    md = "The answer is <!-- BEGIN SOLUTION --> 42, by symmetry <!-- END SOLUTION -->. Why?"
    assert A.student_source(md, markdown=True) == f"The answer is {A.ANSWER_PROMPT} . Why?"
    md = "**Answer:** <!-- BEGIN SOLUTION -->the chain rule\nsums the paths <!-- END SOLUTION -->"
    assert A.student_source(md, markdown=True) == f"**Answer:** {A.ANSWER_PROMPT}"
    md = ("## (a) <!-- BEGIN SOLUTION -->x<!-- END SOLUTION --> "
          "(b) <!-- BEGIN SOLUTION -->y<!-- END SOLUTION -->")
    assert A.student_source(md, markdown=True) == f"## (a) {A.ANSWER_PROMPT} (b) {A.ANSWER_PROMPT}"
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_raw_cell("keep\n### BEGIN SOLUTION ###\nthe raw secret\n"
                                 "### END SOLUTION ###"),
        nbformat.v4.new_code_cell("print(1)\n# BEGIN HIDDEN TESTS\nprint(2)\n"
                                  "# END HIDDEN TESTS")])
    student = A.make_version(nb, "student")
    assert student.cells[0].source == f"keep\n{A.ANSWER_PROMPT}"
    assert student.cells[1].source == "print(1)"
    assert A.find_leaks(nb, student) == []


def test_find_leaks_names_markers_and_solution_lines():
    teacher = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("def f(x):\n    # BEGIN SOLUTION\n    y = x + 41\n"
                                  "    return y\n    # END SOLUTION\n    return y"),
        nbformat.v4.new_code_cell("f(1)\n# BEGIN HIDDEN TESTS\nassert f(2) == 43\n"
                                  "# END HIDDEN TESTS")])
    student = copy.deepcopy(teacher)
    student.cells[0].source = "def f(x):\n    y = x + 41   \n    return y"   # a leak
    student.cells[1].source = "f(1)\n# note: END SOLUTION\nprint(assert_that, 'assert f(2) == 43')"
    leaks = A.find_leaks(teacher, student)
    # `return y` also sits outside the block, so it is not a secret; the other three lines are.
    assert leaks == ["cell 1 (code), line 2: y = x + 41",
                     "cell 2 (code), line 2: # note: END SOLUTION",
                     "cell 2 (code), line 3: print(assert_that, 'assert f(2) == 43')"]


def test_student_version_is_refused_when_anything_survives(monkeypatch):
    nb = A.read_assignment(HOMEWORKS[0])
    # A transformation that forgets one block (as the old exact-match one did for
    # `### BEGIN SOLUTION ###`): the verification must catch it and refuse.
    real = A.student_source

    def forgetful(source, *, markdown=False, where="cell"):
        return source if "def nlms_step" in source else real(source, markdown=markdown,
                                                             where=where)

    monkeypatch.setattr(A, "student_source", forgetful)
    with pytest.raises(A.AssignmentError, match="nothing written") as info:
        A.make_version(nb, "student")
    msg = str(info.value)
    assert "BEGIN SOLUTION" in msg and "w_next = w + mu * e * u / (eps + u @ u)" in msg
    assert "line 4" in msg                              # the cell and line are named


def test_source_without_markers_warns(tmp_path, capsys):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    with pytest.warns(A.AssignmentWarning, match="no BEGIN SOLUTION"):
        student = A.make_version(nb, "student")
    assert student.cells[0].source == "x = 1"
    src = tmp_path / "plain.py"
    src.write_text("# %%\nx = 1\n")
    assert A.main(["student", str(src), "-o", str(tmp_path / "plain.ipynb")]) == 0
    assert "warning: the assignment has no BEGIN SOLUTION" in capsys.readouterr().err


@pytest.mark.parametrize("src, match", [
    ("# BEGIN SOLUTION\nx = 1", "line 1: BEGIN SOLUTION is never closed"),
    ("x = 1\n# END SOLUTION", "line 2: END SOLUTION without"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n# END SOLUTION",
     "line 2: BEGIN SOLUTION inside"),
    ("# BEGIN HIDDEN TESTS\n# END SOLUTION", "END SOLUTION without"),
])
def test_unbalanced_markers_are_errors(src, match):
    with pytest.raises(A.AssignmentError, match=match):
        A.student_source(src, where="cell 7")


# ---------------------------------------------------------------------------------------------
# Executing the homework notebooks (cells exec'd in one namespace, sizes shrunk)
# ---------------------------------------------------------------------------------------------

def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def _run(nb, *, stop_on_error: bool):
    """Exec the code cells in order; return ``[(cell, exception or None)]``.

    The ``parameters`` cell's ``# test:`` values are applied right after it, as
    tests/test_tutorials.py does for the lessons.
    """
    ns = {"__name__": "__main__"}
    results = []
    for cell in _code_cells(nb):
        try:
            exec(compile(cell.source, "<cell>", "exec"), ns)  # noqa: S102
            if "parameters" in cell.metadata.get("tags", []):
                for line in cell.source.splitlines():
                    m = _TEST_VALUE.match(line)
                    if m:
                        ns[m.group("name")] = eval(m.group("value"), ns)  # noqa: S307
            results.append((cell, None))
        except Exception as exc:  # noqa: BLE001 -- recorded and inspected by the tests
            results.append((cell, exc))
            if stop_on_error:
                break
    plt.close("all")
    return results


@pytest.fixture(scope="module", params=HOMEWORKS, ids=[p.stem for p in HOMEWORKS])
def source_nb(request):
    return request.param, A.read_assignment(request.param)


def test_teacher_version_passes_its_checks(source_nb, capsys):
    path, nb = source_nb
    teacher = A.make_version(nb, "teacher")
    results = _run(teacher, stop_on_error=True)
    errors = [exc for _, exc in results if exc is not None]
    assert not errors, f"{path.name}: {errors[0]!r}"
    printed = capsys.readouterr().out
    # Every visible and hidden check printed its report line.
    n_checks = sum(c.source.count("print(check_") for c in _code_cells(teacher))
    assert printed.count(" passed (max rel error") == n_checks >= 4


def test_student_version_fails_exactly_at_the_stubs(source_nb):
    path, nb = source_nb
    text = path.read_text()
    n_blocks = len(re.findall(r"^\s*# BEGIN SOLUTION\s*$", text, re.M))
    student = A.make_version(nb, "student")
    code = "\n".join(c.source for c in _code_cells(student))
    # Every solution block became a stub; no solution or hidden test survives.
    assert code.count("raise NotImplementedError()") == code.count("# YOUR CODE HERE") == n_blocks
    assert "SOLUTION" not in code and "hidden=True" not in code and "HIDDEN" not in code
    md = "\n".join(c.source for c in student.cells if c.cell_type == "markdown")
    assert A.ANSWER_PROMPT in md and "BEGIN SOLUTION" not in md
    for cell in _code_cells(student):
        ast.parse(cell.source)                           # still valid Python

    results = _run(student, stop_on_error=False)
    first = next(i for i, (_, exc) in enumerate(results) if exc is not None)
    # Everything before the first check cell runs (imports, parameters, the stub definitions);
    # the first failure is that check, and it fails because of the stub, not of lmsbn.
    cell, exc = results[first]
    assert first == next(i for i, (c, _) in enumerate(results) if "print(check_" in c.source)
    assert isinstance(exc, ExerciseFailed)
    assert isinstance(exc.student_exception, NotImplementedError)
    assert "not implemented yet" in str(exc)
    # Every check cell fails on a stub (each stub is reached by some check).
    for cell, exc in results:
        if "print(check_" in cell.source:
            assert isinstance(exc, ExerciseFailed), cell.source
            assert isinstance(exc.student_exception, NotImplementedError), str(exc)
        elif "# YOUR CODE HERE" in cell.source:
            assert exc is None, (cell.source, exc)      # the stubs themselves define fine


def test_read_assignment_without_jupytext_uses_the_builtin_reader(monkeypatch):
    with_jupytext = A.read_assignment(HOMEWORKS[1])
    monkeypatch.setitem(sys.modules, "jupytext", None)      # makes `import jupytext` fail
    builtin = A.read_assignment(HOMEWORKS[1])
    assert [(c.cell_type, c.source) for c in builtin.cells] == \
        [(c.cell_type, c.source) for c in with_jupytext.cells]
    assert [c.metadata.get("tags") for c in builtin.cells] == \
        [c.metadata.get("tags") for c in with_jupytext.cells]


def test_missing_notebook_tools_name_the_extra(monkeypatch):
    for mod in ("jupytext", "nbformat", "nbformat.v4"):
        monkeypatch.setitem(sys.modules, mod, None)
    with pytest.raises(ImportError, match="notebooks"):
        A.read_assignment(HOMEWORKS[1])


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------

def test_cli_writes_student_and_teacher_notebooks(tmp_path, capsys):
    src = HOMEWORKS[0]
    assert A.main(["student", str(src), "-o", str(tmp_path / "s.ipynb")]) == 0
    assert A.main(["teacher", str(src), "-o", str(tmp_path / "t.ipynb")]) == 0
    assert str(tmp_path / "s.ipynb") in capsys.readouterr().out
    s = nbformat.read(str(tmp_path / "s.ipynb"), as_version=4)
    t = nbformat.read(str(tmp_path / "t.ipynb"), as_version=4)
    nbformat.validate(s)
    nbformat.validate(t)
    assert s.metadata["lmsbn"]["assignment_version"] == "student"
    s_code = "\n".join(c.source for c in s.cells)
    t_code = "\n".join(c.source for c in t.cells)
    assert "raise NotImplementedError()" in s_code and "w + mu * e * u" not in s_code
    assert "# BEGIN SOLUTION" in t_code and "w + mu * e * u" in t_code
    assert all(c.get("outputs", []) == [] for c in s.cells + t.cells)


def test_cli_py_output_and_errors(tmp_path, capsys, monkeypatch):
    out = tmp_path / "student.py"
    assert A.main(["student", str(HOMEWORKS[2]), "-o", str(out)]) == 0
    text = out.read_text()
    assert "# %%" in text and "raise NotImplementedError()" in text and "M / (M - 1)" not in text
    assert A.main(["student", str(tmp_path / "missing.py")]) == 1
    assert "existing assignment" in capsys.readouterr().err
    assert A.main(["teacher", str(HOMEWORKS[2]), "-o", str(tmp_path / "x.txt")]) == 1
    assert ".ipynb or .py" in capsys.readouterr().err
    bad = tmp_path / "bad.py"
    bad.write_text("# %%\ndef f():\n    # BEGIN SOLUTION\n    return 1\n")
    assert A.main(["student", str(bad), "-o", str(tmp_path / "bad.ipynb")]) == 1
    assert "never closed" in capsys.readouterr().err
    assert not (tmp_path / "bad.ipynb").exists()
    monkeypatch.chdir(tmp_path)                          # default output name, in the cwd
    assert A.main(["teacher", str(HOMEWORKS[2])]) == 0
    assert (tmp_path / "hw_03_batchnorm_teacher.ipynb").is_file()
    with pytest.raises(SystemExit):
        A.main(["grader", str(HOMEWORKS[2])])


# ---------------------------------------------------------------------------------------------
# One homework through a real Jupyter kernel, as a student or a grader would run it
# ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_teacher_and_student_notebooks_in_a_real_kernel(tmp_path):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from ipykernel.kernelspec import install
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    # A private kernelspec running *this* interpreter, so the lmsbn under test is the one imported.
    install(prefix=str(tmp_path / "kernel"), kernel_name="python3", display_name="lmsbn tests")
    kernels = next((tmp_path / "kernel").rglob("kernels"))
    src = HOMEWORKS[0]                                   # the fastest homework

    def execute(version):
        nb = A.make_version(A.read_assignment(src), version)
        index = next(i for i, c in enumerate(nb.cells)
                     if "parameters" in c.metadata.get("tags", []))
        nb.cells.insert(index + 1, nbformat.v4.new_code_cell("T = 300"))
        ksm = KernelSpecManager(kernel_dirs=[str(kernels)], ensure_native_kernel=False)
        km = KernelManager(kernel_name="python3", kernel_spec_manager=ksm)
        client = nbclient.NotebookClient(nb, km=km, kernel_name="python3", timeout=120,
                                         resources={"metadata": {"path": str(tmp_path)}})
        client.execute()
        return nb

    nb = execute("teacher")
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert text.count("passed (max rel error") == 4
    with pytest.raises(nbclient.exceptions.CellExecutionError) as info:
        execute("student")
    assert "ExerciseFailed" in str(info.value) and "not implemented yet" in str(info.value)
    assert "check_lms_step" in str(info.value)
