"""``refnet figures``: regenerate every documentation figure and every quoted number."""

from __future__ import annotations

import argparse

from refnet._command_line import CommandError, OutputFolder, check_value

DEFAULT_OUT = "docs/figures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=OutputFolder(),
        metavar="DIR",
        help=f"folder for the PNGs, numbers.json and fragments (default {DEFAULT_OUT})",
    )


def run(args: argparse.Namespace) -> int:
    import time

    from refnet.figures import generate

    out = (
        args.out
        if args.out is not None
        else check_value(OutputFolder(), DEFAULT_OUT, "--out {problem}")
    )
    start = time.perf_counter()
    try:
        numbers = generate(out)
    except ImportError as exc:  # matplotlib, scikit-learn: the message names the extra
        raise CommandError(str(exc)) from None
    except OSError as exc:  # the folder became unwritable, the disk filled up
        raise CommandError(f"could not write the figures to {out}: {exc}") from None
    print(
        f"wrote figures and {len(numbers)} numbers to {out} in {time.perf_counter() - start:.1f} s"
    )
    return 0
