"""No module imports another module's underscore name (docs/shared house rule).

What two modules share is a named thing on a lower floor: a public name, or a plain name
in a private module (``_checks``, ``_stencil``).  The check parses each covered file with
``ast`` and refuses

* ``from X import _name`` (and ``from . import _name`` of a non-module), and
* ``M._name`` where ``M`` is bound to a project module by ``import X [as M]`` or
  ``from P import M``.

Dunder names (``__version__``, ``__future__``) are allowed, and so is importing a private
*module* (``from ._stencil import CENTRAL``).  Attributes of objects that are not modules
(``self._x``, ``net._forward``) cannot be told apart from a module's statically and are
not checked.

COVERED lists the files the rule is enforced on: for now the numerical floors (the stencil
engine and the modules over it) and their benchmarks.  The other modules are added as
their rearrangement lands, until the list is every file under refnet/ and benchmarks/
(``test_covered_files_exist`` keeps the list honest).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

COVERED = [
    "refnet/__init__.py",
    "refnet/_checks.py",
    "refnet/_stencil.py",
    "refnet/activations.py",
    "refnet/descent.py",
    "refnet/differentiation.py",
    "refnet/_series.py",
    "refnet/fast_gradient/__init__.py",
    "refnet/fast_gradient/base.py",
    "refnet/fast_gradient/exact.py",
    "refnet/fast_gradient/series.py",
    "refnet/figures.py",
    "refnet/gradcheck.py",
    "refnet/losses.py",
    "refnet/simple_net.py",
    "refnet/two_layer_net.py",
    "benchmarks/accuracy_goals.py",
    "benchmarks/numerical_gradient.py",
]


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


def test_covered_files_exist():
    missing = [relative for relative in COVERED if not (ROOT / relative).is_file()]
    assert not missing, f"COVERED names files that do not exist: {missing}"


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
        ("from . import _stencil\n_stencil._built\n", "refnet.x", ["_stencil._built"]),
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
        ("from ._stencil import CENTRAL, stencil_of\n", "refnet.x"),
        ("from . import _stencil\n_stencil.CENTRAL\n", "refnet.x"),
        ("from refnet import __version__\n", "refnet.cli"),
        ("import numpy as np\nself._x = np.zeros(2)\nnet._forward(1)\n", "refnet.x"),
        ("def _own(): pass\n_own()\n", "refnet.x"),
    ],
)
def test_the_checker_allows_what_the_rule_allows(source, module):
    assert private_imports(source, module) == []
