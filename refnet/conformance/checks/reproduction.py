"""What a reproduction needs besides the lines a check ran: NumPy, and the student's files.

A student has NumPy and their own submission, not refnet.  So a reproduction imports the
target's names from its files with the standard library (a file whose name is not a module
name by its path, with importlib; a notebook by running its code cells, with json and the
grader's own removal of IPython's lines), and holds the source of the suite's own test
functions (functions.py is written against an array namespace ``xp``: here it becomes
NumPy code) instead of importing them.
"""

from __future__ import annotations

import inspect
import keyword
import os
import re
import textwrap

from ..api import API_NAMES
from ..finding.notebooks import IPYTHON_LINE, PYTHON_CELL_MAGICS, implicit_imports

#: ``def name(xp, arguments):``, the header of a function of functions.py
_XP_HEADER = re.compile(r"def (\w+)\(xp, ([^)]*)\):")
#: a call that passes the namespace on: ``_sigmoid(xp, a)`` (not ``problem.unflatten(xp, ...)``)
_XP_CALL = re.compile(r"(?<![.\w])(\w+)\(xp, ")


def numpy_source(function, name: str | None = None) -> str:
    """The source of a function written against an array namespace ``xp`` (functions.py)
    as NumPy code, without its docstring: ``xp.`` becomes ``np.``, and the ``xp`` argument
    leaves its header and the calls in its body.  ``name`` renames it."""
    source = textwrap.dedent(inspect.getsource(function))
    header, _, body = source.partition("\n")
    match = _XP_HEADER.fullmatch(header)
    if not match:
        raise ValueError(f"unexpected header {header!r}")
    body = re.sub(r'^\s*"""(?:.|\n)*?"""\n', "", body)  # the docstring
    body = _XP_CALL.sub(r"\1(", re.sub(r"\bxp\.", "np.", body))
    body = re.sub(r"\.(\w+)\(xp, ", r".\1(", body)  # problem.unflatten(xp, theta)
    lines = [line for line in body.splitlines() if line.strip()]
    return "\n".join([f"def {name or match.group(1)}({match.group(2)}):", *lines])


def numpy_helpers(function) -> list:
    """The ``xp`` functions ``function`` calls, and theirs, each once, callees first."""
    out: list = []
    for called in _XP_CALL.findall(inspect.getsource(function)):
        helper = function.__globals__.get(called)
        if callable(helper) and helper is not function and helper not in out:
            out += [h for h in [*numpy_helpers(helper), helper] if h not in out]
    return out


def setup_lines(target, names) -> list[str]:
    """The lines of a reproduction that put the target's folders on ``sys.path`` and bind
    ``names`` (those of the chapter's names it uses) as the grader found them.  Paths are
    absolute, so that it replays from any directory; a file loaded by its path is also
    looked for relative to the working directory (the student's copy of the submission,
    where the grader's path, Gradescope's /autograder/submission, does not exist).  A
    listing that relies on an earlier one's definition (target.bindings) gets it bound, as
    the grader bound it."""
    used = [target.found[name] for name in API_NAMES if name in names and name in target.found]
    bound = [(f, *b) for f in used for b in target.bindings.get(f.module, [])]
    entries = [target.path_entry] if target.path_entry else []
    entries += [e for found in [*used, *(b[2] for b in bound)] for e in found.path_entries]
    entries = list(dict.fromkeys(os.path.abspath(entry) for entry in entries))
    lines = []
    if len(entries) == 1:
        lines.append(f"import sys; sys.path.insert(0, {entries[0]!r})")
    elif entries:
        lines.append(f"import sys; sys.path[:0] = {entries!r}")
    loaded: dict[str, str] = {}  # load path -> the variable holding its module

    def module_of(found) -> str:
        """An expression for the module of ``found``, loading its file first if need be."""
        if not found.load_path:
            return f"__import__({found.module!r}, fromlist=['_'])"
        if found.load_path not in loaded:
            notebooks = any(path.endswith(".ipynb") for path in loaded)
            loaded[found.load_path] = _variable(found.load_path, set(loaded.values()))
            where = os.path.relpath(found.load_path, target.root) if target.root else None
            variable = loaded[found.load_path]
            lines.extend(loading_lines(found.load_path, variable, not notebooks, where))
        return loaded[found.load_path]

    for found in used:
        if not found.load_path:
            lines.append(found.import_line())
        else:
            lines.append(f"{found.name} = {module_of(found)}.{found.attribute}")
    for found, spelling, value in bound:
        lines.append(
            f"{module_of(found)}.{spelling} = {module_of(value)}.{value.attribute}"
            "  # as the grader bound it: the listing uses an earlier one's"
        )
    return lines


def loading_lines(
    path: str, variable: str, helpers: bool = True, relative: str | None = None
) -> list[str]:
    """The lines that load the file or notebook at ``path`` as module ``variable``, with
    the standard library only (from ``relative``, a path from the working directory, where
    ``path`` does not exist); ``helpers``: with the notebook reader's functions."""
    relative = relative or os.path.basename(path)
    lines = [
        f"import importlib.util, os, sys  # {os.path.basename(path)!r}: no module name",
        f"path = {path!r}  # as graded; where it is not, the copy in this folder",
        f"path = path if os.path.exists(path) else {relative!r}",
    ]
    if not path.endswith(".ipynb"):
        return lines + _file_lines(variable, path)
    helper_lines = NOTEBOOK_CELLS.splitlines() if helpers else []
    return lines + helper_lines + _notebook_lines(variable)


def _variable(path: str, taken: set[str]) -> str:
    """A readable Python name for the module of the file at ``path``."""
    stem = re.sub(r"\W", "_", os.path.basename(path).rsplit(".", 1)[0]).strip("_")
    name = stem if stem.isidentifier() and not keyword.iskeyword(stem) else f"file_{stem}"
    name = name if name.isidentifier() and name not in API_NAMES else "submission"
    base, number = name, 2
    while name in taken:
        name, number = f"{base}_{number}", number + 1
    return name


def _file_lines(variable: str, path: str) -> list[str]:
    """Load the file as the grader did: a global it reads but never imports (``np``, a
    listing of one session) bound first; if its top level raises, run statement by
    statement, leaving out those that raise."""
    lines = [
        f"spec = importlib.util.spec_from_file_location({variable!r}, path)",
        f"{variable} = sys.modules[{variable!r}] = importlib.util.module_from_spec(spec)",
    ]
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            implicit = implicit_imports(handle.read())
    except OSError:
        implicit = {}
    for name, module in implicit.items():
        lines.append(f"import {module}; {variable}.{name} = {module}  # it uses {name} unimported")
    return lines + [
        "try:",
        f"    spec.loader.exec_module({variable})",
        "except Exception as error:  # the grader then runs it statement by statement",
        "    print('importing it raised', repr(error))",
        "    import ast",
        "    for node in ast.parse(open(path, encoding='utf-8').read()).body:",
        "        try:",
        f"            exec(compile(ast.Module([node], []), path, 'exec'), {variable}.__dict__)",
        "        except Exception as error:",
        "            print('a statement raised', repr(error))",
    ]


#: How a reproduction reads a notebook's code cells: as the grader does (notebooks.py), with
#: IPython's magics and shell escapes removed; nbformat is not on a student's machine.
NOTEBOOK_CELLS = f"""\
import ast, json, re, types
def parses(line):
    try:
        return ast.parse(line.strip()) is not None
    except SyntaxError:
        return False

def python_of(cell):  # a code cell without IPython's magics and shell escapes
    lines = "".join(cell["source"]).splitlines() if cell["cell_type"] == "code" else []
    if lines and lines[0].lstrip().startswith("%%"):  # a cell magic: Python or left out
        python = lines[0].split()[0] in {PYTHON_CELL_MAGICS!r}
        lines = lines[1:] if python else []
    magic = re.compile(r"{IPYTHON_LINE.pattern}")
    return "\\n".join("" if magic.search(s) and not parses(s) else s for s in lines)
"""


def _notebook_lines(variable: str) -> list[str]:
    return [
        "",
        f"{variable} = types.ModuleType({variable!r})  # the notebook's code cells, in order",
        "for cell in json.load(open(path, encoding='utf-8'))['cells']:",
        "    try:",
        f"        exec(python_of(cell), {variable}.__dict__)",
        "    except Exception as error:  # the grader, too, leaves out a cell that raises",
        "        print('a cell raised', repr(error))",
        "",
    ]


def model_problem_source(shapes) -> list[str]:
    """``problem = ModelProblem(x, t, shapes)`` (functions.py) as NumPy statements: the
    data ``x`` and ``t``, and ``theta`` cut into the parameters' shapes, in order."""
    return [
        "from types import SimpleNamespace",
        f"shapes = {[tuple(shape) for shape in shapes]!r}  # the parameters', in theta's order",
        "def unflatten(theta):\n"
        "    ends = np.cumsum([int(np.prod(shape)) for shape in shapes])\n"
        "    return [p.reshape(s) for p, s in zip(np.split(theta, ends[:-1]), shapes)]",
        "problem = SimpleNamespace(x=x, t=t, unflatten=unflatten)",
    ]
