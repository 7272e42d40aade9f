"""Submissions as their authors name them: any file name, and Jupyter notebooks.

A file whose name is not a Python module name (``alice-ch4.py``, ``4장 과제.py``,
``ex4.14.py``) is loaded by its path under a safe internal module name; reports name it
as the student did.  A notebook (``.ipynb``, read with nbformat, the standard reader) is
its code cells in order: IPython's magics (``%matplotlib inline``, ``%%time``) and shell
escapes (``!pip install``, ``files = !ls``) are not Python, so they are removed, each with
a note, and the rest runs cell by cell.  A cell that raises or runs too long (training,
plotting) is left out with a note, and the cells after it still run: the functions a
notebook defines are graded even when a cell between them fails.

A listing copied out of one interactive session often uses ``np`` that only the
session's first listing imported (``ex4-2.py``: ``return -np.sum(t * np.log(y + delta))``
and no import).  A file that uses the global name ``np`` and binds it nowhere (no import,
assignment, definition, nor a ``from ... import *`` that might bring it) is run with ``np``
bound to NumPy, and the report says so (`implicit_imports`).  Only ``np``: it names NumPy
in every text; ``plt`` only plots, which nothing grades, and a statement that fails on it
is left out as any other.

`load_file` imports such a file again in Python that has refnet, as the grader did (reproductions
use the standard library only: reproduction.py).
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import re
import symtable
import sys
import time
import types
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .discovery import SourceFile

#: The code of a cell magic that is still Python (the magic only times or captures it).
PYTHON_CELL_MAGICS = ("%%time", "%%timeit", "%%capture", "%%prun")
#: A line that IPython, not Python, reads: a magic, a shell escape, a help request.
IPYTHON_LINE = re.compile(r"^\s*(?:[%!]|\w[\w.]*\s*=\s*[%!])|\?\s*$|^\s*\?")
#: Past this share of the time limit, only cells that define something still run.
DEFINITIONS_ONLY_AFTER = 0.5


#: Global names bound for a file that uses them and never binds them: one meaning each.
IMPLICIT_IMPORTS = {"np": "numpy"}


def free_globals(source: str, candidates) -> list[str]:
    """The names among ``candidates`` that ``source`` reads as globals and never binds.

    Read with symtable, the compiler's own scopes: a name counts when a module-level
    statement or a function reads it as a global; it is bound when the module (or a
    function declaring it ``global``) assigns, imports or defines it.  A ``from ... import
    *`` may bind anything: such a file has none.
    """
    try:
        tree = ast.parse(source)
        table = symtable.symtable(source, "<source>", "exec")
    except (SyntaxError, ValueError):
        return []
    if any(
        isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)
        for node in ast.walk(tree)
    ):
        return []
    read: set[str] = set()
    bound: set[str] = set()
    tables = [table]
    while tables:
        scope = tables.pop()
        tables += scope.get_children()
        top = scope is table
        for symbol in scope.get_symbols():
            name = symbol.get_name()
            if name not in candidates:
                continue
            binds = symbol.is_assigned() or symbol.is_imported() or symbol.is_namespace()
            if (top or symbol.is_declared_global()) and binds:
                bound.add(name)
            if symbol.is_referenced() and (top or symbol.is_global()):
                read.add(name)
    return sorted(name for name in read - bound if not hasattr(builtins, name))


def implicit_imports(source: str) -> dict[str, str]:
    """The names of IMPLICIT_IMPORTS that ``source`` reads as globals and never binds
    (`free_globals`), with the module each is bound to.

    >>> implicit_imports("def f(x):\\n    return np.sum(x)")
    {'np': 'numpy'}
    >>> implicit_imports("import numpy as np\\ndef f(x):\\n    return np.sum(x)")
    {}
    >>> implicit_imports("def f(np):\\n    return np.sum(1)")
    {}
    """
    return {name: IMPLICIT_IMPORTS[name] for name in free_globals(source, IMPLICIT_IMPORTS)}


def implicit_note(label: str, names: dict[str, str]) -> str:
    """The report's note on a file given ``names`` (`implicit_imports`)."""
    uses = ", ".join(f"`import {module} as {name}`" for name, module in names.items())
    return (
        f"{label} uses {', '.join(names)} without {uses}; graded as if it imported it "
        "(the listing relies on an earlier one's import)"
    )


def bind_implicit(module: types.ModuleType, source: str) -> dict[str, str]:
    """Bind the `implicit_imports` of ``source`` in ``module`` before it runs."""
    names = implicit_imports(source)
    for name, target in names.items():
        setattr(module, name, importlib.import_module(target))
    return names


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def module_name(path: str) -> str:
    """A safe, unique internal module name for the file at ``path``.

    >>> module_name("/x/4장 과제.py").startswith("refnet_submission_4장_과제_")
    True
    """
    stem = os.path.basename(path).rsplit(".", 1)[0]
    digest = hashlib.sha1(os.path.abspath(path).encode("utf-8")).hexdigest()[:8]
    safe = re.sub(r"\W", "_", stem)
    name = f"refnet_submission_{safe}_{digest}"
    return name if name.isidentifier() else f"refnet_submission_{digest}"


def notebook_cells(path: str) -> tuple[list[str], list[str]]:
    """The code cells of a notebook as Python, and a note for each line removed."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    label = os.path.basename(path)
    cells, notes = [], []
    number = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        number += 1
        lines = cell.source.splitlines()
        if lines and lines[0].lstrip().startswith("%%"):
            magic = lines[0].split()[0]
            if magic not in PYTHON_CELL_MAGICS:
                notes.append(f"{label}, code cell {number}: {magic} cell is not Python: left out")
                continue
            notes.append(f"{label}, code cell {number}: {magic} removed (the cell runs as Python)")
            lines = lines[1:]
        kept = []
        for line in lines:
            if IPYTHON_LINE.search(line) and not _is_python(line):
                notes.append(f"{label}, code cell {number}: removed {line.strip()!r} (IPython)")
                kept.append("")  # keep the line numbers of tracebacks
            else:
                kept.append(line)
        cells.append("\n".join(kept))
    return cells, notes


def _is_python(line: str) -> bool:
    try:
        ast.parse(line.strip())
    except SyntaxError:
        return False
    return True


def _defines(source: str) -> bool:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    kinds = (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom, ast.AsyncFunctionDef)
    return any(isinstance(node, kinds) for node in tree.body)


def statements(path: str) -> list[str]:
    """The top-level statements of a Python file, each as its source (blank lines kept, so
    that tracebacks name the file's own line numbers)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        source = handle.read()
    lines = source.splitlines()
    out = []
    for node in ast.parse(source).body:
        start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        end = node.end_lineno or node.lineno
        out.append("\n" * (start - 1) + "\n".join(lines[start - 1 : end]))
    return out


def run_notebook(
    path: str, name: str, deadline, timeout, notes: list[str], cells=None, unit="code cell"
) -> types.ModuleType:
    """Run a notebook's cells (or ``cells`` given), in order, as module ``name``; each cell
    under ``deadline`` (isolation.deadline) of ``timeout``; a cell that fails or runs out of
    time is left out with a note."""
    from ..running.isolation import CheckTimeout

    if cells is None:
        cells, removed = notebook_cells(path)
        notes += removed
    module = types.ModuleType(name)
    module.__file__ = os.path.abspath(path)
    sys.modules[name] = module
    label = os.path.basename(path)
    implicit = bind_implicit(module, "\n".join(cells))
    if implicit and not path.endswith(".py"):  # a .py file's note is load_source's
        notes.append(implicit_note(label, implicit))
    start = time.monotonic()
    for number, source in enumerate(cells, 1):
        spent = time.monotonic() - start
        if timeout and spent > DEFINITIONS_ONLY_AFTER * timeout and not _defines(source):
            notes.append(
                f"{label}, {unit} {number}: not run (the notebook's time is spent, "
                "and the cell defines nothing)"
            )
            continue
        try:
            code = compile(source, module.__file__, "exec")
        except SyntaxError as exc:
            notes.append(
                f"{label}, {unit} {number}: not Python ({exc.msg}, line {exc.lineno}): left out"
            )
            continue
        limit = max(1.0, timeout - spent) if timeout else None
        try:
            with deadline(limit):
                exec(code, module.__dict__)
        except CheckTimeout:
            notes.append(f"{label}, {unit} {number}: stopped after {limit:g} s (left out)")
        except (Exception, SystemExit) as exc:
            notes.append(f"{label}, {unit} {number} raised {type(exc).__name__}: {exc} (left out)")
    return module


def load_file(path: str):
    """Import the Python file or notebook at ``path`` (any file name) as a module, once.

    For Python that has refnet (a reproduction uses the standard library instead):
    ``from refnet.conformance.finding.notebooks import load_file; m = load_file('/x/alice-ch4.py')``.
    """
    import importlib.machinery
    import importlib.util

    from ..running.isolation import deadline

    name = module_name(path)
    if name in sys.modules:
        return sys.modules[name]
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    if path.endswith(".ipynb"):
        return run_notebook(path, name, deadline, None, [])
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path}: cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    bind_implicit(module, _read(path))
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:  # as the grader loaded it: statement by statement (load_source)
        sys.modules.pop(name, None)
        return run_notebook(path, name, deadline, None, [], statements(path), "statement")
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


# -- loading a discovered file (target.py) ---------------------------------------------


def require_python(path: str) -> None:
    """A file without a .py or .ipynb suffix is graded when its text is Python."""
    from ..api import TargetError

    try:
        with open(path, "rb") as handle:
            compile(handle.read(), path, "exec")
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        where = f", line {line}" if line else ""
        raise TargetError(
            f"{path}: not a Python file or a notebook (its text is not Python: "
            f"{getattr(exc, 'msg', exc)}{where}); give a .py file, a .ipynb notebook, a "
            "folder or a module name"
        ) from None
    except OSError as exc:
        raise TargetError(f"{path}: {exc.strerror}") from None


def import_source(source: SourceFile) -> types.ModuleType:
    """Import a discovered file: by its dotted name, or by its path (notebooks.py)."""
    if not source.by_path:
        return importlib.import_module(source.module)
    loader = importlib.machinery.SourceFileLoader(source.module, source.path)
    spec = importlib.util.spec_from_file_location(source.module, source.path, loader=loader)
    if spec is None or spec.loader is None:
        raise ImportError(f"{source.label} cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    bind_implicit(module, _read(source.path))
    sys.modules[source.module] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(source.module, None)
        raise
    return module


def load_source(
    source: SourceFile, timeout, notes: list[str]
) -> tuple[types.ModuleType, SourceFile]:
    """The module of a discovered file, and its entry (loaded by path when its dotted name
    is another file's).  A notebook runs cell by cell; a file whose top level raises is run
    again statement by statement, the statements that raise left out with a note."""
    from ..running.isolation import deadline

    if source.path.endswith(".ipynb"):
        return run_notebook(source.path, source.module, deadline, timeout, notes), source
    implicit = implicit_imports(_read(source.path))
    if implicit:
        # Loaded by path, so that a reproduction's load_file binds the same names.
        notes.append(implicit_note(source.label, implicit))
        if not source.by_path:
            source = replace(source, module=module_name(source.path), by_path=True)
    try:
        with deadline(timeout):
            module = import_source(source)
    except MemoryError:
        raise  # a limit, not a statement to leave out: the file is reported as it ran
    except (Exception, SystemExit) as exc:
        sys.modules.pop(source.module, None)
        notes.append(
            f"importing {source.label} raised {type(exc).__name__}: {exc}; its top-level "
            "statements were run one by one, and those that raise left out"
        )
        cells = statements(source.path)  # a SyntaxError here: the file cannot be imported
        module = run_notebook(
            source.path, source.module, deadline, timeout, notes, cells, "statement"
        )
        return module, source
    where = os.path.abspath(getattr(module, "__file__", "") or "")
    if where != source.path:  # the dotted name is taken (two common/ folders): by path
        source = replace(source, module=module_name(source.path), by_path=True)
        with deadline(timeout):
            module = import_source(source)
    return module, source


def listing_bindings(modules, definitions) -> list[tuple]:
    """Bind, in each loaded file that reads one of the chapter's names as a global it
    never binds (a listing that calls what an earlier listing of the same session
    defined: ``gradient_descent`` calling ``numerical_gradient``), the submission's own
    definition of that name: one in the same folder first, else the first found.

    ``modules`` are (module, SourceFile) pairs, ``definitions`` the target's name ->
    definitions (target.Found); returns (module name, spelling, definition, note) for each
    name bound.
    """
    from ..api import CANONICAL
    from .discovery import read_source

    bound = []
    for module, source in modules:
        if source is None:
            continue
        for spelling in free_globals(read_source(source.path), CANONICAL):
            choices = definitions.get(CANONICAL[spelling]) or []
            folder = os.path.dirname(source.label)
            near = [f for f in choices if os.path.dirname(f.file or "") == folder]
            if not choices or any(f.module == module.__name__ for f in choices):
                continue
            chosen = (near or choices)[0]
            setattr(module, spelling, chosen.obj)
            note = (
                f"{source.label} uses {spelling} without defining or importing it; bound to "
                f"the submission's own, from {chosen.file} (the listing relies on an earlier one)"
            )
            bound.append((module.__name__, spelling, chosen, note))
    return bound
