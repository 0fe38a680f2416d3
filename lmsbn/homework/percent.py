r"""A small reader of jupytext's *percent format*, for when jupytext is not installed.

* An optional header of comment lines between ``# ---`` and ``# ---`` (jupytext's YAML metadata);
  it is dropped, because the notebook metadata is rebuilt (kernel ``python3``).
* A line starting ``# %%`` opens a cell. ``# %% [markdown]`` opens a markdown cell, whose lines
  lose their leading ``# ``. Options after the marker are ``key=value`` pairs with JSON values,
  e.g. ``# %% tags=["parameters"]``; they become the cell's metadata.
* Blank lines at the start and end of a cell are dropped.

It needs only ``nbformat``.
"""

from __future__ import annotations

import json
import re

__all__ = ["read_percent"]

_EXTRA_HINT = ('install jupytext (pip install "lmsbn[notebooks]") or at least nbformat '
               '(pip install nbformat)')
_CELL = re.compile(r"^# %%(?P<rest>.*)$")
_KIND = re.compile(r"\[(markdown|md|raw)\]")
_KEY = re.compile(r"(\w+)=")
_KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def _parse_options(text: str) -> dict:
    """``key=<json> key2=<json>`` -> dict; anything that is not such a pair is a cell title."""
    meta, pos, decoder = {}, 0, json.JSONDecoder()
    while (m := _KEY.search(text, pos)) is not None:
        try:
            value, end = decoder.raw_decode(text, m.end())
        except json.JSONDecodeError:
            pos = m.end()
            continue
        meta[m.group(1)] = value
        pos = end
    return meta


def _strip_blank(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def _uncomment(line: str) -> str:
    """A markdown line of the percent format: ``# text`` -> ``text``, ``#`` -> ``""``."""
    if line.startswith("# "):
        return line[2:]
    return line[1:] if line.startswith("#") else line


def read_percent(text: str):
    """Parse a percent-format script into a notebook with the built-in reader.

    Parameters
    ----------
    text : str
        The content of a jupytext percent-format ``.py`` file.

    Returns
    -------
    nbformat.NotebookNode
        A version-4 notebook, kernel ``python3``.

    Raises
    ------
    ImportError
        If ``nbformat`` is not installed (names the ``notebooks`` extra).
    """
    try:
        import nbformat.v4 as v4
    except ImportError as exc:
        raise ImportError(f"lmsbn notebooks needs nbformat: {_EXTRA_HINT}") from exc
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    lines = text.splitlines()
    # The YAML header is a block of comment lines fenced by "# ---" at the top of the file.
    if lines and lines[0].strip() == "# ---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "# ---"), None)
        if end is not None:
            lines = lines[end + 1:]
    cells, kind, meta, body = [], "code", {}, []

    def flush():
        source = _strip_blank(body)
        if kind == "markdown":
            source = [_uncomment(line) for line in source]
        if not source and kind == "code" and not meta:
            return  # the code before the first marker, if it is only blank lines
        make = {"code": v4.new_code_cell, "markdown": v4.new_markdown_cell,
                "raw": v4.new_raw_cell}[kind]
        cells.append(make("\n".join(source), metadata=dict(meta)))

    for line in lines:
        m = _CELL.match(line)
        if m is None:
            body.append(line)
            continue
        flush()
        rest = m.group("rest")
        k = _KIND.search(rest)
        kind = {"md": "markdown"}.get(k.group(1), k.group(1)) if k else "code"
        meta = _parse_options(rest[k.end():] if k else rest)
        body = []
    flush()
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = dict(_KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    return nb
