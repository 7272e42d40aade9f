"""Every bad argument of the public API, in one table: the call, the error, what it must say.

Each row is a misuse a learner makes (most are ones the book's code answers with a wrong
number).  The message must name the argument and the problem; the arrays passed in must
be unchanged afterwards, whatever happened.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import refnet

from .conftest import ROOT

Y = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
T = np.eye(10)[2]


def square_sum(x):
    return np.sum(x**2)


def read_only(values):
    array = np.array(values, dtype=float)
    array.flags.writeable = False
    return array


def _executor():
    """An executor that is never started: refused before any task is submitted."""
    import concurrent.futures

    return concurrent.futures.ThreadPoolExecutor(max_workers=1)


def net():
    return refnet.TwoLayerNet(4, 3, 2, rng=0)


# (id, call, expected exception, regex the message must match)
CASES = [
    # numerical_gradient
    (
        "ng-executor-not-one",
        lambda: refnet.numerical_gradient(
            square_sum, np.array([1.0]), vectorized=True, executor="processes"
        ),
        TypeError,
        r"executor must be a concurrent.futures.Executor .*got str 'processes'",
    ),
    (
        "ng-executor-without-stacks",
        lambda: refnet.numerical_gradient(square_sum, np.array([1.0]), executor=_executor()),
        ValueError,
        r"executor needs vectorized=True",
    ),
    (
        "ng-memory-budget-zero",
        lambda: refnet.numerical_gradient(
            lambda s: np.sum(s**2, axis=1), np.array([1.0]), vectorized=True, memory_budget=0
        ),
        ValueError,
        r"memory_budget must be",
    ),
    (
        "ng-int",
        lambda: refnet.numerical_gradient(square_sum, np.array([3, 4])),
        TypeError,
        r"x has integer dtype",
    ),
    (
        "ng-bool",
        lambda: refnet.numerical_gradient(square_sum, np.array([True])),
        TypeError,
        r"x has integer dtype bool",
    ),
    (
        "ng-complex",
        lambda: refnet.numerical_gradient(square_sum, np.array([1j])),
        TypeError,
        r"x must be real",
    ),
    (
        "ng-nan-x",
        lambda: refnet.numerical_gradient(square_sum, np.array([np.nan])),
        ValueError,
        r"x must be finite",
    ),
    (
        "ng-inf-x",
        lambda: refnet.numerical_gradient(square_sum, np.array([1.0, -np.inf])),
        ValueError,
        r"x must be finite, found -inf at index \(1,\)",
    ),
    (
        "ng-read-only",
        lambda: refnet.numerical_gradient(square_sum, read_only([1.0])),
        ValueError,
        r"x is read-only",
    ),
    (
        "ng-h-zero",
        lambda: refnet.numerical_gradient(square_sum, np.array([1.0]), h=0),
        ValueError,
        r"h must be > 0",
    ),
    (
        "ng-h-negative",
        lambda: refnet.numerical_gradient(square_sum, np.array([1.0]), h=-1e-4),
        ValueError,
        r"h must be > 0",
    ),
    (
        "ng-h-nan",
        lambda: refnet.numerical_gradient(square_sum, np.array([1.0]), h=np.nan),
        ValueError,
        r"h must be finite",
    ),
    (
        "ng-h-string",
        lambda: refnet.numerical_gradient(square_sum, np.array([1.0]), h="1e-4"),
        ValueError,
        r"h must be a positive number or 'auto', got '1e-4'",
    ),
    (
        "ng-h-lost",
        lambda: refnet.numerical_gradient(square_sum, np.array([5.0]), h=1e-50),
        ValueError,
        r"h=1e-50 is lost to rounding at x\[0\]=5.0",
    ),
    (
        "ng-h-lost-large-x",
        lambda: refnet.numerical_gradient(square_sum, np.array([1.0, 3e12])),
        ValueError,
        r"lost to rounding at x\[1\]",
    ),
    (
        "ng-f-vector",
        lambda: refnet.numerical_gradient(lambda v: v, np.array([1.0, 2.0])),
        TypeError,
        r"f must return a scalar, got shape \(2,\)",
    ),
    (
        "ng-f-complex",
        lambda: refnet.numerical_gradient(lambda v: 1j * v[0], np.array([1.0])),
        TypeError,
        r"f must return a real number",
    ),
    (
        "ng-f-string",
        lambda: refnet.numerical_gradient(lambda v: "1", np.array([1.0])),
        TypeError,
        r"f must return a real number",
    ),
    (
        "ng-f-nan",
        lambda: refnet.numerical_gradient(lambda v: np.nan, np.array([1.0])),
        ValueError,
        r"f returned nan",
    ),
    (
        "ng-f-inf",
        lambda: refnet.numerical_gradient(lambda v: np.inf, np.array([1.0])),
        ValueError,
        r"f returned inf",
    ),
    (
        "ng-f-not-callable",
        lambda: refnet.numerical_gradient(3.0, np.array([1.0])),
        TypeError,
        r"f must be callable",
    ),
    (
        "ng-scheme",
        lambda: refnet.numerical_gradient(square_sum, np.array([1.0]), scheme="sideways"),
        ValueError,
        r"scheme must be one of",
    ),
    # numerical_diff
    (
        "nd-array",
        lambda: refnet.numerical_diff(square_sum, np.array([1.0, 2.0])),
        ValueError,
        r"x must be a scalar",
    ),
    ("nd-nan", lambda: refnet.numerical_diff(np.sin, np.nan), ValueError, r"x must be finite"),
    ("nd-complex", lambda: refnet.numerical_diff(np.sin, 1j), TypeError, r"x must be real"),
    (
        "nd-h-lost",
        lambda: refnet.numerical_diff(np.sin, 5.0, h=1e-50),
        ValueError,
        r"h=1e-50 is lost to rounding",
    ),
    (
        "nd-f-vector",
        lambda: refnet.numerical_diff(lambda v: np.array([v, v]), 1.0),
        TypeError,
        r"f must return a scalar",
    ),
    # gradient_descent
    (
        "gd-lr-zero",
        lambda: refnet.gradient_descent(square_sum, np.array([1.0]), lr=0),
        ValueError,
        r"lr must be > 0, got 0",
    ),
    (
        "gd-lr-negative",
        lambda: refnet.gradient_descent(square_sum, np.array([1.0]), lr=-0.1),
        ValueError,
        r"lr must be > 0",
    ),
    (
        "gd-lr-inf",
        lambda: refnet.gradient_descent(square_sum, np.array([1.0]), lr=np.inf),
        ValueError,
        r"lr must be finite",
    ),
    (
        "gd-steps-negative",
        lambda: refnet.gradient_descent(square_sum, np.array([1.0]), step_num=-1),
        ValueError,
        r"step_num must be >= 0",
    ),
    (
        "gd-steps-float",
        lambda: refnet.gradient_descent(square_sum, np.array([1.0]), step_num=10.0),
        TypeError,
        r"step_num must be an integer",
    ),
    (
        "gd-init-nan",
        lambda: refnet.gradient_descent(square_sum, np.array([np.nan])),
        ValueError,
        r"init_x must be finite",
    ),
    (
        "gd-init-complex",
        lambda: refnet.gradient_descent(square_sum, np.array([1j])),
        TypeError,
        r"init_x must be real",
    ),
    (
        "gd-diverges",
        lambda: refnet.gradient_descent(square_sum, np.array([-3.0, 4.0]), lr=10.0),
        ValueError,
        r"gradient descent diverged: x was multiplied by about -19 per step .* at step 10 of "
        r"100 .* use a smaller lr",
    ),
    # losses
    (
        "ce-shape",
        lambda: refnet.cross_entropy_error(Y, np.array([0, 1])),
        ValueError,
        r"t has shape \(2,\), which fits y of shape \(10,\) neither",
    ),
    (
        "ce-label-range",
        lambda: refnet.cross_entropy_error(np.stack([Y, Y]), np.array([3, 10])),
        ValueError,
        r"t has labels from 3 to 10 but y has 10 classes",
    ),
    (
        "ce-label-negative",
        lambda: refnet.cross_entropy_error(Y, -1),
        ValueError,
        r"t has labels from -1 to -1",
    ),
    (
        "ce-label-float",
        lambda: refnet.cross_entropy_error(np.stack([Y]), np.array([2.0])),
        TypeError,
        r"labels must be integers; pass t.astype\(int\)",
    ),
    (
        "ce-label-fraction",
        lambda: refnet.cross_entropy_error(np.stack([Y]), np.array([2.5])),
        TypeError,
        r"labels must be integers",
    ),
    (
        "ce-one-hot-empty-row",
        lambda: refnet.cross_entropy_error(Y, np.zeros(10)),
        ValueError,
        r"row 0 sums to 0.0",
    ),
    (
        "ce-one-hot-negative",
        lambda: refnet.cross_entropy_error(Y, T - np.eye(10)[0]),
        ValueError,
        r"t \(one-hot or probability targets\) must be non-negative",
    ),
    (
        "ce-t-nan",
        lambda: refnet.cross_entropy_error(Y, np.where(T, np.nan, 0)),
        ValueError,
        r"t must be finite",
    ),
    (
        "ce-y-negative",
        lambda: refnet.cross_entropy_error(Y - 0.1, T),
        ValueError,
        r"y must hold probabilities in \[0, 1\]",
    ),
    (
        "ce-y-above-one",
        lambda: refnet.cross_entropy_error(Y + 0.5, T),
        ValueError,
        r"y must hold probabilities",
    ),
    (
        "ce-y-nan",
        lambda: refnet.cross_entropy_error(np.full(10, np.nan), T),
        ValueError,
        r"y must be finite, found nan at index \(0,\)",
    ),
    (
        "ce-y-inf",
        lambda: refnet.cross_entropy_error(np.full(10, np.inf), T),
        ValueError,
        r"y must be finite",
    ),
    (
        "ce-empty-batch",
        lambda: refnet.cross_entropy_error(np.zeros((0, 10)), np.zeros(0, dtype=int)),
        ValueError,
        r"y is an empty batch",
    ),
    (
        "ce-0d",
        lambda: refnet.cross_entropy_error(0.5, 0),
        ValueError,
        r"y must be one sample \(K,\) or a batch \(N, K\)",
    ),
    (
        "ce-3d",
        lambda: refnet.cross_entropy_error(np.zeros((2, 2, 2)), np.zeros((2, 2, 2))),
        ValueError,
        r"y must be one sample",
    ),
    (
        "ce-complex",
        lambda: refnet.cross_entropy_error(Y.astype(complex), T),
        TypeError,
        r"y must be real",
    ),
    (
        "ce-delta",
        lambda: refnet.cross_entropy_error(Y, T, delta=-1),
        ValueError,
        r"delta must be >= 0",
    ),
    (
        "mse-shape",
        lambda: refnet.mean_squared_error(Y, np.zeros(3)),
        ValueError,
        r"t has shape \(3,\)",
    ),
    (
        "mse-y-nan",
        lambda: refnet.mean_squared_error(np.full(10, np.nan), T),
        ValueError,
        r"y must be finite",
    ),
    # activations
    ("softmax-0d", lambda: refnet.softmax(1.0), ValueError, r"x must have at least one axis"),
    (
        "softmax-nan",
        lambda: refnet.softmax(np.array([1.0, np.nan])),
        ValueError,
        r"x contains NaN at index \(1,\)",
    ),
    (
        "softmax-posinf",
        lambda: refnet.softmax(np.array([np.inf, 1.0])),
        ValueError,
        r"x contains \+inf",
    ),
    (
        "softmax-all-neginf",
        lambda: refnet.softmax(np.array([-np.inf, -np.inf])),
        ValueError,
        r"row of only -inf",
    ),
    ("softmax-complex", lambda: refnet.softmax(np.array([1j])), TypeError, r"x must be real"),
    ("sigmoid-nan", lambda: refnet.sigmoid(np.array([np.nan])), ValueError, r"x contains NaN"),
    ("relu-string", lambda: refnet.relu(np.array(["a"])), TypeError, r"x must hold real numbers"),
    # networks
    ("net-size-zero", lambda: refnet.TwoLayerNet(0, 3, 2), ValueError, r"input_size must be >= 1"),
    (
        "net-size-float",
        lambda: refnet.TwoLayerNet(4, 3.0, 2),
        TypeError,
        r"hidden_size must be an integer",
    ),
    (
        "net-std-negative",
        lambda: refnet.TwoLayerNet(4, 3, 2, weight_init_std=-1),
        ValueError,
        r"weight_init_std must be >= 0",
    ),
    (
        "net-rng",
        lambda: refnet.TwoLayerNet(4, 3, 2, rng="seed"),
        TypeError,
        r"rng must be a numpy.random.Generator",
    ),
    (
        "net-width",
        lambda: net().predict(np.zeros((2, 5))),
        ValueError,
        r"x has 5 features per sample but the network's input_size is 4",
    ),
    (
        "net-labels",
        lambda: net().loss(np.zeros((2, 4)), np.array([0, 2])),
        ValueError,
        r"t has labels from 0 to 2 but y has 2 classes",
    ),
    (
        "net-batch-mismatch",
        lambda: net().accuracy(np.zeros((2, 4)), np.array([0, 1, 1])),
        ValueError,
        r"t has shape \(3,\)",
    ),
    (
        "net-empty",
        lambda: net().gradient(np.zeros((0, 4)), np.zeros(0, dtype=int)),
        ValueError,
        r"x is an empty batch",
    ),
    (
        "net-nan-x",
        lambda: net().numerical_gradient(np.full((1, 4), np.nan), np.array([0])),
        ValueError,
        r"x must be finite",
    ),
    (
        "net-method",
        lambda: net().numerical_gradient(np.zeros((1, 4)), np.array([0]), method="magic"),
        ValueError,
        r"method must be one of",
    ),
    (
        "simplenet-W",
        lambda: refnet.SimpleNet(W=np.zeros((2, 2))),
        ValueError,
        r"W must have shape \(2, 3\), got \(2, 2\)",
    ),
]


@pytest.mark.parametrize("call, error, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_argument_gets_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_lost_step_errors_are_step_lost_errors():
    for name in ("ng-h-lost", "ng-h-lost-large-x", "nd-h-lost", "gd-diverges"):
        call = next(c[1] for c in CASES if c[0] == name)
        with pytest.raises(refnet.StepLostError):
            call()


def test_every_case_id_is_unique():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))


# -- docs/reference/misuse.md names only cases the suite really tests ----------------------

PAGE = ROOT / "docs" / "reference" / "misuse.md"


def _test_names():
    names = set()
    for path in (ROOT / "tests").glob("test_*.py"):
        names.update(
            re.findall(r"^def (test_\w+)", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
        )
    return names


def test_every_case_in_the_misuse_table_exists():
    ids = {case[0] for case in CASES}
    tests = _test_names()
    rows = [
        line
        for line in PAGE.read_text(encoding="utf-8").splitlines()
        if line.startswith("| ") and "---" not in line
    ]
    checked = 0
    for row in rows:
        last = row.rstrip(" |").rsplit("|", 1)[-1]
        for token in re.findall(r"`([^`]+)`", last):
            if token.startswith("tests/"):
                assert (ROOT / token).exists(), f"{token} named in the misuse table does not exist"
            elif token.startswith("test_"):
                assert token in tests, f"test {token} named in the misuse table does not exist"
            else:
                assert token in ids, f"case {token!r} named in the misuse table is not in CASES"
            checked += 1
    assert checked >= 50, f"only {checked} cases found: the table's format changed?"


def test_every_validation_case_is_in_the_misuse_table():
    text = PAGE.read_text(encoding="utf-8")
    missing = [case[0] for case in CASES if f"`{case[0]}`" not in text]
    assert not missing, f"cases not documented in docs/reference/misuse.md: {missing}"
