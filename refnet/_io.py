"""Writing a file so that a reader, or a crash, sees the old file or the new one, never half of one.

Checkpoints, the outputs of ``refnet train``, the MNIST downloads and the MNIST cache all
go through `write_atomically`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

# What this private module offers the rest of refnet (no reference page renders it).
__all__ = ["write_atomically"]


def write_atomically(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(binary_file)`` on a temporary file next to ``path``, then move it there.

    The temporary file sits in the same folder (so ``os.replace`` never crosses file
    systems), is flushed and fsync'ed before the move, and is removed if ``write`` or
    anything after it fails.  ``os.replace`` is atomic on POSIX and Windows, so ``path``
    is always either the old file or the complete new one.  The new file gets the mode a
    plain ``open(path, "wb")`` would give it (``0o666`` less the umask), whatever the
    old one had.  The folder must exist.

    Examples
    --------
    >>> import pathlib, shutil, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> write_atomically(folder / "greeting.txt", lambda f: f.write(b"hello"))
    >>> (folder / "greeting.txt").read_bytes(), [p.name for p in folder.iterdir()]
    (b'hello', ['greeting.txt'])
    >>> shutil.rmtree(folder)
    """
    path = Path(path)
    fd, temporary = _create_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _create_beside(path: Path) -> tuple[int, Path]:
    """Create a new, empty, uniquely named file in ``path``'s folder; return its fd and path.

    Created by ``os.open`` with mode 0o666, as ``open()`` does, so the kernel applies the
    umask (and any default ACL) itself.  ``tempfile.mkstemp`` would make the file 0o600,
    and reading the umask to correct that means setting it, which races with other
    threads.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
        try:
            return os.open(temporary, flags, 0o666), temporary
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue
