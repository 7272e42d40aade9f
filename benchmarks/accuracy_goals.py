"""The issue's accuracy goals on the suite's corpus, measured against jax.grad.

Run from the repository root: ``python -m benchmarks.accuracy_goals``.  For every smooth
function of refnet/conformance/functions.py and shapes of rank 0 to 4, x drawn uniformly from the
function's range (seeded), it prints the largest error of each scheme, as
max_i |numeric_i - exact_i| / max(|exact_i|, 1) (relative where an element is >= 1,
absolute below), and normwise, max|numeric - exact| / max|exact|.
"""

from __future__ import annotations

import numpy as np

import refnet
from refnet.conformance import oracle
from refnet.conformance.functions import SMOOTH_FUNCTIONS

CASES = [
    ("central", 1e-4),
    ("central", "auto"),
    ("forward", "auto"),
    ("five_point", "auto"),
    ("richardson", "auto"),
    ("complex_step", "auto"),
]


def main() -> None:
    rng = np.random.default_rng(0)
    worst = {case: [0.0, 0.0] for case in CASES}
    for name, fn in SMOOTH_FUNCTIONS.items():
        for shape in [(), (3,), (2, 3), (3, 3, 3), (3, 3, 3, 3)]:
            for _ in range(4):
                x = rng.uniform(fn.low, fn.high, shape)
                exact = oracle.smooth_gradient(name, x)
                for scheme, h in CASES:
                    numeric = refnet.numerical_gradient(fn.numpy, x.copy(), h, scheme=scheme)
                    error = np.abs(numeric - exact)
                    element = float(np.max(error / np.maximum(np.abs(exact), 1.0)))
                    normwise = float(np.max(error) / np.max(np.abs(exact)))
                    w = worst[(scheme, h)]
                    w[0], w[1] = max(w[0], element), max(w[1], normwise)
    print(f"{'scheme':<14}{'h':>8}{'elementwise':>14}{'normwise':>12}")
    for (scheme, h), (element, normwise) in worst.items():
        print(f"{scheme:<14}{h!s:>8}{element:>14.2e}{normwise:>12.2e}")


if __name__ == "__main__":
    main()
