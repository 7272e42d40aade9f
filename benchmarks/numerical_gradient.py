"""Benchmark: refnet's fast numerical gradients against the book's bare loop, in one run.

Run from the repository root:

    python benchmarks/numerical_gradient.py            # everything (a few minutes); writes the JSON
    python benchmarks/numerical_gradient.py --quick    # fewer repeats and entries; writes nothing

The reference is the book's own code, ``numerical_gradient`` and
``TwoLayerNet.numerical_gradient`` of chapter 4, imported (not copied) from its transcription
in tests/fixtures/book_chapter4.py: a bare loop that moves one entry by ±h, evaluates the
whole loss twice and restores the entry.  (refnet's own ``method="loop"`` adds argument
checks per call and is slower, so measuring against it would flatter the ratios.)

* Every time is the median over ``--repeats`` runs, as CPU time of the process and as wall
  time; ratios are of medians measured side by side in this run.  The CPU ratio is the one
  to quote on a shared machine (the load average at the start and the end is printed and
  recorded): another job's time is not charged to this process.
* BLAS runs one thread (``--blas-threads``), set before NumPy is imported: on a shared
  2-core machine a second OpenBLAS thread made the loop's small products far slower, which
  would flatter the ratios.  The fast path's own threads (``workers=2``) are a separate row.
* The book's loop on the MNIST-shaped network (79,520 loss evaluations, half a minute or
  more) is timed on ``--loop-sample`` entries and extrapolated: each entry costs the same
  two full forward passes whichever parameter it is, so the time per entry times 39,760
  is the whole loop's.  The entries are runs of 10 neighbours at random places in every
  parameter, in proportion to its size; the fast gradient is compared with the loop there.
* The MNIST-shaped inputs are synthetic, uniform in [0, 1]: dense (the fast path's worst
  case) and with 81% zeros (about MNIST's share of blank pixels).  The digits cases use
  scikit-learn's digits (``refnet[train]``), timed with the book's whole loop.

Results go to docs/figures/benchmarks/numerical_gradient.json (``--out``), which
docs/explanation/fast-numerical-gradients.md quotes.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "figures" / "benchmarks" / "numerical_gradient.json"


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case (median)")
    parser.add_argument("--loop-sample", type=int, default=400, help="MNIST loop entries timed")
    parser.add_argument("--blas-threads", type=int, default=1, help="OpenBLAS/MKL threads")
    parser.add_argument("--quick", action="store_true", help="2 repeats, 100 entries, no JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT, help="the results JSON")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.loop_sample, args.out = 2, 100, None
    return args


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:
    # Before NumPy is imported: BLAS reads these once.
    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ[name] = str(ARGS.blas_threads)

import cProfile  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))

import book_chapter4 as book  # noqa: E402  (the book's code, transcribed)

from refnet import TwoLayerNet, numerical_gradient  # noqa: E402
from refnet.engine.fast_gradient import series  # noqa: E402
from refnet.engine.fast_gradient.power_series import MAX_TERMS, SIGMOID_POLYNOMIAL_BOUNDS  # noqa: E402

ROWS = []


def timed(fn, repeats):
    """(median wall seconds, median CPU seconds of the process) over ``repeats`` runs."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def peak_memory(fn):
    """Peak bytes allocated during fn (tracemalloc sees NumPy's data)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def row(case, method, wall, cpu, reference=None, note=""):
    ratio = (reference[0] / wall, reference[1] / cpu) if reference else None
    ROWS.append((case, method, wall, cpu, ratio, note))


def book_net(net):
    """The book's TwoLayerNet holding copies of ``net``'s parameters."""
    D, H = net.params["W1"].shape
    theirs = book.TwoLayerNet(D, H, net.params["W2"].shape[1])
    theirs.params = {name: value.copy() for name, value in net.params.items()}
    return theirs


def book_loop_sample(theirs, x, T, sample, repeats, rng):
    """The book's loop on ``sample`` entries: per-entry (wall, cpu) medians, and the values.

    Each run of 10 neighbours is a 1-D view of the book network's own parameter, handed to
    the book's numerical_gradient, which perturbs it in place and evaluates the book's loss.
    """
    total = sum(v.size for v in theirs.params.values())
    chosen = {}
    for name, value in theirs.params.items():
        runs = max(1, round(sample * value.size / total) // 10)
        span = max(1, value.size - 10)
        starts = np.sort(rng.choice(span, size=min(runs, span), replace=False))
        chosen[name] = [value.reshape(-1)[s : s + min(10, value.size)] for s in starts]
        chosen[name + " starts"] = starts

    def loss(_):
        return theirs.loss(x, T)

    def run():
        return {
            name: [book.numerical_gradient(loss, view) for view in chosen[name]]
            for name in theirs.params
        }

    entries = sum(view.size for name in theirs.params for view in chosen[name])
    wall, cpu = timed(run, repeats)
    values = run()
    reference = {
        name: (
            np.concatenate(
                [
                    np.arange(s, s + v.size)
                    for s, v in zip(chosen[name + " starts"], vs, strict=True)
                ]
            ),
            np.concatenate(vs),
        )
        for name, vs in values.items()
    }
    return wall / entries, cpu / entries, entries, reference


def agreement(fast, reference):
    """max |fast - loop| over the compared entries, relative to the largest gradient entry,
    and the worst per parameter relative to that parameter's largest compared entry."""
    largest = max(float(np.max(np.abs(g))) for g in fast.values())
    worst, per_array = 0.0, {}
    for name, (indices, values) in reference.items():
        diff = float(np.max(np.abs(fast[name].reshape(-1)[indices] - values)))
        worst = max(worst, diff)
        per_array[name] = diff / float(np.max(np.abs(values)))
    return worst / largest, per_array


def mnist_case(label, x, t, args, rng):
    net = TwoLayerNet(784, 50, 10, rng=args.seed)
    theirs = book_net(net)
    n_params = sum(v.size for v in net.params.values())
    T = np.eye(10)[t]
    wall_entry, cpu_entry, entries, reference = book_loop_sample(
        theirs, x, T, args.loop_sample, max(3, args.repeats // 2), rng
    )
    loop = (wall_entry * n_params, cpu_entry * n_params)
    row(label, "book's loop", *loop, note=f"extrapolated from {entries} entries")
    fast = net.numerical_gradient(x, t)
    relative, per_array = agreement(fast, reference)
    wall, cpu = timed(lambda: net.numerical_gradient(x, t), args.repeats)
    memory = peak_memory(lambda: net.numerical_gradient(x, t))
    row(label, "fast (1 thread)", wall, cpu, loop, f"|fast - loop| <= {relative:.1e} of max |g|")
    wall2, cpu2 = timed(lambda: net.numerical_gradient(x, t, workers=2), args.repeats)
    row(label, "fast, workers=2", wall2, cpu2, loop)
    back = timed(lambda: net.gradient(x, t), max(args.repeats, 20))
    row(label, "backprop (context)", *back, loop)
    plan = series.series_plan(
        float(np.max(np.abs(x))) * 1e-4, float(np.max(np.abs(net.params["W2"])))
    )
    return {
        "label": label,
        "series_terms": {
            "sigmoid": plan.sigmoid,
            "class_sums": plan.class_sums,
            "log1p": plan.log1p,
        },
        "loop_wall_s": loop[0],
        "loop_cpu_s": loop[1],
        "loop_extrapolated_from": entries,
        "fast_wall_s": wall,
        "fast_cpu_s": cpu,
        "ratio_wall": loop[0] / wall,
        "ratio_cpu": loop[1] / cpu,
        "workers_2_wall_s": wall2,
        "workers_2_cpu_s": cpu2,
        "backprop_cpu_s": back[1],
        "peak_mb": memory / 1e6,
        "agreement": relative,
        "agreement_per_array": per_array,
        "nonzero_share": float(np.count_nonzero(x) / x.size),
        # Loss changes evaluated in layer 1: offsets x hidden units x (sample, input) pairs
        # that move (x != 0, and the 1 of b1), and the CPU time per evaluation, all included.
        "layer1_evaluations_millions": 2 * 50 * (np.count_nonzero(x) + x.shape[0]) / 1e6,
        "ns_per_layer1_evaluation": cpu / (2 * 50 * (np.count_nonzero(x) + x.shape[0])) * 1e9,
    }


def digits_cases(args, rng):
    from refnet.datasets import load_digits

    (x_train, t_train), _ = load_digits()
    results = {}
    for batch in (32, 64, 100):
        net = TwoLayerNet(64, 50, 10, rng=args.seed)
        theirs = book_net(net)
        pick = rng.choice(x_train.shape[0], batch, replace=False)
        x, t = x_train[pick], t_train[pick]
        T = np.eye(10)[t]
        label = f"digits 64-50-10, batch {batch}"
        loop = timed(
            lambda x=x, T=T, b=theirs: b.numerical_gradient(x, T), max(3, args.repeats // 2)
        )
        row(label, "book's loop", *loop, note="the whole loop, 3,710 entries")
        reference = theirs.numerical_gradient(x, T)
        fast = net.numerical_gradient(x, t)
        relative, _ = agreement(
            fast, {k: (np.arange(v.size), v.reshape(-1)) for k, v in reference.items()}
        )
        wall, cpu = timed(lambda x=x, t=t, n=net: n.numerical_gradient(x, t), args.repeats * 4)
        row(
            label, "fast (1 thread)", wall, cpu, loop, f"|fast - loop| <= {relative:.1e} of max |g|"
        )
        results[f"digits_{batch}"] = {
            "label": label,
            "loop_wall_s": loop[0],
            "loop_cpu_s": loop[1],
            "fast_wall_s": wall,
            "fast_cpu_s": cpu,
            "ratio_wall": loop[0] / wall,
            "ratio_cpu": loop[1] / cpu,
            "agreement": relative,
            "peak_mb": peak_memory(lambda x=x, t=t, n=net: n.numerical_gradient(x, t)) / 1e6,
        }
    return results


def small_f_cases(args, rng):
    """numerical_gradient(f, x, vectorized=True) against the book's numerical_gradient."""
    functions = {
        "sum_squares": ("Σx²", lambda x: np.sum(x**2), lambda s: np.einsum("ij,ij->i", s, s)),
        "sin_cos": (
            "Σ sin 3x + cos x",
            lambda x: np.sum(np.sin(3 * x) + np.cos(x)),
            lambda s: np.sum(np.sin(3 * s) + np.cos(s), axis=1),
        ),
    }
    results, overhead, extra = {}, [], []
    for n in (100, 1000):
        x = rng.uniform(-2, 2, n)
        for key, (name, scalar, rows) in functions.items():
            label = f"f = {name}, n = {n:,}"
            loop = timed(lambda s=scalar, x=x: book.numerical_gradient(s, x.copy()), args.repeats)
            row(label, "book's loop", *loop)
            mine = timed(lambda s=scalar, x=x: numerical_gradient(s, x.copy()), args.repeats)
            row(label, "refnet loop", *mine, loop)
            # The loop's own cost per evaluation of f (the Python loop, the element's
            # write and restore), and what refnet's per-call checks add to it.
            alone = timed(lambda s=scalar, x=x, n=n: [s(x) for _ in range(2 * n)], args.repeats)
            overhead.append((loop[1] - alone[1]) / (2 * n))
            extra.append((mine[1] - loop[1]) / (2 * n))
            fast = timed(
                lambda r=rows, x=x: numerical_gradient(r, x, vectorized=True), args.repeats * 4
            )
            row(label, "vectorized=True", *fast, loop)
            results[f"{key}_{n}"] = {
                "label": label,
                "loop_wall_s": loop[0],
                "loop_cpu_s": loop[1],
                "refnet_loop_cpu_s": mine[1],
                "fast_wall_s": fast[0],
                "fast_cpu_s": fast[1],
                "ratio_wall": loop[0] / fast[0],
                "ratio_cpu": loop[1] / fast[1],
            }
    return results, statistics.median(overhead), statistics.median(extra)


def crossover(args, rng):
    """CPU time of the dense and the padded layout, MNIST-shaped, by share of non-zero x."""
    net = TwoLayerNet(784, 50, 10, rng=args.seed)
    t = rng.integers(0, 10, 100)
    shares, dense, padded = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], [], []
    original = series.DENSE_FROM
    try:
        for share in shares:
            x = rng.uniform(0, 1, (100, 784))
            x[rng.uniform(size=x.shape) >= share] = 0.0
            for layout, out in ((0.0, dense), (2.0, padded)):
                series.DENSE_FROM = layout
                out.append(timed(lambda x=x: net.numerical_gradient(x, t), args.repeats)[1])
    finally:
        series.DENSE_FROM = original
    first = next((s for s, d, p in zip(shares, dense, padded, strict=True) if p >= d), None)
    print("\nlayouts by share of non-zero inputs (CPU ms, dense / padded):")
    print(
        "  "
        + "  ".join(
            f"{s:.1f}: {d * 1e3:.0f}/{p * 1e3:.0f}"
            for s, d, p in zip(shares, dense, padded, strict=True)
        )
    )
    return {
        "shares": shares,
        "dense_cpu_s": dense,
        "padded_cpu_s": padded,
        "padded_slower_from": first,
        "dense_from": original,
    }


def _loss_long_double(params, x, t):
    """The chapter's loss (labels, delta 1e-7) in long double (64-bit mantissa on x86)."""
    ld = np.longdouble
    W1, b1, W2, b2 = (params[k].astype(ld) for k in ("W1", "b1", "W2", "b2"))
    z = 1 / (1 + np.exp(-(x.astype(ld) @ W1 + b1)))
    a = z @ W2 + b2
    e = np.exp(a - a.max(axis=1, keepdims=True))
    y = e / e.sum(axis=1, keepdims=True)
    return -np.sum(np.log(y[np.arange(x.shape[0]), t] + ld(1e-7))) / ld(x.shape[0])


def accuracy(args, rng):
    """Each method's error against the same central difference evaluated in long double.

    The digits network at the book's initialisation (std 0.01), batch 100; b1, W2 and b2
    (W1's 3,200 entries would take minutes in long double).  b1's error is relative to
    max |g_b1| (its entries are small), the others are absolute.
    """
    from refnet.datasets import load_digits

    (x_train, t_train), _ = load_digits()
    pick = rng.choice(x_train.shape[0], 100, replace=False)
    x, t = x_train[pick], t_train[pick]
    net = TwoLayerNet(64, 50, 10, rng=args.seed)
    theirs = book_net(net)
    T = np.eye(10)[t]
    fast = net.numerical_gradient(x, t)
    results = {}
    for name in ("b1", "W2", "b2"):
        loop = book.numerical_gradient(lambda _: theirs.loss(x, T), theirs.params[name])
        exact = np.zeros(net.params[name].shape, dtype=np.longdouble)
        for index in np.ndindex(exact.shape):
            moved = {k: v.copy() for k, v in net.params.items()}
            value = net.params[name][index]
            moved[name][index] = value + 1e-4
            plus = _loss_long_double(moved, x, t)
            moved[name][index] = value - 1e-4
            exact[index] = (plus - _loss_long_double(moved, x, t)) / np.longdouble(2e-4)
        exact = exact.astype(np.float64)
        largest = float(np.max(np.abs(exact)))
        scale = largest if name == "b1" else 1.0
        results[name] = {
            "max_gradient": largest,
            "loop_error": float(np.max(np.abs(loop - exact))) / scale,
            "fast_error": float(np.max(np.abs(fast[name] - exact))) / scale,
        }
    print(f"\naccuracy against long double: {json.dumps(results)}")
    return results


def profile(x, t, args):
    """Where one MNIST-shaped fast gradient spends its time (cProfile, cumulative)."""
    net = TwoLayerNet(784, 50, 10, rng=args.seed)
    net.numerical_gradient(x, t)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(3):
        net.numerical_gradient(x, t)
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    cumulative = {}
    for (path, _, name), (_, _, _, cum, _) in stats.items():
        if "refnet" in path:
            cumulative[name] = cumulative.get(name, 0.0) + cum
    whole = cumulative["numerical_gradient"]  # TwoLayerNet's: the only one called here
    return {
        "layer1_share": cumulative["layer1_series"] / whole,
        "layer2_share": cumulative["layer2_series"] / whole,
    }


def print_table():
    header = f"{'case':<36} {'method':<20} {'wall':>10} {'cpu':>10} {'ratio wall/cpu':>16}  note"
    print(header + "\n" + "-" * len(header))
    for case, method, wall, cpu, ratio, note in ROWS:
        ratios = f"{ratio[0]:7.1f}x/{ratio[1]:6.1f}x" if ratio else f"{'ref':>16}"
        print(f"{case:<36} {method:<20} {_seconds(wall):>10} {_seconds(cpu):>10} {ratios}  {note}")


def _seconds(value):
    return f"{value * 1e3:.1f} ms" if value < 1 else f"{value:.2f} s"


def main(args):
    rng = np.random.default_rng(args.seed)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load_start = os.getloadavg()[0]
    print(
        f"numpy {np.__version__}, BLAS threads {args.blas_threads}, cores {cores}, load average "
        f"{load_start:.1f}, repeats {args.repeats} (median)\n"
    )
    x_dense = rng.uniform(0, 1, (100, 784))
    t = rng.integers(0, 10, 100)
    x_sparse = np.where(rng.uniform(size=(100, 784)) < 0.81, 0.0, x_dense)
    cases = {
        "mnist_dense": mnist_case("MNIST-shaped 784-50-10, dense x", x_dense, t, args, rng),
        "mnist_sparse": mnist_case("MNIST-shaped, 81% of x zero", x_sparse, t, args, rng),
    }
    cases.update(digits_cases(args, rng))
    small, overhead, extra = small_f_cases(args, rng)
    cases.update(small)
    print_table()
    layouts = crossover(args, rng)
    errors = accuracy(args, rng)
    where = {"dense": profile(x_dense, t, args), "sparse": profile(x_sparse, t, args)}
    load_end = os.getloadavg()[0]
    print(f"\nprofile: {json.dumps(where)}\nload average at the end {load_end:.1f}")
    dense, sparse = cases["mnist_dense"], cases["mnist_sparse"]
    print(
        "goals (issue 10, CPU ratios): MNIST-shaped dense >= 150x: "
        f"{dense['ratio_cpu']:.0f}x; 81% zeros >= 600x: {sparse['ratio_cpu']:.0f}x; digits "
        f">= 100x: {min(cases[f'digits_{b}']['ratio_cpu'] for b in (32, 64, 100)):.0f}x at worst; "
        f"agreement <= 1e-8 of max |g|: {max(dense['agreement'], sparse['agreement']):.1e}"
    )
    if args.out is None:
        return
    results = {
        "script": "python benchmarks/numerical_gradient.py",
        "measured": datetime.date.today().isoformat(),
        "machine": (
            f"{platform.machine()} {cores}-core machine shared with other jobs (load average "
            f"{load_start:.1f} at the start, {load_end:.1f} at the end), numpy {np.__version__}, "
            f"{args.blas_threads} BLAS thread"
        ),
        "repeats": args.repeats,
        "load_average_start": load_start,
        "load_average_end": load_end,
        # The settings of the fast path this run measured (the docs quote them from here).
        "settings": {
            "dense_from": series.DENSE_FROM,
            "work_block": series.WORK_BLOCK,
            "padded_samples": series.PADDED_SAMPLES,
            "max_terms": MAX_TERMS,
            "sigmoid_polynomial_bounds": list(SIGMOID_POLYNOMIAL_BOUNDS),
        },
        "cases": cases,
        "loop_overhead_per_call_s": overhead,
        "refnet_loop_extra_per_call_s": extra,
        "crossover": layouts,
        "accuracy": errors,
        "profile": where,
    }
    args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out.relative_to(ROOT)}")


if __name__ == "__main__":
    main(ARGS)
