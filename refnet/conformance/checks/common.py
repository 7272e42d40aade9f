"""What the check bodies share: the book's constants, the pitfalls' consequences, helpers."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ..functions import SMOOTH_FUNCTIONS
from ..tolerances import EPS
from .case import Case, within_message

#: The book's step and its guard inside the log: the values every target is checked at.
H = 1e-4
DELTA = 1e-7
EPS64 = EPS[np.dtype(np.float64)]
PARAM_NAMES = ("W1", "b1", "W2", "b2")

# The book's silent pitfalls, each stated by its consequence: a warning under the book
# profile, a failure under the strict one.
INTEGER_TRUNCATED = (
    "an integer x gets a wrong gradient without a word: x[i] + h is stored as an integer "
    "(the book's [25000, 35000] for sum(x**2) at [3, 4]); refuse it or work on a float copy"
)
PERTURBED_ON_ERROR = (
    "when f raises, x is left perturbed: the caller's array keeps x[i] + h or x[i] - h "
    "(restore x[i] in a finally block)"
)
FLOAT32_SILENT = (
    "a float32 x is differentiated in float32 without a word: with h = 1e-4 the round-off "
    "is about 1e-3 of |f|, a million times float64's (warn, refuse, or compute in float64)"
)
WHOLE_BATCH_SOFTMAX = (
    "a batch of logits is normalised as one row, over every entry (the book's first softmax, "
    "section 3.5, takes one sample): each row of a batch must sum to 1 on its own "
    "(np.max and np.sum with axis=-1, keepdims=True)"
)
ROW_BY_ROW = (
    "a matrix x is taken as a batch of points, the gradient of f of each row on its own (the "
    "book's gradient_2d.py, which plots a gradient field): for an f of the whole matrix, such "
    "as a network's loss, it is not the gradient (loop over every element, np.nditer)"
)
BATCH_TOTAL = (
    "a batch's loss is the total over its N samples, not their mean (the book's one-sample "
    "cross_entropy_error of section 4.2.2, -np.sum(t * np.log(y + delta)), given a batch): "
    "eq. 4.3 divides by N, so the loss and its gradient grow with the batch size"
)
INIT_X_OVERWRITTEN = (
    "gradient_descent overwrites init_x: the caller's starting point ends where the descent "
    "stopped (x = init_x does not copy; descend on init_x.copy())"
)

#: Notes on which cross-entropy an answer matched (the book profile accepts both).
WITH_DELTA = "matches cross-entropy with delta = 1e-7 inside the log (the book's code)"
WITHOUT_DELTA = "matches cross-entropy without delta, -log(y) (the book's first printing)"


def draw_function(data, function=None):
    """A smooth test function of functions.py: the one named, or one drawn."""
    name = function or data.draw(st.sampled_from(sorted(SMOOTH_FUNCTIONS)), label="f")
    return SMOOTH_FUNCTIONS[name]


def require_unchanged(case: Case, name: str, before: str) -> None:
    """Require ``name`` bit-identical to the copy ``before`` taken ahead of the call."""

    def message():
        was, now = (np.asarray(eval(n, case.ns)).tolist() for n in (before, name))
        return f"{name} was changed by the call: it was {was!r}, it is now {now!r}"

    case.require(f"{name}.tobytes() == {before}.tobytes()", message)


def summed_over_batch(case: Case, actual: str, means, rows: int) -> bool:
    """Whether ``actual`` is the batch form of a one-sample function: ``rows`` times one of
    the accepted ``means`` (``(expected, bound)`` each) and none of them.

    The total of N per-sample terms is N times their mean; the mean's bound (a sum of N
    terms, same_formula_bound, linear in the magnitude) times N bounds the total, and the
    multiplication by N rounds once more, within the bound's slack of 4 ulps per term.
    Decided by the numbers only (nothing is recorded): the caller states the verdict.
    """
    if rows < 2:
        return False  # one sample: the total is the mean
    try:
        value = eval(actual, case.ns)
    except Exception:
        return False

    def near(expected, bound) -> bool:
        return within_message(value, expected, bound, actual) is None

    if any(near(*mean) for mean in means):
        return False
    return any(near(rows * np.asarray(e), rows * np.asarray(b)) for e, b in means)


def without_delta(case: Case, expected, bound):
    """The book profile's second answer for a cross-entropy: the same loss without delta
    (``compare``'s alternatives; none under the strict profile)."""
    if case.profile != "book":
        return ()
    return [(expected, bound, "the same loss without delta, by JAX", WITHOUT_DELTA)]
