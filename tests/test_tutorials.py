"""Every tutorial runs, top to bottom, in a real Jupyter kernel -- with its sizes shrunk.

How a tutorial is shrunk (papermill-style, written here):

* each tutorial has one cell tagged ``parameters`` holding its size knobs;
* a knob may say what the test should use with a trailing comment, ``STEPS = 300  # test: 30``;
* the test inserts, right after the parameters cell, a cell tagged ``injected-parameters`` that
  assigns those test values (plus any entry of :data:`OVERRIDES` for that file), so the lesson's
  own code runs unchanged on smaller problems.

The kernel is the interpreter running pytest (a private ``python3`` kernelspec is written to a
temporary folder), so the test works in a fresh virtual environment and always imports the lmsbn
under test. ``MPLBACKEND=Agg`` keeps figures off-screen, and RuntimeWarnings are errors inside the
kernel too (as in ``pyproject.toml``): a tutorial that floods NumPy warnings has a bug.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

TUTORIALS_DIR = Path(__file__).resolve().parent.parent / "tutorials"
TUTORIALS = sorted(TUTORIALS_DIR.glob("[0-9][0-9]_*.py"))

#: Extra test values per tutorial file name, for knobs without a ``# test:`` comment.
OVERRIDES: dict[str, dict[str, object]] = {}

#: Seconds allowed for one cell with the shrunk parameters (generous: CI machines are shared).
CELL_TIMEOUT = 120

_TEST_VALUE = re.compile(r"#\s*test:\s*(?P<value>.+?)\s*$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _tags(cell) -> list:
    return list(cell.get("metadata", {}).get("tags", []))


def read_test_values(source: str) -> dict[str, str]:
    """``{name: expression}`` from the ``NAME = default  # test: expression`` lines of a cell."""
    values = {}
    for line in source.splitlines():
        m = _TEST_VALUE.search(line)
        if m is None:
            continue
        target = line[: m.start()].split("=", 1)[0].strip()
        if not target.isidentifier():
            raise ValueError(f"a '# test:' comment must follow 'NAME = value', got {line!r}")
        ast.parse(m.group("value"), mode="eval")  # a syntax error here names the line, not a cell
        values[target] = m.group("value")
    return values


def shrink(nb, name: str):
    """Insert the ``injected-parameters`` cell after the ``parameters`` cell; return ``nb``."""
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in _tags(c))
    values = read_test_values(nb.cells[index].source)
    values.update({k: repr(v) for k, v in OVERRIDES.get(name, {}).items()})
    lines = ["# Injected by tests/test_tutorials.py: smaller sizes for a fast run."]
    lines += [f"{k} = {v}" for k, v in values.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines), metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(index + 1, cell)
    # Warnings first, so that the lesson's own cells run under the same rules as the test suite.
    guard = nbformat.v4.new_code_cell(
        "import warnings\nwarnings.simplefilter('error', RuntimeWarning)",
        metadata={"tags": ["injected-warnings"]})
    nb.cells.insert(0, guard)
    return nb


@pytest.fixture(scope="module")
def kernel_spec_dir(tmp_path_factory):
    """A private ``python3`` kernelspec that launches *this* interpreter."""
    from ipykernel.kernelspec import install

    prefix = tmp_path_factory.mktemp("kernel")
    install(prefix=str(prefix), kernel_name="python3", display_name="Python 3 (lmsbn tests)")
    kernels = next(prefix.rglob("kernels"))
    assert (kernels / "python3" / "kernel.json").is_file()
    return kernels


def _execute(nb, kernels: Path, cwd: Path):
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    ksm = KernelSpecManager(kernel_dirs=[str(kernels)], ensure_native_kernel=False)
    km = KernelManager(kernel_name="python3", kernel_spec_manager=ksm)
    client = nbclient.NotebookClient(nb, km=km, kernel_name="python3", timeout=CELL_TIMEOUT,
                                     resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb


def _markdown(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_tutorials_exist():
    # Issue 5 asks for at least seven lessons; a glob that finds nothing would pass vacuously.
    assert len(TUTORIALS) >= 7, [p.name for p in TUTORIALS]


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(path, kernel_spec_dir, tmp_path, monkeypatch):
    nb = jupytext.read(str(path))
    tagged = [c for c in nb.cells if "parameters" in _tags(c)]
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    assert tagged[0].cell_type == "code"
    text = _markdown(nb)
    assert "$" in text, f"{path.name}: no LaTeX in its markdown cells"
    assert re.search(r"^#+\s*Exercises", text, re.M | re.I), f"{path.name}: no Exercises section"
    assert "<details>" in text, f"{path.name}: exercise answers belong in <details> blocks"
    shrink(nb, path.name)
    # The kernel inherits this environment: no window may open, on CI or on a laptop.
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # One BLAS thread: the tutorials' matrices are small, and a multi-threaded OpenBLAS on a
    # shared 2-core machine can spend 100x longer spinning than computing (measured: eigh of a
    # 288 x 288 matrix 0.03 s with one thread, 1.8-3.7 s with two under load).
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "1")
    try:
        _execute(nb, kernel_spec_dir, tmp_path)
    except nbclient.exceptions.CellExecutionError as exc:
        # nbclient reports the failing cell's source and the kernel's traceback; the colour
        # codes of that traceback are noise in a pytest log.
        pytest.fail(f"{path.name} failed in a cell:\n{_ANSI.sub('', str(exc))}", pytrace=False)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]


def _assigned_names(source: str) -> list:
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                names += [t.id for t in (target.elts if isinstance(target, ast.Tuple) else [target])
                          if isinstance(t, ast.Name)]
    return names


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_parameter_cells_are_uppercase(path):
    # One convention for every lesson: the knobs a reader may change are CONSTANTS.
    nb = jupytext.read(str(path))
    (cell,) = [c for c in nb.cells if "parameters" in _tags(c)]
    names = _assigned_names(cell.source)
    assert names, f"{path.name}: its parameters cell assigns nothing"
    assert [n for n in names if not n.isupper()] == [], path.name


#: The paper lessons follow tutorial 01's pattern with answers computed in the run (issue 14).
PAPER_LESSONS = [p for p in TUTORIALS if p.name[:2] in ("08", "09", "10")]


@pytest.mark.parametrize("path", PAPER_LESSONS, ids=[p.stem for p in PAPER_LESSONS])
def test_paper_lessons_check_themselves_and_compute_their_answers(path):
    nb = jupytext.read(str(path))
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    # the inline computation is checked against the packaged experiment
    assert any(re.search(r"^\s*assert ", src, re.M) for src in code), path.name
    assert any("from lmsbn.experiments import" in src for src in code), path.name
    # every exercise (a markdown cell with **N.**) is followed by a code cell printing its answer
    start = next(i for i, c in enumerate(nb.cells)
                 if c.cell_type == "markdown" and re.search(r"^#+\s*Exercises", c.source, re.M))
    exercises = 0
    for i in range(start, len(nb.cells)):
        cell = nb.cells[i]
        if cell.cell_type != "markdown":
            continue
        for n in re.findall(r"^\*\*(\d+)\.\*\*", cell.source, re.M):
            exercises += 1
            nxt = nb.cells[i + 1] if i + 1 < len(nb.cells) else None
            assert nxt is not None and nxt.cell_type == "code", f"{path.name}: exercise {n}"
            assert f"answer {n}" in nxt.source, f"{path.name}: exercise {n} prints no answer"
    assert 2 <= exercises <= 4, f"{path.name}: {exercises} exercises"


# ------------------------------------------------------------------------ the shrinking itself

def test_test_values_reads_comments():
    src = "STEPS = 300  # test: 30\nRUNS = 200 # test:  RUNS // 10\nSEED = 0\n"
    assert read_test_values(src) == {"STEPS": "30", "RUNS": "RUNS // 10"}
    with pytest.raises(ValueError, match="NAME = value"):
        read_test_values("print(1)  # test: 2")


def test_shrink_inserts_after_parameters():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# T"),
        nbformat.v4.new_code_cell("N = 1000  # test: 10", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print(N)"),
    ])
    shrink(nb, "x.py")
    tags = [_tags(c) for c in nb.cells]
    assert tags == [["injected-warnings"], [], ["parameters"], ["injected-parameters"], []]
    assert "N = 10" in nb.cells[3].source


# ------------------------------------------------------------------------ lmsbn notebooks

def test_builtin_reader_matches_jupytext():
    """The fallback reader and jupytext must produce the same cells for every tutorial."""
    from lmsbn.homework.notebooks import read_percent

    for path in TUTORIALS:
        ours = read_percent(path.read_text(encoding="utf-8"))
        ref = jupytext.read(str(path))
        assert [c.cell_type for c in ours.cells] == [c.cell_type for c in ref.cells], path.name
        for a, b in zip(ours.cells, ref.cells):
            assert a.source == b.source, (path.name, a.source[:60])
            assert _tags(a) == _tags(b), (path.name, a.source[:60])


def test_notebooks_command_writes_valid_notebooks(tmp_path):
    from lmsbn.homework.notebooks import main

    for backend in ("jupytext", "builtin"):
        out = tmp_path / backend
        assert main([str(TUTORIALS_DIR), "--out", str(out), "--pattern", "0[1-2]_*.py",
                     "--backend", backend]) == 0
        written = sorted(out.glob("*.ipynb"))
        assert [p.stem for p in written] == [p.stem for p in TUTORIALS[:2]]
        for p in written:
            nb = nbformat.read(str(p), as_version=4)
            nbformat.validate(nb)
            assert nb.metadata["kernelspec"]["name"] == "python3"
            assert any("parameters" in _tags(c) for c in nb.cells)


def test_notebooks_command_errors(tmp_path, monkeypatch, capsys):
    from lmsbn.homework import notebooks

    assert notebooks.main([str(tmp_path / "missing")]) == 1
    assert "missing" in capsys.readouterr().err
    # Without jupytext and nbformat the error names the extra to install.
    monkeypatch.setitem(sys.modules, "jupytext", None)
    monkeypatch.setitem(sys.modules, "nbformat", None)
    monkeypatch.setitem(sys.modules, "nbformat.v4", None)
    (tmp_path / "01_a.py").write_text("# %%\nx = 1\n")
    with pytest.raises(ImportError, match=r"lmsbn\[notebooks\]"):
        notebooks.convert(tmp_path / "01_a.py")
    assert notebooks.main([str(tmp_path)]) == 1
    assert "notebooks" in capsys.readouterr().err
