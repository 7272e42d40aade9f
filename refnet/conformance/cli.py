"""``python -m refnet.conformance TARGET`` and ``refnet conformance TARGET``.

This module imports neither JAX nor hypothesis (``refnet --help`` builds every
subcommand's parser).  The target is imported, and the checks run, in a child process
(process.py, worker.py) under the time limit; this process only prints the report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .._command_line import (
    EXIT_USAGE,
    Guard,
    InputFile,
    Integer,
    OutputFile,
    Parser,
    Real,
    run_guarded,
)
from . import EXTRA_HINT, require_dependencies
from .batch_cli import LONGEST

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
        "--map-file",
        type=InputFile(),
        metavar="FILE",
        help="the same entries in a TOML file (see the docs)",
    )
    parser.add_argument(
        "--json", type=OutputFile(), metavar="PATH", help="also write the report as JSON to PATH"
    )
    parser.add_argument(
        "--max-examples",
        type=Integer(minimum=1),
        default=25,
        metavar="N",
        help="examples hypothesis tries per check before shrinking (default 25)",
    )
    parser.add_argument(
        "--seed", type=Integer(), default=0, metavar="S", help="hypothesis seed (default 0)"
    )
    parser.add_argument(
        "--timeout",
        type=Real(low=0, high=LONGEST),
        default=120.0,
        metavar="SECONDS",
        help="time limit per check and per import of one of the target's files, 0 for none "
        "(default 120, at most 1e6)",
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
    Guard("refnet conformance").say(message)
    return EXIT_USAGE


def _mapping(args) -> list[str]:
    """The --map-file's entries, then --map's (validated here: a typo exits 2 at once)."""
    from .finding.mapping import parse_entries, read_map_file

    entries = read_map_file(args.map_file).entries() if args.map_file else []
    entries += list(args.map)
    parse_entries(entries)
    return entries


class _CheckProgress:
    """The checks as they run, on a terminal: tqdm's bar, the running check's name after it.

    ``process.run_in_child`` calls it as each check starts; the bar is cleared at the end
    (``leave=False``), so the report follows on a clean screen.
    """

    def __init__(self):
        self.bar = None

    def __call__(self, index: int, total: int, name: str) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, file=sys.stderr, unit="check", dynamic_ncols=True, leave=False
            )
        self.bar.set_postfix_str(name, refresh=False)
        self.bar.update(index - 1 - self.bar.n)  # index counts from 1: index - 1 are done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _progress() -> _CheckProgress | None:
    import importlib.util

    wanted = sys.stderr.isatty() and importlib.util.find_spec("tqdm") is not None
    return _CheckProgress() if wanted else None


def check_one(args: argparse.Namespace) -> int:
    """Check one target in a child process; print the report (and write the JSON).

    Ctrl-C stops the child too: it runs in a session of its own, so the terminal's SIGINT
    reaches only this process, whose KeyboardInterrupt kills the child on the way out.
    """
    from .api import TargetError
    from .reports.render import render
    from .running.process import run_in_child

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
    progress = _progress()
    # Every finished check is on disk as it ends: a run stopped from outside (a grader's
    # backstop) leaves the report of what was graded, marked "complete": false.
    on_result = (lambda report: _write_json(args.json, report)) if args.json else None
    try:
        outcome = run_in_child(config, progress, on_result)
    finally:
        if progress is not None:
            progress.close()
    if outcome.report is None:
        return _fail(outcome.error or "the conformance process gave no report")
    print(render(outcome.report), end="")
    if args.json:
        try:
            _write_json(args.json, outcome.report | {"complete": True})
        except OSError as exc:
            return _fail(f"--json {args.json}: {exc.strerror or exc}")
    return outcome.exit_code


def _write_json(path, report: dict) -> None:
    """Write ``report`` to ``path`` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(partial, path)


def run(args: argparse.Namespace) -> int:
    try:
        require_dependencies()
    except ModuleNotFoundError as exc:
        return _fail(str(exc))
    if args.list:
        from .checks import listing

        print(listing(profile=args.profile), end="")
        return 0
    from .batch_cli import run_command, wanted

    if wanted(args):  # --batch, --single or --autograder
        return run_command(args)
    if not args.target:
        return _fail("give a TARGET (a file, a folder or a module)")
    return check_one(args)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m refnet.conformance",
        description=DESCRIPTION,
        epilog=f"Needs JAX and hypothesis: {EXTRA_HINT}",
    )
    add_arguments(parser)
    return parser


def main(argv=None) -> int:
    """``python -m refnet.conformance ARGV...``; the exit code (0, 1, 2, or 130 on Ctrl-C)."""
    return run_guarded("refnet conformance", lambda guard: run(build_parser().parse_args(argv)))
