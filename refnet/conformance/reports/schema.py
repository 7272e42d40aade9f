"""The report as plain data: assembled here, from parts, by the run and by the command.

The contract itself, every key and status (docs/reference/conformance.md says the same):

The report (``Report.to_dict()``, written by ``--json``), read by graders::

    {
      "tool": "refnet.conformance",
      "profile": "book" | "strict",
      "versions": {"refnet", "python", "numpy", "hypothesis", "jax"},
      "target": {
        "label": str,                      # the target as given
        "root": str | null,                # folder the "file" fields are relative to
        "layout": str,                     # what discovery recognised
        "found": {NAME: {"module", "attribute", "file"}},          # first definition
        "definitions": {NAME: [{"module", "attribute", "file"}]},  # every definition
        "missing": [NAME], "hints": {NAME: "--map ..."},
        "members": {"NAME.MEMBER": spelling}, "notes": [str],
        "problems": [{"file", "problem"}],  # files that could not be imported, and why
        "broken": {NAME: {"file", "problem"}},  # names defined only in such files
        "import_output": str               # what importing printed (its first 20,000
      },                                   # characters, then a count of the rest)
      "conventions": {NAME: str},          # how a squared-error name is judged
      "settings": {"max_examples", "seed", "timeout", "select"},
      "checks": [{
        "name": str, "function": str, "found_as": str | null, "statement": str,
        "status": "pass" | "warn" | "fail" | "error" | "skip",
        "reason": str, "counterexample": str | null, "shrunk": bool,
        "exception": {"type", "message", "traceback"} | null,
        "output": str, "seconds": float,
        "warnings": [str], "notes": [str],
        "file": str | null, "map_hint": str | null, "profiles": [str],
        "graded": bool,                    # false: in no maximum (covered by another
                                           # name, or optional and absent)
        "cause": str | null,               # the root failure it follows from
        "timed_out": bool                  # no answer within the time limit
      }],
      "causes": [{"root", "cause", "checks", "message"}],  # one cause, one message
      "summary": {"pass", "warn", "fail", "error", "skip": int},
      "exit_code": 0 | 1,
      "complete": bool                     # (--json) false while checks still run
    }

The target also lists ``"not_graded": [{"file", "reason"}]``: what the target holds that
is not graded, and why.  A check whose function does not return is failed once with
``timed_out``; the rest of that function's checks, and those of its callers, fail as
"not run: NAME did not return within T s" without waiting again (hangs.py).

``status``: ``pass`` the property holds; ``warn`` it holds but one of the book's pitfalls
was found (``warnings`` says which, with its consequence; it counts as passed for a grade;
only under the book profile); ``fail`` the property does not hold (or the target could not
be imported, or raised, or ran out of time); ``error`` the runner itself could not judge
(a bug to report); ``skip`` the check could not run because a name is missing
(``map_hint`` is the ``--map`` line that would enable it, when one can).  A result is
identified by ``(name, file)``: a name with several definitions has one result per file.
``exit_code`` is 1 when a check fails or errs, else 0; the command exits 2, without a
report, when the target cannot be loaded or the usage is wrong.
  This module imports neither JAX nor hypothesis, so that
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
    """The report (see this module's docstring) from its parts, all plain data."""
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
