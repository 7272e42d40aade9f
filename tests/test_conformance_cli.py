"""The command line: exit codes, the JSON report's contract, and the pages that quote it.

``main()`` runs the target in a child process (process.py), as the installed command does;
each test here therefore starts one, JAX and all, and selects few checks.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from refnet.conformance.checks import CHECKS, contract_table
from refnet.conformance.cli import main
from refnet.conformance.reports.schema import STATUSES

from .conftest import ROOT, generated_block, working_directory

FIXTURES = ROOT / "tests" / "fixtures"
REFERENCE = ROOT / "docs" / "reference" / "conformance.md"

#: Every key of a check's result in the JSON report (schema.py's docstring).
RESULT_KEYS = {
    "name",
    "function",
    "found_as",
    "statement",
    "status",
    "reason",
    "counterexample",
    "shrunk",
    "exception",
    "output",
    "seconds",
    "warnings",
    "notes",
    "file",
    "map_hint",
    "profiles",
    "graded",
    "cause",
    "timed_out",
}


def test_the_command_exits_1_on_a_failure_and_writes_the_json_contract(tmp_path, capsys):
    path = tmp_path / "report.json"
    argv = [str(FIXTURES / "defective.py"), "-k", "softmax", "-k", "numerical_gradient.integer"]
    code = main([*argv, "--max-examples", "5", "--json", str(path)])
    assert code == 1
    text = capsys.readouterr().out
    assert re.search(r"softmax\.large_logits\s+FAIL", text)
    assert re.search(r"numerical_gradient\.integer_x\s+warn", text)
    report = json.loads(path.read_text())
    assert report["tool"] == "refnet.conformance"
    assert report["profile"] == "book"
    assert report["exit_code"] == 1
    assert report["summary"] == {"pass": 3, "warn": 1, "fail": 2, "error": 0, "skip": 0}
    assert set(report["summary"]) == set(STATUSES)
    for result in report["checks"]:
        assert set(result) == RESULT_KEYS
        assert result["status"] in STATUSES
        assert result["file"] == "defective.py"
        assert "book" in result["profiles"]
    failed = [c["name"] for c in report["checks"] if c["status"] == "fail"]
    assert failed == ["softmax.rows_apart", "softmax.large_logits"]
    warned = next(c for c in report["checks"] if c["status"] == "warn")
    assert warned["warnings"] and warned["counterexample"].startswith("import numpy as np\n")
    assert report["settings"] == {
        "max_examples": 5,
        "seed": 0,
        "timeout": 120.0,
        "select": ["softmax", "numerical_gradient.integer"],
    }
    target = report["target"]
    assert target["found"]["softmax"] == {
        "module": "defective",
        "attribute": "softmax",
        "file": "defective.py",
    }
    assert target["definitions"]["softmax"] == [target["found"]["softmax"]]
    assert target["missing"] == ["simpleNet"]
    assert target["hints"] == {"simpleNet": "--map simpleNet=NAME"}
    assert "only the checks whose name starts with: softmax" in text


def test_the_strict_profile_makes_a_pitfall_a_failure(capsys):
    argv = [str(FIXTURES / "defective.py"), "-k", "numerical_gradient.integer", "--profile"]
    assert main([*argv, "strict", "--max-examples", "3"]) == 1
    assert re.search(r"numerical_gradient\.integer_x\s+FAIL", capsys.readouterr().out)


def test_the_command_exits_0_when_every_check_passes(capsys):
    assert main(["refnet", "-k", "sigmoid", "--max-examples", "3"]) == 0
    out = capsys.readouterr().out
    assert "(profile: strict)" in out
    assert "1 pass, 0 warn, 0 fail, 0 error, 0 skip (exit code 0)" in out


def test_a_map_file_enables_the_checks_of_another_spelling(capsys):
    argv = [str(FIXTURES / "variants.py"), "--map-file", str(FIXTURES / "variants.toml")]
    assert main([*argv, "-k", "TwoLayerNet.numerical", "--profile", "strict"]) == 0
    assert re.search(r"TwoLayerNet\.numerical_gradient\s+pass", capsys.readouterr().out)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["no_such_file.py"], "no such file"),
        (["docs"], "has none of the chapter's names in its 0 Python files"),
        (["json"], "has none of the chapter's names"),
        (["refnet", "--map", "softmax"], "expected NAME=MODULE:ATTRIBUTE"),
        (["refnet", "--map", "relu=relu"], "'relu' is not one of the chapter's names"),
        (["refnet", "--map", "softmax=nowhere:softmax"], "importing 'nowhere' failed"),
        (["refnet", "--map-file", "nowhere.toml"], "--map-file nowhere.toml: No such file"),
        (["tests/fixtures/trains_at_import.py", "--timeout", "2"], "looks like a script"),
        ([], "give a TARGET"),
        (["refnet", "--max-examples", "0"], "--max-examples must be >= 1"),
        (["refnet", "-k", "TwoLayerNet.no_such_check", "--profile", "book"], "no check of"),
    ],
)
def test_the_command_exits_2_when_the_target_cannot_be_loaded_or_the_usage_is_wrong(
    argv, message, capsys
):
    with working_directory(ROOT):
        assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_list_states_every_check_with_its_profiles(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    for check in CHECKS:
        assert f"{check.name} [{', '.join(check.profiles)}]\n    {check.statement}\n" in out
    assert len({check.name for check in CHECKS}) == len(CHECKS)
    assert main(["--list", "--profile", "book"]) == 0
    book = capsys.readouterr().out
    assert "TwoLayerNet.accuracy_labels [book, strict]" in book  # no check is strict-only
    assert "numerical_gradient.integer_x [book, strict]\n    an integer x gets a TypeError" in book


def test_importing_refnet_and_its_cli_loads_neither_jax_nor_hypothesis():
    code = (
        "import sys, refnet, refnet.cli; refnet.cli.build_parser(); "
        "import refnet.conformance.running.process, refnet.conformance.reports.render; "
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


def test_both_command_lines_run_the_runner():
    for argv in (["-m", "refnet.conformance", "--list"], ["-m", "refnet", "conformance", "--list"]):
        done = subprocess.run(
            [sys.executable, *argv], capture_output=True, text=True, cwd=ROOT, check=True
        )
        assert done.stdout.startswith("softmax.values [book, strict]\n")


# -- the reference page ------------------------------------------------------------------------


def test_the_reference_page_states_both_contracts_from_the_check_table():
    generated_block(REFERENCE, "contract table", contract_table(), fence="")


def test_the_reference_page_lists_every_key_of_the_json_report():
    page = REFERENCE.read_text(encoding="utf-8")
    section = page.split("## The JSON report", 1)[1]
    for key in RESULT_KEYS | {"profile", "target", "summary", "exit_code", "settings"}:
        assert f"`{key}`" in section, key


def test_a_file_without_the_py_suffix_is_checked_when_it_is_python_and_refused_clearly_if_not(
    tmp_path, capsys
):
    (tmp_path / "afile").write_text(
        "import numpy as np\n\ndef sigmoid(x):\n    return 1 / (1 + np.exp(-x))\n"
    )
    (tmp_path / "notes").write_text("my answers are in the notebook\n")
    with working_directory(tmp_path):
        assert main(["afile", "-k", "sigmoid", "--max-examples", "3"]) == 0
        assert "sigmoid.values" in capsys.readouterr().out
        assert main(["notes"]) == 2
    err = capsys.readouterr().err
    assert "notes: not a Python file or a notebook" in err and "No module named" not in err
