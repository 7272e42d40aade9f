"""Check bodies for the functions with a closed form: softmax, sigmoid and the losses.

Each body draws its inputs, runs the target's code through the Case and compares with the
JAX oracle within a bound of tolerances.py.  Under the book profile the book's
conventions are accepted as alternatives (a batch-summed squared error, cross-entropy
without delta), and the report notes which one the target's answer matched.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from .. import oracle
from ..strategies import array_shapes, finite_arrays, labels, one_hot_labels, probability_rows
from ..tolerances import same_formula_bound, sigmoid_bound, softmax_bound
from .case import within_message
from .common import (
    BATCH_TOTAL,
    DELTA,
    WHOLE_BATCH_SOFTMAX,
    WITH_DELTA,
    require_unchanged,
    summed_over_batch,
    without_delta,
)


def softmax_values(case, data, *, min_dims=1, max_dims=1, max_side=5, low=-20.0, high=20.0):
    if min_dims == 2 and not case.forms("softmax", ["batch"], need_one=False):
        return  # a batch is refused: the refusal is the verdict (Case.forms)
    shape = data.draw(array_shapes(min_dims, max_dims, max_side), label="shape")
    a = case.let("a", data.draw(finite_arrays(shape, low, high), label="a"))
    case.call("y", "softmax(a)")
    expected = oracle.softmax(a)
    bound = softmax_bound(a, expected)
    if a.ndim == 2 and _whole_batch(case, a, expected, bound):
        return
    case.compare("y", expected, bound, "softmax(a)", "softmax by JAX")


def _whole_batch(case, a, expected, bound) -> bool:
    """The book's one-sample softmax given a batch normalises over every entry: a pitfall
    (the book's own code gives that number) when that, and not each row, came back."""
    value = case.ns["y"]
    if within_message(value, expected, bound, "y") is None:
        return False
    whole = oracle.softmax(a.reshape(-1)).reshape(a.shape)
    whole_bound = softmax_bound(a.reshape(-1), whole.reshape(-1)).reshape(a.shape)
    if within_message(value, whole, whole_bound, "y") is not None:
        return False
    case.comment("y is the softmax of every entry of a at once, not of each row")
    case.compare(
        "y",
        expected,
        bound,
        "softmax(a)",
        "softmax by JAX, row by row",
        pitfall=WHOLE_BATCH_SOFTMAX,
    )
    return True


def softmax_of_large_logits(case, data):
    classes = data.draw(st.integers(1, 5), label="classes")
    base = data.draw(finite_arrays((classes,), -10.0, 10.0), label="base")
    size = data.draw(st.floats(750.0, 1000.0), label="shift")
    sign = data.draw(st.sampled_from([1.0, -1.0]), label="sign")
    # exp overflows beyond 709.8 and underflows to 0 below -745: unshifted, a row of such
    # logits gives inf / inf or 0 / 0.
    a = case.let("a", base + sign * size)
    case.call("y", "softmax(a)")
    expected = oracle.softmax(a)
    case.compare("y", expected, softmax_bound(a, expected), "softmax(a)", "softmax by JAX")


def softmax_rows_apart(case, data):
    if not case.accepted("softmax", ["batch"]):
        return  # softmax.batch judges the refusal
    batch = data.draw(st.integers(2, 4), label="batch")
    classes = data.draw(st.integers(1, 5), label="classes")
    base = data.draw(finite_arrays((batch, classes), -10.0, 10.0), label="base")
    spread = data.draw(st.floats(750.0, 1000.0), label="spread")
    sign = data.draw(st.sampled_from([1.0, -1.0]), label="sign")
    # Row i is shifted by sign * spread * i / (batch - 1): the first and the last rows lie
    # 750 to 1000 apart.  Shifted by the batch's maximum, the row furthest below it is
    # exp(< -745) = 0 in every entry, and 0 / 0 is NaN; each row's own maximum is exact.
    offsets = sign * spread * np.arange(batch) / (batch - 1)
    a = case.let("a", base + offsets[:, None])
    case.call("y", "softmax(a)")
    expected = oracle.softmax(a)
    if _whole_batch(case, a, expected, softmax_bound(a, expected)):
        return
    case.compare(
        "y",
        expected,
        softmax_bound(a, expected),
        "softmax(a) of rows hundreds apart",
        "softmax by JAX, row by row",
        hint="subtract each row's maximum (np.max(a, axis=-1, keepdims=True)), not the batch's",
    )


def sigmoid_values(case, data, *, max_dims=3):
    shape = data.draw(array_shapes(0, max_dims), label="shape")
    x = case.let("x", data.draw(finite_arrays(shape, -50.0, 50.0), label="x"))
    case.call("y", "sigmoid(x)")
    expected = oracle.sigmoid(x)
    case.compare("y", expected, sigmoid_bound(expected), "sigmoid(x)", "1 / (1 + exp(-x)) by JAX")


def arguments_unchanged(case, data, *, function):
    classes = data.draw(st.integers(2, 5), label="classes")
    if function == "softmax":
        case.let("a", data.draw(finite_arrays((classes,), -20.0, 20.0), label="a"))
        case.setup("a_before = a.copy()")
        case.run("softmax(a)")
        require_unchanged(case, "a", "a_before")
        return
    kinds: tuple[str, ...] = ("batch", "one_sample")
    if function == "cross_entropy_error":
        kinds = ("one_hot", "labels", "one_hot_sample", "label_sample")
    kind = data.draw(st.sampled_from(case.accepted(function, kinds) or ["one_sample"]), label="t")
    batch = None if kind.endswith("sample") else data.draw(st.integers(1, 4), label="batch")
    case.let("y", data.draw(probability_rows(batch, classes), label="y"))
    t = data.draw(labels(batch, classes), label="t")
    case.let("t", t if kind.startswith("label") else one_hot_labels(t, classes))
    case.setup("y_before, t_before = y.copy(), t.copy()")
    case.run(f"{function}(y, t)")
    require_unchanged(case, "y", "y_before")
    require_unchanged(case, "t", "t_before")


def squared_error_value(case, data, *, function, batch=True):
    """½ Σ (y - t)² per sample; a batch's value is the mean or the sum by ``function``
    (under the book profile ``mean_squared_error`` may be either, as the book's sums)."""
    if batch and not case.forms(function, ["batch"], need_one=False):
        return  # a batch is refused: the refusal is the verdict (Case.forms)
    classes = data.draw(st.integers(2, 6), label="classes")
    n = data.draw(st.integers(1, 6), label="batch") if batch else None
    y = case.let("y", data.draw(probability_rows(n, classes), label="y"))
    t = case.let("t", one_hot_labels(data.draw(labels(n, classes), label="t"), classes))
    value = case.call("loss", f"{function}(y, t)")
    squares = float(np.sum((y - t) ** 2))
    rows = 1 if n is None else n
    total = oracle.sum_squared_error(y, t)
    # The sum of N·K terms (y - t)², perhaps divided by N: see same_formula_bound.
    sum_bound = same_formula_bound(rows * classes, squares + 1)
    if function != "mean_squared_error":
        source = "½ Σ (y - t)² over the whole batch, by JAX"
        case.compare("loss", total, sum_bound, f"{function}(y, t)", source)
        return
    expected = oracle.mean_squared_error(y, t)
    bound = same_formula_bound(rows * classes, squares / rows + 1)
    source = "mean over samples of ½ Σ (y - t)², by JAX"
    if case.profile == "book" and rows > 1:
        summed = "½ Σ (y - t)² summed over the batch, by JAX"
        note = "sums over the batch, as the book's 0.5 * np.sum((y - t)**2) does"
        alternatives = [(total, sum_bound, summed, note)]
        matched = case.compare(
            "loss", expected, bound, f"{function}(y, t)", source, alternatives=alternatives
        )
        if matched == 0:
            case.note("takes the mean over the batch (eq. 4.3's convention)")
        return
    hint = None
    if rows > 1 and np.ndim(value) == 0 and abs(float(value) - total) <= sum_bound:
        hint = (
            "it is the sum over the samples, the book's convention: --profile book accepts "
            "it, or check it as sum_squared_error (--map sum_squared_error=mean_squared_error)"
        )
    case.compare("loss", expected, bound, f"{function}(y, t)", source, hint=hint)


def cross_entropy_value(case, data, *, batch=True, max_batch=6, targets=None):
    """``targets`` ("one_hot" or "labels") fixes the form; by default it is drawn from
    those the target accepts (the book has a one-hot and a label version: one is needed)."""
    if targets is None:
        judged, also = (
            (["one_hot"], ["labels"]) if batch else (["one_hot_sample"], ["label_sample"])
        )
        accepted = case.forms("cross_entropy_error", judged, also=also)
        targets = data.draw(st.sampled_from(accepted), label="targets")
    classes = data.draw(st.integers(2, 6), label="classes")
    n = data.draw(st.integers(1, max_batch), label="batch") if batch else None
    y = case.let("y", data.draw(probability_rows(n, classes), label="y"))
    t = data.draw(labels(n, classes), label="t")
    if targets.startswith("label"):
        case.let("t", t, "labels")
    else:
        case.let("t", one_hot_labels(t, classes), "one-hot")
    case.call("loss", "cross_entropy_error(y, t)")
    t_hot = one_hot_labels(t, classes)
    rows = 1 if n is None else n
    # Each per-sample term is -log(y_t + δ) <= -log(1e-7) ≈ 16; the mean adds `rows` terms.
    # Without δ the terms are -log(y_t), y_t >= 1e-7 by probability_rows: as small.
    picked = np.atleast_2d(y)[np.arange(rows), np.atleast_1d(t)]
    bounds = [
        same_formula_bound(rows, float(np.mean(-np.log(picked + d))) + 1.0) for d in (DELTA, 0.0)
    ]
    expected = oracle.cross_entropy(y, t_hot, DELTA)
    alternatives = without_delta(case, oracle.cross_entropy(y, t_hot, 0.0), bounds[1])
    means = [(expected, bounds[0]), *((a[0], a[1]) for a in alternatives)]
    if summed_over_batch(case, "loss", means, rows):
        case.comment(f"loss is {rows} times the mean: the sum over the {rows} samples")
        case.compare(
            "loss",
            expected,
            bounds[0],
            "cross_entropy_error(y, t)",
            "eq. 4.3 by JAX, the mean over the samples",
            pitfall=BATCH_TOTAL,
        )
        return
    matched = case.compare(
        "loss",
        expected,
        bounds[0],
        "cross_entropy_error(y, t)",
        "eq. 4.3 by JAX",
        alternatives=alternatives,
    )
    if case.profile == "book" and matched == 0:
        case.note(WITH_DELTA)


def cross_entropy_target_forms(case, data, *, max_batch=6):
    if len(case.forms("cross_entropy_error", ["labels"], also=["one_hot"], need_one=False)) < 2:
        return  # one form refused: the refusal is the verdict (Case.forms)
    batch = data.draw(st.integers(1, max_batch), label="batch")
    classes = data.draw(st.integers(2, 6), label="classes")
    y = case.let("y", data.draw(probability_rows(batch, classes), label="y"))
    t = case.let("t", data.draw(labels(batch, classes), label="t"), "labels")
    case.let("t_one_hot", one_hot_labels(t, classes), "the same targets, one-hot")
    case.call("loss_one_hot", "cross_entropy_error(y, t_one_hot)")
    case.call("loss_labels", "cross_entropy_error(y, t)")
    # Two evaluations of the same mean of `batch` terms -log(y_t + δ): same_formula_bound.
    magnitude = float(np.mean(-np.log(y[np.arange(batch), t] + DELTA))) + 1.0
    case.compare(
        "loss_labels",
        "loss_one_hot",
        same_formula_bound(batch, magnitude),
        "cross_entropy_error(y, labels) against cross_entropy_error(y, one-hot)",
    )
