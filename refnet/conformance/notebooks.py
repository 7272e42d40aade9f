"""Submissions as their authors name them: any file name, and Jupyter notebooks.

A file whose name is not a Python module name (``alice-ch4.py``, ``4장 과제.py``,
``ex4.14.py``) is loaded by its path under a safe internal module name; reports name it
as the student did.  A notebook (``.ipynb``, read with nbformat, the standard reader) is
its code cells in order: IPython's magics (``%matplotlib inline``, ``%%time``) and shell
escapes (``!pip install``, ``files = !ls``) are not Python, so they are removed, each with
a note, and the rest runs cell by cell.  A cell that raises or runs too long (training,
plotting) is left out with a note, and the cells after it still run: the functions a
notebook defines are graded even when a cell between them fails.

`load_file` is what a reproduction calls to import such a file again.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import re
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
    from .isolation import CheckTimeout

    if cells is None:
        cells, removed = notebook_cells(path)
        notes += removed
    module = types.ModuleType(name)
    module.__file__ = os.path.abspath(path)
    sys.modules[name] = module
    label = os.path.basename(path)
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

    What a reproduction calls when the file's name is not a module name:
    ``from refnet.conformance.notebooks import load_file; m = load_file('/x/alice-ch4.py')``.
    """
    import importlib.machinery
    import importlib.util

    from .isolation import deadline

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
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


# -- loading a discovered file (target.py) ---------------------------------------------


def require_python(path: str) -> None:
    """A file without a .py or .ipynb suffix is graded when its text is Python."""
    from .api import TargetError

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
    from .isolation import deadline

    if source.path.endswith(".ipynb"):
        return run_notebook(source.path, source.module, deadline, timeout, notes), source
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
