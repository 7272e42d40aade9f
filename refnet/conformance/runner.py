"""Run the checks against a target, each in isolation, and report.

Each check runs as its own hypothesis test (``@given(st.data())``) with a fixed seed, no
example database and no deadline.  When a property fails, hypothesis shrinks the example
and replays the smallest one; the exception of that replay carries the Case that ran it,
whose lines are the reproduction printed in the report.

A check is isolated from the others and from the caller: what the target prints is
captured, warnings are recorded rather than raised (whatever the caller's filters),
NumPy's floating-point error state is the default one, and an optional per-check timeout
(SIGALRM, so only on Unix and in the main thread) stops a target that loops forever.
A target that raises where a property needs an answer fails that check only.
"""

from __future__ import annotations

import contextlib
import io
import json
import platform
import signal
import sys
import textwrap
import threading
import time
import traceback
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import FlakyFailure

from .case import Case, CheckFailed, TargetRaised
from .checks import CHECKS, Check
from .target import API, Target

__all__ = ["CheckTimeout", "Report", "Result", "run", "run_check"]

STATUSES = ("pass", "fail", "skip", "error")
#: Characters of captured output kept per check.
OUTPUT_LIMIT = 2000


class CheckTimeout(BaseException):
    """Raised in the target's code when a check runs out of time.

    A BaseException, so that neither the target's ``except Exception`` nor hypothesis
    (which would try to shrink it) catches it.
    """


@dataclass
class Result:
    """The verdict of one check on one target."""

    name: str
    function: str
    found_as: str | None
    statement: str
    status: str  # one of STATUSES
    reason: str = ""  # why it failed, erred or was skipped
    counterexample: str | None = None  # Python code that reproduces the failure
    shrunk: bool = False  # whether the counterexample is hypothesis's smallest
    exception: dict | None = None  # type, message and traceback of what was raised
    output: str = ""  # what the target printed during the check
    seconds: float = 0.0


@dataclass
class Report:
    """All results for one target, with the settings that produced them."""

    target: Target
    results: list[Result]
    max_examples: int
    seed: int
    timeout: float | None
    versions: dict = field(default_factory=dict)
    select: list[str] | None = None

    def counts(self) -> dict[str, int]:
        return {s: sum(r.status == s for r in self.results) for s in STATUSES}

    @property
    def exit_code(self) -> int:
        """1 if any check failed or erred, else 0."""
        counts = self.counts()
        return 1 if counts["fail"] or counts["error"] else 0

    def to_dict(self) -> dict:
        return {
            "tool": "refnet.conformance",
            "versions": self.versions,
            "target": {
                "label": self.target.label,
                "found": {
                    name: {"module": f.module, "attribute": f.attribute}
                    for name, f in self.target.found.items()
                },
                "missing": list(self.target.missing),
                "notes": list(self.target.notes),
            },
            "conventions": conventions(self.target),
            "settings": {
                "max_examples": self.max_examples,
                "seed": self.seed,
                "timeout": self.timeout,
                "select": self.select,
            },
            "checks": [asdict(r) for r in self.results],
            "summary": self.counts(),
            "exit_code": self.exit_code,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def render(self) -> str:
        return render(self)


def conventions(target: Target) -> dict[str, str]:
    """How each squared-error name found is checked: decided by its name."""
    out = {}
    if "mean_squared_error" in target.found:
        out["mean_squared_error"] = "mean over the samples of a batch (by its name)"
    if "sum_squared_error" in target.found:
        out["sum_squared_error"] = "sum over the samples of a batch (by its name)"
    return out


# -- isolation ------------------------------------------------------------------------------


@contextlib.contextmanager
def _deadline(seconds):
    """Raise CheckTimeout in the main thread after ``seconds`` (then every second after, in
    case the target swallows it with a bare ``except:``)."""
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
def _isolated(output: io.StringIO, timeout):
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stdout(output))
        stack.enter_context(contextlib.redirect_stderr(output))
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")  # checks that judge warnings record their own
        stack.enter_context(np.errstate(divide="warn", over="warn", under="ignore", invalid="warn"))
        stack.enter_context(_deadline(timeout))
        yield


def _settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,  # JAX compiles on first use of a shape
        database=None,
        derandomize=False,  # the seed decides
        print_blob=False,
        report_multiple_bugs=False,  # one smallest counterexample per check
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        verbosity=Verbosity.quiet,
    )


def _exception_info(exc: BaseException) -> dict:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(lines[-30:]),
    }


# -- running ----------------------------------------------------------------------------------


def run_check(
    check: Check, target: Target, *, max_examples: int = 25, seed: int = 0, timeout=120.0
) -> Result:
    """Run one check against ``target``; never raises (except KeyboardInterrupt)."""
    found = target.found.get(check.function)
    result = Result(
        check.name, check.function, found.attribute if found else None, check.statement, "skip"
    )
    missing = [name for name in check.requires if name not in target.found]
    if missing:
        result.reason = f"{' and '.join(missing)} not found in the target"
        return result
    if check.precondition is not None:
        reason = check.precondition(target)
        if reason:
            result.reason = reason
            return result

    latest: dict = {}

    def example(data):
        case = Case(target)
        latest["case"] = case
        try:
            check.body(case, data, **check.options)
        except AssertionError as exc:
            latest["failure"] = exc  # the smallest so far, should time run out in shrinking
            raise

    test = _settings(max_examples)(hypothesis_seed(seed)(given(st.data())(example)))
    output = io.StringIO()
    start = time.perf_counter()
    try:
        with _isolated(output, timeout):
            test()
    except CheckTimeout:
        result.status = "fail"
        failure = latest.get("failure")
        if failure is not None:
            result.reason = (
                f"{_message(failure)} (the time limit of {timeout:g} s stopped hypothesis "
                "while it was shrinking: the counterexample may not be the smallest)"
            )
            result.counterexample = _reproduction({}, failure)
            if isinstance(failure, TargetRaised):
                result.exception = _exception_info(failure.exception)
        else:
            result.reason = (
                f"no answer within {timeout:g} s: the target may loop forever "
                "(the counterexample is the example that was running, not shrunk)"
            )
            result.counterexample = _reproduction(latest)
    except FlakyFailure as exc:
        inner = exc.exceptions[0] if exc.exceptions else exc
        result.status = "fail"
        result.reason = (
            f"{_message(inner)} (flaky: the failure did not happen again when the same "
            "example was rerun; does the target keep state between calls?)"
        )
        result.counterexample = _reproduction(latest, inner)
        result.exception = _exception_info(inner)
    except AssertionError as exc:
        result.status = "fail"
        result.reason = _message(exc)
        result.counterexample = _reproduction(latest, exc)
        result.shrunk = True
        if isinstance(exc, TargetRaised):
            result.exception = _exception_info(exc.exception)
    except Exception as exc:
        result.status = "error"
        result.reason = (
            f"the check itself failed (a bug in refnet.conformance): {type(exc).__name__}: {exc}"
        )
        result.exception = _exception_info(exc)
        result.counterexample = _reproduction(latest)
    else:
        result.status = "pass"
    result.seconds = round(time.perf_counter() - start, 3)
    result.output = output.getvalue()[:OUTPUT_LIMIT]
    return result


def _message(exc: BaseException) -> str:
    if isinstance(exc, CheckFailed):
        return exc.message
    return str(exc).split("\n\nReproduce", 1)[0] or type(exc).__name__


def _reproduction(latest, exc=None) -> str | None:
    case = getattr(exc, "case", None) or latest.get("case")
    return case.reproduction() if case is not None else None


def run(
    target: Target,
    *,
    max_examples: int = 25,
    seed: int = 0,
    timeout=120.0,
    select=None,
    checks=CHECKS,
    progress=None,
) -> Report:
    """Run ``checks`` (those whose name starts with one of ``select``, if given).

    Examples
    --------
    >>> from refnet.conformance import load_target, run
    >>> report = run(load_target("refnet"), select=["sigmoid"], max_examples=3)
    >>> [(result.name, result.status) for result in report.results]
    [('sigmoid.values', 'pass')]
    >>> report.exit_code
    0
    """
    chosen = [c for c in checks if not select or any(c.name.startswith(s) for s in select)]
    results = []
    for index, check in enumerate(chosen, 1):
        if progress is not None:
            progress(index, len(chosen), check)
        results.append(
            run_check(check, target, max_examples=max_examples, seed=seed, timeout=timeout)
        )
    select = list(select) if select else None
    return Report(target, results, max_examples, seed, timeout or None, _versions(), select)


def _versions() -> dict:
    import hypothesis
    import jax

    from refnet import __version__

    return {
        "refnet": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "hypothesis": hypothesis.__version__,
        "jax": jax.__version__,
    }


# -- the text report --------------------------------------------------------------------------


def _function_label(report: Report, name: str) -> str:
    found = report.target.found.get(name)
    if found is None or found.attribute == name:
        return name
    return f"{name} ({found.attribute})"


def render(report: Report) -> str:
    """The report as text: settings, a table of checks by function, then each failure."""
    target = report.target
    out = [f"refnet conformance report for {target.label}"]
    out.append(f"hypothesis: up to {report.max_examples} examples per check, seed {report.seed}")
    if report.select:
        out.append(f"only the checks whose name starts with: {', '.join(report.select)}")
    out.append("")
    found = [_function_label(report, api.name) for api in API if api.name in target.found]
    out += textwrap.wrap(
        "found: " + (", ".join(found) or "none of the chapter's names"),
        width=88,
        subsequent_indent="       ",
    )
    if target.missing:
        out += textwrap.wrap(
            "not found (their checks are skipped): " + ", ".join(target.missing),
            width=88,
            subsequent_indent="       ",
        )
    for name, rule in conventions(target).items():
        out.append(f"{name} is checked as the {rule}")
    out += [f"note: {note}" for note in target.notes]
    out.append("")

    rows = []
    for api in API:
        results = [r for r in report.results if r.function == api.name]
        if not results:
            continue
        label = _function_label(report, api.name)
        if api.name not in target.found:
            rows.append((label, f"({len(results)} checks)", "skip: not found"))
            continue
        for i, r in enumerate(results):
            verdict = {"pass": "pass", "fail": "FAIL", "error": "ERROR"}.get(r.status)
            verdict = verdict or f"skip: {r.reason}"
            rows.append((label if i == 0 else "", r.name, verdict))
    width = [max(len(row[i]) for row in rows + [("function", "check", "")]) for i in (0, 1)]
    out.append(f"{'function':<{width[0]}}  {'check':<{width[1]}}  result")
    out.append(f"{'-' * width[0]}  {'-' * width[1]}  {'-' * 6}")
    out += [f"{a:<{width[0]}}  {b:<{width[1]}}  {c}" for a, b, c in rows]

    bad = [r for r in report.results if r.status in ("fail", "error")]
    if bad:
        out += ["", "Failures", "========"]
    for r in bad:
        out += ["", f"{r.name}: {r.status.upper()}", f"  property: {r.statement}"]
        out += textwrap.wrap(
            r.reason, width=88, initial_indent="  problem:  ", subsequent_indent="            "
        )
        if r.output.strip():
            printed = r.output.strip().splitlines()
            more = f" (and {len(printed) - 3} more lines)" if len(printed) > 3 else ""
            out.append(f"  the target printed: {' | '.join(printed[:3])}{more}"[:200])
        if r.counterexample:
            kind = "smallest counterexample" if r.shrunk else "the example"
            out += ["", f"  {kind}, to paste into Python:", ""]
            out += r.counterexample.rstrip("\n").splitlines()
    counts = report.counts()
    out += [
        "",
        ", ".join(f"{counts[s]} {s}" for s in STATUSES) + f" (exit code {report.exit_code})",
    ]
    return "\n".join(out) + "\n"


def terminal_progress(index: int, total: int, check: Check | None) -> None:
    """Progress on stderr, one line rewritten in place; ``check=None`` clears it."""
    text = "" if check is None else f"[{index}/{total}] {check.name}"
    sys.stderr.write(f"\r\033[K{text}")
    sys.stderr.flush()
