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

import pytest

from refnet.conformance.checks import CHECKS
from refnet.conformance.runner import run
from refnet.conformance.target import load_target

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
    from refnet.conformance.checks_gradients import VALUE_FORMS

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
