"""Every result type saves to .npz + JSON and loads back equal, bit for bit (one test over the
registry); foreign, corrupted, old-format and other-kind files fail clearly."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

import numpy as np
import pytest

from lmsbn._version import __version__
from lmsbn.filters import LMS
from lmsbn.io import (
    FORMAT_VERSION,
    Result,
    load_arrays,
    load_result,
    result_types,
    save_arrays,
)
from lmsbn.spectral import Spectrum
from lmsbn.train import History

# Collected once: importing every lmsbn module registers every result type it defines.
LMSBN_TYPES = {k: c for k, c in result_types().items() if k.startswith("lmsbn.")}


def assert_same(a, b, where="result"):
    """Deep equality that also demands the same types, dtypes and bits (NaN == NaN, -0.0 != 0.0)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, \
            f"{where}: {a.dtype}{a.shape} != {b.dtype}{b.shape}"
        assert a.tobytes() == b.tobytes(), f"{where}: array bits differ"
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), f"{where}: {a!r} != {b!r}"
    elif isinstance(a, float):
        assert ((math.isnan(a) and math.isnan(b))
                or (a == b and math.copysign(1, a) == math.copysign(1, b))), \
            f"{where}: {a!r} != {b!r}"
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, Result):
        assert_same(a._state(), b._state(), where)
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _header(path):
    with np.load(path, allow_pickle=False) as data:
        return json.loads(str(data["__lmsbn_meta__"]))


# ---------------------------------------------------------------------- the registry-wide test
def test_lmsbn_defines_result_types():
    assert {History.kind(), Spectrum.kind()} <= set(LMSBN_TYPES)
    for kind, cls in LMSBN_TYPES.items():
        assert kind == f"{cls.__module__}.{cls.__qualname__}" and issubclass(cls, Result)


@pytest.mark.parametrize("kind", sorted(LMSBN_TYPES))
def test_every_result_type_round_trips(kind, tmp_path):
    cls = LMSBN_TYPES[kind]
    example = cls._example()        # a type without an example fails here
    assert type(example) is cls
    assert isinstance(example.params, dict) and example.params, \
        f"{kind}'s example must say how it was produced (params)"
    path = example.save(tmp_path / "r")
    assert path.name == "r.npz" and not list(tmp_path.glob("*.part"))
    back = cls.load(tmp_path / "r")   # finds the suffix that save added
    assert_same(back, example, kind)
    assert_same(load_result(path), example, kind)
    header = _header(path)
    assert ((header["kind"], header["format"], header["lmsbn"])
            == (kind, FORMAT_VERSION, __version__))
    assert "params" in header["meta"]["fields"]
    assert back.params == example.params
    # The judgement and the text survive too, and are computed from the stored numbers.
    assert isinstance(back.summary(), str) and back.summary() == example.summary()
    if hasattr(cls, "verdict"):
        assert callable(back.verdict) and back.verdict() == example.verdict()
    text = repr(back)
    assert text.startswith(cls.__qualname__ + "(") and "\n" not in text and len(text) < 600, text


# ------------------------------------------------------------------ the encoding, on a toy type
@dataclass
class Inner(Result):
    values: np.ndarray
    note: str = ""
    params: dict = field(default_factory=dict)


@dataclass
class Toy(Result):
    arrays: dict
    scalars: dict
    containers: dict
    inner: Inner
    params: dict = field(default_factory=dict)

    @classmethod
    def _example(cls):
        rng = np.random.default_rng(0)
        arrays = {
            "special": np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324]),
            "empty": np.zeros((0, 3)), "empty_int": np.zeros(0, np.int64),
            "fortran": np.asfortranarray(rng.normal(size=(3, 4))),
            "float32": rng.normal(size=5).astype(np.float32),
            "int8": np.arange(-3, 3, dtype=np.int8),
            "complex": np.array([1 + 2j, np.nan]), "bool": np.array([True, False]),
            "str": np.array(["conv1", "fc"]), "zero_d": np.array(2.5),
            "nested": {"full": {"init": np.ones(2), "trained": np.full(2, np.nan)}, "none": {}},
        }
        scalars = {"nan": float("nan"), "inf": float("-inf"), "negzero": -0.0, "int": 2**53 + 1,
                   "bool": True, "none": None, "str": "a/b \"quoted\" ünïcode",
                   "np_float": np.float32(0.1), "np_int": np.int64(-7), "np_bool": np.bool_(True)}
        containers = {"tuple": ("a", "b"), "list": [1, [2.5, None]], "empty_list": [],
                      "int_keys": {0: np.arange(3), 2: "two"},
                      "list_of_arrays": [np.ones(1), np.zeros(0)]}
        return cls(arrays, scalars, containers, Inner(np.arange(4.0), "x", {"k": 1}),
                   {"seed": 0, "widths": [8, 16], "lr": 0.1})


def test_every_kind_of_value_survives_exactly(tmp_path):
    toy = Toy._example()
    back = Toy.load(toy.save(tmp_path / "toy.npz"))
    assert_same(back, toy)
    assert back.arrays["fortran"].flags.f_contiguous
    # Nested dicts of arrays are flattened into readable entries of the .npz.
    with np.load(tmp_path / "toy.npz") as data:
        assert "arrays/nested/full/init" in data.files and "inner/values" in data.files
    assert isinstance(back.summary(), str) and "Toy" in repr(back)


def test_repr_is_compact():
    big = Inner(np.zeros((200, 300)), "x" * 500, {"a": 1})
    text = repr(big)
    assert text.startswith("Inner(values=float64[200, 300]") and len(text) < 150, text
    assert "Inner" in big.summary()


def test_a_type_without_an_example_fails_loudly():
    @dataclass
    class NoExample(Result):
        params: dict = field(default_factory=dict)

    with pytest.raises(NotImplementedError, match="_example"):
        NoExample._example()
    assert result_types()[NoExample.kind()] is NoExample


def test_unsavable_values_are_refused_naming_the_field(tmp_path):
    with pytest.raises(TypeError, match="'values'.*dtype object"):
        Inner(np.array([{}, None], dtype=object)).save(tmp_path / "o")
    with pytest.raises(TypeError, match="'params/when' is a set"):
        Inner(np.ones(1), params={"when": {1, 2}}).save(tmp_path / "s")
    with pytest.raises(TypeError, match="params dict"):
        Inner(np.ones(1), params=None).save(tmp_path / "p")
    assert not list(tmp_path.iterdir())     # nothing half-written


# ---------------------------------------------------------------------------------- bad files
def test_foreign_corrupt_missing_and_other_kind_files_fail_clearly(tmp_path):
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.ones(3))
    with pytest.raises(ValueError, match="not an lmsbn result file"):
        Inner.load(foreign)
    path = Toy._example().save(tmp_path / "toy")
    with pytest.raises(ValueError, match="holds a '.*Toy' result, not a '.*Inner'"):
        Inner.load(path)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a readable lmsbn result file"):
        Toy.load(broken)
    with pytest.raises(FileNotFoundError):
        Toy.load(tmp_path / "missing.npz")
    np.save(tmp_path / "array.npy", np.ones(3))
    with pytest.raises(ValueError, match="array.npy is not a readable .* single .npy array"):
        Toy.load(tmp_path / "array.npy")


def _rewrite(path, out, edit):
    """Copy a result file with its header (and arrays) edited, to fake a damaged or old file."""
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(str(arrays.pop("__lmsbn_meta__")))
    edit(header, arrays)
    np.savez(out, __lmsbn_meta__=np.array(json.dumps(header)), **arrays)
    return out


def test_corrupted_field_tables_give_a_clear_error(tmp_path):
    path = Inner(np.ones(2), params={"a": 1}).save(tmp_path / "ok")
    cases = {
        "missing array": lambda h, a: a.pop("values"),
        "no field table": lambda h, a: h["meta"].pop("fields"),
        "unreadable entry": lambda h, a: h["meta"]["fields"].update(values={"bogus": 1}),
        r"fields \['extra'\]": lambda h, a: h["meta"]["fields"].update(extra=1),
        r"lacks the fields \['values'\]": lambda h, a: h["meta"]["fields"].pop("values"),
        "neither in lmsbn": lambda h, a: h["meta"]["fields"].update(
            note={"obj": "os:PathLike", "fields": {}}),
    }
    for i, (message, edit) in enumerate(cases.items()):
        bad = _rewrite(path, tmp_path / f"bad{i}.npz", edit)
        with pytest.raises(ValueError, match=message):
            Inner.load(bad)


def test_old_and_future_formats_are_refused_saying_what_to_do(tmp_path):
    # A History as lmsbn 0.1 wrote it (format 1, short kind, its own layout).
    header = {"kind": "History", "format": 1, "lmsbn": "0.1.0",
              "meta": {"diverged": False, "diverged_at": -1, "reason": "", "params": {}}}
    np.savez(tmp_path / "old.npz", loss=np.ones(3), accuracy=np.ones(3),
             __lmsbn_meta__=np.array(json.dumps(header)))
    with pytest.raises(ValueError, match=r"'History' result written by lmsbn 0.1.0 in result "
                                         r"format 1.*Re-run the code that produced it"):
        Inner.load(tmp_path / "old.npz")
    with pytest.raises(ValueError, match="format 1"):
        load_result(tmp_path / "old.npz")
    future = _rewrite(Inner(np.ones(1), params={"a": 1}).save(tmp_path / "f"),
                      tmp_path / "future.npz", lambda h, a: h.update(format=FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match=f"result format {FORMAT_VERSION + 1}.*newer lmsbn"):
        Inner.load(future)


def test_load_result_dispatches_on_the_stored_kind(tmp_path):
    toy = Toy._example()
    assert_same(load_result(toy.save(tmp_path / "t")), toy)
    unknown = _rewrite(tmp_path / "t.npz", tmp_path / "u.npz", lambda h, a: h.update(kind="x.Gone"))
    with pytest.raises(ValueError, match="'x.Gone' result, which is no registered result type"):
        load_result(unknown)


def test_renamed_types_load_through_their_aliases(tmp_path):
    @dataclass
    class Renamed(Result):
        x: np.ndarray
        params: dict = field(default_factory=dict)
        _kind_aliases = ("lmsbn.old_place.Renamed",)

    path = _rewrite(Renamed(np.arange(3), {"a": 1}).save(tmp_path / "r"), tmp_path / "old.npz",
                    lambda h, a: h.update(kind="lmsbn.old_place.Renamed"))
    assert np.array_equal(Renamed.load(path).x, np.arange(3))


def test_an_interrupted_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    first = Inner(np.ones(3), params={"run": 1})
    path = first.save(tmp_path / "x")

    def disk_full(fh, **arrays):
        fh.write(b"half a zip")
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(OSError, match="No space"):
        Inner(np.zeros(3), params={"run": 2}).save(path)
    monkeypatch.undo()
    assert_same(Inner.load(path), first)
    assert not list(tmp_path.glob("*.part"))


# ------------------------------------------------------------------------- the low-level writer
def test_save_arrays_round_trip_and_checks(tmp_path):
    path = save_arrays(tmp_path / "x", "Thing", {"a": np.ones(2)}, {"p": 1})
    arrays, meta = load_arrays(path, "Thing")
    assert meta["p"] == 1 and meta["lmsbn_version"] == __version__
    assert np.array_equal(arrays["a"], np.ones(2))
    with pytest.raises(ValueError, match="holds a 'Thing' result, not a 'Other'"):
        load_arrays(path, "Other")
    with pytest.raises(TypeError, match="dtype object"):
        save_arrays(tmp_path / "o", "Thing", {"a": np.array([{}, None], dtype=object)})
    with pytest.raises(ValueError, match="reserved"):
        save_arrays(tmp_path / "r", "Thing", {"__lmsbn_meta__": np.ones(1)})
@pytest.mark.parametrize("runs", [None, 3])
def test_filter_result_round_trip(tmp_path, runs):
    rng = np.random.default_rng(1)
    shape = (() if runs is None else (runs,)) + (40, 4)
    U = rng.normal(size=shape)
    d = U @ np.ones(4)
    res = LMS(4, 0.05).run(U, d, record=5)
    back = type(res).load(res.save(tmp_path / "r"))
    for key in ("y", "e", "w_history", "history_steps", "w_final", "diverged", "diverged_at",
                "reason"):
        assert np.array_equal(getattr(back, key), getattr(res, key)), key
    assert type(back.diverged) is type(res.diverged)




def test_a_real_training_history_and_spectrum_round_trip(tmp_path):
    from lmsbn.data import shapes
    from lmsbn.nn import small_cnn
    from lmsbn.train import train

    X, y = shapes(64, size=8, rng=0)
    hist = train(small_cnn(widths=(4, 4), rng=0), X[:48], y[:48], steps=3,
                 eval_data=(X[48:], y[48:]), rng=0)
    assert_same(History.load(hist.save(tmp_path / "h")), hist)
    spec = Spectrum.from_regressors(np.random.default_rng(0).normal(size=(50, 6)), center=True)
    back = Spectrum.load(spec.save(tmp_path / "s"))
    assert_same(back, spec)
    with pytest.raises(ValueError, match="read-only"):   # as immutable as the original
        back.eigenvalues[0] = 1.0
    bad = _rewrite(tmp_path / "s.npz", tmp_path / "bad.npz",
                   lambda h, a: a.update(eigenvalues=a["eigenvalues"] * 1.01))
    with pytest.raises(ValueError, match="corrupted Spectrum file.*inconsistent"):
        Spectrum.load(bad)


@pytest.mark.parametrize("old_module, new_package, name", [
    ("lmsbn.adaptive", "lmsbn.filters", "FilterResult"),
    ("lmsbn.spectral", "lmsbn.spectral", "Spectrum"),
    ("lmsbn.bridge", "lmsbn.bridge", "FirstStepReport"),
    ("lmsbn.experiments.chai_sweep", "lmsbn.experiments.chai", "LRSweep"),
    ("lmsbn.experiments.fisher", "lmsbn.experiments.wei", "FIMEstimate"),
])
def test_files_written_before_the_layout_move_still_load(old_module, new_package, name, tmp_path):
    # Before issue 14 these classes lived in flat modules; a file names its class (and any nested
    # dataclass) by module, so an old file's names are rewritten here to what 0.1.0 wrote.
    import importlib

    cls = getattr(importlib.import_module(new_package), name)
    example = cls._example()
    new_module = cls.__module__

    def to_old(h, a):  # the kind, and the references to nested dataclasses of the same module
        text = json.dumps(h).replace(f"{new_module}.{name}", f"{old_module}.{name}")
        text = text.replace(f'"{new_module}:', f'"{old_module}:')
        h.clear()
        h.update(json.loads(text))

    old = _rewrite(example.save(tmp_path / "new"), tmp_path / "old.npz", to_old)
    assert _header(old)["kind"] == f"{old_module}.{name}"
    assert_same(cls.load(old), example)
    assert_same(load_result(old), example)
