"""The IDX file format of the MNIST files: [`read_idx`][refnet.datasets.idx.read_idx].

An IDX file is a magic number -- two zero bytes, a type code and the number of
dimensions -- then one big-endian uint32 size per dimension, then the data in C order,
big-endian.  The files are often gzipped; [`read_idx`][refnet.datasets.idx.read_idx] reads both.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["CHUNK_BYTES", "GZIP_MAGIC", "read_idx"]

# IDX type codes (third magic byte); multi-byte types are stored big-endian.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
#: The first two bytes of every gzip file.
GZIP_MAGIC = b"\x1f\x8b"
# Deflate cannot compress better than about 1032:1, so a gzip file whose IDX header promises
# more data than this allows is corrupt; checking first avoids allocating absurd arrays.
_MAX_DEFLATE_RATIO = 1100
#: Bytes read at a time from a file or a stream.
CHUNK_BYTES = 1 << 20


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
        if start != GZIP_MAGIC:
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


def _read_up_to(stream: io.BufferedIOBase, n: int) -> bytes:
    parts: list[bytes] = []
    remaining = n
    while remaining:
        part = stream.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def _readinto_all(stream: io.BufferedIOBase, buffer: memoryview) -> int:
    # Chunked because GzipFile.readinto reads the whole request into a temporary bytes object.
    filled = 0
    while filled < len(buffer):
        n = stream.readinto(buffer[filled : filled + CHUNK_BYTES])
        if not n:
            break
        filled += n
    return filled


def _count_rest(stream: io.BufferedIOBase) -> int:
    extra = 0
    while chunk := stream.read(CHUNK_BYTES):
        extra += len(chunk)
    return extra


def _length_error(path: Path, header_len: int, what: str, expected: int, found: int) -> ValueError:
    problem = "truncated" if found < expected else f"{found - expected} trailing bytes"
    return ValueError(
        f"{path}: wrong IDX data length ({problem}): the header declares {what}, i.e. "
        f"{expected} bytes after the {header_len}-byte header, but found {found}"
    )


def _parse_idx(
    stream: io.BufferedIOBase, path: Path, data_size: int | None, limit: int
) -> np.ndarray:
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
    filled = _readinto_all(stream, data.view(np.uint8).data)
    if filled < expected:
        raise _length_error(path, header_len, what, expected, filled)
    extra = _count_rest(stream)
    if extra:
        raise _length_error(path, header_len, what, expected, expected + extra)
    data = data.reshape(shape)
    return data if dtype.isnative else data.astype(dtype.newbyteorder("="))
