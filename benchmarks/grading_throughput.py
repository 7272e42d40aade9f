"""What grading one faithful submission costs, and a class of them, without and with the cache.

    python benchmarks/grading_throughput.py [--students 10] [--jobs 2] [--repeats 1]

Parts of one submission's cost, each the median CPU time of fresh interpreters: starting
Python; importing the runner (hypothesis, the checks) without JAX; importing JAX; the
runner on one faithful submission (the book's own code, tests/fixtures/book_chapter4.py, or
REFNET_BENCH_SUBMISSION) outside any
sandbox, whose remainder is the checks, the oracle's compilation and its values.

Then a class of ``--students`` copies of that submission graded with ``--jobs`` (every
check, 25 examples each: a complete submission), once with
REFNET_GRADER_CACHE=off (every submission compiles and computes the oracle itself: the
grader before the cache) and once with the cache (a warm-up run of refnet fills it),
alternating.  Printed: wall time, CPU time of everything the batch ran, CPU per
submission (the warm-up counted apart), the largest resident memory of one process, and
the wall time extrapolated to 100 submissions.  Run from the project root.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FAITHFUL = Path(os.environ.get("REFNET_BENCH_SUBMISSION", "tests/fixtures/book_chapter4.py"))
#: A complete submission: every check, the runner's default examples, the book's contract.
OPTIONS = ["--timeout", "60", "--cpu-time", "120", "--wall-time", "600", "--memory", "1GiB"]
OPTIONS += ["--profile", "book"]


def _children_cpu() -> tuple[float, int]:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def measure(argv: list[str], env=None) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds of the process and all it waited for, and the largest
    resident set of one of them so far in this benchmark (KiB)."""
    before, _ = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, env=env)
    if done.returncode not in (0, 1):  # 1: a check failed, which is a result
        raise RuntimeError(f"{argv} ended with {done.returncode}: {done.stderr[-2000:]!r}")
    wall = time.perf_counter() - start
    after, peak = _children_cpu()
    return wall, after - before, peak


def parts(repeats: int) -> dict[str, float]:
    python = sys.executable
    probes = {
        "start Python": [python, "-c", "pass"],
        "import the runner (no JAX)": [
            python,
            "-c",
            "import refnet.conformance.runner, refnet.conformance.checks",
        ],
        "import JAX": [python, "-c", "import jax, jax.numpy"],
    }
    with tempfile.TemporaryDirectory() as scratch:
        probes["runner on one submission, no cache"] = [
            python, "-m", "refnet.conformance", str(FAITHFUL), "--json",
            os.path.join(scratch, "r.json"), "--profile", "book",
        ]  # fmt: skip
        return {
            name: statistics.median(measure(argv)[1] for _ in range(repeats))
            for name, argv in probes.items()
        }


def grade_class(students: int, jobs: int, cache: bool, scratch: Path) -> dict:
    folder = scratch / "class"
    if not folder.exists():
        folder.mkdir()
        for index in range(students):
            shutil.copy(FAITHFUL, folder / f"student{index:03d}.py")
    env = dict(os.environ, REFNET_GRADER_CACHE="off" if not cache else "")
    warm = {"wall": 0.0, "cpu": 0.0}
    if cache:  # the warm-up alone, into a named cache that the batch then reads
        env["REFNET_GRADER_CACHE"] = str(scratch / f"cache-{time.monotonic_ns()}")
        single = scratch / "one"
        single.mkdir(exist_ok=True)
        (single / "placeholder.py").write_text("x = 1\n")
        argv = [sys.executable, "-m", "refnet.conformance", "--batch", str(single)]
        wall, cpu, _ = measure([*argv, "--out", str(scratch / "warm"), *OPTIONS], env)
        warm = {"wall": wall, "cpu": cpu}
    argv = [sys.executable, "-m", "refnet.conformance", "--batch", str(folder), "--jobs", str(jobs)]
    out = scratch / f"out-{cache}-{time.monotonic_ns()}"
    wall, cpu, peak = measure([*argv, "--out", str(out), *OPTIONS], env)
    return {"wall": wall, "cpu": cpu, "peak_mib": peak / 1024, "warm": warm, "out": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--skip-parts", action="store_true")
    args = parser.parse_args()
    print(f"load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if not args.skip_parts:
        print("\none submission's parts (median CPU seconds of fresh interpreters):")
        for name, seconds in parts(args.repeats).items():
            print(f"  {name:<40} {seconds:6.2f}")
    results: dict[bool, list[dict]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(args.repeats):
            for cache in (False, True):
                results[cache].append(grade_class(args.students, args.jobs, cache, Path(scratch)))
        same = _same_grades(results[False][0]["out"], results[True][0]["out"])
    n = args.students
    print(f"\na class of {n} faithful submissions, --jobs {args.jobs} (medians):")
    print(f"  {'':<12} {'wall s':>8} {'CPU s':>8} {'CPU/sub':>8} {'peak MiB':>9} {'100 subs':>9}")
    for cache, label in ((False, "no cache"), (True, "cache")):
        wall = statistics.median(r["wall"] for r in results[cache])
        cpu = statistics.median(r["cpu"] for r in results[cache])
        peak = max(r["peak_mib"] for r in results[cache])
        warm = statistics.median(r["warm"]["cpu"] for r in results[cache])
        hundred = wall / n * 100 + statistics.median(r["warm"]["wall"] for r in results[cache])
        print(
            f"  {label:<12} {wall:8.1f} {cpu:8.1f} {cpu / n:8.2f} {peak:9.0f} {hundred / 60:7.1f} min"
            + (f"   (+ warm-up {warm:.1f} s CPU, once)" if cache else "")
        )
    print(f"\ngrades identical with and without the cache: {same}")


def _same_grades(first: Path, second: Path) -> bool:
    return (first / "class.csv").read_text() == (second / "class.csv").read_text()


if __name__ == "__main__":
    main()
