"""``python -m refnet.conformance TARGET`` and ``refnet conformance TARGET``.

This module imports neither JAX nor hypothesis (``refnet --help`` builds every
subcommand's parser).  The target is imported, and the checks run, in a child process
(process.py, worker.py) under the time limit; this process only prints the report.
"""

from __future__ import annotations

import argparse
import json
import sys

from . import EXTRA_HINT, require_dependencies

DESCRIPTION = (
    "Check an implementation of Chapter 4 of Deep Learning from Scratch against refnet's "
    "property suite (hypothesis inputs, JAX as the oracle).  TARGET is a file, a folder "
    "(the book's repository layout is found without configuration) or a module name.  "
    "Every failure is printed with the smallest counterexample found, as Python to paste "
    "into a prompt.  Exit code: 0 no check fails (warnings and skips allowed), 1 a check "
    "fails, 2 the target cannot be loaded or the usage is wrong."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target",
        nargs="?",
        help="a Python file (my_ch4.py), a folder (the book's repository, a chapter "
        "folder, a package) or an importable module name",
    )
    parser.add_argument(
        "--profile",
        choices=("book", "strict"),
        help="book: the book's contract, its conventions accepted and its pitfalls warned "
        "of; strict: refnet's guarantees, the pitfalls fail (default: strict for refnet, "
        "book for anything else)",
    )
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="ENTRY",
        help="NAME=MODULE:ATTR (take NAME from a module), NAME=ATTR (check ATTR as NAME), or "
        "NAME.MEMBER=SPELLING (a method, attribute, keyword or constructor argument spelled "
        "differently, e.g. TwoLayerNet.numerical_gradient=numerical_gradient_net); repeatable",
    )
    parser.add_argument(
        "--map-file", metavar="FILE", help="the same entries in a TOML file (see the docs)"
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
        help="time limit per check and per import of one of the target's files, 0 for none "
        "(default 120)",
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
        "--list",
        action="store_true",
        help="list the checks, their profiles and properties, then exit",
    )
    from .batch_cli import add_arguments as add_batch_arguments

    add_batch_arguments(parser)


def _fail(message: str) -> int:
    print(f"refnet conformance: {message}", file=sys.stderr)
    return 2


def _mapping(args) -> list[str]:
    """The --map-file's entries, then --map's (validated here: a typo exits 2 at once)."""
    from .mapping import parse_entries, read_map_file

    entries = read_map_file(args.map_file).entries() if args.map_file else []
    entries += list(args.map)
    parse_entries(entries)
    return entries


def check_one(args: argparse.Namespace) -> int:
    """Check one target in a child process; print the report (and write the JSON)."""
    from .api import TargetError
    from .process import run_in_child, terminal_progress
    from .render import render

    try:
        mapping = _mapping(args)
    except TargetError as exc:
        return _fail(str(exc))
    config = {
        "spec": args.target,
        "mapping": mapping,
        "profile": args.profile,
        "max_examples": args.max_examples,
        "seed": args.seed,
        "timeout": args.timeout or None,
        "select": args.select,
    }
    progress = terminal_progress if sys.stderr.isatty() else None
    try:
        outcome = run_in_child(config, progress)
    except KeyboardInterrupt:  # the child, in its own session, was stopped on the way out
        print("\nrefnet conformance: interrupted", file=sys.stderr)
        return 130
    if progress is not None:
        progress(0, 0, None)
    if outcome.report is None:
        return _fail(outcome.error or "the conformance process gave no report")
    print(render(outcome.report), end="")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(outcome.report, indent=2, ensure_ascii=False) + "\n")
    return outcome.exit_code


def run(args: argparse.Namespace) -> int:
    try:
        require_dependencies()
    except ModuleNotFoundError as exc:
        return _fail(str(exc))
    if args.list:
        from .checks import listing

        print(listing(profile=args.profile), end="")
        return 0
    if getattr(args, "batch", None):
        from .batch_cli import run_command

        return run_command(args)
    if not args.target:
        return _fail("give a TARGET (a file, a folder or a module)")
    if args.max_examples < 1:
        return _fail("--max-examples must be >= 1")
    return check_one(args)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m refnet.conformance",
        description=DESCRIPTION,
        epilog=f"Needs JAX and hypothesis: {EXTRA_HINT}",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
