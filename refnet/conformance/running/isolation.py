"""Running the target's code apart: output captured, warnings recorded, time limited.

Used twice: around each import of the target's files (target.py) and around each check
(runner.py).  The time limit is SIGALRM, so it works on Unix in the main thread only; the
command runs the whole thing in a child process besides (process.py), which the parent
kills if even the alarm cannot stop the target.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import threading
import warnings

import numpy as np


class CheckTimeout(BaseException):
    """Raised in the target's code when it runs out of time.

    A BaseException, so that neither the target's ``except Exception`` nor hypothesis
    (which would try to shrink it) catches it.
    """


class CappedOutput(io.TextIOBase):
    """A text stream that keeps the first ``limit`` characters written to it and counts the
    rest: a target that prints without end cannot fill the memory."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit
        self.kept: list[str] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, text) -> int:
        room = self.limit - min(self.size, self.limit)
        if room > 0:
            self.kept.append(str(text)[:room])
        self.size += len(text)
        return len(text)

    def getvalue(self) -> str:
        kept = "".join(self.kept)
        if self.size > self.limit:
            kept += f"\n[... {self.size - self.limit} more characters not kept]"
        return kept


@contextlib.contextmanager
def deadline(seconds):
    """Raise CheckTimeout in the main thread after ``seconds`` (then every second after, in
    case the target swallows it with a bare ``except:``).  No limit for 0 or None."""
    usable = (
        seconds
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return
    state = {"active": True}

    def handler(signum, frame):
        if state["active"]:
            raise CheckTimeout(seconds)

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        state["active"] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def isolated(output: io.TextIOBase, timeout):
    """Around a check: output to ``output``, warnings ignored (checks that judge warnings
    record their own), NumPy's default error state, and the time limit."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stdout(output))
        stack.enter_context(contextlib.redirect_stderr(output))
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        stack.enter_context(np.errstate(divide="warn", over="warn", under="ignore", invalid="warn"))
        stack.enter_context(deadline(timeout))
        yield


@contextlib.contextmanager
def importing(folder: str, output: io.TextIOBase, timeout, caught: list):
    """Around the import of a target's file: run from the file's ``folder`` (the book's
    ``sys.path.append(os.pardir)`` is relative to it), write no ``__pycache__`` into the
    user's folders, plot to no window, capture output, record warnings in ``caught``."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    before = os.getcwd()
    bytecode = sys.dont_write_bytecode
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stdout(output))
        stack.enter_context(contextlib.redirect_stderr(output))
        recorded = stack.enter_context(warnings.catch_warnings(record=True))
        warnings.simplefilter("always")
        sys.dont_write_bytecode = True
        os.chdir(folder)
        try:
            with deadline(timeout):
                yield
        finally:
            os.chdir(before)
            sys.dont_write_bytecode = bytecode
            caught += [f"{w.category.__name__}: {w.message}" for w in recorded]
