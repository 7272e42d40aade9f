"""Benchmark: fast numerical gradients against the book's loop, side by side in one run.

Run from the repository root:

    python benchmarks/numerical_gradient.py            # the full table (about 2 minutes)
    python benchmarks/numerical_gradient.py --quick    # fewer repeats, smaller loop samples
    python benchmarks/numerical_gradient.py --profile  # add where the fast path's time goes

Every time is the median over ``--repeats`` runs; every ratio is against the reference
measured in the same run (wall-clock times).  The ``cpu`` column is the median CPU time of
the process (all its threads): on a machine shared with other jobs it is closer to what an
idle machine's wall clock would show.  The reference loop on the MNIST-shaped network (79,520 loss
evaluations, about half a minute) is timed on a random sample of parameter entries and
extrapolated per entry: each entry of the loop costs the same two full forward passes,
whichever parameter it is.  The inputs of the MNIST-shaped case are synthetic (the real
MNIST files are not needed): uniform in [0, 1], dense (the worst case for the fast path,
which skips inputs that are 0), and a variant with 81% zeros, about MNIST's share of
blank pixels.  The digits case uses scikit-learn's digits (``refnet[train]``).

BLAS threads default to 1 (``--blas-threads``): on a shared 2-core machine OpenBLAS's
second thread made the loop's small matrix products up to 30 times slower, which would
flatter the ratios.  The fast path's own threads (``workers``) are reported separately.
"""

from __future__ import annotations

import argparse
import os
import sys


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case (median)")
    parser.add_argument(
        "--loop-sample",
        type=int,
        default=400,
        help="parameter entries on which the MNIST-shaped loop is timed",
    )
    parser.add_argument("--blas-threads", type=int, default=1, help="OpenBLAS/MKL threads")
    parser.add_argument("--quick", action="store_true", help="2 repeats, loop sample 100")
    parser.add_argument("--profile", action="store_true", help="profile the MNIST-shaped case")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.loop_sample = 2, 100
    return args


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:
    # Before NumPy is imported: BLAS reads these once.
    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ[name] = str(ARGS.blas_threads)

import cProfile  # noqa: E402
import io  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from refnet import TwoLayerNet, numerical_gradient  # noqa: E402
from refnet.losses import cross_entropy_unchecked  # noqa: E402
from refnet.two_layer_net import forward  # noqa: E402

ROWS = []


CPU = {}


def median_time(fn, repeats):
    """Median wall time; the median CPU time of the process (all threads) goes to CPU[fn]."""
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    CPU["last"] = statistics.median(cpu)
    return statistics.median(times)


def peak_memory(fn):
    """Peak bytes allocated by NumPy and Python during fn (tracemalloc sees NumPy's data)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def row(case, method, seconds, reference, memory=None, note=""):
    """A table row; its CPU time is that of the median_time call just before it."""
    cpu = CPU.pop("last", None)
    ratio = reference / seconds if reference else None
    ROWS.append((case, method, seconds, ratio, memory, note, cpu))


def print_table():
    header = (
        f"{'case':<35} {'method':<28} {'median':>10} {'vs ref':>9} {'cpu':>10} "
        f"{'peak mem':>10}  note"
    )
    print(header)
    print("-" * len(header))
    for case, method, seconds, ratio, memory, note, cpu in ROWS:
        ratio_text = f"{ratio:8.1f}x" if ratio else f"{'ref':>9}"
        cpu_text = _seconds(cpu) if cpu is not None else ""
        memory_text = f"{memory / 2**20:8.1f}MB" if memory is not None else f"{'':>10}"
        print(
            f"{case:<35} {method:<28} {_seconds(seconds):>10} {ratio_text} {cpu_text:>10} "
            f"{memory_text}  {note}"
        )


def _seconds(value):
    return f"{value * 1e3:.1f} ms" if value < 1 else f"{value:.2f} s"


# -- the networks ---------------------------------------------------------------------------


def loop_per_entry(net, x, t, sample, rng):
    """The reference loop on ``sample`` random entries, via views into the real parameters.

    Each view is perturbed in place by refnet's numerical_gradient with the same loss
    closure TwoLayerNet.numerical_gradient(method="loop") uses, so each entry costs what it
    costs in the full loop.  Returns (seconds per entry, {name: (flat indices, values)}).
    """
    sizes = {name: value.size for name, value in net.params.items()}
    total = sum(sizes.values())
    x2, t2 = x, t

    def loss(_):
        return cross_entropy_unchecked(forward(net.params, x2)[1], t2, True, 1e-7)

    chosen = {}
    elapsed = elapsed_cpu = 0.0
    for name, size in sizes.items():
        count = max(1, round(sample * size / total))
        # Runs of 10 contiguous entries at random places: each run is a view of the parameter.
        runs = max(1, count // 10)
        starts = np.sort(
            rng.choice(max(1, size - 10), size=min(runs, max(1, size - 10)), replace=False)
        )
        flat = net.params[name].reshape(-1)
        indices, values = [], []
        for start in starts:
            view = flat[start : start + min(10, size)]
            began, began_cpu = time.perf_counter(), time.process_time()
            grad = numerical_gradient(loss, view)
            elapsed += time.perf_counter() - began
            elapsed_cpu += time.process_time() - began_cpu
            indices.append(np.arange(start, start + view.size))
            values.append(grad)
        chosen[name] = (np.concatenate(indices), np.concatenate(values))
    entries = sum(idx.size for idx, _ in chosen.values())
    CPU["per entry"] = elapsed_cpu / entries
    return elapsed / entries, chosen, entries


def disagreement(fast, reference):
    """max |fast - loop| / max |loop| over the parameter arrays (the worst array)."""
    worst = 0.0
    for name, (indices, values) in reference.items():
        got = fast[name].reshape(-1)[indices]
        worst = max(worst, float(np.max(np.abs(got - values)) / np.max(np.abs(values))))
    return worst


def mnist_case(label, x, t, args, rng):
    net = TwoLayerNet(784, 50, 10, rng=args.seed)
    n_params = sum(v.size for v in net.params.values())
    per_entry, reference, entries = loop_per_entry(net, x, t, args.loop_sample, rng)
    loop_seconds = per_entry * n_params
    CPU["last"] = CPU.pop("per entry") * n_params
    row(
        label,
        "loop (reference)",
        loop_seconds,
        None,
        note=f"extrapolated: {entries} random entries x {per_entry * 1e3:.3f} ms x {n_params}",
    )
    fast = net.numerical_gradient(x, t, workers=1)
    error = disagreement(fast, reference)
    for workers, name in ((1, "fast (default, 1 thread)"), (2, "fast, workers=2")):
        seconds = median_time(
            lambda w=workers: net.numerical_gradient(x, t, workers=w), args.repeats
        )
        memory = peak_memory(lambda w=workers: net.numerical_gradient(x, t, workers=w))
        row(label, name, seconds, loop_seconds, memory, f"max rel. diff vs loop {error:.1e}")
    seconds = median_time(lambda: net.gradient(x, t), max(args.repeats, 20))
    memory = peak_memory(lambda: net.gradient(x, t))
    row(label, "backprop (context)", seconds, loop_seconds, memory)
    return net


def digits_case(args, rng):
    from refnet.datasets import load_digits

    (x_train, t_train), _ = load_digits()
    net = TwoLayerNet(64, 50, 10, rng=args.seed)
    for batch in (32, 64, 100):
        pick = rng.choice(x_train.shape[0], batch, replace=False)
        x, t = x_train[pick], t_train[pick]
        label = f"digits 64-50-10, batch {batch}"
        loop_seconds = median_time(
            lambda x=x, t=t: net.numerical_gradient(x, t, method="loop"), max(1, args.repeats // 2)
        )
        row(label, "loop (reference)", loop_seconds, None, note="full loop, 3,710 entries")
        loop = net.numerical_gradient(x, t, method="loop")
        fast = net.numerical_gradient(x, t)
        error = max(
            float(np.max(np.abs(fast[k] - loop[k])) / np.max(np.abs(loop[k]))) for k in loop
        )
        seconds = median_time(lambda x=x, t=t: net.numerical_gradient(x, t), args.repeats * 4)
        memory = peak_memory(lambda x=x, t=t: net.numerical_gradient(x, t))
        row(
            label,
            "fast (default)",
            seconds,
            loop_seconds,
            memory,
            f"max rel. diff vs loop {error:.1e}",
        )
        seconds = median_time(lambda x=x, t=t: net.gradient(x, t), 50)
        row(label, "backprop (context)", seconds, loop_seconds)


# -- a small vectorisable function ------------------------------------------------------------


def small_f_case(args, rng):
    functions = {
        "sum of squares": (lambda x: np.sum(x**2), lambda s: np.einsum("ij,ij->i", s, s)),
        "sum sin(3x) + cos(x)": (
            lambda x: np.sum(np.sin(3 * x) + np.cos(x)),
            lambda s: np.sum(np.sin(3 * s) + np.cos(s), axis=1),
        ),
    }
    for n in (100, 1000):
        x = rng.uniform(-2, 2, n)
        for name, (scalar, rows) in functions.items():
            label = f"f = {name}, n = {n:,}"
            loop_seconds = median_time(lambda s=scalar, x=x: numerical_gradient(s, x), args.repeats)
            row(label, "loop (reference)", loop_seconds, None)
            reference = numerical_gradient(scalar, x)
            got = numerical_gradient(rows, x, vectorized=True)
            error = float(np.max(np.abs(got - reference)) / np.max(np.abs(reference)))
            seconds = median_time(
                lambda r=rows, x=x: numerical_gradient(r, x, vectorized=True), args.repeats * 4
            )
            memory = peak_memory(lambda r=rows, x=x: numerical_gradient(r, x, vectorized=True))
            row(
                label,
                "vectorized=True",
                seconds,
                loop_seconds,
                memory,
                f"max rel. diff vs loop {error:.1e}",
            )


# -- where the time goes ---------------------------------------------------------------------


def profile_fast(net, x, t):
    profiler = cProfile.Profile()
    profiler.enable()
    net.numerical_gradient(x, t, workers=1)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(8)
    print(out.getvalue())
    # The floor: every class of every moved sample needs one expm1 of its logit change.
    pairs = np.count_nonzero(x) + x.shape[0]
    class_evaluations = net.output_size * 2 * net.hidden_size * pairs
    probe = np.full(1 << 20, 1e-6)
    out_array = np.empty_like(probe)
    costs = {}
    for name, op in (
        ("expm1", lambda: np.expm1(probe, out=out_array)),
        ("multiply", lambda: np.multiply(probe, probe, out=out_array)),
        ("log1p", lambda: np.log1p(probe, out=out_array)),
    ):
        costs[name] = median_time(op, 20) / probe.size
    CPU.clear()
    print(
        f"layer-1 class evaluations (classes x 2 offsets x hidden x moved samples): "
        f"{class_evaluations:,}"
    )
    for name, cost in costs.items():
        print(f"  NumPy {name}: {cost * 1e9:.2f} ns per element")
    print(
        f"  expm1 alone over them: {class_evaluations * costs['expm1'] * 1e3:.0f} ms "
        "(the floor for exact exponentials evaluated one NumPy call per array)"
    )


def main(args):
    rng = np.random.default_rng(args.seed)
    print(
        f"numpy {np.__version__}, BLAS threads {args.blas_threads}, cores "
        f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()}, "
        f"load average {os.getloadavg()[0]:.1f}, repeats {args.repeats} (median)\n"
    )
    x_dense = rng.uniform(0, 1, (100, 784))
    t = rng.integers(0, 10, 100)
    x_sparse = np.where(rng.uniform(size=(100, 784)) < 0.81, 0.0, x_dense)
    net = mnist_case("MNIST-shaped 784-50-10, dense x", x_dense, t, args, rng)
    mnist_case("MNIST-shaped, 81% zeros in x", x_sparse, t, args, rng)
    digits_case(args, rng)
    small_f_case(args, rng)
    print_table()
    print(
        "\nGoals (issue 4): MNIST-shaped >= 100x, small vectorisable f (n = 1,000) >= 50x.\n"
        f"Peak resident memory of this process: {_maxrss_mb():.0f} MB."
    )
    if args.profile:
        print("\nProfile of one fast gradient, MNIST-shaped, dense x, 1 thread:")
        profile_fast(net, x_dense, t)


def _maxrss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main(ARGS)
