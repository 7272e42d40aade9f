"""Wall and CPU time of grading the fixture class, with --jobs 1 and with --jobs 2, side by side.

    python benchmarks/grading.py [--repeats 1] [--jobs 1 2]

Runs ``python -m refnet.conformance --batch tests/fixtures/class`` with the settings of its
test (six checks, 10 examples each, CPU limit 15 s, memory 1 GiB), alternating the job
counts so that a change in the machine's load hits both alike, and prints the median wall
time, the median CPU time of all the processes the batch ran, and the ratio of wall times.
The class includes two submissions that run until the 15 s CPU limit stops them.  Run from
the project root; the results go to a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

CHECKS = [
    "softmax.batch",
    "cross_entropy_error.one_sample",
    "numerical_gradient.vector",
    "numerical_gradient.closure",
    "numerical_gradient.integer_x",
    "TwoLayerNet.numerical_gradient",
]


def grade_once(jobs: int, out: str) -> tuple[float, float]:
    argv = [sys.executable, "-m", "refnet.conformance", "--batch", "tests/fixtures/class"]
    argv += ["--out", out, "--jobs", str(jobs), "--max-examples", "10", "--timeout", "60"]
    argv += ["--cpu-time", "15", "--wall-time", "120", "--memory", "1GiB"]
    for name in CHECKS:
        argv += ["-k", name]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    times: dict[int, list[tuple[float, float]]] = {jobs: [] for jobs in args.jobs}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(args.repeats):
            for jobs in args.jobs:
                times[jobs].append(grade_once(jobs, os.path.join(scratch, f"{jobs}-{repeat}")))
    print(f"the fixture class (15 submissions), {args.repeats} run(s) each, medians")
    print(
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, "
        f"on {os.cpu_count()} cores"
    )
    for jobs, runs in times.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"  --jobs {jobs}: wall {wall:6.1f} s   CPU {cpu:6.1f} s")
    first, *others = args.jobs
    base = statistics.median(w for w, _ in times[first])
    for jobs in others:
        ratio = base / statistics.median(w for w, _ in times[jobs])
        print(f"  wall time of --jobs {first} / --jobs {jobs}: {ratio:.2f}")


if __name__ == "__main__":
    main()
