"""The report as plain data: assembled here, from parts, by the run and by the command.

The contract itself (every key and status) is written out in runner.py's docstring and on
docs/reference/conformance.md.  This module imports neither JAX nor hypothesis, so that
the command's parent process, which only supervises the child that runs the checks, can
put a report together without them.
"""

from __future__ import annotations

#: Every status a check can have, in the order the report counts them.
STATUSES = ("pass", "warn", "fail", "error", "skip")


def summary(results) -> dict[str, int]:
    """Counts by status of result dicts."""
    return {s: sum(r["status"] == s for r in results) for s in STATUSES}


def conventions(target: dict, profile: str) -> dict[str, str]:
    """How each squared-error name found is judged."""
    out = {}
    if "mean_squared_error" in target["found"]:
        out["mean_squared_error"] = (
            "the mean over the samples of a batch, or the sum as the book's code (noted)"
            if profile == "book"
            else "the mean over the samples of a batch (by its name)"
        )
    if "sum_squared_error" in target["found"]:
        out["sum_squared_error"] = "the sum over the samples of a batch (by its name)"
    return out


def report_dict(
    target: dict, results: list[dict], *, profile, settings, versions, causes=()
) -> dict:
    """The report (see runner.py's docstring) from its parts, all plain data."""
    counts = summary(results)
    return {
        "tool": "refnet.conformance",
        "profile": profile,
        "versions": versions,
        "target": target,
        "conventions": conventions(target, profile),
        "settings": settings,
        "checks": results,
        "causes": list(causes),
        "summary": counts,
        "exit_code": 1 if counts["fail"] or counts["error"] else 0,
    }
