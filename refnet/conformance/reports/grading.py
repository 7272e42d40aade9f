"""The grading rules: points per check, what counts in the maximum, and each verdict.

`grade` turns one run (`refnet.conformance.running.batch.run_submission`) into points per check.
A check earns its points when its status is ``pass`` or ``warn`` (the property holds; a
pitfall was found), and nothing when it is ``fail``, ``error`` (the runner could not
judge), ``skip`` (a name or method is missing) or when the run ended without a report.
A check that is *not graded* (another name covers it, an optional check whose method is
absent, or 0 points in the points file) is listed with its reason and is in no maximum.
`verdict_text` is what a student reads about one check, in every file the reports package writes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..finding.mapping import toml_reader

#: The statuses that earn a check's points.
EARNS = ("pass", "warn")
#: The status of a check that is not part of the grade (it is in no maximum).
NOT_GRADED = "not graded"
#: From worst to best: a check reported more than once (one name defined in several files)
#: counts as its worst result.
ORDER = ("error", "fail", "skip", "warn", "pass")
#: Keys of a run record that are timings: they differ between two runs of the same batch.
TIMINGS = ("seconds", "cpu_seconds", "execution_time")
RUN_KEYS = ("exit_code", "output", "output_bytes", "seconds", "cpu_seconds", "protections")


@dataclass(frozen=True)
class Points:
    """Points per check: the longest matching rule, else ``default``.

    A rule's key is a check's full name (``numerical_gradient.closure``) or a prefix ending at
    a dot (``numerical_gradient`` covers every ``numerical_gradient.*`` check).

    >>> points = Points(default=1, rules={"numerical_gradient": 2, "numerical_gradient.closure": 5})
    >>> points.of("softmax.batch"), points.of("numerical_gradient.vector"), points.of(
    ...     "numerical_gradient.closure")
    (1, 2, 5)
    """

    default: float = 1
    rules: dict = field(default_factory=dict)
    #: Gradescope: when students see each check (prefix -> one of VISIBILITIES; the
    #: longest match wins, none means Gradescope's default, visible), and the
    #: ``visibility`` and ``stdout_visibility`` of the whole result.
    visibility: dict = field(default_factory=dict)
    gradescope: dict = field(default_factory=dict)

    def of(self, name: str) -> float:
        matching = [key for key in self.rules if _covers(key, name)]
        return self.rules[max(matching, key=len)] if matching else self.default

    def visibility_of(self, name: str) -> str | None:
        matching = [key for key in self.visibility if _covers(key, name)]
        return self.visibility[max(matching, key=len)] if matching else None


def _covers(key: str, name: str) -> bool:
    return name == key or name.startswith(key + ".")


def load_points(path, check_names) -> Points:
    """Read a points file (TOML or JSON: ``default = N`` and a ``[checks]`` table)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"--points {path}: {exc.strerror}") from None
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            # tomllib, or tomli on Python 3.10 (a bare `import tomllib` failed there).
            data = toml_reader("--points").loads(text)
    except ValueError as exc:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        kind = "JSON" if path.suffix == ".json" else "TOML"
        raise ValueError(f"--points {path}: not valid {kind}: {exc}") from None
    if not isinstance(data, dict) or set(data) - {"default", "checks", "visibility", "gradescope"}:
        raise ValueError(
            f"--points {path}: expected only `default` and the tables `checks`, `visibility` "
            "and `gradescope`"
        )
    default = _number(data.get("default", 1), path, "default")
    rules = _table(data, "checks", path)
    for key, value in rules.items():
        _number(value, path, key)
        _names_a_check(key, check_names, path)
    visibility = _table(data, "visibility", path)
    for key, value in visibility.items():
        _visibility(value, path, f"[visibility] {key}")
        _names_a_check(key, check_names, path)
    gradescope = _table(data, "gradescope", path)
    for key, value in gradescope.items():
        if key not in ("visibility", "stdout_visibility"):
            raise ValueError(
                f"--points {path}: [gradescope] has only `visibility` and `stdout_visibility`, "
                f"not {key!r}"
            )
        _visibility(value, path, f"[gradescope] {key}")
    return Points(default, dict(rules), dict(visibility), dict(gradescope))


#: Gradescope's visibility settings, from most hidden to shown at once.
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")


def _table(data: dict, name: str, path) -> dict:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise ValueError(f"--points {path}: `{name}` must be a table")
    return table


def _names_a_check(key: str, check_names, path) -> None:
    if not any(_covers(key, name) for name in check_names):
        raise ValueError(
            f"--points {path}: {key!r} names no check (see `refnet conformance --list`)"
        )


def _visibility(value, path, key: str) -> None:
    if value not in VISIBILITIES:
        raise ValueError(
            f"--points {path}: {key} = {value!r} is not one of {', '.join(VISIBILITIES)}"
        )


def _number(value, path, key) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"--points {path}: {key} = {value!r} is not a number of points")
    if value < 0:
        raise ValueError(f"--points {path}: {key} = {value!r} is negative")
    return value


def expected_checks(select=(), profile=None) -> list[dict]:
    """The checks every submission is graded on: the runner's, as ``-k`` and the profile
    select them (a check without a ``profiles`` tag belongs to every profile)."""
    from ..checks import CHECKS

    chosen = []
    for check in CHECKS:
        if select and not any(check.name.startswith(prefix) for prefix in select):
            continue
        profiles = getattr(check, "profiles", None)
        if profile and profiles and profile not in profiles:
            continue
        chosen.append({"name": check.name, "function": check.function})
    return chosen


# -- grading ------------------------------------------------------------------------------------


def grade(run: dict, checks: list[dict], points: Points) -> dict:
    """One student's grade: every expected check with its status and points.

    The maximum counts only what is graded: a check the report marks ``graded: false``
    (another name covers it, or it is optional and the submission lacks what it checks)
    is listed with its reason and worth nothing either way, unless the points file names
    it explicitly; so is a check the points file gives 0 points.
    """
    report = run.get("report")
    results: dict[str, list[dict]] = {}
    for result in (report or {}).get("checks", []):
        results.setdefault(result["name"], []).append(result)
    graded = [_row(check, results.get(check["name"]), run, points) for check in checks]
    return {
        "student": run["student"],
        "submission": run["submission"],
        "outcome": run["outcome"],
        "reason": run["reason"],
        "score": tidy(sum(row["points"] for row in graded)),
        "max_score": tidy(sum(row["max_points"] for row in graded)),
        "checks": graded,
        "run": {key: run[key] for key in RUN_KEYS if key in run},
        "report": report,
        "gradescope": dict(points.gradescope),
    }


def _row(check: dict, found: list[dict] | None, run: dict, points: Points) -> dict:
    worth = points.of(check["name"])
    counted = [r for r in found or () if r.get("graded", True)]
    if found and not counted and check["name"] not in points.rules:
        row: dict[str, Any] = {
            "status": NOT_GRADED,
            "reason": found[0].get("reason") or "not graded",
            "counterexample": None,
            "warnings": [],
        }
        worth = 0
    elif not found:
        row = {
            "status": "not run",
            "reason": run["reason"] or "the runner did not report this check",
            "counterexample": None,
            "warnings": [],
        }
    else:
        counted = counted or list(found)
        worst = min(counted, key=lambda r: ORDER.index(r.get("status", "error")))
        row = {
            "status": worst.get("status", "error"),
            "reason": worst.get("reason", ""),
            "counterexample": worst.get("counterexample"),
            "warnings": [w for r in counted for w in r.get("warnings") or []],
        }
        if len(counted) > 1:
            files = ", ".join(str(r.get("file") or "?") for r in counted)
            row["reason"] = f"{row['reason']} (worst of {len(counted)} definitions: {files})"
    row["points"] = worth if row["status"] in EARNS else 0
    row["visibility"] = points.visibility_of(check["name"])
    return {"name": check["name"], "function": check["function"], **row} | {"max_points": worth}


def tidy(number):
    """Points as written in a file: an int when whole, else rounded to 6 decimals."""
    return int(number) if float(number).is_integer() else round(number, 6)


def verdict_text(row: dict) -> str:
    """What a student reads about one check."""
    status = row["status"]
    lines = {
        "pass": ["passed"],
        "warn": ["passed, with a warning"],
        "fail": [f"FAILED: {row['reason']}"],
        "error": [f"the grader could not judge this check: {row['reason']}"],
        "skip": [f"skipped: {row['reason']}"],
        NOT_GRADED: [f"not graded: {row['reason'].removeprefix('not graded: ')}"],
    }.get(status, [f"not run: {row['reason'].removeprefix('not run: ')}"])
    lines += [f"warning: {warning}" for warning in row["warnings"]]
    if row.get("counterexample") and status in ("fail", "error"):
        lines += ["", "smallest counterexample, to paste into Python:", "", row["counterexample"]]
    return "\n".join(lines).rstrip() + "\n"


def causes_text(entry: dict) -> list[str]:
    """One line per root failure of the student's report (causes.py): the cause, once, and
    the checks it explains (a student reads the cause before the checks it fails)."""
    return [
        f"{cause['message']}: {', '.join(cause['checks'])}"
        for cause in (entry.get("report") or {}).get("causes") or ()
    ]
