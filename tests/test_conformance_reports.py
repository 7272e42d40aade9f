"""What a student is handed: reproductions that run with NumPy and their own files only.

The fixture class's planted defects (tests/fixtures/class) and the defective chapter
(tests/fixtures/defective.py) are graded as a student hands them in: under a file name that
is not a module name, as a notebook with IPython magics, and as a plain module.  Every
reproduction of a check that does not pass is then run as a script in a virtual environment
that holds NumPy and nothing else (no refnet, no JAX, no nbformat), from the folder of the
submission, and must raise what the report says: the assertion that fails, or the exception
the student's code raised.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import venv
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from refnet.conformance import reports
from refnet.conformance.checks.case import Case
from refnet.conformance.checks.reproduction import (
    NOTEBOOK_CELLS,
    model_problem_source,
    numpy_helpers,
    numpy_source,
)
from refnet.conformance.finding.notebooks import notebook_cells
from refnet.conformance.finding.target import Target
from refnet.conformance.functions import DESCENT_OBJECTIVES, MODEL_LOSSES, ModelProblem
from refnet.conformance.reports import Points, grade

from .conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures"
#: student -> (the fixture it copies, the name it is handed in under)
SUBMISSIONS = {
    "dana": (FIXTURES / "defective.py", "dana ch4-final (2).py"),
    "dan": (FIXTURES / "class" / "dan_early_return.py", "4장 과제.ipynb"),
    "eve": (FIXTURES / "class" / "eve_batch_softmax.py", "eve-batch.py"),
    "ben": (FIXTURES / "class" / "ben_copy_perturb.py", "ben.ipynb"),
    "hugo": (FIXTURES / "class" / "hugo_stubs.py", "hugo_stubs.py"),
}
#: A notebook's first cell: what the grader (and the reproduction) must remove.
MAGICS = "%matplotlib inline\n!pip install numpy\nfiles = !ls\nimport numpy as np\n"


def _notebook(source: str) -> str:
    """A notebook of the file's text: a cell of magics, a markdown cell, then the code."""
    cells = [
        {"cell_type": "code", "source": MAGICS, "outputs": [], "execution_count": None},
        {"cell_type": "markdown", "source": "# Chapter 4"},
        {"cell_type": "code", "source": source, "outputs": [], "execution_count": None},
    ]
    for number, cell in enumerate(cells):
        cell.update(id=f"cell-{number}", metadata={})
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


@pytest.fixture(scope="module")
def numpy_only(tmp_path_factory) -> Path:
    """The Python of a fresh virtual environment whose only package is this NumPy (linked
    in, so that no index is needed): what a student who installed NumPy has."""
    home = tmp_path_factory.mktemp("numpy-only")
    venv.EnvBuilder(with_pip=False, symlinks=True).create(home)
    python = home / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    installed = Path(np.__file__).parent.parent
    for entry in installed.iterdir():
        if entry.name == "numpy" or re.fullmatch(r"numpy[.-].*", entry.name):
            (site / entry.name).symlink_to(entry)
    probe = "import importlib.util as u, numpy; print([bool(u.find_spec(m)) for m in %r])"
    others = ["refnet", "jax", "hypothesis", "nbformat"]
    done = subprocess.run(
        [python, "-c", probe % others], capture_output=True, text=True, cwd=home, check=True
    )
    assert done.stdout.strip() == str([False] * len(others)), done.stdout
    return python


def _grade(folder: Path, path: Path) -> dict:
    report = folder / "report.json"
    argv = [sys.executable, "-m", "refnet.conformance", str(path), "--json", str(report)]
    argv += ["--max-examples", "5", "--profile", "strict", "--timeout", "60"]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(report.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def handed_in(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """student -> (the folder of the submission, its report)."""
    root = tmp_path_factory.mktemp("class")
    paths = {}
    for student, (fixture, name) in SUBMISSIONS.items():
        folder = root / student
        folder.mkdir()
        source = fixture.read_text(encoding="utf-8")
        text = _notebook(source) if name.endswith(".ipynb") else source
        (folder / name).write_text(text, encoding="utf-8")
        paths[student] = folder / name
    with ThreadPoolExecutor(2) as pool:
        folders = [path.parent for path in paths.values()]
        reports = list(pool.map(_grade, folders, paths.values()))
    return {student: (paths[student].parent, reports[i]) for i, student in enumerate(paths)}


def _raised(python: Path, folder: Path, script: str) -> str | None:
    """The name of the exception the script raises, run as a file fed to ``python``."""
    done = subprocess.run(
        [python, "-"], input=script, capture_output=True, text=True, cwd=folder, timeout=120
    )
    if done.returncode == 0:
        return None
    last = done.stderr.strip().splitlines()[-1]
    return re.match(r"[\w.]+", last).group(0).rsplit(".", 1)[-1]


@pytest.mark.slow
@pytest.mark.parametrize("student", sorted(SUBMISSIONS))
def test_every_reproduction_fails_again_with_numpy_and_the_students_file_only(
    student, handed_in, numpy_only
):
    """Run in the submission's folder where it was graded (a TA's case), then in the same
    folder moved elsewhere (a student's copy: the grader's paths do not exist there)."""
    folder, report = handed_in[student]
    failing = [r for r in report["checks"] if r["status"] in ("fail", "error", "warn")]
    assert failing, [r["name"] for r in report["checks"]]
    scripts = [r["counterexample"] for r in failing]
    wanted = [r["exception"]["type"] if r["exception"] else "AssertionError" for r in failing]
    for result, script in zip(failing, scripts, strict=True):
        assert script and "refnet" not in script, (result["name"], script)
    moved = folder.with_name(folder.name + " (student's copy)")
    for where in (folder, moved):
        if where is moved:
            folder.rename(moved)
        try:
            raised = [_raised(numpy_only, where, script) for script in scripts]
        finally:
            if where is moved:
                moved.rename(folder)
        for result, got, expected in zip(failing, raised, wanted, strict=True):
            assert got == expected, (where.name, result["name"], result["counterexample"])


# -- the parts of a reproduction, fast --------------------------------------------------------


def test_a_notebooks_reproduction_removes_what_the_grader_removes():
    path = FIXTURES / "class_grades" / "magics.ipynb"
    namespace: dict = {}
    exec(NOTEBOOK_CELLS, namespace)
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    mine = [namespace["python_of"](cell) for cell in cells]
    graders, removed = notebook_cells(str(path))
    assert len(removed) >= 5  # the fixture holds magics, escapes and a %%bash cell
    assert [c for c in mine if c.strip()] == [c for c in graders if c.strip()]


@pytest.mark.parametrize("kind", sorted(MODEL_LOSSES))
def test_the_numpy_source_of_a_model_loss_computes_the_suites_loss(kind):
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (4,), (4, 2), (2,)] if kind.startswith("two") else [(3, 2)]
    problem = ModelProblem(rng.normal(size=(5, 3)), np.eye(2)[rng.integers(0, 2, 5)], shapes)
    theta = rng.normal(size=sum(problem.sizes))
    namespace = {"np": np, "x": problem.x, "t": problem.t}
    for statement in model_problem_source(shapes):
        exec(statement, namespace)
    for helper in numpy_helpers(MODEL_LOSSES[kind]):
        exec(numpy_source(helper), namespace)
    source = numpy_source(MODEL_LOSSES[kind])
    assert "xp" not in source and source.startswith(f"def {kind}(theta, problem):")
    exec(source, namespace)
    value = namespace[kind](theta, namespace["problem"])
    assert value == MODEL_LOSSES[kind](np, theta, problem)  # the same operations, bit for bit


@pytest.mark.parametrize("name", sorted(DESCENT_OBJECTIVES))
def test_the_numpy_source_of_a_descent_objective_computes_it(name):
    rng = np.random.default_rng(1)
    x, A, b = rng.normal(size=3), np.eye(3) * 2.0, rng.normal(size=3)
    namespace = {"np": np}
    exec(numpy_source(DESCENT_OBJECTIVES[name]), namespace)
    assert '"""' not in numpy_source(DESCENT_OBJECTIVES[name])  # the docstring is left out
    assert namespace[name](x, A, b) == DESCENT_OBJECTIVES[name](np, x, A, b)


# -- the class page -----------------------------------------------------------------------------


class _Cells(HTMLParser):
    """The CSS class of every cell of the grades table, row by row."""

    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self.inside = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "table":
            self.inside = attributes.get("id") == "grades"
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag == "td" and self.rows:
            self.rows[-1].append(attributes.get("class") or "")

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False


def _student(name: str, statuses: dict[str, tuple[str, bool]]) -> dict:
    """A run whose report gives each check (status, graded)."""
    checks = [
        {"name": check, "status": status, "reason": "why", "graded": graded}
        for check, (status, graded) in statuses.items()
    ]
    return {
        "student": name,
        "submission": f"/class/{name}.py",
        "outcome": "graded",
        "reason": "",
        "report": {"checks": checks},
    }


def test_a_check_that_is_not_graded_has_its_own_neutral_cell_on_the_class_page():
    names = ["a.pass", "a.fail", "a.covered", "a.zero", "a.absent"]
    checks = [{"name": name, "function": "a"} for name in names]
    points = Points(rules={"a.zero": 0})  # the points file leaves a.zero out
    runs = [
        # a.covered: not graded by the report (another name covers it); a.absent: no result
        _student("ann", {"a.pass": ("pass", True), "a.fail": ("fail", True),
                         "a.covered": ("pass", False), "a.zero": ("fail", True)}),
        _student("bob", {"a.pass": ("warn", True), "a.fail": ("skip", True),
                         "a.covered": ("fail", False), "a.zero": ("pass", True)}),
    ]  # fmt: skip
    grades = [grade(run, checks, points) for run in runs]
    parser = _Cells()
    parser.feed(reports.html_page(grades, {"seed": 0}))
    # Each row: student, score, run, then one cell per check.
    assert [row[3:] for row in parser.rows[1:]] == [
        ["pass", "fail", "notgraded", "notgraded", "notrun"],
        ["warn", "skip", "notgraded", "notgraded", "notrun"],
    ]
    assert "td.notgraded {" in reports.html_page(grades, {})  # styled, unlike the others
    stats = reports.class_statistics(grades)["pass_rates"]
    assert stats == {
        "a.pass": (2, 2),
        "a.fail": (0, 2),
        "a.covered": (0, 0),  # graded for no one: no pass rate
        "a.zero": (0, 0),
        "a.absent": (0, 2),
    }


def test_a_root_failure_is_stated_once_at_the_top_of_what_the_student_reads():
    run = _student("cy", {"a.root": ("fail", True), "a.follows": ("fail", True)})
    run["report"]["causes"] = [
        {
            "root": "a.root",
            "cause": "a leaves x perturbed",
            "checks": ["a.root", "a.follows"],
            "message": "2 checks fail because a leaves x perturbed",
        }
    ]
    checks = [{"name": "a.root", "function": "a"}, {"name": "a.follows", "function": "a"}]
    entry = grade(run | {"seconds": 1.0}, checks, Points())
    line = "2 checks fail because a leaves x perturbed: a.root, a.follows"
    assert reports.gradescope_results(entry)["output"].splitlines()[1] == line
    assert f"<p><strong>{line}</strong></p>" in reports.html_page([entry], {})
    alone = grade(_student("di", {"a.root": ("fail", True)}), checks, Points())
    assert "because" not in reports.gradescope_results(alone)["output"]


def test_a_reproduction_cannot_import_refnet():
    case = Case(Target("t", {}))
    case.use("from types import SimpleNamespace")
    with pytest.raises(ValueError, match="cannot import refnet"):
        case.use("from refnet.conformance.functions import quadratic")
    assert case.imports == ["from types import SimpleNamespace"]
