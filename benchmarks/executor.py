"""Benchmark: when ``numerical_gradient(..., vectorized=True, executor=...)`` pays, side by side.

Run from the repository root (the Dask rows need the ``cluster`` extra):

    python benchmarks/executor.py            # about 2 minutes
    python benchmarks/executor.py --quick

One gradient of x with n = 64 elements (128 points, central differences), cut into 16
tasks of 4 elements (``memory_budget``), computed serially and on executors with 2
workers: a ThreadPoolExecutor, a ProcessPoolExecutor (spawn) and a Dask
``LocalCluster`` (2 worker processes of 1 thread) through ``client.get_executor()``.  f
is sum(x**2) plus a fixed amount of NumPy work per point (sines of a 1,000-element
array, calibrated at start), from nothing to about 10 ms a point, so the cost of one
evaluation of f is the variable; the table gives the cost measured serially (the serial
time over the 128 points), which on a loaded machine exceeds the calibrated one.  The figures are wall-clock medians (the executor's
gain is wall time; CPU time of this process does not see the workers' work).

What it tells: the overhead of one task (its time with f costing nothing, over the
tasks), and the cost of one evaluation of f above which each executor beats the serial
path: the crossover.  Every result is checked to be the serial gradient bit for bit.
Writes docs/figures/benchmarks/executor.json.
"""

from __future__ import annotations

import argparse
import os
import sys


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case (median)")
    parser.add_argument("--quick", action="store_true", help="1 repeat, fewer costs")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask cluster")
    parser.add_argument("--json", default="docs/figures/benchmarks/executor.json")
    parser.add_argument("--no-json", action="store_true", help="print only")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 1
    return args


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:
    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ[name] = "1"

import concurrent.futures  # noqa: E402
import contextlib  # noqa: E402
import datetime  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import refnet  # noqa: E402

N = 64
TASKS = 16
COSTS = (0.0, 1e-4, 1e-3, 1e-2)
QUICK_COSTS = (0.0, 1e-3)
WORK = np.linspace(0.0, 1.0, 1000)


def costly_rows(stack, reps):
    """sum(x**2) of every row, after ``reps`` sines of a 1,000-element array per row.

    The extra work leaves the values untouched (0 times a finite number is added), so
    every executor must return the serial gradient bit for bit.
    """
    values = np.sum(stack**2, axis=1)
    for row in range(stack.shape[0]):
        extra = 0.0
        for _ in range(reps):
            extra += float(np.sin(WORK + row).sum())
        values[row] += 0.0 * extra
    return values


def calibrate():
    """Seconds of one repetition of costly_rows's extra work (median of 200)."""
    times = []
    for _ in range(200):
        start = time.perf_counter()
        float(np.sin(WORK + 1.0).sum())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def wall(fn, repeats):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


@contextlib.contextmanager
def executors(with_dask):
    """name -> executor (2 workers each), shut down on exit."""
    with contextlib.ExitStack() as stack:
        made = {
            "threads": stack.enter_context(concurrent.futures.ThreadPoolExecutor(2)),
            "processes": stack.enter_context(
                concurrent.futures.ProcessPoolExecutor(
                    2, mp_context=multiprocessing.get_context("spawn")
                )
            ),
        }
        if with_dask:
            try:
                from dask import distributed
            except ImportError:
                print("(dask.distributed is not installed: pip install -e '.[cluster]')")
            else:
                cluster = stack.enter_context(
                    distributed.LocalCluster(
                        n_workers=2,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=":0",
                    )
                )
                client = stack.enter_context(distributed.Client(cluster))
                made["dask"] = client.get_executor()
        yield made


def summarise(rows, costs, names):
    """Per executor: overhead per task, and the cost of f past which it pays."""
    summary = {}
    for name in names:
        idle = rows[f"cost_{round(costs[0] * 1e6)}us"]
        largest = rows[f"cost_{round(costs[-1] * 1e6)}us"]
        overhead = max(0.0, idle[f"{name}_s"] - idle["serial_s"]) / TASKS
        paying = [r["measured_per_point_s"] for r in rows.values() if r[f"{name}_speedup"] > 1.0]
        summary[name] = {
            "overhead_per_task_s": overhead,
            # With 2 workers a task saves half its f time: it pays past 2 x overhead / points.
            "break_even_cost_per_point_s": 2 * overhead / (2 * N // TASKS),
            "cheapest_measured_cost_that_paid_s": min(paying) if paying else None,
            "largest_measured_cost_s": largest["measured_per_point_s"],
            "speedup_at_largest_cost": largest[f"{name}_speedup"],
        }
        print(
            f"{name:<10} overhead per task {overhead * 1e3:.2f} ms -> pays when one "
            f"evaluation of f costs more than about "
            f"{summary[name]['break_even_cost_per_point_s'] * 1e3:.2f} ms"
        )
    return summary


def main(args):
    x = np.random.default_rng(0).uniform(-2, 2, N)
    budget = 2 * x.itemsize * N * (N // TASKS)  # N // TASKS elements' points a task
    unit = calibrate()
    costs = QUICK_COSTS if args.quick else COSTS
    load = os.getloadavg()[0]
    print(
        f"n = {N}, {TASKS} tasks of {N // TASKS} elements, 2 workers; one sine repetition "
        f"{unit * 1e6:.1f} µs; load average {load:.1f}; wall-clock medians of {args.repeats}\n"
    )
    rows = {}
    with executors(not args.no_dask) as made:
        for executor in made.values():  # start the workers outside the timing
            refnet.numerical_gradient(
                functools.partial(costly_rows, reps=0),
                x,
                vectorized=True,
                executor=executor,
                memory_budget=budget,
            )
        for cost in costs:
            f = functools.partial(costly_rows, reps=round(cost / unit))
            serial_s, serial = wall(
                lambda f=f: refnet.numerical_gradient(f, x, vectorized=True, memory_budget=budget),
                args.repeats,
            )
            # What one evaluation of f measured, serially: the x axis of the crossover.
            row = {"cost_per_point_s": cost, "measured_per_point_s": serial_s / (2 * N)}
            row["serial_s"] = serial_s
            for name, executor in made.items():
                seconds, got = wall(
                    lambda f=f, e=executor: refnet.numerical_gradient(
                        f, x, vectorized=True, executor=e, memory_budget=budget
                    ),
                    args.repeats,
                )
                if got.tobytes() != serial.tobytes():
                    raise AssertionError(f"{name} did not give the serial gradient bit for bit")
                row[f"{name}_s"] = seconds
                row[f"{name}_speedup"] = serial_s / seconds
            rows[f"cost_{round(cost * 1e6)}us"] = row
            cells = "  ".join(
                f"{name} {row[f'{name}_s'] * 1e3:8.1f} ms ({row[f'{name}_speedup']:.2f}x)"
                for name in made
            )
            print(
                f"f costs {row['measured_per_point_s'] * 1e3:7.3f} ms a point: serial "
                f"{serial_s * 1e3:8.1f} ms  {cells}",
                flush=True,
            )
        names = list(made)
    summary = summarise(rows, costs, names)
    if not args.no_json:
        data = {
            "script": "python benchmarks/executor.py" + (" --quick" if args.quick else ""),
            "measured": datetime.date.today().isoformat(),
            "machine": (
                f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs, load "
                f"average {load:.1f}; BLAS threads 1"
            ),
            "setup": {"n": N, "tasks": TASKS, "workers": 2, "sine_repetition_s": unit},
            "cases": rows,
            "summary": summary,
            "tables": tables(rows, summary, names),
        }
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1)
            out.write("\n")
        print(f"wrote {args.json}")


LABELS = {"threads": "threads", "processes": "processes", "dask": "Dask LocalCluster"}


def tables(rows, summary, names):
    """The how-to's tables: wall time by cost of f, and each executor's overhead and crossover."""
    by_cost = {
        "columns": ["one evaluation of f", "serial", *(LABELS[n] for n in names)],
        "formats": ["time", "time", *["time"] * len(names)],
        "rows": [
            [r["measured_per_point_s"], r["serial_s"], *(r[f"{n}_s"] for n in names)]
            for r in rows.values()
        ],
    }
    crossover = {
        "columns": [
            "executor",
            "overhead per task",
            "pays past (idle cores, from the overhead)",
            "cheapest f that paid here",
            "speed-up at the most expensive f",
        ],
        "formats": [None, "time", "time", "time", "ratio"],
        "rows": [
            [
                LABELS[n],
                summary[n]["overhead_per_task_s"],
                summary[n]["break_even_cost_per_point_s"],
                summary[n]["cheapest_measured_cost_that_paid_s"],
                summary[n]["speedup_at_largest_cost"],
            ]
            for n in names
        ],
    }
    return {"by_cost": by_cost, "crossover": crossover}


if __name__ == "__main__":
    main(ARGS)
