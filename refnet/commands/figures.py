"""``refnet figures``: regenerate every documentation figure and every quoted number."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", default="docs/figures", help="folder for the PNGs, numbers.json and fragments"
    )


def run(args: argparse.Namespace) -> int:
    import time

    from refnet.figures import generate

    start = time.perf_counter()
    numbers = generate(args.out)
    print(
        f"wrote figures and {len(numbers)} numbers to {args.out} in {time.perf_counter() - start:.1f} s"
    )
    return 0
