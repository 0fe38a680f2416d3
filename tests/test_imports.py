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


def _lmsbn_imports(path):
    """Every ``from lmsbn... import names`` / ``import lmsbn...`` in a file, at any depth:
    ``(line, module, [names])``."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == "lmsbn":
            yield node.lineno, node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "lmsbn":
                    yield node.lineno, a.name, []


def test_every_lazy_lmsbn_import_resolves():
    # Imports inside functions run only when the function does; one left behind by a module move
    # broke `lmsbn bench`'s papers group unnoticed. Resolve every lmsbn import of the package
    # (module, then each imported name) without running the functions.
    import importlib
    from pathlib import Path

    root = Path(lmsbn.__file__).parent
    broken = []
    for path in sorted(root.rglob("*.py")):
        for line, module, names in _lmsbn_imports(path):
            where = f"{path.relative_to(root.parent)}:{line}"
            try:
                mod = importlib.import_module(module)
            except ImportError as exc:
                broken.append(f"{where}: {module} ({exc})")
                continue
            for name in names:
                if not hasattr(mod, name):
                    try:                      # a submodule not imported by its package
                        importlib.import_module(f"{module}.{name}")
                    except ImportError:
                        broken.append(f"{where}: {module}.{name}")
    assert not broken, broken
