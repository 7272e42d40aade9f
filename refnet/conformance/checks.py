"""The named checks: each a property of the chapter's API, stated in one line.

A check's body gets a :class:`~refnet.conformance.case.Case` and hypothesis's ``data``.
It draws inputs, runs the target's code through the case, and compares the result with
the JAX oracle within a bound from tolerances.py, or checks a behaviour (an argument left
unchanged, an error instead of a wrong number).  Keyword options widen or pin the domain:
the defaults are the book's domain (1-D vectors where the book's loop handles only those),
and refnet's own suite runs the same bodies over more (tests/test_oracle_agreement.py).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from . import oracle
from .case import Case, function_source
from .functions import (
    DESCENT_OBJECTIVES,
    LSE_D3,
    MODEL_LOSSES,
    SMOOTH_FUNCTIONS,
    ModelProblem,
    model_magnitude,
    model_third_derivative_bound,
)
from .strategies import (
    array_shapes,
    finite_arrays,
    labels,
    model_problems,
    one_hot_labels,
    parameter_vectors,
    probability_rows,
    spd_matrices,
    two_layer_params,
)
from .tolerances import (
    EPS,
    central_difference_bound,
    descent_bound,
    same_formula_bound,
    sigmoid_bound,
    softmax_bound,
    softmax_cross_entropy_bound,
    two_layer_logit_error,
)

__all__ = ["CHECKS", "Check", "DELTA", "H", "check_named", "listing"]

#: The book's step and its guard inside the log: the values every target is checked at.
H = 1e-4
DELTA = 1e-7
EPS64 = EPS[np.dtype(np.float64)]
PARAM_NAMES = ("W1", "b1", "W2", "b2")


@dataclass(frozen=True)
class Check:
    """A named property: ``body(case, data, **options)`` raises CheckFailed when it fails."""

    name: str
    statement: str
    body: Callable
    requires: tuple[str, ...]
    options: Mapping[str, object] = field(default_factory=dict)
    #: target -> a reason to skip the check, or None to run it.
    precondition: Callable | None = None

    @property
    def function(self) -> str:
        """The API name the check belongs to in the report."""
        return self.requires[0]


def _draw_function(data, function):
    name = function or data.draw(st.sampled_from(sorted(SMOOTH_FUNCTIONS)), label="f")
    return SMOOTH_FUNCTIONS[name]


def _require_unchanged(case: Case, name: str, before: str) -> None:
    """Require ``name`` bit-identical to the copy ``before`` taken ahead of the call."""

    def message():
        was, now = (np.asarray(eval(n, case.ns)).tolist() for n in (before, name))
        return f"{name} was changed by the call: it was {was!r}, it is now {now!r}"

    case.require(f"{name}.tobytes() == {before}.tobytes()", message)


# -- softmax and sigmoid ------------------------------------------------------------------


def softmax_values(case, data, *, min_dims=1, max_dims=1, max_side=5, low=-20.0, high=20.0):
    shape = data.draw(array_shapes(min_dims, max_dims, max_side), label="shape")
    a = case.let("a", data.draw(finite_arrays(shape, low, high), label="a"))
    case.call("y", "softmax(a)")
    expected = oracle.softmax(a)
    case.compare("y", expected, softmax_bound(a, expected), "softmax(a)", "softmax by JAX")


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
        _require_unchanged(case, "a", "a_before")
        return
    batch = data.draw(st.integers(1, 4), label="batch")
    case.let("y", data.draw(probability_rows(batch, classes), label="y"))
    case.let("t", one_hot_labels(data.draw(labels(batch, classes), label="t"), classes))
    case.setup("y_before, t_before = y.copy(), t.copy()")
    case.run(f"{function}(y, t)")
    _require_unchanged(case, "y", "y_before")
    _require_unchanged(case, "t", "t_before")


# -- losses -----------------------------------------------------------------------------------


def squared_error_value(case, data, *, function, batch=True):
    """½ Σ (y - t)² per sample; a batch's value is the mean or the sum by ``function``."""
    classes = data.draw(st.integers(2, 6), label="classes")
    n = data.draw(st.integers(1, 6), label="batch") if batch else None
    y = case.let("y", data.draw(probability_rows(n, classes), label="y"))
    t = case.let("t", one_hot_labels(data.draw(labels(n, classes), label="t"), classes))
    value = case.call("loss", f"{function}(y, t)")
    squares = float(np.sum((y - t) ** 2))
    rows = 1 if n is None else n
    total = oracle.sum_squared_error(y, t)
    if function == "mean_squared_error":
        expected = oracle.mean_squared_error(y, t)
        # The sum of N·K terms (y - t)², then a division by N: see same_formula_bound.
        bound = same_formula_bound(rows * classes, squares / rows + 1)
        source = "mean over samples of ½ Σ (y - t)², by JAX"
    else:
        expected = total
        bound = same_formula_bound(rows * classes, squares + 1)
        source = "½ Σ (y - t)² over the whole batch, by JAX"
    hint = None
    if function == "mean_squared_error" and rows > 1:
        sum_bound = same_formula_bound(rows * classes, squares + 1)
        if np.ndim(value) == 0 and abs(float(value) - total) <= sum_bound:
            hint = (
                "it is the sum over the samples: if that is the convention you mean, check "
                "it as sum_squared_error (--map sum_squared_error=mean_squared_error)"
            )
    case.compare("loss", expected, bound, f"{function}(y, t)", source, hint=hint)


def cross_entropy_value(case, data, *, batch=True, max_batch=6, targets="one_hot"):
    classes = data.draw(st.integers(2, 6), label="classes")
    n = data.draw(st.integers(1, max_batch), label="batch") if batch else None
    y = case.let("y", data.draw(probability_rows(n, classes), label="y"))
    t = data.draw(labels(n, classes), label="t")
    if targets == "labels":
        case.let("t", t, "labels")
    else:
        case.let("t", one_hot_labels(t, classes), "one-hot")
    case.call("loss", "cross_entropy_error(y, t)")
    expected = oracle.cross_entropy(y, one_hot_labels(t, classes), DELTA)
    rows = 1 if n is None else n
    # Each per-sample term is -log(y_t + δ) <= -log(1e-7) ≈ 16; the mean adds `rows` terms.
    picked = np.atleast_2d(y)[np.arange(rows), np.atleast_1d(t)]
    bound = same_formula_bound(rows, float(np.mean(-np.log(picked + DELTA))) + 1.0)
    case.compare("loss", expected, bound, "cross_entropy_error(y, t)", "eq. 4.3 by JAX")


def cross_entropy_target_forms(case, data, *, max_batch=6):
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


# -- numerical differentiation -------------------------------------------------------------


def central_difference(case, data, *, function=None):
    fn = _draw_function(data, function)
    x = data.draw(st.floats(fn.low, fn.high), label="x")
    case.setup(function_source(fn.formula))
    case.let("x", x)
    case.call("d", "numerical_diff(f, x)")
    x_arr = np.asarray(x)
    exact = oracle.smooth_gradient(fn.name, x_arr)
    bound = central_difference_bound(
        H, fn.third_derivative_bound(x_arr, H), fn.magnitude(np.abs(x_arr) + H), exact, x_arr
    )
    case.compare("d", float(exact), float(bound), "numerical_diff(f, x)", "f'(x) by jax.grad")


def _smooth_point(case, data, *, min_dims, max_dims, max_side, function, dtype=np.float64):
    fn = _draw_function(data, function)
    shape = data.draw(array_shapes(min_dims, max_dims, max_side), label="shape")
    x = data.draw(finite_arrays(shape, fn.low, fn.high, dtype), label="x")
    case.setup(function_source(fn.formula))
    case.let("x", x)
    return fn, x


def _gradient_bound(fn, x, exact, dtype=np.float64):
    # Magnitudes are taken at |x| + h: rounding acts on f at the perturbed points.
    x64 = np.asarray(x, dtype=np.float64)
    return central_difference_bound(
        H, fn.third_derivative_bound(x64, H), fn.magnitude(np.abs(x64) + H), exact, x64, dtype
    )


def smooth_gradient(
    case, data, *, min_dims=1, max_dims=1, max_side=5, function=None, closure=False
):
    fn, x = _smooth_point(
        case, data, min_dims=min_dims, max_dims=max_dims, max_side=max_side, function=function
    )
    if closure:
        case.comment("g ignores its argument and reads x, as the book's lambda W: net.loss(x, t)")
        case.setup("def g(_):\n    return f(x)")
        case.call("grad", "numerical_gradient(g, x)")
    else:
        case.call("grad", "numerical_gradient(f, x)")
    exact = oracle.smooth_gradient(fn.name, x)
    hint = None
    if closure:
        hint = (
            "g reads x itself, so numerical_gradient must perturb x in place (not a copy) "
            "and restore it"
        )
    case.compare(
        "grad",
        exact,
        _gradient_bound(fn, x, exact),
        "numerical_gradient(f, x)",
        "jax.grad(f)(x)",
        hint=hint,
    )


def gradient_leaves_x_unchanged(case, data, *, min_dims=1, max_dims=1, max_side=5, function=None):
    _, x = _smooth_point(
        case, data, min_dims=min_dims, max_dims=max_dims, max_side=max_side, function=function
    )
    case.setup("x_before = x.copy()")
    case.run("numerical_gradient(f, x)")
    _require_unchanged(case, "x", "x_before")


def gradient_restores_x_when_f_raises(case, data, *, max_side=4):
    size = data.draw(st.integers(1, max_side), label="size")
    x = data.draw(finite_arrays((size,), -2.0, 2.0), label="x")
    fails_at = data.draw(st.integers(1, 2 * size), label="failing call")
    case.setup(
        "calls = []\n"
        "def f(x):\n"
        "    calls.append(1)\n"
        f"    if len(calls) == {fails_at}:\n"
        f"        raise RuntimeError('f fails on purpose at its call {fails_at}')\n"
        "    return float(np.sum(x**2))"
    )
    case.let("x", x)
    case.setup("x_before = x.copy()")
    error = case.run("numerical_gradient(f, x)", expect=Exception)
    # A target that calls f fewer times never meets the failure: nothing to judge.
    assume(len(case.ns["calls"]) >= fails_at)
    if error is None:
        case.fail(
            f"f raised at its call {fails_at}, but numerical_gradient returned normally: the "
            "error was swallowed and the gradient is meaningless"
        )
    case.require(
        "x.tobytes() == x_before.tobytes()",
        lambda: (
            f"after f raised at its call {fails_at}, x is {case.ns['x'].tolist()!r} instead of "
            f"{x.tolist()!r}: the perturbed element was not restored (restore it in a finally "
            "block)"
        ),
    )


def gradient_of_integer_x(case, data, *, max_side=4):
    size = data.draw(st.integers(1, max_side), label="size")
    x = data.draw(hnp.arrays(np.int64, (size,), elements=st.integers(-5, 5)), label="x")
    case.setup("def f(x):\n    return np.sum(x**2)")
    case.let("x", x)
    case.setup("x_before = x.copy()")
    error = case.run("grad = numerical_gradient(f, x)", expect=(TypeError, ValueError))
    if error is None:
        x64 = x.astype(np.float64)
        exact = 2 * x64
        # A quadratic has no third derivative: only round-off, with S = Σ (|x| + h)².
        bound = central_difference_bound(H, 0.0, float(np.sum((np.abs(x64) + H) ** 2)), exact, x64)
        case.compare(
            "grad",
            exact,
            bound,
            "numerical_gradient(f, x) of an integer x",
            "2 x, the gradient of sum(x**2)",
            hint="an integer x cannot hold x[i] + h: raise a TypeError or work on a float copy",
        )
    _require_unchanged(case, "x", "x_before")


def gradient_of_float32_x(case, data, *, max_side=4, function=None):
    fn, x = _smooth_point(
        case, data, min_dims=1, max_dims=1, max_side=max_side, function=function, dtype=np.float32
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        error = case.run("grad = numerical_gradient(f, x)", expect=(TypeError, ValueError))
    if error is not None or caught:
        return  # refused, or answered with a warning: not silent
    case.comment("no warning was issued: the result must be within the float32 error bound")
    exact = oracle.smooth_gradient(fn.name, x)
    bound = _gradient_bound(fn, x, exact, np.float32)
    case.compare("grad", exact, bound, "numerical_gradient(f, x) of a float32 x", "jax.grad(f)(x)")


def model_loss_gradient(case, data, *, kind=None):
    kind = kind or data.draw(st.sampled_from(sorted(MODEL_LOSSES)), label="model")
    problem = data.draw(model_problems(kind), label="problem")
    theta = data.draw(parameter_vectors(problem), label="theta")
    case.use("from refnet.conformance.functions import MODEL_LOSSES, ModelProblem")
    case.let("x", problem.x)
    case.let("t", problem.t)
    case.setup(f"problem = ModelProblem(x, t, {problem.shapes!r})")
    case.let("theta", theta)
    case.setup(f"def f(theta):\n    return MODEL_LOSSES[{kind!r}](np, theta, problem)")
    case.call("grad", "numerical_gradient(f, theta)")
    exact = oracle.model_gradient(kind, theta, problem)
    bound = central_difference_bound(
        H,
        model_third_derivative_bound(kind, theta, problem, H),
        model_magnitude(kind, np.abs(theta) + H, problem),
        exact,
        theta,
    )
    case.compare("grad", exact, bound, f"numerical_gradient of {kind}", "jax.grad")


# -- gradient descent ---------------------------------------------------------------------


def descent_matches_jax(case, data, *, objective=None, max_dims=1):
    name = objective or data.draw(st.sampled_from(sorted(DESCENT_OBJECTIVES)), label="f")
    shape = data.draw(array_shapes(min_dims=1, max_dims=max_dims), label="shape")
    n = int(np.prod(shape))
    if name == "quadratic":
        A = data.draw(spd_matrices(n), label="A")
        lipschitz = float(np.linalg.eigvalsh(A).max())
        third = 0.0  # a quadratic has no third derivative: the central difference is exact
    else:
        A = np.zeros((n, n))
        lipschitz = 1.5
        third = LSE_D3
    b = data.draw(finite_arrays((n,), -1.0, 1.0), label="b")
    x0 = data.draw(finite_arrays(shape, -2.0, 2.0), label="init_x")
    lr = data.draw(st.floats(0.01, 1.0 / lipschitz), label="lr")  # <= 1/L: non-expansive steps
    steps = data.draw(st.integers(0, 30), label="step_num")
    case.use(f"from refnet.conformance.functions import {name}")
    case.let("A", A)
    case.let("b", b)
    case.setup(f"def f(x):\n    return {name}(np, x, A, b)")
    case.let("init_x", x0)
    case.call("x", f"gradient_descent(f, init_x, lr={lr!r}, step_num={steps})")
    expected = oracle.descent(name, x0, A, b, lr, steps)
    # Along the way |x| stays within |x0| + |b|/λmin-ish; bound the magnitude f's rounding
    # acts on by its value at the larger of the start and the oracle's end (convex f, descent).
    reach = max(np.abs(x0).max(), np.abs(expected).max()) + 1
    magnitude = 0.5 * n * n * reach**2 * max(lipschitz, 1) + n * reach + np.log(n) + reach
    per_element = central_difference_bound(H, third, magnitude)
    bound = descent_bound(steps, lr, float(np.sqrt(n) * per_element)) + 4 * EPS64 * reach
    case.compare("x", expected, bound, "gradient_descent(f, init_x)", "the same steps on jax.grad")


def descent_leaves_init_x_unchanged(case, data, *, max_dims=1):
    shape = data.draw(array_shapes(min_dims=1, max_dims=max_dims), label="shape")
    x0 = data.draw(finite_arrays(shape, -2.0, 2.0), label="init_x")
    steps = data.draw(st.integers(1, 5), label="step_num")
    case.setup("def f(x):\n    return np.sum(x**2)")
    case.let("init_x", x0)
    case.setup("init_x_before = init_x.copy()")
    case.run(f"gradient_descent(f, init_x, lr=0.1, step_num={steps})")
    case.require(
        "init_x.tobytes() == init_x_before.tobytes()",
        lambda: (
            f"gradient_descent changed init_x from {x0.tolist()!r} to "
            f"{case.ns['init_x'].tolist()!r}: descend on a copy (x = init_x.copy())"
        ),
    )


# -- simpleNet ----------------------------------------------------------------------------


def _simple_net(case, data):
    # Weights and inputs in [-1, 1]: logits in [-2, 2], every softmax output >= e^-4 / 3.
    W = case.let("W", data.draw(finite_arrays((2, 3), -1.0, 1.0), label="W"))
    x = case.let("x", data.draw(finite_arrays((2,), -1.0, 1.0), label="x"))
    t = case.let("t", one_hot_labels(data.draw(labels(None, 3), label="t"), 3), "one-hot")
    case.run("net = simpleNet()")
    case.run("net.W = W.copy()")
    return W, x, t


def simple_net_loss(case, data):
    W, x, t = _simple_net(case, data)
    case.call("loss", "net.loss(x, t)")
    expected = oracle.linear_softmax_loss(W, x, t, DELTA)
    # Logits x0 W0k + x1 W1k: a dot product of 2 terms (affine_error).
    logit_error = 2 * EPS64 * float(np.max(np.abs(x) @ np.abs(W)))
    bound = softmax_cross_entropy_bound(logit_error, x @ W, expected)
    case.compare("loss", expected, bound, "net.loss(x, t)", "cross-entropy of softmax(x W), by JAX")


def simple_net_gradient(case, data):
    W, x, t = _simple_net(case, data)
    case.setup("f = lambda w: net.loss(x, t)")
    case.setup("W_before = net.W.copy()")
    case.call("dW", "numerical_gradient(f, net.W)")
    expected = oracle.linear_softmax_gradient(W, x, t, DELTA)
    problem = ModelProblem(x[None, :], t[None, :], ((2, 3),))
    theta = W.ravel()
    # The model bound is for cross-entropy without delta.  With every softmax output >= e^-4/3,
    # delta changes the k-th derivative of -log(p) by a relative k δ / p < 1e-4: 1% covers it.
    m3 = 1.01 * model_third_derivative_bound("linear_ce", theta, problem, H)
    magnitude = model_magnitude("linear_ce", np.abs(theta) + H, problem)
    bound = central_difference_bound(H, m3, magnitude, expected.ravel(), theta).reshape(2, 3)
    case.compare(
        "dW", expected, bound, "numerical_gradient(lambda w: net.loss(x, t), net.W)", "jax.grad"
    )
    _require_unchanged(case, "net.W", "W_before")


# -- TwoLayerNet --------------------------------------------------------------------------


def _two_layer_net(case, data, targets):
    """Build the network in the case; return its params, x and the labels (whatever form
    the target is given)."""
    params, x, t = data.draw(two_layer_params(), label="network")
    d, hidden = params["W1"].shape
    classes = params["W2"].shape[1]
    for key in PARAM_NAMES:
        case.let(key, params[key])
    case.let("x", x)
    if targets == "labels":
        case.let("t", t, "labels")
    else:
        case.let("t", one_hot_labels(t, classes), "one-hot")
    case.run(f"net = TwoLayerNet({d}, {hidden}, {classes})")
    for key in PARAM_NAMES:
        case.run(f"net.params[{key!r}] = {key}.copy()")
    return params, x, t


def two_layer_loss(case, data, *, targets="one_hot"):
    params, x, t = _two_layer_net(case, data, targets)
    case.call("loss", "net.loss(x, t)")
    expected = oracle.two_layer_loss(params, x, t, DELTA)
    bound = softmax_cross_entropy_bound(
        two_layer_logit_error(params, x), oracle.two_layer_logits(params, x), expected
    )
    case.compare("loss", expected, bound, "net.loss(x, t)", "the same network in JAX")


def two_layer_numerical_gradient(case, data, *, targets="one_hot"):
    params, x, t = _two_layer_net(case, data, targets)
    case.setup("params_before = {key: value.copy() for key, value in net.params.items()}")
    case.call("grads", "net.numerical_gradient(x, t)")
    expected = oracle.two_layer_gradient(params, x, t, delta=DELTA)
    theta = np.concatenate([params[k].ravel() for k in PARAM_NAMES])
    classes = params["W2"].shape[1]
    problem = ModelProblem(
        x, one_hot_labels(t, classes), tuple(params[k].shape for k in PARAM_NAMES)
    )
    # The model bound is for CE without delta.  With every y_t >= e^-10 / 4 (weights and
    # inputs in [-1, 1], hidden <= 4), delta shifts each derivative of -log(y_t + δ) by a
    # relative δ / y_t <= 1e-7 · 4 e^10 < 0.01: a 1% allowance on M3 covers it.
    m3 = 1.01 * model_third_derivative_bound("two_layer_ce", theta, problem, H)
    exact = np.concatenate([expected[k].ravel() for k in PARAM_NAMES])
    magnitude = model_magnitude("two_layer_ce", np.abs(theta) + H, problem)
    bounds = problem.unflatten(np, central_difference_bound(H, m3, magnitude, exact, theta))
    for key, bound in zip(PARAM_NAMES, bounds, strict=True):
        case.compare(
            f"grads[{key!r}]",
            expected[key],
            bound,
            f"net.numerical_gradient(x, t)[{key!r}]",
            "jax.grad",
        )
    case.require(
        "all(net.params[k].tobytes() == params_before[k].tobytes() for k in params_before)",
        "net.numerical_gradient changed the network's parameters",
    )


def two_layer_accuracy(case, data, *, targets="one_hot"):
    params, x, t = _two_layer_net(case, data, targets)
    logits = oracle.two_layer_logits(params, x)
    # The argmax of the target's probabilities is the true one when the top two logits are
    # further apart than both implementations' logit errors plus softmax's rounding (which
    # could swap two probabilities closer than that): see softmax_cross_entropy_bound.
    top = np.sort(logits, axis=1)
    spread = float(np.max(top[:, -1] - top[:, 0]))
    margin = 4 * two_layer_logit_error(params, x) + 2 * EPS64 * (spread + logits.shape[1] + 2)
    assume(np.all(top[:, -1] - top[:, -2] > margin))
    expected = float(np.sum(np.argmax(logits, axis=1) == t)) / x.shape[0]
    case.call("acc", "net.accuracy(x, t)")
    # k / N rounded once; (1 / N) * k rounds twice: within 2 ε of it.
    case.compare(
        "acc", expected, 2 * EPS64 * expected, "net.accuracy(x, t)", "argmax of JAX's predictions"
    )


def two_layer_backprop_gradient(case, data, *, targets="one_hot"):
    params, x, t = _two_layer_net(case, data, targets)
    case.call("grads", "net.gradient(x, t)")
    expected = oracle.two_layer_gradient(params, x, t, delta=0.0)
    # Every entry is a sum over <= N·K (<= 16) products of factors bounded by 1 (z, σ', x)
    # and |y - t| / N <= 1/N, times weights <= 1 and up to H = 4 hidden paths:
    # the sum of absolute terms is <= K·H <= 16.
    n_terms = x.shape[0] * params["W2"].shape[1] * params["W1"].shape[1]
    bound = same_formula_bound(n_terms, 16.0)
    for key in PARAM_NAMES:
        case.compare(
            f"grads[{key!r}]",
            expected[key],
            bound,
            f"net.gradient(x, t)[{key!r}]",
            "jax.grad, delta = 0",
        )


def _has_method(method):
    def precondition(target):
        cls = target.found["TwoLayerNet"].obj
        if callable(getattr(cls, method, None)):
            return None
        return f"TwoLayerNet has no {method} method"

    return precondition


# -- the table ------------------------------------------------------------------------------

CHECKS = (
    Check(
        "softmax.values",
        "softmax of one row of logits in [-20, 20] equals JAX's",
        softmax_values,
        ("softmax",),
    ),
    Check(
        "softmax.batch",
        "softmax of a batch (N, K) normalises each row: equal to JAX's row by row",
        softmax_values,
        ("softmax",),
        {"min_dims": 2, "max_dims": 2, "max_side": 4},
    ),
    Check(
        "softmax.large_logits",
        "logits shifted by +-750 to 1000, where exp overflows or underflows, still give JAX's probabilities, not NaN: subtract the row maximum",
        softmax_of_large_logits,
        ("softmax",),
    ),
    Check(
        "softmax.input_unchanged",
        "the caller's logits are left unchanged",
        arguments_unchanged,
        ("softmax",),
        {"function": "softmax"},
    ),
    Check(
        "sigmoid.values",
        "1 / (1 + exp(-x)) elementwise for x of rank 0 to 3 in [-50, 50], as JAX computes it",
        sigmoid_values,
        ("sigmoid",),
    ),
    Check(
        "mean_squared_error.one_sample",
        "y, t of shape (K,): 0.5 * sum((y - t)**2) (eq. 4.1)",
        squared_error_value,
        ("mean_squared_error",),
        {"function": "mean_squared_error", "batch": False},
    ),
    Check(
        "mean_squared_error.batch",
        "y, t of shape (N, K): the mean over the N samples of eq. 4.1 (the name says mean)",
        squared_error_value,
        ("mean_squared_error",),
        {"function": "mean_squared_error"},
    ),
    Check(
        "mean_squared_error.inputs_unchanged",
        "the caller's y and t are left unchanged",
        arguments_unchanged,
        ("mean_squared_error",),
        {"function": "mean_squared_error"},
    ),
    Check(
        "sum_squared_error.one_sample",
        "y, t of shape (K,): 0.5 * sum((y - t)**2) (eq. 4.1)",
        squared_error_value,
        ("sum_squared_error",),
        {"function": "sum_squared_error", "batch": False},
    ),
    Check(
        "sum_squared_error.batch",
        "y, t of shape (N, K): 0.5 * np.sum((y - t)**2) over the whole batch (the book's code)",
        squared_error_value,
        ("sum_squared_error",),
        {"function": "sum_squared_error"},
    ),
    Check(
        "sum_squared_error.inputs_unchanged",
        "the caller's y and t are left unchanged",
        arguments_unchanged,
        ("sum_squared_error",),
        {"function": "sum_squared_error"},
    ),
    Check(
        "cross_entropy_error.one_sample",
        "y (K,) and one-hot t (K,): -sum(t * log(y + 1e-7)) (eq. 4.2), as JAX computes it",
        cross_entropy_value,
        ("cross_entropy_error",),
        {"batch": False},
    ),
    Check(
        "cross_entropy_error.batch",
        "y (N, K) and one-hot t (N, K): the mean over samples of eq. 4.2 (eq. 4.3), as JAX computes it",
        cross_entropy_value,
        ("cross_entropy_error",),
    ),
    Check(
        "cross_entropy_error.target_forms",
        "integer labels t (N,) give the same loss as the same targets one-hot (N, K)",
        cross_entropy_target_forms,
        ("cross_entropy_error",),
    ),
    Check(
        "cross_entropy_error.inputs_unchanged",
        "the caller's y and t are left unchanged",
        arguments_unchanged,
        ("cross_entropy_error",),
        {"function": "cross_entropy_error"},
    ),
    Check(
        "numerical_diff.central",
        "numerical_diff(f, x) is within h^2 |f'''| / 6 + round-off of f'(x) (jax.grad): the central difference with h = 1e-4",
        central_difference,
        ("numerical_diff",),
    ),
    Check(
        "numerical_gradient.vector",
        "for 1-D x, numerical_gradient(f, x) is within the central-difference error bound of jax.grad(f)(x)",
        smooth_gradient,
        ("numerical_gradient",),
    ),
    Check(
        "numerical_gradient.any_shape",
        "for x of rank 0 to 4, the gradient has x's shape and is within the error bound of jax.grad(f)(x)",
        smooth_gradient,
        ("numerical_gradient",),
        {"min_dims": 0, "max_dims": 4, "max_side": 3},
    ),
    Check(
        "numerical_gradient.model_losses",
        "gradients of MSE and cross-entropy losses of linear and two-layer models in their flat parameters match jax.grad",
        model_loss_gradient,
        ("numerical_gradient",),
    ),
    Check(
        "numerical_gradient.closure",
        "an f that ignores its argument and reads x from its closure (lambda W: net.loss(x, t)) gets the gradient: x is perturbed in place",
        smooth_gradient,
        ("numerical_gradient",),
        {"closure": True},
    ),
    Check(
        "numerical_gradient.restores_x",
        "x is bit-identical after the call",
        gradient_leaves_x_unchanged,
        ("numerical_gradient",),
    ),
    Check(
        "numerical_gradient.restores_x_on_error",
        "when f raises midway, the exception reaches the caller and x is bit-identical",
        gradient_restores_x_when_f_raises,
        ("numerical_gradient",),
    ),
    Check(
        "numerical_gradient.integer_x",
        "an integer x gets a TypeError or ValueError, or the correct gradient; never a truncated one like [25000, 35000]",
        gradient_of_integer_x,
        ("numerical_gradient",),
    ),
    Check(
        "numerical_gradient.float32_x",
        "a float32 x gets a gradient within the float32 error bound, or a warning, or a TypeError or ValueError",
        gradient_of_float32_x,
        ("numerical_gradient",),
    ),
    Check(
        "gradient_descent.matches_jax",
        "step_num steps land within the accumulated numerical-gradient error of the same steps on jax.grad",
        descent_matches_jax,
        ("gradient_descent",),
    ),
    Check(
        "gradient_descent.init_x_unchanged",
        "the caller's init_x is left unchanged",
        descent_leaves_init_x_unchanged,
        ("gradient_descent",),
    ),
    Check(
        "simpleNet.loss",
        "net.loss(x, t) with net.W set is cross_entropy_error(softmax(x @ W), t), as JAX computes it",
        simple_net_loss,
        ("simpleNet",),
    ),
    Check(
        "simpleNet.gradient",
        "numerical_gradient(lambda w: net.loss(x, t), net.W) matches jax.grad and leaves net.W unchanged",
        simple_net_gradient,
        ("simpleNet", "numerical_gradient"),
    ),
    Check(
        "TwoLayerNet.loss",
        "net.loss(x, t) with one-hot t is the mean cross-entropy of the network, as JAX computes it",
        two_layer_loss,
        ("TwoLayerNet",),
    ),
    Check(
        "TwoLayerNet.numerical_gradient",
        "net.numerical_gradient(x, t) matches jax.grad for W1, b1, W2, b2 and leaves params unchanged",
        two_layer_numerical_gradient,
        ("TwoLayerNet",),
        precondition=_has_method("numerical_gradient"),
    ),
    Check(
        "TwoLayerNet.accuracy",
        "net.accuracy(x, t) with one-hot t is the fraction of samples whose argmax is right",
        two_layer_accuracy,
        ("TwoLayerNet",),
        precondition=_has_method("accuracy"),
    ),
    Check(
        "TwoLayerNet.accuracy_labels",
        "net.accuracy(x, t) accepts integer labels t (N,) and gives the same fraction",
        two_layer_accuracy,
        ("TwoLayerNet",),
        {"targets": "labels"},
        precondition=_has_method("accuracy"),
    ),
    Check(
        "TwoLayerNet.gradient",
        "net.gradient(x, t) (backpropagation) matches jax.grad of the loss without delta",
        two_layer_backprop_gradient,
        ("TwoLayerNet",),
        precondition=_has_method("gradient"),
    ),
)


def listing(checks=CHECKS) -> str:
    """Every check's name and, indented below it, its property (``--list``)."""
    return "".join(f"{check.name}\n    {check.statement}\n" for check in checks)


def check_named(name: str) -> Check:
    for check in CHECKS:
        if check.name == name:
            return check
    raise KeyError(name)
