"""Time of a full conformance run, as a user meets it: a fresh command each time.

    python benchmarks/conformance_runtime.py [--repeats 3] [--max-examples 25]

Runs ``python -m refnet.conformance TARGET`` for refnet, the defective fixture, the
slides' transcription of the book's code, and the book-like repository fixture (a folder:
discovery, one import per file, two definitions of numerical_gradient), and prints the
median wall time and CPU time (of the command and its child process) of each: JAX's
compilations included, they are most of the cost.  BLAS is pinned to one thread.  Run
from the project root.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

TARGETS = {
    "refnet": "refnet",
    "defective fixture": "tests/fixtures/defective.py",
    "book's code (slides)": "tests/fixtures/book_chapter4.py",
    "book-like repository": "tests/fixtures/book_layout",
}
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-examples", type=int, default=25)
    args = parser.parse_args()
    env = dict(os.environ, **ONE_THREAD)
    print(f"max_examples={args.max_examples}, {args.repeats} runs each, medians")
    for label, target in TARGETS.items():
        walls, cpus = [], []
        for _ in range(args.repeats):
            start, cpu = time.perf_counter(), _children_cpu()
            argv = [target, "--max-examples", str(args.max_examples)]
            done = subprocess.run(
                [sys.executable, "-m", "refnet.conformance", *argv],
                capture_output=True,
                text=True,
                env=env,
            )
            walls.append(time.perf_counter() - start)
            cpus.append(_children_cpu() - cpu)
            summary = done.stdout.strip().splitlines()[-1]
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        print(f"  {label:<22} {wall:6.1f} s wall  {cpu:6.1f} s CPU   ({summary})")


if __name__ == "__main__":
    main()
