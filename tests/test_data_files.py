"""Real-data readers: IDX (MNIST, Fashion-MNIST), CIFAR-10 pickles, .npz archives, digits.

Every file here is built in tmp_path in the real format; no data file is committed and no test
touches the network. The helpers ``idx_bytes`` and ``cifar_batch_bytes`` are reused by
test_data_download.py.
"""

import gzip
import io
import pickle
import struct
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from lmsbn.data import load_cifar10, load_digits, load_fashion_mnist, load_mnist, load_npz
from lmsbn.data.files import read_cifar_batch, read_idx

MNIST5K = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist5k.npz"


# ---------------------------------------------------------------------------------------------
# Builders of tiny files in the real formats
# ---------------------------------------------------------------------------------------------
def idx_bytes(arr: np.ndarray) -> bytes:
    """An IDX file holding a uint8 array: 0, 0, type 0x08, ndim, big-endian dims, values."""
    arr = np.asarray(arr, dtype=np.uint8)
    return bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def write_mnist(folder: Path, n_train=6, n_test=4, *, gz=True, seed=0):
    """Write the four MNIST files; return {kind: (images uint8, labels uint8)}."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for kind, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        for stem, arr in ((f"{prefix}-images-idx3-ubyte", images),
                          (f"{prefix}-labels-idx1-ubyte", labels)):
            data = idx_bytes(arr)
            if gz:
                (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / stem).write_bytes(data)
        out[kind] = (images, labels)
    return out


def cifar_batch_bytes(images: np.ndarray, labels) -> bytes:
    """A CIFAR-10 batch as Python 3 would write it (protocol 4, str keys)."""
    batch = {"batch_label": "tiny batch", "labels": [int(v) for v in labels],
             "data": np.asarray(images, dtype=np.uint8).reshape(len(images), -1),
             "filenames": [f"img_{i}.png" for i in range(len(images))]}
    return pickle.dumps(batch, protocol=4)


def py2_cifar_batch_bytes(images: np.ndarray, labels) -> bytes:
    """A CIFAR-10 batch with the opcodes of the official files (Python 2 cPickle, protocol 2).

    Python 2 strings are SHORT_BINSTRING / BINSTRING, and the array references exactly the
    globals the real files use: numpy.core.multiarray._reconstruct, numpy.ndarray, numpy.dtype.
    """
    data = np.asarray(images, dtype=np.uint8).reshape(len(images), -1)

    def s(text):  # a Python 2 str
        raw = text if isinstance(text, bytes) else text.encode()
        return (b"U" + bytes([len(raw)]) if len(raw) < 256
                else b"T" + struct.pack("<I", len(raw))) + raw

    def i(v):
        return b"J" + struct.pack("<i", v)

    array = (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + i(0) + b"\x85"
             + s("b") + b"\x87R"
             + b"(" + i(1) + i(data.shape[0]) + i(data.shape[1]) + b"\x86"
             + b"cnumpy\ndtype\n" + s("u1") + i(0) + i(1) + b"\x87R"
             + b"(" + i(3) + s("|") + b"NNN" + i(-1) + i(-1) + i(0) + b"tb"
             + b"\x89" + s(data.tobytes()) + b"tb")
    items = (s("data") + array + s("labels") + b"](" + b"".join(i(int(v)) for v in labels) + b"e"
             + s("batch_label") + s("testing batch 1 of 1"))
    return b"\x80\x02}(" + items + b"u."


def tiny_cifar(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8),
            rng.integers(0, 10, size=n))


def write_cifar_folder(folder: Path, *, seed=0, n=3):
    """Write data_batch_1..5 and test_batch; return {kind: (images, labels)}."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = {"train": [], "test": []}
    names = [(f"data_batch_{k}", "train") for k in range(1, 6)] + [("test_batch", "test")]
    for j, (name, kind) in enumerate(names):
        images, labels = tiny_cifar(n, seed + j)
        (folder / name).write_bytes(cifar_batch_bytes(images, labels))
        parts[kind].append((images, labels))
    return {k: (np.concatenate([p[0] for p in v]), np.concatenate([p[1] for p in v]))
            for k, v in parts.items()}


def cifar_tar(path: Path, members: dict):
    """A tar.gz whose members are {name: bytes}."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


# ---------------------------------------------------------------------------------------------
# IDX
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("loader", [load_mnist, load_fashion_mnist])
@pytest.mark.parametrize("gz", [True, False])
def test_idx_loaders_read_the_standard_files_exactly(tmp_path, loader, gz):
    truth = write_mnist(tmp_path, gz=gz)
    for kind in ("train", "test"):
        X, y = loader(tmp_path, kind=kind)
        images, labels = truth[kind]
        assert X.shape == (len(labels), 1, 28, 28) and X.dtype == np.float64
        assert y.dtype == np.int64
        # Division by 255 of small integers is exact up to one rounding: compare bit for bit.
        assert np.array_equal(X[:, 0], images / 255.0)
        assert np.array_equal(y, labels)


def test_read_idx_validates_the_header_strictly(tmp_path):
    good = idx_bytes(np.arange(2 * 3 * 4).reshape(2, 3, 4))
    (tmp_path / "ok").write_bytes(good)
    assert read_idx(tmp_path / "ok", magic=2051).shape == (2, 3, 4)
    cases = {
        "short": (good[:-5], "truncated"),
        "long": (good + b"\x00", "longer than its header"),
        "tiny": (good[:2], "truncated"),
        "header": (good[:10], "truncated"),
        "badtype": (bytes([0, 0, 0x07, 3]) + good[4:], "not an IDX file"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=message) as info:
            read_idx(tmp_path / name)
        assert name in str(info.value)  # the message names the file
    with pytest.raises(ValueError, match="magic number 2051, expected 2049"):
        read_idx(tmp_path / "ok", magic=2049)


def test_truncated_gzip_and_mismatched_counts_are_clear_errors(tmp_path):
    write_mnist(tmp_path)
    images = tmp_path / "train-images-idx3-ubyte.gz"
    whole = images.read_bytes()
    images.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz.*truncated"):
        load_mnist(tmp_path)
    images.write_bytes(whole)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(5))))
    with pytest.raises(ValueError, match="6 images but .* 5 labels"):
        load_mnist(tmp_path)
    # A labels file where the images belong: caught by the magic number, not by a reshape.
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(4))))
    with pytest.raises(ValueError, match="magic number 2049, expected 2051"):
        load_mnist(tmp_path, kind="test")


def test_missing_files_name_the_folder_and_the_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte") as info:
        load_fashion_mnist(tmp_path, kind="test")
    assert str(tmp_path) in str(info.value) and "download=True" in str(info.value)


def test_cache_folder_is_the_default_path(tmp_path, monkeypatch):
    monkeypatch.setenv("LMSBN_DATA", str(tmp_path))
    truth = write_mnist(tmp_path / "mnist")
    X, _ = load_mnist(kind="test")
    assert np.array_equal(X[:, 0], truth["test"][0] / 255.0)


def test_loader_arguments_are_validated(tmp_path):
    write_mnist(tmp_path)
    with pytest.raises(ValueError, match="kind must be one of"):
        load_mnist(tmp_path, kind="validation")
    with pytest.raises(ValueError, match="subset must be <= 6"):
        load_mnist(tmp_path, subset=7)
    with pytest.raises(ValueError, match="subset must be >= 1"):
        load_mnist(tmp_path, subset=0)
    with pytest.raises(TypeError, match="normalize must be True or False"):
        load_mnist(tmp_path, normalize="yes")
    with pytest.raises(TypeError, match="rng must be"):
        load_mnist(tmp_path, rng="seed")
    with pytest.raises(ValueError, match="must be a folder"):
        load_mnist(tmp_path / "train-labels-idx1-ubyte.gz")


def test_subset_is_seeded_and_draws_distinct_examples(tmp_path):
    write_mnist(tmp_path, n_train=40)
    X, y = load_mnist(tmp_path)
    Xa, ya = load_mnist(tmp_path, subset=10, rng=3)
    Xb, yb = load_mnist(tmp_path, subset=10, rng=3)
    Xc, _ = load_mnist(tmp_path, subset=10, rng=4)
    assert np.array_equal(Xa, Xb) and np.array_equal(ya, yb)
    assert not np.array_equal(Xa, Xc)  # two seeds picking the same 10 of 40: odds ~1e-9
    # Each subset row is a distinct row of the full set, with its own label, in file order.
    rows = [int(np.flatnonzero((X == x).all(axis=(1, 2, 3)))[0]) for x in Xa]
    assert len(set(rows)) == 10 and rows == sorted(rows)
    assert np.array_equal(y[rows], ya)


def test_default_scaling_and_normalize(tmp_path):
    write_cifar_folder(tmp_path)
    X, _ = load_cifar10(tmp_path)
    assert X.min() >= 0 and X.max() <= 1
    Z, _ = load_cifar10(tmp_path, normalize=True)
    # Per-channel statistics over (n, H, W); 15*1024 values per channel, so float64 round-off in
    # the mean and std is ~1e-15 relative: 1e-12 is a safe bound.
    np.testing.assert_allclose(Z.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=(0, 2, 3)), 1, atol=1e-12)
    # Standardisation is affine per channel, so it is undone by the stored statistics.
    m, s = X.mean(axis=(0, 2, 3), keepdims=True), X.std(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(Z * s + m, X, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# CIFAR-10
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("writer", [cifar_batch_bytes, py2_cifar_batch_bytes])
def test_cifar_batch_layout_is_rgb_planes_row_major(tmp_path, writer):
    images, labels = tiny_cifar(3)
    (tmp_path / "b").write_bytes(writer(images, labels))
    got, got_labels = read_cifar_batch(tmp_path / "b")
    assert np.array_equal(got, images) and np.array_equal(got_labels, labels)
    # Row layout: the first 1024 bytes are the red plane, row-major, so pixel (i, j) of red is
    # byte 32 i + j and the green plane starts at byte 1024.
    raw = images.reshape(3, -1)
    assert got[1, 0, 2, 5] == raw[1, 2 * 32 + 5] and got[1, 1, 0, 0] == raw[1, 1024]


def test_cifar_loads_from_folder_subfolder_and_archive(tmp_path):
    truth = write_cifar_folder(tmp_path / "flat")
    for kind in ("train", "test"):
        X, y = load_cifar10(tmp_path / "flat", kind=kind)
        assert X.shape == (len(truth[kind][1]), 3, 32, 32) and X.dtype == np.float64
        assert np.array_equal(X, truth[kind][0] / 255.0) and np.array_equal(y, truth[kind][1])
    members = {f"cifar-10-batches-py/{p.name}": p.read_bytes()
               for p in sorted((tmp_path / "flat").iterdir())}
    (tmp_path / "arch").mkdir()
    cifar_tar(tmp_path / "arch" / "cifar-10-python.tar.gz", members)
    X, y = load_cifar10(tmp_path / "arch", kind="test")
    assert np.array_equal(y, truth["test"][1])
    assert (tmp_path / "arch" / "cifar-10-batches-py" / "data_batch_3").is_file()
    assert [p.name for p in (tmp_path / "arch").iterdir() if p.name.startswith(".")] == []


def _write_sentinel(path):
    Path(path).write_text("the pickle ran code")


class _Evil:
    def __init__(self, sentinel, how):
        self.sentinel, self.how = str(sentinel), how

    def __reduce__(self):
        if self.how == "function":
            return (_write_sentinel, (self.sentinel,))
        return (open, (self.sentinel, "w"))  # builtins.open: creates the file if ever called


@pytest.mark.parametrize("how", ["function", "builtin"])
def test_malicious_pickle_is_refused_without_running_anything(tmp_path, how):
    sentinel = tmp_path / "sentinel.txt"
    batch = {"data": np.zeros((1, 3072), np.uint8), "labels": [0], "payload": _Evil(sentinel, how)}
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=4))
    name = "_write_sentinel" if how == "function" else "io.open"  # builtins.open is io.open
    with pytest.raises(pickle.UnpicklingError, match=f"refusing to load global .*{name}"):
        load_cifar10(tmp_path, kind="test")
    assert not sentinel.exists()


def test_cifar_batch_contents_are_validated(tmp_path):
    path = tmp_path / "b"
    path.write_bytes(pickle.dumps({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}))
    with pytest.raises(ValueError, match=r"'data' must be a uint8 array of shape \(n, 3072\)"):
        read_cifar_batch(path)
    path.write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 10]}))
    with pytest.raises(ValueError, match="'labels' must be 2 integers in 0..9"):
        read_cifar_batch(path)
    path.write_bytes(pickle.dumps({"labels": [0]}))
    with pytest.raises(ValueError, match="must have 'data' and 'labels'"):
        read_cifar_batch(path)
    images, labels = tiny_cifar(2)
    path.write_bytes(cifar_batch_bytes(images, labels)[:-100])
    with pytest.raises((ValueError, pickle.UnpicklingError), match=str(path)):
        read_cifar_batch(path)


@pytest.mark.parametrize("member", ["../evil", "cifar-10-batches-py/../../evil", "/tmp/evil",
                                    "cifar-10-batches-py/sub/evil", "other/evil",
                                    "cifar-10-batches-py\\..\\..\\evil"])
def test_archive_members_outside_the_batch_folder_are_refused(tmp_path, member):
    inside = tmp_path / "data"
    inside.mkdir()
    cifar_tar(inside / "cifar-10-python.tar.gz",
              {"cifar-10-batches-py/readme.html": b"ok", member: b"evil"})
    with pytest.raises(ValueError, match="refusing unsafe or unexpected member"):
        load_cifar10(inside)
    # Nothing was written: not the evil file anywhere, and no temporary folder left behind.
    assert sorted(p.name for p in inside.iterdir()) == ["cifar-10-python.tar.gz"]
    assert not (tmp_path / "evil").exists()


def test_archive_links_and_truncation_are_refused(tmp_path):
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(ValueError, match="refusing unsafe"):
        load_cifar10(tmp_path)
    write_cifar_folder(tmp_path / "flat")
    members = {f"cifar-10-batches-py/{p.name}": p.read_bytes()
               for p in (tmp_path / "flat").iterdir()}
    cifar_tar(tmp_path / "whole.tar.gz", members)
    whole = (tmp_path / "whole.tar.gz").read_bytes()
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match="not a complete tar.gz archive"):
        load_cifar10(tmp_path)
    assert not (tmp_path / "cifar-10-batches-py").exists()


def test_cifar_missing_files_are_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-10-python.tar.gz"):
        load_cifar10(tmp_path)
    write_cifar_folder(tmp_path)
    (tmp_path / "data_batch_4").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_4"):
        load_cifar10(tmp_path)


# ---------------------------------------------------------------------------------------------
# .npz and digits
# ---------------------------------------------------------------------------------------------
@pytest.mark.skipif(not MNIST5K.is_file(),
                    reason="shared/data/mnist5k.npz is not beside the checkout")
def test_mnist5k_sample_loads_as_nchw():
    X, y = load_npz(MNIST5K)
    assert X.shape == (5000, 1, 28, 28) and X.dtype == np.float64 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    counts = np.bincount(y, minlength=10)
    assert len(counts) == 10
    # MNIST's class frequencies lie between 9% and 11.3%; a 5000-sample adds ~+-0.4% (1 sd),
    # so every class holding 8% to 12.5% of the sample is a loose but meaningful check.
    assert counts.min() >= 400 and counts.max() <= 625


def test_npz_shapes_scaling_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, size=(6, 5, 7)).astype(np.float32)
    np.savez(tmp_path / "grey.npz", images=grey, labels=np.arange(6))
    X, y = load_npz(tmp_path / "grey.npz")
    assert X.shape == (6, 1, 5, 7) and np.array_equal(X[:, 0], grey.astype(np.float64) / 255.0)
    rgb = rng.uniform(0, 1, size=(4, 3, 5, 5))
    np.savez(tmp_path / "rgb.npz", images=rgb, labels=np.zeros(4, np.uint8))
    X, _ = load_npz(tmp_path / "rgb.npz")
    assert np.array_equal(X, rgb)  # already in [0, 1]: kept as is

    bad = {
        "nolabels": (dict(images=grey), "missing \\['labels'\\]"),
        "ndim": (dict(images=grey[0], labels=np.arange(6)), "must have 3 or 4 dimensions"),
        "length": (dict(images=grey, labels=np.arange(5)), "length 6"),
        "floatlabels": (dict(images=grey, labels=np.arange(6.0)), "integer array"),
        "range": (dict(images=grey - 1, labels=np.arange(6)), r"in \[0, 255\]"),
        "objects": (dict(images=grey, labels=np.array([None] * 6)), "pickled or object"),
    }
    for name, (arrays, message) in bad.items():
        np.savez(tmp_path / f"{name}.npz", **arrays)
        with pytest.raises(ValueError, match=message):
            load_npz(tmp_path / f"{name}.npz")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="junk.npz"):
        load_npz(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError, match="nothere.npz"):
        load_npz(tmp_path / "nothere.npz")
    np.save(tmp_path / "single.npy", grey)      # np.load returns an array, not an archive
    with pytest.raises(ValueError, match="single.npy is a single .npy array"):
        load_npz(tmp_path / "single.npy")


def test_load_digits_without_scikit_learn_names_the_extra(monkeypatch):
    # A None entry in sys.modules makes the import raise ImportError.
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r'pip install "lmsbn\[data\]"'):
        load_digits()


def test_load_digits_reads_what_scikit_learn_returns(monkeypatch):
    # A stand-in sklearn.datasets module, so this runs where scikit-learn is not installed (CI):
    # 12 "digits" with grey levels 0..16, which load_digits divides by 16.
    import types

    images = np.arange(12 * 64).reshape(12, 8, 8) % 17
    fake = types.ModuleType("sklearn.datasets")
    fake.load_digits = lambda: types.SimpleNamespace(images=images.astype(float),
                                                     target=np.arange(12) % 10)
    monkeypatch.setitem(sys.modules, "sklearn", types.ModuleType("sklearn"))
    monkeypatch.setitem(sys.modules, "sklearn.datasets", fake)
    X, y = load_digits()
    assert X.shape == (12, 1, 8, 8) and X.dtype == np.float64 and y.dtype == np.int64
    np.testing.assert_array_equal(X[:, 0] * 16, images)
    np.testing.assert_array_equal(y, np.arange(12) % 10)


def test_load_digits_with_scikit_learn():
    pytest.importorskip("sklearn")
    X, y = load_digits(subset=100, rng=0)
    assert X.shape == (100, 1, 8, 8) and X.dtype == np.float64 and y.dtype == np.int64
    assert X.min() >= 0 and X.max() <= 1 and set(np.unique(y)) <= set(range(10))
