"""Benchmark: the default ``refnet train`` configuration, numerical and backprop, side by side.

Runs ``python -m refnet train --quiet --seed S --gradient G`` as a user would (a fresh
process each time, so the times include start-up, data loading and the figure), for each
seed, alternating the gradient methods so that both see the same machine load.  Prints
every run, then the medians of the wall times, their ratio, and the test accuracies.

    python benchmarks/train.py                      # seeds 0-4, both gradients
    python benchmarks/train.py --seeds 0 --gradients numerical
    python benchmarks/train.py --iterations 100     # a short check of the numerical path

Any other option is passed on to ``refnet train`` (e.g. ``--hidden-size 30``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def run_once(seed: int, gradient: str, extra: list[str], folder: Path) -> dict:
    out = folder / f"{gradient}-{seed}"
    command = [sys.executable, "-m", "refnet", "train", "--quiet", "--seed", str(seed)]
    command += ["--gradient", gradient, "--out", str(out), *extra]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"refnet train failed ({done.returncode}):\n{done.stderr}")
    metrics = json.loads((out / "metrics.json").read_text())
    with np.load(out / "params.npz") as data:
        params = {k: data[k] for k in data.files}
    return {"command": elapsed, "metrics": metrics, "params": params}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated (default 0-4)")
    parser.add_argument("--gradients", default="numerical,backprop")
    args, extra = parser.parse_known_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    gradients = args.gradients.split(",")

    results: dict[str, list[dict]] = {g: [] for g in gradients}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            for gradient in gradients:
                result = run_once(seed, gradient, extra, Path(tmp))
                results[gradient].append(result)
                m = result["metrics"]
                config = m["config"]
                method = f" ({config['numerical_method']})" if config["numerical_method"] else ""
                print(
                    f"seed {seed}  {gradient + method:<20} test {m['final']['test_accuracy']:.4f}"
                    f"  train {m['final']['train_accuracy']:.4f}  training {m['wall_time_s']:7.2f} s"
                    f"  command {result['command']:7.2f} s",
                    flush=True,
                )

    config = next(iter(results.values()))[0]["metrics"]["config"]
    print(
        f"\nconfiguration: {config['dataset']}, hidden {config['hidden_size']}, batch "
        f"{config['batch_size']}, lr {config['lr']:g}, {config['iterations']} iterations, "
        f"weight_init_std {config['weight_init_std']:g}, sampling {config['sampling']}"
    )
    medians = {}
    for gradient, runs in results.items():
        accuracy = [r["metrics"]["final"]["test_accuracy"] for r in runs]
        medians[gradient] = statistics.median(r["command"] for r in runs)
        training = statistics.median(r["metrics"]["wall_time_s"] for r in runs)
        print(
            f"{gradient:<10} median command {medians[gradient]:7.2f} s  (training "
            f"{training:.2f} s)  test accuracy mean {statistics.mean(accuracy):.4f} "
            f"min {min(accuracy):.4f} max {max(accuracy):.4f}  (n={len(runs)})"
        )
    if len(medians) == 2:
        a, b = medians
        print(f"ratio of median command times {a}/{b}: {medians[a] / medians[b]:.1f}")
        for seed, ra, rb in zip(seeds, results[a], results[b], strict=True):
            gap = max(
                float(np.max(np.abs(ra["params"][k] - rb["params"][k]))) for k in ra["params"]
            )
            same = (
                ra["metrics"]["final"]["test_accuracy"] == rb["metrics"]["final"]["test_accuracy"]
            )
            print(
                f"seed {seed}: max |params {a} - params {b}| = {gap:.2e}; "
                f"same test accuracy: {same}"
            )


if __name__ == "__main__":
    main()
