"""Discovery: which files of a folder define the chapter's names, and how to import each.

Nothing is imported here: every ``.py`` file is parsed (``ast``) and a file is kept when it
defines one of the chapter's spellings at its top level (``def``, ``class`` or an
assignment, also inside a top-level ``if``/``try``).  A script that defines none of them
(the book's ``train_neuralnet.py``, which downloads MNIST and trains) is never run.

Layouts recognised without configuration:

* **the book's repository**: a root with chapter folders (``ch04``, ``ch4``,
  ``chapter04``, ...) beside helper packages (``common/``).  Only the chapter-4 folder
  and the helper folders are read; other chapters have their own ``TwoLayerNet``.
  Pointing at the chapter folder itself reads the same files.
* **a package** (a folder with ``__init__.py``): every module in it, imported under its
  dotted name.
* **any other folder**: every ``.py`` file below it, tests, virtual environments and
  hidden folders excepted.

Each file is imported as the book's scripts expect: its own folder first on ``sys.path``
(``from gradient_2d import numerical_gradient``), then the root (what
``sys.path.append(os.pardir)`` adds when run from the chapter folder, so that
``from common.functions import softmax`` works), a package's modules under their dotted
names.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field

from ..api import CANONICAL

#: ch04, ch4, chap04, chapter4, chapter_04, Ch04 ...: group 1 is the chapter's number.
CHAPTER_FOLDER = re.compile(r"^(?:ch|chap|chapter)[-_ ]?0*(\d+)$", re.IGNORECASE)
#: A file named for a chapter: ``ch05``, ``chapter3_notes`` (its stem).
CHAPTER_FILE = re.compile(r"^(?:ch|chap|chapter)[-_ ]?0*(\d+)(?![0-9a-z])", re.IGNORECASE)
_SKIPPED_FOLDERS = {
    "__pycache__",
    "build",
    "dist",
    "docs",
    "env",
    "node_modules",
    "site-packages",
    "test",
    "tests",
    "venv",
}
_SKIPPED_FILES = re.compile(r"^(setup|conftest|test_.*|.*_test)\.py$")
#: Folders below the root that are read (the book's is 2 deep: common/gradient.py).
MAX_DEPTH = 4


@dataclass(frozen=True)
class SourceFile:
    """One file that defines some of the chapter's names."""

    path: str  # absolute
    label: str  # relative to the layout's root, with forward slashes
    module: str  # the dotted name it is imported under
    path_entries: tuple[str, ...]  # absolute folders put first on sys.path to import it
    defines: tuple[str, ...]  # the chapter's spellings it defines
    problem: str | None = None  # why it cannot be imported, found before importing
    #: loaded by its path under ``module``, a safe internal name (notebooks.py): a file
    #: name that is not a module name, or a notebook
    by_path: bool = False


@dataclass
class Layout:
    """What a target path holds."""

    root: str  # absolute; labels are relative to it
    kind: str  # "file", "package", "book" or "folder"
    files: list[SourceFile]
    scanned: int  # .py files read
    description: str
    #: what the target holds that is not graded, and why: {"file", "reason"}
    not_graded: list[dict] = field(default_factory=list)
    read: list[str] = field(default_factory=list)  # every file read (absolute paths)


def defined_names(source: str, wanted=CANONICAL) -> tuple[str, ...]:
    """The chapter's spellings (or the ``wanted`` names) a module's source defines at its
    top level.

    Examples
    --------
    >>> defined_names("import numpy as np\\ndef softmax(a):\\n    pass\\nclass SimpleNet: pass")
    ('softmax', 'SimpleNet')
    >>> defined_names("if __name__ == '__main__':\\n    def sigmoid(x): pass")
    ()
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        pattern = r"^(?:def|class)\s+(\w+)|^(\w+)\s*="
        found = [a or b for a, b in re.findall(pattern, source, flags=re.MULTILINE)]
        return tuple(dict.fromkeys(name for name in found if name in wanted))
    names = []
    for node in _top_level(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return tuple(dict.fromkeys(name for name in names if name in wanted))


@dataclass(frozen=True)
class Definition:
    """A top-level function or class of a file, as a --map hint weighs it (mapping.py)."""

    name: str
    file: str  # absolute
    is_class: bool
    positional: int  # parameters that take a positional argument (self excluded)
    required: int  # of them, those without a default
    varargs: bool  # *args: any number more
    keyword_only: int  # keyword-only parameters without a default
    parameters: tuple[str, ...]  # the positional parameters' names


def _definition(node, path: str) -> Definition | None:
    is_class = isinstance(node, ast.ClassDef)
    if is_class:
        init = next(
            (n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"),
            None,
        )
        if init is None:
            return Definition(node.name, path, True, 0, 0, bool(node.bases), 0, ())
        arguments = init.args
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        arguments = node.args
    else:
        return None
    names = [a.arg for a in [*arguments.posonlyargs, *arguments.args]]
    if is_class and names:
        names = names[1:]  # self
    required = max(0, len(names) - len(arguments.defaults))
    missing_keywords = sum(d is None for d in arguments.kw_defaults)
    return Definition(
        node.name,
        path,
        is_class,
        len(names),
        required,
        arguments.vararg is not None,
        missing_keywords,
        tuple(names),
    )


def top_level_definitions(path: str) -> list[Definition]:
    """The functions and classes a file (or notebook) defines at its top level."""
    try:
        tree = ast.parse(read_source(path))
    except (SyntaxError, ValueError, OSError):
        return []
    found = (_definition(node, path) for node in _top_level(tree.body))
    return [d for d in found if d is not None]


def _is_main_guard(node) -> bool:
    test = getattr(node, "test", None)
    return isinstance(test, ast.Compare) and "__main__" in ast.dump(test)


def _top_level(body):
    for node in body:
        if isinstance(node, ast.If) and not _is_main_guard(node):
            yield from _top_level(node.body)
            yield from _top_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _top_level(block)
            for handler in node.handlers:
                yield from _top_level(handler.body)
        else:
            yield node


def _chapter(folder: str) -> int | None:
    match = CHAPTER_FOLDER.match(os.path.basename(os.path.normpath(folder)))
    return int(match.group(1)) if match else None


def _subfolders(folder: str) -> list[str]:
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [
        os.path.join(folder, n)
        for n in names
        if os.path.isdir(os.path.join(folder, n))
        and not n.startswith(".")
        and n not in _SKIPPED_FOLDERS
        and not os.path.exists(os.path.join(folder, n, "pyvenv.cfg"))
    ]


def _python_files(folder: str, depth: int) -> list[str]:
    """Every .py file of ``folder`` and (to ``depth`` levels) its subfolders."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    files = [
        os.path.join(folder, n)
        for n in names
        if n.endswith((".py", ".ipynb"))
        and os.path.isfile(os.path.join(folder, n))
        and not _SKIPPED_FILES.match(n)
    ]
    if depth > 0:
        for sub in _subfolders(folder):
            files += _python_files(sub, depth - 1)
    return files


def _book_like(folder: str) -> bool:
    """A root laid out like the book's: chapter folders (and perhaps common/)."""
    return any(_chapter(sub) is not None for sub in _subfolders(folder))


def _package_base(folder: str) -> str:
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        folder = os.path.dirname(folder)
    return folder


def read_source(path: str) -> str:
    """A file's Python source: a notebook's code cells (notebooks.py), else its text."""
    if path.endswith(".ipynb"):
        from .notebooks import notebook_cells

        try:
            return "\n".join(notebook_cells(path)[0])
        except Exception:  # not a notebook nbformat can read: nothing defined
            return ""
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def _source_file(
    path: str, root: str, *, required: bool = True, wanted=frozenset()
) -> SourceFile | None:
    """The file's entry, or None when it defines none of the names (and ``required``):
    the chapter's, or the ``wanted`` ones (those a --map NAME=ATTRIBUTE names)."""
    from .notebooks import module_name

    try:
        source = read_source(path)
    except OSError:
        return None
    defines = defined_names(source)
    if required and not defines and not (wanted and defined_names(source, wanted)):
        return None
    folder = os.path.dirname(path)
    base = _package_base(folder)
    stem = os.path.splitext(os.path.basename(path))[0]
    parts = os.path.relpath(folder, base).split(os.sep) if folder != base else []
    module = ".".join([*parts, stem])
    label = os.path.relpath(path, root).replace(os.sep, "/")
    by_path = (
        not path.endswith(".py")
        or not stem.isidentifier()
        or not all(part.isidentifier() for part in parts)
    )
    if by_path:
        module = module_name(path)
    # Its package's base and the root, then the file's own folder, as when its author runs
    # it from there (`python two_layer_net.py` in a package imports `functions` beside it).
    entries = tuple(dict.fromkeys([base, root, folder]))
    return SourceFile(path, label, module, entries, defines, None, by_path)


def _other_chapter(path: str) -> bool:
    """A file named for another chapter than 4 (``ch05.ipynb``, ``chapter3_notes.py``)."""
    stem = os.path.splitext(os.path.basename(path))[0]
    match = CHAPTER_FILE.match(stem)
    return match is not None and int(match.group(1)) != 4


def _book_files(root: str) -> tuple[list[str], str]:
    chapters = {sub: _chapter(sub) for sub in _subfolders(root)}
    fourth = [sub for sub, n in chapters.items() if n == 4]
    helpers = [sub for sub, n in chapters.items() if n is None]
    files = _python_files(root, 0)
    for sub in helpers:
        files += _python_files(sub, MAX_DEPTH - 1)
    if fourth:  # beside chapter 4's folder, another chapter's file is another chapter's
        files = [f for f in files if not _other_chapter(f)]
    if not fourth:
        for sub in (s for s, n in chapters.items() if n is not None):
            files += _python_files(sub, MAX_DEPTH - 1)
        return files, "chapter folders, none of them chapter 4: every one is read"
    for sub in fourth:
        files += _python_files(sub, MAX_DEPTH - 1)
    named = ", ".join(os.path.basename(s) + "/" for s in fourth)
    return files, f"the book's layout: {named} and its helper folders (other chapters are not read)"


def discover(path: str, wanted=frozenset()) -> Layout:
    """The files below ``path`` (a file or a folder) that define the chapter's names, or
    one of the ``wanted`` names (the attributes a --map NAME=ATTRIBUTE names)."""
    path = os.path.abspath(path)
    if os.path.isfile(path):
        folder = os.path.dirname(path)
        parent = os.path.dirname(folder)
        root = parent if _chapter(folder) is not None and _book_like(parent) else folder
        # Imported even without definitions of its own: it may import them from elsewhere.
        entry = _source_file(path, root, required=False)  # None: the file cannot be read
        return Layout(root, "file", [entry] if entry else [], 1, "a file", read=[path])
    if os.path.isfile(os.path.join(path, "__init__.py")):
        root = _package_base(path)
        files = _python_files(path, MAX_DEPTH)
        kind, description = "package", f"the package {os.path.basename(path)}"
    elif _chapter(path) is not None and _book_like(os.path.dirname(path)):
        root = os.path.dirname(path)
        files, description = _book_files(root)
        kind = "book"
    elif _book_like(path):
        root = path
        files, description = _book_files(root)
        kind = "book"
    else:
        root = path
        files = _python_files(path, MAX_DEPTH)
        kind, description = "folder", "a folder of Python files"
    sources = [s for s in (_source_file(f, root, wanted=wanted) for f in files) if s]
    layout = Layout(root, kind, sources, len(files), description, read=list(files))
    layout.not_graded = not_graded(root, files, sources)
    return layout


#: Entries of the list of what is not graded, at most (then a count of the rest).
NOT_GRADED_LISTED = 50


def not_graded(root: str, read: list[str], sources: list[SourceFile]) -> list[dict]:
    """Every file below ``root`` that is not graded, with the reason."""
    kept = {s.path for s in sources}
    out = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in sorted(names):
            path = os.path.join(folder, name)
            if path in kept or name.startswith(".") or name.endswith(".pyc"):
                continue
            if path in read:
                reason = "defines none of the chapter's names: not imported"
            elif name.endswith((".py", ".ipynb")):
                reason = (
                    "not read: outside the chapter's folders, another chapter's file, or a "
                    "test, setup or venv file"
                )
            else:
                reason = "not Python"
            out.append({"file": os.path.relpath(path, root).replace(os.sep, "/"), "reason": reason})
    if len(out) > NOT_GRADED_LISTED:
        rest = len(out) - NOT_GRADED_LISTED
        out = out[:NOT_GRADED_LISTED] + [{"file": "...", "reason": f"and {rest} more"}]
    return out
