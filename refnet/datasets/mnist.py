"""MNIST with the interface of the book's ``load_mnist``: [`load_mnist`][refnet.datasets.mnist.load_mnist].

The original 28x28 MNIST is four IDX files (gzipped or plain), read by
[`refnet.datasets.read_idx`][refnet.datasets.idx.read_idx], verified against their published SHA-256 digests
(`MNIST_SHA256`), cached as a ``.npz`` next to the files and, only when asked
(``download=True``), downloaded from a list of mirrors (`MNIST_MIRRORS`).  Only
NumPy and the standard library are used.
"""
# Size: a little over 500 lines: one data source, whose every failure (a missing file, a
# failed mirror, a truncated download, a wrong checksum, an unreadable cache) has its own
# message naming the file and the way out.

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import types
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, cast

import numpy as np

from .._checks import flag, one_hot, positive_finite_scalar
from .._io import write_atomically
from .idx import CHUNK_BYTES, GZIP_MAGIC, read_idx

__all__ = [
    "load_mnist",
    "default_mnist_root",
    "DownloadError",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "MNIST_SHA256",
]

logger = logging.getLogger(__name__)

#: ``((x_train, t_train), (x_test, t_test))``
Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

#: Base names of the four MNIST IDX files, in the order train images, train
#: labels, test images, test labels. On disk each may carry a ``.gz`` suffix.
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

#: Default download mirrors, tried in turn; each serves ``<mirror><name>.gz``.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

#: Published SHA-256 digests of the MNIST files, by file name, for both the
#: gzipped originals served by the mirrors and the decompressed files. Not
#: computed here (no network when this was written): each digest was matched
#: against several independent public listings (dataset loaders and checksum
#: tables of other projects); the gzipped sizes listed with them are 9,912,422,
#: 28,881, 1,648,877 and 4,542 bytes, the decompressed sizes 47,040,016, 60,008,
#: 7,840,016 and 10,008 bytes. Read-only: pass ``checksums=`` to use another table.
MNIST_SHA256: Mapping[str, str] = types.MappingProxyType(
    {
        "train-images-idx3-ubyte.gz": (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
        ),
        "train-labels-idx1-ubyte.gz": (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
        ),
        "train-images-idx3-ubyte": (
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
        ),
        "train-labels-idx1-ubyte": (
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
        ),
        "t10k-images-idx3-ubyte": (
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
        ),
        "t10k-labels-idx1-ubyte": (
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
        ),
    }
)

# Example counts of the published files, enforced when the published digests are in use.
_PUBLISHED_COUNTS = {"train": 60_000, "test": 10_000}
_CACHE_NAME = "mnist.npz"
# Array names in the cache, in the order of MNIST_FILES.
_CACHE_KEYS = ("train_images", "train_labels", "test_images", "test_labels")
_CACHE_FORMAT = 1
# The largest MNIST file is 47 MB; refuse to let a misbehaving mirror fill the disk.
_MAX_DOWNLOAD_BYTES = 64 << 20
_USER_AGENT = "refnet-datasets (Python urllib)"


class DownloadError(OSError):
    """No mirror could deliver an MNIST file; the message lists each mirror's failure."""


def default_mnist_root() -> Path:
    """Return the directory where [`load_mnist`][refnet.datasets.mnist.load_mnist] looks for MNIST by default.

    In order: ``$REFNET_DATA`` if set (used as the MNIST directory itself);
    on Windows ``%LOCALAPPDATA%\\refnet\\mnist``; elsewhere
    ``$XDG_CACHE_HOME/refnet/mnist`` if ``XDG_CACHE_HOME`` is an absolute
    path, else ``~/.cache/refnet/mnist``. The directory is not created here.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import pathlib
    >>> isinstance(default_mnist_root(), pathlib.Path)
    True
    """
    return default_root_for(os.environ, os.name)


def default_root_for(environ: Mapping[str, str], os_name: str) -> Path:
    """[`default_mnist_root`][refnet.datasets.mnist.default_mnist_root] for a given environment and ``os.name`` (tested on both)."""
    explicit = environ.get("REFNET_DATA")
    if explicit:
        return Path(explicit).expanduser()
    if os_name == "nt":
        local = environ.get("LOCALAPPDATA")
        base = Path(local) if local else Path.home() / "AppData" / "Local"
        return base / "refnet" / "mnist"
    xdg = environ.get("XDG_CACHE_HOME")
    # The XDG spec says relative paths in XDG_* variables are invalid and must be ignored.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "refnet" / "mnist"


def _check_mirrors(mirrors: Sequence[str] | None) -> list[str]:
    if mirrors is None:
        return list(MNIST_MIRRORS)
    if isinstance(mirrors, str | bytes) or not isinstance(mirrors, Sequence):
        raise TypeError(f"mirrors must be a list of URL strings, got {type(mirrors).__name__}")
    checked = []
    for i, mirror in enumerate(mirrors):
        parts = urllib.parse.urlsplit(mirror) if isinstance(mirror, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"mirrors[{i}] must be an http:// or https:// URL, got {mirror!r}")
        checked.append(mirror if mirror.endswith("/") else mirror + "/")
    if not checked:
        raise ValueError("mirrors must name at least one URL, got an empty list")
    return checked


def _check_checksums(checksums: Mapping[str, str] | None) -> dict[str, str] | None:
    if checksums is None:
        return None
    if not isinstance(checksums, Mapping):
        raise TypeError(
            "checksums must be a mapping of file name to SHA-256 hex digest, or None, "
            f"got {type(checksums).__name__}"
        )
    table = {}
    for name, digest in checksums.items():
        ok = isinstance(digest, str) and len(digest) == 64
        if ok:
            try:
                bytes.fromhex(digest)
            except ValueError:
                ok = False
        if not isinstance(name, str) or not ok:
            raise ValueError(
                f"checksums[{name!r}] must be a 64-character hex SHA-256 digest, got {digest!r}"
            )
        table[name] = digest.lower()
    return table


def _is_published(table: dict[str, str] | None) -> bool:
    return table is not None and table == dict(MNIST_SHA256)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _locate(root: Path) -> dict[str, Path | None]:
    """Map each MNIST base name to its file in `root`, preferring the ``.gz`` one."""
    found: dict[str, Path | None] = {}
    for stem in MNIST_FILES:
        candidates = (root / f"{stem}.gz", root / stem)
        found[stem] = next((p for p in candidates if p.is_file()), None)
    return found


def _missing_message(root: Path, missing: list[str], mirrors: list[str]) -> str:
    names = ", ".join(f"{stem}[.gz]" for stem in missing)
    return (
        f"MNIST files not found in {root}: {names} (looked for each name with and without "
        f".gz). Call load_mnist(..., download=True) to download them (first mirror: "
        f"{mirrors[0]}), or copy the four IDX files into {root}; use root= or $REFNET_DATA "
        "to point at another directory."
    )


class _MirrorError(Exception):
    """A mirror failed: unreachable, an HTTP error, or it sent the wrong bytes."""


# Failures on the mirror's side; local errors (e.g. a full disk) are not caught, because
# trying another mirror would not help with them.
_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, OSError)


def _network_failure(exc: BaseException) -> _MirrorError:
    if isinstance(exc, urllib.error.HTTPError):
        exc.close()  # an HTTPError holds the open response
        return _MirrorError(f"HTTP {exc.code} {exc.reason}")
    if isinstance(exc, urllib.error.URLError):
        return _MirrorError(str(exc.reason))
    return _MirrorError(f"{type(exc).__name__}: {exc}")


def _fetch(url: str, dest: Path, expected: str | None, timeout: float) -> None:
    """Download `url` to `dest` atomically, verifying the bytes before they are moved there."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except _NETWORK_ERRORS as exc:
        raise _network_failure(exc) from exc
    with response:
        write_atomically(dest, lambda out: _receive(response, out, dest.name, expected))


def _receive(response, out: BinaryIO, name: str, expected: str | None) -> None:
    """Copy `response` to `out`; _MirrorError if it is too long, short, wrong or not gzip."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    while True:
        try:
            chunk = response.read(CHUNK_BYTES)
        except _NETWORK_ERRORS as exc:
            raise _network_failure(exc) from exc
        if not chunk:
            break
        size += len(chunk)
        if size > _MAX_DOWNLOAD_BYTES:
            raise _MirrorError(f"sent more than {_MAX_DOWNLOAD_BYTES} bytes")
        if len(head) < 2:
            head += chunk[:2]
        digest.update(chunk)
        out.write(chunk)
    # http.client's read(n) returns short data instead of raising when the connection
    # drops early, so compare with the announced length ourselves.
    announced = response.headers.get("Content-Length", "")
    if announced.isdigit() and int(announced) != size:
        raise _MirrorError(f"connection closed after {size} of {announced} bytes")
    actual = digest.hexdigest()
    if expected is not None and actual != expected:
        raise _MirrorError(f"SHA-256 mismatch: expected {expected}, got {actual}")
    # Catches the usual bad mirror (an HTML error page) even when checksums are off.
    if name.endswith(".gz") and head[:2] != GZIP_MAGIC:
        raise _MirrorError(f"sent {size} bytes that are not gzip data")


def _download(
    root: Path, names: list[str], mirrors: list[str], table: dict[str, str] | None, timeout: float
) -> None:
    order = list(mirrors)
    for name in names:
        failures: list[str] = []
        for mirror in order:
            url = mirror + name
            logger.info("downloading %s", url)
            try:
                _fetch(url, root / name, None if table is None else table[name], timeout)
            except _MirrorError as exc:
                logger.warning("could not download %s from %s: %s", name, mirror, exc)
                failures.append(f"  {url}: {exc}")
                continue
            # Ask the mirror that worked first for the remaining files.
            order.remove(mirror)
            order.insert(0, mirror)
            break
        else:
            raise DownloadError(
                f"could not download {name} from any mirror:\n"
                + "\n".join(failures)
                + f"\nCheck the network connection, or copy the file into {root} yourself."
            )


def _load_cache(path: Path, sources: list[str]) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as cache:
            if int(cache["format"]) != _CACHE_FORMAT or cache["sources"].tolist() != sources:
                return None
            return {key: cache[key] for key in _CACHE_KEYS}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        logger.warning("ignoring unreadable MNIST cache %s (%s); rebuilding it", path, exc)
        return None


def _write_cache(path: Path, arrays: Mapping[str, Any], sources: list[str]) -> None:
    def write(f: BinaryIO) -> None:
        np.savez(f, format=np.int64(_CACHE_FORMAT), sources=np.array(sources), **arrays)

    try:
        write_atomically(path, write)
    except OSError as exc:  # e.g. a read-only data directory: the cache is only an optimisation
        logger.warning("not caching MNIST arrays in %s: %s", path, exc)


def _validate_mnist(arrays: dict[str, np.ndarray], paths: dict[str, Path], published: bool) -> None:
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        images_path, labels_path = paths[f"{split}_images"], paths[f"{split}_labels"]
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
            raise ValueError(
                f"{images_path}: expected uint8 images of shape (N, 28, 28), "
                f"found {images.dtype} array of shape {images.shape}"
            )
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise ValueError(
                f"{labels_path}: expected uint8 labels of shape (N,), "
                f"found {labels.dtype} array of shape {labels.shape}"
            )
        if images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"count mismatch: {images_path} holds {images.shape[0]} images but "
                f"{labels_path} holds {labels.shape[0]} labels"
            )
        if labels.size and labels.max() > 9:
            raise ValueError(f"{labels_path}: labels must be digits 0..9, found {labels.max()}")
        if published and images.shape[0] != _PUBLISHED_COUNTS[split]:
            raise ValueError(
                f"{images_path}: the published MNIST {split} set has "
                f"{_PUBLISHED_COUNTS[split]} examples, found {images.shape[0]}"
            )


def _mnist_side(
    images: np.ndarray, labels: np.ndarray, normalize: bool, flatten: bool, one_hot_label: bool
) -> tuple[np.ndarray, np.ndarray]:
    n = images.shape[0]
    x: np.ndarray
    if normalize:
        x = np.empty((n, 784), dtype=np.float64)
        np.divide(images.reshape(n, 784), 255.0, out=x)
    else:
        x = np.ascontiguousarray(images.reshape(n, 784))
    if not flatten:
        x = x.reshape(n, 1, 28, 28)
    t = labels.astype(np.int64)
    return x, (one_hot(t, 10) if one_hot_label else t)


def load_mnist(
    root: str | os.PathLike[str] | None = None,
    *,
    download: bool = False,
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    mirrors: Sequence[str] | None = None,
    checksums: Mapping[str, str] | None = MNIST_SHA256,
    timeout: float = 30.0,
) -> Split:
    """Load MNIST with the interface of the book's ``load_mnist``.

    Reads the four IDX files of `MNIST_FILES` from `root`, each either
    gzipped (``<name>.gz``, preferred when both exist) or plain, checks their
    SHA-256 digests, and caches the parsed arrays in ``root/mnist.npz``
    (written atomically; rebuilt whenever the digests of the source files
    change), so later loads skip the decompression.

    Parameters
    ----------
    root : str or os.PathLike, optional
        Directory holding the files; default [`default_mnist_root`][refnet.datasets.mnist.default_mnist_root]
        (``$REFNET_DATA``, else ``$XDG_CACHE_HOME/refnet/mnist`` or
        ``~/.cache/refnet/mnist``; ``%LOCALAPPDATA%\\refnet\\mnist`` on Windows).
    download : bool, default False
        Download the missing files (as ``.gz``) from `mirrors`. Each file is
        written to a temporary file in `root`, verified and then moved into
        place; a failing mirror is logged (logger ``refnet.datasets.mnist``) and the
        next one tried. Without it, missing files raise FileNotFoundError.
    normalize : bool, default True
        Return float64 pixels in [0, 1] (divided by 255); otherwise the raw
        uint8 values 0..255, as in the book.
    flatten : bool, default True
        Images as rows of 784 pixels; otherwise shape ``(N, 1, 28, 28)``.
    one_hot_label : bool, default False
        Labels as one-hot float64 rows of length 10 instead of int64 digits.
    mirrors : sequence of str, optional
        Base URLs (http or https) tried in turn; default `MNIST_MIRRORS`.
    checksums : mapping of str to str, or None, default MNIST_SHA256
        Expected SHA-256 hex digest of each file, keyed by its file name
        (``"train-images-idx3-ubyte.gz"`` or ``"train-images-idx3-ubyte"``).
        Every file used must have an entry, and downloads are checked against
        it before being moved into place. The default, `MNIST_SHA256`,
        holds the published digests and also requires the 60,000/10,000
        examples of the published sets. Pass your own table for other IDX
        files, or None to skip digest checks (the files are still fully
        validated as IDX).
    timeout : float, default 30.0
        Seconds to wait on a mirror's connection before giving up on it.

    Returns
    -------
    (x_train, t_train), (x_test, t_test) : tuple of tuple of ndarray
        Fresh, writable, C-contiguous arrays. ``x`` has shape ``(N, 784)`` or
        ``(N, 1, 28, 28)``; ``t`` has shape ``(N,)`` (int64) or ``(N, 10)``.

    Raises
    ------
    FileNotFoundError
        If files are missing and `download` is False; the message names the
        missing files, the directory and how to get them.
    DownloadError
        If no mirror delivers a file; the message lists each mirror's failure.
    ValueError
        If a file is not valid IDX, is corrupt gzip, has the wrong shape,
        image and label counts differ, or a digest does not match (the message
        names the file and gives the expected and actual digest); also for
        invalid arguments.
    TypeError
        For arguments of the wrong type.

    Examples
    --------
    >>> (x_train, t_train), (x_test, t_test) = load_mnist(download=True)  # doctest: +SKIP
    >>> x_train.shape, t_train.shape, x_test.shape  # doctest: +SKIP
    ((60000, 784), (60000,), (10000, 784))
    """
    download = flag("download", download)
    normalize = flag("normalize", normalize)
    flatten = flag("flatten", flatten)
    one_hot_label = flag("one_hot_label", one_hot_label)
    mirror_list = _check_mirrors(mirrors)
    table = _check_checksums(checksums)
    timeout = positive_finite_scalar("timeout", timeout)
    root_path = default_mnist_root() if root is None else Path(root).expanduser()

    paths = _files(root_path, download, mirror_list, table, timeout)
    digests = {key: _sha256_file(path) for key, path in paths.items()}
    if table is not None:
        _verify(paths, digests, table)
    sources = [f"{paths[key].name} {digests[key]}" for key in _CACHE_KEYS]
    cache_path = root_path / _CACHE_NAME
    arrays = _load_cache(cache_path, sources)
    if arrays is None:
        arrays = {key: read_idx(path) for key, path in paths.items()}
        _validate_mnist(arrays, paths, published=False)
        _write_cache(cache_path, arrays, sources)
    _validate_mnist(arrays, paths, published=_is_published(table))
    return (
        _mnist_side(
            arrays["train_images"], arrays["train_labels"], normalize, flatten, one_hot_label
        ),
        _mnist_side(
            arrays["test_images"], arrays["test_labels"], normalize, flatten, one_hot_label
        ),
    )


def _files(
    root: Path, download: bool, mirrors: list[str], table: dict[str, str] | None, timeout: float
) -> dict[str, Path]:
    """The four files in `root` by cache key, downloading the missing ones if asked to."""
    found = _locate(root)
    missing = [stem for stem, path in found.items() if path is None]
    if missing:
        if not download:
            raise FileNotFoundError(_missing_message(root, missing, mirrors))
        names = [f"{stem}.gz" for stem in missing]
        if table is not None:
            unlisted = [name for name in names if name not in table]
            if unlisted:
                raise ValueError(
                    f"checksums has no SHA-256 for {', '.join(unlisted)}, so the download "
                    "could not be verified; add them, or pass checksums=None to skip checks"
                )
        root.mkdir(parents=True, exist_ok=True)
        _download(root, names, mirrors, table, timeout)
        found = _locate(root)
    # Every file is there now: _download fetched each missing one or raised.
    return {
        key: cast(Path, found[stem]) for key, stem in zip(_CACHE_KEYS, MNIST_FILES, strict=True)
    }


def _verify(paths: dict[str, Path], digests: dict[str, str], table: dict[str, str]) -> None:
    for key, path in paths.items():
        if path.name not in table:
            raise ValueError(
                f"checksums has no SHA-256 for {path.name} (in {path.parent}); add it, "
                "or pass checksums=None to skip checks"
            )
        if digests[key] != table[path.name]:
            raise ValueError(
                f"{path}: SHA-256 mismatch: expected {table[path.name]}, got {digests[key]}. "
                "The file is corrupt or not the one the table describes: delete it and "
                "load again with download=True, or pass your own checksums (or None) "
                "for custom files."
            )
