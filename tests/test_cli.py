"""The ``lmsbn`` command dispatches to each sub-command, options (``--help`` included) intact."""

from pathlib import Path

import pytest

from lmsbn.cli import main

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"


@pytest.mark.parametrize("command, prog", [("bench", "lmsbn bench"), ("notebooks", "lmsbn notebooks"),
                                           ("assignment", "lmsbn assignment")])
def test_subcommand_help_reaches_the_subcommand(command, prog, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {prog}")


def test_assignment_and_notebooks_through_the_cli(tmp_path):
    out = tmp_path / "hw.ipynb"
    assert main(["assignment", "student", str(TUTORIALS / "hw_03_lms_nlms.py"), "-o", str(out)]) == 0
    assert "NotImplementedError" in out.read_text()
    assert main(["notebooks", str(TUTORIALS), "--out", str(tmp_path / "nb"), "--pattern", "01_*.py"]) == 0
    assert (tmp_path / "nb" / "01_lms_natural_modes.ipynb").exists()


def test_tour_rejects_unknown_options():
    with pytest.raises(SystemExit) as info:
        main(["tour", "--bogus"])
    assert info.value.code == 2
