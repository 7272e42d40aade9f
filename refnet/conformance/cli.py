"""``python -m refnet.conformance TARGET`` and ``refnet conformance TARGET``.

This module imports neither JAX nor hypothesis at import time (``refnet --help`` builds
every subcommand's parser); :func:`run` loads them, with a clear message when the
``conformance`` extra is not installed.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import EXTRA_HINT, require_dependencies

__all__ = ["add_arguments", "main", "run"]

DESCRIPTION = (
    "Check an implementation of Chapter 4 of Deep Learning from Scratch against refnet's "
    "property suite (hypothesis inputs, JAX as the oracle).  Names the target lacks are "
    "skipped; every failure is printed with the smallest counterexample found, as Python "
    "to paste into a prompt.  Exit code: 0 all checks pass or skip, 1 a check fails, "
    "2 the target cannot be loaded."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target",
        nargs="?",
        help="a Python file (my_ch4.py), an importable module name, or a directory "
        "whose names are given with --map",
    )
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="NAME=MODULE:ATTR",
        help="take NAME from MODULE:ATTR (imported with the target's directory first on "
        "sys.path), or NAME=ATTR to check the target's ATTR as NAME; repeatable",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON to PATH")
    parser.add_argument(
        "--max-examples",
        type=int,
        default=25,
        metavar="N",
        help="examples hypothesis tries per check before shrinking (default 25)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, metavar="S", help="hypothesis seed (default 0)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="time limit per check, 0 for none (default 120; Unix only)",
    )
    parser.add_argument(
        "-k",
        "--select",
        action="append",
        metavar="PREFIX",
        help="run only the checks whose name starts with PREFIX (repeatable), "
        "e.g. -k numerical_gradient",
    )
    parser.add_argument(
        "--list", action="store_true", help="list the checks and their properties, then exit"
    )
    from .batch_cli import add_arguments as add_batch_arguments

    add_batch_arguments(parser)


def run(args: argparse.Namespace) -> int:
    try:
        require_dependencies()
    except ModuleNotFoundError as exc:
        print(f"refnet conformance: {exc}", file=sys.stderr)
        return 2
    # A target (the book's ch04 scripts, say) may plot on import: never open a window.
    os.environ.setdefault("MPLBACKEND", "Agg")
    from .checks import listing
    from .runner import run as run_checks
    from .runner import terminal_progress
    from .target import TargetError, load_target

    if args.list:
        print(listing(), end="")
        return 0
    if getattr(args, "batch", None):
        from .batch_cli import run_command

        return run_command(args)
    if not args.target:
        print(
            "refnet conformance: give a TARGET (a file, a module or a directory)", file=sys.stderr
        )
        return 2
    if args.max_examples < 1:
        print("refnet conformance: --max-examples must be >= 1", file=sys.stderr)
        return 2
    try:
        target = load_target(args.target, args.map)
    except TargetError as exc:
        print(f"refnet conformance: {exc}", file=sys.stderr)
        return 2
    if not target.found:
        print(
            f"refnet conformance: {args.target} has none of the chapter's names "
            "(softmax, cross_entropy_error, numerical_gradient, TwoLayerNet, ...); "
            "use --map to name them",
            file=sys.stderr,
        )
        return 2
    progress = terminal_progress if sys.stderr.isatty() else None
    report = run_checks(
        target,
        max_examples=args.max_examples,
        seed=args.seed,
        timeout=args.timeout,
        select=args.select,
        progress=progress,
    )
    if progress is not None:
        progress(0, 0, None)
    print(report.render(), end="")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            handle.write(report.to_json() + "\n")
    return report.exit_code


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m refnet.conformance",
        description=DESCRIPTION,
        epilog=f"Needs JAX and hypothesis: {EXTRA_HINT}",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
