"""The homework through the real autograders (extra ``grading``: nbgrader and otter-grader), the
question annotations behind them, and the promise that no route hands a solution to students.

The round trips take one homework (hw_01, the fastest to execute) through each tool as an
instructor would: generate the release, then grade a correct, a buggy and a blank submission.
The leak test covers all three homeworks and every route. The tools run as subprocesses with a
private kernelspec for this interpreter, so the lmsbn under test is the one the kernels import.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lmsbn.homework import assignments as A
from lmsbn.homework import autograders as G

nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parent.parent
HOMEWORKS = sorted((ROOT / "tutorials").glob("hw_*.py"))
E2E = ROOT / "tutorials" / "hw_01_lms_nlms.py"
_NO_EXTRA = "the grading extra is not installed (pip install -e \".[grading]\")"

# Submissions for hw_01, written differently from the solution. The buggy NLMS divides by
# ||u|| instead of ||u||^2: it loses the NLMS question and keeps the LMS one.
LMS = """\
def lms_step(w, u, d, mu):
    e = float(d - np.dot(u, w))
    return w + (mu * e) * u, e
"""
NLMS = """\
def nlms_step(w, u, d, mu, eps):
    e = float(d - np.dot(u, w))
    return w + mu * e / (eps + np.sum(u * u)) * u, e
"""
NLMS_BUG = NLMS.replace("np.sum(u * u)", "np.linalg.norm(u)")
SUBMISSIONS = {"correct": {"lms_step": LMS, "nlms_step": NLMS},
               "buggy": {"lms_step": LMS, "nlms_step": NLMS_BUG},
               "blank": {}}


def _fill(path, out, functions):
    """The student notebook at ``path`` with the functions' cells replaced, written to ``out``."""
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        for name, code in functions.items():
            if cell.cell_type == "code" and f"def {name}(" in cell.source:
                cell.source = code
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(out))


def _write(version, src, out):
    assert A.main([version, str(src), "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def tool_env(tmp_path_factory):
    """Environment for the tools' subprocesses: a ``python3`` kernel running this interpreter."""
    pytest.importorskip("ipykernel")
    from ipykernel.kernelspec import install

    prefix = tmp_path_factory.mktemp("kernel")
    install(prefix=str(prefix), kernel_name="python3", display_name="lmsbn tests")
    env = dict(os.environ, MPLBACKEND="Agg", JUPYTER_PATH=str(prefix / "share" / "jupyter"),
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [
                   os.environ.get("PYTHONPATH")] if p]))
    return env


def _run(args, cwd, env):
    """Start a tool; returns the Popen (the callers wait, so independent runs overlap)."""
    return subprocess.Popen([sys.executable, "-m", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait(*procs):
    for proc in procs:
        out, _ = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"{' '.join(proc.args[2:])} failed:\n{out[-4000:]}"


# ---------------------------------------------------------------------------------------------
# nbgrader: generate_assignment (all three homeworks), autograde hw_01
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def nbgrader_course(tmp_path_factory, tool_env):
    pytest.importorskip("nbgrader", reason=_NO_EXTRA)
    from nbgrader.api import Gradebook

    root = tmp_path_factory.mktemp("course")
    for src in HOMEWORKS:
        _write("nbgrader", src, root / "source" / src.stem / f"{src.stem}.ipynb")
    _wait(_run(["nbgrader", "generate_assignment", "*", "--force"], root, tool_env))
    release = root / "release" / E2E.stem / f"{E2E.stem}.ipynb"
    for student, functions in SUBMISSIONS.items():
        _fill(release, root / "submitted" / student / E2E.stem / release.name, functions)
    _wait(_run(["nbgrader", "autograde", E2E.stem, "--create", "--force"], root, tool_env))
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        scores = {s: (gb.find_submission(E2E.stem, s).score,
                      gb.find_submission(E2E.stem, s).max_score) for s in SUBMISSIONS}
    return root, scores


@pytest.mark.slow
def test_nbgrader_round_trip(nbgrader_course):
    root, scores = nbgrader_course
    # 10 of 12 points at most: the written answer (2 points) is graded by hand.
    assert scores == {"correct": (10.0, 12.0), "buggy": (5.0, 12.0), "blank": (0.0, 12.0)}
    graded = nbformat.read(str(root / "autograded" / "buggy" / E2E.stem / f"{E2E.stem}.ipynb"),
                           as_version=4)
    tests = {c.metadata["nbgrader"]["grade_id"]: c for c in graded.cells
             if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}
    assert set(tests) == {"lms_step_tests_1", "nlms_step_tests_1"}
    # autograde restored the hidden checks, and the failure is lmsbn's plain message.
    assert all("hidden=True" in c.source for c in tests.values())
    error = [o for o in tests["nlms_step_tests_1"].outputs if o.output_type == "error"]
    assert error and error[0].ename == "ExerciseFailed"
    assert "`w_next` is wrong" in error[0].evalue


# ---------------------------------------------------------------------------------------------
# otter-grader: assign (all three homeworks), run hw_01
# ---------------------------------------------------------------------------------------------

def _leak_only(path):
    """Skip the solution run and the autograder zip: this notebook is only checked for leaks."""
    nb = nbformat.read(str(path), as_version=4)
    config = nb.cells[0]
    assert config.source.startswith("# ASSIGNMENT CONFIG")
    config.source = (config.source.replace("run_tests: true", "run_tests: false")
                     .replace("generate: true", "generate: false"))
    nbformat.write(nb, str(path))


@pytest.fixture(scope="module")
def otter_dist(tmp_path_factory, tool_env):
    pytest.importorskip("otter", reason=_NO_EXTRA)
    root = tmp_path_factory.mktemp("otter")
    procs = []
    for src in HOMEWORKS:
        master = _write("otter", src, root / src.stem / f"{src.stem}.ipynb")
        if src != E2E:
            _leak_only(master)
        procs.append(_run(["otter", "assign", str(master), str(root / src.stem / "dist")],
                          root, tool_env))
    _wait(*procs)
    dist = root / E2E.stem / "dist"
    (autograder,) = (dist / "autograder").glob("*.zip")
    procs = {}
    for student, functions in SUBMISSIONS.items():
        sub = root / "submissions" / student / f"{E2E.stem}.ipynb"
        _fill(dist / "student" / sub.name, sub, functions)
        procs[student] = _run(["otter", "run", "-a", str(autograder), "-o", str(sub.parent),
                               str(sub)], root, tool_env)
    _wait(*procs.values())
    results = {}
    for student in SUBMISSIONS:
        tests = json.loads((root / "submissions" / student / "results.json").read_text())["tests"]
        scored = [t for t in tests if t.get("max_score") is not None]
        results[student] = (sum(t["score"] for t in scored), sum(t["max_score"] for t in scored),
                            tests)
    return root, results


@pytest.mark.slow
def test_otter_round_trip(otter_dist):
    _, results = otter_dist
    # The written answer is manual: otter's autograder scores the 10 points of the checks.
    assert {s: r[:2] for s, r in results.items()} == \
        {"correct": (10.0, 10.0), "buggy": (5.0, 10.0), "blank": (0.0, 10.0)}
    buggy = {t["name"]: t for t in results["buggy"][2]}
    assert buggy["lms_step"]["score"] == 5.0 and buggy["nlms_step"]["score"] == 0
    assert "ExerciseFailed: check_nlms_step: `w_next` is wrong" in buggy["nlms_step"]["output"]
    blank = {t["name"]: t for t in results["blank"][2]}
    # otter's stub is `...`, so the blank function dies on its `return w_next, e`.
    assert ("ExerciseFailed: check_lms_step: lms_step raised NameError"
            in blank["lms_step"]["output"])


# ---------------------------------------------------------------------------------------------
# No route leaks: lmsbn's student version, `lmsbn notebooks --homework student`, nbgrader's
# release and otter's student notebook, for every homework
# ---------------------------------------------------------------------------------------------

def _student_notebooks(route, request, tmp_path):
    if route == "lmsbn assignment student":
        return [_write("student", src, tmp_path / f"{src.stem}.ipynb") for src in HOMEWORKS]
    if route == "lmsbn notebooks --homework student":
        from lmsbn.homework import notebooks

        assert notebooks.main([str(ROOT / "tutorials"), "--out", str(tmp_path), "--pattern",
                               "hw_*.py", "--homework", "student"]) == 0
        return sorted(tmp_path.glob("hw_*.ipynb"))
    if route == "nbgrader release":
        root, _ = request.getfixturevalue("nbgrader_course")
        return [root / "release" / s.stem / f"{s.stem}.ipynb" for s in HOMEWORKS]
    root, _ = request.getfixturevalue("otter_dist")
    return [root / s.stem / "dist" / "student" / f"{s.stem}.ipynb" for s in HOMEWORKS]


@pytest.mark.parametrize("route", ["lmsbn assignment student", "lmsbn notebooks --homework student",
                                   "nbgrader release", "otter student"])
def test_no_student_notebook_holds_a_solution_or_hidden_test(route, request, tmp_path):
    paths = _student_notebooks(route, request, tmp_path)
    assert len(paths) == len(HOMEWORKS) == 3
    for src, path in zip(HOMEWORKS, paths):
        assert path.name.startswith(src.stem)
        teacher = A.read_assignment(src)
        student = nbformat.read(str(path), as_version=4)
        # The detector is not vacuous: the teacher notebook itself is full of leaks.
        assert len(A.find_leaks(teacher, teacher)) > 10
        assert A.find_leaks(teacher, student) == [], f"{route}: {path.name}"
        text = "\n".join(c.source for c in student.cells)
        assert "hidden=True" not in text and "SOLUTION" not in text
        # Every function the student writes is still there, to be filled in.
        for cell in teacher.cells:
            if cell.cell_type == "code" and "BEGIN SOLUTION" in cell.source:
                head = cell.source.splitlines()[0]
                assert head in text, f"{route}: {path.name} lost `{head}`"


# ---------------------------------------------------------------------------------------------
# The formats themselves (no tool needed)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("src", HOMEWORKS, ids=[p.stem for p in HOMEWORKS])
def test_questions_of_the_homeworks(src):
    nb = A.read_assignment(src)
    qs = G.questions(nb)
    manual = [q for q in qs if q.manual]
    assert len(manual) == 1 and manual[0].points == 2
    assert sum(q.points for q in qs if not q.manual) == 10
    for q in qs:
        if not q.manual:
            assert all("BEGIN SOLUTION" in nb.cells[j].source for j in q.solutions)
            assert all("check_" in nb.cells[j].source for j in q.tests)


def test_nbgrader_format():
    nb = A.read_assignment(E2E)
    out = A.make_version(nb, "nbgrader")
    meta = [(c.cell_type, c.metadata["nbgrader"]) for c in out.cells if "nbgrader" in c.metadata]
    assert all(m["schema_version"] == 3 for _, m in meta)
    ids = [m["grade_id"] for _, m in meta]
    assert len(ids) == len(set(ids))
    graded = {m["grade_id"]: (t, m["points"], m["solution"], m["locked"])
              for t, m in meta if m["grade"]}
    assert graded == {"lms_step_tests_1": ("code", 5.0, False, True),
                      "nlms_step_tests_1": ("code", 5.0, False, True),
                      "nlms_min_norm": ("markdown", 2.0, True, False)}
    # Markers only in solution cells, the hidden block only in a graded, locked test cell.
    for cell in out.cells:
        m = cell.metadata.get("nbgrader", {})
        if "BEGIN SOLUTION" in cell.source:
            assert m.get("solution") is True
        if "BEGIN HIDDEN TESTS" in cell.source:
            assert m.get("grade") is True and m.get("locked") is True
        assert "question" not in cell.metadata and "points" not in cell.metadata
    # The written answer is its own cell, after the prompt.
    answer = next(c for c in out.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                  == "nlms_min_norm")
    assert answer.source.startswith("<!-- BEGIN SOLUTION -->") and "a-posteriori" in answer.source


def test_otter_format():
    out = A.make_version(A.read_assignment(E2E), "otter", name="hw1")
    raw = [c.source for c in out.cells if c.cell_type == "raw"]
    assert raw[0].startswith("# ASSIGNMENT CONFIG\nname: \"hw1\"")
    assert [r.splitlines()[1] for r in raw if r.startswith("# BEGIN QUESTION")] == \
        ["name: lms_step", "name: nlms_step", "name: nlms_min_norm"]
    assert "manual: true" in raw[-4] and raw[-1] == "# END QUESTION"
    code = [c.source for c in out.cells if c.cell_type == "code"]
    tests = [c for c in code if "check_" in c and "import" not in c]
    # One cell per visible check and one `# HIDDEN` cell per hidden block; nothing printed.
    assert tests == ["_ = (check_lms_step(lms_step))",
                     "# HIDDEN\n_ = (check_lms_step(lms_step, hidden=True))",
                     "_ = (check_nlms_step(nlms_step))",
                     "# HIDDEN\n_ = (check_nlms_step(nlms_step, hidden=True))"]
    # The inline markers stay inside the functions (otter strips only between them).
    assert sum("# BEGIN SOLUTION" in c for c in code) == 2


def test_test_cells_are_silenced_statement_by_statement():
    src = textwrap.dedent("""\
        print(check(f))   # visible
        x = check(g)
        check(h,
              hidden=True)
        if x:
            print(x)""")
    assert G._silence(src, "cell 1") == textwrap.dedent("""\
        _ = (check(f))   # visible
        x = check(g)
        _ = check(h,
              hidden=True)
        if x:
            print(x)""")


def _nb(*cells):
    make = {"md": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell}
    out = []
    for kind, source, meta in cells:
        out.append(make[kind](source, metadata=dict(meta)))
    return nbformat.v4.new_notebook(cells=out)


SOL = "def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION"
GOOD = [("md", "## Q", {"question": "q1", "points": 2}), ("code", SOL, {}),
        ("code", "assert f() == 1", {})]


@pytest.mark.parametrize("change, match", [
    ({"question": "two words"}, "letters, digits"),
    ({"points": 0}, "positive number"),
    ({"points": True}, "positive number"),
    ({"manual": "yes"}, "true or false"),
])
def test_bad_question_options(change, match):
    cells = copy.deepcopy(GOOD)
    cells[0][2].update(change)
    with pytest.raises(A.AssignmentError, match=f"cell 1: .*{match}"):
        G.questions(_nb(*cells))


@pytest.mark.parametrize("cells, match", [
    (GOOD + GOOD, "used twice"),
    ([GOOD[0], GOOD[2], GOOD[1]], "cell 2: .* test cells must come after"),
    (GOOD[:2], "followed by at least one test cell"),
    ([("md", "## Intro", {}), ("code", SOL, {})] + GOOD, "cell 2: .*outside any question"),
    ([("md", "## Q", {"question": "w", "points": 1, "manual": True})], "manual question"),
    ([("code", "x = 1", {})], "no question"),
])
def test_bad_question_structure(cells, match):
    with pytest.raises(A.AssignmentError, match=match):
        G.questions(_nb(*cells))
