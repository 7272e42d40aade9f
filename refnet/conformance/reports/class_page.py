"""The class page: one static HTML file of students x checks, the class's statistics, and
each failure's counterexample (no script, no external asset: it opens from disk)."""

from __future__ import annotations

import html

from .grading import EARNS, NOT_GRADED, causes_text, verdict_text

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
            tip = verdict_text(row).splitlines()[0]
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
    out += [f"<p><strong>{esc(line)}</strong></p>" for line in causes_text(entry)]
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
        out.append(f"<pre>{esc(verdict_text(row))}</pre></div>")
    out.append("</section>")
    return out


def _settings_line(settings: dict) -> str:
    parts = [f"{key}: {value}" for key, value in settings.items() if value not in (None, "", [])]
    return "; ".join(parts)
