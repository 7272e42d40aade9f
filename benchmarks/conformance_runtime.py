"""Wall time of a full conformance run, as a user meets it: a fresh interpreter each time.

    python benchmarks/conformance_runtime.py [--repeats 3] [--max-examples 25]

Runs ``python -m refnet.conformance TARGET`` for refnet, the defective fixture and the
book's code, and prints the median wall time of each (JAX's compilations included: they
are most of the cost).  Run from the project root.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

TARGETS = {
    "refnet": "refnet",
    "defective fixture": "tests/fixtures/defective.py",
    "book's code": "tests/fixtures/book_chapter4.py",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-examples", type=int, default=25)
    args = parser.parse_args()
    print(f"max_examples={args.max_examples}, {args.repeats} runs each, median wall time")
    for label, target in TARGETS.items():
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "refnet.conformance",
                    target,
                    "--max-examples",
                    str(args.max_examples),
                ],
                capture_output=True,
                text=True,
            )
            times.append(time.perf_counter() - start)
            summary = done.stdout.strip().splitlines()[-1]
        print(f"  {label:<18} {statistics.median(times):6.1f} s   ({summary})")


if __name__ == "__main__":
    main()
