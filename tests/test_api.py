"""The public API is written down: ``refnet.__all__``, the submodules' ``__all__`` and the
reference pages (docs/reference/) say the same thing, and every public signature is typed.

The rule (docs/reference/index.md): ``import refnet`` gives the names of ``refnet.__all__``;
a documented submodule's public names are its ``__all__``, which its reference page renders
(mkdocs.yml sets ``filters: public``); a name in no ``__all__`` is private.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

import refnet

from .conftest import ROOT

REFERENCE = ROOT / "docs" / "reference"

#: Under refnet/conformance/ (a product of its own, documented in prose on
#: reference/conformance.md), the modules whose ``__all__`` is an API: the package (what
#: ``python -m refnet.conformance`` is built from) and the four building blocks of the
#: property suite, which refnet's own tests import.
CONFORMANCE_APIS = {
    "refnet.conformance",
    "refnet.conformance.oracle",
    "refnet.conformance.strategies",
    "refnet.conformance.tolerances",
    "refnet.conformance.functions",
}

#: Internals that submodules' ``__all__`` once made public (issue 13): they stay private.
#: (The engine's modules list what they offer the rest of refnet in their ``__all__``, which
#: is private there: see `is_private`.)
INTERNALS = {
    "refnet.engine.fast_gradient": ["OutOfRange", "two_layer_numerical_gradient"],
    "refnet._io": ["write_atomically"],
    "refnet.checkpoints": ["RunState", "run_config", "check_resumable", "changed_options"],
}


def directives() -> list[tuple[Path, str]]:
    """Every ``::: dotted.path`` of the reference pages, with its page."""
    found = []
    for page in sorted(REFERENCE.glob("*.md")):
        for line in page.read_text(encoding="utf-8").splitlines():
            match = re.match(r"^:::\s+(\S+)\s*$", line)
            if match:
                found.append((page, match.group(1)))
    return found


def resolve(dotted: str):
    """The object a directive names: a module, or an attribute of one."""
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError:
        module, _, name = dotted.rpartition(".")
        return getattr(importlib.import_module(module), name)


def documented() -> dict[str, list[tuple[str, object]]]:
    """Page name -> the (name, object) pairs it renders."""
    pages: dict[str, list[tuple[str, object]]] = {}
    for page, dotted in directives():
        target = resolve(dotted)
        if inspect.ismodule(target):
            names = getattr(target, "__all__", None)
            assert names, f"{page.name} renders {dotted}, which has no __all__"
            pairs = [(name, getattr(target, name)) for name in names]
        else:
            pairs = [(dotted.rpartition(".")[2], target)]
        pages.setdefault(page.name, []).extend(pairs)
    return pages


def documents(pairs: list[tuple[str, object]], name: str) -> bool:
    return any(n == name and obj is getattr(refnet, name) for n, obj in pairs)


def test_every_name_of_refnet_is_rendered_on_a_reference_page():
    pages = documented()
    missing = [
        name for name in refnet.__all__ if not any(documents(p, name) for p in pages.values())
    ]
    assert not missing, f"refnet.__all__ names that no reference page renders: {missing}"


def index_table() -> dict[str, str]:
    """Name -> linked page, from the table of docs/reference/index.md."""
    text = (REFERENCE / "index.md").read_text(encoding="utf-8")
    section = text.split("## What `import refnet` gives", 1)[1].split("\n## ", 1)[0]
    table = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        page = re.fullmatch(r"\[[^\]]+\]\(([^)]+)\)", cells[2])
        assert page, f"the index row {line!r} links no page"
        for name in re.findall(r"`([^`]+)`", cells[0]):
            assert name not in table, f"{name} is listed twice in the index"
            table[name] = page.group(1)
    return table


def test_the_reference_index_lists_refnet_all_each_with_the_page_that_renders_it():
    table = index_table()
    assert sorted(table) == sorted(refnet.__all__)
    pages = documented()
    wrong = [name for name, page in table.items() if not documents(pages.get(page, []), name)]
    assert not wrong, f"the index links these names to a page that does not render them: {wrong}"


def test_refnet_all_is_exactly_what_refnet_exports():
    assert len(set(refnet.__all__)) == len(refnet.__all__)
    assert all(hasattr(refnet, name) for name in refnet.__all__)
    namespace: dict[str, object] = {}
    exec("from refnet import *", namespace)
    assert sorted(set(namespace) - {"__builtins__"}) == sorted(refnet.__all__)


def module_files() -> list[Path]:
    return sorted((ROOT / "refnet").rglob("*.py"))


def dotted_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def declared_all(path: Path) -> list[str] | None:
    """The ``__all__`` of a file, or None (read with ast: nothing is imported).  refnet's own
    is computed from its TYPE_CHECKING imports: it is imported (it loads no NumPy)."""
    if path == ROOT / "refnet" / "__init__.py":
        return list(refnet.__all__)
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return list(ast.literal_eval(node.value))
    return None


def is_private(module: str) -> bool:
    """A module whose ``__all__`` is what it offers the rest of refnet, not public API: an
    underscore module, or one of the engine's (``refnet.engine``, which no page renders)."""
    parts = module.split(".")
    return any(part.startswith("_") for part in parts) or parts[:2] == ["refnet", "engine"]


def test_only_documented_modules_declare_public_names():
    rendered = {dotted for _, dotted in directives()}
    # A package rendered through its submodules (refnet.datasets.digits, ...) is documented too.
    rendered |= {d.rpartition(".")[0] for d in rendered if d.count(".") >= 2}
    wrong = []
    for path in module_files():
        module = dotted_name(path)
        names = declared_all(path)
        if not names:
            continue
        if is_private(module):
            if module in rendered:
                wrong.append(f"{module} is private, but a reference page renders it")
            continue
        allowed = module in CONFORMANCE_APIS or module in rendered or module == "refnet"
        if not allowed:
            wrong.append(f"{module} declares __all__ = {names} but no reference page renders it")
        private = [n for n in names if n.startswith("_")]
        if private:
            wrong.append(f"{module}.__all__ lists underscore names {private}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("module", sorted(INTERNALS))
def test_internals_stay_out_of_the_public_api(module):
    path = ROOT / module.replace(".", "/")
    names = declared_all(path / "__init__.py" if path.is_dir() else path.with_suffix(".py")) or []
    public = set() if is_private(module) else set(names)
    assert not set(INTERNALS[module]) & (public | set(refnet.__all__))


# -- every public signature is typed ---------------------------------------------------------


def public_callables():
    """(label, callable) for every function, class constructor, method and property that a
    reference page renders."""
    seen = set()
    for pairs in documented().values():
        for name, obj in pairs:
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if inspect.isfunction(obj):
                yield name, obj
            elif inspect.isclass(obj):
                for member, value in vars(obj).items():
                    if member.startswith("_") and member != "__init__":
                        continue
                    if isinstance(value, property) and value.fget is not None:
                        yield f"{name}.{member}", value.fget
                    elif isinstance(value, (staticmethod, classmethod)):
                        yield f"{name}.{member}", value.__func__
                    elif inspect.isfunction(value) and "<dataclass" not in repr(value.__code__):
                        yield f"{name}.{member}", value


def untyped(function) -> list[str]:
    signature = inspect.signature(function)
    missing = [
        p.name
        for p in signature.parameters.values()
        if p.name not in ("self", "cls") and p.annotation is inspect.Parameter.empty
    ]
    if signature.return_annotation is inspect.Signature.empty and function.__name__ != "__init__":
        missing.append("return")
    return missing


def test_every_public_signature_is_typed():
    found = {label: untyped(f) for label, f in public_callables()}
    assert len(found) > 40  # the walk reaches the API
    missing = {label: names for label, names in found.items() if names}
    assert not missing, "public signatures without annotations:\n" + "\n".join(
        f"  {label}: {', '.join(names)}" for label, names in sorted(missing.items())
    )


def test_the_package_ships_its_annotations():
    assert (ROOT / "refnet" / "py.typed").is_file()


# -- install advice matches how refnet is installed -------------------------------------------


def test_every_install_hint_names_an_extra_and_the_source_install():
    """refnet is not on a package index: advice such as ``pip install 'refnet[train]'`` fails
    for every user (docs/installation.md).  Every hint is ``install_hint(EXTRA)``, and EXTRA
    is an extra that pyproject.toml defines."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the test extra installs tomli
        import tomli as tomllib

    from refnet._checks import install_hint

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    wrong, named = [], set()
    for path in sorted(ROOT.glob("refnet/**/*.py")) + sorted(ROOT.glob("docs/**/*.md")):
        text = path.read_text(encoding="utf-8")
        if re.search(r"pip install '?refnet\[", text):
            wrong.append(str(path.relative_to(ROOT)))
        named |= set(re.findall(r"install_hint\([\"'](\w+)[\"']\)", text))
    assert not wrong, f"pip install 'refnet[...]' fails (not on an index): {wrong}"
    assert named and named <= set(extras), named - set(extras)
    assert install_hint("train") == "pip install -e '.[train]' in refnet's source folder"


def test_import_refnet_is_lazy_and_every_public_name_has_a_home():
    """``import refnet`` (and so the ``refnet`` command's first import) loads no NumPy, so
    that Ctrl-C is caught from the start of the command; every name of ``__all__`` is
    written once in refnet/__init__.py, as an import for type checkers, and loaded from that
    same module on first access."""
    import subprocess
    import sys

    code = "import sys, refnet, refnet.cli\nprint('numpy' in sys.modules)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr
    homes = {}
    for node in ast.walk(ast.parse((ROOT / "refnet" / "__init__.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            homes |= {alias.name: node.module for alias in node.names}
    assert sorted(homes) == sorted(refnet.__all__)
    tree = ast.parse((ROOT / "refnet" / "__init__.py").read_text())
    code = ast.unparse(tree.body[1:])  # below the docstring, comments dropped
    twice = [name for name in homes if len(re.findall(rf"\b{name}\b", code)) != 1]
    assert not twice, f"named more than once in refnet/__init__.py: {twice}"
    for name, home in homes.items():
        module = importlib.import_module(f"refnet.{home}")
        assert getattr(refnet, name) is getattr(module, name), name
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        refnet.no_such_name  # noqa: B018
