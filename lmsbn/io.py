"""Saving and loading results: one ``.npz`` file of arrays plus JSON metadata, never a pickle.

Every result type of lmsbn (a training ``History``, a ``Spectrum``, a ``ModeTracker``, an
experiment's result) is a dataclass deriving from :class:`Result`, and gets from it

* ``save(path)`` / ``load(path)``: array fields become ``.npz`` entries, everything else (numbers,
  strings, lists, nested dicts and nested dataclasses) becomes JSON metadata; nested dicts of
  arrays are flattened to ``"field/key/subkey"`` entries and rebuilt on load. The file records
  the *kind* (the class's qualified name), the library version and the result's ``params``
  (how it was produced);
* ``summary()`` (text, printed by nobody but you) and a compact ``repr``;
* a place in the registry :func:`result_types`, over which one round-trip test runs.

A result that judges a claim adds a ``verdict()`` method computed from its stored numbers.

The file format is owned here, so every result shares one set of checks:

* the file must be a zip of ``.npy`` arrays, loaded with ``allow_pickle=False`` (a file that needs
  pickle is refused, so opening a result can never run code);
* it must carry our metadata entry, naming the result kind and the format version;
* a file of another kind, of an incompatible format version, or corrupted gives a clear
  ``ValueError`` naming the file; a missing file gives ``FileNotFoundError``;
* files are written to a temporary name and moved into place (an interrupted save never leaves a
  half-written result under the final name).

Files written by lmsbn 0.1 (format 1, kinds such as ``"History"``) stored each type in its own
hand-written layout; they are refused with a message saying how to re-create them.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from lmsbn._version import __version__

__all__ = ["FORMAT_VERSION", "Result", "load_arrays", "load_result", "result_types",
           "rng_param", "save_arrays"]

#: Bumped when the layout of saved files changes incompatibly. 2: the :class:`Result` protocol.
FORMAT_VERSION = 2
_META_KEY = "__lmsbn_meta__"
_JSON_SCALARS = (bool, int, float, str, type(None))


# ----------------------------------------------------------------------------- the container
def _npz_path(path) -> Path:
    path = Path(os.fspath(path))
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def save_arrays(path, kind: str, arrays: dict, meta: dict | None = None) -> Path:
    """Write ``arrays`` and ``meta`` to ``path`` (``.npz`` appended if missing).

    The low-level writer under :meth:`Result.save`; use a :class:`Result` for a new result type.

    Parameters
    ----------
    path : str or os.PathLike
    kind : str
        What the file holds, e.g. ``"lmsbn.train.History"``; :func:`load_arrays` checks it.
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
    path = _npz_path(path)
    clean = {}
    for name, value in arrays.items():
        if name == _META_KEY:
            raise ValueError(f"array name {name!r} is reserved")
        arr = np.asarray(value)
        if arr.dtype.kind == "O":
            raise TypeError(
                f"array {name!r} has dtype object, which cannot be saved without pickle")
        clean[name] = arr
    header = {"kind": kind, "format": FORMAT_VERSION, "lmsbn": __version__, "meta": meta or {}}
    try:
        text = json.dumps(header, allow_nan=True)
    except TypeError as exc:
        raise TypeError(f"meta must be JSON-serialisable: {exc}") from None
    clean[_META_KEY] = np.array(text)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")   # two writers never share one
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **clean)
        os.replace(tmp, path)
    finally:
        if tmp.exists():  # the write failed part-way: leave no debris behind
            tmp.unlink()
    return path


def _read(path) -> tuple[Path, dict, dict]:
    """``(path, arrays, header)`` of an lmsbn result file of the current format."""
    path = Path(os.fspath(path))
    if not path.exists() and path.suffix != ".npz" and _npz_path(path).exists():
        path = _npz_path(path)                                # save added the suffix
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
    if not isinstance(header, dict):
        raise ValueError(f"{path} has corrupted metadata (not a JSON object)")
    fmt = header.get("format")
    if fmt == 1:
        written = header.get("lmsbn", "0.1")
        raise ValueError(
            f"{path} holds a {header.get('kind')!r} result written by lmsbn {written} in result "
            f"format 1, which lmsbn {__version__} no longer reads (format {FORMAT_VERSION}). "
            f"Re-run the code that produced it and save again, or read its arrays with "
            f"numpy.load(path) (the metadata is the JSON string under {_META_KEY!r}).")
    if fmt != FORMAT_VERSION:
        raise ValueError(f"{path} uses result format {fmt!r}; this lmsbn ({__version__}) reads "
                         f"format {FORMAT_VERSION} (a newer lmsbn wrote it?)")
    return path, arrays, header


def load_arrays(path, kind: str) -> tuple[dict, dict]:
    """Read a file written by :func:`save_arrays`; return ``(arrays, meta)``.

    ``meta`` gains ``"lmsbn_version"``, the version that wrote the file.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not an lmsbn result, holds another kind, comes from an incompatible
        format version, or is corrupted.
    """
    path, arrays, header = _read(path)
    if header.get("kind") != kind:
        raise ValueError(f"{path} holds a {header.get('kind')!r} result, not a {kind!r}")
    meta = header.get("meta", {})
    meta["lmsbn_version"] = header.get("lmsbn")
    return arrays, meta


# ------------------------------------------------------------------ values <-> arrays + JSON
# A value becomes a JSON node. Plain JSON scalars stand for themselves; everything else is a
# one-key object whose key says what it is: {"array": npz_key}, {"scalar": npz_key} (a NumPy
# scalar, kept as a 0-d array so its dtype survives), {"dict": {...}}, {"items": [[k, node]]}
# (a dict with non-string keys), {"list": [...]}, {"tuple": [...]}, and
# {"obj": "module:qualname", "fields": {...}} (a nested dataclass).

def _store(arrays: dict, key: str, arr: np.ndarray) -> str:
    if arr.dtype.kind == "O":
        raise TypeError(f"{key!r} is an array of dtype object, which cannot be saved without "
                        "pickle; store numbers or strings")
    unique, n = key, 0
    while unique in arrays or unique == _META_KEY:  # only a "/" inside a dict key can collide
        n += 1
        unique = f"{key}~{n}"
    arrays[unique] = arr
    return unique


def _encode(value, key: str, arrays: dict):
    if isinstance(value, np.ndarray):
        return {"array": _store(arrays, key, value)}
    if isinstance(value, np.generic):      # before float: np.float64 is a float subclass
        return {"scalar": _store(arrays, key, np.asarray(value))}
    if type(value) in _JSON_SCALARS:
        return value
    if isinstance(value, dict):
        if all(type(k) is str for k in value):
            return {"dict": {k: _encode(v, f"{key}/{k}", arrays) for k, v in value.items()}}
        if all(type(k) in _JSON_SCALARS for k in value):
            return {"items": [[k, _encode(v, f"{key}/{k}", arrays)] for k, v in value.items()]}
        raise TypeError(f"{key!r} is a dict with keys of type "
                        f"{sorted({type(k).__name__ for k in value})}; saved dicts need str, "
                        "int, float, bool or None keys")
    if isinstance(value, (list, tuple)):
        tag = "tuple" if isinstance(value, tuple) else "list"
        return {tag: [_encode(v, f"{key}/{i}", arrays) for i, v in enumerate(value)]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        if not (isinstance(value, Result) or cls.__module__.split(".")[0] == "lmsbn"):
            raise TypeError(f"{key!r} is a {cls.__qualname__}; a nested dataclass must be a "
                            "lmsbn.io.Result subclass (or defined inside lmsbn) to be loadable")
        state = value._state() if isinstance(value, Result) else _fields(value)
        return {"obj": f"{cls.__module__}:{cls.__qualname__}",
                "fields": {k: _encode(v, f"{key}/{k}", arrays) for k, v in state.items()}}
    raise TypeError(f"{key!r} is a {type(value).__name__}, which a result cannot save: use "
                    "arrays, numbers, strings, None, lists, tuples, dicts or dataclasses")


def _fields(obj) -> dict:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def _resolve(ref: str) -> type:
    """The class named ``module:qualname`` -- only from lmsbn's modules or the registry."""
    module, _, qualname = ref.partition(":")
    kind = f"{module}.{qualname}"
    if kind in _REGISTRY:
        return _REGISTRY[kind]
    if module.split(".")[0] != "lmsbn":
        raise ValueError(f"refers to class {ref!r}, which is neither in lmsbn nor a registered "
                         "Result (import the module that defines it first)")
    if (moved := _moved(module, qualname)) is not None:
        return moved
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == module):
        raise ValueError(f"refers to {ref!r}, which is not a dataclass of that module")
    return obj


def _build(cls: type, state: dict):
    if issubclass(cls, Result):
        return cls._from_state(state)
    return _construct(cls, state)


def _construct(cls: type, state: dict):
    """``cls(**init fields)``, then the non-init fields; a clear error for any mismatch."""
    flds = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(state) - set(flds)
    if unknown:
        raise ValueError(f"has fields {sorted(unknown)} that {cls.__qualname__} does not have "
                         "(saved by a different version of the class?)")
    missing = [n for n, f in flds.items() if f.init and n not in state
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ValueError(f"lacks the fields {missing} that {cls.__qualname__} needs")
    obj = cls(**{k: v for k, v in state.items() if flds[k].init})
    for k, v in state.items():
        if not flds[k].init:
            object.__setattr__(obj, k, v)   # works for frozen dataclasses too
    return obj


def _decode(node, arrays: dict):
    if type(node) in _JSON_SCALARS:
        return node
    if isinstance(node, dict) and len(node) in (1, 2):
        if "array" in node:
            return arrays[node["array"]]
        if "scalar" in node:
            return arrays[node["scalar"]][()]
        if "dict" in node:
            return {k: _decode(v, arrays) for k, v in node["dict"].items()}
        if "items" in node:
            return {k: _decode(v, arrays) for k, v in node["items"]}
        if "list" in node:
            return [_decode(v, arrays) for v in node["list"]]
        if "tuple" in node:
            return tuple(_decode(v, arrays) for v in node["tuple"])
        if "obj" in node:
            return _build(_resolve(node["obj"]),
                          {k: _decode(v, arrays) for k, v in node["fields"].items()})
    raise ValueError(f"holds an unreadable entry {str(node)[:60]!r}")


# ------------------------------------------------------------------------------ the protocol
_REGISTRY: dict[str, type] = {}

#: Modules whose classes moved when the package was laid out by part (after 0.1.0, issue 14). A
#: file written before names its class by the old module; the class is now found, by its name,
#: in the package on the right (which re-exports it).
MOVED_MODULES = {
    "lmsbn.adaptive": "lmsbn.filters", "lmsbn.filters": "lmsbn.filters",
    "lmsbn.learning_curves": "lmsbn.filters", "lmsbn.signals": "lmsbn.filters.signals",
    "lmsbn.spectral": "lmsbn.spectral", "lmsbn.bridge": "lmsbn.bridge",
    "lmsbn.mode_tracker": "lmsbn.bridge", "lmsbn.layer_modes": "lmsbn.bridge",
    "lmsbn.stability": "lmsbn.bridge", "lmsbn.train": "lmsbn.train",
    "lmsbn.experiments.chai": "lmsbn.experiments.chai",
    "lmsbn.experiments.chai_sweep": "lmsbn.experiments.chai",
    "lmsbn.experiments.chai_bound": "lmsbn.experiments.chai",
    "lmsbn.experiments.chai_isolation": "lmsbn.experiments.chai",
    "lmsbn.experiments.fisher": "lmsbn.experiments.wei",
    "lmsbn.experiments.bjorck": "lmsbn.experiments.bjorck",
    "lmsbn.experiments.wei": "lmsbn.experiments.wei",
    "lmsbn.experiments.ergen": "lmsbn.experiments.ergen",
    "lmsbn.experiments.ergen_model": "lmsbn.experiments.ergen",
    "lmsbn.experiments.ergen_convex": "lmsbn.experiments.ergen",
}


def _moved(module: str, qualname: str):
    """The class an old file calls ``module.qualname``, if its module moved; else None."""
    if module not in MOVED_MODULES:
        return None
    obj = importlib.import_module(MOVED_MODULES[module])
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) and dataclasses.is_dataclass(obj) else None


def _short(value, width: int = 40) -> str:
    """A few characters that identify a value: shape and dtype of arrays, keys of dicts."""
    if isinstance(value, np.ndarray):
        if value.size > 4 or value.ndim != 1:
            return f"{value.dtype}{list(value.shape)}"
        return "[" + ", ".join(_short(x) for x in value.tolist()) + "]"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, np.generic):
        return _short(value.item())
    if isinstance(value, dict):
        if all(type(v) in _JSON_SCALARS for v in value.values()) and len(repr(value)) <= 60:
            return repr(value)
        keys = list(value)
        more = f", +{len(keys) - 4}" if len(keys) > 4 else ""
        return "{" + ", ".join(map(str, keys[:4])) + more + "}"
    if isinstance(value, (list, tuple)):
        text = repr(value)
        return text if len(text) <= width else f"{type(value).__name__}[{len(value)}]"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return f"{type(value).__name__}(...)"
    text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


class Result:
    """Base of every result type: ``save`` / ``load``, ``summary``, a compact ``repr``.

    Subclass it with a dataclass (``@dataclass`` is enough: the compact ``repr`` is kept) whose
    fields hold the numbers, with a ``params`` dict of how the result was produced, and give it
    a small deterministic ``_example()`` for the round-trip test::

        @dataclass
        class BoundCheck(Result):
            lrs: np.ndarray                            # arrays -> .npz entries
            onset: dict                                # nested dicts -> "onset/a/b" entries
            params: dict = field(default_factory=dict)

            def summary(self) -> str: ...              # returns text, prints nothing
            def verdict(self) -> str: ...              # only where the result judges a claim

            @classmethod
            def _example(cls): return cls(np.array([0.1, 1.0]), {"a": np.ones(2)}, {"seed": 0})

    Field values may be arrays (any non-object dtype), NumPy or Python scalars, strings, None,
    and lists, tuples, dicts and dataclasses of those; all come back with their types and
    dtypes, arrays bit for bit.

    Notes
    -----
    The kind stored in a file is the qualified class name (:meth:`kind`). A class that is renamed
    or moved lists its earlier kinds in the class attribute ``_kind_aliases`` so old files still
    load. A result that is not a plain dataclass (e.g.
    :class:`lmsbn.bridge.mode_tracker.ModeTracker`, a training callback) overrides :meth:`_state`
    and :meth:`_from_state`.
    """

    _kind_aliases: tuple = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.kind()] = cls
        if "__repr__" not in vars(cls):
            # ``@dataclass`` keeps a __repr__ the class already defines (documented), so a
            # subclass gets the compact one, never a 200-line dump of its arrays.
            cls.__repr__ = next(vars(k)["__repr__"] for k in cls.__mro__[1:]
                                if "__repr__" in vars(k))

    @classmethod
    def kind(cls) -> str:
        """The kind stored in the file: the qualified class name, ``module.Class``."""
        return f"{cls.__module__}.{cls.__qualname__}"

    # -- what is stored; subclasses that are not plain dataclasses override these two
    def _state(self) -> dict:
        """``{name: value}`` of everything to store; ``params`` always included."""
        state = _fields(self)
        params = state.get("params", getattr(self, "params", None))
        if not isinstance(params, dict):
            raise TypeError(f"{type(self).__qualname__} must have a params dict (how it was "
                            f"produced), got {type(params).__name__}")
        state["params"] = params
        return state

    @classmethod
    def _from_state(cls, state: dict):
        """Inverse of :meth:`_state`."""
        if "params" not in {f.name for f in dataclasses.fields(cls)}:
            state = {k: v for k, v in state.items() if k != "params"}   # a derived property
        return _construct(cls, state)

    @classmethod
    def _example(cls):
        """A small deterministic instance for the round-trip test (every type must define it)."""
        raise NotImplementedError(f"{cls.kind()} defines no _example(); every result type must, "
                                  "so tests/test_results_keep.py can check its round trip")

    # -- the protocol
    def save(self, path) -> Path:
        """Save to ``path`` (``.npz`` appended if missing): arrays + JSON metadata, no pickle.

        Returns
        -------
        pathlib.Path
            The file written (atomically: temporary name, then moved into place).
        """
        arrays: dict = {}
        tree = {k: _encode(v, k, arrays) for k, v in self._state().items()}
        return save_arrays(path, self.kind(), arrays, {"fields": tree})

    @classmethod
    def load(cls, path):
        """Read a result saved by :meth:`save`: the same fields, arrays bit for bit.

        Raises
        ------
        FileNotFoundError
            If ``path`` (or ``path + ".npz"``) does not exist.
        ValueError
            If the file is foreign, corrupted, of an old or future format, or of another kind.
        """
        path, arrays, header = _read(path)
        kind = header.get("kind")
        module, _, name = str(kind).rpartition(".")
        if kind != cls.kind() and kind not in cls._kind_aliases and _moved(module, name) is not cls:
            raise ValueError(f"{path} holds a {kind!r} result, not a {cls.kind()!r}")
        return cls._decode_file(path, arrays, header)

    @classmethod
    def _decode_file(cls, path, arrays, header):
        fields = header.get("meta", {}).get("fields")
        if not isinstance(fields, dict):
            raise ValueError(f"{path} has corrupted metadata (no field table)")
        try:
            return cls._from_state({k: _decode(v, arrays) for k, v in fields.items()})
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            what = f"missing array {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ValueError(f"{path} is a corrupted {cls.__qualname__} file: {what}") from None

    def summary(self) -> str:
        """A readable text report (one line per field here; result types write their own)."""
        return "\n".join([type(self).__qualname__]
                         + [f"  {k}: {_short(v, 70)}" for k, v in self._state().items()])

    def __repr__(self) -> str:
        state = self._state()
        return f"{type(self).__qualname__}(" + ", ".join(
            f"{k}={_short(v)}" for k, v in state.items()) + ")"


def load_result(path) -> Result:
    """Load any result file, whatever its type (found from the kind stored in the file).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Result
        An instance of the registered class whose kind (or alias) the file names.

    Raises
    ------
    FileNotFoundError, ValueError
        As :meth:`Result.load`; ``ValueError`` also for a kind no registered class has.
    """
    path, arrays, header = _read(path)
    kind = str(header.get("kind"))
    cls = _REGISTRY.get(kind) or next((c for c in _REGISTRY.values() if kind in c._kind_aliases),
                                      None)
    if cls is None and kind.startswith("lmsbn."):
        try:  # its module may not be imported yet
            importlib.import_module(kind.rpartition(".")[0])
        except ModuleNotFoundError:
            pass  # a module that no longer exists: the error below says what is missing
        cls = _REGISTRY.get(kind)
    if cls is None:
        moved = _moved(*kind.rpartition(".")[::2])
        cls = moved if moved is not None and issubclass(moved, Result) else None
    if cls is None:
        raise ValueError(f"{path} holds a {kind!r} result, which is no registered result type")
    return cls._decode_file(path, arrays, header)


def rng_param(rng):
    """An ``rng`` argument as a result's ``params`` records it: the seed (int) or None as given;
    for a Generator only its type name, since its state is not a seed one could re-run with."""
    if rng is None or isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return None if rng is None else int(rng)
    return type(rng).__name__


def result_types() -> dict:
    """``{kind: class}`` of every result type, lmsbn's own and any registered since.

    Imports every module of lmsbn first, so the answer does not depend on what was imported.
    """
    import pkgutil

    package = importlib.import_module("lmsbn")
    for info in pkgutil.walk_packages(package.__path__, "lmsbn."):
        if not info.name.rpartition(".")[2].startswith("__"):   # never run a __main__
            importlib.import_module(info.name)
    return dict(sorted(_REGISTRY.items()))
