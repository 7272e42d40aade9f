"""Targets: where the chapter's names come from, and how a reproduction imports them.

A target is loaded from one of

* a Python file (``path/to/my_ch4.py``): imported under its file name, with its folder
  (and, for a file in a chapter folder of the book's layout, the repository's root) first
  on ``sys.path``, so that it can import its neighbours;
* a folder: the book's repository or one of its chapter folders, a package, or any folder
  of files, read as discovery.py describes, with no configuration;
* an importable module name (``refnet``, ``mypackage.chapter4``).

A name defined in several files (the book's ``numerical_gradient`` is in both
``common/gradient.py`` and ``ch04/gradient_2d.py``) has several *definitions*: each is
checked, and reported under its file.  An object imported from one file into another
(``from common.functions import *``) is one definition, attributed to the file that
defines it.  Mappings (mapping.py) name what discovery cannot find.

Importing is part of the run: each file is imported apart (output captured, warnings
recorded, no ``__pycache__`` written, plots to no window) and under the time limit; a file
that runs past it looks like a script, and is reported so.
"""
# Size: a submission's loading in one place (discovery's files imported, their names
# collected, mapped, hinted and bound for listings, and the import lines reproductions
# replay); the planned split of conformance/ divides it.

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass, field, replace
from types import ModuleType

from ..api import API, API_NAMES, CANONICAL, TargetError, api_name
from ..running.isolation import CappedOutput, CheckTimeout, importing
from .discovery import SourceFile, discover, top_level_definitions
from .mapping import Mapping, parse_entries, rename_hint
from .notebooks import listing_bindings, load_source, require_python


def script_problem(label: str, seconds: float) -> str:
    """What a file that runs too long at import is told."""
    return (
        f"looks like a script: importing {label} ran for more than {seconds:g} s; guard the "
        "code that trains or plots with `if __name__ == '__main__':`"
    )


@dataclass(frozen=True)
class Found:
    """One definition of one of the chapter's names."""

    name: str  # the book's name, as the checks and reproductions use it
    obj: object
    module: str  # importable module name
    attribute: str  # its name in that module
    file: str | None = None  # relative to the target's root, forward slashes
    path_entries: tuple[str, ...] = ()  # absolute folders a reproduction puts on sys.path
    #: the file a reproduction loads by path (its name is not a module name, or a notebook)
    load_path: str | None = None

    def import_line(self) -> str:
        if self.load_path:  # by its path, with the standard library only
            from ..checks.reproduction import loading_lines

            lines = loading_lines(self.load_path, "submission")
            return "\n".join([*lines, f"{self.name} = submission.{self.attribute}"])
        alias = "" if self.attribute == self.name else f" as {self.name}"
        return f"from {self.module} import {self.attribute}{alias}"

    def to_dict(self) -> dict:
        return {"module": self.module, "attribute": self.attribute, "file": self.file}


@dataclass
class Target:
    """The names found in a target, and what a reproduction needs to import them."""

    label: str
    found: dict[str, Found]  # the first definition of each name
    path_entry: str | None = None  # put first on sys.path by every reproduction
    notes: list[str] = field(default_factory=list)
    import_output: str = ""  # what importing the target printed
    definitions: dict[str, list[Found]] = field(default_factory=dict)
    members: dict[tuple[str, str], str] = field(default_factory=dict)  # from --map
    problems: list[dict] = field(default_factory=list)  # {"file", "problem"}
    broken: dict[str, dict] = field(default_factory=dict)  # name -> {"file", "problem"}
    hints: dict[str, str] = field(default_factory=dict)  # missing name -> --map line
    root: str | None = None
    layout: str = "a module"
    not_graded: list[dict] = field(default_factory=list)  # {"file", "reason"}
    #: module -> (spelling, definition) bound in it for a listing (notebooks.py)
    bindings: dict[str, list[tuple[str, Found]]] = field(default_factory=dict)

    def __post_init__(self):
        for name, found in self.found.items():
            self.definitions.setdefault(name, [found])

    @property
    def missing(self) -> tuple[str, ...]:
        """Names not found (a squared error found under either name counts for both)."""
        out = []
        for api in API:
            if api.name in self.found or api.name in self.broken:
                continue
            if api.alternative and api.alternative in self.found:
                continue
            out.append(api.name)
        return tuple(out)

    def member(self, name: str, member: str) -> str:
        """The target's spelling of a member of ``name`` (``--map TwoLayerNet.gradient=...``)."""
        return self.members.get((name, member), member)

    def setup_lines(self, names) -> list[str]:
        """The import lines of a reproduction that uses ``names`` (reproduction.py)."""
        from ..checks.reproduction import setup_lines

        return setup_lines(self, names)

    def for_definition(self, found: Found) -> Target:
        """The target as one check of ``found`` sees it: that definition under its name, and
        every other name taken, where it has several, from ``found``'s own module."""
        chosen = dict(self.found)
        chosen[found.name] = found
        module = sys.modules.get(found.module)
        for name, definitions in self.definitions.items():
            if name == found.name or len(definitions) < 2 or module is None:
                continue
            spellings = (name, *api_name(name).aliases)
            local = [getattr(module, s) for s in spellings if hasattr(module, s)]
            for candidate in definitions:
                if any(candidate.obj is obj for obj in local):
                    chosen[name] = candidate
        return replace(self, found=chosen)

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "root": self.root,
            "layout": self.layout,
            "found": {name: found.to_dict() for name, found in self.found.items()},
            "definitions": {
                name: [found.to_dict() for found in definitions]
                for name, definitions in self.definitions.items()
            },
            "missing": list(self.missing),
            "hints": dict(self.hints),
            "members": {f"{n}.{m}": s for (n, m), s in self.members.items()},
            "notes": list(self.notes),
            "problems": list(self.problems),
            "broken": dict(self.broken),
            "import_output": self.import_output,
            "not_graded": list(self.not_graded),
        }

    @classmethod
    def from_module(cls, module: ModuleType, label: str | None = None, mapping=None) -> Target:
        """The chapter's names found in an imported module (and in ``mapping``)."""
        parsed = parse_entries(mapping or ())
        collected = _Collector(parsed, _module_root(module))
        collected.add_module(module, None)
        path = getattr(module, "__file__", None)
        if path and path.endswith(".py"):
            collected.read = [path]
        target = cls(label or module.__name__, {}, members=dict(parsed.members))
        return collected.finish(target)


#: How the book builds each network: a class that cannot be called so is another network.
BOOK_CALLS = {"simpleNet": (), "TwoLayerNet": (2, 3, 4)}


def _binds(obj, arguments: tuple) -> bool:
    try:
        inspect.signature(obj).bind(*arguments)
    except TypeError:
        return False
    except ValueError:  # no signature to read: try it
        return True
    return True


def _module_root(module: ModuleType) -> str | None:
    path = getattr(module, "__file__", None)
    if not path:
        return None
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.basename(path) == "__init__.py":
        folder = os.path.dirname(folder)
    for _ in module.__name__.split(".")[1:]:
        folder = os.path.dirname(folder)
    return folder


def _source_path(obj, module: ModuleType) -> str | None:
    """The file that defines ``obj``, or else the module's."""
    try:
        path = inspect.getsourcefile(obj)
    except TypeError:  # a built-in or a ufunc
        path = None
    return path or getattr(module, "__file__", None)


def _put_first_on_path(directory: str) -> None:
    absolute = os.path.abspath(directory)
    if absolute in sys.path:
        sys.path.remove(absolute)
    sys.path.insert(0, absolute)


def _relative(path: str | None, root: str | None) -> str | None:
    if not path:
        return None
    path = os.path.abspath(path)
    if root and (path + os.sep).startswith(os.path.abspath(root) + os.sep):
        return os.path.relpath(path, root).replace(os.sep, "/")
    return path


class _Collector:
    """Gathers the definitions of every name from the modules of a target, once each."""

    def __init__(self, mapping: Mapping, root: str | None):
        self.mapping = mapping
        self.root = root
        self.renamed = {attr for module, attr in mapping.names.values() if module is None}
        self.definitions: dict[str, list[Found]] = {}
        self.seen: dict[object, Found] = {}
        self.modules: list[tuple[ModuleType, SourceFile | None]] = []
        self.notes: list[str] = []
        self.read: list[str] = []  # every file read: where a hint looks for renamings
        self.renamings: list | None = None

    def add_module(self, module: ModuleType, source: SourceFile | None) -> None:
        self.modules.append((module, source))

    def _entries(self, module_name: str) -> tuple[str, ...]:
        for module, source in self.modules:
            if module.__name__ == module_name and source is not None:
                return source.path_entries
        return ()

    def _load_path(self, module_name: str) -> str | None:
        for module, source in self.modules:
            if module.__name__ == module_name and source is not None and source.by_path:
                return source.path
        return None

    def _found(self, name, obj, module, attribute) -> Found:
        # Attribute an object imported from another of the target's files to that file.
        home = sys.modules.get(getattr(obj, "__module__", None) or "")
        mine = {m.__name__ for m, _ in self.modules}
        own = getattr(obj, "__name__", None)
        if home is not None and home.__name__ in mine and own and getattr(home, own, None) is obj:
            module, attribute = home, own
        return Found(
            name,
            obj,
            module.__name__,
            attribute,
            _relative(_source_path(obj, module), self.root),
            self._entries(module.__name__),
            self._load_path(module.__name__),
        )

    def _add(self, found: Found) -> None:
        # One definition once, also when its module was imported under two names
        # (common/functions.py as `functions` and as `common.functions`).
        code = getattr(found.obj, "__code__", None)
        same = (
            found.file,
            getattr(found.obj, "__qualname__", None),
            getattr(code, "co_firstlineno", None),
        )
        key = same if found.file and same[1] else id(found.obj)
        if key in self.seen or id(found.obj) in self.seen:
            return
        self.seen[key] = found
        self.seen[id(found.obj)] = found
        self.definitions.setdefault(found.name, []).append(found)

    def _mapped(self, name: str, source: str | None, attribute: str) -> None:
        if source is None:
            if not self.modules:
                raise TargetError(
                    f"--map {name}={attribute}: a folder target needs MODULE:ATTRIBUTE"
                )
            # The first of the target's modules that has it (a folder has several).
            head = attribute.split(".")[0]
            holders = [module for module, _ in self.modules if hasattr(module, head)]
            where = holders[0] if holders else self.modules[0][0]
        else:
            try:
                where = importlib.import_module(source)
            except (Exception, SystemExit) as exc:
                raise TargetError(
                    f"importing {source!r} failed: {type(exc).__name__}: {exc}"
                ) from exc
        obj = where
        for part in attribute.split("."):
            if not hasattr(obj, part):
                raise TargetError(
                    f"--map {name}: module {where.__name__!r} has no attribute {attribute!r}"
                )
            obj = getattr(obj, part)
        found = Found(
            name,
            obj,
            where.__name__,
            attribute,
            _relative(_source_path(obj, where), self.root),
            self._entries(where.__name__),
        )
        self.definitions[name] = [found]
        if attribute != name:
            self.notes.append(f"{name} is {where.__name__}.{attribute} (from --map)")

    def finish(self, target: Target) -> Target:
        for module, _ in self.modules:
            for api in API:
                if api.name in self.mapping.names:
                    continue
                for spelling in (api.name, *api.aliases):
                    if spelling in self.renamed:
                        self.notes.append(f"{spelling} is checked as another name only (--map)")
                        continue
                    obj = getattr(module, spelling, None)
                    if obj is not None and callable(obj):
                        self._add(self._found(api.name, obj, module, spelling))
        for name, (source, attribute) in self.mapping.names.items():
            self._mapped(name, source, attribute)
        for name, call in BOOK_CALLS.items():
            self._keep_buildable(name, call)
        target.definitions = {n: self.definitions[n] for n in API_NAMES if n in self.definitions}
        target.found = {n: d[0] for n, d in target.definitions.items()}
        target.root = target.root or self.root
        target.hints = {name: self._hint(name) for name in target.missing}
        target.notes += list(dict.fromkeys(self.notes))
        return target

    def _keep_buildable(self, name: str, arguments: tuple) -> None:
        """A class that cannot be built as the book builds it (``simpleNet()``) is another
        network, not a definition of ``name``, when another definition can be: noted."""
        definitions = self.definitions.get(name) or []
        if self.mapping.names.get(name) or len(definitions) < 2:
            return
        buildable = [found for found in definitions if _binds(found.obj, arguments)]
        if not buildable:
            return
        for found in definitions:
            if found not in buildable:
                self.notes.append(
                    f"{found.file}: {found.attribute} cannot be built as the book's "
                    f"{name}{arguments!r}, and another definition can: it is not graded as {name}"
                )
        self.definitions[name] = buildable

    def _hint(self, name: str) -> str:
        """The --map line that would bring a missing name in: a renaming found by
        RENAME_RULE (mapping.py), said in a note and never applied, or a template."""
        if self.renamings is None:
            self.renamings = [d for path in self.read for d in top_level_definitions(path)]
        found = rename_hint(name, self.renamings, lambda path: _relative(path, self.root))
        if found is None:
            return f"--map {name}={'NAME' if len(self.modules) == 1 else 'MODULE:NAME'}"
        self.notes.append(found[1])
        return found[0]


def _import_file(source: SourceFile, timeout, output, collected: _Collector, problems) -> bool:
    """Import one discovered file; on failure record why in ``problems`` and return False."""
    if source.problem:
        problems.append({"file": source.label, "problem": source.problem})
        return False
    for entry in reversed(source.path_entries):
        _put_first_on_path(entry)
    caught: list[str] = []
    try:
        with importing(os.path.dirname(source.path), output, None, caught):
            module, source = load_source(source, timeout, collected.notes)
    except CheckTimeout:
        sys.modules.pop(source.module, None)
        problems.append({"file": source.label, "problem": script_problem(source.label, timeout)})
        return False
    except (Exception, SystemExit) as exc:
        problems.append(
            {
                "file": source.label,
                "problem": f"importing {source.label} failed: {type(exc).__name__}: {exc}",
            }
        )
        return False
    collected.add_module(module, source)
    collected.notes += [f"importing {source.label} warned: {w}" for w in caught[:3]]
    return True


def _load_files(spec: str, mapping: Mapping, timeout, excluded, on_import) -> Target:
    wanted = frozenset(attribute for module, attribute in mapping.names.values() if not module)
    layout = discover(spec, wanted)
    collected = _Collector(mapping, layout.root)
    collected.read = layout.read
    problems = [{"file": label, "problem": problem} for label, problem in excluded.items()]
    output = CappedOutput(20_000)
    for source in layout.files:
        if source.label not in excluded:
            if on_import is not None:
                on_import(source.label)
            _import_file(source, timeout, output, collected, problems)
    if not collected.modules and not any(m for m, _ in mapping.names.values()):
        if layout.kind == "file" or len(problems) == 1:
            raise TargetError(problems[0]["problem"] if problems else f"{spec}: nothing to import")
        if not problems:
            raise TargetError(
                f"{spec} has none of the chapter's names in its {layout.scanned} Python files "
                "(softmax, cross_entropy_error, numerical_gradient, TwoLayerNet, ...); "
                "name them with --map"
            )
        raise TargetError(
            "no file of the target could be imported:\n"
            + "\n".join(f"  {p['problem']}" for p in problems)
        )
    for entry in {layout.root, *(e for s in layout.files for e in s.path_entries)}:
        if entry and os.path.isdir(entry) and entry not in sys.path:
            sys.path.append(entry)  # for modules named in --map NAME=MODULE:ATTRIBUTE
    target = Target(spec, {}, members=dict(mapping.members), root=layout.root)
    target.layout = layout.description
    target.not_graded = layout.not_graded
    target.problems = problems
    target.import_output = output.getvalue()
    collected.finish(target)
    for name, spelling, found, note in listing_bindings(collected.modules, target.definitions):
        target.bindings.setdefault(name, []).append((spelling, found))
        target.notes.append(note)
    failed = {p["file"]: p["problem"] for p in problems}
    for source in layout.files:
        for spelling in source.defines:
            name = CANONICAL[spelling]
            if source.label in failed and name not in target.found:
                target.broken.setdefault(
                    name, {"file": source.label, "problem": failed[source.label]}
                )
    target.hints = {n: h for n, h in target.hints.items() if n not in target.broken}
    target.notes = [
        n for n in target.notes if not any(n.startswith(f"{b} not found;") for b in target.broken)
    ]
    return target


def _is_module_name(spec: str) -> bool:
    """A dotted name that imports as a regular module (``refnet``, ``mypackage.ch4``), not a
    folder of the working directory that merely has such a name (``ch04``)."""
    if not all(part.isidentifier() for part in spec.split(".")):
        return False
    if spec.endswith(".py") or os.path.isfile(spec):
        # "ch4.py" is a file: find_spec("ch4.py") would import ch4 (running the student's
        # code outside the capture and the time limit) to look for a submodule "py".
        return False
    try:
        found = importlib.util.find_spec(spec)
    except (ImportError, ValueError):
        return False
    return found is not None and found.origin not in (None, "namespace")


def load_target(spec: str, mapping=(), *, timeout=None, excluded=None, on_import=None) -> Target:
    """Load a target from a file, a folder or a module name (see the module docstring).

    ``mapping`` is a list of ``--map`` entries (or a parsed Mapping); ``timeout`` limits
    each file's import (seconds, None for no limit); ``excluded`` maps files (labels) not
    to import to the problem to report for them; ``on_import(label)`` is called before
    each file is imported.
    """
    mapping = parse_entries(mapping)
    if _is_module_name(spec):
        try:
            module = importlib.import_module(spec)
        except (Exception, SystemExit) as exc:
            raise TargetError(f"importing {spec!r} failed: {type(exc).__name__}: {exc}") from exc
        return Target.from_module(module, spec, mapping)
    if os.path.isfile(spec) or spec.endswith(".py"):
        if not os.path.isfile(spec):
            raise TargetError(f"{spec}: no such file")
        if not spec.endswith((".py", ".ipynb")):
            require_python(spec)
        return _load_files(spec, mapping, timeout, excluded or {}, on_import)
    if os.path.isdir(spec):
        return _load_files(spec, mapping, timeout, excluded or {}, on_import)
    if all(part.isidentifier() for part in spec.split(".")):
        raise TargetError(f"{spec}: no such file, directory or importable module")
    raise TargetError(f"{spec}: no such file, directory or module")
