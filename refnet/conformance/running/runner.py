"""Run the checks against a target, each in isolation, and report.

Each check runs as its own hypothesis test (``@given(st.data())``) with a fixed seed, no
example database and no deadline, once per definition of the name it checks (a name
defined in two files is checked twice, each result under its file).  When a property
fails, hypothesis shrinks the example and replays the smallest one; the exception of that
replay carries the Case that ran it, whose lines are the reproduction in the report.

A check is isolated from the others and from the caller (isolation.py): output captured,
warnings recorded, NumPy's default error state, a time limit.  A target that raises where
a property needs an answer fails that check only; a stub raising NotImplementedError
fails, it never makes the runner give up.

The report (``Report.to_dict()``, written by ``--json``) is a contract, read by graders:
schema.py writes it out, key by key.
"""

from __future__ import annotations

import json
import platform
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import FlakyFailure, Unsatisfiable

from ..api import API, api_name
from ..checks import CHECKS, Check
from ..checks.case import Case, CheckFailed, Journal, MissingMember, Refused, TargetRaised
from ..checks.causes import group
from ..finding.target import Found, Target
from ..reports.schema import STATUSES, report_dict
from .hangs import CHECK_METHODS, blocked_by, key
from .isolation import CappedOutput, CheckTimeout, isolated

#: Characters of captured output kept per check.
OUTPUT_LIMIT = 2000


@dataclass
class Result:
    """The verdict of one check on one definition of a target's name."""

    name: str
    function: str
    found_as: str | None
    statement: str
    status: str  # one of STATUSES
    reason: str = ""  # why it failed, erred, warned or was skipped
    counterexample: str | None = None  # Python code that reproduces the failure or warning
    shrunk: bool = False  # whether the counterexample is hypothesis's smallest
    exception: dict | None = None  # type, message and traceback of what was raised
    output: str = ""  # what the target printed during the check
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)  # the book's pitfalls found
    notes: list[str] = field(default_factory=list)  # which convention matched
    file: str | None = None  # the file of the definition checked
    map_hint: str | None = None  # the --map line that would enable a skipped check
    profiles: list[str] = field(default_factory=list)
    #: whether the check counts in the grade: not when another name covers it (the squared
    #: error is graded once) or when it is optional and the target lacks what it checks
    graded: bool = True
    #: the root failure this one follows from, when one is known (causes.py)
    cause: str | None = None
    timed_out: bool = False  # no answer within the time limit


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
    profile: str = "strict"
    causes: list[dict] = field(default_factory=list)  # causes.py: root failures, grouped

    def counts(self) -> dict[str, int]:
        return {s: sum(r.status == s for r in self.results) for s in STATUSES}

    @property
    def exit_code(self) -> int:
        """1 if any check failed or erred, else 0."""
        counts = self.counts()
        return 1 if counts["fail"] or counts["error"] else 0

    def settings(self) -> dict:
        return {
            "max_examples": self.max_examples,
            "seed": self.seed,
            "timeout": self.timeout,
            "select": self.select,
        }

    def to_dict(self) -> dict:
        return report_dict(
            self.target.to_dict(),
            [asdict(r) for r in self.results],
            profile=self.profile,
            settings=self.settings(),
            versions=self.versions,
            causes=self.causes,
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def render(self) -> str:
        from ..reports.render import render

        return render(self.to_dict())


def default_profile(target: Target) -> str:
    """``strict`` for refnet itself, ``book`` for any other target."""
    modules = {found.module.split(".")[0] for found in target.found.values()}
    return "strict" if target.label == "refnet" or modules == {"refnet"} else "book"


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


def _same_draws_for_every_target() -> None:
    """Keep the submission's source out of hypothesis's draws.

    Hypothesis 6.131 and later mix literals found in the source of "local" modules into
    its draws (a choice in twenty is one of them): the modules of the code under test,
    and refnet's own when it runs from a checkout.  Two students whose files differed in
    an unused constant were then checked on different examples from the same seed (of
    175 oracle calls, 80 were shared), and a grade depended on how refnet was installed.
    There is no setting for it, so the private hook is emptied, where it exists."""
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover (a future layout: nothing to empty)
        return
    if hasattr(providers, "_get_local_constants") and hasattr(providers, "Constants"):
        empty = providers.Constants()
        providers._get_local_constants = lambda: empty


def _exception_info(exc: BaseException) -> dict:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {"type": type(exc).__name__, "message": str(exc), "traceback": "".join(lines[-30:])}


def _message(exc: BaseException) -> str:
    if isinstance(exc, CheckFailed):
        return exc.message
    return str(exc).split("\n\nReproduce", 1)[0] or type(exc).__name__


def _reproduction(latest, exc=None) -> str | None:
    case = getattr(exc, "case", None) or latest.get("case")
    return case.reproduction() if case is not None else None


# -- one check ------------------------------------------------------------------------------


def _cannot_run(check: Check, target: Target, result: Result) -> bool:
    """Fill in ``result`` and return True when the check cannot run on ``target``."""
    for name in check.requires:
        if name in target.found:
            continue
        broken = target.broken.get(name)
        if broken is not None:
            result.status, result.reason = "fail", broken["problem"]
            result.file = result.file or broken["file"]
            return True
        other = api_name(name).alternative
        if other in target.found:
            result.graded = False
            result.reason = (
                f"not graded: the squared error is graded as {other} ({target.found[other].file})"
            )
            return True
        result.reason = f"{name} not found in the target"
        if other is not None and _first_of(other, name) == other:
            result.graded = False  # the assignment asks for the squared error once
            result.reason = f"not graded: {name} not found (the squared error is graded as {other})"
        result.map_hint = target.hints.get(name) or f"--map {name}=MODULE:NAME"
        return True
    if check.precondition is not None:
        verdict = check.precondition(target)
        if verdict:
            result.reason, result.map_hint = verdict
            if check.optional:
                result.graded = False
                result.reason = f"not graded: {result.reason} (optional: {OPTIONAL})"
            return True
    return False


#: Why an optional check is left out of the grade when the target lacks what it checks.
OPTIONAL = "backpropagation is chapter 5's; a points file that gives this check points grades it"


def _covered(check: Check, target: Target) -> str | None:
    """The name that the grade counts instead of ``check``'s (both squared errors found:
    the one listed first, mean_squared_error, is graded)."""
    other = api_name(check.function).alternative
    if other and other in target.found and _first_of(other, check.function) == other:
        return other
    return None


def _mark_covered(result: Result, check: Check, target: Target) -> None:
    other = _covered(check, target)
    if other is not None:
        result.graded = False
        result.notes.append(f"not graded: the squared error is graded as {other}")


def _first_of(*names: str) -> str:
    """The name of ``names`` the API lists first."""
    return next(api.name for api in API if api.name in names)


def _hypothesis_test(check, target, profile, journal, latest, domains):
    def example(data):
        case = Case(target, profile, journal, domains)
        latest["case"] = case
        try:
            check.body(case, data, **check.options)
        except AssertionError as exc:
            latest["failure"] = exc  # the smallest so far, should time run out in shrinking
            raise

    return given(st.data())(example)


def _timed_out(result, latest, timeout) -> None:
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
        result.timed_out = True
        result.reason = (
            f"no answer within {timeout:g} s: the target may loop forever "
            "(the counterexample is the example that was running, not shrunk)"
        )
        result.counterexample = _reproduction(latest)


def _judge(result: Result, journal: Journal) -> None:
    """A check that passed: a warning for each of the book's pitfalls its examples found."""
    result.status = "pass"
    if journal.pitfalls:
        result.status = "warn"
        result.warnings = list(journal.pitfalls)
        details = [detail for detail, _ in journal.pitfalls.values()]
        result.reason = "; ".join(details)
        result.counterexample = min((r for _, r in journal.pitfalls.values()), key=len)


def run_check(
    check: Check,
    target: Target,
    *,
    profile: str = "strict",
    max_examples: int = 25,
    seed: int = 0,
    timeout=120.0,
    definition: Found | None = None,
    domains: dict | None = None,
) -> Result:
    """Run one check against ``target`` (``definition`` of its name, if given); never
    raises (except KeyboardInterrupt).  ``domains`` keeps what each function accepts
    (probing.py) from one check to the next."""
    if definition is not None:
        target = target.for_definition(definition)
    found = target.found.get(check.function)
    result = Result(
        check.name,
        check.function,
        found.attribute if found else None,
        check.statement_for(profile) or check.statement,
        "skip",
        file=found.file if found else None,
        profiles=list(check.profiles),
    )
    if _cannot_run(check, target, result):
        return result
    latest: dict = {}
    journal = Journal()
    test = _hypothesis_test(
        check, target, profile, journal, latest, {} if domains is None else domains
    )
    test = _settings(max_examples)(hypothesis_seed(seed)(test))
    output = CappedOutput(OUTPUT_LIMIT)
    start = time.perf_counter()
    try:
        with isolated(output, timeout):
            test()
    except CheckTimeout:
        _timed_out(result, latest, timeout)
    except MissingMember as exc:
        result.status, result.reason, result.map_hint = "skip", exc.reason, exc.hint
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
        elif isinstance(exc, Refused):
            result.exception = exc.exception_info
    except Unsatisfiable as exc:
        result.status = "error"
        result.reason = (
            "the check found no example it could judge (a bug in refnet.conformance, "
            f"please report it): {exc}"
        )
    except Exception as exc:
        result.status = "error"
        result.reason = (
            f"the check itself failed (a bug in refnet.conformance): {type(exc).__name__}: {exc}"
        )
        result.exception = _exception_info(exc)
        result.counterexample = _reproduction(latest)
    else:
        _judge(result, journal)
    result.notes = list(journal.notes)
    _mark_covered(result, check, target)
    result.seconds = round(time.perf_counter() - start, 3)
    result.output = output.getvalue()
    return result


def not_run(check: Check, target: Target, profile: str, reason: str) -> Result:
    """The result of a check not run because code it needs does not return."""
    found = target.found.get(check.function)
    return Result(
        check.name,
        check.function,
        found.attribute if found else None,
        check.statement_for(profile) or check.statement,
        "fail",
        reason=f"not run: {reason}",
        file=found.file if found else None,
        profiles=list(check.profiles),
        cause=reason,
    )


# -- every check --------------------------------------------------------------------------


def select_checks(checks, profile: str, select=None) -> list[Check]:
    """The checks of ``profile`` whose name starts with one of ``select`` (all if None)."""
    return [
        c
        for c in checks
        if profile in c.profiles and (not select or any(c.name.startswith(s) for s in select))
    ]


def units(target: Target, checks) -> list[tuple[Check, Found | None]]:
    """What runs, in report order: by function, then definition, then check."""
    out: list[tuple[Check, Found | None]] = []
    for api in API:
        mine = [c for c in checks if c.function == api.name]
        definitions: list[Found | None] = list(target.definitions.get(api.name) or ())
        for definition in definitions or [None]:
            out += [(check, definition) for check in mine]
    return out


def run(
    target: Target,
    *,
    profile: str | None = None,
    max_examples: int = 25,
    seed: int = 0,
    timeout=120.0,
    select=None,
    checks=CHECKS,
    progress=None,
    on_result: Callable | None = None,
    start: int = 0,
    hung: dict | None = None,
) -> Report:
    """Run ``checks`` of ``profile`` (those whose name starts with one of ``select``).

    ``profile`` defaults to `default_profile`.  A function that does not return within
    ``timeout`` costs only its own remaining checks and its callers' (hangs.py); ``hung``
    carries such functions over from a run that was stopped.  ``progress(index, total, check)`` is
    called before each check, ``on_result(index, result)`` after it; ``start`` skips the
    first units (a run resumed after its process was killed).

    Examples
    --------
    >>> from refnet.conformance import load_target, run
    >>> report = run(load_target("refnet"), select=["sigmoid"], max_examples=3)
    >>> [(result.name, result.status) for result in report.results]
    [('sigmoid.values', 'pass')]
    >>> report.profile, report.exit_code
    ('strict', 0)
    """
    _same_draws_for_every_target()
    profile = profile or default_profile(target)
    plan = units(target, select_checks(checks, profile, select))
    results = []
    domains: dict = {}
    hung = dict(hung or {})
    options = {"profile": profile, "max_examples": max_examples, "seed": seed, "timeout": timeout}
    for index in range(start, len(plan)):
        check, definition = plan[index]
        if progress is not None:
            progress(index + 1, len(plan), check)
        view = target.for_definition(definition) if definition is not None else target
        blocked = blocked_by(check, view, hung, target.member)
        if blocked is not None:
            result = not_run(check, view, profile, blocked)
        else:
            result = run_check(check, target, definition=definition, domains=domains, **options)
        found = view.found.get(check.function)
        if result.timed_out and found is not None and check.name not in CHECK_METHODS:
            hung[key(found)] = f"{found.attribute} did not return within {timeout:g} s"
        results.append(result)
        if on_result is not None:
            on_result(index, result)
    select = list(select) if select else None
    report = Report(
        target, results, max_examples, seed, timeout or None, versions(), select, profile
    )
    report.causes = group(results, target)
    return report


def versions() -> dict:
    from importlib.metadata import version

    import hypothesis

    from refnet import __version__

    return {
        "refnet": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "hypothesis": hypothesis.__version__,
        "jax": version("jax"),  # without importing JAX: the oracle may not need it
    }
