"""Datasets: scikit-learn's 8x8 digits and the book's MNIST interface.

Two sources of handwritten digits, both returned the way the book's
``load_mnist`` returns them, ``((x_train, t_train), (x_test, t_test))``:

* :func:`load_digits` -- the 1,797 8x8 digits that ship inside the scikit-learn
  wheel (no network, no files), split into train and test sets by a
  deterministic stratified split (:func:`stratified_split`) implemented here,
  so the split does not change when scikit-learn does.
* :func:`load_mnist` -- the original 28x28 MNIST, read from the four IDX files
  (gzipped or plain) by :func:`read_idx`, verified against their published
  SHA-256 digests, cached as a ``.npz`` next to the files and, only when asked
  (``download=True``), downloaded from a list of mirrors.

Only NumPy and the standard library are imported here; scikit-learn is
imported inside :func:`load_digits` (install it with
``pip install 'refnet[train]'``).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import logging
import math
import numbers
import os
import tempfile
import types
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "load_digits",
    "load_mnist",
    "read_idx",
    "stratified_split",
    "default_mnist_root",
    "DownloadError",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "MNIST_SHA256",
]

logger = logging.getLogger(__name__)

#: ``((x_train, t_train), (x_test, t_test))``
Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


# --------------------------------------------------------------------------- validation helpers


def _check_flags(**flags: object) -> None:
    for name, value in flags.items():
        # Truthy non-bools (0/1, "no") are more likely mistakes than intent.
        if not isinstance(value, bool | np.bool_):
            raise TypeError(f"{name} must be True or False, got {value!r}")


def _check_test_size(test_size: object) -> float:
    if isinstance(test_size, bool | np.bool_) or not isinstance(test_size, numbers.Real):
        raise TypeError(
            f"test_size must be a float in (0, 1), got {type(test_size).__name__} {test_size!r}"
        )
    value = float(test_size)
    if not 0.0 < value < 1.0:  # written this way so that NaN fails too
        raise ValueError(f"test_size must be in (0, 1), got {test_size!r}")
    return value


def _as_generator(seed: object) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool | np.bool_) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"seed must be an int or a numpy.random.Generator, got {type(seed).__name__} {seed!r}"
        )
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed}")
    return np.random.default_rng(int(seed))


def _one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros((labels.shape[0], n_classes), dtype=np.float64)
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out


# --------------------------------------------------------------------------- stratified split


def _split_indices(
    labels: np.ndarray, test_size: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    classes, class_of = np.unique(labels, return_inverse=True)
    class_of = class_of.reshape(-1)  # NumPy 2.0.x returned the input's shape here
    counts = np.bincount(class_of, minlength=classes.size)
    # Round half up rather than Python's round-half-to-even, so the rule is easy to state.
    n_test = np.floor(test_size * counts + 0.5).astype(np.intp)
    for cls, n, k in zip(classes.tolist(), counts.tolist(), n_test.tolist(), strict=True):
        if k < 1:
            raise ValueError(
                f"test_size={test_size} leaves no test example of class {cls!r} "
                f"({n} examples); use a larger test_size"
            )
        if k > n - 1:
            raise ValueError(
                f"test_size={test_size} leaves no training example of class {cls!r} "
                f"({n} examples); use a smaller test_size"
            )
    # A stable sort groups the indices by class while keeping each group in original order,
    # so the permutation drawn for a class depends only on the seed and the class members.
    by_class = np.argsort(class_of, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(counts)))
    test_parts = [
        rng.permutation(by_class[bounds[c] : bounds[c + 1]])[: n_test[c]]
        for c in range(classes.size)
    ]
    test_idx = np.sort(np.concatenate(test_parts))
    in_test = np.zeros(labels.shape[0], dtype=bool)
    in_test[test_idx] = True
    return np.flatnonzero(~in_test), test_idx


def stratified_split(
    labels: ArrayLike,
    *,
    test_size: float = 0.25,
    seed: int | np.random.Generator = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Split example indices into train and test sets, class by class.

    For every class (in sorted order) the indices of its examples are permuted
    with ``np.random.default_rng(seed)`` and the first
    ``floor(test_size * n_class + 0.5)`` of them (``test_size * n_class``
    rounded, halves up) go to the test set, the rest to the training set.
    Both index arrays are then sorted, so each side keeps the original order of
    the examples; shuffle minibatches yourself.

    Parameters
    ----------
    labels : array_like, shape (N,)
        Class label of each example (any values ``np.unique`` can sort).
    test_size : float, default 0.25
        Fraction of each class that goes to the test set, strictly between 0
        and 1, and such that every class keeps at least one example on each
        side.
    seed : int or numpy.random.Generator, default 0
        Non-negative seed for ``np.random.default_rng``, or a Generator to draw
        from (its state advances).

    Returns
    -------
    train_idx, test_idx : ndarray of intp
        Disjoint, sorted indices that together cover ``range(N)``.

    Raises
    ------
    TypeError
        If `test_size` is not a real number or `seed` is neither an int nor a
        Generator.
    ValueError
        If `labels` is not 1-D and non-empty, `test_size` is outside (0, 1),
        `seed` is negative, or some class would end up with no example on one
        side.

    Examples
    --------
    >>> train_idx, test_idx = stratified_split([0, 0, 0, 0, 1, 1, 1, 1], test_size=0.5)
    >>> len(train_idx), len(test_idx)
    (4, 4)
    >>> sorted(np.asarray([0, 0, 0, 0, 1, 1, 1, 1])[test_idx].tolist())
    [0, 0, 1, 1]
    """
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {y.shape}")
    size = _check_test_size(test_size)
    rng = _as_generator(seed)
    return _split_indices(y, size, rng)


# --------------------------------------------------------------------------- 8x8 digits


@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Scikit-learn's digits as read-only (float64 pixels 0..16, int64 labels)."""
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as exc:
        raise ImportError(
            "load_digits needs scikit-learn, whose wheel ships the 8x8 digits; "
            "install it with: pip install 'refnet[train]'"
        ) from exc
    images, labels = sklearn_load_digits(return_X_y=True)
    pixels = np.array(images, dtype=np.float64, order="C")
    targets = np.array(labels, dtype=np.int64)
    # Guard the assumptions the rest of this module makes about the bundled data.
    if (
        pixels.ndim != 2
        or pixels.shape[1] != 64
        or targets.shape != (pixels.shape[0],)
        or pixels.min() < 0
        or pixels.max() > 16
        or not np.array_equal(pixels, np.round(pixels))
        or targets.min() < 0
        or targets.max() > 9
    ):
        raise RuntimeError(
            "scikit-learn's load_digits returned unexpected data "
            f"(pixels {pixels.shape}, labels {targets.shape}); expected 8x8 images "
            "with integer pixels 0..16 and labels 0..9"
        )
    pixels.setflags(write=False)
    targets.setflags(write=False)
    return pixels, targets


def load_digits(
    *,
    test_size: float = 0.25,
    seed: int | np.random.Generator = 0,
    one_hot_label: bool = False,
    normalize: bool = True,
    flatten: bool = True,
) -> Split:
    """Load scikit-learn's 8x8 handwritten digits, split like the book's MNIST.

    The 1,797 images ship inside the scikit-learn wheel, so nothing is
    downloaded. The train/test split is :func:`stratified_split` (per class,
    ``floor(test_size * n_class + 0.5)`` examples drawn with
    ``np.random.default_rng(seed)`` go to the test set; both sides stay in the
    original order), implemented here so it does not change with the
    scikit-learn version.

    Parameters
    ----------
    test_size : float, default 0.25
        Fraction of each class held out for testing, in (0, 1).
    seed : int or numpy.random.Generator, default 0
        Seed of the split (a Generator is drawn from and advances).
    one_hot_label : bool, default False
        Return labels as one-hot float64 rows of length 10 instead of int64.
    normalize : bool, default True
        Divide the pixels (integers 0..16) by 16 to get values in [0, 1];
        otherwise keep 0..16. Pixels are float64 either way.
    flatten : bool, default True
        Return images as rows of 64 pixels; otherwise shape ``(N, 1, 8, 8)``.

    Returns
    -------
    (x_train, t_train), (x_test, t_test) : tuple of tuple of ndarray
        Fresh, writable, C-contiguous arrays. ``x`` has shape ``(N, 64)`` or
        ``(N, 1, 8, 8)``; ``t`` has shape ``(N,)`` (int64) or ``(N, 10)``.

    Raises
    ------
    ImportError
        If scikit-learn is not installed.
    TypeError, ValueError
        For invalid arguments (see :func:`stratified_split`).

    Examples
    --------
    >>> (x_train, t_train), (x_test, t_test) = load_digits()
    >>> x_train.shape, x_test.shape
    ((1346, 64), (451, 64))
    >>> x_train.dtype, t_train.dtype, float(x_train.max())
    (dtype('float64'), dtype('int64'), 1.0)
    """
    size = _check_test_size(test_size)
    rng = _as_generator(seed)
    _check_flags(one_hot_label=one_hot_label, normalize=normalize, flatten=flatten)
    pixels, labels = _digits_arrays()
    train_idx, test_idx = _split_indices(labels, size, rng)

    def side(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = pixels[idx]  # fancy indexing copies: the cached arrays are never handed out
        if normalize:
            x /= 16.0
        if not flatten:
            x = x.reshape(-1, 1, 8, 8)
        t = labels[idx]
        return x, (_one_hot(t, 10) if one_hot_label else t)

    return side(train_idx), side(test_idx)


# --------------------------------------------------------------------------- IDX files

# IDX type codes (third magic byte); multi-byte types are stored big-endian.
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
# Deflate cannot compress better than about 1032:1, so a gzip file whose IDX header promises
# more data than this allows is corrupt; checking first avoids allocating absurd arrays.
_MAX_DEFLATE_RATIO = 1100
_CHUNK = 1 << 20


def _read_up_to(stream: BinaryIO, n: int) -> bytes:
    parts: list[bytes] = []
    remaining = n
    while remaining:
        part = stream.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def _readinto_all(stream: BinaryIO, buffer: memoryview) -> int:
    # Chunked because GzipFile.readinto reads the whole request into a temporary bytes object.
    filled = 0
    while filled < len(buffer):
        n = stream.readinto(buffer[filled : filled + _CHUNK])
        if not n:
            break
        filled += n
    return filled


def _count_rest(stream: BinaryIO) -> int:
    extra = 0
    while chunk := stream.read(_CHUNK):
        extra += len(chunk)
    return extra


def _length_error(path: Path, header_len: int, what: str, expected: int, found: int) -> ValueError:
    problem = "truncated" if found < expected else f"{found - expected} trailing bytes"
    return ValueError(
        f"{path}: wrong IDX data length ({problem}): the header declares {what}, i.e. "
        f"{expected} bytes after the {header_len}-byte header, but found {found}"
    )


def _parse_idx(stream: BinaryIO, path: Path, data_size: int | None, limit: int) -> np.ndarray:
    magic = _read_up_to(stream, 4)
    if len(magic) < 4:
        raise ValueError(
            f"{path}: truncated IDX header: expected a 4-byte magic number, "
            f"found {len(magic)} bytes"
        )
    if magic[:2] != b"\0\0":
        raise ValueError(
            f"{path}: not an IDX file: magic number 0x{magic.hex()} should start with two "
            "zero bytes (0x00000803 for images, 0x00000801 for labels)"
        )
    code, ndim = magic[2], magic[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02x}" for c in _IDX_DTYPES)
        raise ValueError(
            f"{path}: unknown IDX data type code 0x{code:02x}; expected one of {known}"
        )
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares 0 dimensions; expected at least 1")
    sizes = _read_up_to(stream, 4 * ndim)
    if len(sizes) < 4 * ndim:
        raise ValueError(
            f"{path}: truncated IDX header: {ndim} dimensions need {4 * ndim} bytes of sizes "
            f"after the magic number, found {len(sizes)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(sizes, dtype=">u4"))
    dtype = _IDX_DTYPES[code]
    header_len = 4 + 4 * ndim
    count = math.prod(shape)
    expected = count * dtype.itemsize
    what = f"shape {shape} of {dtype.name}"
    if data_size is not None:
        found = data_size - header_len
        if found != expected:
            raise _length_error(path, header_len, what, expected, found)
    elif expected > limit:
        raise ValueError(
            f"{path}: IDX header declares {what}, i.e. {expected} bytes, more than this "
            "gzip file can hold; the file is truncated or corrupt"
        )
    data = np.empty(count, dtype=dtype)
    filled = _readinto_all(stream, memoryview(data.view(np.uint8)))
    if filled < expected:
        raise _length_error(path, header_len, what, expected, filled)
    extra = _count_rest(stream)
    if extra:
        raise _length_error(path, header_len, what, expected, expected + extra)
    data = data.reshape(shape)
    return data if dtype.isnative else data.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (the format of the MNIST files), gzipped or plain.

    The header is a magic number -- two zero bytes, a type code (0x08 uint8,
    0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64) and the
    number of dimensions -- followed by one big-endian uint32 size per
    dimension; the data follow in C order. Gzip compression is recognised by
    its magic bytes. The data are read straight into the result, without an
    intermediate copy of the file.

    Parameters
    ----------
    path : str or os.PathLike
        The file; a name ending in ``.gz`` must hold gzip data.

    Returns
    -------
    ndarray
        A fresh, writable, C-contiguous array of the declared shape, in native
        byte order.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not IDX (bad magic number, unknown type code, no
        dimensions), is truncated or has trailing bytes, or is corrupt gzip.
        The message names the file and says what was expected and found.

    Examples
    --------
    >>> import pathlib, shutil, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))
    >>> read_idx(folder / "labels-idx1-ubyte")
    array([7, 2, 1], dtype=uint8)
    >>> shutil.rmtree(folder)
    """
    path = Path(path)
    with open(path, "rb") as raw:
        start = raw.read(2)
        raw.seek(0)
        file_size = os.fstat(raw.fileno()).st_size
        if start != _GZIP_MAGIC:
            if path.name.endswith(".gz"):
                raise ValueError(
                    f"{path}: corrupt gzip file: the name ends in .gz but the data do not start "
                    f"with the gzip magic bytes 1f8b (found {start.hex() or 'nothing'})"
                )
            return _parse_idx(raw, path, data_size=file_size, limit=file_size)
        with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
            try:
                return _parse_idx(
                    stream, path, data_size=None, limit=_MAX_DEFLATE_RATIO * file_size + 1024
                )
            except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
                raise ValueError(f"{path}: corrupt gzip file: {exc}") from exc


# --------------------------------------------------------------------------- MNIST

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
    """Return the directory where :func:`load_mnist` looks for MNIST by default.

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
    return _default_root(os.environ, os.name)


def _default_root(environ: Mapping[str, str], os_name: str) -> Path:
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
        while chunk := f.read(_CHUNK):
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
    """Download `url` to `dest` via a temp file, verifying it before the atomic move."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except _NETWORK_ERRORS as exc:
        raise _network_failure(exc) from exc
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        digest = hashlib.sha256()
        size = 0
        head = b""
        with os.fdopen(fd, "wb") as out, response:
            while True:
                try:
                    chunk = response.read(_CHUNK)
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
        if dest.name.endswith(".gz") and head[:2] != _GZIP_MAGIC:
            raise _MirrorError(f"sent {size} bytes that are not gzip data")
        os.replace(tmp_name, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


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


def _write_cache(path: Path, arrays: dict[str, np.ndarray], sources: list[str]) -> None:
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as exc:  # e.g. a read-only data directory: the cache is only an optimisation
        logger.warning("not caching MNIST arrays in %s: %s", path.parent, exc)
        return
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, format=np.int64(_CACHE_FORMAT), sources=np.array(sources), **arrays)
        os.replace(tmp_name, path)
    except OSError as exc:
        logger.warning("not caching MNIST arrays in %s: %s", path, exc)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)


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
    images: np.ndarray, labels: np.ndarray, normalize: bool, flatten: bool, one_hot: bool
) -> tuple[np.ndarray, np.ndarray]:
    n = images.shape[0]
    if normalize:
        x = np.empty((n, 784), dtype=np.float64)
        np.divide(images.reshape(n, 784), 255.0, out=x)
    else:
        x = np.ascontiguousarray(images.reshape(n, 784))
    if not flatten:
        x = x.reshape(n, 1, 28, 28)
    t = labels.astype(np.int64)
    return x, (_one_hot(t, 10) if one_hot else t)


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

    Reads the four IDX files of :data:`MNIST_FILES` from `root`, each either
    gzipped (``<name>.gz``, preferred when both exist) or plain, checks their
    SHA-256 digests, and caches the parsed arrays in ``root/mnist.npz``
    (written atomically; rebuilt whenever the digests of the source files
    change), so later loads skip the decompression.

    Parameters
    ----------
    root : str or os.PathLike, optional
        Directory holding the files; default :func:`default_mnist_root`
        (``$REFNET_DATA``, else ``$XDG_CACHE_HOME/refnet/mnist`` or
        ``~/.cache/refnet/mnist``; ``%LOCALAPPDATA%\\refnet\\mnist`` on Windows).
    download : bool, default False
        Download the missing files (as ``.gz``) from `mirrors`. Each file is
        written to a temporary file in `root`, verified and then moved into
        place; a failing mirror is logged (logger ``refnet.datasets``) and the
        next one tried. Without it, missing files raise FileNotFoundError.
    normalize : bool, default True
        Return float64 pixels in [0, 1] (divided by 255); otherwise the raw
        uint8 values 0..255, as in the book.
    flatten : bool, default True
        Images as rows of 784 pixels; otherwise shape ``(N, 1, 28, 28)``.
    one_hot_label : bool, default False
        Labels as one-hot float64 rows of length 10 instead of int64 digits.
    mirrors : sequence of str, optional
        Base URLs (http or https) tried in turn; default :data:`MNIST_MIRRORS`.
    checksums : mapping of str to str, or None, default MNIST_SHA256
        Expected SHA-256 hex digest of each file, keyed by its file name
        (``"train-images-idx3-ubyte.gz"`` or ``"train-images-idx3-ubyte"``).
        Every file used must have an entry, and downloads are checked against
        it before being moved into place. The default, :data:`MNIST_SHA256`,
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
    _check_flags(
        download=download, normalize=normalize, flatten=flatten, one_hot_label=one_hot_label
    )
    mirror_list = _check_mirrors(mirrors)
    table = _check_checksums(checksums)
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise TypeError(f"timeout must be a number of seconds, got {type(timeout).__name__}")
    if not 0 < timeout < math.inf:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    root_path = default_mnist_root() if root is None else Path(root).expanduser()

    found = _locate(root_path)
    missing = [stem for stem, path in found.items() if path is None]
    if missing:
        if not download:
            raise FileNotFoundError(_missing_message(root_path, missing, mirror_list))
        names = [f"{stem}.gz" for stem in missing]
        if table is not None:
            unlisted = [name for name in names if name not in table]
            if unlisted:
                raise ValueError(
                    f"checksums has no SHA-256 for {', '.join(unlisted)}, so the download "
                    "could not be verified; add them, or pass checksums=None to skip checks"
                )
        root_path.mkdir(parents=True, exist_ok=True)
        _download(root_path, names, mirror_list, table, float(timeout))
        found = _locate(root_path)

    paths = {key: found[stem] for key, stem in zip(_CACHE_KEYS, MNIST_FILES, strict=True)}
    digests = {key: _sha256_file(path) for key, path in paths.items()}
    if table is not None:
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
