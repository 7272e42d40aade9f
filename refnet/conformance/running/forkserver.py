"""A warm worker: JAX, hypothesis and the checks imported once, a fresh child per submission.

Starting a submission's run costs ~2 s of CPU before the first check (Python, hypothesis,
the checks, JAX): this module pays it once per grader.  The *server* (``python -m
refnet.conformance.running.forkserver``, started by `ForkServer`) imports everything the worker
needs, and nothing more: JAX's backend is not started and nothing is compiled, because a
process forked after XLA started its threads may deadlock.  For each run the grader sends
the server a request (the worker's settings, the user id, the limits, the environment,
three pipes, and the worker's socket to the oracle server when a class has one) and the
server forks:

* an intermediate process, which joins the submission's bubblewrap sandbox (its mount,
  network, process, IPC, host-name and cgroup namespaces: the same view of the files,
  the same missing network, the same process namespace torn down with it, as a cold run
  has; sandbox.py starts the sandbox), then forks
* the worker, inside the sandbox: a session of its own, the submission's user, the hard
  limits, the fixed environment, and then worker.py's work, its events on one pipe and
  whatever the submission prints on the other.

The intermediate waits for the worker and writes on the third pipe the worker's process
id, then how it ended and the CPU time it used (`WarmProcess` reads them); the server
reaps the intermediates, so that their CPU time is counted where the grader's is.  The
worker keeps nothing of the server's but its imported modules: no descriptor (all are
closed), not its environment (replaced), not its privileges (it is the submission's user
before the submission's code runs).  Only a grader running as root can join the
namespaces and hand out user ids: elsewhere workers.py keeps the cold path (a new
interpreter per worker).
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from . import sandbox

#: The namespaces a worker joins, in this order (the mount namespace last: after it, the
#: paths under /proc are the sandbox's).
NAMESPACES: tuple[tuple[str, int], ...] = (
    ("ipc", 0x08000000),
    ("uts", 0x04000000),
    ("net", 0x40000000),
    ("cgroup", 0x02000000),
    ("pid", 0x20000000),
    ("mnt", 0x00020000),
)
#: What the server imports before it forks (the worker's imports; JAX without its backend).
WARM_IMPORTS = (
    "hypothesis",
    "refnet.conformance.checks",
    "refnet.conformance.running.runner",
    "refnet.conformance.finding.target",
    "refnet.conformance.running.worker",
    "refnet.conformance.oracle",
    "refnet.conformance.oracle_jax",
)


# -- the server -------------------------------------------------------------------------------


def _setns(fd: int, kind: int) -> None:
    if hasattr(os, "setns"):  # Python 3.12
        os.setns(fd, kind)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, kind) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


def _worker(request: dict, events: int, output: int) -> None:
    """In the sandbox: become the submission's worker (never returns)."""
    code = 1
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(events, 1)
        os.dup2(output, 2)
        oracle_fd = request.get("oracle_fd")
        if oracle_fd is not None:  # the socket to the oracle server, as REFNET_ORACLE_FD says
            os.dup2(oracle_fd, 3)
        os.closerange(3 if oracle_fd is None else 4, os.sysconf("SC_OPEN_MAX"))  # nothing else
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        import tempfile

        tempfile.tempdir = None  # TMPDIR is the submission's folder now
        uid = request.get("uid")
        if uid is not None:  # first: a process that is no longer root cannot raise a hard limit
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        for name, (soft, hard) in request["rlimits"].items():
            resource.setrlimit(getattr(resource, name), (soft, hard))
        from .. import oracle
        from . import worker

        oracle.COUNTS.update(hits=0, misses=0)
        emit = worker.emitter()
        worker.work(request["config"], emit)
        code = 0
    except BaseException:  # everything: this process must end here, never return to the server
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def _intermediate(request: dict, fds: list[int]) -> None:
    """Join the sandbox's namespaces, fork the worker into it, report how it ended."""
    events, output, status = fds[:3]
    if len(fds) == 4:
        request["oracle_fd"] = fds[3]
    code = 0
    try:
        sandbox_pid = request.get("namespaces")
        if sandbox_pid is not None:
            opened = [
                (os.open(f"/proc/{sandbox_pid}/ns/{name}", os.O_RDONLY), kind)
                for name, kind in NAMESPACES
                if os.path.exists(f"/proc/{sandbox_pid}/ns/{name}")
            ]
            for fd, kind in opened:
                _setns(fd, kind)
                os.close(fd)
        pid = os.fork()
        if pid == 0:
            os.close(status)
            _worker(request, events, output)
        for passed in fds[:2] + fds[3:]:
            os.close(passed)
        os.write(status, (json.dumps({"pid": pid}) + "\n").encode())
        _, wait_status, usage = os.wait4(pid, 0)
        ended = {
            "exit": os.waitstatus_to_exitcode(wait_status),
            "cpu": usage.ru_utime + usage.ru_stime,
        }
        os.write(status, (json.dumps(ended) + "\n").encode())
    except BaseException as exc:  # the worker never started: say why on the status pipe
        message = {"error": f"{type(exc).__name__}: {exc}"}
        try:
            os.write(status, (json.dumps(message) + "\n").encode())
        except OSError:
            pass
        code = 1
    finally:
        os._exit(code)


def _reap(block: bool = False) -> None:
    """Reap the intermediates that ended (all of them with ``block``): their CPU time, and
    their workers', is then this server's children's, which the grader's wait reports."""
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def serve(fd: int) -> None:
    """The server's loop: one request (and its pipes and socket) in, one forked run out."""
    import importlib

    for name in WARM_IMPORTS:
        importlib.import_module(name)
    channel = socket.socket(fileno=fd)
    channel.sendall(b"ready")
    try:
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(channel, 1 << 20, 4)
            except OSError:
                return
            if not message:
                return
            _reap()
            try:
                request = json.loads(message)
            except ValueError:
                request = None
            if request is not None and len(fds) in (3, 4) and os.fork() == 0:
                channel.close()
                _intermediate(request, fds)
            for received in fds:
                os.close(received)
    finally:
        _reap(block=True)


# -- the grader's side ------------------------------------------------------------------------


class ServerGone(Exception):
    """The fork server ended (killed, or never started): the run is tried on a new one."""


class WarmProcess:
    """A worker forked by the server, seen like a ``subprocess.Popen``: ``stdout`` its
    events, ``stderr`` what the submission printed, ``wait`` and ``poll`` through the status
    pipe; ``cpu_seconds`` once it has ended."""

    def __init__(self, events: int, output: int, status: int):
        self.stdout = os.fdopen(events, "rb")
        self.stderr = os.fdopen(output, "rb")
        self.stdin = None
        self.returncode: int | None = None
        self.cpu_seconds = 0.0
        self.error: str | None = None
        self._status = os.fdopen(status, "rb")
        first = json.loads(self._status.readline() or b'{"error": "the server ended"}')
        if "error" in first:
            self._close_pipes()
            raise ServerGone(first["error"])
        self.pid: int = first["pid"]
        self._ended = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        line = self._status.readline()
        ended = json.loads(line) if line else {"exit": -signal.SIGKILL, "cpu": 0.0}
        self.returncode = int(ended.get("exit", -signal.SIGKILL))
        self.cpu_seconds = float(ended.get("cpu", 0.0))
        self._status.close()
        self._ended.set()

    def poll(self) -> int | None:
        return self.returncode if self._ended.is_set() else None

    def wait(self, timeout: float | None = None) -> int | None:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired("worker", timeout or 0)
        return self.returncode

    def kill(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _close_pipes(self) -> None:
        for stream in (self.stdout, self.stderr, self._status):
            stream.close()


class ForkServer:
    """One warm server, started on first use; `spawn` forks a worker for a request."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.lock = threading.Lock()
        self.process: subprocess.Popen | None = None
        self.channel: socket.socket | None = None

    def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = [sys.executable, "-m", "refnet.conformance.running.forkserver", str(theirs.fileno())]
        self.process = subprocess.Popen(
            argv,
            env=self.env,
            cwd=self.env.get("HOME", "/"),
            stdin=subprocess.DEVNULL,
            pass_fds=[theirs.fileno()],
            start_new_session=True,
        )
        theirs.close()
        ours.settimeout(300)
        if ours.recv(16) != b"ready":
            self.process.kill()
            raise ServerGone("the fork server did not start")
        ours.settimeout(None)
        self.channel = ours

    def start(self) -> None:
        """Start the server now, if it is not running (its imports take seconds: not a
        submission's wall time)."""
        with self.lock:
            if self.process is None or self.process.poll() is not None:
                self.close()
                self._start()

    def spawn(self, request: dict, oracle_fd: int | None = None) -> WarmProcess:
        """Fork a worker for ``request`` (see the module's docstring); ``oracle_fd``, the
        worker's socket to the oracle server, becomes its descriptor 3."""
        pipes = [os.pipe() for _ in range(3)]
        with self.lock:
            for attempt in range(2):
                try:
                    if self.process is None or self.process.poll() is not None:
                        self._start()
                    assert self.channel is not None
                    message = json.dumps(request).encode()
                    passed = [w for _, w in pipes] + ([] if oracle_fd is None else [oracle_fd])
                    socket.send_fds(self.channel, [message], passed)
                    break
                except (OSError, ServerGone):
                    self.close()
                    if attempt:
                        for read, write in pipes:
                            os.close(read)
                            os.close(write)
                        raise ServerGone("the fork server could not be started") from None
        for _, write in pipes:
            os.close(write)
        return WarmProcess(*(read for read, _ in pipes))

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.process is not None:
            sandbox.wait_or_kill(self.process)
            self.process = None


_SERVERS: dict[tuple, ForkServer] = {}
_SERVERS_LOCK = threading.Lock()


def server_for(env: dict[str, str]) -> ForkServer:
    """The one server of this process for ``env`` (a Dask worker keeps its own)."""
    key = tuple(sorted(env.items()))
    with _SERVERS_LOCK:
        if key not in _SERVERS:
            _SERVERS[key] = ForkServer(env)
        return _SERVERS[key]


@atexit.register
def close_all() -> None:
    with _SERVERS_LOCK:
        for server in _SERVERS.values():
            server.close()
        _SERVERS.clear()


if __name__ == "__main__":
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path.cwd()]
    serve(int(sys.argv[1]))
