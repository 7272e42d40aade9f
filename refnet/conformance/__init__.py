"""Conformance: run refnet's property suite against any implementation of Chapter 4.

A *target* is a file, a folder (the book's repository layout is found with no
configuration) or an importable module that provides some of the chapter's API under the
book's names: ``softmax``,
``sigmoid``, ``mean_squared_error`` or ``sum_squared_error``, ``cross_entropy_error``,
``numerical_diff``, ``numerical_gradient``, ``gradient_descent``, ``simpleNet`` (or
``SimpleNet``) and ``TwoLayerNet``.  Each named check states one property, draws inputs
with hypothesis, compares with JAX where a value is involved, and on failure prints the
smallest counterexample hypothesis found as Python code to paste into a prompt::

    python -m refnet.conformance path/to/my_chapter4.py --json report.json

This subpackage is a test tool: it imports JAX and hypothesis (the ``conformance`` extra:
``pip install -e '.[conformance]'``) and is never imported by ``import refnet``.  This file itself
imports neither, so that ``refnet --help`` stays fast; the names below load on first use.

The same modules serve refnet's own suite, which imports ``oracle``, ``strategies``,
``functions`` and ``tolerances`` from here: those four, and this package, list their
names in ``__all__``; the other modules of the subpackage are the runner's internals.
"""

from __future__ import annotations

import importlib
import importlib.util

from .._checks import install_hint

__all__ = ["CHECKS", "PROFILES", "Case", "Check", "Report", "Target", "load_target", "run"]

_LAZY = {
    "CHECKS": "refnet.conformance.checks",
    "PROFILES": "refnet.conformance.checks",
    "Check": "refnet.conformance.checks",
    "Case": "refnet.conformance.checks.case",
    "Report": "refnet.conformance.running.runner",
    "run": "refnet.conformance.running.runner",
    "Target": "refnet.conformance.finding.target",
    "load_target": "refnet.conformance.finding.target",
}

#: The extra that installs what this subpackage needs.
EXTRA_HINT = install_hint("conformance")


def require_dependencies() -> None:
    """Raise a ModuleNotFoundError that names the extra when JAX or hypothesis is missing."""
    for name in ("hypothesis", "jax"):
        # Found, not imported: the command's parent process never imports them.
        if importlib.util.find_spec(name) is None:
            raise ModuleNotFoundError(
                f"refnet.conformance needs {name}, which is not installed: {EXTRA_HINT}",
                name=name,
            )


def __getattr__(name):
    if name in _LAZY:
        require_dependencies()
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'refnet.conformance' has no attribute {name!r}")
