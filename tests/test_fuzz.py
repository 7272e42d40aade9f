"""Fuzzing the public API: random shapes, dtypes and non-finite values.

Every call must end in one of three ways: a correct answer (checked against an
independent float64 computation, within the error model of the result's dtype), a
documented error (TypeError or ValueError whose message names one of the function's
arguments), or a correct answer with a documented warning (PrecisionWarning, or
TargetWarning for cross-entropy targets whose rows do not sum to 1).  Any other
exception or warning fails, and so does any change to an array passed in.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import refnet
from refnet.conformance.tolerances import central_difference_bound, same_formula_bound

DTYPES = [np.float64, np.float32, np.float16, np.int64, np.int8, np.uint8, np.bool_, np.complex128]
EPS = {np.dtype(d): float(np.finfo(d).eps) for d in (np.float64, np.float32, np.float16)}


@st.composite
def anything_arrays(draw, min_dims=0, max_dims=3):
    """Arrays of any of DTYPES, sides 0 to 3, floats including NaN, ±inf and huge values."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES), label="dtype"))
    shape = draw(
        hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=3),
        label="shape",
    )
    if dtype.kind == "f":
        elements = st.floats(width=dtype.itemsize * 8)  # NaN, ±inf, subnormals, extremes
    elif dtype.kind == "c":
        elements = st.complex_numbers(max_magnitude=10, allow_nan=False)
    else:
        elements = None
    return draw(hnp.arrays(dtype, shape, elements=elements), label="array")


def outcome(call, argument_names, errors=(TypeError, ValueError)):
    """Run ``call``; return ('ok', value, warned) or ('error', exc), after checking the rules."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = call()
        except errors as exc:
            pattern = r"\b(" + "|".join(argument_names) + r")\b"
            assert re.search(pattern, str(exc)), f"error does not name an argument: {exc!r}"
            return "error", exc
    names = {type(w.message).__name__ for w in caught}
    assert names <= {"PrecisionWarning", "TargetWarning"}, (
        f"undocumented warnings: {[str(w.message) for w in caught]}"
    )
    return "ok", value, bool(caught), names


def unchanged(before: np.ndarray, after: np.ndarray):
    assert before.dtype == after.dtype and before.tobytes() == after.tobytes(), (
        "an input array was changed"
    )


@settings(max_examples=150)
@given(x=anything_arrays())
def test_softmax_fuzz(x):
    before = x.copy()
    result = outcome(lambda: refnet.softmax(x), ["x"])
    unchanged(before, x)
    if result[0] == "error":
        return
    out = result[1]
    assert out.shape == x.shape
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=-1, keepdims=True))
    expected = e / e.sum(axis=-1, keepdims=True)
    eps = EPS.get(out.dtype, EPS[np.dtype(np.float64)])
    # exp of rounded shifted inputs (argument error eps |x - max|), a sum of <= 3 terms, a divide.
    # A -inf logit has probability exactly 0: no argument error there (inf * 0 is no bound).
    shifted = np.abs(x64 - x64.max(axis=-1, keepdims=True))
    argument = eps * np.where(np.isinf(x64), 0.0, shifted)
    bound = (same_formula_bound(x.shape[-1], 1.0, out.dtype) + argument) * expected
    assert np.all(np.abs(out - expected) <= bound + np.finfo(out.dtype).tiny)


@settings(max_examples=150)
@given(x=anything_arrays())
def test_sigmoid_fuzz(x):
    before = x.copy()
    result = outcome(lambda: refnet.sigmoid(x), ["x"])
    unchanged(before, x)
    if result[0] == "error":
        return
    out = result[1]
    x64 = x.astype(np.float64)
    with np.errstate(over="ignore"):
        expected = 1 / (1 + np.exp(-x64))
    eps = EPS.get(out.dtype, EPS[np.dtype(np.float64)])
    # 1/(1 + e^-x): argument rounding eps|x| scaled by σ' <= σ, plus 3 rounded operations;
    # at x = ±inf the limits 0 and 1 are exact (inf * 0 is no bound).
    bound = (4 * eps + eps * np.where(np.isinf(x64), 0.0, np.abs(x64))) * expected
    assert np.all(np.abs(out - expected) <= bound + np.finfo(out.dtype).tiny)


@st.composite
def cross_entropy_arguments(draw):
    """``(y, t)``: half the time any two arrays (nearly all of them refused), half the time
    arguments the loss accepts, so that the value check runs on a good share of examples:
    probabilities y of shape (K,) or (N, K) in float64, float32 or float16 (zeros and ones
    included), with labels, one-hot rows or non-negative target rows (rows that do not sum
    to 1 get a TargetWarning; an all-zero row is refused)."""
    if not draw(st.booleans(), label="accepted form"):
        return draw(anything_arrays(0, 3), label="y"), draw(anything_arrays(0, 2), label="t")
    dtype = np.dtype(draw(st.sampled_from([np.float64, np.float32, np.float16]), label="dtype"))
    k = draw(st.integers(1, 4), label="classes")
    shape = (draw(st.integers(1, 3), label="batch"), k) if draw(st.booleans()) else (k,)
    probabilities = st.floats(0.0, 1.0, width=dtype.itemsize * 8)
    y = draw(hnp.arrays(dtype, shape, elements=probabilities), label="y")
    labels = draw(hnp.arrays(np.int64, shape[:-1], elements=st.integers(0, k - 1)), label="t")
    form = draw(st.sampled_from(["labels", "one-hot", "rows"]), label="target form")
    if form == "labels":
        return y, labels
    if form == "one-hot":
        return y, np.eye(k)[labels]
    return y, draw(hnp.arrays(np.float64, shape, elements=st.floats(0.0, 2.0)), label="t")


@settings(max_examples=150)
@given(arguments=cross_entropy_arguments())
def test_cross_entropy_fuzz(arguments):
    y, t = arguments
    y_before, t_before = y.copy(), t.copy()
    result = outcome(lambda: refnet.cross_entropy_error(y, t), ["y", "t"])
    unchanged(y_before, y)
    unchanged(t_before, t)
    # Counted by `pytest --hypothesis-show-statistics`: the share that reaches the value check.
    event("refused" if result[0] == "error" else "value checked")
    if result[0] == "error":
        return
    # Accepted only for real y in [0, 1] of shape (K,) or (N, K) with a matching target.
    value = float(result[1])
    y64 = np.atleast_2d(y.astype(np.float64))
    assert y.ndim in (1, 2) and y.size and np.all((y64 >= 0) & (y64 <= 1))
    if t.shape == y.shape:
        # Non-negative rows with some weight; rows not summing to 1 are computed as
        # written, -Σ t log(y + δ), with a TargetWarning (the book's dummy targets).
        t64 = np.atleast_2d(t.astype(np.float64))
        assert np.all(t64 >= 0) and np.all(t64.sum(axis=1) > 0)
        off = bool(np.any(np.abs(t64.sum(axis=1) - 1) > 1e-6))
        assert ("TargetWarning" in result[3]) == off
    else:
        assert t.dtype.kind in "iu" and t.shape == y.shape[:-1]
        t64 = np.eye(y.shape[-1])[np.atleast_1d(t)]
        assert "TargetWarning" not in result[3]
    with np.errstate(over="ignore"):
        terms = -np.sum(np.where(t64 > 0, t64 * np.log(y64 + 1e-7), 0.0), axis=1)
        expected = float(np.mean(terms))
    if not np.isfinite(expected):  # huge targets: the true loss is beyond float64
        assert value == expected
        return
    eps = EPS.get(np.result_type(y.dtype, np.float16), EPS[np.dtype(np.float64)])
    # log of y + delta rounded in y's dtype: relative error eps (y + delta) / (y + delta)
    # in the argument moves log by <= eps; plus the same-formula bound of the mean.
    bound = float(same_formula_bound(y64.size, np.mean(np.abs(terms)) + 1.0)) + 4 * eps * (
        1 + np.mean(np.abs(terms))
    )
    # delta = 1e-7 itself stored in y's dtype: subnormal in float16 (1.19e-7, 19% off), so
    # at y near 0 the argument of log is off by r = |fl(delta) - delta| / (y + delta) as well
    # (log(1 + r) <= r; doubled for the rounding of y + fl(delta) around it).
    stored = float(np.asarray(1e-7, dtype=y.dtype if y.dtype.kind == "f" else np.float64))
    moved = np.where(t64 > 0, t64 * abs(stored - 1e-7) / (y64 + min(stored, 1e-7)), 0.0)
    bound += 2 * float(np.mean(moved.sum(axis=1)))
    assert abs(value - expected) <= bound


def square_sum(v):
    with np.errstate(all="ignore"):  # overflow is f's business: refnet sees inf and says so
        return np.sum(np.asarray(v, dtype=np.float64) ** 2)


@settings(max_examples=200)
@given(x=anything_arrays(min_dims=0, max_dims=3))
def test_numerical_gradient_fuzz(x):
    before = x.copy()
    result = outcome(lambda: refnet.numerical_gradient(square_sum, x), ["x", "h", "f"])
    if x.flags.writeable:
        unchanged(before, x)
    if result[0] == "error":
        return
    grad, warned = result[1], result[2]
    assert isinstance(grad, np.ndarray) and grad.shape == x.shape and grad.dtype == x.dtype
    assert x.dtype.kind == "f" and np.all(np.isfinite(x)), "accepted an input it should refuse"
    assert warned == (x.dtype != np.float64), "float16/float32 must warn; float64 must not"
    x64 = x.astype(np.float64)
    # f computes in float64 from the stored (x ± h) of x's dtype: the model's placement term
    # uses x's epsilon; the round-off of f itself is float64's.
    eps_x = np.finfo(x.dtype).eps
    h = 1e-4
    # The slope that turns a misplaced point into an error of f is f' at x ± h, so
    # |f'| <= 2(|x| + h) across the stencil (not 2|x|: at x = 1e-12 that would be 0).
    slope = 2 * (np.abs(x64) + h)
    bound = central_difference_bound(h, 0.0, np.sum((np.abs(x64) + h) ** 2), slope, x64)
    bound = bound + eps_x * slope * (np.abs(x64) + h) / h + 2 * eps_x * np.abs(x64)
    assert np.all(np.abs(grad.astype(np.float64) - 2 * x64) <= bound)


@settings(max_examples=100)
@given(x=anything_arrays(min_dims=1, max_dims=2), lr=st.floats(allow_nan=True, allow_infinity=True))
def test_gradient_descent_fuzz(x, lr):
    before = x.copy()
    # FloatingPointError is gradient_descent's documented answer to an iterate leaving
    # the finite numbers (its message names lr).
    result = outcome(
        lambda: refnet.gradient_descent(square_sum, x, lr=lr, step_num=3),
        ["init_x", "lr", "f", "x", "h", "step_num"],
        errors=(TypeError, ValueError, FloatingPointError),
    )
    unchanged(before, x)
    if result[0] == "error":
        return
    out = result[1]
    assert 0 < lr < np.inf and x.dtype.kind in "fiub" and np.all(np.isfinite(x.astype(np.float64)))
    growth = max(1.0, abs(1 - 2 * lr))
    if growth > 1e30:
        # The model's bound overflows; an iterate that stayed finite must have started at 0.
        assert np.all(out == 0) and np.all(x == 0)
        return
    expected = x.astype(np.float64) * (1 - 2 * lr) ** 3
    # Three exact steps of x(1 - 2lr), each gradient off by at most the quadratic's
    # round-off bound: |d| <= Σ_k lr |e_k| |1 - 2lr|^(2-k); bound |1 - 2lr| by max(1, |1-2lr|).
    reach = np.max(np.abs(x.astype(np.float64)) * growth**3, initial=0.0) + 1
    per_step = central_difference_bound(1e-4, 0.0, x.size * reach**2, 2 * reach, reach)
    bound = 3 * lr * per_step * growth**2 + 8 * EPS[np.dtype(np.float64)] * reach
    assert np.all(np.abs(out - expected) <= bound)
