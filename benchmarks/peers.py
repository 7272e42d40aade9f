"""Benchmark: refnet's numerical gradients against the tools a user would pick instead, in one run.

Run from the repository root, with the ``bench`` extra (scipy, numdifftools, jax):

    pip install -e '.[bench,train]'
    python benchmarks/peers.py            # about 30 minutes on the 2-core machine
    python benchmarks/peers.py --quick    # n up to 10,000, 2 repeats, shorter samples

The same functions at the same points, side by side: f = sum(x**2), sum(sin 3x + cos x)
and log-sum-exp at n = 100, 1,000, 10,000 and 100,000 (x uniform in [-2, 2]), and the
loss of TwoLayerNet as a function of its flattened parameters (digits-sized 64-50-10,
MNIST-shaped 784-50-10 with dense inputs, and MNIST-like, 81% of the inputs zero; batch
100).  The methods:

* ``book loop``: the book's ``_numerical_gradient_no_batch_``, imported from
  tests/fixtures/book_chapter4.py (the transcription the conformance tests use);
* ``refnet loop``: ``numerical_gradient(f, x)``;
* ``refnet vectorized``: ``numerical_gradient(f_rows, x, vectorized=True)``;
* ``refnet fast``: ``TwoLayerNet.numerical_gradient`` (its default method; networks only);
* ``scipy approx_fprime``: ``scipy.optimize.approx_fprime`` with its defaults (a *forward*
  difference with step √ε: half the evaluations, error O(h));
* ``scipy jacobian``: ``scipy.differentiate.jacobian`` with its defaults (adaptive steps,
  order 8, iterated until converged: more evaluations, far smaller error);
* ``numdifftools``: ``numdifftools.Gradient`` with its defaults (central differences at a
  series of steps with Richardson extrapolation);
* ``jax fd``: central differences written by hand in JAX, ``x.at[i].add(±h)`` mapped over
  the elements with ``vmap`` (``lax.map`` in batches) under ``jit``.

refnet's loops and the JAX differences are exact central differences with h = 1e-4, as
the book's loop; the other peers compute something else, and their error column shows what
it buys.  Every error is ``max |g - jax.grad| / max |jax.grad|`` over the entries computed.

Times are medians over ``--repeats`` runs of CPU time (the process, all threads) and wall
time, with BLAS and XLA held to one thread; the methods of a case take turns within each
repeat, in a new order each time, so that a change of load on the shared machine hits
them alike.  A run of a quick method is about ``MIN_RUN_S`` of back-to-back calls (as
timeit's autorange), and its time the mean per call.  A method whose full gradient would take more
than ``--limit`` seconds is timed on its first entries only, at the full size (every entry
costs the same evaluations of the same f), and extrapolated per entry: the output marks
such rows ``extrapolated from k entries``.  The JSON goes to
docs/figures/benchmarks/peers.json, which the docs' tables are generated from
(``--retable`` rebuilds them from the measurements in that file, running nothing).
"""
# Size: over 500 lines because one run must hold every function (written four ways: a point,
# a stack, along axis 0 for scipy.differentiate, JAX) and every method side by side; split,
# the parts would only ever be read together.

from __future__ import annotations

import argparse
import os
import sys


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case (median)")
    parser.add_argument(
        "--limit",
        type=float,
        default=20.0,
        help="seconds a full gradient may take before extrapolating",
    )
    parser.add_argument(
        "--sample", type=float, default=3.0, help="seconds aimed at for a sampled measurement"
    )
    parser.add_argument(
        "--quick", action="store_true", help="n <= 10,000, 2 repeats, short samples"
    )
    parser.add_argument("--skip-networks", action="store_true")
    parser.add_argument("--json", default="docs/figures/benchmarks/peers.json")
    parser.add_argument("--no-json", action="store_true", help="print only")
    parser.add_argument(
        "--retable", action="store_true", help="only rebuild the tables of --json from its data"
    )
    parser.add_argument(
        "--overhead", action="store_true", help="only measure the loops' overhead into --json"
    )
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.limit, args.sample = 2, 4.0, 0.7
    return args


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:
    # Before NumPy and JAX are imported: both read these once.
    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ[name] = "1"
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
    )

import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import numpy as np  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures"))

import book_chapter4 as book  # noqa: E402

import refnet  # noqa: E402
from refnet.engine.stacked import Task, block_rows, run  # noqa: E402
from refnet.engine.stencil import CENTRAL, points  # noqa: E402

H = 1e-4
SIZES = (100, 1_000, 10_000, 100_000)
QUICK_SIZES = (100, 1_000, 10_000)


def _missing(name, extra="bench"):
    print(f"  ({name} is not installed: pip install -e '.[{extra}]'; its rows are skipped)")


try:
    import scipy.differentiate
    import scipy.optimize
except ImportError:  # pragma: no cover - depends on the environment
    scipy = None
try:
    import numdifftools
except ImportError:  # pragma: no cover
    numdifftools = None
try:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
except ImportError:  # pragma: no cover
    jax = None


# -- the functions, each written four ways ------------------------------------------------------


@dataclass
class Case:
    """One function at one point: f of a point, of a stack (rows), along axis 0, and in JAX."""

    key: str
    label: str
    x: np.ndarray
    point: object
    rows: object
    axis0: object
    jax_f: object
    net: tuple | None = None  # (sizes, inputs, labels) for the network cases
    results: dict = field(default_factory=dict)


def _lse(v, axis, xp=np):
    top = xp.max(v, axis=axis, keepdims=True)
    return xp.squeeze(xp.log(xp.sum(xp.exp(v - top), axis=axis, keepdims=True)) + top, axis)


ELEMENTWISE = {
    "sum_squares": (
        "sum(x**2)",
        lambda v: np.sum(v**2),
        lambda s: np.sum(s**2, axis=1),
        lambda v: np.sum(v**2, axis=0),
        lambda v: jnp.sum(v**2),
    ),
    "sin_cos": (
        "sum(sin 3x + cos x)",
        lambda v: np.sum(np.sin(3 * v) + np.cos(v)),
        lambda s: np.sum(np.sin(3 * s) + np.cos(s), axis=1),
        lambda v: np.sum(np.sin(3 * v) + np.cos(v), axis=0),
        lambda v: jnp.sum(jnp.sin(3 * v) + jnp.cos(v)),
    ),
    "log_sum_exp": (
        "log-sum-exp",
        lambda v: float(_lse(v, 0)),
        lambda s: _lse(s, 1),
        lambda v: _lse(v, 0),
        lambda v: _lse(v, 0, jnp),
    ),
}


def elementwise_cases(sizes, rng):
    cases = []
    for key, (label, point, rows, axis0, jax_f) in ELEMENTWISE.items():
        for n in sizes:
            x = rng.uniform(-2, 2, n)
            cases.append(Case(f"{key}_{n}", f"{label}, n = {n:,}", x, point, rows, axis0, jax_f))
    return cases


def _unflatten(theta, sizes, xp=np):
    """W1, b1, W2, b2 as views of theta (leading stack dimensions kept)."""
    d, hidden, k = sizes
    lead = theta.shape[:-1]
    cuts = np.cumsum([d * hidden, hidden, hidden * k])
    w1 = theta[..., : cuts[0]].reshape(*lead, d, hidden)
    b1 = theta[..., cuts[0] : cuts[1]].reshape(*lead, 1, hidden)
    w2 = theta[..., cuts[1] : cuts[2]].reshape(*lead, hidden, k)
    b2 = theta[..., cuts[2] :].reshape(*lead, 1, k)
    return w1, b1, w2, b2


def _net_loss(theta, sizes, inputs, labels, xp=np):
    """The book's loss, cross-entropy (delta 1e-7) of softmax(sigmoid(x W1 + b1) W2 + b2),
    for theta of shape (P,) or a stack (k, P)."""
    w1, b1, w2, b2 = _unflatten(theta, sizes, xp)
    z = 1.0 / (1.0 + xp.exp(-(inputs @ w1 + b1)))
    s = z @ w2 + b2
    s = s - xp.max(s, axis=-1, keepdims=True)
    y = xp.exp(s) / xp.sum(xp.exp(s), axis=-1, keepdims=True)
    index = labels.reshape((1,) * (y.ndim - 2) + (-1, 1))
    picked = xp.take_along_axis(y, index, axis=-1)[..., 0]
    return -xp.sum(xp.log(picked + 1e-7), axis=-1) / inputs.shape[0]


def network_cases(rng):
    cases = []
    try:
        from refnet.datasets import load_digits

        (x_train, t_train), _ = load_digits()
        pick = rng.choice(x_train.shape[0], 100, replace=False)
        digits = (x_train[pick], t_train[pick], "scikit-learn's digits")
    except ImportError:
        inputs = rng.uniform(0, 1, (100, 64))
        digits = (inputs, rng.integers(0, 10, 100), "synthetic digits-shaped inputs")
    dense = rng.uniform(0, 1, (100, 784))
    sparse = np.where(rng.uniform(size=(100, 784)) < 0.81, 0.0, dense)
    labels = rng.integers(0, 10, 100)
    specs = [
        ("net_digits", f"TwoLayerNet 64-50-10, batch 100 ({digits[2]})", (64, 50, 10), *digits[:2]),
        (
            "net_mnist_dense",
            "TwoLayerNet 784-50-10, batch 100, dense x",
            (784, 50, 10),
            dense,
            labels,
        ),
        (
            "net_mnist_sparse",
            "TwoLayerNet 784-50-10, batch 100, 81% of x zero",
            (784, 50, 10),
            sparse,
            labels,
        ),
    ]
    for key, label, sizes, inputs, t in specs:
        net = refnet.TwoLayerNet(*sizes, rng=0)
        theta = np.concatenate([net.params[k].reshape(-1) for k in ("W1", "b1", "W2", "b2")])
        t = np.asarray(t)
        jt = None if jax is None else (jnp.asarray(inputs), jnp.asarray(t))

        def point(v, s=sizes, i=inputs, t=t):
            return float(_net_loss(v, s, i, t))

        def rows(stack, s=sizes, i=inputs, t=t):
            return _net_loss(stack, s, i, t)

        def axis0(v, point=point):
            cols = v.reshape(v.shape[0], -1)
            out = np.array([point(np.ascontiguousarray(cols[:, j])) for j in range(cols.shape[1])])
            return out.reshape(v.shape[1:])

        def jax_f(v, s=sizes, jt=jt):
            return _net_loss(v, s, jt[0], jt[1], jnp)

        cases.append(Case(key, label, theta, point, rows, axis0, jax_f, net=(sizes, inputs, t)))
    return cases


# -- the methods: each computes entries [0, m) of the gradient, at the full size -------------------


def book_loop(case, m):
    x = case.x.copy()
    # The book's loop perturbs x[:m] in place (a view); f reads the whole x, as the book's
    # `lambda W: net.loss(x, t)` reads the network's weights.
    return book._numerical_gradient_no_batch_(lambda _: case.point(x), x[:m])


def refnet_loop(case, m):
    x = case.x.copy()
    return refnet.numerical_gradient(lambda _: case.point(x), x[:m])


def refnet_vectorized(case, m):
    if m == case.x.size:
        return refnet.numerical_gradient(case.rows, case.x, vectorized=True)
    # A part of the gradient: the engine numerical_gradient uses, on the first m elements,
    # with the blocks it would use for the whole x.
    x = case.x
    steps = CENTRAL.steps(x, H)
    moved = points(x, steps, CENTRAL.offsets)
    grid = np.stack([moved[o] for o in CENTRAL.offsets], axis=1)
    rows = block_rows(x.size, x.itemsize, 2)
    _, values, _ = run(Task(x, x.shape, CENTRAL.offsets, 0, m, grid[:m], rows), case.rows)
    return CENTRAL.combine({1.0: values[:, 0], -1.0: values[:, 1]}, steps[:m])


def refnet_fast(case, m):
    sizes, inputs, labels = case.net
    net = refnet.TwoLayerNet(*sizes, rng=0)
    w1, b1, w2, b2 = _unflatten(case.x, sizes)
    for name, value in zip(("W1", "b1", "W2", "b2"), (w1, b1, w2, b2), strict=True):
        net.params[name][...] = value.reshape(net.params[name].shape)
    grads = net.numerical_gradient(inputs, labels)
    return np.concatenate([grads[k].reshape(-1) for k in ("W1", "b1", "W2", "b2")])[:m]


def _embedded(case, m):
    """f of the first m entries, the rest of x held fixed (how a peer differentiates a part)."""
    rest = case.x[m:]
    return lambda v: case.point(np.concatenate([v, rest]))


def scipy_fprime(case, m):
    f = case.point if m == case.x.size else _embedded(case, m)
    return scipy.optimize.approx_fprime(case.x[:m].copy(), f)


def scipy_jacobian(case, m):
    rest = case.x[m:]

    def f(v):  # v has shape (m, *batch): scipy evaluates many points at once
        full = np.empty((case.x.size, *v.shape[1:]))
        full[:m] = v
        full[m:] = rest.reshape(-1, *([1] * (v.ndim - 1)))
        return case.axis0(full)

    return scipy.differentiate.jacobian(f, case.x[:m].copy()).df


def numdifftools_gradient(case, m):
    f = case.point if m == case.x.size else _embedded(case, m)
    return numdifftools.Gradient(f)(case.x[:m].copy())


_JAX_FD = {}


def jax_fd(case, m):
    n = case.x.size
    key = (case.key, m)
    if key not in _JAX_FD:
        f = case.jax_f
        batch = max(1, min(m, 2**19 // (8 * n)))  # about 4 MiB of points a batch, as refnet's

        def one(x, i):
            return (f(x.at[i].add(H)) - f(x.at[i].add(-H))) / (2 * H)

        def fd(x):
            return jax.lax.map(lambda i: one(x, i), jnp.arange(m), batch_size=batch)

        _JAX_FD[key] = jax.jit(fd)
    return np.asarray(_JAX_FD[key](jnp.asarray(case.x)).block_until_ready())


def methods_for(case):
    """key -> method; the keys are those of the JSON, LABELS the names the output shows."""
    out = {
        "book_loop": book_loop,
        "refnet_loop": refnet_loop,
        "refnet_vectorized": refnet_vectorized,
    }
    if case.net is not None:
        out["refnet_fast"] = refnet_fast
    if scipy is not None:
        out["scipy_approx_fprime"] = scipy_fprime
        out["scipy_jacobian"] = scipy_jacobian
    if numdifftools is not None:
        out["numdifftools"] = numdifftools_gradient
    if jax is not None:
        out["jax_fd"] = jax_fd
    return out


LABELS = {
    "book_loop": "book loop",
    "refnet_loop": "refnet loop",
    "refnet_vectorized": "refnet vectorized",
    "refnet_fast": "refnet fast",
    "scipy_approx_fprime": "scipy approx_fprime",
    "scipy_jacobian": "scipy jacobian",
    "numdifftools": "numdifftools",
    "jax_fd": "jax fd",
}


#: Seconds of back-to-back calls a timed run of a quick method lasts (at most 1000 calls).
MIN_RUN_S = 0.1

#: Entries a first probe computes, by method: enough that per-call costs are shared.
PROBE = {"refnet_vectorized": 64, "jax_fd": 64, "refnet_fast": None}


# -- timing ---------------------------------------------------------------------------------------


def plan(case, name, method, args):
    """How many entries to time: all, or a sample when the whole would pass --limit."""
    n = case.x.size
    probe = PROBE.get(name, 4)
    probe = n if probe is None else min(n, probe)
    if name == "jax_fd":
        method(case, probe)  # compile outside the timing
    start = time.perf_counter()
    method(case, probe)
    per_entry = (time.perf_counter() - start) / probe
    entries = n
    if per_entry * n > args.limit:
        entries = int(min(n, max(probe, args.sample / per_entry)))
    if name == "scipy_jacobian":  # it stacks (n, entries, 8) arrays: keep them < 256 MB
        entries = max(1, min(entries, 2**28 // (64 * n)))
    if name == "jax_fd" and entries != probe:
        method(case, entries)  # compile for this size outside the timing
    # Calls a timed run makes, as timeit's autorange does: a gradient of a millisecond is
    # timed over about MIN_RUN_S of back-to-back calls, so that the clock's resolution and
    # one cold start (caches emptied by the method before it) do not decide its time.
    calls = max(1, min(1000, round(MIN_RUN_S / max(per_entry * entries, 1e-9))))
    return entries, calls


def run_case(case, args):
    reference = np.asarray(jax.grad(case.jax_f)(jnp.asarray(case.x))) if jax else None
    if reference is None:
        # Without JAX, the error is measured against refnet's loop (said in the output).
        reference = refnet_loop(case, case.x.size)
    methods = methods_for(case)
    planned = {name: plan(case, name, method, args) for name, method in methods.items()}
    entries = {name: planned[name][0] for name in methods}
    calls = {name: planned[name][1] for name in methods}
    cpu = {name: [] for name in methods}
    wall = {name: [] for name in methods}
    grads = {}
    order = np.random.default_rng(len(case.key))
    for _ in range(args.repeats):
        # Interleaved, in a new order each repeat: a change of load hits every method alike.
        for name in order.permutation(list(methods)):
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(calls[name]):
                grads[name] = methods[name](case, entries[name])
            wall[name].append((time.perf_counter() - start) / calls[name])
            cpu[name].append((time.process_time() - start_cpu) / calls[name])
    n = case.x.size
    for name in methods:
        scale = n / entries[name]
        ref = reference[: entries[name]]
        error = np.max(np.abs(np.asarray(grads[name]) - ref)) / np.max(np.abs(reference))
        case.results[name] = result = {
            "cpu_s": statistics.median(cpu[name]) * scale,
            "wall_s": statistics.median(wall[name]) * scale,
            "max_rel_error": float(error),
            "entries_timed": entries[name],
            "extrapolated": entries[name] < n,
            "repeats": args.repeats,
            "calls_per_repeat": calls[name],
        }
        note = f"extrapolated from {entries[name]} entries" if result["extrapolated"] else ""
        print(
            f"{case.label:<52} {LABELS[name]:<20} {_t(result['cpu_s']):>9} {_t(result['wall_s']):>9} "
            f"{result['max_rel_error']:9.1e}  {note}",
            flush=True,
        )
    book_cpu = case.results["book_loop"]["cpu_s"]
    for result in case.results.values():
        result["vs_book_cpu"] = book_cpu / result["cpu_s"]


def _t(seconds):
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def summary(cases):
    """Where refnet's best exact central difference stands against the fastest peer."""
    out = {}
    for case in cases:
        ours = {k: v for k, v in case.results.items() if k.startswith("refnet")}
        peers = {k: v for k, v in case.results.items() if not k.startswith(("refnet", "book"))}
        best = min(ours, key=lambda k: ours[k]["cpu_s"])
        entry = {"refnet_best": best, "refnet_best_cpu_s": ours[best]["cpu_s"]}
        if peers:
            fastest = min(peers, key=lambda k: peers[k]["cpu_s"])
            entry.update(
                fastest_peer=fastest,
                fastest_peer_cpu_s=peers[fastest]["cpu_s"],
                refnet_vs_fastest_peer=peers[fastest]["cpu_s"] / ours[best]["cpu_s"],
            )
        out[case.key] = entry
    return out


def main(args):
    rng = np.random.default_rng(0)
    load = os.getloadavg()[0]
    print(
        f"numpy {np.__version__}, BLAS and XLA threads 1, load average {load:.1f}, "
        f"repeats {args.repeats} (median), full gradients up to {args.limit:g} s"
    )
    if scipy is None:
        _missing("scipy")
    if numdifftools is None:
        _missing("numdifftools")
    if jax is None:
        _missing("jax")
        print("  (errors are then measured against refnet's loop, not jax.grad)")
    overhead = loop_overhead(args.repeats)
    print(f"\n{'case':<52} {'method':<20} {'CPU':>9} {'wall':>9} {'max error':>9}")
    cases = elementwise_cases(QUICK_SIZES if args.quick else SIZES, rng)
    if not args.skip_networks:
        cases += network_cases(rng)
    for case in cases:
        run_case(case, args)
    print("\nmax error: max |g - jax.grad| / max |jax.grad| over the entries computed")
    where = summary(cases)
    for key, entry in where.items():
        if "fastest_peer" in entry:
            print(
                f"{key:<20} refnet's best ({LABELS[entry['refnet_best']]}) is "
                f"{entry['refnet_vs_fastest_peer']:.2f}x as fast as the fastest peer "
                f"({LABELS[entry['fastest_peer']]})"
            )
    if not args.no_json:
        write_json(args, cases, where, load, overhead)


def loop_overhead(repeats, n=1_000, rounds=15):
    """CPU seconds per evaluation that the book's loop and refnet's add to f itself.

    f returns a constant and ignores x, so what is timed is the loop alone: setting and
    restoring the element, calling f, checking and storing the value.  The two loops take
    turns, ``rounds`` times each repeat, and the median is kept.
    """

    def nothing(_):
        return 0.0

    x = np.linspace(-1.0, 1.0, n)
    runs = {
        "book_loop": lambda: book._numerical_gradient_no_batch_(nothing, x),
        "refnet_loop": lambda: refnet.numerical_gradient(nothing, x),
    }
    times = {name: [] for name in runs}
    for _ in range(max(repeats, 1) * rounds):
        for name, fn in runs.items():
            start = time.process_time()
            fn()
            times[name].append((time.process_time() - start) / (2 * n))
    out = {f"{name}_per_evaluation_s": statistics.median(t) for name, t in times.items()}
    out["n"] = n
    print(
        f"loop overhead per evaluation of f (f returns a constant, n = {n:,}): book "
        f"{out['book_loop_per_evaluation_s'] * 1e6:.2f} µs, refnet "
        f"{out['refnet_loop_per_evaluation_s'] * 1e6:.2f} µs"
    )
    return out


def write_json(args, cases, where, load, overhead):
    versions = {"numpy": np.__version__}
    for name, module in (("scipy", scipy), ("numdifftools", numdifftools), ("jax", jax)):
        if module is not None:
            versions[name] = module.__version__
    data = {
        "script": "python benchmarks/peers.py" + (" --quick" if args.quick else ""),
        "measured": datetime.date.today().isoformat(),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs, load "
            f"average {load:.1f} at the start; BLAS and XLA threads 1"
        ),
        "versions": versions,
        "settings": {"repeats": args.repeats, "limit_s": args.limit, "sample_s": args.sample},
        "cases": {
            case.key: {"label": case.label, "n": int(case.x.size), "methods": case.results}
            for case in cases
        },
        "summary": where,
        "loop_overhead": overhead,
    }
    data["tables"] = tables(data)
    with open(args.json, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=1)
        out.write("\n")
    print(f"wrote {args.json}")


METHOD_ORDER = tuple(LABELS)
#: The book's loop and refnet's paths; every other method is a peer.
OURS = ("book_loop", "refnet_loop", "refnet_vectorized", "refnet_fast")


def tables(data):
    """The docs' tables (mkdocs_hooks.py renders them): time, speed against the book's loop,
    error; a cell marked * was extrapolated per entry from a sample."""
    cases = data["cases"]
    present = [m for m in METHOD_ORDER if any(m in c["methods"] for c in cases.values())]

    def grid(key, fmt, mark, methods):
        rows = []
        for case in cases.values():
            row = [case["label"]]
            for method in methods:
                result = case["methods"].get(method)
                if result is None:
                    row.append(None)
                elif mark and result["extrapolated"]:
                    row.append({"value": result[key], "note": "*"})
                else:
                    row.append(result[key])
            rows.append(row)
        return {
            "columns": ["case", *(LABELS[m] for m in methods)],
            "formats": [None, *[fmt] * len(methods)],
            "rows": rows,
        }

    # Two narrow tables per measure (the book and refnet; the peers): one of nine columns
    # is wider than the docs' page.
    ours = [m for m in present if m in OURS]
    theirs = [m for m in present if m not in OURS]

    def grids(key, fmt, mark):
        return {
            "refnet": grid(key, fmt, mark, ours),
            "peers": grid(key, fmt, mark, theirs),
        }

    summary_rows = []
    for key, entry in data["summary"].items():
        # The one peer computing the same exact central difference: JAX's.
        jax_cpu = cases[key]["methods"].get("jax_fd", {}).get("cpu_s")
        summary_rows.append(
            [
                cases[key]["label"],
                LABELS[entry["refnet_best"]].removeprefix("refnet "),
                LABELS.get(entry.get("fastest_peer"), "").removeprefix("scipy "),
                entry.get("refnet_vs_fastest_peer"),
                None if jax_cpu is None else jax_cpu / entry["refnet_best_cpu_s"],
            ]
        )
    return {
        "cpu": grids("cpu_s", "time", True),
        "wall": grids("wall_s", "time", True),
        "vs_book": grids("vs_book_cpu", "ratio", True),
        "error": grids("max_rel_error", ".1e", False),
        "summary": {
            "columns": [
                "case",
                "refnet's best",
                "fastest peer",
                "speed-up",
                "vs jax fd",
            ],
            "formats": [None, None, None, "ratio", "ratio"],
            "rows": summary_rows,
        },
    }


def update_overhead(args):
    """Measure only the loops' overhead and store it in --json (the rest is kept)."""
    with open(args.json, encoding="utf-8") as source:
        data = json.load(source)
    data["loop_overhead"] = loop_overhead(args.repeats)
    data["loop_overhead"]["measured"] = datetime.date.today().isoformat()
    data["loop_overhead"]["load_average"] = round(os.getloadavg()[0], 1)
    with open(args.json, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=1)
        out.write("\n")
    print(f"stored the loop overhead in {args.json}")


def retable(path):
    """Regenerate the tables of an existing JSON from its measurements (nothing re-run)."""
    with open(path, encoding="utf-8") as source:
        data = json.load(source)
    data["tables"] = tables(data)
    with open(path, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=1)
        out.write("\n")
    print(f"rewrote the tables of {path}")


if __name__ == "__main__":
    if ARGS.retable:
        retable(ARGS.json)
    elif ARGS.overhead:
        update_overhead(ARGS)
    else:
        main(ARGS)
