"""Targets: where the chapter's names come from, and how a reproduction imports them.

A target is loaded from one of

* a Python file (``path/to/my_ch4.py``): imported under its file name, with its folder
  put first on ``sys.path`` so that it can import its neighbours;
* an importable module name (``refnet``, ``mypackage.chapter4``);
* a directory, with every name given by a mapping (``--map
  numerical_gradient=common.gradient:numerical_gradient``): the directory goes first on
  ``sys.path`` and each ``module:attribute`` is imported from there, which is how the
  book's own repository (common/functions.py, common/gradient.py, ch04/...) is checked.

A mapping entry ``NAME=ATTRIBUTE`` (no colon) renames: the target module's ATTRIBUTE is
checked as NAME, and not under its own name.  ``--map sum_squared_error=mean_squared_error``
checks the book's ``mean_squared_error``, which sums over a batch, under the sum convention.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import os
import sys
from dataclasses import dataclass, field
from types import ModuleType

__all__ = ["API", "ApiName", "Found", "Target", "TargetError", "load_target", "parse_mapping"]


@dataclass(frozen=True)
class ApiName:
    """One name of the chapter's API: the book's spelling and the others accepted."""

    name: str
    aliases: tuple[str, ...]
    description: str


#: The chapter's API, in the order the report lists it.
API = (
    ApiName("softmax", (), "softmax over the last axis"),
    ApiName("sigmoid", (), "the logistic function"),
    ApiName("mean_squared_error", (), "eq. 4.1, a batch's value is the mean over samples"),
    ApiName("sum_squared_error", (), "eq. 4.1, a batch's value is the sum over samples"),
    ApiName("cross_entropy_error", (), "eqs. 4.2 and 4.3, with delta = 1e-7"),
    ApiName("numerical_diff", ("numerical_difference",), "central difference, h = 1e-4"),
    ApiName("numerical_gradient", (), "the gradient of f at an array x"),
    ApiName("gradient_descent", (), "x <- x - lr * grad f(x), step_num times"),
    ApiName("simpleNet", ("SimpleNet",), "one 2x3 weight matrix W, softmax, cross-entropy"),
    ApiName("TwoLayerNet", (), "the two-layer network with params W1, b1, W2, b2"),
)
API_NAMES = tuple(api.name for api in API)
_CANONICAL = {alias: api.name for api in API for alias in (api.name, *api.aliases)}


class TargetError(Exception):
    """The target cannot be loaded, or a mapping is malformed."""


@dataclass(frozen=True)
class Found:
    """Where one of the chapter's names was found in the target."""

    name: str  # the book's name, as the checks and reproductions use it
    obj: object
    module: str  # importable module name
    attribute: str  # its name in that module

    def import_line(self) -> str:
        alias = "" if self.attribute == self.name else f" as {self.name}"
        return f"from {self.module} import {self.attribute}{alias}"


@dataclass
class Target:
    """The names found in a target, and what a reproduction needs to import them."""

    label: str
    found: dict[str, Found]
    path_entry: str | None = None  # put first on sys.path by a reproduction
    notes: list[str] = field(default_factory=list)
    import_output: str = ""  # what importing the target printed

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(name for name in API_NAMES if name not in self.found)

    def setup_lines(self, names) -> list[str]:
        """The import lines of a reproduction that uses ``names``."""
        lines = []
        if self.path_entry is not None:
            lines.append(f"import sys; sys.path.insert(0, {self.path_entry!r})")
        lines += [self.found[name].import_line() for name in API_NAMES if name in names]
        return lines

    @classmethod
    def from_module(cls, module: ModuleType, label: str | None = None, mapping=None) -> Target:
        """The chapter's names found in an imported module (and in ``mapping``)."""
        found, notes = _resolve(module, module.__name__, parse_mapping(mapping or ()))
        return cls(label or module.__name__, found, notes=notes)


def parse_mapping(entries) -> dict[str, tuple[str | None, str]]:
    """``["NAME=module:attr", "NAME=attr", ...]`` -> {canonical NAME: (module or None, attr)}."""
    if isinstance(entries, dict):
        entries = [f"{key}={value}" for key, value in entries.items()]
    mapping = {}
    for entry in entries:
        name, sep, source = entry.partition("=")
        name, source = name.strip(), source.strip()
        if not sep or not name or not source:
            raise TargetError(
                f"--map {entry!r}: expected NAME=MODULE:ATTRIBUTE or NAME=ATTRIBUTE, "
                "e.g. numerical_gradient=common.gradient:numerical_gradient"
            )
        if name not in _CANONICAL:
            raise TargetError(
                f"--map {entry!r}: {name!r} is not one of the chapter's names "
                f"({', '.join(API_NAMES)})"
            )
        module, colon, attribute = source.rpartition(":")
        if colon and (not module or not attribute):
            raise TargetError(f"--map {entry!r}: {source!r} must be MODULE:ATTRIBUTE")
        mapping[_CANONICAL[name]] = (module if colon else None, attribute)
    return mapping


def _import(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:
        raise TargetError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from exc


def _resolve(module: ModuleType | None, module_name: str | None, mapping):
    found: dict[str, Found] = {}
    notes: list[str] = []
    renamed = {attribute for source, attribute in mapping.values() if source is None}
    for name in API_NAMES:
        if name in mapping:
            source, attribute = mapping[name]
            if source is None:
                if module is None:
                    raise TargetError(
                        f"--map {name}={attribute}: a directory target needs MODULE:ATTRIBUTE"
                    )
                source, where = module_name, module
            else:
                where = _import(source)
            if not hasattr(where, attribute):
                raise TargetError(f"--map {name}: module {source!r} has no attribute {attribute!r}")
            found[name] = Found(name, getattr(where, attribute), source, attribute)
            if attribute != name:
                notes.append(f"{name} is {source}.{attribute} (from --map)")
            continue
        if module is None:
            continue
        api = next(api for api in API if api.name == name)
        for spelling in (api.name, *api.aliases):
            if spelling in renamed:
                notes.append(f"{spelling} is checked as another name only (from --map)")
                continue
            if hasattr(module, spelling):
                found[name] = Found(name, getattr(module, spelling), module_name, spelling)
                break
    return found, notes


def load_target(spec: str, mapping=()) -> Target:
    """Load a target from a file path, a directory or a module name (see the module docstring)."""
    mapping = parse_mapping(mapping)
    imports = any(source is not None for source, _ in mapping.values())
    is_name = all(part.isidentifier() for part in spec.split("."))
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        if spec.endswith(".py") or os.path.isfile(spec):
            module = _load_file(spec)
            found, notes = _resolve(module, module.__name__, mapping)
            target = Target(spec, found, path_entry=os.path.dirname(spec) or ".", notes=notes)
        elif os.path.isdir(spec) and (imports or not is_name):
            if not imports:
                raise TargetError(
                    f"{spec} is a directory: give the module of each name with --map, e.g. "
                    "--map numerical_gradient=common.gradient:numerical_gradient"
                )
            _put_first_on_path(spec)
            found, notes = _resolve(None, None, mapping)
            target = Target(spec, found, path_entry=spec, notes=notes)
        elif is_name:
            module = _import(spec)
            found, notes = _resolve(module, spec, mapping)
            target = Target(spec, found, notes=notes)
        else:
            raise TargetError(f"{spec}: no such file, directory or module")
    target.import_output = output.getvalue()
    return target


def _put_first_on_path(directory: str) -> None:
    absolute = os.path.abspath(directory)
    if absolute in sys.path:
        sys.path.remove(absolute)
    sys.path.insert(0, absolute)


def _load_file(path: str) -> ModuleType:
    if not os.path.isfile(path):
        raise TargetError(f"{path}: no such file")
    name = os.path.splitext(os.path.basename(path))[0]
    if not name.isidentifier():
        raise TargetError(
            f"{path}: the file name must be a Python identifier to be imported "
            f"(a reproduction does `from {name} import ...`)"
        )
    absolute = os.path.abspath(path)
    loaded = sys.modules.get(name)
    if loaded is not None:
        if os.path.abspath(getattr(loaded, "__file__", "") or "") == absolute:
            return loaded
        raise TargetError(
            f"{path}: a module named {name!r} is already imported (from "
            f"{getattr(loaded, '__file__', 'built-in')}); rename the file"
        )
    _put_first_on_path(os.path.dirname(path) or ".")
    spec = importlib.util.spec_from_file_location(name, absolute)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        del sys.modules[name]
        raise TargetError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    return module
