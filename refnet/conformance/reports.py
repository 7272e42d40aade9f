"""Grades from the runs of a batch, and the files a course needs.

`grade` turns one run (`refnet.conformance.batch.run_submission`) into points
per check; `write_reports` writes, under one folder,

* ``students/NAME.json``: the grade, the run (outcome, reason, output) and the runner's
  whole report;
* ``class.csv``: one row per student, the score and the points of every check;
* ``index.html``: students x checks, each failure linked to its counterexample, warnings
  marked (one file, no script, no external asset: it opens from disk);
* ``gradescope/NAME.json``: Gradescope's autograder ``results.json`` for that student, and
  ``results.json`` itself when the batch is one submission;
* ``classroom/NAME.json``: the result format of GitHub Classroom's autograding reporter.

A check earns its points when its status is ``pass`` or ``warn`` (the property holds; a
pitfall was found), and nothing when it is ``fail``, ``error`` (the runner could not
judge), ``skip`` (a name or method is missing) or when the run ended without a report.
A check that is *not graded* (another name covers it, an optional check whose method is
absent, or 0 points in the points file) is listed with its reason and is in no maximum.
"""
# Size: over 500 lines since the grading rules (what counts in the maximum, checks not
# graded) and the class page's statistics met here; the planned split of conformance/ into
# folders (finding names, checks, running, grading, reports) divides it.

from __future__ import annotations

import csv
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .mapping import toml_reader

#: The statuses that earn a check's points.
EARNS = ("pass", "warn")
#: The status of a check that is not part of the grade (it is in no maximum).
NOT_GRADED = "not graded"
#: From worst to best: a check reported more than once (one name defined in several files)
#: counts as its worst result.
_ORDER = ("error", "fail", "skip", "warn", "pass")
#: Keys of a run record that are timings: they differ between two runs of the same batch.
TIMINGS = ("seconds", "cpu_seconds", "execution_time")
_RUN_KEYS = ("exit_code", "output", "output_bytes", "seconds", "cpu_seconds", "protections")


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
    from .checks import CHECKS

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
        "score": _tidy(sum(row["points"] for row in graded)),
        "max_score": _tidy(sum(row["max_points"] for row in graded)),
        "checks": graded,
        "run": {key: run[key] for key in _RUN_KEYS if key in run},
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
        worst = min(counted, key=lambda r: _ORDER.index(r.get("status", "error")))
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


def _tidy(number):
    return int(number) if float(number).is_integer() else round(number, 6)


# -- the files ----------------------------------------------------------------------------------


def write_reports(grades: list[dict], out, settings: dict) -> dict[str, Path]:
    """Write every file of the batch under ``out``; return the main ones by kind."""
    out = Path(out)
    for folder in ("students", "gradescope", "classroom"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    for entry in grades:
        name = entry["student"]
        _write_json(out / "students" / f"{name}.json", entry | {"settings": settings})
        _write_json(out / "gradescope" / f"{name}.json", gradescope_results(entry))
        _write_json(out / "classroom" / f"{name}.json", classroom_results(entry))
    written = {"csv": out / "class.csv", "html": out / "index.html"}
    _write_csv(written["csv"], grades)
    written["html"].write_text(html_page(grades, settings), encoding="utf-8")
    if len(grades) == 1:
        written["gradescope"] = out / "results.json"
        _write_json(written["gradescope"], gradescope_results(grades[0]))
    return written


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_csv(path: Path, grades: list[dict]) -> None:
    names = [row["name"] for row in grades[0]["checks"]] if grades else []
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        header = ["student", "score", "max_score", "percent", "outcome", "reason", "warnings"]
        writer.writerow(header + names)
        for entry in grades:
            percent = 100 * entry["score"] / entry["max_score"] if entry["max_score"] else 0
            warnings = sum(len(row["warnings"]) for row in entry["checks"])
            writer.writerow(
                [entry["student"], entry["score"], entry["max_score"], f"{percent:.1f}"]
                + [entry["outcome"], entry["reason"], warnings]
                + [
                    "" if row["status"] == NOT_GRADED else _tidy(row["points"])
                    for row in entry["checks"]
                ]
            )


def _verdict_text(row: dict) -> str:
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


def _summary_text(entry: dict) -> str:
    text = f"refnet conformance: {entry['score']} / {entry['max_score']} points"
    if entry["outcome"] != "graded":
        text += f"\nNo check could run: {entry['reason']}"
        output = entry["run"].get("output", "").strip()
        if output:
            text += "\n\nThe last lines your code printed:\n" + "\n".join(output.splitlines()[-15:])
    return text + "\n"


def gradescope_results(entry: dict) -> dict:
    """Gradescope's autograder results.json: one test per check."""
    return {
        "score": entry["score"],
        "execution_time": int(round(entry["run"].get("seconds", 0))),
        "output": _summary_text(entry),
        "output_format": "text",
        "test_output_format": "text",
        **entry.get("gradescope", {}),
        "tests": [_gradescope_test(row) for row in entry["checks"]],
    }


def _gradescope_test(row: dict) -> dict:
    """One check as a Gradescope test; one that is not graded (or worth 0 points) is shown
    with 0 of 0 points and no pass/fail status, never as a failed test."""
    test = {
        "name": row["name"],
        "score": row["points"],
        "max_score": row["max_points"],
        "output": _verdict_text(row),
        "tags": [row["function"]],
    }
    if row["status"] == NOT_GRADED or not row["max_points"]:
        test["name"] += " (not graded)"
    else:
        test["status"] = "passed" if row["status"] in EARNS else "failed"
    if row.get("visibility"):
        test["visibility"] = row["visibility"]
    return test


def classroom_results(entry: dict) -> dict:
    """The result format GitHub Classroom's autograding reporter reads (base64 of this JSON)."""
    tests = [
        {
            "name": row["name"],
            "status": "pass" if row["status"] in EARNS else "fail",
            "score": row["points"],
            "message": _verdict_text(row),
            "test_code": f"refnet conformance -k {row['name']}",
            "filename": "",
            "line_no": 0,
            "execution_time": "",
        }
        for row in entry["checks"]
        if row["status"] != NOT_GRADED
    ]
    passed = all(test["status"] == "pass" for test in tests) and entry["outcome"] == "graded"
    return {
        "version": 1,
        "status": "pass" if passed else "fail",
        "max_score": entry["max_score"],
        "tests": tests,
    }


# -- the class page -----------------------------------------------------------------------------

_MARKS = {
    "pass": ("pass", "\u2713"),
    "warn": ("warn", "\u26a0"),
    "fail": ("fail", "\u2717"),
    "error": ("error", "!"),
    "skip": ("skip", "\u2013"),
}
_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 1200px; }
.wide { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 1px 4px; text-align: center; }
th.check { writing-mode: vertical-rl; transform: rotate(180deg); font-weight: normal;
  font-size: 12px; }
td.student, td.reason, td.name { text-align: left; }
td.reason { min-width: 12em; max-width: 22em; white-space: normal; font-size: 13px; }
td.pass { background: #e3f4e3; } td.warn { background: #fff3c4; }
td.fail { background: #f9d6d5; } td.error { background: #f3c6f5; }
td.skip, td.notrun { background: #eee; color: #777; }
td.notgraded { background: #fff; color: #aaa; border-style: dashed; }
td.bar span { display: inline-block; height: 0.8em; background: #7a9cc6; }
a { color: inherit; } pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; }
section { border-top: 2px solid #ccc; margin-top: 1.5em; }
.key span { margin-right: 1.2em; }
.stats { display: flex; flex-wrap: wrap; gap: 2em; align-items: flex-start; }
"""


def html_page(grades: list[dict], settings: dict) -> str:
    """The class at a glance: one static page that fits a 1280-pixel screen: students x
    checks (the run's reason beside the score; the checks scroll within their table),
    the class's statistics, and each failure's counterexample."""
    esc = html.escape
    names = [row["name"] for row in grades[0]["checks"]] if grades else []
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>refnet conformance: class report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>refnet conformance: class report</h1>",
        f"<p>{esc(_settings_line(settings))}</p>",
        '<p class="key"><span>\u2713 pass</span><span>\u26a0 pass with a warning</span>'
        "<span>\u2717 fail (click for the counterexample)</span>"
        "<span>! the grader could not judge</span><span>\u2013 skipped</span>"
        "<span>\u00b7 not run</span><span>\u25cb not graded (in no maximum)</span></p>",
        *_statistics(grades),
        '<h2>Students</h2><div class="wide"><table id="grades"><thead><tr><th>student</th>'
        "<th>score</th><th>run</th>",
    ]
    out += [f'<th class="check">{esc(name)}</th>' for name in names]
    out.append("</tr></thead><tbody>")
    for i, entry in enumerate(grades):
        run = "graded" if entry["outcome"] == "graded" else entry["reason"]
        out.append(
            f'<tr><td class="student"><a href="#s{i}">{esc(entry["student"])}</a></td>'
            f"<td>{entry['score']} / {entry['max_score']}</td>"
            f'<td class="reason">{esc(run)}</td>'
        )
        for j, row in enumerate(entry["checks"]):
            css, mark = cell_mark(row)
            tip = _verdict_text(row).splitlines()[0]
            if css == "notgraded" and row["status"] != NOT_GRADED:
                tip = f"not graded (0 points): {tip}"
            if row["status"] in ("fail", "error", "warn"):
                mark = f'<a href="#s{i}-{j}">{mark}</a>'
            out.append(f'<td class="{css}" title="{esc(tip, quote=True)}">{mark}</td>')
        out.append("</tr>")
    out.append("</tbody></table></div>")
    for i, entry in enumerate(grades):
        out += _student_section(i, entry)
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def cell_mark(row: dict) -> tuple[str, str]:
    """The class page's CSS class and mark of one check of one student: a check that is
    not graded (by the report, or worth 0 points in the points file) has its own, neutral
    style, whatever its status."""
    if row["status"] == NOT_GRADED or not row["max_points"]:
        return "notgraded", "\u25cb"
    return _MARKS.get(row["status"], ("notrun", "\u00b7"))


def class_statistics(grades: list[dict]) -> dict:
    """The score distribution (ten bins of the percentage: 0-9, ..., 90-99, 100) and each
    check's pass rate (pass or warn, over the students it is graded for; (0, 0) for a check
    graded for none)."""
    bins = [0] * 11
    for entry in grades:
        percent = 100 * entry["score"] / entry["max_score"] if entry["max_score"] else 0
        bins[min(10, int(percent // 10))] += 1
    rates = {}
    for j, row in enumerate(grades[0]["checks"] if grades else []):
        graded = [entry["checks"][j] for entry in grades]
        graded = [r for r in graded if r["status"] != NOT_GRADED and r["max_points"]]
        rates[row["name"]] = (sum(r["status"] in EARNS for r in graded), len(graded))
    return {"scores": bins, "pass_rates": rates}


def _statistics(grades: list[dict]) -> list[str]:
    if not grades:
        return []
    stats = class_statistics(grades)
    most = max(stats["scores"]) or 1
    labels = [f"{10 * b}\u2013{10 * b + 9} %" for b in range(10)] + ["100 %"]
    out = ['<h2>The class</h2><div class="stats"><table id="distribution">']
    out.append("<thead><tr><th>score</th><th>students</th><th></th></tr></thead><tbody>")
    for label, count in zip(labels, stats["scores"], strict=True):
        width = round(120 * count / most)
        out.append(
            f"<tr><td>{label}</td><td>{count}</td>"
            f'<td class="bar"><span style="width: {width}px"></span></td></tr>'
        )
    out.append('</tbody></table><table id="pass-rates">')
    out.append("<thead><tr><th>check</th><th>passed</th><th></th></tr></thead><tbody>")
    for name, (passed, total) in stats["pass_rates"].items():
        width = round(120 * passed / total) if total else 0
        rate = f"{passed} / {total}" if total else "not graded"
        out.append(
            f'<tr><td class="name">{html.escape(name)}</td><td>{rate}</td>'
            f'<td class="bar"><span style="width: {width}px"></span></td></tr>'
        )
    out.append("</tbody></table></div>")
    return out


def _student_section(i: int, entry: dict) -> list[str]:
    esc = html.escape
    out = [
        f'<section id="s{i}"><h2>{esc(entry["student"])}: {entry["score"]} / '
        f"{entry['max_score']}</h2>",
        f"<p>{esc(entry['submission'])}</p>",
    ]
    if entry["outcome"] != "graded":
        out.append(f"<p><strong>No report: {esc(entry['reason'])}</strong></p>")
        output = entry["run"].get("output", "")
        if output.strip():
            tail = "\n".join(output.strip().splitlines()[-20:])
            out.append(f"<p>The last lines it printed:</p><pre>{esc(tail)}</pre>")
    for j, row in enumerate(entry["checks"]):
        if row["status"] not in ("fail", "error", "warn"):
            continue
        out.append(f'<div id="s{i}-{j}"><h3>{esc(row["name"])}: {esc(row["status"])}</h3>')
        out.append(f"<pre>{esc(_verdict_text(row))}</pre></div>")
    out.append("</section>")
    return out


def _settings_line(settings: dict) -> str:
    parts = [f"{key}: {value}" for key, value in settings.items() if value not in (None, "", [])]
    return "; ".join(parts)
