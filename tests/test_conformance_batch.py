"""Grading a class: refnet.conformance.running.batch (runs), reports (grades, files) and batch_cli.

Fast tests first: sizes, points files, discovery, the classification of a run's end, the
grade of a report, the files, and the limits themselves on small Python children (no JAX).
Then the fixture class (tests/fixtures/class, 15 submissions written for this suite) graded
in one batch, whose expected grades come from what each submission is, reasoned below,
never from running it; then the same submissions run again here and on a Dask cluster,
which must give the same JSON apart from timings.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from refnet.conformance import reports
from refnet.conformance.cli import add_arguments, main
from refnet.conformance.reports import Points, grade, load_points, write_reports
from refnet.conformance.running import batch, sandbox
from refnet.conformance.running.batch import (
    BatchError,
    Limits,
    RunOptions,
    Submission,
    classify,
    find_submissions,
    format_size,
    parse_size,
)

from .conftest import ROOT

CLASS = ROOT / "tests" / "fixtures" / "class"
CHECK_NAMES = [
    "softmax.batch",
    "cross_entropy_error.one_sample",
    "numerical_gradient.vector",
    "numerical_gradient.closure",
    "numerical_gradient.integer_x",
    "TwoLayerNet.numerical_gradient",
]


# -- sizes and points ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, size",
    [("1GiB", 2**30), ("1g", 2**30), ("512MiB", 2**29), ("1.5K", 1536), ("4096", 4096)],
)
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "GiB", "1 TB", "-1M", "ten"])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(text)


def test_format_size():
    assert [format_size(n) for n in (2**30, 3 * 2**20, 2**10, 1500)] == [
        "1 GiB",
        "3 MiB",
        "1 KiB",
        "1500 bytes",
    ]


def test_points_longest_rule_wins():
    points = Points(default=1, rules={"numerical_gradient": 2, "numerical_gradient.closure": 0})
    assert points.of("numerical_gradient.vector") == 2
    assert points.of("numerical_gradient.closure") == 0
    assert points.of("numerical_diff.central") == 1  # a prefix must end at a dot


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_load_points(tmp_path, suffix):
    path = tmp_path / f"points{suffix}"
    if suffix == ".toml":
        path.write_text('default = 2\n[checks]\nsoftmax = 3\n"TwoLayerNet.gradient" = 0\n')
    else:
        path.write_text('{"default": 2, "checks": {"softmax": 3, "TwoLayerNet.gradient": 0}}')
    points = load_points(path, ["softmax.batch", "TwoLayerNet.gradient", "sigmoid.values"])
    assert (points.of("softmax.batch"), points.of("TwoLayerNet.gradient")) == (3, 0)
    assert points.of("sigmoid.values") == 2


@pytest.mark.parametrize(
    "text, message",
    [
        ("[checks]\nsoftmx = 1\n", "'softmx' names no check"),
        ("[checks]\nsoftmax = -1\n", "is negative"),
        ('[checks]\nsoftmax = "2"\n', "is not a number"),
        ("default = true\n", "is not a number"),
        ("bonus = 1\n", "only `default` and the tables `checks`, `visibility`"),
        ("[checks\n", "not valid TOML"),
    ],
)
def test_load_points_rejects(tmp_path, text, message):
    path = tmp_path / "points.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as caught:
        load_points(path, ["softmax.batch"])
    assert str(path) in str(caught.value)


# -- discovery ----------------------------------------------------------------------------------


def test_find_submissions_one_submission_per_file_and_folder(tmp_path):
    (tmp_path / "alice.py").write_text("x = 1\n")
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "ch4.py").write_text("y = 2\n")
    (tmp_path / "bob" / "__pycache__").mkdir()
    (tmp_path / "bob" / "__pycache__" / "ch4.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "carol").mkdir()
    (tmp_path / "carol" / "common").mkdir()
    (tmp_path / "carol" / "common" / "functions.py").write_text("")
    (tmp_path / "carol" / "ch04.py").write_text("")
    (tmp_path / "carol" / "train.py").write_text("")
    (tmp_path / "roster.csv").write_text("alice,bob\n")
    (tmp_path / ".hidden.py").write_text("")
    (tmp_path / "_template.py").write_text("")
    (tmp_path / "linked.py").symlink_to(tmp_path / "alice.py")
    found = {s.student: s for s in find_submissions(tmp_path)}
    assert sorted(found) == ["alice", "bob", "carol"]
    assert found["alice"].target == "alice.py"
    assert found["bob"].target == "bob/ch4.py"  # the folder's only top-level script
    assert found["carol"].target == "carol"  # several: the runner discovers the layout
    assert [name for name, _ in found["bob"].files] == ["bob/ch4.py"]  # no __pycache__
    assert found["alice"].files == (("alice.py", b"x = 1\n"),)


def test_find_submissions_never_follows_symlinks(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the grader's own file")
    (tmp_path / "class" / "eve").mkdir(parents=True)
    (tmp_path / "class" / "eve" / "ch4.py").write_text("")
    (tmp_path / "class" / "eve" / "steal.txt").symlink_to(secret)
    (eve,) = find_submissions(tmp_path / "class")
    assert [name for name, _ in eve.files] == ["eve/ch4.py"]


def test_find_submissions_single_and_errors(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "chapter4.py").write_text("")
    # What a zip made on macOS adds: an AppleDouble file beside each file, and __MACOSX/.
    (tmp_path / "sub" / "._chapter4.py").write_bytes(b"\0\5\26\7")
    (tmp_path / "sub" / "__MACOSX").mkdir()
    (tmp_path / "sub" / "__MACOSX" / "._chapter4.py").write_bytes(b"\0\5\26\7")
    (single,) = find_submissions(tmp_path / "sub", single=True)
    assert (single.student, single.target) == ("sub", "sub/chapter4.py")
    assert [name for name, _ in single.files] == ["sub/chapter4.py"]
    (tmp_path / "sub.py").write_text("")  # sub/ and sub.py: the same student
    with pytest.raises(BatchError, match="both named 'sub'"):
        find_submissions(tmp_path)
    with pytest.raises(BatchError, match="not a directory"):
        find_submissions(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BatchError, match="no submissions"):
        find_submissions(tmp_path / "empty")


def test_a_folder_without_python_is_not_run(tmp_path):
    (tmp_path / "dora").mkdir()
    (tmp_path / "dora" / "answers.txt").write_text("I did it on paper")
    (dora,) = find_submissions(tmp_path)
    record = batch.run_submission(dora, RunOptions())
    assert (record["outcome"], record["reason"]) == ("not-run", "no Python file in the submission")


# -- how a run ended ----------------------------------------------------------------------------

LIMITS = Limits(wall=30, cpu=20, memory=2**30, output=2**20, file_size=2**26)


def _watched(exit_code, stopped=None, output="", cpu=1.0):
    return {"exit_code": exit_code, "stopped": stopped, "output": output, "cpu_seconds": cpu}


@pytest.mark.parametrize(
    "watched, report, outcome, reason",
    [
        (_watched(1), {"checks": []}, "graded", ""),
        (_watched(-9, "wall"), None, "timeout", "timed out after 30 s"),
        (_watched(-9, "output"), None, "output", "output capped at 1 MiB"),
        (_watched(-24, cpu=20.3), None, "cpu", "CPU time limit 20 s exceeded"),
        (_watched(-9, cpu=21.9), None, "cpu", "CPU time limit 20 s exceeded"),
        (_watched(2, output="MemoryError: Unable to"), None, "memory", "memory limit 1 GiB"),
        (_watched(-25), None, "file-size", "file size limit 64 MiB exceeded"),
        (
            _watched(2, output="Traceback\nrefnet conformance: importing a.py failed: X\n"),
            None,
            "not-loaded",
            "importing a.py failed: X",
        ),
        (_watched(-11, output="boom\n"), None, "crashed", "killed by SIGSEGV: boom"),
        (_watched(0, output="bye\n"), None, "crashed", "exited with code 0 without a report"),
    ],
)
def test_classify(watched, report, outcome, reason):
    got = classify(watched, report, LIMITS)
    assert got[0] == outcome and got[1].startswith(reason), got


# -- the limits, on small children (plain Python, no JAX) ---------------------------------------


def _run(code: str, tmp_path, limits: Limits) -> dict:
    """A submission whose import runs ``code``, through the grader's own path (the fork
    server where the grader is root, else a new interpreter): its record."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "amy.py").write_text(code)
    (amy,) = find_submissions(tmp_path / "sub")
    return batch.run_submission(amy, RunOptions(select=("softmax.batch",), limits=limits))


#: Writes straight to the process's stderr, past Python's streams (which the runner
#: captures while it imports a file): what the grader reads from the worker's pipe.
SAY = "import os\ndef say(text):\n    os.write(2, (str(text) + '\\n').encode())\n"


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def _dead_within(pid: int, seconds: float = 10.0) -> bool:
    """SIGKILL is delivered at once, but a loaded machine may take a moment to end the
    process: poll rather than look once (a single look failed at NumPy 2.0's CI run)."""
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _submission_users_processes(users) -> list[int]:
    """Processes of the user ids ``users`` (those a run handed to its submissions: another
    grader's on this machine are not this run's), zombies aside."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            status = (entry / "status").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if status and "\nState:\tZ" not in status:
            uid = int(status.split("\nUid:\t", 1)[1].split()[0])
            if uid in users:
                found.append(int(entry.name))
    return found


def _gone(record: dict, pid: int) -> bool:
    """Whether what the submission started is gone: every process of its user (in a
    sandbox the pid it printed is its namespace's), else the pid itself."""
    if record.get("uid") is not None:
        deadline = time.monotonic() + 10  # killed at once; a loaded machine may lag
        while _submission_users_processes({record["uid"]}):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True
    return _dead_within(pid)


def test_wall_time_kills_the_whole_process_group(tmp_path):
    # The submission forks a grandchild that sleeps holding the pipes, then sleeps itself.
    code = SAY + (
        "import time\n"
        "pid = os.fork()\n"
        "if pid == 0:\n    time.sleep(300); os._exit(0)\n"
        "say(pid); time.sleep(300)\n"
    )
    start = time.monotonic()
    record = _run(code, tmp_path, Limits(wall=3, cpu=30))
    assert record["outcome"] == "timeout" and record["exit_code"] == -9
    assert time.monotonic() - start < 30  # not the 300 s the children asked for
    assert _gone(record, int(record["output"].split()[0]))


def test_a_forked_child_does_not_hold_the_grader(tmp_path):
    # The import ends at once; its grandchild keeps the pipes open for 300 s.
    code = SAY + "import time\nif os.fork() == 0:\n    time.sleep(300); os._exit(0)\nsay('done')\n"
    start = time.monotonic()
    record = _run(code, tmp_path, Limits(wall=120, cpu=30))
    assert record["outcome"] == "not-loaded", record["reason"]  # no chapter name: said so
    assert record["output"].startswith("done\n")
    assert time.monotonic() - start < 60


def test_output_is_capped_in_memory(tmp_path):
    code = "import os\nwhile True:\n    os.write(2, b'x' * 4096)\n"
    record = _run(code, tmp_path, Limits(wall=60, cpu=30, output=100_000))
    assert record["outcome"] == "output"
    assert record["output"] == "x" * batch.OUTPUT_KEPT
    assert record["output_bytes"] > 100_000


def test_memory_limit(tmp_path):
    code = "blocks = []\nwhile True:\n    blocks.append(b'x' * 2**24)\n"
    record = _run(code, tmp_path, Limits(wall=60, cpu=30, memory=768 * 2**20))
    assert (record["outcome"], record["reason"]) == ("memory", "memory limit 768 MiB exceeded")


def test_cpu_limit(tmp_path):
    # SIGXCPU is sent only by the CPU limit.  The CPU time the kernel reports is sampled
    # (ticks), so it may read a little under the 2 s it was stopped at; on a loaded machine
    # the wall time (300 s) is far away either way.
    record = _run("while True:\n    pass\n", tmp_path, Limits(wall=300, cpu=2))
    assert record["outcome"] == "cpu" and record["exit_code"] == -24
    assert 1.5 < record["cpu_seconds"] < 2 + 2 + 0.5


def test_the_hard_cpu_limit_kills_what_ignores_the_soft_one(tmp_path):
    # A submission that ignores SIGXCPU spins on to the hard limit (soft + 2 s), where the
    # kernel kills it: with the hard limit left unlimited it would run until the wall time.
    code = "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass\n"
    record = _run(code, tmp_path, Limits(wall=300, cpu=2))
    assert record["outcome"] == "cpu" and record["exit_code"] == -9
    assert 3.0 < record["cpu_seconds"] < 4 + 0.5


def test_a_restarted_worker_gets_only_the_cpu_time_left(tmp_path):
    # Two functions spin, deaf to the check's alarm: the supervisor stops the first after
    # its time limit (20 + 10 s) or the CPU limit stops it, and a new worker runs the next
    # check with the CPU time left.  A limit per worker would let each spend 6 s and the
    # run end with a report; the submission's limit ends it with the CPU limit.
    code = (
        "import signal\n"
        "def softmax(a):\n"
        "    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n    while True:\n        pass\n"
        "sigmoid = softmax\n"
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "amy.py").write_text(code)
    (amy,) = find_submissions(tmp_path / "sub")
    select = ("softmax.values", "sigmoid.values")
    options = RunOptions(select=select, timeout=20.0, limits=Limits(wall=600, cpu=6))
    record = batch.run_submission(amy, options)
    assert record["outcome"] == "cpu", record["reason"]
    assert record["cpu_seconds"] < 6 + 2 + 0.5


def test_file_size_limit(tmp_path):
    code = SAY + (
        "try:\n    open('big.bin', 'wb').write(bytes(2**21))\n"
        "except OSError as exc:\n    say(exc.errno)\n"
        "say(os.path.getsize('big.bin'))\n"
    )
    record = _run(code, tmp_path, Limits(wall=60, cpu=30, file_size=2**20))
    assert record["output"].split()[:2] == ["27", str(2**20)]  # EFBIG: Python ignores SIGXFSZ


# -- grades and files ---------------------------------------------------------------------------

CHECKS = [{"name": n, "function": n.split(".")[0]} for n in ("a.x", "a.y", "b.z", "b.w", "c.v")]


def _run_record(report, outcome="graded", reason=""):
    return {
        "student": "s",
        "submission": "/class/s.py",
        "outcome": outcome,
        "reason": reason,
        "exit_code": 1,
        "report": report,
        "output": "",
        "output_bytes": 0,
        "seconds": 1.0,
        "cpu_seconds": 1.0,
    }


def test_grade_counts_pass_and_warn():
    report = {
        "checks": [
            {"name": "a.x", "status": "pass"},
            {"name": "a.y", "status": "warn", "warnings": ["x left perturbed"]},
            {"name": "b.z", "status": "fail", "reason": "wrong", "counterexample": "f()"},
            {"name": "b.w", "status": "error", "reason": "runner bug"},
            # c.v is missing from the report
        ]
    }
    entry = grade(_run_record(report), CHECKS, Points(rules={"a": 2}))
    got = {
        row["name"]: (row["status"], row["points"], row["max_points"]) for row in entry["checks"]
    }
    assert got == {
        "a.x": ("pass", 2, 2),
        "a.y": ("warn", 2, 2),
        "b.z": ("fail", 0, 1),
        "b.w": ("error", 0, 1),
        "c.v": ("not run", 0, 1),
    }
    assert (entry["score"], entry["max_score"]) == (4, 7)
    assert entry["checks"][1]["warnings"] == ["x left perturbed"]


def test_a_check_reported_twice_counts_as_its_worst():
    report = {
        "checks": [
            {"name": "a.x", "status": "pass", "file": "common/gradient.py"},
            {"name": "a.x", "status": "fail", "file": "ch04/gradient_2d.py", "reason": "1-D only"},
        ]
    }
    (row, *_) = grade(_run_record(report), CHECKS, Points())["checks"]
    assert (row["status"], row["points"]) == ("fail", 0)
    assert "common/gradient.py" in row["reason"] and "ch04/gradient_2d.py" in row["reason"]


def test_no_report_gives_zero_with_the_reason():
    entry = grade(_run_record(None, "timeout", "timed out after 60 s"), CHECKS, Points())
    assert entry["score"] == 0 and entry["max_score"] == 5
    assert {row["reason"] for row in entry["checks"]} == {"timed out after 60 s"}


def test_reports_follow_gradescope_and_escape_html(tmp_path):
    hostile = "<script>alert(1)</script>"
    report = {
        "checks": [
            {"name": "a.x", "status": "pass"},
            {"name": "a.y", "status": "fail", "reason": hostile, "counterexample": "x = 1"},
            {"name": "b.z", "status": "warn", "warnings": ["a pitfall"]},
        ]
    }
    entries = [grade(_run_record(report), CHECKS, Points(rules={"a.y": 3}))]
    written = write_reports(entries, tmp_path, {"seed": 0})
    results = json.loads(written["gradescope"].read_text())  # one student: results.json
    assert results == json.loads((tmp_path / "gradescope" / "s.json").read_text())
    assert results["score"] == sum(t["score"] for t in results["tests"]) == 2
    tests = {t["name"]: t for t in results["tests"]}
    assert set(tests["a.x"]) == {"name", "score", "max_score", "status", "output", "tags"}
    assert (tests["a.y"]["status"], tests["a.y"]["max_score"]) == ("failed", 3)
    assert "x = 1" in tests["a.y"]["output"]  # the counterexample
    assert tests["b.z"]["status"] == "passed" and "a pitfall" in tests["b.z"]["output"]
    classroom = json.loads((tmp_path / "classroom" / "s.json").read_text())
    assert classroom["max_score"] == 7 and classroom["status"] == "fail"
    page = written["html"].read_text()
    assert hostile not in page and "&lt;script&gt;" in page
    assert "http" not in page and "src=" not in page and "<script" not in page
    for anchor in _links(page):
        assert f'id="{anchor}"' in page


def _links(page: str) -> list[str]:
    return [part.split('"', 1)[0] for part in page.split('href="#')[1:]]


# -- the command line ---------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser


def runner_has_profiles() -> bool:
    """Whether the runner has --profile (the book and strict contracts, issue 12)."""
    return "--profile" in _parser().format_help()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["refnet", "--batch", "."], "either a TARGET or --batch"),
        (["--batch", ".", "-k", "no_such_check"], "selects no check"),
        (["--batch", ".", "--jobs", "0"], "--jobs must be >= 1"),
        (["--batch", "does/not/exist"], "not a directory"),
        (["--single", "."], "--single needs --batch DIR"),
        (["--single"], "--single needs --batch DIR"),
    ],
)
def test_batch_usage_errors_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_scheduler_without_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    submission = Submission("s", "/class/s.py", "s.py", (("s.py", b""),))
    with pytest.raises(
        BatchError, match=r"pip install -e '\.\[cluster\]' in refnet's source folder"
    ):
        batch.run_all([submission], RunOptions(), scheduler="tcp://127.0.0.1:1")


def test_a_submission_too_large_is_not_run(tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "MAX_SUBMISSION_BYTES", 10)
    (tmp_path / "zoe.py").write_text("x = 'more than ten bytes'\n")
    (zoe,) = find_submissions(tmp_path)
    assert zoe.files == () and zoe.problem.startswith("the submission is larger than")
    assert batch.run_submission(zoe, RunOptions())["outcome"] == "not-run"


# -- the fixture class --------------------------------------------------------------------------
#
# Six checks, 10 examples each, one point each except TwoLayerNet.numerical_gradient (2): 7
# points.  The class is graded under the strict contract (refnet's guarantees: the runner
# before profiles existed had only that one), where the integer-x pitfall and a cross-entropy
# without delta fail.  Each entry: score, the outcomes accepted, and the checks that do not
# pass with their status (every other check passes).  Why each:
EXPECTED = {
    # Guards every pitfall: per-row max, delta, float check, try/finally.
    "ada_faithful": (7, {"graded"}, {}),
    # Perturbs a copy: f(copy) is right for an f that uses its argument, but a closure
    # never sees the perturbation (gradient 0), and the network's gradient is all closures.
    "ben_copy_perturb": (
        4,
        {"graded"},
        {"numerical_gradient.closure": "fail", "TwoLayerNet.numerical_gradient": "fail"},
    ),
    # No + b2: the loss ignores b2, so d loss / d b2 is 0 where the true one is not.
    "cara_no_b2": (5, {"graded"}, {"TwoLayerNet.numerical_gradient": "fail"}),
    # Returns after the first element: wrong for the vectors of 2 to 5 elements the checks
    # draw, and for b2 (at least 2 classes) in the network.
    "dan_early_return": (
        3,
        {"graded"},
        {
            "numerical_gradient.vector": "fail",
            "numerical_gradient.closure": "fail",
            "TwoLayerNet.numerical_gradient": "fail",
        },
    ),
    # Normalises over the whole batch: wrong for any batch of 2 or more rows, and so is the
    # network's loss built on it.
    "eve_batch_softmax": (
        4,
        {"graded"},
        {"softmax.batch": "fail", "TwoLayerNet.numerical_gradient": "fail"},
    ),
    # No delta: the loss is off by about 1e-7 / y, far above rounding; no TwoLayerNet at all.
    "finn_no_delta": (
        4,
        {"graded"},
        {"cross_entropy_error.one_sample": "fail", "TwoLayerNet.numerical_gradient": "skip"},
    ),
    # The book's loop on an integer x truncates x[idx] + h: a wrong gradient.
    "gina_integer_x": (6, {"graded"}, {"numerical_gradient.integer_x": "fail"}),
    # Every function raises NotImplementedError: every check fails with that exception.
    "hugo_stubs": (0, {"graded"}, dict.fromkeys(CHECK_NAMES, "fail")),
    # Training at import, then an endless loop at import: both burn CPU until the CPU
    # limit (15 s) stops them (the runner may stop an import first and report it).
    "ivy_trains_at_import": (0, {"cpu", "not-loaded"}, dict.fromkeys(CHECK_NAMES, "not run")),
    "jack_endless_loop": (0, {"cpu", "not-loaded"}, dict.fromkeys(CHECK_NAMES, "not run")),
    # 128 MiB a step at import: MemoryError at the 1 GiB limit.
    "kim_memory_hog": (0, {"memory"}, dict.fromkeys(CHECK_NAMES, "not run")),
    # 10 MB to stderr at import: the runner captures what importing prints (keeping its
    # head for the report), so the debug output costs nothing and Leo is graded on his
    # only function, softmax.  (Output that escapes Python's streams is stopped at the
    # 1 MiB cap: test_output_is_capped_in_memory.)
    "leo_prints_10mb": (
        1,
        {"graded"},
        {name: "skip" for name in CHECK_NAMES if name != "softmax.batch"},
    ),
    # Right code; the files it writes go to its temporary copy.
    "mia_writes_files": (7, {"graded"}, {}),
    # Right code; its forked helper is killed with the process group.
    "nora_forks": (7, {"graded"}, {}),
    # Right code in a folder: chapter4.py imports its own package mylib/.
    "olga": (7, {"graded"}, {}),
}
POINTS = '[checks]\n"TwoLayerNet.numerical_gradient" = 2\n'
SETTINGS = {"max_examples": 10, "timeout": 60.0, "cpu": 15.0, "wall": 300.0, "memory": 2**30}


def _class_argv():
    # The wall time is 20 times the CPU limit: on a machine loaded 7 times over, Ivy and Jack
    # reach their 15 s of CPU long before it (the CPU limit, not the clock, must stop them).
    argv = ["--max-examples", "10", "--timeout", "60", "--cpu-time", "15", "--wall-time", "300"]
    argv += ["--memory", "1GiB", "--jobs", "2"]
    for name in CHECK_NAMES:
        argv += ["-k", name]
    if runner_has_profiles():
        argv += ["--profile", "strict"]
    return argv


def _tree(root: Path) -> dict:
    return {str(p): p.stat().st_size for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    out = tmp_path_factory.mktemp("grades")
    points = out / "points.toml"
    points.write_text(POINTS)
    fixtures_before = _tree(CLASS.parent)
    users_before = batch.users_handed_out()
    code = main(
        ["--batch", str(CLASS), "--out", str(out / "class"), "--points", str(points)]
        + _class_argv()
    )
    students = {
        path.stem: json.loads(path.read_text())
        for path in (out / "class" / "students").glob("*.json")
    }
    users = batch.users_handed_out() - users_before  # this run's, not another grader's
    return {
        "code": code,
        "out": out / "class",
        "students": students,
        "before": fixtures_before,
        "users": users,
    }


@pytest.mark.slow
@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_fixture_class_grades(graded_class, student):
    score, outcomes, not_passing = EXPECTED[student]
    entry = graded_class["students"][student]
    assert entry["outcome"] in outcomes, entry["reason"]
    statuses = {row["name"]: row["status"] for row in entry["checks"]}
    assert list(statuses) == CHECK_NAMES
    assert {name: s for name, s in statuses.items() if s != "pass"} == not_passing
    assert (entry["score"], entry["max_score"]) == (score, 7)


@pytest.mark.slow
def test_fixture_class_left_the_grader_alone(graded_class):
    assert graded_class["code"] == 0
    assert sorted(graded_class["students"]) == sorted(EXPECTED)
    # Nothing written next to the submissions (mia writes beside and above her file).
    assert _tree(CLASS.parent) == graded_class["before"]
    printed = {
        student: entry["report"]["target"]["import_output"]
        for student, entry in graded_class["students"].items()
        if entry["report"]
    }
    assert "could not save weights.bin: [Errno 27] File too large" in printed["mia_writes_files"]
    # Nora's helper was killed with her process group (in a sandbox, with its namespace:
    # the pid she printed is the namespace's, and no process of a submission's user is left).
    nora = printed["nora_forks"]
    helper = int(nora.split("nora: helper process ", 1)[1].split()[0])
    if sandbox.available().bubblewrap:
        deadline = time.monotonic() + 10  # killed at once; a loaded machine may lag
        users = graded_class["users"]
        assert users or not sandbox.available().own_user
        while _submission_users_processes(users) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _submission_users_processes(users)
    else:
        assert _dead_within(helper)
    # Leo printed 10.5 MB while importing: the report keeps its head and counts the rest.
    leo = printed["leo_prints_10mb"]
    assert leo.startswith("debug      0: ") and len(leo) < 21_000
    assert leo.endswith(f"[... {100_000 * 105 - 20_000} more characters not kept]")


@pytest.mark.slow
def test_fixture_class_files(graded_class):
    out = graded_class["out"]
    rows = (out / "class.csv").read_text().splitlines()
    assert rows[0].split(",")[7:] == CHECK_NAMES and len(rows) == 1 + len(EXPECTED)
    assert rows[1].startswith("ada_faithful,7,7,100.0,graded,")
    page = (out / "index.html").read_text()
    for anchor in _links(page):
        assert f'id="{anchor}"' in page
    assert "http" not in page and "<script" not in page
    assert not (out / "results.json").exists()  # only for a batch of one
    for student, (score, _, _) in EXPECTED.items():
        results = json.loads((out / "gradescope" / f"{student}.json").read_text())
        assert results["score"] == score == sum(t["score"] for t in results["tests"])


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in reports.TIMINGS}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _regrade(scheduler=None, jobs=2):
    """Dan and Hugo again, with the class's settings: through the Python API this time."""
    profile = "strict" if runner_has_profiles() else None
    options = RunOptions(
        seed=0,
        max_examples=10,
        timeout=60.0,
        select=tuple(CHECK_NAMES),
        profile=profile,
        limits=Limits(wall=300.0, cpu=15.0, memory=2**30),
    )
    chosen = [s for s in find_submissions(CLASS) if s.student in ("dan_early_return", "hugo_stubs")]
    runs = batch.run_all(chosen, options, jobs=jobs, scheduler=scheduler)
    checks = reports.expected_checks(tuple(CHECK_NAMES), profile)
    points = Points(rules={"TwoLayerNet.numerical_gradient": 2})
    return {run["student"]: _without_timings(grade(run, checks, points)) for run in runs}


def _as_written(graded_class, student):
    entry = dict(graded_class["students"][student])
    entry.pop("settings")
    return _without_timings(entry)


@pytest.mark.slow
def test_same_seed_same_json(graded_class):
    again = _regrade(jobs=1)
    for student, entry in again.items():
        assert entry == _as_written(graded_class, student)


@pytest.mark.slow
def test_dask_cluster_gives_the_same_json(graded_class):
    distributed = pytest.importorskip(
        "dask.distributed",
        reason="the cluster extra is not installed: pip install -e '.[cluster]'",
    )
    # dashboard_address=":0": a free port.  With None the scheduler still serves HTTP on 8787,
    # and a second cluster on the machine (another test run) fails to start.
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        on_cluster = _regrade(scheduler=cluster.scheduler_address)
    for student, entry in on_cluster.items():
        assert entry == _as_written(graded_class, student)


# -- the class page -----------------------------------------------------------------------------


def _class_of(students: int, checks: int, long_reason: str) -> list[dict]:
    names = [{"name": f"function{k // 4}.check_number_{k}", "function": "f"} for k in range(checks)]
    grades = []
    for s in range(students):
        report = {
            "checks": [
                {"name": c["name"], "status": "pass" if (s + k) % 3 else "fail", "reason": "no"}
                for k, c in enumerate(names)
            ]
        }
        run = _run_record(
            report if s else None, "graded" if s else "timeout", long_reason if not s else ""
        )
        grades.append(grade(run | {"student": f"student_{s}"}, names, Points()))
    return grades


def test_class_statistics():
    grades = _class_of(3, 6, "timed out after 600 s")
    stats = reports.class_statistics(grades)
    # Student 0 has no report (0 %); students 1 and 2 pass 4 of 6 checks each (66.7 %).
    assert stats["scores"] == [1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0]
    # Check k passes for student s when (s + k) % 3 != 0, and never for student 0.
    assert stats["pass_rates"]["function0.check_number_0"] == (2, 3)
    assert stats["pass_rates"]["function0.check_number_1"] == (1, 3)
    page = reports.html_page(grades, {"seed": 0})
    assert 'id="distribution"' in page and 'id="pass-rates"' in page


def test_the_class_page_fits_1280_pixels(tmp_path):
    """60 checks, a long reason: no horizontal scrolling of the page, the reason in view."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[browser]'")
    chromium = os.environ.get("REFNET_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        pytest.skip(f"no Chromium at {chromium} (Debian: apt-get install chromium)")
    reason = "exited with code 1 without a report (does the submission call sys.exit?) " * 3
    page_path = tmp_path / "index.html"
    page_path.write_text(reports.html_page(_class_of(4, 60, reason), {"seed": 0}))
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(page_path.as_uri())
            width = page.evaluate("document.documentElement.scrollWidth")
            right = page.evaluate(
                "document.querySelector('#grades td.reason').getBoundingClientRect().right"
            )
        finally:
            browser.close()
    assert width <= 1280 and right <= 1280, (width, right)


@pytest.mark.slow
def test_a_dask_worker_started_beside_a_refnet_folder_grades_with_the_installed_one(tmp_path):
    """A worker started in a folder that holds a ``refnet`` of its own (a source checkout)
    imports that one; the grader's task must not (issue 18)."""
    distributed = pytest.importorskip(
        "dask.distributed",
        reason="the cluster extra is not installed: pip install -e '.[cluster]'",
    )
    decoy = tmp_path / "refnet"
    decoy.mkdir()
    (decoy / "__init__.py").write_text(
        "raise ImportError('the refnet of the folder, not the installed one')\n"
    )
    ada = [s for s in find_submissions(CLASS) if s.student == "ada_faithful"]
    options = RunOptions(select=("softmax.batch",), max_examples=5, limits=Limits(wall=300.0))
    with distributed.LocalCluster(n_workers=0, dashboard_address=":0") as cluster:
        argv = [sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address]
        argv += ["--no-nanny", "--nthreads", "1", "--no-dashboard"]
        worker = subprocess.Popen(argv, cwd=tmp_path, stderr=subprocess.DEVNULL)
        try:
            with distributed.Client(cluster) as client:
                client.wait_for_workers(1, timeout=120)
                # The worker itself would import the decoy: the test can fail.
                spec = client.submit(importlib.util.find_spec, "refnet", pure=False).result()
                assert Path(spec.origin).parent == decoy
            (run,) = batch.run_all(ada, options, scheduler=cluster.scheduler_address)
        finally:
            worker.terminate()
            worker.wait(timeout=60)
    assert run["outcome"] == "graded", run["reason"]
    assert [c["status"] for c in run["report"]["checks"]] == ["pass"]


def test_a_cache_from_another_oracle_is_filled_again(tmp_path, monkeypatch, capsys):
    """A kept cache (REFNET_GRADER_CACHE) is read only when it was filled by this oracle,
    JAX and NumPy: one from another version could hold another oracle's values."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "oracle.json").write_text("{}")
    (cache / batch.STAMP).write_text(json.dumps(batch.cache_stamp() | {"numpy": "0.0"}))
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "amy.py").write_text((ROOT / "tests" / "fixtures" / "book_chapter4.py").read_text())
    monkeypatch.setenv("REFNET_GRADER_CACHE", str(cache))
    argv = ["--batch", str(folder), "--out", str(tmp_path / "out"), "-k", "softmax.batch"]
    assert main([*argv, "--max-examples", "3", "--profile", "book"]) == 0
    assert "filled by another version" in capsys.readouterr().err
    assert batch.cache_is_current(cache)
    assert json.loads((cache / "oracle.json").read_text())  # the warm-up's values, again
    (cache / batch.STAMP).write_text(json.dumps(batch.cache_stamp() | {"oracle": "other"}))
    assert not batch.cache_is_current(cache)
