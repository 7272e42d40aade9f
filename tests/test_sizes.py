"""The house rules on size, measured with ``ast``: modules under ~500 lines unless a
``# Size: ...`` comment under their docstring says why, functions under ~80 lines.

A function's length is counted from its ``def`` to its last line, less its docstring: the
NumPy-style docstrings with their Examples are documentation, and a long one is no reason
to split a function.  Functions are measured in every file of refnet/, tools/, benchmarks/ and
tests/ (the fixtures under tests/fixtures/ stand for other people's code and are left out);
module sizes in refnet/, tools/ and benchmarks/ (a test file follows the module it tests, one
file per module, and is as long as that module's behaviour needs).  The reason is a comment,
not a paragraph of the docstring: a module's docstring is its reference page, written for the
user, and why a file is long is a note for whoever maintains it.
"""

from __future__ import annotations

import ast

import pytest

from .conftest import ROOT

MODULE_LINES = 500
FUNCTION_LINES = 80

#: Modules over MODULE_LINES that cannot state their reason in their own docstring yet,
#: each with the reason.  Keep this empty whenever possible.
MODULE_ALLOWED: dict[str, str] = {}

#: Functions over FUNCTION_LINES, each with the reason.  Empty: none is.
FUNCTION_ALLOWED: dict[str, str] = {}


def measured_files() -> list[str]:
    files = [
        *ROOT.glob("refnet/**/*.py"),
        *ROOT.glob("tools/*.py"),
        *ROOT.glob("benchmarks/*.py"),
        *ROOT.glob("tests/*.py"),
    ]
    return sorted(str(path.relative_to(ROOT)) for path in [*files, ROOT / "mkdocs_hooks.py"])


def function_lengths(source: str) -> dict[str, int]:
    """Qualified function name -> lines from ``def`` to its end, less its docstring."""
    lengths: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                length = child.end_lineno - child.lineno + 1
                if ast.get_docstring(child, clean=False) is not None:
                    doc = child.body[0]
                    length -= doc.end_lineno - doc.lineno + 1
                lengths[name] = length
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return lengths


def test_the_measure_counts_code_not_docstrings():
    source = 'def f():\n    """A\n\n    long docstring.\n    """\n    a = 1\n    return a\n'
    source += "class C:\n    def m(self):\n        def inner():\n            pass\n"
    assert function_lengths(source) == {"f": 3, "C.m": 3, "C.m.inner": 2}


@pytest.mark.parametrize("relative", measured_files())
def test_no_function_is_over_80_lines(relative):
    lengths = function_lengths((ROOT / relative).read_text(encoding="utf-8"))
    over = {
        name: n
        for name, n in lengths.items()
        if n > FUNCTION_LINES and f"{relative}:{name}" not in FUNCTION_ALLOWED
    }
    assert not over, (
        f"{relative}: functions over {FUNCTION_LINES} lines (docstring excluded): {over}"
    )


def size_note(source: str) -> str:
    """The ``# Size: ...`` comment right under the module docstring (its lines joined), or ''."""
    tree = ast.parse(source)
    has_doc = ast.get_docstring(tree, clean=False) is not None
    after = tree.body[0].end_lineno if has_doc else 0
    comment = []
    for line in source.splitlines()[after:]:
        if not line.startswith("#"):
            break
        comment.append(line.lstrip("#").strip())
    text = " ".join(comment)
    return text if text.startswith("Size: ") else ""


def test_the_size_note_is_the_comment_under_the_docstring():
    source = '"""Doc."""\n# Size: long because\n# of reasons.\n\nimport ast\n'
    assert size_note(source) == "Size: long because of reasons."
    assert size_note('"""Doc."""\n\n# Size: not under the docstring\n') == ""
    assert size_note('"""Doc.\n\nSize: in the docstring.\n"""\n') == ""


@pytest.mark.parametrize("relative", [f for f in measured_files() if not f.startswith("tests/")])
def test_a_module_over_500_lines_says_why_at_its_top(relative):
    source = (ROOT / relative).read_text(encoding="utf-8")
    lines = len(source.splitlines())
    if lines <= MODULE_LINES or relative in MODULE_ALLOWED:
        return
    assert size_note(source), (
        f"{relative} has {lines} lines: split it, or give the reason in a comment right "
        "under its docstring that starts with '# Size: '"
    )


@pytest.mark.parametrize("relative", [f for f in measured_files() if f.startswith("refnet/")])
def test_no_module_docstring_carries_a_size_note(relative):
    """Module docstrings are the reference pages: the note on size is for maintainers."""
    docstring = ast.get_docstring(ast.parse((ROOT / relative).read_text(encoding="utf-8")))
    assert "\nSize: " not in f"\n{docstring or ''}", (
        f"{relative}: move the 'Size: ' paragraph of the docstring to a '# Size: ' comment "
        "right under it"
    )


def test_the_allow_lists_name_real_files_that_need_them():
    for relative in MODULE_ALLOWED:
        assert len((ROOT / relative).read_text(encoding="utf-8").splitlines()) > MODULE_LINES
