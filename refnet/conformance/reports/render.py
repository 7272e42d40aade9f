"""The text report, rendered from the report's plain data (runner.report_dict).

Rendering from the dict, not from live objects, means the same text comes out of an
in-process run, of the command's child process, and of a JSON report read back later.
"""

from __future__ import annotations

import textwrap

from ..api import API

WIDTH = 88
#: Lines of what importing the target printed that the text report shows.
IMPORT_LINES_SHOWN = 5
VERDICTS = {"pass": "pass", "warn": "warn", "fail": "FAIL", "error": "ERROR"}


def _wrap(text: str, first: str, rest: str) -> list[str]:
    return textwrap.wrap(text, width=WIDTH, initial_indent=first, subsequent_indent=rest)


def _label(target: dict, name: str) -> str:
    found = target["found"].get(name)
    if found is None or found["attribute"] == name:
        return name
    return f"{name} ({found['attribute']})"


def _header(report: dict) -> list[str]:
    target, settings = report["target"], report["settings"]
    out = [f"refnet conformance report for {target['label']} (profile: {report['profile']})"]
    out.append(
        f"hypothesis: up to {settings['max_examples']} examples per check, seed {settings['seed']}"
    )
    if settings.get("select"):
        out.append(f"only the checks whose name starts with: {', '.join(settings['select'])}")
    if target.get("layout") not in (None, "a module", "a file"):
        out.append(f"layout: {target['layout']}")
    out.append("")
    definitions = target.get("definitions") or {}
    files = {d["file"] for ds in definitions.values() for d in ds}
    if len(files) > 1:
        out.append("found:")
        width = max(len(_label(target, n)) for n in definitions)
        for api in API:
            if api.name in definitions:
                where = ", ".join(d["file"] or "?" for d in definitions[api.name])
                out.append(f"  {_label(target, api.name):<{width}}  {where}")
    else:
        found = [_label(target, api.name) for api in API if api.name in target["found"]]
        text = "found: " + (", ".join(found) or "none of the chapter's names")
        out += _wrap(text, "", "       ")
    if target["missing"]:
        text = "not found (their checks are skipped): " + ", ".join(target["missing"])
        out += _wrap(text, "", "       ")
    for problem in target.get("problems") or []:
        out += _wrap(f"could not import: {problem['problem']}", "", "    ")
    printed = (target.get("import_output") or "").splitlines()
    if printed:
        shown = printed[:IMPORT_LINES_SHOWN]
        out.append("importing printed:")
        out += [f"  | {line}" for line in shown]
        if len(printed) > len(shown):
            out.append("  | ... (the rest is in the JSON report: target.import_output)")
    for name, rule in report["conventions"].items():
        out.append(f"{name} is checked as {rule}")
    out += [f"note: {note}" for note in target["notes"]]
    return out + [""]


def _verdict(result: dict) -> str:
    verdict = VERDICTS.get(result["status"])
    if verdict is None:
        verdict = f"skip: {result['reason']}"
        if result.get("map_hint"):
            verdict += f" ({result['map_hint']})"
    return verdict


def _table(report: dict) -> list[str]:
    target, results = report["target"], report["checks"]
    files = {r.get("file") for r in results if r.get("file")}
    show_file = len(files) > 1
    rows = []
    for api in API:
        mine = [r for r in results if r["function"] == api.name]
        if not mine:
            continue
        label = _label(target, api.name)
        if all(r["status"] == "skip" for r in mine) and len({r["reason"] for r in mine}) == 1:
            rows.append((label, f"({len(mine)} checks)", "", _verdict(mine[0])))
            continue
        for i, r in enumerate(mine):
            rows.append((label if i == 0 else "", r["name"], r.get("file") or "", _verdict(r)))
    if not rows:
        return ["no check was run"]
    heads = ("function", "check", "file", "result")
    width = [max(len(row[i]) for row in [*rows, heads]) for i in range(3)]
    columns = (0, 1, 2) if show_file else (0, 1)

    def line(row):
        return "  ".join(f"{row[i]:<{width[i]}}" for i in columns) + f"  {row[3]}"

    out = [line(heads), line(tuple("-" * width[i] for i in range(3)) + ("-" * 6,))]
    return out + [line(row).rstrip() for row in rows]


def _where(result: dict, show_file: bool) -> str:
    return f" [{result['file']}]" if show_file and result.get("file") else ""


def _details(result: dict, show_file: bool) -> list[str]:
    head = f"{result['name']}{_where(result, show_file)}: {VERDICTS[result['status']]}"
    out = ["", head, f"  property: {result['statement']}"]
    for warning in result.get("warnings") or []:
        out += _wrap(warning, "  pitfall:  ", "            ")
    label = "here:     " if result["status"] == "warn" else "problem:  "
    out += _wrap(result["reason"], f"  {label}", "            ")
    if result["output"].strip():
        printed = result["output"].strip().splitlines()
        more = f" (and {len(printed) - 3} more lines)" if len(printed) > 3 else ""
        out.append(f"  the target printed: {' | '.join(printed[:3])}{more}"[:200])
    if result["counterexample"]:
        kind = "smallest counterexample" if result["shrunk"] else "the example"
        out += ["", f"  {kind}, to paste into Python:", ""]
        out += result["counterexample"].rstrip("\n").splitlines()
    return out


def render(report: dict) -> str:
    """The report as text: settings, what was found where, a table of checks by function,
    then each warning, note and failure."""
    out = _header(report) + _table(report)
    results = report["checks"]
    show_file = len({r.get("file") for r in results if r.get("file")}) > 1
    warned = [r for r in results if r["status"] == "warn"]
    if warned:
        out += ["", "Warnings: the book's pitfalls (these checks pass under --profile book)"]
        out += ["=" * 71]
    for r in warned:
        out += _details(r, show_file)
    noted = [r for r in results if r.get("notes")]
    if noted:
        out += ["", "Notes", "====="]
    for r in noted:
        for note in r["notes"]:
            out += _wrap(f"{r['name']}{_where(r, show_file)}: {note}", "- ", "  ")
    bad = [r for r in results if r["status"] in ("fail", "error")]
    if bad:
        out += ["", "Failures", "========"]
    for cause in report.get("causes") or ():
        out += _wrap(f"{cause['message']}: {', '.join(cause['checks'])}", "* ", "  ")
    roots = {c["root"] for c in report.get("causes") or ()}
    for r in bad:
        if r.get("cause") and r["name"] not in roots:  # one line: its root says the rest
            out += _wrap(f"{r['name']}{_where(r, show_file)}: {r['reason']}", "- ", "  ")
        else:
            out += _details(r, show_file)
    not_graded = (report.get("target") or {}).get("not_graded") or []
    if not_graded:
        out += ["", "Not graded", "=========="]
        for entry in not_graded:
            out += _wrap(f"{entry['file']}: {entry['reason']}", "- ", "  ")
    counts = report["summary"]
    tally = ", ".join(f"{counts[s]} {s}" for s in ("pass", "warn", "fail", "error", "skip"))
    out += ["", f"{tally} (exit code {report['exit_code']})"]
    return "\n".join(out) + "\n"
