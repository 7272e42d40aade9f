"""The misuse table in docs/reference/misuse.md names only cases the suite really tests."""

from __future__ import annotations

import re
from pathlib import Path

from .test_argument_validation import CASES

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "reference" / "misuse.md"


def _test_names():
    names = set()
    for path in (ROOT / "tests").glob("test_*.py"):
        names.update(
            re.findall(r"^def (test_\w+)", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
        )
    return names


def test_every_case_in_the_misuse_table_exists():
    ids = {case[0] for case in CASES}
    tests = _test_names()
    rows = [
        line
        for line in PAGE.read_text(encoding="utf-8").splitlines()
        if line.startswith("| ") and "---" not in line
    ]
    checked = 0
    for row in rows:
        last = row.rstrip(" |").rsplit("|", 1)[-1]
        for token in re.findall(r"`([^`]+)`", last):
            if token.startswith("tests/"):
                assert (ROOT / token).exists(), f"{token} named in the misuse table does not exist"
            elif token.startswith("test_"):
                assert token in tests, f"test {token} named in the misuse table does not exist"
            else:
                assert token in ids, f"case {token!r} named in the misuse table is not in CASES"
            checked += 1
    assert checked >= 50, f"only {checked} cases found: the table's format changed?"


def test_every_validation_case_is_in_the_misuse_table():
    text = PAGE.read_text(encoding="utf-8")
    missing = [case[0] for case in CASES if f"`{case[0]}`" not in text]
    assert not missing, f"cases not documented in docs/reference/misuse.md: {missing}"
