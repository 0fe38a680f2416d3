"""Every Python block of the README runs as written (in order, in one namespace)."""

import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist5k.npz"


def _blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_examples():
    assert len(_blocks()) >= 3


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)     # blocks that save files write them here
    # The real-data block reads ../shared/data/mnist5k.npz relative to the project root.
    namespace = {}
    for i, block in enumerate(_blocks()):
        if "mnist5k.npz" in block:
            if not MNIST.exists():
                continue
            block = block.replace("../shared/data/mnist5k.npz", os.fspath(MNIST))
        try:
            exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
        except Exception as exc:  # noqa: BLE001 - report which block failed, then fail
            pytest.fail(f"README python block {i + 1} raised {type(exc).__name__}: {exc}")
