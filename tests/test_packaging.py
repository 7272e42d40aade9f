"""The declared version floors are the ones CI installs in its floor environment.

`.ci/run` runs the suite twice: with the newest releases, and with `.ci/floors.txt`, the
lowest versions refnet declares.  A floor in pyproject.toml that the floor file does not pin
(or pins at another version) would be a promise no test keeps.
"""

from __future__ import annotations

import re
import sys

from packaging.requirements import Requirement
from packaging.version import Version

from .conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def _floors_file() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / ".ci" / "floors.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[_canonical(name)] = Version(version)
    return pins


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(groups: list[str]) -> dict[str, set[Version]]:
    """Package -> the `>=` floors stated for it in the core dependencies and ``groups``."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for group in groups:
        requirements += project["optional-dependencies"][group]
    floors: dict[str, set[Version]] = {}
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        if requirement.name == "refnet":
            continue  # an extra that names others (cluster = refnet[conformance] + dask)
        names = [requirement.name]
        if requirement.name == "dask" and "distributed" in requirement.extras:
            names.append("distributed")  # dask[distributed] pins distributed to dask's version
        for spec in requirement.specifier:
            assert spec.operator == ">=", f"{text}: only floors (>=) are declared"
            for name in names:
                floors.setdefault(_canonical(name), set()).add(Version(spec.version))
    return floors


def test_every_floor_of_the_tested_extras_is_pinned_in_the_floor_file():
    pins = _floors_file()
    declared = _declared(["test", "conformance", "cluster", "train"])
    assert set(declared) <= set(pins), f"not in .ci/floors.txt: {set(declared) - set(pins)}"
    for name, versions in declared.items():
        assert versions == {pins[name]}, (
            f"{name}: pyproject says >= {versions}, CI pins {pins[name]}"
        )


#: Pinned beside a declared package, at its version: jax needs the jaxlib of its own release.
COMPANIONS = {"jaxlib": "jax"}


def test_the_floor_file_pins_nothing_that_is_not_declared():
    pins = _floors_file()
    declared = _declared(["test", "conformance", "cluster", "train"])
    extra = set(pins) - set(declared) - set(COMPANIONS)
    assert not extra, f".ci/floors.txt pins packages pyproject.toml does not declare: {extra}"
    for companion, partner in COMPANIONS.items():
        assert pins[companion] == pins[partner], f"{companion} is pinned apart from {partner}"


def test_the_docs_extra_states_the_same_floors_where_it_shares_a_package():
    pins = _floors_file()
    for name, versions in _declared(["docs"]).items():
        if name in pins:
            assert versions == {pins[name]}, f"{name}: docs extra says >= {versions}"
