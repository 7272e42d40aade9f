"""The commands of the Installation page and the tutorial's examples, run as written, in
the environment the page builds beside them.

A copy of the package (pyproject.toml, README.md, refnet/) is made in a temporary folder
named ``refnet``, and the page's shell blocks run there with bash, line for line: the
set-up block (``cd refnet``, a new virtual environment, ``pip install -e .``), then the
checks it shows for the library alone, then the ``train`` extra's block, the README's
first command, the tutorial's examples (as doctests, with the suite's option flags) in
that environment's Python and the tutorial's block that reruns its learning curve.  So a command that needs more than the install shown beside
it fails here, as it failed for a reader.

Blocks that cannot run in a test are listed in LEFT with the reason (the whole test suite,
the documentation build, the browser test: CI runs each of them itself); a new shell block
on the page that is in neither list fails the test, so no command escapes it.

pip installs from whatever index pip is configured with; no virtual environment, or no
pip in it, skips the test with the reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import venv

import pytest

from .conftest import ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

pytestmark = pytest.mark.slow

INSTALLATION = ROOT / "docs" / "installation.md"
TUTORIAL = ROOT / "docs" / "tutorial.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)

#: The page's shell blocks this test runs, by their first line, in this order.
SET_UP = "cd refnet"
BASE_CHECK = '.venv/bin/python -c "import refnet; print(refnet.__version__)"'
TRAIN = ".venv/bin/pip install -e '.[train]'"
README = "python3 -m venv .venv && .venv/bin/pip install -q -e '.[train]' && .venv/bin/refnet train"
#: The tutorial's other shell block: the learning curve run again, figures redrawn.
TUTORIAL_CURVE = ".venv/bin/refnet train --out runs/learning-curve"
#: The page's shell blocks this test leaves, by their first line, with the reason.
LEFT = {
    ".venv/bin/pip install -e '.[docs]'": "the documentation build: .ci/run's docs step",
    ".venv/bin/pip install -e '.[test,docs,browser]'": "the browser test: .ci/run's browser step",
}
#: What the commands of a block left to CI import, which its install line must bring.
NEEDS = {
    ".venv/bin/pip install -e '.[docs]'": {"mkdocs", "mkdocs-material", "mkdocstrings", "ruff"},
    # pytest, and hypothesis for tests/conftest.py; Playwright drives Chromium.
    ".venv/bin/pip install -e '.[test,docs,browser]'": {"pytest", "hypothesis", "playwright"},
}
#: The README's second command is the whole suite (this test among it): .ci/run runs it.
README_LEFT = "HYPOTHESIS_PROFILE=ci .venv/bin/python -m pytest"


def blocks(path, language: str) -> list[str]:
    return [
        body for lang, body in BLOCK.findall(path.read_text(encoding="utf-8")) if lang == language
    ]


def by_first_line(path) -> dict[str, str]:
    return {body.splitlines()[0].split("  #")[0].strip(): body for body in blocks(path, "bash")}


def bash(script: str, cwd, timeout: float = 300) -> subprocess.CompletedProcess:
    # No PYTHONPATH or virtual environment of the suite's leaks into the reader's shell.
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**_clean_environment(), "MPLBACKEND": "Agg"},
    )


def _clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def ran(result: subprocess.CompletedProcess, what: str) -> str:
    assert result.returncode == 0, (
        f"{what} failed (exit code {result.returncode}):\n{result.stdout[-3000:]}\n"
        f"{result.stderr[-3000:]}"
    )
    return result.stdout


def test_every_shell_block_of_the_installation_page_is_run_or_left_with_a_reason():
    firsts = list(by_first_line(INSTALLATION))
    known = [SET_UP, README, BASE_CHECK, TRAIN, *LEFT]
    assert sorted(firsts) == sorted(known), f"blocks on the page: {firsts}"
    readme_block = by_first_line(INSTALLATION)[README].splitlines()
    assert len(readme_block) == 2 and README_LEFT in readme_block[1]


def extras_bring(extras: list[str]) -> set[str]:
    """The distributions (names without versions) that ``pip install -e '.[extras]'`` adds."""
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    found: set[str] = set()
    for extra in extras:
        for requirement in table[extra]:
            name = re.match(r"[A-Za-z0-9_.\-]+(\[[^\]]*\])?", requirement)
            if name[0].startswith("refnet["):
                found |= extras_bring(name[1].strip("[]").split(","))
            else:
                found.add(re.sub(r"\[.*", "", name[0]).lower())
    return found


def test_the_blocks_left_to_ci_install_what_their_commands_import():
    for first, needed in NEEDS.items():
        extras = re.search(r"'\.\[([^\]]+)\]'", first)[1].split(",")
        missing = needed - extras_bring(extras)
        assert not missing, f"{first}: the commands after it also need {sorted(missing)}"


def test_the_tutorial_names_the_installation_pages_train_command():
    shell = blocks(TUTORIAL, "bash")
    assert shell[0].splitlines() == [TRAIN, ".venv/bin/python"]
    assert [block.splitlines()[0] for block in shell[1:]] == [TUTORIAL_CURVE]


@pytest.mark.environment  # builds its own venv: run once in CI, with the newest releases
def test_the_pages_commands_run_in_the_environment_built_beside_them(tmp_path, capsys):
    try:  # the one thing outside the page's control: can this machine make a venv with pip?
        venv.EnvBuilder(with_pip=True).create(tmp_path / "probe")
    except Exception as exc:  # ensurepip missing (Debian without python3-venv), ...
        pytest.skip(f"cannot create a virtual environment with pip here: {exc}")
    shutil.rmtree(tmp_path / "probe")
    source = tmp_path / "refnet"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "docs" / "figures", source / "docs" / "figures")
    # The source folder as the pages mean it: the package, and the figures generator that
    # `refnet figures` runs from tools/ beside it.
    for folder in ("refnet", "tools"):
        shutil.copytree(
            ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    page = by_first_line(INSTALLATION)

    ran(bash(page[SET_UP], tmp_path), "the set-up block")
    out = ran(bash(page[BASE_CHECK], source), "the checks of the library alone")
    version = re.search(r'__version__ = "([^"]+)"', (ROOT / "refnet" / "__init__.py").read_text())
    assert version and out.splitlines() == [version[1], "[6. 8.]"]
    # refnet check without the extra: the one line the page quotes, and nothing installed
    # the page did not install.
    (quoted,) = blocks(INSTALLATION, "text")
    without = bash(".venv/bin/refnet check", source)
    assert (without.returncode, without.stderr, without.stdout) == (1, quoted, "")

    trained = ran(bash(page[TRAIN], source), "the train extra's block")
    assert "gradient check PASSED" in trained
    readme = page[README].splitlines()[0]
    assert "refnet train: completed" in ran(bash(readme, source), "the README's first command")

    flags = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    options = " ".join(f"-o {flag}" for flag in flags["doctest_optionflags"])
    tutorial = bash(f".venv/bin/python -m doctest {options} '{TUTORIAL}'", source)
    ran(tutorial, "the tutorial's examples")
    curve = blocks(TUTORIAL, "bash")[1]
    ran(bash(curve, source), "the tutorial's learning-curve block")
    assert (source / "docs" / "figures" / "fig-4-11-loss.png").stat().st_mtime > (
        source / "runs" / "learning-curve" / "metrics.json"
    ).stat().st_mtime  # redrawn from the new run
    examples = sum(text.count(">>> ") for text in blocks(TUTORIAL, "python"))
    with capsys.disabled():
        print(
            f"[installation page: 4 blocks run; tutorial: {examples} examples, 2 blocks] ", end=""
        )
