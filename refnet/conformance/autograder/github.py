"""A GitHub Actions workflow that grades a student's repository on every push.

``refnet conformance --autograder github-actions OUT.yml`` writes it.  The student's
repository is checked out into ``submission/``; refnet is installed into a virtual
environment outside it, from the wheel or source archive the instructor names in
``REFNET`` (pinned: a URL to a wheel, or ``refnet @ git+https://...@COMMIT``) with its
dependencies pinned at the versions the workflow was written with, so refnet is never
vendored into the student's tree and never graded itself.  The grade is the job's
summary (`summary`) and an artifact (the whole results folder).  It relies on no
third-party grading action (GitHub Classroom's autograding actions are not used), only
on GitHub's own ``checkout``, ``setup-python`` and ``upload-artifact``.

The job's command is the ``Grade`` step's script, which tests run locally on a sample
repository (with ``REFNET`` pointing at a local wheel).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .gradescope import requirements

WORKFLOW = """\
# refnet conformance: grades this repository's Chapter 4 code on every push.
# Written by `refnet conformance --autograder github-actions`.  The grade is the job's
# summary and the artifact `refnet-grade`.
name: refnet conformance
on:
  push:
  workflow_dispatch:
permissions:
  contents: read
env:
  # The refnet that grades: a wheel or source archive the instructor pins, e.g.
  #   refnet @ https://course.example.edu/refnet-0.1.0-py3-none-any.whl
  #   refnet @ git+https://github.com/OWNER/refnet@COMMIT
  REFNET: "{refnet}"
jobs:
  grade:
    runs-on: ubuntu-24.04
    timeout-minutes: 20
    steps:
      - uses: actions/checkout@v4
        with:
          path: submission
      - uses: actions/setup-python@v5
        with:
          python-version: "{python}"
      - name: Install bubblewrap (the sandbox each submission runs in)
        run: sudo apt-get update -qq && sudo apt-get install -y -qq bubblewrap
      - name: Grade
        shell: bash
        run: |
{script}
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: refnet-grade
          path: grades/
"""

SCRIPT = """\
set -euo pipefail
if [ -z "${{REFNET:-}}" ] || [ "${{REFNET#REPLACE}}" != "$REFNET" ]; then
    echo "refnet-grade: set REFNET in the workflow to the refnet the course pins" >&2
    exit 2
fi
tools="${{RUNNER_TEMP:-/tmp}}/refnet-tools"
python3 -m venv "$tools"
"$tools/bin/pip" install -q --disable-pip-version-check -r /dev/stdin <<'REQUIREMENTS'
{requirements}REQUIREMENTS
"$tools/bin/pip" install -q --disable-pip-version-check --no-deps "$REFNET"
{points}# As root where sudo allows (GitHub's runners do): each submission then runs as a user of
# its own inside bubblewrap.
as_root=""
if [ "$(id -u)" != 0 ] && sudo -n true 2>/dev/null; then as_root="sudo -n"; fi
$as_root "$tools/bin/refnet" conformance --batch submission --single --out grades {options}
"$tools/bin/python" -m refnet.conformance.autograder summary grades >> "${{GITHUB_STEP_SUMMARY:-/dev/stdout}}"
"""

PLACEHOLDER = "REPLACE-ME: refnet @ URL-OF-A-PINNED-WHEEL"


def script(argv: list[str], points: Path | None) -> str:
    """The Grade step's shell script."""
    import shlex

    options = " ".join(shlex.quote(word) for word in argv)
    points_text = ""
    if points is not None:
        body = points.read_text(encoding="utf-8")
        points_text = (
            f"cat > \"$tools/points{points.suffix}\" <<'POINTS'\n{body.rstrip()}\nPOINTS\n"
        )
        options += f' --points "$tools/points{points.suffix}"'
    return SCRIPT.format(requirements=requirements(), points=points_text, options=options)


def write_workflow(out: Path, argv: list[str], points: Path | None) -> Path:
    body = "\n".join(("          " + line).rstrip() for line in script(argv, points).splitlines())
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    text = WORKFLOW.format(refnet=PLACEHOLDER, python=version, script=body)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out


def summary(results: Path) -> str:
    """The job summary (Markdown) of a ``--single`` run's results folder."""
    (path,) = sorted((results / "students").glob("*.json"))
    entry = json.loads(path.read_text(encoding="utf-8"))
    lines = [f"## refnet conformance: {entry['score']} / {entry['max_score']} points", ""]
    if entry["outcome"] != "graded":
        lines += [f"**No check could run:** {_cell(entry['reason'])}", ""]
    lines += ["| check | result | points |", "|---|---|---|"]
    for row in entry["checks"]:
        result = (
            row["status"]
            if row["status"] in ("pass", "warn")
            else (f"{row['status']}: {_cell(row['reason'])}")
        )
        lines.append(f"| `{row['name']}` | {result} | {row['points']} / {row['max_points']} |")
    lines += ["", "The counterexamples are in the artifact `refnet-grade` (students/*.json)."]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")[:300]
