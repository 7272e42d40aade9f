"""refnet._io.write_atomically: the one way refnet writes a file."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import sys
import threading

import pytest

from refnet._io import write_atomically

posix_modes = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_writes_the_bytes_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "out.bin"
    write_atomically(path, lambda f: f.write(b"first"))
    write_atomically(path, lambda f: f.write(b"second, longer"))
    assert path.read_bytes() == b"second, longer"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_a_failing_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")

    def half_then_fail(f):
        f.write(b"half of the new")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, half_then_fail)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_ctrl_c_during_the_write_cleans_up_too(tmp_path):
    def interrupted(f):
        f.write(b"x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(tmp_path / "out.bin", interrupted)
    assert list(tmp_path.iterdir()) == []


def test_the_temporary_file_is_hidden_in_the_same_folder(tmp_path):
    seen = []
    write_atomically(tmp_path / "out.bin", lambda f: seen.extend(os.listdir(tmp_path)))
    assert len(seen) == 1 and seen[0].startswith(".out.bin.") and seen[0].endswith(".part")


@posix_modes
@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077, 0o002, 0o000], ids=oct)
def test_the_file_gets_the_mode_open_would_give_it(tmp_path, mask):
    """0o666 less the umask, as open() does: not mkstemp's private 0o600."""
    with umask(mask):
        write_atomically(tmp_path / "atomic", lambda f: f.write(b"x"))
        with open(tmp_path / "plain", "wb") as f:
            f.write(b"x")
    assert mode(tmp_path / "atomic") == 0o666 & ~mask
    assert mode(tmp_path / "atomic") == mode(tmp_path / "plain")


@posix_modes
def test_replacing_a_private_file_does_not_keep_its_mode(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    path.chmod(0o600)
    with umask(0o022):
        write_atomically(path, lambda f: f.write(b"new"))
    assert mode(path) == 0o644


def test_a_missing_folder_is_an_error_not_a_silent_mkdir(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomically(tmp_path / "no" / "such" / "folder" / "out.bin", lambda f: None)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- Ctrl-C held


def _interrupt_inside(tmp_path):
    """write_atomically, with a real SIGINT sent half-way through the write."""

    def write(f):
        f.write(b"first half, ")
        signal.raise_signal(signal.SIGINT)
        f.write(b"second half")

    write_atomically(tmp_path / "file", write)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_during_a_write_is_delivered_after_the_file_is_complete(tmp_path):
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            _interrupt_inside(tmp_path)
        # The interrupt came after the move: the whole file is there, nothing else.
        assert (tmp_path / "file").read_bytes() == b"first half, second half"
        assert [p.name for p in tmp_path.iterdir()] == ["file"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_write_that_fails_reports_its_failure_not_the_held_ctrl_c(tmp_path):
    def write(f):
        signal.raise_signal(signal.SIGINT)
        raise OSError("disk full")

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(OSError, match="disk full"):
            write_atomically(tmp_path / "file", write)
        assert list(tmp_path.iterdir()) == []
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_an_ignored_ctrl_c_stays_ignored(tmp_path):
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _interrupt_inside(tmp_path)  # no KeyboardInterrupt: SIGINT is ignored
        assert (tmp_path / "file").read_bytes() == b"first half, second half"
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_outside_the_main_thread_the_write_runs_as_it_is(tmp_path):
    # Only the main thread can set signal handlers: a write from a worker thread must not
    # try (signal.signal would raise ValueError there).
    errors = []

    def work():
        try:
            write_atomically(tmp_path / "file", lambda f: f.write(b"from a thread"))
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert errors == []
    assert (tmp_path / "file").read_bytes() == b"from a thread"
