"""Saving and loading results: one ``.npz`` file of arrays plus JSON metadata, never a pickle.

Every result type of lmsbn (a training ``History``, a ``Spectrum``, a ``ModeTracker`` record, an
experiment's result) turns itself into a flat ``{name: array}`` dict and a JSON-able metadata
dict, and comes back from them. This module owns the file format so that all of them share one
set of checks:

* the file must be a zip of ``.npy`` arrays, loaded with ``allow_pickle=False`` (a file that needs
  pickle is refused, so opening a result can never run code);
* it must carry our metadata entry, naming the result *kind* and the format version;
* a file of another kind, of an incompatible format version, or corrupted gives a clear
  ``ValueError`` naming the file.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["FORMAT_VERSION", "load_arrays", "save_arrays"]

#: Bumped when the layout of saved files changes incompatibly.
FORMAT_VERSION = 1
_META_KEY = "__lmsbn_meta__"


def save_arrays(path, kind: str, arrays: dict, meta: dict | None = None) -> Path:
    """Write ``arrays`` and ``meta`` to ``path`` (``.npz`` appended if missing).

    Parameters
    ----------
    path : str or os.PathLike
    kind : str
        What the file holds, e.g. ``"History"``; :func:`load_arrays` checks it.
    arrays : dict of str to array_like
        Numeric or string arrays (object arrays are refused: they would need pickle).
    meta : dict, optional
        JSON-serialisable metadata (parameters, seed, ...). The library version and format
        version are added.

    Returns
    -------
    pathlib.Path
        The path written. The file is written to a temporary name and moved into place, so an
        interrupted save never leaves a half-written result under the final name.
    """
    from . import __version__

    path = Path(os.fspath(path))
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    clean = {}
    for name, value in arrays.items():
        if name == _META_KEY:
            raise ValueError(f"array name {name!r} is reserved")
        arr = np.asarray(value)
        if arr.dtype.kind == "O":
            raise TypeError(f"array {name!r} has dtype object, which cannot be saved without pickle")
        clean[name] = arr
    header = {"kind": kind, "format": FORMAT_VERSION, "lmsbn": __version__, "meta": meta or {}}
    try:
        text = json.dumps(header, allow_nan=True)
    except TypeError as exc:
        raise TypeError(f"meta must be JSON-serialisable: {exc}") from None
    clean[_META_KEY] = np.array(text)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh:
        np.savez(fh, **clean)
    os.replace(tmp, path)
    return path


def load_arrays(path, kind: str) -> tuple[dict, dict]:
    """Read a file written by :func:`save_arrays`; return ``(arrays, meta)``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not an lmsbn result, holds another kind, comes from an incompatible
        format version, or is corrupted.
    """
    path = Path(os.fspath(path))
    if not path.exists() and path.suffix != ".npz" and path.with_name(path.name + ".npz").exists():
        path = path.with_name(path.name + ".npz")        # save_arrays added the suffix
    if not path.exists():
        raise FileNotFoundError(f"no such result file: {path}")
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single .npy array, not an .npz archive")
        with data:
            arrays = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable lmsbn result file ({exc})") from None
    if _META_KEY not in arrays:
        raise ValueError(f"{path} is not an lmsbn result file (no metadata entry)")
    try:
        header = json.loads(str(arrays.pop(_META_KEY)))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} has corrupted metadata ({exc})") from None
    if header.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path} uses result format {header.get('format')!r}; this lmsbn reads "
                         f"format {FORMAT_VERSION}")
    if header.get("kind") != kind:
        raise ValueError(f"{path} holds a {header.get('kind')!r} result, not a {kind!r}")
    meta = header.get("meta", {})
    meta["lmsbn_version"] = header.get("lmsbn")
    return arrays, meta
