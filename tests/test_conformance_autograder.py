"""Drop-in autograders: refnet.conformance.autograder (Gradescope's zip, a GitHub workflow).

Fast tests first: results.json against a JSON Schema written from Gradescope's documented
format (refnet/schemas/gradescope-results.schema.json), visibility from the points file,
usage errors.  Then the zip built, unpacked into a folder standing in for /autograder,
``setup.sh`` run (pip installs from the index or cache configured on this machine) and
``run_autograder`` run on a faithful and a hostile submission, within Gradescope's 768 MB
and 10 minutes; and the GitHub workflow's Grade step run on a sample student repository.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from refnet.conformance import reports
from refnet.conformance.autograder import github
from refnet.conformance.cli import main
from refnet.conformance.reports import Points, gradescope_results, load_points

from .conftest import ROOT

jsonschema = pytest.importorskip("jsonschema")
SCHEMA = json.loads((ROOT / "refnet" / "schemas" / "gradescope-results.schema.json").read_text())
ADA = ROOT / "tests" / "fixtures" / "class" / "ada_faithful.py"
CAT = ROOT / "tests" / "fixtures" / "hostile_class" / "cat_deletes.py"
CHECKS = [{"name": n, "function": n.split(".")[0]} for n in ("a.x", "a.y", "b.z")]
#: Gradescope's default container: 768 MB of memory, a 10-minute timeout.
CONTAINER_BYTES, CONTAINER_SECONDS = 768 * 10**6, 600


def _run(outcome="graded", reason="") -> dict:
    report = {
        "checks": [
            {"name": "a.x", "status": "pass"},
            {"name": "a.y", "status": "fail", "reason": "wrong", "counterexample": "f(1)"},
            {"name": "b.z", "status": "warn", "warnings": ["x changed"]},
        ]
    }
    return {
        "student": "s",
        "submission": "/autograder/submission",
        "outcome": outcome,
        "reason": reason,
        "exit_code": 1,
        "report": report if outcome == "graded" else None,
        "output": "",
        "output_bytes": 0,
        "seconds": 3.2,
        "cpu_seconds": 2.0,
    }


def _validate(results: dict) -> None:
    jsonschema.validate(results, SCHEMA)


def test_results_follow_gradescopes_format():
    points = Points(
        rules={"a.y": 2},
        visibility={"a": "after_published", "a.x": "visible"},
        gradescope={"stdout_visibility": "hidden", "visibility": "after_due_date"},
    )
    results = gradescope_results(reports.grade(_run(), CHECKS, points))
    _validate(results)
    tests = {test["name"]: test for test in results["tests"]}
    assert tests["a.x"]["visibility"] == "visible"  # the longest rule wins
    assert tests["a.y"]["visibility"] == "after_published"
    assert "visibility" not in tests["b.z"]  # Gradescope's default
    assert (results["visibility"], results["stdout_visibility"]) == ("after_due_date", "hidden")
    assert results["score"] == 2 and tests["a.y"]["max_score"] == 2
    _validate(gradescope_results(reports.grade(_run("timeout", "timed out"), CHECKS, Points())))


@pytest.mark.parametrize(
    "change",
    [
        {"visibility": "students"},
        {"tests": [{"name": "x", "status": "ok"}]},
        {"tests": [{"name": "x", "visibility": "later"}]},
        {"score": "7"},
        {"grade": 7},
    ],
)
def test_the_schema_rejects_what_gradescope_would(change):
    results = gradescope_results(reports.grade(_run(), CHECKS, Points())) | change
    with pytest.raises(jsonschema.ValidationError):
        _validate(results)


def test_visibility_in_the_points_file(tmp_path):
    path = tmp_path / "points.toml"
    path.write_text(
        '[checks]\nsoftmax = 2\n[visibility]\n"TwoLayerNet" = "after_published"\n'
        '[gradescope]\nstdout_visibility = "hidden"\n'
    )
    points = load_points(path, ["softmax.batch", "TwoLayerNet.numerical_gradient"])
    assert points.visibility_of("TwoLayerNet.numerical_gradient") == "after_published"
    assert points.visibility_of("softmax.batch") is None
    assert points.gradescope == {"stdout_visibility": "hidden"}


@pytest.mark.parametrize(
    "text, message",
    [
        ('[visibility]\nsoftmax = "later"\n', "is not one of hidden, after_due_date"),
        ('[visibility]\nsoftmx = "hidden"\n', "'softmx' names no check"),
        ('[gradescope]\nleaderboard = "x"\n', "has only `visibility` and `stdout_visibility`"),
        ('[gradescope]\nvisibility = "soon"\n', "is not one of"),
        ('visibility = "hidden"\n', "`visibility` must be a table"),
    ],
)
def test_visibility_errors_name_the_problem(tmp_path, text, message):
    path = tmp_path / "points.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_points(path, ["softmax.batch"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--autograder", "gradescope"], "give the file to write (e.g. autograder.zip)"),
        (["--autograder", "github-actions"], "(e.g. autograder.yml)"),
        (["--autograder", "gradescope", "--batch", ".", "a.zip"], "takes no --batch"),
        (["--autograder", "zip", "a.zip"], "invalid choice"),
    ],
)
def test_autograder_usage_errors_exit_2(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_bad_points_file_is_a_usage_error(tmp_path, capsys):
    path = tmp_path / "points.toml"
    path.write_text('[visibility]\nsoftmax = "never"\n')
    assert main(["--autograder", "gradescope", "--points", str(path), str(tmp_path / "a.zip")]) == 2
    assert "is not one of" in capsys.readouterr().err
    assert not (tmp_path / "a.zip").exists()


def test_the_summary_is_a_markdown_table(tmp_path):
    entry = reports.grade(_run(), CHECKS, Points())
    reports.write_reports([entry], tmp_path, {})
    text = github.summary(tmp_path)
    assert text.startswith("## refnet conformance: 2 / 3 points\n")
    assert "| `a.y` | fail: wrong | 0 / 1 |" in text and "| `b.z` | warn | 1 / 1 |" in text


# -- the zip on a simulated /autograder ---------------------------------------------------------


def _memory(pid: int, fields: dict) -> int:
    """A process's share of the memory in use, in bytes: its proportional set size (a page
    shared by n processes, such as a forked worker's pages of the fork server, counts 1/n
    in each, so the sum over processes is what the container holds), else its resident
    set."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        return int(rollup.split("\nPss:", 1)[1].split()[0]) * 1024
    except (OSError, IndexError, ValueError):
        return int(fields.get("VmRSS", "0 kB").split()[0]) * 1024


def _tree_memory(root_pid: int) -> int:
    """The memory in use by ``root_pid`` and all its descendants, in bytes (`_memory`)."""
    parents, memory = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        parents[int(entry.name)] = int(fields.get("PPid", "0"))
        memory[int(entry.name)] = _memory(int(entry.name), fields)
    total = 0
    for pid, rss in memory.items():
        ancestor = pid
        while ancestor not in (0, 1, root_pid):
            ancestor = parents.get(ancestor, 0)
        total += rss if ancestor == root_pid else 0
    return total


def _run_measured(command: list[str], env: dict) -> tuple[int, float, int]:
    """Run ``command``; its exit code, wall seconds and peak memory of its process tree
    (sampled every 0.1 s: a peak between two samples is missed)."""
    start = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak = 0
    while process.poll() is None:
        peak = max(peak, _tree_memory(process.pid))
        time.sleep(0.1)
    process.communicate()
    return process.returncode, time.monotonic() - start, peak


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zip")
    points = folder / "points.toml"
    points.write_text(
        '[checks]\n"numerical_gradient.vector" = 2\n'
        '[visibility]\n"numerical_gradient" = "after_published"\n'
        '[gradescope]\nstdout_visibility = "hidden"\n'
    )
    out = folder / "autograder.zip"
    argv = ["--autograder", "gradescope", "--points", str(points), "--max-examples", "5"]
    argv += ["-k", "softmax.batch", "-k", "numerical_gradient.vector", str(out)]
    assert main(argv) == 0
    return out


@pytest.fixture(scope="module")
def autograder_root(autograder_zip, tmp_path_factory):
    """A folder standing in for /autograder, after Gradescope's image build (setup.sh)."""
    root = tmp_path_factory.mktemp("autograder")
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(root / "source")
    for name in ("setup.sh", "run_autograder"):  # zipfile does not restore modes
        (root / "source" / name).chmod(0o755)
    (root / "run_autograder").write_bytes((root / "source" / "run_autograder").read_bytes())
    (root / "run_autograder").chmod(0o755)
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), REFNET_SKIP_APT="1")
    setup = subprocess.run(
        ["bash", str(root / "source" / "setup.sh")], env=env, capture_output=True, text=True
    )
    assert setup.returncode == 0, setup.stderr[-2000:]
    return root


def _grade(root: Path, submission: str) -> tuple[dict, float, int]:
    for folder in ("submission", "results"):
        if (root / folder).exists():
            subprocess.run(["rm", "-rf", str(root / folder)], check=True)
    (root / "submission").mkdir()
    (root / "submission" / "chapter4.py").write_text(submission)
    env = dict(os.environ, AUTOGRADER_ROOT=str(root))
    code, seconds, peak = _run_measured(["bash", str(root / "run_autograder")], env)
    assert code == 0
    results = json.loads((root / "results" / "results.json").read_text())
    _validate(results)
    return results, seconds, peak


def test_the_zip_holds_what_gradescope_needs(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as archive:
        names = archive.namelist()
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        pins = archive.read("requirements.txt").decode().split()
    assert {"setup.sh", "run_autograder", "requirements.txt", "points.toml"} <= set(names)
    assert [n for n in names if n.endswith(".whl") and n.startswith("refnet-")]
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    pinned = dict(line.split("==") for line in pins if "==" in line)
    assert {"numpy", "jax", "jaxlib", "hypothesis"} <= set(pinned)
    assert all(version[0].isdigit() for version in pinned.values())


@pytest.mark.slow
def test_gradescope_grades_a_faithful_submission(autograder_root):
    results, seconds, peak = _grade(autograder_root, ADA.read_text())
    tests = {test["name"]: test for test in results["tests"]}
    assert results["score"] == 1 + 2 and set(tests) == {
        "softmax.batch",
        "numerical_gradient.vector",
    }
    assert tests["numerical_gradient.vector"]["visibility"] == "after_published"
    assert results["stdout_visibility"] == "hidden"
    assert seconds < CONTAINER_SECONDS and peak < CONTAINER_BYTES, (seconds, peak)


@pytest.mark.slow
def test_gradescope_contains_a_hostile_submission(autograder_root, tmp_path):
    canary = autograder_root / "canary.txt"
    canary.write_text("the instructor's file")
    points = autograder_root / "source" / "points.toml"
    before = points.read_text()
    text = CAT.read_text().replace("@CANARY@", str(canary))
    text = text.replace("@OTHER@", str(points)).replace("@MARKER@", "gradescope")
    results, seconds, peak = _grade(autograder_root, text)
    assert canary.read_text() == "the instructor's file" and points.read_text() == before
    assert results["score"] == 1  # softmax; no numerical_gradient
    assert seconds < CONTAINER_SECONDS and peak < CONTAINER_BYTES, (seconds, peak)


@pytest.mark.slow
def test_a_memory_hog_gets_the_limit_as_its_reason(autograder_root):
    hog = "blocks = []\nwhile True:\n    blocks.append(bytearray(2**24))\n"
    results, seconds, peak = _grade(autograder_root, hog)
    assert results["score"] == 0 and "memory limit 512 MiB exceeded" in results["output"]
    assert peak < CONTAINER_BYTES, peak


# -- the GitHub workflow on a sample repository ------------------------------------------------


@pytest.mark.slow
def test_the_github_workflow_grades_a_student_repository(autograder_zip, tmp_path):
    yaml = pytest.importorskip("yaml", reason="PyYAML reads the workflow")
    workflow = tmp_path / "grade.yml"
    assert main(["--autograder", "github-actions", "-k", "softmax.batch", str(workflow)]) == 0
    parsed = yaml.safe_load(workflow.read_text())
    steps = parsed["jobs"]["grade"]["steps"]
    uses = [step.get("uses", "") for step in steps]
    assert not [u for u in uses if u and not u.startswith("actions/")]  # no third-party action
    assert steps[0]["with"]["path"] == "submission"  # the student's tree, refnet outside it
    (grade,) = [step for step in steps if step.get("name") == "Grade"]
    # The job, run here: the student's repository checked out into submission/.
    work = tmp_path / "job"
    (work / "submission" / ".github" / "workflows").mkdir(parents=True)
    (work / "submission" / ".github" / "workflows" / "grade.yml").write_text(workflow.read_text())
    (work / "submission" / "README.md").write_text("# My chapter 4\n")
    (work / "submission" / "chapter4.py").write_text(ADA.read_text())
    with zipfile.ZipFile(autograder_zip) as archive:
        (wheel,) = [n for n in archive.namelist() if n.endswith(".whl")]
        archive.extract(wheel, tmp_path)
    env = dict(os.environ, REFNET=str(tmp_path / wheel), RUNNER_TEMP=str(tmp_path / "runner"))
    env["GITHUB_STEP_SUMMARY"] = str(tmp_path / "summary.md")
    (tmp_path / "runner").mkdir()
    done = subprocess.run(
        ["bash", "-c", grade["run"]], cwd=work, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("## refnet conformance: 1 / 1 points")
    student = json.loads((work / "grades" / "students" / "submission.json").read_text())
    found = json.dumps(student["report"]["target"]["found"])
    assert "chapter4.py" in found and "refnet/" not in found  # the student's code, not refnet's
    # The placeholder makes the job fail with a clear message until the course pins refnet.
    env["REFNET"] = github.PLACEHOLDER
    done = subprocess.run(["bash", "-c", grade["run"]], cwd=work, env=env, capture_output=True)
    assert done.returncode == 2 and b"set REFNET" in done.stderr
