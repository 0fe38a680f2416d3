"""The ``lmsbn`` command dispatches to each sub-command, options (``--help`` included) intact."""

from pathlib import Path

import pytest

from lmsbn.cli import main

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
NEEDS_NBFORMAT = "writing notebooks needs the [notebooks] or [test] extra"


@pytest.mark.parametrize("command, prog", [("bench", "lmsbn bench"),
                                           ("notebooks", "lmsbn notebooks"),
                                           ("assignment", "lmsbn assignment")])
def test_subcommand_help_reaches_the_subcommand(command, prog, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {prog}")


def test_assignment_and_notebooks_through_the_cli(tmp_path):
    pytest.importorskip("nbformat", reason=NEEDS_NBFORMAT)
    out = tmp_path / "hw.ipynb"
    assert main(["assignment", "student", str(TUTORIALS / "hw_01_lms_nlms.py"),
                 "-o", str(out)]) == 0
    assert "NotImplementedError" in out.read_text()
    assert main(["notebooks", str(TUTORIALS), "--out", str(tmp_path / "nb"),
                 "--pattern", "01_*.py"]) == 0
    assert (tmp_path / "nb" / "01_lms_natural_modes.ipynb").exists()


def test_notebooks_never_hand_out_homework_solutions(tmp_path):
    pytest.importorskip("nbformat", reason=NEEDS_NBFORMAT)
    # hw_*.py holds the solutions and hidden tests: skipped by default, student version on request.
    nb = tmp_path / "nb"
    assert main(["notebooks", str(TUTORIALS), "--out", str(nb), "--pattern", "*0[1-2]_*.py"]) == 0
    names = sorted(p.name for p in nb.iterdir())
    assert "01_lms_natural_modes.ipynb" in names and not any(n.startswith("hw_") for n in names)
    assert main(["notebooks", str(TUTORIALS), "--out", str(nb), "--pattern", "hw_03_*.py",
                 "--homework", "student"]) == 0
    text = (nb / "hw_03_batchnorm.ipynb").read_text()
    assert "NotImplementedError" in text
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert main(["notebooks", str(TUTORIALS), "--out", str(nb), "--pattern", "hw_*.py"]) == 1


def test_tour_rejects_unknown_options():
    with pytest.raises(SystemExit) as info:
        main(["tour", "--bogus"])
    assert info.value.code == 2


def test_notebooks_html_executes_and_writes_self_contained_pages(tmp_path, capsys):
    pytest.importorskip("nbconvert", reason="--html needs nbconvert (the [notebooks] extra)")
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    # A two-cell lesson (markdown, then code that prints and draws): the page must hold the
    # executed output and the figure inline, so it reads without Jupyter or files beside it.
    src = tmp_path / "lessons"
    src.mkdir()
    (src / "01_tiny.py").write_text(
        "# %% [markdown]\n# # A tiny lesson\n\n"
        "# %%\nimport matplotlib.pyplot as plt\nimport lmsbn\n"
        "print('version', lmsbn.__version__)\nplt.plot([1, 2, 4])\nplt.show()\n",
        encoding="utf-8")
    html = tmp_path / "html"
    assert main(["notebooks", str(src), "--out", str(tmp_path / "nb"), "--html", str(html),
                 "--timeout", "120"]) == 0
    page = (html / "01_tiny.html").read_text(encoding="utf-8")
    import lmsbn

    assert "A tiny lesson" in page and f"version {lmsbn.__version__}" in page
    assert "data:image/png;base64," in page                 # the figure, embedded
    assert str(html / "01_tiny.html") in capsys.readouterr().out
    # A failing cell is reported, not written as a page that hides the error.
    (src / "01_tiny.py").write_text("# %%\nraise RuntimeError('broken lesson')\n", encoding="utf-8")
    assert main(["notebooks", str(src), "--out", str(tmp_path / "nb"), "--html", str(html)]) == 1
    assert "broken lesson" in capsys.readouterr().err


def test_version_and_python_dash_m(capsys):
    import subprocess
    import sys

    import lmsbn

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"lmsbn {lmsbn.__version__}"
    # ``python -m lmsbn`` is the same command (here its --version, which needs no work).
    run = subprocess.run([sys.executable, "-m", "lmsbn", "--version"], capture_output=True,
                         text=True, check=False)
    assert run.returncode == 0 and run.stdout.strip() == f"lmsbn {lmsbn.__version__}"
