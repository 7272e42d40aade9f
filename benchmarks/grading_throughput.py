"""What grading one faithful submission costs, and a class of them, without and with the cache.

    python benchmarks/grading_throughput.py [--students 10] [--jobs 2] [--repeats 1]
                                            [--class-folder DIR]

Parts of one submission's cost, each the median CPU time of fresh interpreters: starting
Python; importing the runner (hypothesis, the checks) without JAX; importing JAX; the
runner on one faithful submission (the book's own code, tests/fixtures/book_chapter4.py, or
REFNET_BENCH_SUBMISSION) outside any
sandbox, whose remainder is the checks, the oracle's compilation and its values.

Then a class of ``--students`` copies of that submission (or the class in
``--class-folder``) graded with ``--jobs`` (every check, 25 examples each: a complete
submission) in five ways, side by side: cold without the cache (REFNET_FORK_SERVER=off,
REFNET_GRADER_CACHE=off: a new interpreter per submission that compiles and computes the
oracle itself); cold with the cache (a warm-up run of refnet fills it); cold with the
cache and the oracle server (running/oracle_server.py: one JAX for the class computes
what the table lacks, once; a class's default where the grader is not root); warm with the
cache (the fork server, forkserver.py: only where the grader is root, elsewhere the warm
rows are the cold ones); warm with the cache and the oracle server (a class's default as
root).  Printed: wall time,
CPU time of everything the batch ran, CPU per submission (the warm-up counted apart), the
largest resident memory of one process, the largest memory in use by the batch's whole
process tree (grader, fork server, workers: the sum of their proportional set sizes), the
wall time extrapolated to 100 submissions, and each row's ratio to the first.  Run from
the project root.
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
import threading
import time
from pathlib import Path

FAITHFUL = Path(os.environ.get("REFNET_BENCH_SUBMISSION", "tests/fixtures/book_chapter4.py"))
#: A complete submission: every check, the runner's default examples, the book's contract.
OPTIONS = ["--timeout", "60", "--cpu-time", "120", "--wall-time", "600", "--memory", "1GiB"]
OPTIONS += ["--profile", "book"]


def _children_cpu() -> tuple[float, int]:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def _share(pid: int, fields: dict) -> int:
    """A process's proportional set size (KiB): a page shared by n processes (a forked
    worker's pages of the fork server) counts 1/n in each; else its resident set."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        return int(rollup.split("\nPss:", 1)[1].split()[0])
    except (OSError, IndexError, ValueError):
        return int(fields.get("VmRSS", "0 kB").split()[0])


def _tree_rss(root: int) -> int:
    """The memory in use (KiB) by ``root`` and every process below it: their proportional
    set sizes, summed."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid, parent = int(entry.name), int(fields["PPid"])
        children.setdefault(parent, []).append(pid)
        rss[pid] = _share(pid, fields)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def measure(argv: list[str], env=None) -> tuple[float, float, int, int]:
    """Wall seconds, CPU seconds of the process and all it waited for, the largest
    resident set of one of them so far in this benchmark (KiB), and the largest sum of
    the resident sets of the process tree while it ran (KiB, sampled every 0.2 s)."""
    before, _ = _children_cpu()
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    peak_tree = [0]

    def sample() -> None:
        while process.poll() is None:
            peak_tree[0] = max(peak_tree[0], _tree_rss(process.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    sampler.join()
    if process.returncode not in (0, 1):  # 1: a check failed, which is a result
        raise RuntimeError(f"{argv} ended with {process.returncode}: {stderr[-2000:]!r}")
    wall = time.perf_counter() - start
    after, peak = _children_cpu()
    return wall, after - before, peak, peak_tree[0]


def parts(repeats: int) -> dict[str, float]:
    python = sys.executable
    probes = {
        "start Python": [python, "-c", "pass"],
        "import the runner (no JAX)": [
            python,
            "-c",
            "import refnet.conformance.running.runner, refnet.conformance.checks",
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


#: The ways a class is graded, each with the environment that chooses it.
MODES = {
    "cold, no cache": {"REFNET_FORK_SERVER": "off", "REFNET_GRADER_CACHE": "off"},
    "cold, cache": {"REFNET_FORK_SERVER": "off", "REFNET_ORACLE_SERVER": "off"},
    "cold, cache, server": {"REFNET_FORK_SERVER": "off", "REFNET_ORACLE_SERVER": ""},
    "warm, cache": {"REFNET_FORK_SERVER": "", "REFNET_ORACLE_SERVER": "off"},
    "warm, cache, server": {"REFNET_FORK_SERVER": "", "REFNET_ORACLE_SERVER": ""},
}


def grade_class(students: int, jobs: int, mode: str, scratch: Path, given=None) -> dict:
    folder = scratch / "class"
    if not folder.exists() and given is not None:  # a class of differing students
        shutil.copytree(given, folder)
    elif not folder.exists():
        folder.mkdir()
        for index in range(students):
            shutil.copy(FAITHFUL, folder / f"student{index:03d}.py")
    env = dict(os.environ, **MODES[mode])
    warm = {"wall": 0.0, "cpu": 0.0}
    if env.get("REFNET_GRADER_CACHE") != "off":  # the warm-up alone, into a named cache
        env["REFNET_GRADER_CACHE"] = str(scratch / f"cache-{time.monotonic_ns()}")
        single = scratch / "one"
        single.mkdir(exist_ok=True)
        (single / "placeholder.py").write_text("x = 1\n")
        argv = [sys.executable, "-m", "refnet.conformance", "--batch", str(single)]
        wall, cpu, _, _ = measure([*argv, "--out", str(scratch / "warm"), *OPTIONS], env)
        warm = {"wall": wall, "cpu": cpu}
    argv = [sys.executable, "-m", "refnet.conformance", "--batch", str(folder), "--jobs", str(jobs)]
    out = scratch / f"out-{time.monotonic_ns()}"
    wall, cpu, peak, tree = measure([*argv, "--out", str(out), *OPTIONS], env)
    return {"wall": wall, "cpu": cpu, "peak_mib": peak / 1024, "tree_mib": tree / 1024} | {
        "warm": warm,
        "out": out,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument(
        "--class-folder",
        type=Path,
        help="grade this class (one submission per *.py file or folder) instead of copies",
    )
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--skip-parts", action="store_true")
    parser.add_argument("--modes", nargs="*", choices=list(MODES), default=list(MODES))
    args = parser.parse_args()
    print(f"load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if not args.skip_parts:
        print("\none submission's parts (median CPU seconds of fresh interpreters):")
        for name, seconds in parts(args.repeats).items():
            print(f"  {name:<40} {seconds:6.2f}")
    results: dict[str, list[dict]] = {mode: [] for mode in args.modes}
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(args.repeats):
            for mode in args.modes:  # alternating, so that a change of load meets every mode
                results[mode].append(
                    grade_class(args.students, args.jobs, mode, Path(scratch), args.class_folder)
                )
        outs = [results[mode][0]["out"] for mode in args.modes]
        same = all(_same_grades(outs[0], other) for other in outs[1:])
    n = args.students
    if args.class_folder:
        from refnet.conformance.running.batch import find_submissions

        n = len(find_submissions(args.class_folder))
    print(f"\na class of {n} submissions, --jobs {args.jobs} (medians):")
    print(
        f"  {'':<20} {'wall s':>8} {'CPU s':>8} {'CPU/sub':>8} {'ratio':>6} {'peak MiB':>9} "
        f"{'tree MiB':>9} {'100 subs':>9}"
    )
    first = None
    for mode in args.modes:
        wall = statistics.median(r["wall"] for r in results[mode])
        cpu = statistics.median(r["cpu"] for r in results[mode])
        first = first or cpu
        peak = max(r["peak_mib"] for r in results[mode])
        tree = max(r["tree_mib"] for r in results[mode])
        warm = statistics.median(r["warm"]["cpu"] for r in results[mode])
        hundred = wall / n * 100 + statistics.median(r["warm"]["wall"] for r in results[mode])
        print(
            f"  {mode:<20} {wall:8.1f} {cpu:8.1f} {cpu / n:8.2f} {cpu / first:6.2f} {peak:9.0f} "
            f"{tree:9.0f} {hundred / 60:7.1f} min"
            + (f"   (+ warm-up {warm:.1f} s CPU, once)" if warm else "")
        )
    print(f"\ngrades identical in every mode: {same}")


def _same_grades(first: Path, second: Path) -> bool:
    return (first / "class.csv").read_text() == (second / "class.csv").read_text()


if __name__ == "__main__":
    main()
