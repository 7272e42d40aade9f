"""The files a course needs, from the grades of a batch (grading.py).

`write_reports` writes, under one folder,

* ``students/NAME.json``: the grade, the run (outcome, reason, output) and the runner's
  whole report;
* ``class.csv``: one row per student, the score and the points of every check;
* ``index.html``: the class page (class_page.py): students x checks, each failure linked
  to its counterexample, warnings marked, the class's statistics;
* ``gradescope/NAME.json``: Gradescope's autograder ``results.json`` for that student, and
  ``results.json`` itself when the batch is one submission;
* ``classroom/NAME.json``: the result format of GitHub Classroom's autograding reporter.

The grading rules (`Points`, `load_points`, `expected_checks`, `grade`) and the class page
(`html_page`, `class_statistics`) live in their own modules and are imported from here too.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

# The grading rules and the class page, re-exported: ``reports`` is where callers find them.
from .class_page import class_statistics as class_statistics
from .class_page import html_page
from .grading import EARNS, NOT_GRADED, causes_text, tidy, verdict_text
from .grading import TIMINGS as TIMINGS
from .grading import VISIBILITIES as VISIBILITIES
from .grading import Points as Points
from .grading import expected_checks as expected_checks
from .grading import grade as grade
from .grading import load_points as load_points


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
                    "" if row["status"] == NOT_GRADED else tidy(row["points"])
                    for row in entry["checks"]
                ]
            )


def _summary_text(entry: dict) -> str:
    text = f"refnet conformance: {entry['score']} / {entry['max_score']} points"
    text += "".join(f"\n{line}" for line in causes_text(entry))
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
        "output": verdict_text(row),
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
            "message": verdict_text(row),
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
