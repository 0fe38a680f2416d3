"""Every module imports on its own, in a fresh interpreter (no hidden import cycles or order)."""

import pkgutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

import lmsbn

MODULES = sorted(m.name for m in pkgutil.walk_packages(lmsbn.__path__, "lmsbn."))


def test_every_module_imports_first_in_a_fresh_interpreter():
    # One interpreter per module: a cycle only shows when its module is imported first.
    script = "import importlib, sys; importlib.import_module(sys.argv[1])"

    def run(module):
        proc = subprocess.run([sys.executable, "-c", script, module], capture_output=True,
                              text=True)
        return module, proc.returncode, proc.stderr[-400:]

    with ThreadPoolExecutor(max_workers=3) as pool:  # a few at a time: CI has 2 cores
        failed = {m: err for m, rc, err in pool.map(run, MODULES) if rc != 0}
    assert not failed, failed


@pytest.mark.parametrize("module", ["lmsbn", "lmsbn.nn", "lmsbn.filters", "lmsbn.spectral"])
def test_core_imports_do_not_pull_in_matplotlib(module):
    code = f"import sys, {module}; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
