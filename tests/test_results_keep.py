"""Results save to .npz + JSON and load back equal, bit for bit; foreign or corrupted files fail clearly."""

import json

import numpy as np
import pytest

from lmsbn.data import shapes
from lmsbn.filters import LMS
from lmsbn.io import FORMAT_VERSION, load_arrays, save_arrays
from lmsbn.nn import small_cnn
from lmsbn.spectral import Spectrum
from lmsbn.train import History, train


def test_history_round_trip(tmp_path):
    X, y = shapes(128, rng=0)
    hist = train(small_cnn(rng=0), X[:96], y[:96], steps=4, eval_data=(X[96:], y[96:]), rng=0)
    back = History.load(hist.save(tmp_path / "h"))
    for key in ("loss", "accuracy", "eval_steps", "eval_loss", "eval_accuracy"):
        assert np.array_equal(getattr(back, key), getattr(hist, key))
        assert getattr(back, key).dtype == getattr(hist, key).dtype
    assert (back.diverged, back.diverged_at, back.reason, back.params) == \
        (hist.diverged, hist.diverged_at, hist.reason, hist.params)


def test_diverged_history_round_trip(tmp_path):
    X, y = shapes(128, rng=0)
    hist = train(small_cnn(norm="none", rng=0), X, y, steps=20, lr=50.0, rng=0)
    assert hist.diverged
    back = History.load(hist.save(tmp_path / "h.npz"))
    assert back.diverged and back.diverged_at == hist.diverged_at and back.reason == hist.reason


def test_spectrum_round_trip(tmp_path):
    U = np.random.default_rng(0).normal(size=(50, 6))
    spec = Spectrum.from_regressors(U, center=True)
    back = Spectrum.load(spec.save(tmp_path / "s"))
    for key in ("R", "eigenvalues", "eigenvectors"):
        assert np.array_equal(getattr(back, key), getattr(spec, key))
    assert back.num_samples == 50 and back.centered


@pytest.mark.parametrize("runs", [None, 3])
def test_filter_result_round_trip(tmp_path, runs):
    rng = np.random.default_rng(1)
    shape = (() if runs is None else (runs,)) + (40, 4)
    U = rng.normal(size=shape)
    d = U @ np.ones(4)
    res = LMS(4, 0.05).run(U, d, record=5)
    back = type(res).load(res.save(tmp_path / "r"))
    for key in ("y", "e", "w_history", "history_steps", "w_final", "diverged", "diverged_at", "reason"):
        assert np.array_equal(getattr(back, key), getattr(res, key)), key
    assert type(back.diverged) is type(res.diverged)


def test_foreign_corrupt_and_wrong_kind_files_fail_clearly(tmp_path):
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.ones(3))
    with pytest.raises(ValueError, match="not an lmsbn result file"):
        History.load(foreign)
    spec = Spectrum.from_matrix(np.eye(2))
    path = spec.save(tmp_path / "spec")
    with pytest.raises(ValueError, match="holds a 'Spectrum' result, not a 'History'"):
        History.load(path)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a readable lmsbn result file"):
        Spectrum.load(broken)
    with pytest.raises(FileNotFoundError):
        Spectrum.load(tmp_path / "missing.npz")
    np.save(tmp_path / "array.npy", np.ones(3))
    with pytest.raises(ValueError, match="array.npy is not a readable .* single .npy array"):
        History.load(tmp_path / "array.npy")


def test_load_finds_the_suffix_that_save_added(tmp_path):
    spec = Spectrum.from_matrix(np.diag([2.0, 1.0]))
    assert spec.save(tmp_path / "spec").name == "spec.npz"
    np.testing.assert_array_equal(Spectrum.load(tmp_path / "spec").eigenvalues, spec.eigenvalues)


def test_incompatible_format_version_is_refused(tmp_path):
    path = save_arrays(tmp_path / "x", "Thing", {"a": np.ones(2)}, {"p": 1})
    arrays, meta = load_arrays(path, "Thing")
    assert meta["p"] == 1 and np.array_equal(arrays["a"], np.ones(2))
    header = {"kind": "Thing", "format": FORMAT_VERSION + 1, "lmsbn": "9.9", "meta": {}}
    np.savez(tmp_path / "future.npz", a=np.ones(2), __lmsbn_meta__=np.array(json.dumps(header)))
    with pytest.raises(ValueError, match=f"result format {FORMAT_VERSION + 1}"):
        load_arrays(tmp_path / "future.npz", "Thing")


def test_object_arrays_are_refused_because_they_need_pickle(tmp_path):
    with pytest.raises(TypeError, match="dtype object"):
        save_arrays(tmp_path / "o", "Thing", {"a": np.array([{}, None], dtype=object)})
