"""Suite-wide settings and the helpers several test modules share (one copy each).

Hypothesis profiles: ``dev`` (the default) and ``ci`` (derandomized, no example database),
chosen by ``HYPOTHESIS_PROFILE``; JAX compiles on a new shape, so neither has a deadline.

The helpers below are imported by test modules (``from .conftest import ROOT``); a test
module never imports another test module.  The oracle, the strategies, the tolerances and
the test functions are refnet.conformance's own modules, imported from there.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=30, deadline=None)
settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

#: Fixtures that build a whole environment around refnet: a hostile class graded inside the
#: operating system's sandbox, a Gradescope tree installed by its own setup.sh.  What the tests
#: using them check is the operating system, the packaging and the processes, not the
#: dependencies' versions, and they are the slowest minutes of the suite; they carry the
#: ``environment`` mark, which CI's second run (every dependency at its floor) deselects.
ENVIRONMENT_FIXTURES = frozenset({"hostile_run", "autograder_root", "autograder_zip"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if ENVIRONMENT_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.environment)


#: The checkout: the folder holding refnet/, tests/ and docs/.
ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    """Run the block in ``path``, then return to the previous working directory."""
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def generated_block(
    page: Path,
    name: str,
    actual: str,
    fence: str = "text",
    compared: Callable[[str], str] = str,
) -> None:
    """Compare the page's block between ``<!-- name: begin -->`` and ``<!-- name: end -->``
    with what the tool prints, both seen through ``compared`` (whole by default);
    ``REFNET_UPDATE_DOCS=1`` rewrites the block instead."""
    text = page.read_text(encoding="utf-8")
    opening = f"```{fence}\n" if fence else ""
    closing = "```\n" if fence else ""
    pattern = re.compile(
        rf"<!-- {name}: begin -->\n{re.escape(opening)}(.*?){re.escape(closing)}<!-- {name}: end -->",
        re.S,
    )
    match = pattern.search(text)
    assert match, f"the {name} markers are missing from {page}"
    if os.environ.get("REFNET_UPDATE_DOCS") == "1":
        page.write_text(text[: match.start(1)] + actual + text[match.end(1) :], encoding="utf-8")
        return
    assert compared(match.group(1)) == compared(actual), (
        f"the {name} on {page.name} is out of date: regenerate it with "
        "REFNET_UPDATE_DOCS=1 pytest tests/test_conformance.py tests/test_conformance_cli.py -k page"
    )


def numerical_diff_bad(f, x):
    """Section 4.3.1's "bad example": a forward difference with h = 1e-50 (the book's code,
    kept to explain its printed 0.0; refnet refuses the step)."""
    h = 1e-50
    return (f(x + h) - f(x)) / h
