"""Benchmark: the block size and the crossover of ``numerical_gradient(vectorized=True)``.

Run from the repository root:

    python benchmarks/vectorized_blocks.py            # about 5 minutes
    python benchmarks/vectorized_blocks.py --quick    # fewer sizes and repeats

For f = sum(x**2), sum(sin 3x + cos x) and log-sum-exp, written for stacks of points, at
n from 100 to 100,000 (central differences, float64), it times the vectorized engine
(refnet/engine/stacked.py) on the same elements with every strategy side by side:

* stacks of B bytes of points for B from 128 KiB to 16 MiB (``block:B``);
* one point a call, in the loop's order (``one-by-one``), the strategy past the crossover;
* the default rule (``default``: ``block_rows`` as shipped).

Each strategy evaluates the same elements (all of them for small n, up to ``--elements``,
fewer for large n so that every case does about the same work) and its time is given per
element; the strategies are interleaved within each repeat, in a new order each time, so a
change of load on the shared machine hits them alike, and the figure is the median over repeats
(CPU time of the process and wall time; BLAS threads 1).  The output says, for each n,
the best block size and how the default and one-by-one compare with it, and writes
docs/figures/benchmarks/vectorized_blocks.json (``--json``), which the docs quote.
"""

from __future__ import annotations

import argparse
import os
import sys


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per case (median)")
    parser.add_argument("--elements", type=int, default=600, help="elements timed per case")
    parser.add_argument("--quick", action="store_true", help="3 repeats, fewer sizes")
    parser.add_argument("--json", default="docs/figures/benchmarks/vectorized_blocks.json")
    parser.add_argument("--no-json", action="store_true", help="print only")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.elements = 3, 200
    return args


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:
    # Before NumPy is imported: BLAS reads these once.
    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ[name] = "1"

import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from refnet.engine import stacked  # noqa: E402
from refnet.engine.stencil import CENTRAL, points  # noqa: E402

SIZES = (100, 300, 1_000, 3_000, 10_000, 30_000, 65_536, 100_000)
QUICK_SIZES = (100, 1_000, 10_000, 65_536, 100_000)
#: Element-evaluations per timed case: n = 100,000 times 30 elements.
WORK = 3_000_000
BLOCKS = (2**17, 2**18, 2**19, 2**20, 2**21, 2**22, 2**23, 2**24)


def _lse(s):
    top = np.max(s, axis=1)
    return np.log(np.sum(np.exp(s - top[:, None]), axis=1)) + top


FUNCTIONS = {
    "sum_squares": lambda s: np.sum(s**2, axis=1),
    "sin_cos": lambda s: np.sum(np.sin(3 * s) + np.cos(s), axis=1),
    "log_sum_exp": _lse,
}


def strategies(n):
    """name -> rows per call (0: one point a call), for a central difference at size n."""
    element = 2 * n * 8
    out = {f"block:{b // 1024}K": max(1, b // element) for b in BLOCKS}
    out["one-by-one"] = 0
    default = stacked.block_rows(n, 8, 2)
    out["default"] = default
    return out


def time_case(f, x, elements, rows_by_name, repeats):
    """name -> (median CPU seconds per element, median wall seconds per element)."""
    moved = points(x, CENTRAL.steps(x, 1e-4), CENTRAL.offsets)
    grid = np.stack([moved[o].reshape(-1) for o in CENTRAL.offsets], axis=1)
    flat = x.reshape(-1)
    cpu = {name: [] for name in rows_by_name}
    wall = {name: [] for name in rows_by_name}
    names = list(rows_by_name)
    order = np.random.default_rng(1)
    for _ in range(repeats):
        # A new order each repeat: what one strategy leaves behind (the allocator's state,
        # the cache) must not always favour or handicap the same next one.
        for name in order.permutation(names):
            rows = rows_by_name[name]
            task = stacked.Task(flat, x.shape, CENTRAL.offsets, 0, elements, grid[:elements], rows)
            start, start_cpu = time.perf_counter(), time.process_time()
            stacked.run(task, f)
            wall[name].append((time.perf_counter() - start) / elements)
            cpu[name].append((time.process_time() - start_cpu) / elements)
    return {name: (statistics.median(cpu[name]), statistics.median(wall[name])) for name in cpu}


def main(args):
    rng = np.random.default_rng(0)
    sizes = QUICK_SIZES if args.quick else SIZES
    load = os.getloadavg()[0]
    print(
        f"numpy {np.__version__}, BLAS threads 1, load average {load:.1f}, repeats "
        f"{args.repeats} (median), up to {args.elements} elements a case\n"
    )
    print(f"{'f':<12} {'n':>7}  {'best':<11} {'default':>8} {'one-by-one':>11}   per element (CPU)")
    results = {}
    for name, f in FUNCTIONS.items():
        for n in sizes:
            x = rng.uniform(-2, 2, n)
            # The same work per case (elements x n), within [24, --elements] elements.
            elements = min(n, max(24, min(args.elements, WORK // n)))
            timed = time_case(f, x, elements, strategies(n), args.repeats)
            blocks = {k: v for k, v in timed.items() if k.startswith("block:")}
            best = min(blocks, key=lambda k: blocks[k][0])
            best_cpu = blocks[best][0]
            results[f"{name}_{n}"] = {
                "f": name,
                "n": n,
                "elements_timed": elements,
                "best_block": best,
                "cpu_per_element_s": {k: v[0] for k, v in timed.items()},
                "wall_per_element_s": {k: v[1] for k, v in timed.items()},
                "default_vs_best": timed["default"][0] / best_cpu,
                "one_by_one_vs_best": timed["one-by-one"][0] / best_cpu,
                "one_by_one_vs_default": timed["one-by-one"][0] / timed["default"][0],
            }
            r = results[f"{name}_{n}"]
            print(
                f"{name:<12} {n:>7}  {best:<11} {r['default_vs_best']:7.2f}x "
                f"{r['one_by_one_vs_best']:10.2f}x   best {best_cpu * 1e6:.1f} µs",
                flush=True,
            )
    print(
        "\n'default' and 'one-by-one' are CPU time per element relative to the best block "
        "size (1.00x = as fast as the best; above 1: slower)."
    )
    if not args.no_json:
        write_json(args, results, load)


#: The functions as the docs' tables name them.
TITLES = {
    "sum_squares": "sum(x**2)",
    "sin_cos": "sum(sin 3x + cos x)",
    "log_sum_exp": "log-sum-exp",
}


def strategy_tables(results):
    """Two tables, n by function, each against the best block: the default rule, and one
    point a call (two narrow tables fit the page where one wide one does not)."""
    names = list(FUNCTIONS)
    sizes = sorted({r["n"] for r in results.values()})
    tables = {}
    for table, key in (("default", "default_vs_best"), ("one_point", "one_by_one_vs_best")):
        rows = []
        for n in sizes:
            cases = [results.get(f"{name}_{n}") for name in names]
            rows.append([f"{n:,}", *(case[key] if case else None for case in cases)])
        tables[table] = {
            "columns": ["n", *(TITLES[name] for name in names)],
            "formats": [None] + ["ratio"] * len(names),
            "rows": rows,
        }
    return tables


def write_json(args, results, load):
    crossover = {f"{r['f']}_{r['n']}": r["one_by_one_vs_default"] for r in results.values()}
    data = {
        "script": "python benchmarks/vectorized_blocks.py" + (" --quick" if args.quick else ""),
        "measured": datetime.date.today().isoformat(),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs, load "
            f"average {load:.1f}; numpy {np.__version__}, BLAS threads 1"
        ),
        "rule": {
            "default_block_kib": stacked.DEFAULT_BLOCK_BYTES // 1024,
            "max_block_mib": stacked.MAX_BLOCK_BYTES // 2**20,
            "min_rows": stacked.MIN_ROWS,
            "loop_order_point_kib": stacked.LOOP_ORDER_POINT_BYTES // 1024,
            "loop_order_n_float64": stacked.LOOP_ORDER_POINT_BYTES // 8,
        },
        "one_by_one_vs_default": crossover,
        "cases": results,
        "tables": strategy_tables(results),
    }
    with open(args.json, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=1)
        out.write("\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main(ARGS)
