"""Writing a file so that a reader, a crash or Ctrl-C sees the old file or the new one, never half of one.

Checkpoints, the outputs of ``refnet train``, the MNIST downloads and the MNIST cache all
go through `write_atomically`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, BinaryIO


class InterruptsDeferred:
    """Hold Ctrl-C (SIGINT) while the block runs; deliver it when the block has finished.

    KeyboardInterrupt can land between any two bytecodes.  Inside ``np.savez`` it leaves a
    ``ZipFile`` with an open writing handle, whose clean-up then raises ValueError ("Can't
    close the ZIP file while there is an open writing handle") in place of the interrupt.
    Inside the block, a SIGINT is only recorded; on leaving it, the handler that was in
    force is restored and, if a SIGINT came and the block succeeded, called as the signal
    would have called it (Python's default raises KeyboardInterrupt there).  If the block
    failed, its own exception propagates and the held interrupt is dropped: the run stops
    either way, and the failure is the news.

    Signals are handled in the main thread only: elsewhere, or where SIGINT is not handled
    by Python code (ignored, or the operating system's default), the block runs as it is.
    A SIGINT that comes before the handler is swapped in interrupts before the block starts,
    and one after it is swapped back interrupts after the block ended: never inside.

    Examples
    --------
    >>> import signal
    >>> try:
    ...     with InterruptsDeferred():
    ...         signal.raise_signal(signal.SIGINT)
    ...         finished = True
    ... except KeyboardInterrupt:
    ...     print("interrupted after the block; finished:", finished)
    interrupted after the block; finished: True
    """

    def __init__(self) -> None:
        self._previous: Any = None
        self._held: list[FrameType | None] = []

    def __enter__(self) -> InterruptsDeferred:
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if callable(previous):
                self._previous = previous
                signal.signal(signal.SIGINT, self._hold)
        return self

    def _hold(self, signum: int, frame: FrameType | None) -> None:
        self._held.append(frame)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        previous, self._previous = self._previous, None
        if previous is None:
            return
        signal.signal(signal.SIGINT, previous)
        if self._held and kind is None:
            previous(signal.SIGINT, self._held[0])


# What this private module offers the rest of refnet (no reference page renders it).
__all__ = ["write_atomically"]


def write_atomically(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(binary_file)`` on a temporary file next to ``path``, then move it there.

    The temporary file sits in the same folder (so ``os.replace`` never crosses file
    systems), is flushed and fsync'ed before the move, and is removed if ``write`` or
    anything after it fails.  Ctrl-C is held until the file is complete and in place
    (`InterruptsDeferred`), so an interrupt never tears the write.  ``os.replace`` is atomic on POSIX and Windows, so ``path``
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
    with InterruptsDeferred():
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
