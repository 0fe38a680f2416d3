"""Loaders for real image datasets: MNIST, Fashion-MNIST, CIFAR-10, ``.npz`` archives, digits.

Every loader returns ``(X, y)``: ``X`` float64 of shape (n, C, H, W) (NCHW, the layout used
throughout lmsbn) and ``y`` int64 of shape (n,). They share one scaling convention:

* by default pixels are scaled to [0, 1] (8-bit values divided by 255, the 0..16 digits by 16);
* ``normalize=True`` then standardises each channel over the *returned* set,
  :math:`x_{ncij} \\leftarrow (x_{ncij} - m_c) / s_c`, with :math:`m_c` and :math:`s_c` the mean
  and standard deviation (ddof 0) over all returned images and pixels of channel c (a constant
  channel is only centred). A test set normalised this way uses its own statistics; to apply the
  training statistics instead, load with ``normalize=False`` and standardise by hand.

``subset=k`` keeps k examples drawn without replacement with ``rng``; they keep their file order.

File formats, read here without any third-party code:

* IDX (MNIST, Fashion-MNIST): a big-endian header -- two zero bytes, a type code (0x08 = uint8),
  the number of dimensions, then each dimension as a uint32 -- followed by the raw values. Images
  have magic number 2051 (0x00000803), labels 2049 (0x00000801). Files may be gzipped (``.gz``).
* CIFAR-10 python batches: pickled dicts whose ``data`` entry is a uint8 array (n, 3072) holding
  each image as 1024 red, 1024 green, then 1024 blue values in row-major order, and whose
  ``labels`` entry is a list of ints. A pickle can run arbitrary code when loaded, so batches are
  read with an unpickler that resolves only the names NumPy needs to rebuild an array
  (``ndarray``, ``dtype`` and the ``_reconstruct`` / ``_frombuffer`` helpers) and refuses every
  other global *before* anything is called.

References
----------
Y. LeCun, C. Cortes, C. J. C. Burges, "The MNIST database of handwritten digits".
H. Xiao, K. Rasul, R. Vollgraf, "Fashion-MNIST", arXiv:1708.07747, 2017.
A. Krizhevsky, "Learning multiple layers of features from tiny images", tech. report, 2009.
"""

from __future__ import annotations

import gzip
import math
import pickle
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from lmsbn._checks import as_float_array, as_generator, check_choice, check_int, describe

# Import names, not the module: ``lmsbn.data.download`` is the download *function* once the
# package is initialised, so ``from . import download`` would depend on import order.
from lmsbn.data.download import CIFAR_FOLDER, _as_path, cache_dir, extract_cifar_archive
from lmsbn.data.download import download as fetch_dataset

__all__ = ["load_cifar10", "load_digits", "load_fashion_mnist", "load_mnist", "load_npz",
           "read_cifar_batch", "read_idx"]

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
_CIFAR_BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}


# --------------------------------------------------------------------------------------------
# IDX: MNIST and Fashion-MNIST
# --------------------------------------------------------------------------------------------
def read_idx(path, *, magic: int | None = None) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into an array with native byte order.

    Parameters
    ----------
    path : str or path-like
        The file; a name ending in ``.gz`` is decompressed.
    magic : int, optional
        Required magic number (2051 for images, 2049 for labels).

    Returns
    -------
    numpy.ndarray
        Shape given by the header's dimensions, dtype given by its type code.

    Raises
    ------
    ValueError
        Wrong magic number, unknown type code, or a size that disagrees with the header
        (truncated file or trailing bytes). The message names the file.
    """
    path = Path(path)
    raw = _read_maybe_gzipped(path)
    if len(raw) < 4:
        raise ValueError(f"IDX file {path} is truncated: {len(raw)} bytes, fewer than the 4-byte "
                         f"magic number")
    (found,) = struct.unpack(">I", raw[:4])
    if magic is not None and found != magic:
        raise ValueError(f"IDX file {path} has magic number {found}, expected {magic}")
    code, ndim = raw[2], raw[3]
    if raw[0] or raw[1] or code not in _IDX_DTYPES or ndim == 0:
        raise ValueError(f"{path} is not an IDX file: header bytes {raw[:4].hex()} (expected two "
                         f"zero bytes, a type code in {sorted(_IDX_DTYPES)}, and ndim >= 1)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"IDX file {path} is truncated: {len(raw)} bytes, fewer than its "
                         f"{header}-byte header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = header + math.prod(dims) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise ValueError(f"IDX file {path} is {what}: header declares shape {dims} "
                         f"({expected} bytes in all), file has {len(raw)} bytes")
    values = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return values.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


def _read_maybe_gzipped(path: Path) -> bytes:
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise ValueError(f"{path} is not a complete gzip file (truncated or corrupted): "
                         f"{exc}") from None


def load_mnist(path=None, *, kind: str = "train", download: bool = False, subset=None,
               normalize: bool = False, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST handwritten digits from the standard IDX files.

    Parameters
    ----------
    path : str or path-like, optional
        Folder holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each possibly with ``.gz``.
        Default: the cache folder ``cache_dir() / "mnist"``.
    kind : {"train", "test"}, default "train"
        The 60000 training or the 10000 test images.
    download : bool, default False
        Fetch the official files into ``path`` (checksummed) if they are missing.
    subset : int, optional
        Keep this many examples, drawn without replacement with ``rng``.
    normalize : bool, default False
        Standardise the pixels per channel (see the module docstring); else scale to [0, 1].
    rng : None, int or numpy.random.Generator
        Randomness of ``subset``.

    Returns
    -------
    X : ndarray of shape (n, 1, 28, 28), float64
    y : ndarray of shape (n,), int64
        Digits 0..9.
    """
    return _load_idx_dataset("mnist", path, kind, download, subset, normalize, rng)


def load_fashion_mnist(path=None, *, kind: str = "train", download: bool = False, subset=None,
                       normalize: bool = False, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """Load Fashion-MNIST (Zalando's clothing images); same files, arguments and output as
    :func:`load_mnist`, cached in ``cache_dir() / "fashion_mnist"``.

    Returns
    -------
    X : ndarray of shape (n, 1, 28, 28), float64
    y : ndarray of shape (n,), int64
        Classes 0..9 (T-shirt/top, trouser, pullover, dress, coat, sandal, shirt, sneaker, bag,
        ankle boot).
    """
    return _load_idx_dataset("fashion_mnist", path, kind, download, subset, normalize, rng)


def _load_idx_dataset(name, path, kind, download, subset, normalize, rng):
    kind = check_choice(kind, "kind", ("train", "test"))
    download, normalize, subset, rng = _check_common(download, normalize, subset, rng)
    folder = _folder(name, path)
    prefix = "train" if kind == "train" else "t10k"
    stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    found = [_find(folder, stem) for stem in stems]
    if None in found and download:
        fetch_dataset(name, dest=folder)
        found = [_find(folder, stem) for stem in stems]
    if None in found:
        missing = [s for s, f in zip(stems, found) if f is None]
        raise FileNotFoundError(
            f"{name} {kind} files not found in {folder}: missing {missing} (with or without .gz);"
            f" pass download=True, or copy the files there, or pass path=")
    images = read_idx(found[0], magic=IMAGES_MAGIC)
    labels = read_idx(found[1], magic=LABELS_MAGIC)
    if len(images) != len(labels):
        raise ValueError(f"{found[0]} holds {len(images)} images but {found[1]} holds "
                         f"{len(labels)} labels; they must match")
    return _finish(images[:, None], labels, 255.0, subset, normalize, rng)


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):  # uncompressed reads faster
        if candidate.is_file():
            return candidate
    return None


# --------------------------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------------------------
def _allowed_numpy_globals() -> dict:
    """The only globals a CIFAR-10 batch may name, mapped to the objects they denote.

    Arrays pickle as ``_reconstruct(ndarray, (0,), b"b")`` plus a ``dtype`` (protocols <= 4) or
    as ``_frombuffer(buffer, dtype, shape, order)`` (protocol 5). The functions are taken from
    NumPy's own reductions, so no private module is imported and the names written by NumPy 1
    (``numpy.core``, used by the official Python 2 files) and NumPy 2 (``numpy._core``) both work.
    """
    probe = np.zeros(1, dtype=np.uint8)
    reconstruct = probe.__reduce__()[0]
    frombuffer = probe.__reduce_ex__(5)[0]
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return allowed


_ALLOWED_GLOBALS = _allowed_numpy_globals()


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that admits only NumPy's array-rebuilding names (see module docstring)."""

    def __init__(self, file, source: Path):
        # The official batches were written by Python 2; latin1 maps its byte strings 1:1, which
        # is what NumPy needs to rebuild the array data (see the pickle module's documentation).
        super().__init__(file, encoding="latin1")
        self._source = source

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"{self._source}: refusing to load global {module}.{name}; a CIFAR-10 batch may "
                f"only reference {sorted('.'.join(k) for k in _ALLOWED_GLOBALS)}") from None


def read_cifar_batch(path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch with the restricted unpickler.

    Parameters
    ----------
    path : str or path-like
        A ``data_batch_*`` or ``test_batch`` file.

    Returns
    -------
    images : ndarray of shape (n, 3, 32, 32), uint8
        Channels in RGB order.
    labels : ndarray of shape (n,), int64
        Classes 0..9.

    Raises
    ------
    pickle.UnpicklingError
        The file names a global outside the allowed NumPy names (nothing is executed), or is
        not a pickle.
    ValueError
        Truncated file, or contents that are not a CIFAR-10 batch.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such CIFAR-10 batch file: {path}")
    try:
        with open(path, "rb") as fh:
            batch = _CifarUnpickler(fh, path).load()
    except EOFError:
        raise ValueError(f"CIFAR-10 batch {path} is truncated") from None
    except pickle.UnpicklingError as exc:
        if str(path) in str(exc):
            raise
        raise pickle.UnpicklingError(f"CIFAR-10 batch {path} is not a valid pickle: {exc}") from exc
    if not isinstance(batch, dict):
        raise ValueError(f"CIFAR-10 batch {path} must hold a dict, got {type(batch).__name__}")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise ValueError(f"CIFAR-10 batch {path} must have 'data' and 'labels' entries, got keys "
                         f"{sorted(map(str, batch))}")
    data, labels = batch["data"], np.asarray(batch["labels"])
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3 * 32 * 32):
        raise ValueError(f"CIFAR-10 batch {path}: 'data' must be a uint8 array of shape "
                         f"(n, 3072), got {describe(data)}")
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu" or (
            labels.size and (labels.min() < 0 or labels.max() > 9)):
        raise ValueError(f"CIFAR-10 batch {path}: 'labels' must be {len(data)} integers in "
                         f"0..9, got {describe(labels)}")
    # Each row is 1024 R, 1024 G, 1024 B values, each plane row-major: exactly C-order NCHW.
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def load_cifar10(path=None, *, kind: str = "train", download: bool = False, subset=None,
                 normalize: bool = False, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """Load CIFAR-10 from its python batches.

    Parameters
    ----------
    path : str or path-like, optional
        A folder holding the batches (``data_batch_1`` ... ``data_batch_5``, ``test_batch``)
        directly, or holding a ``cifar-10-batches-py`` folder, or holding the archive
        ``cifar-10-python.tar.gz`` (then extracted once, safely, into ``cifar-10-batches-py``
        beside it). Default: the cache
        folder ``cache_dir() / "cifar10"``.
    kind : {"train", "test"}, default "train"
        The 50000 training or the 10000 test images.
    download, subset, normalize, rng
        As in :func:`load_mnist`.

    Returns
    -------
    X : ndarray of shape (n, 3, 32, 32), float64
        RGB channels.
    y : ndarray of shape (n,), int64
        Classes 0..9 (airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck).
    """
    kind = check_choice(kind, "kind", ("train", "test"))
    download, normalize, subset, rng = _check_common(download, normalize, subset, rng)
    folder = _folder("cifar10", path)
    names = _CIFAR_BATCHES[kind]
    batches = _cifar_batches_dir(folder, names[0], download)
    missing = [n for n in names if not (batches / n).is_file()]
    if missing:
        raise FileNotFoundError(f"CIFAR-10 batches {missing} not found in {batches}")
    parts = [read_cifar_batch(batches / n) for n in names]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return _finish(images, labels, 255.0, subset, normalize, rng)


def _cifar_batches_dir(folder: Path, probe: str, download: bool) -> Path:
    for candidate in (folder, folder / CIFAR_FOLDER):
        if (candidate / probe).is_file():
            return candidate
    if (folder / CIFAR_FOLDER).exists():
        raise FileNotFoundError(f"{folder / CIFAR_FOLDER} exists but has no {probe}: an "
                                f"incomplete copy? Delete it to extract or download again")
    archive = folder / CIFAR_ARCHIVE
    if not archive.is_file() and download:
        fetch_dataset("cifar10", dest=folder)
    if archive.is_file():
        return extract_cifar_archive(archive, folder)
    raise FileNotFoundError(
        f"CIFAR-10 not found in {folder}: expected {probe} there or in {folder / CIFAR_FOLDER}, "
        f"or the archive {CIFAR_ARCHIVE}; pass download=True, or copy the files there, or pass "
        f"path=")


# --------------------------------------------------------------------------------------------
# .npz archives and scikit-learn's digits
# --------------------------------------------------------------------------------------------
def load_npz(path, *, subset=None, normalize: bool = False,
             rng=None) -> tuple[np.ndarray, np.ndarray]:
    """Load labelled images from a NumPy ``.npz`` archive (e.g. ``shared/data/mnist5k.npz``).

    Parameters
    ----------
    path : str or path-like
        Archive with ``images`` of shape (n, H, W) or (n, C, H, W) (NCHW) and ``labels`` (n,)
        of an integer dtype. Pixel values must lie in [0, 255]: they are divided by 255, unless
        the whole array already lies in [0, 1], in which case it is taken as already scaled.
        Loaded with ``allow_pickle=False``.
    subset, normalize, rng
        As in :func:`load_mnist`.

    Returns
    -------
    X : ndarray of shape (n, C, H, W), float64
        C = 1 for three-dimensional ``images``.
    y : ndarray of shape (n,), int64
    """
    _, normalize, subset, rng = _check_common(False, normalize, subset, rng)
    path = Path(_as_path(path, "path"))
    if not path.is_file():
        raise FileNotFoundError(f"no such .npz file: {path}")
    with open(path, "rb") as fh:
        head = fh.read(64)
    if not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        # Say what the file is ourselves: NumPy's own error for a non-archive ends in advice
        # to load it with allow_pickle=True, which would run any code a pickle carries.
        raise ValueError(f"{path} is {_what_file(head)}, not an .npz archive. Expected "
                         "a NumPy .npz archive (a zip file) with arrays 'images' and 'labels', "
                         "e.g. written by np.savez(path, images=..., labels=...)")
    try:
        archive = np.load(path, allow_pickle=False)
        with archive:
            missing = [k for k in ("images", "labels") if k not in archive.files]
            if missing:
                raise ValueError(f"{path} must contain arrays 'images' and 'labels'; missing "
                                 f"{missing}, found {archive.files}")
            images, labels = archive["images"], archive["labels"]
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise ValueError(f"{path} is not a readable .npz archive: {exc}") from None
    except ValueError as exc:
        if str(path) in str(exc):
            raise
        # NumPy's text suggests allow_pickle=True: never pass that advice on.
        raise ValueError(f"{path} holds pickled or object arrays; lmsbn reads only plain "
                         "numeric arrays and never unpickles a file (that could run any code)"
                         ) from None
    images = as_float_array(images, f"images in {path}", ndim=(3, 4))
    if images.ndim == 3:
        images = images[:, None]
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) != len(images):
        raise ValueError(f"labels in {path} must be a 1-D integer array of length {len(images)} "
                         f"(one per image), got {describe(labels)}")
    low, high = float(images.min()), float(images.max())
    if low < 0 or high > 255:
        raise ValueError(f"images in {path} must have pixel values in [0, 255], got range "
                         f"[{low}, {high}]")
    return _finish(images, labels, 1.0 if high <= 1 else 255.0, subset, normalize, rng)


def _what_file(head: bytes) -> str:
    """A short description of a file from its first bytes, for error messages."""
    if not head:
        return "an empty file"
    if head.startswith(b"\x93NUMPY"):
        return "a single .npy array (save both arrays with np.savez instead)"
    if head[:1] == b"\x80":
        return "a Python pickle"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip file"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"binary data starting with {head[:8]!r}"
    first = text.splitlines()[0] if text.strip() else text
    return f"a text file starting with {first[:40]!r}"


def load_digits(*, subset=None, normalize: bool = False,
                rng=None) -> tuple[np.ndarray, np.ndarray]:
    """Load scikit-learn's 1797 8x8 handwritten digits (needs the optional ``data`` extra).

    Parameters
    ----------
    subset, normalize, rng
        As in :func:`load_mnist`; the 0..16 grey levels are divided by 16.

    Returns
    -------
    X : ndarray of shape (n, 1, 8, 8), float64
    y : ndarray of shape (n,), int64
        Digits 0..9.
    """
    _, normalize, subset, rng = _check_common(False, normalize, subset, rng)
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as exc:
        raise ImportError('load_digits needs scikit-learn, an optional extra: '
                          'pip install "lmsbn[data]"') from exc
    bunch = sklearn_load_digits()
    return _finish(np.asarray(bunch.images)[:, None], np.asarray(bunch.target), 16.0, subset,
                   normalize, rng)


# --------------------------------------------------------------------------------------------
# Shared argument checks and post-processing
# --------------------------------------------------------------------------------------------
def _check_common(download, normalize, subset, rng):
    for value, name in ((download, "download"), (normalize, "normalize")):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {describe(value)}")
    if subset is not None:
        subset = check_int(subset, "subset", min_value=1)
    return bool(download), bool(normalize), subset, as_generator(rng)


def _folder(name: str, path) -> Path:
    if path is None:
        return cache_dir() / name
    folder = _as_path(path, "path")
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"path must be a folder holding the {name} files, got the file {folder}")
    return folder


def _finish(images, labels, scale, subset, normalize, rng):
    """Subset, convert to float64 / int64, scale by ``1 / scale``, optionally standardise."""
    n = len(labels)
    if subset is not None:
        if subset > n:
            raise ValueError(f"subset must be <= {n} (the number of examples), got {subset}")
        # Subset before converting, so a small subset of a large file stays cheap in memory.
        keep = np.sort(rng.choice(n, size=subset, replace=False))
        images, labels = images[keep], labels[keep]
    X = np.asarray(images, dtype=np.float64) / scale
    y = np.asarray(labels, dtype=np.int64)
    if normalize:
        mean = X.mean(axis=(0, 2, 3), keepdims=True)
        std = X.std(axis=(0, 2, 3), keepdims=True)
        X = (X - mean) / np.where(std > 0, std, 1.0)
    return X, y
