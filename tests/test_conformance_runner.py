"""The runner's own correctness: every fault found by pointing it at real chapter-4 code.

Each test here failed before its fix: a skeleton of NotImplementedError stubs made a check
ERROR (hypothesis Unsatisfiable) instead of FAIL; no check drew an f returning a Python
float, so ``f(x).copy()`` passed; a softmax subtracting the batch's maximum passed; the
TwoLayerNet checks shrank the biases to zero; an empty ``-k`` exited 0; ``.hypothesis/``
was written into the working directory; a file that trains when imported hung the command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from refnet.conformance.checks import CHECKS
from refnet.conformance.finding.target import load_target
from refnet.conformance.running.runner import run

from .conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures"
SMALL = 5


def command(*argv, cwd=ROOT, timeout=300, env=None):
    """``python -m refnet.conformance ARGV`` in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "refnet.conformance", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=env,
    )


def statuses(report) -> dict[str, str]:
    return {r.name: r.status for r in report.results}


@pytest.mark.parametrize("profile", ["book", "strict"])
def test_a_skeleton_of_stubs_fails_every_check_with_its_exception_and_errs_none(profile):
    report = run(load_target(str(FIXTURES / "stubs.py")), profile=profile, max_examples=SMALL)
    ran = [r for r in report.results if r.status != "skip"]
    assert ran and all(r.status == "fail" for r in ran), {
        r.name: r.reason for r in ran if r.status != "fail"
    }
    for result in ran:
        assert "NotImplementedError" in result.reason, (result.name, result.reason)
        assert result.exception["type"] == "NotImplementedError"
    on_error = next(r for r in ran if r.name == "numerical_gradient.restores_x_on_error")
    # The reproduction makes the call unguarded, so that it raises when pasted.
    done = subprocess.run(
        [sys.executable, "-c", on_error.counterexample], capture_output=True, text=True
    )
    assert "NotImplementedError: numerical_gradient: write me" in done.stderr


def test_an_f_returning_a_python_float_breaks_f_of_x_dot_copy():
    report = run(
        load_target(str(FIXTURES / "copies_f_value.py")),
        profile="strict",
        max_examples=SMALL,
        select=["numerical_diff", "numerical_gradient.vector", "numerical_gradient.f_returns"],
    )
    assert statuses(report) == {
        "numerical_diff.central": "pass",
        "numerical_diff.f_returns": "fail",
        "numerical_gradient.vector": "pass",
        "numerical_gradient.f_returns": "fail",
    }
    for result in report.results:
        if result.status == "fail":
            assert "AttributeError: 'float' object has no attribute 'copy'" in result.reason


def test_each_value_form_of_f_is_drawn():
    """The forms: a Python float, a 0-d array and a NumPy scalar, each in every example."""
    from refnet.conformance.checks.gradients import VALUE_FORMS

    assert [form for form, _ in VALUE_FORMS.values()] == [
        "a Python float",
        "a 0-d array",
        "a NumPy scalar",
    ]
    namespace = {"np": __import__("numpy"), "f": lambda x: __import__("numpy").sum(x)}
    made = [eval(expression, {**namespace, "x": 1.5}) for _, expression in VALUE_FORMS.values()]
    assert [type(v).__name__ for v in made] == ["float", "ndarray", "float64"]
    assert made[1].ndim == 0


def test_a_softmax_shifted_by_the_batchs_maximum_fails_rows_hundreds_apart():
    report = run(
        load_target(str(FIXTURES / "global_max_softmax.py")), profile="book", max_examples=SMALL
    )
    ran = {r.name: r for r in report.results if r.status != "skip"}
    assert {name: r.status for name, r in ran.items()} == {
        "softmax.values": "pass",
        "softmax.batch": "pass",  # rows in [-20, 20]: a shared shift does no harm there
        "softmax.rows_apart": "fail",
        "softmax.large_logits": "pass",  # one row: its maximum is the batch's
        "softmax.input_unchanged": "pass",
    }
    assert "each row's maximum" in ran["softmax.rows_apart"].reason


def test_every_two_layer_net_check_sets_nonzero_biases():
    """bias_spy's network raises if it is ever run with a zero entry in b1 or b2."""
    report = run(load_target(str(FIXTURES / "bias_spy.py")), profile="strict", max_examples=SMALL)
    assert statuses(report) == {
        check.name: "pass" for check in CHECKS if check.function == "TwoLayerNet"
    } | {check.name: "skip" for check in CHECKS if check.function != "TwoLayerNet"}


def test_a_gradient_that_is_numerical_is_noted_under_book_and_fails_under_strict():
    target = load_target(str(FIXTURES / "student_package" / "ch4lib"))
    book = run(target, profile="book", max_examples=SMALL, select=["TwoLayerNet.gradient"])
    strict = run(target, profile="strict", max_examples=SMALL, select=["TwoLayerNet.gradient"])
    (noted,), (failed,) = book.results, strict.results
    assert noted.status == "pass"
    assert any(note.startswith("numerical, not backpropagation") for note in noted.notes)
    assert failed.status == "fail"
    assert "numerical, not backpropagation" in failed.reason


def test_refnets_backpropagation_is_not_taken_for_a_numerical_gradient():
    report = run(load_target("refnet"), profile="book", select=["TwoLayerNet.gradient"])
    (result,) = report.results
    assert result.status == "pass" and result.notes == []


# -- through the command: child processes, limits, the working directory ----------------------


def test_an_empty_selection_exits_2():
    done = command("refnet", "-k", "no_such_check")
    assert done.returncode == 2
    assert "no check of the strict profile starts with 'no_such_check'" in done.stderr


def test_a_run_writes_nothing_into_the_working_directory_or_the_targets(tmp_path):
    shutil.copytree(FIXTURES / "book_layout", tmp_path / "repo")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    done = command("repo", "-k", "numerical_gradient.vector", "--max-examples", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert after == before  # no .hypothesis/, no __pycache__/


def test_a_file_that_trains_when_imported_is_reported_as_a_script_within_the_limit():
    done = command(str(FIXTURES / "trains_at_import.py"), "--timeout", "3", timeout=120)
    assert done.returncode == 2
    assert "looks like a script: importing trains_at_import.py ran for more than 3 s" in done.stderr
    assert "if __name__ == '__main__':" in done.stderr


def test_a_target_that_plots_when_imported_runs_headless(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND")}
    done = command(
        str(FIXTURES / "plots_at_import.py"), "-k", "sigmoid", "--max-examples", "3", env=env
    )
    assert done.returncode == 0, done.stderr
    assert "1 pass, 0 warn, 0 fail, 0 error" in done.stdout


def test_code_the_alarm_cannot_stop_and_a_dying_process_still_give_a_whole_report(tmp_path):
    report_path = tmp_path / "report.json"
    done = command(
        str(FIXTURES / "unstoppable.py"),
        "-k",
        "softmax.values",
        "-k",
        "sigmoid",
        "-k",
        "numerical_diff.central",
        "--timeout",
        "3",  # enough for the oracle's first compilation, under load
        "--max-examples",
        "3",
        "--json",
        str(report_path),
        timeout=200,
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(report_path.read_text())
    results = {r["name"]: r for r in report["checks"]}
    assert {name: r["status"] for name, r in results.items()} == {
        "softmax.values": "pass",
        "sigmoid.values": "fail",
        "numerical_diff.central": "fail",
    }
    assert "could not be interrupted" in results["sigmoid.values"]["reason"]
    assert "ended (exit code 7)" in results["numerical_diff.central"]["reason"]


def test_a_file_whose_import_cannot_be_interrupted_is_left_out_and_the_rest_checked(tmp_path):
    report_path = tmp_path / "report.json"
    done = command(
        str(FIXTURES / "hangs_at_import"),
        "--timeout",
        "3",  # enough for the oracle's first compilation, under load
        "--max-examples",
        "3",
        "-k",
        "softmax.values",
        "-k",
        "sigmoid",
        "--json",
        str(report_path),
        timeout=200,
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(report_path.read_text())
    assert report["target"]["problems"] == [
        {
            "file": "ignores_alarm.py",
            "problem": "looks like a script: importing ignores_alarm.py ran for more than 3 s; "
            "guard the code that trains or plots with `if __name__ == '__main__':`",
        }
    ]
    results = {r["name"]: r for r in report["checks"]}
    assert results["softmax.values"]["status"] == "pass"
    assert results["sigmoid.values"]["status"] == "fail"
    assert results["sigmoid.values"]["file"] == "ignores_alarm.py"
    assert results["sigmoid.values"]["reason"].startswith("looks like a script")


def test_what_a_target_prints_is_kept_only_to_a_limit(tmp_path):
    path = tmp_path / "chatty_target.py"
    path.write_text(
        "import numpy as np\n\n"
        "def sigmoid(x):\n"
        "    print('x' * 1_000_000)  # a megabyte a call\n"
        "    return 1 / (1 + np.exp(-x))\n"
    )
    report = run(load_target(str(path)), max_examples=SMALL, select=["sigmoid"])
    (result,) = report.results
    assert result.status == "pass"
    assert result.output.startswith("x" * 2000 + "\n[... ")
    assert result.output.endswith("more characters not kept]")
    assert len(result.output) < 2100


def test_what_importing_prints_is_reported_and_a_relative_path_is_not_imported_outside(tmp_path):
    # A file named by a relative path ("ch4.py") was once taken for a module name first:
    # find_spec("ch4.py") imported ch4 to look for a submodule "py", running the student's
    # code outside the runner's capture and time limit, so what it printed bypassed the
    # report.  Both spellings now import it once, captured; what it writes below Python's
    # streams (a C library, os.write) still reaches the user's stderr.
    code = (
        "import os, sys\nimport numpy as np\n"
        "print('from print')\nsys.stderr.write('from sys.stderr\\n')\n"
        "os.write(2, b'from fd 2\\n')\n"
        "def sigmoid(x):\n    return 1 / (1 + np.exp(-x))\n"
    )
    (tmp_path / "ch4.py").write_text(code)
    for spec in ("ch4.py", str(tmp_path / "ch4.py")):
        done = command(spec, "-k", "sigmoid", "--json", "r.json", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        printed = json.loads((tmp_path / "r.json").read_text())["target"]["import_output"]
        assert printed == "from print\nfrom sys.stderr\n", spec
        assert "importing printed:\n  | from print\n  | from sys.stderr\n" in done.stdout
        assert "from print" not in done.stderr and "from fd 2" in done.stderr, spec


# -- grades an instructor can sign (tests/fixtures/class_grades) ------------------------------

GRADES = FIXTURES / "class_grades"
#: Checks every complete chapter is graded on: all but the squared error's second name
#: (graded once) and chapter 5's backpropagation (optional, absent).
COMPLETE_MAXIMUM = len(CHECKS) - 4


def graded(path, *more, profile="book", timeout=300):
    """Run the command on ``path`` (a fresh process: every submission imports its own
    ``common``) and grade its report with default points: (report, grade)."""
    from refnet.conformance.reports import Points, expected_checks, grade

    out = ROOT / "runs" / "test-grades"
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / f"{os.getpid()}-{abs(hash(str(path)))}.json"
    argv = [str(path), "--max-examples", str(SMALL), "--json", str(json_path), *more]
    select = [more[i + 1] for i, arg in enumerate(more) if arg == "-k"]
    done = command(*argv, "--profile", profile, timeout=timeout)
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(json_path.read_text(encoding="utf-8"))
    json_path.unlink()
    run_record = {"student": "s", "submission": str(path), "outcome": "graded", "reason": ""}
    return report, grade(run_record | {"report": report}, expected_checks(select), Points())


@pytest.mark.parametrize(
    "name",
    [
        "book_style.py",
        "vectorised.py",
        "class_based.py",
        "notebook.ipynb",
        "magics.ipynb",
        "folder_with_notebook",
        "odd_names/alice-ch4.py",
    ],
)
def test_a_complete_correct_chapter_scores_100_percent_under_the_book_profile(name):
    report, entry = graded(GRADES / name)
    missed = {r["name"]: r["reason"] for r in entry["checks"] if r["points"] < r["max_points"]}
    assert not missed, missed
    assert entry["score"] == entry["max_score"] == COMPLETE_MAXIMUM
    not_graded = {r["name"] for r in entry["checks"] if r["status"] == "not graded"}
    assert "TwoLayerNet.gradient" in not_graded and len(not_graded) == 4


def test_a_vectorised_chapter_that_refuses_nothing_scores_100_percent_under_strict_too():
    report, entry = graded(GRADES / "vectorised.py", profile="strict")
    assert entry["score"] == entry["max_score"] == COMPLETE_MAXIMUM, [
        (r["name"], r["reason"]) for r in entry["checks"] if r["points"] < r["max_points"]
    ]


@pytest.mark.parametrize(
    ("name", "strict_failures"),
    [
        # The text's label version: one-hot targets refused (a note under book).
        (
            "label_only.py",
            {
                "cross_entropy_error.one_sample",
                "cross_entropy_error.batch",
                "TwoLayerNet.loss",
                "TwoLayerNet.accuracy",
            },
        ),
        # Section 4.4's loop over range(x.size): 1-D x only.
        (
            "one_d_only.py",
            {
                "cross_entropy_error.target_forms",  # its one-hot cross-entropy refuses labels
                "numerical_gradient.any_shape",
                "numerical_gradient.integer_x",
                "numerical_gradient.restores_x_on_error",
                "numerical_gradient.float32_x",
            },
        ),
    ],
)
def test_a_narrower_contract_the_book_allows_costs_nothing_under_book_and_fails_under_strict(
    name, strict_failures
):
    book, entry = graded(GRADES / name)
    lost = {r["name"] for r in entry["checks"] if r["status"] in ("fail", "error")}
    assert not lost, lost
    refusals = [n for r in book["checks"] for n in r["notes"] if n.startswith("refuses")]
    assert refusals  # each refusal is said, with its exception
    strict, _ = graded(GRADES / name, profile="strict")
    failed = {r["name"] for r in strict["checks"] if r["status"] == "fail"}
    assert failed == strict_failures


def test_a_chapter_5_network_with_layers_sharing_params_passes_every_network_check():
    report, entry = graded(GRADES / "chapter5_net.py", "-k", "TwoLayerNet")
    rows = {r["name"]: r for r in entry["checks"] if r["name"].startswith("TwoLayerNet")}
    assert {name: row["status"] for name, row in rows.items()} == dict.fromkeys(rows, "pass")
    assert rows["TwoLayerNet.gradient"]["max_points"] == 1  # present: graded
    # Weights are set in place, so the layers that hold them see them.
    (loss,) = [r for r in report["checks"] if r["name"] == "TwoLayerNet.loss"]
    assert loss["status"] == "pass"


@pytest.mark.parametrize(
    ("name", "functions"),
    [
        ("alice-ch4.py", None),
        ("4장 과제.py", {"softmax", "cross_entropy_error"}),
        ("이영희 과제4.py", {"numerical_diff"}),
        ("4-3-1NumericalDiff.py", {"numerical_diff"}),
        ("ex4-14.py", {"sigmoid"}),
        ("ch4.final.v2.py", {"mean_squared_error"}),
    ],
)
def test_any_file_name_is_imported_by_its_path_and_reported_as_named(name, functions):
    report, entry = graded(GRADES / "odd_names" / name)
    assert report["target"]["problems"] == []
    found = report["target"]["found"]
    assert {entry["file"] for entry in found.values()} == {name}
    if functions is not None:
        assert set(found) == functions
    ran = [r for r in report["checks"] if r["function"] in found]
    assert ran and all(r["file"] == name for r in ran)
    if name.startswith("이영희"):  # a forward difference: the grade still sees the defect
        assert {r["status"] for r in ran} == {"fail"}
    else:
        assert {r["status"] for r in ran} <= {"pass", "warn", "skip"}


def test_a_notebooks_magics_and_failing_cells_are_removed_each_with_a_note():
    report, entry = graded(GRADES / "magics.ipynb", "-k", "softmax")
    notes = "\n".join(report["target"]["notes"])
    assert "removed '%matplotlib inline'" in notes and "removed '!pip install numpy'" in notes
    assert "removed 'files = !ls'" in notes and "%%bash cell is not Python" in notes
    assert "%%time removed" in notes and "removed 'np.sum?'" in notes
    assert "raised NameError" in notes  # a cell that fails is left out, the rest still run
    assert entry["score"] == entry["max_score"] == 5


def test_what_a_folder_holds_that_is_not_graded_is_listed_with_the_reason(tmp_path):
    shutil.copytree(GRADES / "folder_with_notebook", tmp_path / "sub")
    (tmp_path / "sub" / "notes.txt").write_text("my notes")
    (tmp_path / "sub" / "plot.py").write_text("print('a plot')\n")
    report, _ = graded(tmp_path / "sub", "-k", "softmax")
    listed = {e["file"]: e["reason"] for e in report["target"]["not_graded"]}
    assert listed["notes.txt"] == "not Python"
    assert "defines none of the chapter's names" in listed["plot.py"]
    assert "chapter4.ipynb" not in listed and "common/functions.py" not in listed


def test_a_function_that_never_returns_costs_only_its_own_and_its_callers_checks():
    start = time.monotonic()
    report, entry = graded(GRADES / "hang_in_numerical_gradient.py", "--timeout", "30")
    assert time.monotonic() - start < 180
    rows = {r["name"]: r for r in entry["checks"]}
    callers = {"gradient_descent", "simpleNet.gradient", "TwoLayerNet.numerical_gradient"}
    for name, row in rows.items():
        if name.startswith("numerical_gradient.") or any(name.startswith(c) for c in callers):
            assert row["points"] == 0, name
        elif row["status"] != "not graded":
            assert row["points"] == row["max_points"] == 1, (name, row["reason"])
    timed_out = [r for r in report["checks"] if r["timed_out"]]
    assert [r["name"] for r in timed_out] == ["numerical_gradient.vector"]
    not_run = [r for r in report["checks"] if r["reason"].startswith("not run:")]
    assert all(
        r["reason"] == "not run: numerical_gradient did not return within 30 s" for r in not_run
    )
    assert len(not_run) == 8 + 2 + 1 + 1  # its other checks, descent (2), the two networks'
    assert report["complete"] is True


def test_one_root_failure_is_one_message_naming_the_checks_it_explains(tmp_path):
    source = (GRADES / "vectorised.py").read_text(encoding="utf-8")
    path = tmp_path / "no_restore.py"
    path.write_text(source.replace("            x[idx] = kept\n", "            pass\n"))
    report, _ = graded(path, "-k", "numerical_gradient", "-k", "gradient_descent")
    (cause,) = report["causes"]
    assert cause["root"] == "numerical_gradient.restores_x"
    assert cause["message"].endswith(
        "fail because numerical_gradient leaves x perturbed after each call"
    )
    failed = [r for r in report["checks"] if r["status"] == "fail"]
    assert cause["checks"] == [r["name"] for r in failed if r["name"] == cause["root"]] + [
        r["name"] for r in failed if r["name"] != cause["root"]
    ]
    assert all(r["reason"].startswith("follows from") for r in failed if r["name"] != cause["root"])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("student", "root", "explained"),
    [
        # Perturbs a copy: a closure sees no change, and so does the network's gradient.
        ("ben_copy_perturb", "numerical_gradient.closure", ["TwoLayerNet.numerical_gradient"]),
        # Drops b2: the loss is off, and its gradient with it; not the accuracy (predict).
        ("cara_no_b2", "TwoLayerNet.loss", ["TwoLayerNet.numerical_gradient"]),
        # The section-3.5 softmax given a batch: the book's pitfall (a warning), and the
        # network built on it fails: its loss (a root itself) and the loss's gradient.
        (
            "eve_batch_softmax",
            "softmax.batch",
            ["TwoLayerNet.loss", "TwoLayerNet.numerical_gradient"],
        ),
        # An early return: every multi-element gradient, but not the float32 check, whose
        # one-element example the early return cannot spoil, nor x left perturbed on error.
        (
            "dan_early_return",
            "numerical_gradient.vector",
            [
                "numerical_gradient.any_shape",
                "numerical_gradient.f_returns",
                "numerical_gradient.model_losses",
                "numerical_gradient.closure",
                "TwoLayerNet.numerical_gradient",
            ],
        ),
    ],
)
def test_each_root_names_the_cause_of_the_failures_it_explains(student, root, explained):
    select = ["-k", "numerical_gradient", "-k", "softmax", "-k", "TwoLayerNet"]
    report, _ = graded(FIXTURES / "class" / f"{student}.py", *select)
    (cause,) = report["causes"]
    assert cause["root"] == root
    assert sorted(cause["checks"]) == sorted([root, *explained])
    by_name = {r["name"]: r for r in report["checks"]}
    assert all(by_name[name]["reason"].startswith(f"follows from {root}") for name in explained)
    outside = [r for r in report["checks"] if r["name"] not in cause["checks"]]
    assert not [r["name"] for r in outside if r["reason"].startswith("follows from")]


def test_a_check_not_graded_is_in_no_maximum_and_no_failed_test_unless_the_points_file_names_it():
    from refnet.conformance.reports import Points, grade, gradescope_results

    def result(name, status, graded=True, reason=""):
        return {"name": name, "status": status, "graded": graded, "reason": reason}

    report = {
        "checks": [
            result("softmax.values", "pass"),
            result("sum_squared_error.batch", "skip", False, "not graded: graded as mean"),
            result("TwoLayerNet.gradient", "skip", False, "not graded: no gradient method"),
            result("sigmoid.values", "skip", True, "sigmoid not found in the target"),
        ]
    }
    checks = [{"name": r["name"], "function": r["name"].split(".")[0]} for r in report["checks"]]
    run_record = {"student": "s", "submission": "s.py", "outcome": "graded", "reason": ""}
    entry = grade(run_record | {"report": report}, checks, Points())
    assert (entry["score"], entry["max_score"]) == (1, 2)  # "not found" counts, 0 points
    tests = {t["name"]: t for t in gradescope_results(entry | {"run": {}})["tests"]}
    not_graded = tests["sum_squared_error.batch (not graded)"]
    assert "status" not in not_graded and not_graded["max_score"] == 0
    assert tests["sigmoid.values"]["status"] == "failed"
    # A points file that names the optional check grades it for everyone.
    named = grade(
        run_record | {"report": report}, checks, Points(rules={"TwoLayerNet.gradient": 2})
    )
    assert (named["score"], named["max_score"]) == (1, 4)
    # And 0 points leaves a check out.
    zero = grade(run_record | {"report": report}, checks, Points(rules={"sigmoid": 0}))
    assert (zero["score"], zero["max_score"]) == (1, 1)


def test_an_unused_literal_does_not_change_the_examples(tmp_path, monkeypatch):
    """Every student meets the same examples from the same seed: hypothesis must not draw
    from the literals in a submission's source (it does by default since 6.131)."""
    from refnet.conformance import oracle

    source = (ROOT / "tests" / "fixtures" / "book_chapter4.py").read_text()
    plain = tmp_path / "plain.py"
    plain.write_text(source)
    noted = tmp_path / "noted.py"
    noted.write_text(source + "\n_UNUSED = (0.7071, 123.25, -3.5e-3, 1e-300, 17, 99999)\n")
    seen = []
    for path in (plain, noted):
        monkeypatch.setattr(oracle, "VALUES", {})
        report = run(load_target(str(path)), profile="book", max_examples=10, select=["softmax"])
        assert report.results and all(r.status in ("pass", "warn") for r in report.results)
        seen.append(set(oracle.VALUES))  # every example's oracle call, by its arguments
    assert seen[0] and seen[0] == seen[1]
