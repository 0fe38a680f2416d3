"""The architecture as a test: which part of lmsbn may import which, and no import cycles.

Every module under ``lmsbn/`` is parsed (not imported), and every import statement is read,
including those inside functions, since a late import hides a dependency without removing it.
The failure message names the two files and the rule they break.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "lmsbn"

#: The parts of the design: the first component below ``lmsbn`` (``_checks``, ``_version`` and
#: ``io`` are shared plumbing that every part may use).
FACES = {"tour", "bench", "cli", "__main__", "interactive"}
#: part -> (parts it must not import, why)
RULES = {
    "spectral": ({"nn", "filters", "bridge", "train", "data", "experiments", "plot", "homework"}
                 | FACES, "the analysis core knows neither the network nor the filters"),
    "filters": ({"nn", "bridge", "train", "data", "experiments", "plot", "homework"} | FACES,
                "the filters do not know about networks"),
    "nn": ({"spectral", "filters", "bridge", "train", "experiments", "plot", "homework"} | FACES,
           "the network does not know the analysis built on it"),
    "train": ({"filters", "bridge", "experiments", "plot", "homework"} | FACES,
              "the training loop does not know the analysis built on it"),
    "data": ({"spectral", "filters", "nn", "bridge", "train", "experiments", "plot", "homework"}
             | FACES, "the datasets stand alone"),
    "bridge": ({"filters", "experiments", "plot", "homework"} | FACES,
               "the bridge joins the network to the core, not to experiments or figures"),
    "experiments": ({"plot", "homework"} | FACES,
                    "experiments compute results; figures and command lines sit above them"),
    "plot": (FACES, "figures do not drive the command line"),
    "homework": ({"experiments", "plot"} | FACES, "the homework kit checks the building blocks"),
    "io": ({"spectral", "filters", "nn", "bridge", "train", "data", "experiments", "plot",
            "homework"} | FACES, "the result protocol is plumbing below every part"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(name: str) -> str:
    """The longest prefix of a dotted name that is one of lmsbn's modules (a.b.func -> a.b)."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _imports(module: str, path: Path) -> set[str]:
    """lmsbn modules that ``module`` imports anywhere in its body (functions included)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing module's package
                package = module.split(".") if is_package else module.split(".")[:-1]
                anchor = package[: len(package) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import sub` imports the module pkg.sub when there is one
            found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                         for a in node.names)
    return {_resolve(n) for n in found if n == "lmsbn" or n.startswith("lmsbn.")} - {module}


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _where(module: str) -> str:
    return str(MODULES[module].relative_to(ROOT.parent))


def test_the_modules_are_found():
    # A guard for the tests below: an empty or wrong ROOT would make them pass vacuously.
    expected = {"lmsbn.spectral", "lmsbn.nn.conv", "lmsbn.filters.rules", "lmsbn.bridge"}
    assert expected <= set(MODULES)
    assert "lmsbn.spectral.spectrum" in GRAPH["lmsbn.spectral"]


@pytest.mark.parametrize("part", sorted(RULES))
def test_each_part_imports_only_what_lies_below_it(part):
    forbidden, why = RULES[part]
    broken = [f"{_where(m)} imports {_where(t)} ({t}): {part} must not import {_part(t)} -- {why}"
              for m in GRAPH if _part(m) == part
              for t in sorted(GRAPH[m]) if _part(t) in forbidden]
    assert not broken, "\n".join(broken)


def test_nothing_below_the_root_imports_the_root():
    # The root imports every part; a part importing it back would tie it to all the others.
    broken = [f"{_where(m)} imports lmsbn/__init__.py: import the module that defines the name"
              for m in GRAPH if m != "lmsbn" and "lmsbn" in GRAPH[m]]
    assert not broken, "\n".join(broken)


def test_there_is_no_import_cycle():
    cycles, state = [], {}

    def visit(m, stack):
        state[m] = "open"
        for t in sorted(GRAPH[m]):
            if state.get(t) == "open":
                loop = stack[stack.index(t):] + [t]
                cycles.append(" -> ".join(_where(x) for x in loop))
            elif t not in state:
                visit(t, stack + [t])
        state[m] = "done"

    for m in sorted(GRAPH):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles (each file imports the next):\n" + "\n".join(cycles)


def test_the_cycle_check_can_fail():
    # The detector itself, on a made-up graph with a loop a -> b -> a.
    global GRAPH
    saved = GRAPH
    try:
        GRAPH = {"lmsbn.a": {"lmsbn.b"}, "lmsbn.b": {"lmsbn.a"}}
        MODULES.update({"lmsbn.a": ROOT / "a.py", "lmsbn.b": ROOT / "b.py"})
        with pytest.raises(AssertionError, match=r"lmsbn/a.py -> lmsbn/b.py -> lmsbn/a.py"):
            test_there_is_no_import_cycle()
    finally:
        GRAPH = saved
        MODULES.pop("lmsbn.a")
        MODULES.pop("lmsbn.b")
