"""The grader's oracle server: one JAX for the whole class, its values shared by every run.

Without it each submission's worker computes the oracle's values itself whenever the
warm-up's table (oracle.py) lacks them, which for code that behaves differently from
refnet's is most of them: hypothesis's draws follow the target's behaviour, so they leave
the warm-up's path, and every worker starts JAX's backend and compiles the same programs
again.  The server does that once.  It is a process of its own (``python -m
refnet.conformance.running.oracle_server``) that imports JAX, computes what the workers
ask (oracle.py's functions, remembered by value) and keeps every value for the next
worker: the second submission that goes the first one's way finds its values computed.

What a run can do to it, and why that is bounded:

* **It talks only on its own socket.**  The grader makes a connected pair of sockets for
  each worker it starts, gives one end to that worker alone (``REFNET_ORACLE_FD``,
  inherited: there is no path, no port, nothing another submission could open), and
  hands the other end to the server.
* **It can only ask.**  A request names one of oracle.py's functions and its arguments,
  read by oracle_wire.decode under limits (numbers only, sizes and integers bounded,
  nothing unpickled or evaluated); an answer is computed by JAX from those arguments
  alone, so nothing a submission sends can change what another one is compared with.
* **It cannot take the server.**  Requests are answered one at a time, in turn between
  the connections, so a busy submission delays another by one bounded request at most;
  the server's CPU time for one connection may not exceed the CPU time its run may use
  (the connection is then closed, and the worker computes the rest itself, on its own
  clock); a worker that does not read its answers is disconnected.
* **It is contained as a submission is**: when the grader is root it runs as a user of
  its own, in the same bubblewrap sandbox as a worker when bwrap works here (no network,
  the cache read-only), under the grader's memory limit, and it ends with the batch.

A worker that cannot reach the server (none was started: a cluster, REFNET_ORACLE_SERVER=off,
or it ended) computes the oracle's values itself, as before; the values are the same.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import oracle_wire
from . import sandbox

#: Seconds the grader waits for the server's imports before grading without it.
START_TIMEOUT = 120.0


# -- the server ---------------------------------------------------------------------------------


@dataclass
class _Client:
    """One worker's connection: what it sent and not yet answered, what is owed to it."""

    channel: socket.socket
    budget: float  # CPU seconds the server may spend on it
    spent: float = 0.0
    incoming: bytearray = field(default_factory=bytearray)
    outgoing: bytes = b""


def _answer(request: bytes, functions: dict) -> bytes:
    """The reply to one request: the value, or what was wrong with the request."""
    try:
        message = json.loads(request)
        name = message["f"]
        if not isinstance(name, str) or name not in functions:
            raise oracle_wire.WireError(f"no oracle function {str(name)[:40]!r}")
        args = oracle_wire.decode(message["a"], strict=True)
        kwargs = oracle_wire.decode(message["k"], strict=True)
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise oracle_wire.WireError("arguments must be a list and a dict")
        reply = {"v": oracle_wire.encode(functions[name](*args, **kwargs))}
    except Exception as exc:  # a bad request, or arguments the oracle rejects
        reply = {"e": f"{type(exc).__name__}: {str(exc)[:300]}"}
    return oracle_wire.frame(json.dumps(reply, separators=(",", ":")).encode())


def serve(control_fd: int) -> None:
    """The server's loop: new connections from the grader on ``control_fd``, requests on
    them answered in turn, until the grader closes ``control_fd``."""
    from .. import oracle, oracle_jax  # noqa: F401  (JAX imported before "ready")

    functions = {name: getattr(oracle, name) for name in oracle.__all__ if name != "as_numpy"}
    control = socket.socket(fileno=control_fd)
    control.sendall(b"ready")
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ, None)
    clients: dict[socket.socket, _Client] = {}

    def drop(client: _Client) -> None:
        selector.unregister(client.channel)
        clients.pop(client.channel, None)
        client.channel.close()

    while True:
        ready = [
            c for c in clients.values() if not c.outgoing and oracle_wire.frame_ready(c.incoming)
        ]
        for key, events in selector.select(timeout=0 if ready else None):
            if key.fileobj is control:
                if not _accept(control, selector, clients):
                    return
                continue
            client = clients.get(key.fileobj)  # type: ignore[call-overload]
            if client is None:  # dropped earlier in this round
                continue
            if events & selectors.EVENT_WRITE:
                _send(client, selector, drop)
            elif events & selectors.EVENT_READ:
                _receive(client, drop)
        for client in [c for c in clients.values() if not c.outgoing]:
            try:
                request = oracle_wire.split_frame(client.incoming)
            except oracle_wire.WireError:
                drop(client)
                continue
            if request is None:
                continue
            started = time.process_time()
            client.outgoing = _answer(request, functions)
            client.spent += time.process_time() - started
            if client.spent > client.budget:
                drop(client)  # the worker computes the rest itself, on its own clock
                continue
            _send(client, selector, drop)


def _accept(control: socket.socket, selector, clients) -> bool:
    """Take a new connection from the grader; False when the grader has closed."""
    try:
        message, fds, _, _ = socket.recv_fds(control, 1 << 12, 1)
    except OSError:
        return False
    if not message:
        return False
    for fd in fds:
        channel = socket.socket(fileno=fd)
        channel.setblocking(False)
        budget = float(json.loads(message).get("cpu", 60.0))
        clients[channel] = _Client(channel, budget)
        selector.register(channel, selectors.EVENT_READ, None)
    return True


def _receive(client: _Client, drop) -> None:
    try:
        chunk = client.channel.recv(1 << 16)
    except BlockingIOError:
        return
    except OSError:
        chunk = b""
    if not chunk or len(client.incoming) + len(chunk) > 2 * (oracle_wire.MAX_MESSAGE + 4):
        drop(client)
        return
    client.incoming += chunk


def _send(client: _Client, selector, drop) -> None:
    """Send what the client is owed, as much as its socket takes now; the rest when it is
    writable again (read nothing more from it meanwhile: one request at a time)."""
    try:
        sent = client.channel.send(client.outgoing)
    except BlockingIOError:
        sent = 0
    except OSError:
        drop(client)
        return
    client.outgoing = client.outgoing[sent:]
    selector.modify(
        client.channel, selectors.EVENT_WRITE if client.outgoing else selectors.EVENT_READ
    )


# -- the grader's side --------------------------------------------------------------------------


class OracleServer:
    """The server of one batch: `start` it, `connect` each worker, `close` it at the end."""

    def __init__(self, env: dict[str, str], limits, cache: str | None):
        self.env, self.limits, self.cache = env, limits, cache
        self.process: subprocess.Popen | None = None
        self.control: socket.socket | None = None
        self.uid: int | None = None
        self.scratch = tempfile.mkdtemp(prefix="refnet-oracle-")
        self.started, self.ready = threading.Lock(), False

    def start(self) -> bool:
        """Start the server (its imports go on while the first workers start: `connect`
        waits for them); False (and a grader without it) when it could not start."""
        protections = sandbox.available()
        self.uid = sandbox.new_user() if protections.own_user else None
        if self.uid is not None:
            sandbox.hand_over(Path(self.scratch), self.uid)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        serve_argv = [sys.executable, "-m", "refnet.conformance.running.oracle_server"]
        limits = replace(self.limits, cpu=10.0**7, wall=10.0**7)  # the batch's length
        readable = [Path(self.cache)] if self.cache else []
        argv = sandbox.command(
            [*serve_argv, str(theirs.fileno())],
            limits,
            Path(self.scratch),
            protections,
            self.uid,
            readable,
        )
        env = self.env | {"HOME": self.scratch, "TMPDIR": self.scratch}
        try:
            self.process = subprocess.Popen(
                argv,
                cwd=self.scratch,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=[theirs.fileno()],
                start_new_session=True,
            )
        except OSError:
            ours.close()
            return False
        finally:
            theirs.close()
        self.control = ours
        return True

    def _ready(self) -> bool:
        """Whether the server has finished its imports (waited for once)."""
        with self.started:
            if self.control is not None and not self.ready:
                self.control.settimeout(START_TIMEOUT)
                try:
                    self.ready = self.control.recv(16) == b"ready"
                except OSError:
                    self.ready = False
                self.control.settimeout(None)
                if not self.ready:
                    self.control.close()
                    self.control = None
        return self.control is not None

    def connect(self, cpu_seconds: float) -> int | None:
        """A new connection for one worker: the descriptor of the worker's end (the caller
        passes it on and closes it), or None when the server is gone.  The server spends
        at most ``cpu_seconds`` of CPU on it."""
        control = self.control if self._ready() else None
        if control is None:
            return None
        worker_end, server_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            message = json.dumps({"cpu": cpu_seconds}).encode()
            socket.send_fds(control, [message], [server_end.fileno()])
        except OSError:
            worker_end.close()
            return None
        finally:
            server_end.close()
        return worker_end.detach()

    def close(self) -> None:
        """End the server (closing its control socket ends its loop) and clean up."""
        if self.control is not None:
            self.control.close()
            self.control = None
        if self.process is not None:
            sandbox.wait_or_kill(self.process)
            self.process = None
        if self.uid is not None:
            sandbox.kill_user(self.uid)
        shutil.rmtree(self.scratch, ignore_errors=True)


def wanted() -> bool:
    """Whether a batch with a cache grades with the server (REFNET_ORACLE_SERVER=off: not)."""
    return os.environ.get("REFNET_ORACLE_SERVER") != "off"


if __name__ == "__main__":
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path.cwd()]
    serve(int(sys.argv[1]))
