"""The command's parent process: run the worker in a child, and keep it to its time limits.

The child (worker.py) imports the target and runs the checks, each under an alarm.  Most
runaway code stops at the alarm; what does not (a loop in C, a swallowed alarm) is
stopped here: past the limit plus a grace period the child is killed and a new one
resumes, without the file whose import hung, or after the check that hung, which fails.
A child that dies (a crash in the target's C code, ``os._exit``) is handled the same way.
So one report always comes back, with every check in it.

A grader (batch.py, workers.py) uses the same supervisor for each submission, with the
submission's wall time, output cap and CPU time on the same clock (`supervise`).

This module imports neither JAX nor hypothesis: the parent only reads events and puts
the report together (schema.py).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque

from ..finding.target import script_problem
from ..reports.schema import report_dict
from .hangs import CHECK_METHODS

#: Seconds the parent waits past a time limit for the child's own alarm to act: the limit
#: itself, between 2 and 10 s.
GRACE = (2.0, 10.0)
#: Characters of the child's stderr kept for a diagnosis.
STDERR_KEPT = 4000


class Outcome:
    """What the child reported: a report, or why there is none (exit code 2)."""

    def __init__(self, report: dict | None = None, error: str | None = None):
        self.report = report
        self.error = error

    @property
    def exit_code(self) -> int:
        return 2 if self.report is None else self.report["exit_code"]


class _Child:
    """One worker process and a thread reading its events."""

    def __init__(self, config: dict, spawn=None, output=None):
        """``spawn(config)`` starts the worker (default: a new interpreter, given ``config``
        on its stdin); ``output(bytes)`` takes what the target prints (default: this
        process's stderr, its last lines kept for a diagnosis)."""
        if spawn is None:
            env = dict(os.environ, MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
            self.process = subprocess.Popen(
                [sys.executable, "-m", "refnet.conformance.running.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,  # its own process group: killed with what it started
            )
        else:
            self.process = spawn(config)
        self.output = output
        self.events: queue.Queue = queue.Queue()
        self.finished = False  # the child sent its report
        self.stderr: deque = deque(maxlen=64)
        self.threads = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._drain, daemon=True),
        ]
        for thread in self.threads:
            thread.start()
        if self.process.stdin is not None:
            self.process.stdin.write(json.dumps(config).encode())
            self.process.stdin.close()

    def _read(self):
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                continue
        self.events.put(None)  # end of stream: the child exited
        self.process.stdout.close()  # here: a holder of the pipe may outlive close()

    def _drain(self):
        # What the target prints reaches the user as if they had run it (streamed, so a
        # megabyte printer costs no memory here); the last lines are kept for a diagnosis.
        # A grader passes its own ``output``, which caps it (batch.py).
        assert self.process.stderr is not None
        if self.output is not None:
            while chunk := self.process.stderr.read1(65536):  # type: ignore[attr-defined]
                self.stderr.append(chunk.decode("utf-8", "replace"))
                self.output(chunk)
            self.process.stderr.close()
            return
        for line in self.process.stderr:
            text = line.decode("utf-8", "replace")
            self.stderr.append(text)
            try:
                sys.stderr.write(text)
            except (OSError, ValueError):  # stderr closed: keep draining the pipe
                pass
        self.process.stderr.close()

    def last_words(self) -> str:
        return "".join(self.stderr)[-STDERR_KEPT:].strip()

    def kill(self):
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()

    def close(self):
        """Stop the child if it still runs, and close its pipes.  A child that has sent its
        report is given a few seconds to exit on its own (the oracle writes its table at
        exit, oracle.py)."""
        if self.finished:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self.process.poll() is None:
            self.kill()
        for thread in self.threads:
            thread.join(timeout=2)
        # A process the target started in a session of its own may hold the pipes open:
        # its reader thread then still waits in read(), and closing the stream under it
        # would wait too (the stream's lock).  Such a pipe is left to the daemon thread;
        # the grader's sandbox or user kills its holder (sandbox.py).
        assert self.process.stdout and self.process.stderr
        for thread, stream in zip(
            self.threads, (self.process.stdout, self.process.stderr), strict=True
        ):
            if not thread.is_alive():
                stream.close()


def _stopped(unit, reason: str, seconds: float, target: dict) -> dict:
    """The result of a check whose process had to be stopped or died."""
    name, file = unit
    function = name.split(".")[0]
    found = (target.get("found") or {}).get(function) or {}
    return {
        "name": name,
        "function": function,
        "found_as": found.get("attribute"),
        "statement": "",
        "status": "fail",
        "reason": reason,
        "counterexample": None,
        "shrunk": False,
        "exception": None,
        "output": "",
        "seconds": round(seconds, 3),
        "warnings": [],
        "notes": [],
        "file": file,
        "map_hint": None,
        "profiles": [],
    }


class Stopped(Exception):
    """Raised by a ``spawn`` that must not start another worker (its CPU time is spent):
    the run ends with this reason (``"cpu"``)."""


class _Supervisor:
    """The one owner of a run's clock: each check's time limit, the run's deadline (wall
    time, for a grader), and whatever else may stop it (``halt``)."""

    def __init__(
        self,
        config: dict,
        progress,
        on_result=None,
        *,
        spawn=None,
        output=None,
        deadline: float | None = None,
        halt=None,
    ):
        self.config = dict(config)
        self.progress = progress
        self.on_result = on_result
        self.spawn, self.output, self.deadline, self.halt = spawn, output, deadline, halt
        self.timeout = config.get("timeout") or 0
        self.results: dict[int, dict] = {}
        self.loaded: dict = {}  # the child's "loaded" event, which precedes every check
        self.restarts = 0
        self.stopped: str | None = None  # "wall", a reason of halt's or of spawn's
        self.cpu_seconds = 0.0  # of every worker that ended (a spawn that reports it)
        self.exit_code: int | None = None  # the last worker's

    def limit(self) -> float | None:
        low, high = GRACE
        return self.timeout + min(max(self.timeout, low), high) if self.timeout else None

    def run(self) -> Outcome:
        while True:
            outcome = self._one_child()
            if outcome is not None:
                return outcome
            self.restarts += 1
            if self.restarts > 50:
                return Outcome(error="the target's process had to be restarted 50 times")

    def _wait(self, phase: str, since: float) -> tuple[float | None, float | None]:
        """How long to wait for the next event, and when the running step is out of time
        (None: no limit)."""
        limit = self.limit() if phase in ("importing", "checking") else None
        ends = [] if limit is None else [since + limit]
        if self.deadline is not None:
            ends.append(self.deadline)
        waits = [end - time.monotonic() for end in ends] + ([0.1] if self.halt else [])
        return (max(0.0, min(waits)) if waits else None), (since + limit if limit else None)

    def _one_child(self) -> Outcome | None:
        try:
            child = _Child(self.config, self.spawn, self.output)
        except Stopped as exc:
            self.stopped = str(exc)
            return Outcome(error=f"stopped: {exc}")
        phase, current, since = "starting", None, time.monotonic()
        try:
            while True:
                wait, step_ends = self._wait(phase, since)
                try:
                    event = child.events.get(timeout=wait)
                except queue.Empty:
                    now = time.monotonic()
                    stop = self.halt() if self.halt else None
                    if self.deadline is not None and now >= self.deadline:
                        stop = "wall"
                    if stop is not None:
                        self.stopped = stop
                        child.kill()
                        return Outcome(error=f"stopped: {stop}")
                    if step_ends is not None and now >= step_ends:
                        child.kill()
                        self._hung(phase, current, now - since)
                        return None
                    continue
                if event is None:
                    child.process.wait()
                    return self._died(child, phase, current, time.monotonic() - since)
                kind = event["event"]
                if kind == "importing":
                    phase, current, since = "importing", event["file"], time.monotonic()
                elif kind == "loaded":
                    self.loaded = event
                    phase, current = "loaded", None
                elif kind == "start":
                    phase, current, since = "checking", event["index"], time.monotonic()
                    if self.progress is not None:
                        units = self.loaded["units"]
                        self.progress(current + 1, len(units), units[current][0])
                elif kind == "result":
                    self.results[event["index"]] = event["result"]
                    phase, current = "loaded", None
                    if self.on_result is not None:
                        self.on_result(self.partial())
                elif kind == "done":
                    child.finished = True
                    return Outcome(self._report(event["report"]))
                elif kind == "error":
                    return Outcome(error=event["message"])
        finally:
            child.close()
            self.cpu_seconds += getattr(child.process, "cpu_seconds", 0.0)
            self.exit_code = child.process.returncode

    def partial(self) -> dict:
        """The report of the checks finished so far (``"complete": false``)."""
        results = [self.results[i] for i in sorted(self.results)]
        settings = {k: self.config.get(k) for k in ("max_examples", "seed", "timeout", "select")}
        report = report_dict(
            self.loaded["target"],
            results,
            profile=self.loaded["profile"],
            settings=settings,
            versions={},
        )
        return report | {"complete": False}

    def _hung(self, phase, current, seconds) -> None:
        if phase == "importing":
            excluded = dict(self.config.get("excluded") or {})
            excluded[current] = script_problem(current, self.timeout)
            self.config["excluded"] = excluded
            return None
        reason = (
            f"no answer within {self.timeout:g} s, and the check could not be interrupted: "
            "the process running it was stopped (the target may loop forever in C code, "
            "or swallow the alarm)"
        )
        self.results[current] = _stopped(
            self.loaded["units"][current], reason, seconds, self.loaded["target"]
        )
        self.results[current]["timed_out"] = True
        # The next child does not wait on this function again (hangs.py).
        name, file = self.loaded["units"][current]
        function = name.split(".")[0]
        found = (self.loaded["target"].get("found") or {}).get(function) or {}
        spelling = found.get("attribute") or function
        if name not in CHECK_METHODS:  # a class's checks each use their own methods
            hung = list(self.config.get("hung") or [])
            hung.append([function, file, f"{spelling} did not return within {self.timeout:g} s"])
            self.config["hung"] = hung
        self.config["start"] = current + 1
        return None

    def _died(self, child, phase, current, seconds) -> Outcome | None:
        code = child.process.returncode
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        words = child.last_words()
        if phase == "importing":
            excluded = dict(self.config.get("excluded") or {})
            excluded[current] = f"importing {current} ended the process ({how}): {words[-300:]}"
            self.config["excluded"] = excluded
            return None
        if phase == "checking":
            reason = f"the process running this check ended ({how}) without an answer"
            if words:
                reason += f"; its last output: {words[-300:]}"
            self.results[current] = _stopped(
                self.loaded["units"][current], reason, seconds, self.loaded["target"]
            )
            self.config["start"] = current + 1
            return None
        return Outcome(error=f"the conformance process ended ({how}) before reporting:\n{words}")

    def _report(self, report: dict) -> dict:
        if not self.restarts:
            return report
        start = self.config.get("start", 0)
        for offset, result in enumerate(report["checks"]):
            self.results[start + offset] = result
        results = [self.results[i] for i in sorted(self.results)]
        return report_dict(
            report["target"],
            results,
            profile=report["profile"],
            settings=report["settings"],
            versions=report["versions"],
        )


def run_in_child(config: dict, progress=None, on_result=None) -> Outcome:
    """Run the worker on ``config`` (worker.py's settings) and return what it reported.

    ``progress(index, total, check_name)`` is called as each check starts;
    ``on_result(report)`` as each ends, with the report of the checks finished so far.
    """
    return _Supervisor(config, progress, on_result).run()


def supervise(config: dict, spawn, output, deadline: float, halt) -> tuple[Outcome, _Supervisor]:
    """A grader's run (batch.py): workers from ``spawn(config)`` (a warm fork server's),
    what they print to ``output(bytes)``, stopped at the monotonic ``deadline`` or when
    ``halt()`` names a reason.  The supervisor says how it ended (``stopped``,
    ``exit_code``, ``cpu_seconds``)."""
    supervisor = _Supervisor(
        config, None, None, spawn=spawn, output=output, deadline=deadline, halt=halt
    )
    return supervisor.run(), supervisor
