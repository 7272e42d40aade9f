"""No module imports another module's underscore name (docs/shared house rule).

What two modules share is a named thing on a lower floor: a public name, or a plain name
in a private module (``_checks``, ``_io``).  The check parses each covered file with
``ast`` and refuses

* ``from X import _name`` (and ``from . import _name`` of a non-module), and
* ``M._name`` where ``M`` is bound to a project module by ``import X [as M]`` or
  ``from P import M``.

Dunder names (``__version__``, ``__future__``) are allowed, and so is importing a private
*module* (``from ._checks import describe``).  Attributes of objects that are not modules
(``self._x``, ``net._forward``) cannot be told apart from a module's statically and are
not checked.

The rule is enforced on every Python file of refnet/, tools/, benchmarks/ and tests/ (the
fixtures under tests/fixtures/ stand for other people's code and are left out).  A second
check: no test module imports another test module (shared helpers live in conftest.py).
"""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

import pytest

from .conftest import ROOT


def covered() -> list[str]:
    """Every file the rule applies to, relative to ROOT."""
    files = [
        *ROOT.glob("refnet/**/*.py"),
        *ROOT.glob("tools/*.py"),
        *ROOT.glob("benchmarks/*.py"),
        *ROOT.glob("tests/*.py"),
        ROOT / "mkdocs_hooks.py",
    ]
    return sorted(str(path.relative_to(ROOT)) for path in files)


COVERED = covered()


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_of(path: Path) -> str:
    """The dotted name of a file under ROOT (``refnet/commands/train.py`` -> ``refnet.commands.train``)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(node: ast.ImportFrom, package: str) -> str:
    """The absolute module an ``ImportFrom`` reads from, resolving leading dots."""
    if not node.level:
        return node.module or ""
    base = package.split(".")
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _is_project_module(dotted: str) -> bool:
    relative = Path(*dotted.split("."))
    return (ROOT / relative.with_suffix(".py")).is_file() or (ROOT / relative).is_dir()


def private_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """Every use of another module's underscore name in ``source`` (one line each)."""
    tree = ast.parse(source)
    package = module if is_package else module.rpartition(".")[0]
    bound_modules = {}  # local name -> the project module it is bound to
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            origin = _absolute(node, package)
            for alias in node.names:
                target = f"{origin}.{alias.name}" if origin else alias.name
                if _is_project_module(target):
                    bound_modules[alias.asname or alias.name] = target
                elif _is_private(alias.name):
                    found.append(f"line {node.lineno}: from {origin} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _is_project_module(alias.name):
                    local = alias.asname or alias.name.split(".")[0]
                    bound_modules[local] = alias.name if alias.asname else local
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            chain, value = [node.attr], node.value
            while isinstance(value, ast.Attribute):
                chain.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in bound_modules:
                dotted = ".".join([value.id, *reversed(chain)])
                found.append(f"line {node.lineno}: {dotted}")
    return found


@pytest.mark.parametrize("relative", COVERED)
def test_no_module_imports_another_modules_underscore_name(relative):
    path = ROOT / relative
    found = private_imports(
        path.read_text(encoding="utf-8"), _module_of(path), path.name == "__init__.py"
    )
    assert not found, f"{relative} uses other modules' underscore names:\n  " + "\n  ".join(found)


def test_the_rule_covers_every_floor():
    assert {relative.split("/")[0] for relative in COVERED} >= {"refnet", "benchmarks", "tests"}
    assert (
        "refnet/engine/stencil.py" in COVERED
        and "tools/figures.py" in COVERED
        and "tests/conftest.py" in COVERED
    )
    assert len(COVERED) >= 80


#: The modules whose every shared name must be in their ``__all__``: the chapter, the
#: engine and the argument checks (floors 0 to 2).  A public module's ``__all__`` is its
#: API; a private one's (``_checks``, ``_io``, ``refnet.engine``) is what it offers the
#: rest of refnet.
EXPORTERS = (
    "refnet._checks",
    "refnet._io",
    "refnet.activations",
    "refnet.losses",
    "refnet.descent",
    "refnet.differentiation",
    "refnet.gradcheck",
    "refnet.simple_net",
    "refnet.two_layer_net",
    "refnet.datasets",
    "refnet.engine",
)


def _declared_all(path: Path) -> list[str] | None:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    return None


def names_outside_all(source: str, module: str, is_package: bool = False) -> list[str]:
    """``from X import name`` of a module X of EXPORTERS where name is not in X.__all__."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom):
            continue
        origin = _absolute(node, package)
        if not origin.startswith(EXPORTERS) or not _is_project_module(origin):
            continue
        relative = Path(*origin.split("."))
        path = ROOT / relative / "__init__.py"
        if not path.is_file():
            path = ROOT / relative.with_suffix(".py")
        exported = _declared_all(path) or []
        for alias in node.names:
            if not _is_project_module(f"{origin}.{alias.name}") and alias.name not in exported:
                found.append(f"line {node.lineno}: from {origin} import {alias.name}")
    return found


@pytest.mark.parametrize("relative", [r for r in COVERED if r.startswith(("refnet/", "tools/"))])
def test_every_shared_name_of_the_core_is_in_its_modules_all(relative):
    path = ROOT / relative
    found = names_outside_all(
        path.read_text(encoding="utf-8"), _module_of(path), path.name == "__init__.py"
    )
    assert not found, f"{relative} imports names outside their module's __all__:\n  " + (
        "\n  ".join(found)
    )


def test_the_all_check_finds_what_it_must():
    assert names_outside_all("from .losses import _batch_mean\n", "refnet.x") == [
        "line 1: from refnet.losses import _batch_mean"
    ]
    assert names_outside_all("from .losses import cross_entropy_error\n", "refnet.x") == []
    assert names_outside_all("from .engine import stencil\n", "refnet.x") == []


def test_the_architecture_page_names_every_module_and_no_other():
    """docs/reference/architecture.md stays true: every module of the package outside the
    conformance suite is named there (as ``name.py`` or ``name``), and every ``name.py`` it
    names exists."""
    page = (ROOT / "docs" / "reference" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`([^`]+)`", page))
    words = {part for item in named for part in re.split(r"[\s/(),:]+", item) if part}
    modules = [
        path
        for path in (ROOT / "refnet").rglob("*.py")
        if "conformance" not in path.parts and path.stem not in ("__init__", "__main__")
    ]
    unnamed = [str(p.relative_to(ROOT)) for p in modules if not {p.name, p.stem} & words]
    assert not unnamed, f"architecture.md does not name {unnamed}"
    places = ("refnet/**/*.py", "tools/*.py", "tests/*.py", "benchmarks/*.py", "*.py")
    files = [path.name for place in places for path in ROOT.glob(place)]
    stale = sorted(w for w in words if w.endswith(".py") and not fnmatch.filter(files, w))
    assert not stale, f"architecture.md names files that do not exist: {stale}"


def imported_test_modules(source: str) -> list[str]:
    """The test modules (``test_*``) that ``source`` imports, absolutely or relatively."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom):
            names = [node.module or "", *(alias.name for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found += [n for n in names if n.rpartition(".")[2].startswith("test_")]
    return found


@pytest.mark.parametrize("relative", [r for r in COVERED if r.startswith("tests/")])
def test_no_test_module_imports_another(relative):
    found = imported_test_modules((ROOT / relative).read_text(encoding="utf-8"))
    assert not found, f"{relative} imports test modules {found}: move the helper to conftest.py"


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from .test_conformance import ROOT\n", ["test_conformance"]),
        ("from . import test_losses\n", ["test_losses"]),
        ("import tests.test_fuzz\n", ["tests.test_fuzz"]),
        ("from .conftest import ROOT\nfrom .fixtures import book_chapter4\n", []),
    ],
)
def test_the_test_module_check_finds_what_it_must(source, expected):
    assert imported_test_modules(source) == expected


# -- the checker itself finds what it must -------------------------------------------------


@pytest.mark.parametrize(
    "source, module, expected",
    [
        (
            "from .losses import _targets\n",
            "refnet.two_layer_net",
            ["from refnet.losses import _targets"],
        ),
        (
            "from refnet.losses import _cross_entropy\n",
            "benchmarks.b",
            ["from refnet.losses import _cross_entropy"],
        ),
        (
            "from ..differentiation import _steps\n",
            "refnet.commands.x",
            ["from refnet.differentiation import _steps"],
        ),
        ("import refnet.datasets as d\nd._default_root()\n", "tests.t", ["d._default_root"]),
        (
            "from refnet import datasets\ndatasets._one_hot(1, 2)\n",
            "tests.t",
            ["datasets._one_hot"],
        ),
        (
            "import refnet.training\nrefnet.training._atomic()\n",
            "tests.t",
            ["refnet.training._atomic"],
        ),
        ("from . import _checks\n_checks._hidden\n", "refnet.x", ["_checks._hidden"]),
    ],
)
def test_the_checker_finds_underscore_names(source, module, expected):
    found = private_imports(source, module)
    assert len(found) == len(expected), found
    for line, wanted in zip(found, expected, strict=True):
        assert line.endswith(wanted), (line, wanted)


@pytest.mark.parametrize(
    "source, module",
    [
        ("from __future__ import annotations\n", "refnet.x"),
        ("from ._checks import describe, finite\n", "refnet.x"),
        ("from . import _checks\n_checks.describe\n", "refnet.x"),
        ("from refnet import __version__\n", "refnet.cli"),
        ("import numpy as np\nself._x = np.zeros(2)\nnet._forward(1)\n", "refnet.x"),
        ("def _own(): pass\n_own()\n", "refnet.x"),
    ],
)
def test_the_checker_allows_what_the_rule_allows(source, module):
    assert private_imports(source, module) == []
