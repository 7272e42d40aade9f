"""What refnet's command lines share: ``refnet ...`` and ``python -m refnet.conformance``.

Their contract with the user: a usage error is one line on stderr and exit code 2; a
problem met while running is one line and exit code 1; Ctrl-C, at any moment from the
start of ``main``, is one line and exit code 130.  No traceback for anything the user can
act on.  This module provides the pieces:

* `Parser`, an ``argparse.ArgumentParser`` whose errors are one line (argparse
  prints the whole usage first, which for ``refnet train`` is a screenful);
* option types that check a value while the command line is parsed, before any heavy
  import: `Integer` and `Real` with their ranges, and paths
  (`OutputFolder`, `OutputFile`, `Folder`, `InputFile`,
  `InputFolder`, `InputPath`) that are probed on disk, so that ``--out /proc/x`` fails at once
  rather than after an hour of training;
* `run_guarded`, which turns KeyboardInterrupt, `UsageError`,
  `CommandError` and a closed stdout into those lines and exit codes.

The types keep their bounds and kinds as attributes, so tests/test_cli.py generates its
bad inputs from the parsers themselves.  Standard library only (floor 0).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

EXIT_FAILURE = 1  # a problem met while running: missing data, a diverged run
EXIT_USAGE = 2  # argparse's code: a bad option, value or path
EXIT_INTERRUPTED = 130  # the shell's code for a process stopped by SIGINT (128 + 2)


class UsageError(Exception):
    """A problem with the command line or the files it names (exit code 2)."""


class CommandError(Exception):
    """A problem met while running, that the user can act on (exit code 1)."""


def one_line(text: str) -> str:
    """``text`` on one line: its lines stripped and joined, ``;`` where no stop ends one.

    Examples
    --------
    >>> one_line("could not download x from any mirror:\\n  a: refused\\n  b: refused\\nRetry.")
    'could not download x from any mirror: a: refused; b: refused; Retry.'
    """
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    joined = lines[0] if lines else ""
    for line in lines[1:]:
        joined += (" " if joined.endswith((":", ";", ".", ",")) else "; ") + line
    return joined


# --------------------------------------------------------------------------- the parser


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line: ``prog: error: --flag problem``.

    argparse says ``argument --lr: must be > 0, got -1``; this says ``--lr must be > 0,
    got -1``, which the option types below are phrased for.  Subcommand parsers made by
    ``add_subparsers`` are of the same class.
    """

    def error(self, message: str):
        if message.startswith("argument "):
            name, _, problem = message[len("argument ") :].partition(": ")
            message = f"{name} {problem}" if problem else message
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)}\n")


# --------------------------------------------------------------------------- numbers


def _number_text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


class Integer:
    """An option type: a whole number, at least ``minimum`` (if given).

    >>> Integer(minimum=1)("3")
    3
    >>> Integer(minimum=1)("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be >= 1, got 0
    """

    def __init__(self, minimum: int | None = None):
        self.minimum = minimum

    def __repr__(self) -> str:  # what argparse's help and messages would show
        return "integer" if self.minimum is None else f"integer >= {self.minimum}"

    def __call__(self, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an {self!r}, got {text!r}") from None
        if self.minimum is not None and value < self.minimum:
            raise argparse.ArgumentTypeError(f"must be >= {self.minimum}, got {value}")
        return value


class Real:
    """An option type: a finite number in a range; ``low``/``high`` excluded if ``open_*``.

    >>> Real(low=0, open_low=True)("0.5")
    0.5
    >>> Real(low=0, high=1, open_low=True, open_high=True)("1.5")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be in (0, 1), got 1.5
    >>> Real()("nan")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a finite number, got 'nan'
    """

    def __init__(self, low=None, high=None, *, open_low=False, open_high=False):
        self.low, self.high = low, high
        self.open_low, self.open_high = open_low, open_high

    def __repr__(self) -> str:
        return f"number {self.range()}".rstrip()

    def range(self) -> str:
        """The range in words: ``"in (0, 1)"``, ``"> 0"``, ``">= 0"``, or ``""``."""
        low, high = self.low, self.high
        if low is not None and high is not None:
            left, right = "(" if self.open_low else "[", ")" if self.open_high else "]"
            return f"in {left}{_number_text(low)}, {_number_text(high)}{right}"
        if low is not None:
            return f"{'>' if self.open_low else '>='} {_number_text(low)}"
        if high is not None:
            return f"{'<' if self.open_high else '<='} {_number_text(high)}"
        return ""

    def __call__(self, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        below = self.low is not None and (value < self.low or (self.open_low and value == self.low))
        above = self.high is not None and (
            value > self.high or (self.open_high and value == self.high)
        )
        if below or above:
            raise argparse.ArgumentTypeError(f"must be {self.range()}, got {_number_text(value)}")
        return value


# --------------------------------------------------------------------------- paths


def _non_empty(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("must be a path, got an empty string")
    return Path(text).expanduser()


def _nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (what a new path would be made in)."""
    probe = path.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def _probe_writable(text: str, folder: Path) -> None:
    """ArgumentTypeError unless a folder can be created in ``folder`` (tried, then removed).

    Permission bits do not answer this (root ignores them; /proc and read-only mounts
    refuse whatever the bits say), so the probe makes a real, empty folder.
    """
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: {folder} is a file, not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".refnet-probe-", dir=folder))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise argparse.ArgumentTypeError(f"{text}: cannot write in {folder} ({reason})") from None


class PathType:
    """The kind of path an option takes; the test suite reads ``kind``."""

    kind = ""

    def __repr__(self) -> str:
        return self.kind


class OutputFolder(PathType):
    """An option type: a folder to write into, created (with its parents) when missing."""

    kind = "output folder"

    def __call__(self, text: str) -> Path:
        path = _non_empty(text)
        if path.exists() and not path.is_dir():
            raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
        _probe_writable(text, _nearest_existing(path))
        return path


class OutputFile(PathType):
    """An option type: a file to write (replaced if it exists); its folder may be new."""

    kind = "output file"

    def __call__(self, text: str) -> Path:
        path = _non_empty(text)
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{text} is a folder, not a file")
        _probe_writable(text, _nearest_existing(path.parent))
        if path.exists():
            try:
                with open(path, "ab"):  # opened for appending, written nothing
                    pass
            except OSError as exc:
                raise argparse.ArgumentTypeError(f"{text}: {exc.strerror}") from None
        return path


class Folder(PathType):
    """An option type: a folder, which may not exist yet; only refused if it cannot be one."""

    kind = "folder"

    def __call__(self, text: str) -> Path:
        path = _non_empty(text)
        if path.exists() and not path.is_dir():
            raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
        ancestor = _nearest_existing(path)
        if not ancestor.is_dir():
            raise argparse.ArgumentTypeError(f"{text}: {ancestor} is a file, not a folder")
        return path


class InputFile(PathType):
    """An option type: a file that exists and can be read."""

    kind = "input file"

    def __call__(self, text: str) -> Path:
        path = _non_empty(text)
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{text} is a folder, not a file")
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"{text}: {exc.strerror}") from None
        return path


class InputFolder(PathType):
    """An option type: a folder that exists."""

    kind = "input folder"

    def __call__(self, text: str) -> Path:
        path = _non_empty(text)
        if not path.is_dir():
            what = "a file" if path.exists() else "not found"
            raise argparse.ArgumentTypeError(f"{text} is not a directory ({what})")
        return path


class InputPath(PathType):
    """An option type: a file or a folder that exists."""

    kind = "input path"

    def __call__(self, text: str) -> Path:
        path = _non_empty(text)
        if not path.exists():
            raise argparse.ArgumentTypeError(f"{text}: no such file or folder")
        return path


def check_value(option_type: Callable[[str], object], value: str, message: str):
    """``option_type(value)`` for a value the command chose itself (a default, a folder
    derived from another option); if the type refuses it, a UsageError whose text is
    ``message`` with ``{problem}`` replaced by the type's reason.

    >>> check_value(Integer(minimum=1), "0", "--jobs from the config file {problem}")
    Traceback (most recent call last):
    ...
    refnet._command_line.UsageError: --jobs from the config file must be >= 1, got 0
    """
    try:
        return option_type(value)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(message.format(problem=exc)) from None


# --------------------------------------------------------------------------- running


def _first_interrupt(signum, frame):
    # Later Ctrl-Cs, while the first one's clean-up runs (a checkpoint being written),
    # stop the process at once instead of raising inside that clean-up.
    signal.signal(signal.SIGINT, _interrupted_again)
    raise KeyboardInterrupt


def _interrupted_again(signum, frame):
    os.write(2, b"interrupted again: stopped at once\n")
    os._exit(EXIT_INTERRUPTED)


def _catch_interrupts() -> Callable[[], None]:
    """Route SIGINT through `_first_interrupt`; return what restores the old handler.

    A SIGINT that the parent process ignores (a background job) stays ignored, and only
    the main thread may set handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN or previous is None:
        return lambda: None
    signal.signal(signal.SIGINT, _first_interrupt)

    def restore() -> None:
        signal.signal(signal.SIGINT, previous)

    return restore


class Guard:
    """Who is speaking in messages: ``refnet``, then ``refnet train`` once it is known."""

    def __init__(self, prog: str):
        self.prog = prog

    def say(self, message: str) -> None:
        print(f"{self.prog}: {one_line(message)}", file=sys.stderr, flush=True)


def run_guarded(prog: str, body: Callable[[Guard], int]) -> int:
    """Run ``body(guard)`` and turn what the user can act on into one line and an exit code.

    KeyboardInterrupt (Ctrl-C, caught from this call on, imports included) gives 130;
    `UsageError` 2; `CommandError` and MemoryError 1; argparse's own exit (``--help``, a
    usage error) its code; a reader that goes away (``refnet ... | head``) 1, silently.
    A stream closed before the start (``refnet check >&-``) is read as /dev/null: the
    command runs and ends quietly with its own exit code.  Any other exception is a bug
    in refnet and keeps its traceback.
    """
    _reopen_closed_streams()
    guard = Guard(prog)
    restore = _catch_interrupts()
    try:
        try:
            code = int(body(guard) or 0)
        except SystemExit as exc:  # argparse's: --help, --version, a usage error
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
            code = exc.code if isinstance(exc.code, int) else (exc.code is not None)
        sys.stdout.flush()  # here, where a reader that went away is caught, not at exit
        return code
    except KeyboardInterrupt as exc:  # a command may say more than "interrupted"
        guard.say(str(exc) if exc.args else "interrupted")
        return EXIT_INTERRUPTED
    except UsageError as exc:
        guard.say(f"error: {exc}")
        return EXIT_USAGE
    except CommandError as exc:
        guard.say(f"error: {exc}")
        return EXIT_FAILURE
    except MemoryError as exc:  # sizes asked for that this machine cannot hold
        guard.say(f"error: not enough memory ({exc or 'MemoryError'}); ask for smaller sizes")
        return EXIT_FAILURE
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_FAILURE
    finally:
        restore()


def _reopen_closed_streams() -> None:
    """Give a standard stream that was closed before the start (Python then makes it
    None) the null device, on its own descriptor: prints are discarded instead of failing,
    and no file the command opens later can take descriptor 1 or 2 (where a child
    process, which inherits them, would write into it)."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is not None:
            continue
        devnull = os.open(os.devnull, os.O_WRONLY)
        if devnull != fd:
            os.dup2(devnull, fd)
            os.close(devnull)
        setattr(sys, name, open(fd, "w", closefd=False))


def _silence_stdout() -> None:
    """After a reader closed stdout, point it at /dev/null so Python's exit flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (a test's)
        pass
