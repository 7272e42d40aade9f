"""The conformance runner: refnet passes every check, planted defects fail exactly theirs.

The runner is pointed, in-process, at the implementation under test, at a deliberately
defective implementation (tests/conformance_fixtures/defective.py) and at the book's own
code (tests/conformance_fixtures/book_chapter4.py), and every verdict is asserted.  The
reproductions it prints are run in a fresh interpreter, and must fail there too.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refnet.conformance import oracle
from refnet.conformance.case import literal
from refnet.conformance.checks import CHECKS
from refnet.conformance.cli import main
from refnet.conformance.runner import run
from refnet.conformance.target import Target, load_target
from refnet.conformance.tolerances import same_formula_bound

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = "tests/conformance_fixtures"
HOW_TO = ROOT / "docs" / "how-to" / "conformance.md"
#: Examples per check in the runs below: small, to keep the suite fast; the defective run
#: uses the command's default, because the how-to page shows its report.
SMALL = 5
DEFAULT = 25


@contextlib.contextmanager
def working_directory(path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def verdicts(report) -> dict[str, str]:
    return {r.name: r.status for r in report.results}


def expected(fail=(), skip=()) -> dict[str, str]:
    table = {check.name: "pass" for check in CHECKS}
    table.update({name: "fail" for name in fail})
    table.update({name: "skip" for name in skip})
    return table


def skipped_for(*functions) -> list[str]:
    return [check.name for check in CHECKS if check.function in functions]


@pytest.fixture(scope="module")
def defective_report():
    # Loaded by its relative path from the project root, as the how-to page runs it.
    with working_directory(ROOT):
        target = load_target(f"{FIXTURES}/defective.py")
    return run(target, max_examples=DEFAULT, seed=0)


@pytest.fixture(scope="module")
def book_report():
    with working_directory(ROOT):
        target = load_target(f"{FIXTURES}/book_chapter4.py")
    return run(target, max_examples=SMALL, seed=0)


# -- verdicts -------------------------------------------------------------------------------------


def test_the_implementation_under_test_passes_every_check(impl):
    report = run(Target.from_module(impl), max_examples=SMALL, seed=0)
    bad = {r.name: r.reason for r in report.results if r.status in ("fail", "error")}
    assert not bad, bad
    assert report.exit_code == 0
    if impl.__name__ == "refnet":
        # refnet has every name but sum_squared_error (its squared error is a batch mean).
        assert verdicts(report) == expected(skip=skipped_for("sum_squared_error"))


def test_the_defective_implementation_fails_exactly_its_planted_defects(defective_report):
    assert verdicts(defective_report) == expected(
        fail=[
            "softmax.large_logits",  # no subtraction of the row maximum
            "cross_entropy_error.target_forms",  # one-hot targets only
            "numerical_diff.central",  # a forward difference
            "numerical_gradient.restores_x_on_error",  # no try/finally
            "numerical_gradient.integer_x",  # perturbs an integer x in place
            "gradient_descent.init_x_unchanged",  # descends on init_x itself
            "TwoLayerNet.accuracy_labels",  # np.argmax(t, axis=1) of labels
        ],
        skip=[*skipped_for("sum_squared_error", "simpleNet"), "TwoLayerNet.gradient"],
    )
    assert defective_report.exit_code == 1
    reasons = {r.name: r.reason for r in defective_report.results}
    assert "nan" in reasons["softmax.large_logits"]
    assert "got 5000.0, expected 2.0" in reasons["numerical_gradient.integer_x"]
    assert "AxisError" in reasons["TwoLayerNet.accuracy_labels"]
    assert reasons["TwoLayerNet.gradient"] == "TwoLayerNet has no gradient method"
    assert reasons["simpleNet.loss"] == "simpleNet not found in the target"


def test_the_books_own_code_fails_where_the_book_is_fragile(book_report):
    assert verdicts(book_report) == expected(
        fail=[
            "mean_squared_error.batch",  # 0.5 * np.sum((y - t)**2) sums over a batch
            "cross_entropy_error.target_forms",  # the one-hot version given labels
            "numerical_gradient.any_shape",  # the loop is for 1-D x (2-D: rows)
            "numerical_gradient.restores_x_on_error",  # no try/finally
            "numerical_gradient.integer_x",  # [25000, 35000]
            "gradient_descent.init_x_unchanged",  # x = init_x; x -= ...
            "TwoLayerNet.accuracy_labels",  # np.argmax(t, axis=1)
        ],
        skip=[*skipped_for("sum_squared_error"), "TwoLayerNet.gradient"],
    )
    reasons = {r.name: r.reason for r in book_report.results}
    assert "check it as sum_squared_error" in reasons["mean_squared_error.batch"]


def test_a_rename_checks_the_books_squared_error_under_the_sum_convention():
    with working_directory(ROOT):
        target = load_target(
            f"{FIXTURES}/book_chapter4.py", ["sum_squared_error=mean_squared_error"]
        )
    assert target.found["sum_squared_error"].import_line() == (
        "from book_chapter4 import mean_squared_error as sum_squared_error"
    )
    report = run(target, max_examples=SMALL, select=["sum_squared_error", "mean_squared_error"])
    assert {r.name: r.status for r in report.results} == {
        **{name: "pass" for name in skipped_for("sum_squared_error")},
        **{name: "skip" for name in skipped_for("mean_squared_error")},
    }


def test_a_directory_with_a_mapping_checks_the_slides_label_version_of_cross_entropy():
    target = load_target(
        str(ROOT / FIXTURES),
        [
            "cross_entropy_error=book_chapter4:cross_entropy_error_labels",
            "sigmoid=book_chapter4:sigmoid",
        ],
    )
    assert set(target.found) == {"cross_entropy_error", "sigmoid"}
    report = run(target, max_examples=SMALL, select=["cross_entropy_error", "sigmoid"])
    statuses = verdicts(report)
    # The label version cannot take one-hot rows: y[np.arange(N), t] with a float t.
    assert statuses == {
        "sigmoid.values": "pass",
        **{name: "fail" for name in skipped_for("cross_entropy_error")},
    }
    reasons = {r.name: r.reason for r in report.results}
    assert "IndexError" in reasons["cross_entropy_error.batch"]


HOSTILE = """
import sys
import time
import numpy as np

def softmax(a):
    print("softmax was called")
    sys.exit(3)

def sigmoid(x):
    while True:
        pass

def numerical_diff(f, x):
    raise KeyError("surprise")

def cross_entropy_error(y, t):
    return None

def gradient_descent(f, init_x, lr=0.01, step_num=100):
    time.sleep(0.2)  # slow, and wrong: the time limit falls while hypothesis shrinks
    return init_x + 1.0
"""


def test_each_check_is_isolated_from_a_hostile_target(tmp_path):
    path = tmp_path / "hostile_target.py"
    path.write_text(HOSTILE)
    report = run(
        load_target(str(path)),
        max_examples=SMALL,
        timeout=0.5,
        select=[
            "softmax.values",
            "sigmoid",
            "numerical_diff",
            "cross_entropy_error.batch",
            "gradient_descent.matches_jax",
        ],
    )
    results = {r.name: r for r in report.results}
    assert {name: r.status for name, r in results.items()} == {
        "softmax.values": "fail",
        "sigmoid.values": "fail",
        "numerical_diff.central": "fail",
        "cross_entropy_error.batch": "fail",
        "gradient_descent.matches_jax": "fail",
    }
    assert "raised SystemExit: 3" in results["softmax.values"].reason
    assert results["softmax.values"].output.startswith("softmax was called")
    assert results["softmax.values"].exception["type"] == "SystemExit"
    assert "no answer within 0.5 s" in results["sigmoid.values"].reason
    assert not results["sigmoid.values"].shrunk
    assert "KeyError" in results["numerical_diff.central"].reason
    assert "returned None" in results["cross_entropy_error.batch"].reason
    slow = results["gradient_descent.matches_jax"]
    assert "stopped hypothesis while it was shrinking" in slow.reason
    assert "off by more than the error bound" in slow.reason
    assert "gradient_descent(f, init_x, lr=" in slow.counterexample


# -- reproductions -------------------------------------------------------------------------------

RUN_REPRODUCTIONS = textwrap.dedent(
    """
    import contextlib, json, sys
    outcomes = []
    for code in json.load(sys.stdin):
        try:
            with contextlib.redirect_stdout(sys.stderr):  # what the target prints
                exec(compile(code, "<reproduction>", "exec"), {})
        except BaseException as exc:
            outcomes.append(type(exc).__name__)
        else:
            outcomes.append(None)
    print(json.dumps(outcomes))
    """
)


@pytest.mark.parametrize("which", ["defective_report", "book_report"])
def test_every_counterexample_fails_again_when_pasted_into_a_fresh_interpreter(which, request):
    report = request.getfixturevalue(which)
    failures = [r for r in report.results if r.status == "fail"]
    assert failures and all(r.counterexample for r in failures)
    done = subprocess.run(
        [sys.executable, "-c", RUN_REPRODUCTIONS],
        input=json.dumps([r.counterexample for r in failures]),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    outcomes = json.loads(done.stdout)
    for result, outcome in zip(failures, outcomes, strict=True):
        # A wrong value fails the reproduction's final assert; a crash raises the same error.
        wanted = result.exception["type"] if result.exception else "AssertionError"
        assert outcome == wanted, (result.name, result.counterexample)


def test_a_reproduction_runs_exactly_the_calls_it_shows(defective_report):
    result = next(r for r in defective_report.results if r.name == "numerical_gradient.integer_x")
    assert result.shrunk
    assert result.counterexample == textwrap.dedent(
        """\
        import numpy as np
        import sys; sys.path.insert(0, 'tests/conformance_fixtures')
        from defective import numerical_gradient
        def f(x):
            return np.sum(x**2)

        x = np.array([1], dtype=np.int64)
        x_before = x.copy()
        grad = numerical_gradient(f, x)
        expected = np.array([2.0])  # 2 x, the gradient of sum(x**2)
        bound = np.array([3.997557875834445e-11])  # the error bound of this comparison
        assert np.shape(grad) == np.shape(expected) and np.all(np.abs(grad - expected) <= bound)
        """
    )


@given(
    hnp.arrays(
        st.sampled_from([np.float64, np.float32, np.float16, np.int64, np.uint8, np.bool_]),
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
    )
)
def test_literals_round_trip_bit_for_bit(array):
    """±inf, -0.0, subnormals, every dtype and empty shapes come back bit for bit; NaN as
    NaN of the same sign (a payload is not kept: no input of a check is NaN)."""
    back = eval(literal(array), {"np": np})
    assert back.dtype == array.dtype and back.shape == array.shape
    if array.dtype.kind == "f":
        nan = np.isnan(array)
        assert np.array_equal(np.isnan(back), nan)
        assert np.array_equal(np.signbit(back), np.signbit(array))
        array, back = array[~nan], back[~nan]
    assert back.tobytes() == array.tobytes()


# -- the command line -------------------------------------------------------------------------------


def test_the_command_exits_1_on_a_failure_and_writes_json(tmp_path, capsys):
    path = tmp_path / "report.json"
    code = main(
        [
            str(ROOT / FIXTURES / "defective.py"),
            "-k",
            "softmax",
            "--max-examples",
            "5",
            "--json",
            str(path),
        ]
    )
    assert code == 1
    text = capsys.readouterr().out
    assert re.search(r"softmax\.large_logits\s+FAIL", text)
    report = json.loads(path.read_text())
    assert report["exit_code"] == 1
    assert report["summary"] == {"pass": 3, "fail": 1, "skip": 0, "error": 0}
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert [c["name"] for c in failed] == ["softmax.large_logits"]
    assert failed[0]["counterexample"].startswith("import numpy as np\n")
    assert report["settings"] == {
        "max_examples": 5,
        "seed": 0,
        "timeout": 120.0,
        "select": ["softmax"],
    }
    assert "only the checks whose name starts with: softmax" in text


def test_the_command_exits_0_when_every_check_passes(capsys):
    assert main(["refnet", "-k", "sigmoid", "--max-examples", "3"]) == 0
    assert "1 pass, 0 fail" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["no_such_file.py"], "no such file"),
        ([FIXTURES], "is a directory: give the module of each name with --map"),
        (["json"], "has none of the chapter's names"),
        (["refnet", "--map", "softmax"], "expected NAME=MODULE:ATTRIBUTE"),
        (["refnet", "--map", "relu=relu"], "'relu' is not one of the chapter's names"),
        (["refnet", "--map", "softmax=nowhere:softmax"], "importing 'nowhere' failed"),
        ([], "give a TARGET"),
    ],
)
def test_the_command_exits_2_when_the_target_cannot_be_loaded(argv, message, capsys):
    with working_directory(ROOT):
        assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_list_states_every_check(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    for check in CHECKS:
        assert f"{check.name}\n    {check.statement}\n" in out
    assert len({check.name for check in CHECKS}) == len(CHECKS)


def test_importing_refnet_and_its_cli_loads_neither_jax_nor_hypothesis():
    code = (
        "import sys, refnet, refnet.cli; refnet.cli.build_parser(); "
        "print([m for m in ('jax', 'hypothesis') if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip() == "[]"
    helped = subprocess.run(
        [sys.executable, "-m", "refnet", "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert helped.returncode == 0 and "conformance" in helped.stdout


# -- the suite's own helpers ----------------------------------------------------------------------


def test_tests_modules_re_export_the_conformance_modules():
    from . import functions, strategies, tolerances
    from . import oracle as tests_oracle

    assert tests_oracle.smooth_gradient is oracle.smooth_gradient
    assert strategies.two_layer_params.__module__ == "refnet.conformance.strategies"
    assert tolerances.central_difference_bound.__module__ == "refnet.conformance.tolerances"
    assert (
        functions.SMOOTH_FUNCTIONS
        is __import__("refnet.conformance.functions", fromlist=["x"]).SMOOTH_FUNCTIONS
    )


@pytest.mark.parametrize("sizes", [(3, 2, 4, 3), (5, 6, 2, 7)])
def test_the_padded_two_layer_oracle_equals_the_unpadded_network(sizes):
    """The oracle pads networks to one shape; the plain jax.grad of the same loss agrees."""
    import jax
    import jax.numpy as jnp

    n, d, h, k = sizes
    rng = np.random.default_rng(sum(sizes))
    params = {
        "W1": rng.uniform(-1, 1, (d, h)),
        "b1": rng.uniform(-1, 1, h),
        "W2": rng.uniform(-1, 1, (h, k)),
        "b2": rng.uniform(-1, 1, k),
    }
    x = rng.uniform(-1, 1, (n, d))
    t = rng.integers(0, k, n)

    def loss(p, delta):
        z = 1 / (1 + jnp.exp(-(x @ p["W1"] + p["b1"])))
        y = jax.nn.softmax(z @ p["W2"] + p["b2"])
        return -jnp.sum(jnp.log(y[jnp.arange(n), t] + delta)) / n

    jparams = {key: jnp.asarray(value) for key, value in params.items()}
    # Same formulas, summed in other orders: see same_formula_bound (terms <= 16, as in
    # checks.two_layer_backprop_gradient; the loss is at most log K + 10 per sample).
    bound = same_formula_bound(n * k * h + d, 16.0)
    for delta in (1e-7, 0.0):
        plain_loss = float(jax.jit(loss)(jparams, delta))
        assert abs(oracle.two_layer_loss(params, x, t, delta) - plain_loss) <= (
            same_formula_bound(n * k, np.log(k) + 10)
        )
        plain = jax.jit(jax.grad(loss))(jparams, delta)
        padded = oracle.two_layer_gradient(params, x, t, delta)
        for key in params:
            assert padded[key].shape == params[key].shape
            np.testing.assert_allclose(padded[key], np.asarray(plain[key]), rtol=0, atol=bound)
    logits = oracle.two_layer_logits(params, x)
    assert logits.shape == (n, k)


# -- the how-to page ----------------------------------------------------------------------------


def _generated_block(name: str, actual: str) -> None:
    """Compare the page's block between ``<!-- name: begin -->`` and ``<!-- name: end -->``
    with what the tool prints; ``REFNET_UPDATE_DOCS=1`` rewrites the block instead."""
    page = HOW_TO.read_text(encoding="utf-8")
    pattern = re.compile(rf"<!-- {name}: begin -->\n```text\n(.*?)```\n<!-- {name}: end -->", re.S)
    match = pattern.search(page)
    assert match, f"the {name} markers are missing from {HOW_TO}"
    if os.environ.get("REFNET_UPDATE_DOCS") == "1":
        page = page[: match.start(1)] + actual + page[match.end(1) :]
        HOW_TO.write_text(page, encoding="utf-8")
        return
    assert match.group(1) == actual, (
        f"the {name} on the how-to page is out of date: regenerate it with "
        "REFNET_UPDATE_DOCS=1 pytest tests/test_conformance.py -k how_to"
    )


def test_the_how_to_page_shows_the_report_the_tool_prints(defective_report):
    """docs/how-to/conformance.md quotes the report on the defective fixture verbatim."""
    _generated_block("sample report", defective_report.render())


def test_the_how_to_page_lists_every_check(capsys):
    assert main(["--list"]) == 0
    _generated_block("check list", capsys.readouterr().out)


def test_the_how_to_pages_table_of_defects_names_exactly_the_failing_checks(defective_report):
    page = HOW_TO.read_text(encoding="utf-8")
    section = page.split("each caught by one check:", 1)[1].split("\n\n", 2)[1]
    named = re.findall(r"^\| `([\w.]+)` \|", section, flags=re.M)
    failing = [r.name for r in defective_report.results if r.status == "fail"]
    assert named == failing


def test_both_command_lines_run_the_runner():
    for argv in (["-m", "refnet.conformance", "--list"], ["-m", "refnet", "conformance", "--list"]):
        done = subprocess.run(
            [sys.executable, *argv], capture_output=True, text=True, cwd=ROOT, check=True
        )
        assert done.stdout.startswith("softmax.values\n")
