"""The options of ``refnet conformance --batch DIR``, and the command that grades a class.

cli.py adds these options to the runner's own and hands a ``--batch`` run to
`run_command`; the runner's options that shape the checks (``--seed``,
``--max-examples``, ``--timeout``, ``-k``, ``--map``, and ``--profile`` and
``--map-file`` where the runner has them) are passed on to every submission's run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .._checks import install_hint
from .._command_line import (
    EXIT_FAILURE,
    EXIT_USAGE,
    Guard,
    InputFile,
    InputFolder,
    Integer,
    OutputFolder,
    Real,
)
from .running import oracle_server
from .running.batch import (
    BatchError,
    Limits,
    RunOptions,
    cache_is_current,
    clear_cache,
    find_submissions,
    format_size,
    parse_size,
    run_all,
    warm_up,
)

if TYPE_CHECKING:
    from .reports import Points

DEFAULT_OUT = "conformance-grades"


class Size:
    """An option type: a size above 0 and at most `maximum` bytes, such as ``1GiB``,
    ``512MiB`` or ``200000`` (a limit the kernel must be able to hold)."""

    maximum = 2**50

    def __repr__(self) -> str:
        return "size"

    def __call__(self, text: str) -> int:
        try:
            size = parse_size(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"must be a size: {exc}") from None
        if not 0 < size <= self.maximum:
            raise argparse.ArgumentTypeError(
                f"must be a size above 0 and at most {format_size(self.maximum)}, got {text!r}"
            )
        return size


#: The longest time limit, in seconds (11.6 days): the kernel's and Python's timers
#: overflow long before the values a float can hold.
LONGEST = 1e6


class SchedulerAddress:
    """An option type: a Dask scheduler's address, ``tcp://HOST:PORT`` (or ``HOST:PORT``)."""

    PATTERN = re.compile(r"(?:[a-z][a-z0-9+.-]*://)?[^\s/:]+:[0-9]{1,5}")

    def __repr__(self) -> str:
        return "scheduler address"

    def __call__(self, text: str) -> str:
        if not self.PATTERN.fullmatch(text):
            raise argparse.ArgumentTypeError(
                f"must be a scheduler address such as tcp://HOST:PORT, got {text!r}"
            )
        return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "grading a class",
        "Check every submission in DIR, each in its own limited subprocess, and write one "
        "JSON per student, a class CSV, an HTML page and Gradescope results "
        "(docs/how-to/grade-a-class.md).",
    )
    group.add_argument(
        "--batch",
        type=InputFolder(),
        metavar="DIR",
        help="grade every submission in DIR: each *.py file and each folder is one student",
    )
    group.add_argument(
        "--single",
        action="store_true",
        help="DIR is one student's submission (Gradescope's /autograder/submission)",
    )
    group.add_argument(
        "--autograder",
        choices=("gradescope", "github-actions"),
        metavar="KIND",
        help="instead of grading, write a drop-in autograder to TARGET with these options: "
        "gradescope (an autograder zip) or github-actions (a workflow file)",
    )
    group.add_argument(
        "--out",
        type=OutputFolder(),
        metavar="DIR",
        help=f"where the results go (default ./{DEFAULT_OUT})",
    )
    group.add_argument(
        "--jobs",
        type=Integer(minimum=1),
        default=1,
        metavar="N",
        help="submissions run at once (default 1)",
    )
    group.add_argument(
        "--points",
        type=InputFile(),
        metavar="FILE",
        help="points per check, TOML or JSON (default: 1 point for every check)",
    )
    group.add_argument(
        "--scheduler",
        type=SchedulerAddress(),
        metavar="ADDRESS",
        help="run the submissions on a Dask cluster (tcp://HOST:PORT) instead of here; "
        f"needs {install_hint('cluster')}",
    )
    defaults = Limits()
    group.add_argument(
        "--wall-time",
        type=Real(low=0, high=LONGEST, open_low=True),
        default=defaults.wall,
        metavar="SECONDS",
        help=f"wall time per submission (default {defaults.wall:g})",
    )
    group.add_argument(
        "--cpu-time",
        type=Real(low=0, high=LONGEST, open_low=True),
        metavar="SECONDS",
        help="CPU time per submission (default: the wall time)",
    )
    for option, default, what in (
        ("--memory", defaults.memory, "memory per submission"),
        ("--output-limit", defaults.output, "what a submission may print"),
        ("--file-size", defaults.file_size, "the largest file a submission may write"),
    ):
        group.add_argument(
            option,
            type=Size(),
            default=default,
            metavar="SIZE",
            help=f"{what} (default {format_size(default)})",
        )


def _options(args, checks_names) -> tuple[RunOptions, Points]:
    from .reports import Points, load_points

    limits = Limits(
        wall=args.wall_time,
        cpu=args.cpu_time if args.cpu_time is not None else args.wall_time,
        memory=args.memory,
        output=args.output_limit,
        file_size=args.file_size,
    )
    map_file = getattr(args, "map_file", None)
    if map_file:
        try:
            map_file = (Path(map_file).name, Path(map_file).read_text(encoding="utf-8"))
        except OSError as exc:
            raise BatchError(f"--map-file {map_file}: {exc.strerror}") from None
    options = RunOptions(
        seed=args.seed,
        max_examples=args.max_examples,
        timeout=args.timeout,
        select=tuple(args.select or ()),
        profile=getattr(args, "profile", None),
        maps=tuple(args.map or ()),
        map_file=map_file or None,
        limits=limits,
    )
    try:
        points = load_points(args.points, checks_names) if args.points else Points()
    except ValueError as exc:
        raise BatchError(str(exc)) from None
    return options, points


def _settings(options: RunOptions) -> dict:
    """What decided the grades: written into every student's JSON and onto the page."""
    from .running import sandbox

    limits = options.limits
    return {
        "seed": options.seed,
        "max_examples": options.max_examples,
        "timeout_per_check": options.timeout,
        "select": list(options.select),
        "profile": options.profile,
        "maps": list(options.maps),
        "limits": (
            f"wall {limits.wall:g} s, CPU {limits.cpu:g} s, memory {format_size(limits.memory)}, "
            f"output {format_size(limits.output)}, files {format_size(limits.file_size)}"
        ),
        "protections": sandbox.available().describe(),
    }


def _progress(record: dict, done: int, total: int) -> None:
    what = "graded" if record["outcome"] == "graded" else record["reason"]
    print(f"[{done}/{total}] {record['student']}: {what}", file=sys.stderr, flush=True)


def _output_folder(args) -> Path:
    if args.out is not None:
        return args.out
    try:
        return OutputFolder()(DEFAULT_OUT)
    except argparse.ArgumentTypeError as exc:
        raise BatchError(f"--out {exc}; choose a folder with --out") from None


def wanted(args: argparse.Namespace) -> bool:
    """Whether the command line asks for this module's work (grading, an autograder)."""
    return bool(getattr(args, "batch", None) or getattr(args, "single", False) or args.autograder)


def _grading_argv(args) -> list[str]:
    """The options an autograder passes to ``--batch``: the given ones, and the platform's
    limits where the default was left."""
    from .autograder import PLATFORM_LIMITS

    defaults = Limits()
    wall = PLATFORM_LIMITS["wall"] if args.wall_time == defaults.wall else args.wall_time
    cpu = args.cpu_time if args.cpu_time is not None else min(wall, PLATFORM_LIMITS["cpu"])
    memory = PLATFORM_LIMITS["memory"] if args.memory == defaults.memory else args.memory
    timeout = PLATFORM_LIMITS["timeout"] if args.timeout == 120.0 else args.timeout
    argv = ["--seed", str(args.seed), "--max-examples", str(args.max_examples)]
    argv += ["--timeout", f"{timeout:g}", "--wall-time", f"{wall:g}", "--cpu-time", f"{cpu:g}"]
    argv += ["--memory", str(memory), "--output-limit", str(args.output_limit)]
    argv += ["--file-size", str(args.file_size)]
    for prefix in args.select or ():
        argv += ["-k", prefix]
    for entry in args.map or ():
        argv += ["--map", entry]
    if getattr(args, "profile", None):
        argv += ["--profile", args.profile]
    return argv


def _write_autograder(args) -> int:
    from .autograder import build
    from .checks import CHECKS
    from .reports import load_points

    say = Guard("refnet conformance").say
    if not args.target:
        suffix = ".zip" if args.autograder == "gradescope" else ".yml"
        say(f"--autograder {args.autograder}: give the file to write (e.g. autograder{suffix})")
        return EXIT_USAGE
    if args.batch or args.single or args.scheduler:
        say("--autograder writes an autograder: it takes no --batch, --single or --scheduler")
        return EXIT_USAGE
    if args.points:
        try:
            load_points(args.points, [check.name for check in CHECKS])
        except ValueError as exc:
            say(str(exc))
            return EXIT_USAGE
    try:
        written = build(args.autograder, Path(args.target), _grading_argv(args), args.points)
    except (OSError, RuntimeError) as exc:
        say(f"--autograder {args.autograder}: {exc}")
        return EXIT_FAILURE
    print(f"wrote {written}")
    return 0


@contextlib.contextmanager
def _cache(args, options: RunOptions, count: int):
    """``options`` with what the class shares: the grader's cache (batch.warm_up) in the
    folder REFNET_GRADER_CACHE names (filled once, kept: an autograder's image fills it
    at build time), else in a temporary one for a class of two or more, which also shares
    the oracle server (unless REFNET_ORACLE_SERVER=off); neither on a cluster (its
    workers do not share this machine's folders) nor with REFNET_GRADER_CACHE=off."""
    named = os.environ.get("REFNET_GRADER_CACHE", "")
    if args.scheduler or named == "off":
        yield options
        return
    # A class of two or more also shares one oracle server (running/oracle_server.py),
    # which computes once what the warm-up's table lacks.  One submission alone
    # (Gradescope) costs less without it (measured: 6.7 s of CPU and 376 MiB, against
    # 8.3 s and 443 MiB with it).
    served = count >= 2 and oracle_server.wanted()
    if count < 2 and not named:
        yield options
        return
    with contextlib.ExitStack() as stack:
        folder = Path(named) if named else Path(stack.enter_context(_temporary()))
        if (folder / "oracle.json").is_file() and not cache_is_current(folder):
            print(
                f"the grader's cache in {folder} was filled by another version of refnet's "
                "oracle, JAX or NumPy: it is filled again",
                file=sys.stderr,
            )
            clear_cache(folder)
        if not (folder / "oracle.json").is_file():
            print(
                "grading after a warm-up: refnet's own implementation fills the cache",
                file=sys.stderr,
            )
            warm_up(options, folder)
        yield replace(options, cache=str(folder), oracle_server=served)


def _temporary():
    import tempfile

    return tempfile.TemporaryDirectory(prefix="refnet-cache-")


def run_command(args: argparse.Namespace) -> int:
    """Grade the class in ``args.batch``: 0 when the results are written, 2 on a usage
    error, 1 when the cluster cannot be reached or the results cannot be written."""
    from .reports import expected_checks, grade, write_reports

    if args.autograder:
        return _write_autograder(args)
    say = Guard("refnet conformance").say
    if not args.batch:
        say("--single needs --batch DIR (DIR is then one student's submission)")
        return EXIT_USAGE
    try:
        if args.target:
            raise BatchError("give either a TARGET or --batch DIR, not both")
        checks = expected_checks(tuple(args.select or ()), getattr(args, "profile", None))
        if not checks:
            raise BatchError(f"-k {' -k '.join(args.select or ())} selects no check (see --list)")
        from .checks import CHECKS

        out = _output_folder(args)
        options, points = _options(args, [check.name for check in CHECKS])
        submissions = find_submissions(args.batch, single=args.single)
    except BatchError as exc:
        say(str(exc))
        return EXIT_USAGE
    print(
        f"grading {len(submissions)} submission(s) from {args.batch} on {len(checks)} "
        f"check(s), {'on ' + args.scheduler if args.scheduler else f'{args.jobs} at a time'}",
        file=sys.stderr,
    )
    if not args.scheduler:
        protections = _settings(options)["protections"]
        print(f"grading under these protections: {protections}", file=sys.stderr)
    with _cache(args, options, len(submissions)) as options:
        try:
            runs = run_all(submissions, options, args.jobs, args.scheduler, progress=_progress)
        except BatchError as exc:
            say(str(exc))
            return EXIT_FAILURE
        except (OSError, ValueError) as exc:
            if not args.scheduler:
                raise
            say(f"--scheduler {args.scheduler}: {exc}")  # unreachable, or refused the address
            return EXIT_FAILURE
    grades = [grade(run, checks, points) for run in runs]
    try:
        written = write_reports(grades, out, _settings(options))
    except OSError as exc:
        say(f"could not write the results to {out}: {exc}")
        return EXIT_FAILURE
    width = max(len(entry["student"]) for entry in grades)
    for entry in grades:
        note = "" if entry["outcome"] == "graded" else f"  ({entry['reason']})"
        print(f"{entry['student']:<{width}}  {entry['score']:>6} / {entry['max_score']}{note}")
    print(f"\nwrote {written['csv']}, {written['html']} and one JSON per student in {out}")
    return 0
