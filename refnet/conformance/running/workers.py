"""How a submission's worker starts, and the one supervised run of it.

batch.py prepares a submission (its temporary copy, its user, its environment) and calls
`run`; here its worker (worker.py: import the target, run the checks, report each step)
is started in one of two ways, under the same protections:

* **warm** (`warm` is true: the grader is root): forked by the fork server
  (forkserver.py), which has imported the runner, hypothesis and JAX once; the worker joins
  the submission's bubblewrap sandbox, held open by its first process (`hold`), and drops to
  the submission's user;
* **cold** (elsewhere): a new interpreter (``python -m refnet.conformance.running.worker``) in a
  new sandbox, through sandbox.command, as before the fork server.

Either way one supervisor (process.py) owns the run: its one clock (each check's time limit
and the wall time), the output cap, and the CPU time of every worker it started, which
together may not exceed the limit (a worker restarted after a hang gets only what is left).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import oracle_wire
from . import forkserver, sandbox
from .process import Stopped, supervise


def warm(protections: sandbox.Protections) -> bool:
    """Whether workers are forked warm: the grader is root, so a forked worker can join
    each submission's sandbox and drop to its user exactly as a cold one does.  Elsewhere
    (or with REFNET_FORK_SERVER=off) each worker is a new interpreter."""
    return protections.own_user and os.environ.get("REFNET_FORK_SERVER") != "off"


class ColdProcess(subprocess.Popen):
    """A cold worker: its CPU time (and its sandbox's) read when it is reaped, and the
    signal that ended it also when bubblewrap passed it on as 128 + N."""

    cpu_seconds = 0.0

    def _try_wait(self, wait_flags):
        try:
            pid, status, usage = os.wait4(self.pid, wait_flags)
        except ChildProcessError:
            return self.pid, 0
        if pid == self.pid:
            self.cpu_seconds = usage.ru_utime + usage.ru_stime
            if os.WIFEXITED(status) and 128 < os.WEXITSTATUS(status) < 128 + signal.NSIG:
                status = os.WEXITSTATUS(status) - 128  # the raw status of that signal
        return pid, status

    def poll(self):
        try:
            return self.wait(timeout=0)
        except subprocess.TimeoutExpired:
            return None


class Capped:
    """What a run prints: at most ``limit`` bytes kept, every byte counted."""

    def __init__(self, limit: int):
        self.limit, self.kept, self.total = limit, bytearray(), 0

    def __call__(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.kept += chunk[: max(0, self.limit - len(self.kept))]


def hold(scratch: Path, protections, uid, readable) -> tuple[subprocess.Popen, int]:
    """Start a warm run's sandbox (sandbox.holder) and wait until it is built: the
    process, and the process id (outside) of the one that holds the namespaces."""
    info_read, info_write = os.pipe()
    argv = sandbox.holder(scratch, protections, uid, readable)
    argv[1:1] = ["--info-fd", str(info_write)]
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        pass_fds=[info_write],
        start_new_session=True,
    )
    os.close(info_write)
    assert process.stdout is not None
    ready = process.stdout.readline()
    with os.fdopen(info_read, "rb") as info:
        data = b""
        while b"}" not in data and (chunk := info.read1(4096)):
            data += chunk
    if ready.strip() != b"ready" or b"}" not in data:
        release(process)
        raise OSError(f"the sandbox did not start: {data!r}")
    return process, json.loads(data[: data.index(b"}") + 1])["child-pid"]


def release(process: subprocess.Popen) -> None:
    """End a held sandbox: every process in it dies with its first."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()
    if process.stdout is not None:
        process.stdout.close()


def server_environment(env: dict[str, str]) -> dict[str, str]:
    """The fork server's environment: a run's, without what names its folder."""
    home = tempfile.gettempdir()
    return env | {"HOME": home, "TMPDIR": home, "MPLCONFIGDIR": os.path.join(home, "matplotlib")}


def _spawner(protections, uid, folders, readable, env, limits, holder, oracle):
    """``spawn(config)`` for the supervisor: the next worker, warm or cold, with the CPU
    time the earlier ones left, and a connection of its own to the oracle server."""
    scratch, work = folders
    made: list = []

    def spawn(config: dict):
        remaining = limits.cpu - sum(process.cpu_seconds for process in made)
        if remaining < 1:
            raise Stopped("cpu")
        values = replace(limits, cpu=remaining)
        oracle_fd = oracle.connect(remaining) if oracle is not None else None
        try:
            made.append(_start(config, values, oracle_fd))
        finally:
            if oracle_fd is not None:
                os.close(oracle_fd)  # the worker has its own copy
        return made[-1]

    def _start(config: dict, values, oracle_fd: int | None):
        if holder is not None or warm(protections):
            given = env if oracle_fd is None else env | {oracle_wire.ENVIRONMENT: "3"}
            request = {"config": config, "uid": uid, "cwd": str(work), "env": given}
            request |= {"rlimits": sandbox.rlimits(values, uid)}
            request["namespaces"] = holder[1] if holder is not None else None
            server = forkserver.server_for(server_environment(env))
            return server.spawn(request, oracle_fd)
        worker = [sys.executable, "-m", "refnet.conformance.running.worker"]
        argv = sandbox.command(worker, values, scratch, protections, uid, readable)
        pipe = subprocess.PIPE
        given = env if oracle_fd is None else env | {oracle_wire.ENVIRONMENT: str(oracle_fd)}
        return ColdProcess(
            argv,
            cwd=work,
            env=given,
            stdin=pipe,
            stdout=pipe,
            stderr=pipe,
            start_new_session=True,
            pass_fds=() if oracle_fd is None else (oracle_fd,),
        )

    return spawn


def run(
    config: dict, protections, uid, folders, readable, env, limits, stopping, oracle=None
) -> tuple:
    """Check one submission: its worker started warm or cold (see the module's docstring)
    and supervised; ``stopping()`` is true when the grader is interrupted; ``oracle``, the
    batch's oracle server (oracle_server.py), or None.  Returns what
    batch.classify reads (exit code, why it was stopped, output, CPU and wall time) and
    the report, or None."""
    from ..reports.render import render

    start = time.monotonic()
    output = Capped(limits.output)
    holder = None
    try:
        if warm(protections):
            forkserver.server_for(server_environment(env)).start()
            start = time.monotonic()  # the server's imports are not the submission's time
            if protections.bubblewrap:
                holder = hold(folders[0], protections, uid, readable)
        spawn = _spawner(protections, uid, folders, readable, env, limits, holder, oracle)

        def halt() -> str | None:
            if output.total > limits.output:
                return "output"
            return "interrupted" if stopping() else None

        outcome, supervisor = supervise(config, spawn, output, start + limits.wall, halt)
    except (OSError, forkserver.ServerGone) as exc:  # this machine's fault, not the student's
        message = f"refnet conformance: the grader could not start the worker: {exc}\n"
        failed: dict[str, Any] = {"exit_code": 2, "stopped": None, "output": message}
        failed |= {"output_bytes": 0, "seconds": time.monotonic() - start, "cpu_seconds": 0.0}
        return failed, None
    finally:
        if holder is not None:
            release(holder[0])
    printed = output.kept.decode("utf-8", errors="replace")
    report = None
    code: int | None
    if outcome.report is not None:
        report = outcome.report | {"complete": True}
        printed += render(outcome.report)
        code = outcome.exit_code
    elif supervisor.stopped is not None:
        code = supervisor.exit_code
    else:
        printed += f"refnet conformance: {outcome.error}\n"
        code = 2
    watched = {
        "exit_code": code,
        "stopped": supervisor.stopped if supervisor.stopped in ("wall", "output") else None,
        "output": printed,
        "output_bytes": output.total,
        "seconds": time.monotonic() - start,
        "cpu_seconds": supervisor.cpu_seconds,
    }
    return watched, report
