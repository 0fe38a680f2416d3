"""Where real datasets live on disk, and how they get there safely.

Files are fetched with :mod:`urllib` into a cache folder and checked against SHA-256 digests
recorded in this module. A download is streamed in chunks into a temporary file in the destination
folder, its size and digest are checked, and only then is it renamed into place with
:func:`os.replace`, which is atomic on one file system. Whatever goes wrong -- a dropped connection,
a truncated or corrupted body, Ctrl-C -- the temporary file is deleted, so a file that carries a
final name has always passed its checksum.

Cache folder (:func:`cache_dir`): ``$LMSBN_DATA`` if set, else ``$XDG_CACHE_HOME/lmsbn``, else
``~/.cache/lmsbn``. Each dataset has a sub-folder named after it (``mnist``, ``fashion_mnist``,
``cifar10``) holding the files under their official names.

Mirrors: ``download(..., base_url=...)`` fetches every file from ``base_url + filename``; the
environment variable ``LMSBN_DATA_URL`` names a mirror *root* laid out like the cache
(``$LMSBN_DATA_URL/<dataset>/<filename>``). Both accept ``file://`` URLs, which is how the tests
exercise this code without a network.

The CIFAR-10 archive is unpacked by :func:`extract_cifar_archive`, which writes only regular files
directly inside ``cifar-10-batches-py/`` and refuses absolute names, ``..``, links and devices, so a
crafted archive cannot write outside the destination (no reliance on ``tarfile.extractall``).

Checksums. The SHA-256 digests below are those published with the files by several independent
users of the official downloads (tensorflow-datasets and Keras record the same values); the files'
byte sizes are recorded too, so a truncated download gets a message that says so.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lmsbn._checks import check_choice, describe

__all__ = ["BASE_URLS", "REMOTE_FILES", "RemoteFile", "cache_dir", "dataset_dir", "download",
           "extract_cifar_archive", "sha256sum"]

#: Size of the pieces a download is read and hashed in (1 MiB).
CHUNK_SIZE = 1 << 20
#: Seconds to wait for a server before giving up.
TIMEOUT = 60.0
#: The one folder the CIFAR-10 archive may contain.
CIFAR_FOLDER = "cifar-10-batches-py"


@dataclass(frozen=True)
class RemoteFile:
    """One official file: its name, SHA-256 digest (lower-case hex) and size in bytes."""

    filename: str
    sha256: str
    size: int | None = None


#: Where each dataset's files are published. MNIST comes from the S3 mirror PyTorch maintains,
#: because yann.lecun.com often refuses scripted downloads; Fashion-MNIST from Zalando's bucket
#: (plain HTTP, which the checksum makes safe); CIFAR-10 from its authors' page.
BASE_URLS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion_mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "cifar10": "https://www.cs.toronto.edu/~kriz/",
}

#: The official files of each dataset with their SHA-256 digests and sizes.
REMOTE_FILES = {
    "mnist": (
        RemoteFile("train-images-idx3-ubyte.gz",
                   "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
        RemoteFile("train-labels-idx1-ubyte.gz",
                   "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
        RemoteFile("t10k-images-idx3-ubyte.gz",
                   "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
        RemoteFile("t10k-labels-idx1-ubyte.gz",
                   "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
    ),
    "fashion_mnist": (
        RemoteFile("train-images-idx3-ubyte.gz",
                   "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880),
        RemoteFile("train-labels-idx1-ubyte.gz",
                   "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
        RemoteFile("t10k-images-idx3-ubyte.gz",
                   "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
        RemoteFile("t10k-labels-idx1-ubyte.gz",
                   "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148),
    ),
    "cifar10": (
        RemoteFile("cifar-10-python.tar.gz",
                   "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce", 170498071),
    ),
}


def cache_dir() -> Path:
    """The folder lmsbn keeps downloaded datasets in (it is not created here).

    Returns
    -------
    pathlib.Path
        ``$LMSBN_DATA`` if that variable is set and non-empty; otherwise ``$XDG_CACHE_HOME/lmsbn``
        if ``XDG_CACHE_HOME`` holds an absolute path (the XDG specification says to ignore a
        relative one); otherwise ``~/.cache/lmsbn``.
    """
    explicit = os.environ.get("LMSBN_DATA")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "lmsbn"
    return Path.home() / ".cache" / "lmsbn"


def dataset_dir(name: str) -> Path:
    """The cache sub-folder of dataset ``name`` (one of the keys of :data:`REMOTE_FILES`)."""
    return cache_dir() / check_choice(name, "name", tuple(REMOTE_FILES))


def sha256sum(path) -> str:
    """SHA-256 digest of a file as lower-case hex, read in chunks so large files are fine."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(name: str, *, dest=None, base_url: str | None = None) -> Path:
    """Download the official files of a dataset and verify their SHA-256 digests.

    Files already present with the right digest are kept and not fetched again.

    Parameters
    ----------
    name : {"mnist", "fashion_mnist", "cifar10"}
        The dataset.
    dest : str or path-like, optional
        Folder to put the files in (created if needed). Default: ``cache_dir() / name``.
    base_url : str, optional
        Fetch each file from ``base_url + "/" + filename`` instead of the official address.
        Without it, ``$LMSBN_DATA_URL/<name>/`` is used if that variable is set, else
        :data:`BASE_URLS`.

    Returns
    -------
    pathlib.Path
        The folder holding the verified files.

    Raises
    ------
    ConnectionError
        The server could not be reached (for instance, no network). The message lists the files
        and the folder to put them in by hand.
    ValueError
        A downloaded file is truncated or fails its checksum (nothing is left under its name), or
        a file already in ``dest`` has the wrong digest (it is left alone: delete it to retry).
    """
    name = check_choice(name, "name", tuple(REMOTE_FILES))
    folder = Path(cache_dir() / name if dest is None else _as_path(dest, "dest"))
    base = _base_url(name, base_url)
    folder.mkdir(parents=True, exist_ok=True)
    for remote in REMOTE_FILES[name]:
        target = folder / remote.filename
        if target.exists():
            found = sha256sum(target)
            if found != remote.sha256:
                raise ValueError(
                    f"{target} already exists but its sha256 is {found}, expected {remote.sha256};"
                    f" delete it and call download({name!r}) again")
            continue
        url = base + remote.filename
        try:
            _fetch(url, target, remote)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            files = ", ".join(r.filename for r in REMOTE_FILES[name])
            raise ConnectionError(
                f"could not download {url} ({reason}). To work offline, copy the files {files} "
                f"into {folder} (the lmsbn cache folder; set $LMSBN_DATA to move it), or pass "
                f"path= to the loader") from exc
    return folder


def _as_path(value, name: str) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or path-like folder, got {describe(value)}")
    return Path(value).expanduser()


def _base_url(name: str, base_url) -> str:
    if base_url is None:
        root = os.environ.get("LMSBN_DATA_URL")
        base_url = f"{root.rstrip('/')}/{name}" if root else BASE_URLS[name]
    elif not isinstance(base_url, str) or not base_url:
        raise TypeError(f"base_url must be a non-empty str, got {describe(base_url)}")
    return base_url.rstrip("/") + "/"


def _fetch(url: str, target: Path, remote: RemoteFile) -> None:
    """Stream ``url`` into a temporary file beside ``target``, verify it, then rename it."""
    # Same folder as the target, so that os.replace is a rename on one file system (atomic).
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        received = 0
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": "lmsbn"})
            with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
                try:
                    for chunk in iter(lambda: resp.read(CHUNK_SIZE), b""):
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                except http.client.IncompleteRead as exc:
                    raise ValueError(f"download of {url} was interrupted after {received} "
                                     f"bytes: {exc!r}") from None
        if remote.size is not None and received != remote.size:
            raise ValueError(f"download of {url} is truncated or padded: received {received} "
                             f"bytes, expected {remote.size}")
        if digest.hexdigest() != remote.sha256:
            raise ValueError(f"download of {url} failed its checksum: sha256 {digest.hexdigest()},"
                             f" expected {remote.sha256}")
        os.replace(tmp, target)
    except BaseException:
        # Includes KeyboardInterrupt: a partial file must never outlive the attempt.
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def extract_cifar_archive(archive, dest) -> Path:
    """Extract ``cifar-10-python.tar.gz`` into ``dest / "cifar-10-batches-py"``, safely.

    Only regular files directly inside ``cifar-10-batches-py/`` are accepted; an absolute name,
    a ``..`` component, a link or a device anywhere in the archive is an error, so a crafted
    archive cannot write outside ``dest``. Files are written into a temporary folder that is
    renamed into place at the end, or removed if anything fails.

    Returns
    -------
    pathlib.Path
        The extracted ``cifar-10-batches-py`` folder.
    """
    archive, dest = Path(archive), Path(dest)
    target = dest / CIFAR_FOLDER
    tmp = Path(tempfile.mkdtemp(dir=dest, prefix=f".{CIFAR_FOLDER}.", suffix=".part"))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                relative = _safe_member(member, archive)
                if relative is None:
                    continue
                with tar.extractfile(member) as src, open(tmp / relative, "wb") as out:
                    shutil.copyfileobj(src, out)
        os.replace(tmp, target)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ValueError(f"{archive} is not a complete tar.gz archive: {exc}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _safe_member(member: tarfile.TarInfo, archive: Path) -> str | None:
    """The file name to write for ``member`` (None for its top folder), or raise if unsafe."""
    parts = PurePosixPath(member.name).parts
    # A backslash is a separator on Windows, so "a\\..\\..\\b" could climb out there.
    unsafe = (member.name.startswith("/") or "\\" in member.name or ".." in parts or not parts
              or parts[0] != CIFAR_FOLDER or len(parts) > 2
              or not (member.isfile() or member.isdir()) or (member.isdir() and len(parts) != 1))
    if unsafe:
        raise ValueError(f"{archive}: refusing unsafe or unexpected member {member.name!r}; only "
                         f"regular files directly inside {CIFAR_FOLDER}/ are extracted")
    return None if member.isdir() else parts[1]
