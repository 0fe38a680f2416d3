"""Cache folder and checksummed downloads, exercised through file:// URLs (no network).

Each test serves tiny files in the real formats from a folder in tmp_path, swaps the checksum
table for their digests, and runs the real download path: urllib streaming, size and SHA-256
checks, the temporary file and the atomic rename.
"""

import gzip
import hashlib
import importlib
import re
import urllib.error

import numpy as np
import pytest
from test_data_files import cifar_batch_bytes, cifar_tar, idx_bytes, tiny_cifar

from lmsbn.data import cache_dir, download, load_cifar10, load_mnist

dl = importlib.import_module("lmsbn.data.download")  # lmsbn.data.download is the function


def serve(monkeypatch, root, name, files: dict, *, sizes=True):
    """Put ``files`` ({filename: bytes}) under root/name and make them the official table."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    table = []
    for filename, data in files.items():
        (folder / filename).write_bytes(data)
        table.append(dl.RemoteFile(filename, hashlib.sha256(data).hexdigest(),
                                   len(data) if sizes else None))
    monkeypatch.setitem(dl.REMOTE_FILES, name, tuple(table))
    return folder.as_uri()


def mnist_files(n=5, seed=0):
    rng = np.random.default_rng(seed)
    out, truth = {}, {}
    for prefix in ("train", "t10k"):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        out[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(idx_bytes(images))
        out[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(labels))
        truth[prefix] = (images, labels)
    return out, truth


def leftovers(folder):
    """Temporary files of an interrupted download (names start with a dot)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LMSBN_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_dir() == tmp_path / "home" / ".cache" / "lmsbn"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec says ignore it
    assert cache_dir() == tmp_path / "home" / ".cache" / "lmsbn"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "lmsbn"
    monkeypatch.setenv("LMSBN_DATA", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    assert dl.dataset_dir("cifar10") == tmp_path / "mine" / "cifar10"


def test_checksum_table_is_complete_and_well_formed():
    expected = {"mnist": 4, "fashion_mnist": 4, "cifar10": 1}
    assert {k: len(v) for k, v in dl.REMOTE_FILES.items()} == expected
    assert set(dl.BASE_URLS) == set(expected)
    for files in dl.REMOTE_FILES.values():
        for remote in files:
            assert re.fullmatch("[0-9a-f]{64}", remote.sha256), remote
            assert remote.size > 0
    names = {r.filename for r in dl.REMOTE_FILES["mnist"]}
    assert names == {f"{p}-{k}-idx{d}-ubyte.gz" for p in ("train", "t10k")
                     for k, d in (("images", 3), ("labels", 1))}


def test_download_then_load_mnist(monkeypatch, tmp_path):
    files, truth = mnist_files()
    url = serve(monkeypatch, tmp_path / "server", "mnist", files)
    dest = download("mnist", dest=tmp_path / "cache", base_url=url)
    assert dest == tmp_path / "cache"
    for filename, data in files.items():
        assert (dest / filename).read_bytes() == data
    assert leftovers(dest) == []
    X, y = load_mnist(dest, kind="test")
    assert np.array_equal(X[:, 0], truth["t10k"][0] / 255.0) and np.array_equal(y, truth["t10k"][1])


def test_loader_download_true_uses_cache_and_mirror_env(monkeypatch, tmp_path):
    files, truth = mnist_files(seed=1)
    serve(monkeypatch, tmp_path / "server", "mnist", files)
    monkeypatch.setenv("LMSBN_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("LMSBN_DATA_URL", (tmp_path / "server").as_uri())
    X, y = load_mnist(download=True)
    assert np.array_equal(y, truth["train"][1])
    assert (tmp_path / "cache" / "mnist" / "train-images-idx3-ubyte.gz").is_file()


def test_download_then_load_cifar10(monkeypatch, tmp_path):
    images, labels = tiny_cifar(3)
    batch = cifar_batch_bytes(images, labels)
    names = [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]
    cifar_tar(tmp_path / "archive.tar.gz", {f"cifar-10-batches-py/{n}": batch for n in names})
    serve(monkeypatch, tmp_path / "server", "cifar10",
          {"cifar-10-python.tar.gz": (tmp_path / "archive.tar.gz").read_bytes()})
    monkeypatch.setenv("LMSBN_DATA_URL", (tmp_path / "server").as_uri())
    X, y = load_cifar10(tmp_path / "cache", kind="test", download=True)
    assert np.array_equal(X, images / 255.0) and np.array_equal(y, labels)
    # Downloaded, verified, then extracted beside the archive; nothing temporary is left.
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [
        "cifar-10-batches-py", "cifar-10-python.tar.gz"]


def test_files_already_present_are_verified_not_fetched(monkeypatch, tmp_path):
    files, _ = mnist_files()
    url = serve(monkeypatch, tmp_path / "server", "mnist", files)
    download("mnist", dest=tmp_path / "cache", base_url=url)

    def no_network(*args, **kwargs):
        raise AssertionError("a verified file must not be downloaded again")

    monkeypatch.setattr(dl.urllib.request, "urlopen", no_network)
    download("mnist", dest=tmp_path / "cache", base_url=url)
    # A present file with the wrong digest is an error, and the file is left untouched.
    target = tmp_path / "cache" / "t10k-labels-idx1-ubyte.gz"
    target.write_bytes(b"something else")
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz already exists but its sha256"):
        download("mnist", dest=tmp_path / "cache", base_url=url)
    assert target.read_bytes() == b"something else"


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "failed its checksum"),
    (lambda b: b[: len(b) // 2], "truncated"),
])
def test_corrupted_or_truncated_download_leaves_no_file(monkeypatch, tmp_path, damage, message):
    files, _ = mnist_files()
    url = serve(monkeypatch, tmp_path / "server", "mnist", files)
    served = tmp_path / "server" / "mnist" / "train-labels-idx1-ubyte.gz"
    served.write_bytes(damage(served.read_bytes()))
    dest = tmp_path / "cache"
    with pytest.raises(ValueError, match=message):
        download("mnist", dest=dest, base_url=url)
    assert not (dest / "train-labels-idx1-ubyte.gz").exists()
    assert leftovers(dest) == []
    # Without a recorded size the checksum alone still catches the truncation.
    serve(monkeypatch, tmp_path / "server2", "mnist", files, sizes=False)
    served2 = tmp_path / "server2" / "mnist" / "train-labels-idx1-ubyte.gz"
    served2.write_bytes(damage(served2.read_bytes()))
    with pytest.raises(ValueError, match="failed its checksum"):
        download("mnist", dest=dest, base_url=(tmp_path / "server2" / "mnist").as_uri())
    assert not (dest / "train-labels-idx1-ubyte.gz").exists() and leftovers(dest) == []


def test_interrupted_download_leaves_no_file(monkeypatch, tmp_path):
    files, _ = mnist_files()
    url = serve(monkeypatch, tmp_path / "server", "mnist", files)
    real_urlopen = dl.urllib.request.urlopen

    class Dropping:
        """A response that delivers one chunk and then loses the connection."""

        def __init__(self, response):
            self.response, self.calls = response, 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.response.close()

        def read(self, size):
            self.calls += 1
            if self.calls > 1:
                raise ConnectionResetError("connection reset by peer")
            return self.response.read(10)

    monkeypatch.setattr(dl.urllib.request, "urlopen",
                        lambda *a, **k: Dropping(real_urlopen(*a, **k)))
    dest = tmp_path / "cache"
    with pytest.raises(ConnectionError, match="connection reset"):
        download("mnist", dest=dest, base_url=url)
    assert list(dest.iterdir()) == []


def test_offline_error_says_which_files_go_where(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(dl.urllib.request, "urlopen", offline)
    monkeypatch.setenv("LMSBN_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("LMSBN_DATA_URL", raising=False)
    with pytest.raises(ConnectionError) as info:
        load_cifar10(download=True)
    text = str(info.value)
    assert "cifar-10-python.tar.gz" in text and str(tmp_path / "cache" / "cifar10") in text
    assert "www.cs.toronto.edu" in text and "name resolution" in text
    assert leftovers(tmp_path / "cache" / "cifar10") == []
    # A missing file on a file:// mirror is the same kind of failure.
    monkeypatch.undo()
    with pytest.raises(ConnectionError, match="t10k-images-idx3-ubyte.gz"):
        download("mnist", dest=tmp_path / "c2", base_url=(tmp_path / "nowhere").as_uri())


def test_download_validates_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="name must be one of"):
        download("imagenet", dest=tmp_path)
    with pytest.raises(TypeError, match="dest must be a str or path-like"):
        download("mnist", dest=3)
    with pytest.raises(TypeError, match="base_url must be a non-empty str"):
        download("mnist", dest=tmp_path, base_url="")
