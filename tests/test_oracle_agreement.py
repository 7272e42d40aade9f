"""The implementation against jax.grad, on hypothesis-generated shapes, weights and inputs.

Each comparison's tolerance is a formula from tests/tolerances.py fed with the error
model of tests/functions.py; none is a constant tuned to pass.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from . import oracle
from .functions import (
    DERIVATIVE_BOUNDS,
    DESCENT_OBJECTIVES,
    GRADIENT_TERMS,
    LSE_D3,
    MODEL_LOSSES,
    SMOOTH_FUNCTIONS,
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
    STENCILS,
    central_difference_bound,
    complex_step_bound,
    descent_bound,
    same_formula_bound,
    scheme_bound,
    stencil_reach,
)

H = 1e-4  # the book's step, the implementations' default


def assert_within(actual, expected, bound, what):
    """Elementwise |actual - expected| <= bound, with a report that names the worst element."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (
        f"{what}: shape {actual.shape} != oracle's {expected.shape}"
    )
    error = np.abs(actual - expected)
    bound = np.broadcast_to(bound, error.shape)
    if np.all(error <= bound):
        return
    worst = np.unravel_index(np.argmax(error - bound), error.shape) if error.ndim else ()
    raise AssertionError(
        f"{what}: |actual - oracle| exceeds the error bound at index {worst}: "
        f"actual={actual[worst]!r}, oracle={expected[worst]!r}, error={error[worst]:.3g}, "
        f"bound={bound[worst]:.3g} ({int(np.sum(error > bound))} of {error.size} elements over)"
    )


# -- numerical_gradient on smooth functions of arrays of any rank --------------------------


@pytest.mark.parametrize("name", sorted(SMOOTH_FUNCTIONS))
@given(data=st.data())
def test_numerical_gradient_matches_jax_grad(impl, name, data):
    """numerical_gradient(f, x) = ∇f(x) within h²M3/6 + kεS/h, for x of rank 0 to 4."""
    fn = SMOOTH_FUNCTIONS[name]
    shape = data.draw(array_shapes(), label="shape")
    x = data.draw(finite_arrays(shape, fn.low, fn.high), label="x")
    before = x.copy()
    numeric = impl.numerical_gradient(fn.numpy, x)
    assert x.tobytes() == before.tobytes(), "x changed"
    exact = oracle.smooth_gradient(name, x)
    # Magnitudes are taken at |x| + h: rounding acts on f at the perturbed points.
    bound = central_difference_bound(
        H, fn.third_derivative_bound(x, H), fn.magnitude(np.abs(x) + H), exact, x
    )
    assert_within(numeric, exact, bound, f"numerical_gradient({name})")


@pytest.mark.parametrize("kind", sorted(MODEL_LOSSES))
@given(data=st.data())
def test_numerical_gradient_of_model_losses_matches_jax_grad(impl, kind, data):
    """MSE and softmax cross-entropy of linear and two-layer models, as functions of θ."""
    problem = data.draw(model_problems(kind), label="problem")
    theta = data.draw(parameter_vectors(problem), label="theta")
    loss = MODEL_LOSSES[kind]
    numeric = impl.numerical_gradient(lambda th: loss(np, th, problem), theta)
    exact = oracle.model_gradient(kind, theta, problem)
    bound = central_difference_bound(
        H,
        model_third_derivative_bound(kind, theta, problem, H),
        model_magnitude(kind, np.abs(theta) + H, problem),
        exact,
        theta,
    )
    assert_within(numeric, exact, bound, f"numerical_gradient({kind})")


# -- every scheme, with h="auto" -------------------------------------------------------------


def auto_steps(x, order):
    """The issue's rule, typed independently: a power of two near ε^(1/(p+1)) max(|x|, 1)."""
    eps = EPS[np.dtype(np.float64)]
    return np.exp2(np.round(np.log2(eps ** (1 / (order + 1)) * np.maximum(np.abs(x), 1.0))))


@pytest.mark.parametrize("scheme", sorted(STENCILS))
@pytest.mark.parametrize("name", sorted(SMOOTH_FUNCTIONS))
@settings(max_examples=10)
@given(data=st.data())
def test_every_scheme_with_auto_step_matches_jax_grad(impl, name, scheme, data):
    """numerical_gradient(f, x, "auto", scheme=s) = ∇f(x) within the scheme's own bound:
    h^p Σ|w||o|^(p+1) M_(p+1) / (d (p+1)!) + round-off (tests/tolerances.py), with M2, M3,
    M5 or M7 from tests/functions.py over the stencil's reach."""
    fn = SMOOTH_FUNCTIONS[name]
    order = STENCILS[scheme][3]
    shape = data.draw(array_shapes(), label="shape")
    x = data.draw(finite_arrays(shape, fn.low, fn.high), label="x")
    before = x.copy()
    numeric = impl.numerical_gradient(fn.numpy, x, "auto", scheme=scheme)
    assert x.tobytes() == before.tobytes(), "x changed"
    exact = oracle.smooth_gradient(name, x)
    h = auto_steps(x, order)
    reach = stencil_reach(scheme, h)
    derivative = DERIVATIVE_BOUNDS[name](x, reach, order + 1)
    bound = scheme_bound(scheme, h, derivative, fn.magnitude(np.abs(x) + reach), exact, x)
    assert_within(numeric, exact, bound, f"numerical_gradient({name}, 'auto', {scheme})")


@pytest.mark.parametrize("name", sorted(SMOOTH_FUNCTIONS))
@settings(max_examples=15)
@given(data=st.data())
def test_complex_step_matches_jax_grad(impl, name, data):
    """Im f(x + ih) / h with h = ε max(|x|, 1): within h² M3 / 3 + k ε G of ∇f (no 1/h)."""
    fn = SMOOTH_FUNCTIONS[name]
    shape = data.draw(array_shapes(), label="shape")
    x = data.draw(finite_arrays(shape, fn.low, fn.high), label="x")
    before = x.copy()
    numeric = impl.numerical_gradient(fn.numpy, x, "auto", scheme="complex_step")
    assert x.tobytes() == before.tobytes(), "x changed"
    exact = oracle.smooth_gradient(name, x)
    h = EPS[np.dtype(np.float64)] * np.maximum(np.abs(x), 1.0)
    bound = complex_step_bound(h, fn.third_derivative_bound(x, h), GRADIENT_TERMS[name](x))
    assert_within(numeric, exact, bound, f"numerical_gradient({name}, complex_step)")


#: The issue's accuracy goals on this corpus, in float64 (scheme, h, goal).  The relative
#: error is max_i |numeric_i - exact_i| / max(|exact_i|, 1): relative where a gradient
#: element is at least 1, absolute below (a relative error of an element near 0 is noise
#: over nothing for any scheme).
ACCURACY_GOALS = [
    ("central", 1e-4, 1e-7),
    ("richardson", "auto", 1e-10),
    ("complex_step", "auto", 1e-14),
]


@pytest.mark.parametrize("scheme, h, goal", ACCURACY_GOALS, ids=[g[0] for g in ACCURACY_GOALS])
@pytest.mark.parametrize("name", sorted(SMOOTH_FUNCTIONS))
@settings(max_examples=10)
@given(data=st.data())
def test_accuracy_goals(impl, name, scheme, h, goal, data):
    fn = SMOOTH_FUNCTIONS[name]
    shape = data.draw(array_shapes(), label="shape")
    x = data.draw(finite_arrays(shape, fn.low, fn.high), label="x")
    numeric = impl.numerical_gradient(fn.numpy, x, h, scheme=scheme)
    exact = oracle.smooth_gradient(name, x)
    relative = float(np.max(np.abs(numeric - exact) / np.maximum(np.abs(exact), 1.0)))
    assert relative <= goal, f"{scheme} at h={h}: relative error {relative:.3g} > goal {goal:g}"


# -- losses ---------------------------------------------------------------------------------


@given(data=st.data())
def test_cross_entropy_matches_jax_in_both_target_forms(impl, data):
    """Batched CE with labels and with one-hot rows equals the JAX CE, and each other."""
    batch = data.draw(st.integers(1, 6), label="batch")
    classes = data.draw(st.integers(2, 6), label="classes")
    y = data.draw(probability_rows(batch, classes), label="y")
    t = data.draw(labels(batch, classes), label="t")
    t_hot = one_hot_labels(t, classes)
    expected = oracle.cross_entropy(y, t)
    # Each per-sample term is -log(y_t + δ), <= -log(1e-7) ≈ 16; the mean adds `batch` terms.
    magnitude = np.mean(-np.log(y[np.arange(batch), t] + 1e-7)) + 1.0
    bound = same_formula_bound(batch, magnitude)
    from_labels = impl.cross_entropy_error(y, t)
    from_one_hot = impl.cross_entropy_error(y, t_hot)
    assert_within(from_labels, expected, bound, "cross_entropy_error(y, labels)")
    assert_within(from_one_hot, expected, bound, "cross_entropy_error(y, one_hot)")
    assert_within(from_labels, from_one_hot, bound, "labels vs one-hot")


@given(data=st.data())
def test_one_sample_equals_a_batch_of_one(impl, data):
    """A 1-D sample gives the loss of the same sample as a batch of one (both target forms)."""
    classes = data.draw(st.integers(2, 6), label="classes")
    y = data.draw(probability_rows(None, classes), label="y")
    t = data.draw(labels(None, classes), label="t")
    t_hot = one_hot_labels(t, classes)
    single = impl.cross_entropy_error(y, t_hot)
    assert_within(
        single, impl.cross_entropy_error(y[None, :], t_hot[None, :]), 0.0, "CE of (K,) vs (1, K)"
    )
    assert_within(
        single, impl.cross_entropy_error(y[None, :], np.atleast_1d(t)), 0.0, "CE of a label"
    )
    assert_within(
        single,
        oracle.cross_entropy(y, t_hot),
        same_formula_bound(1, -np.log(y[t] + 1e-7) + 1),
        "CE vs JAX",
    )


@given(data=st.data())
def test_mean_squared_error_matches_jax(impl, data):
    """MSE (mean over samples of ½Σ(y - t)²) equals the JAX formula; 1-D equals a batch of one."""
    batch = data.draw(st.integers(1, 6), label="batch")
    classes = data.draw(st.integers(2, 6), label="classes")
    y = data.draw(probability_rows(batch, classes), label="y")
    t = one_hot_labels(data.draw(labels(batch, classes), label="t"), classes)
    bound = same_formula_bound(batch * classes, np.sum((y - t) ** 2) / batch + 1)
    assert_within(impl.mean_squared_error(y, t), oracle.mean_squared_error(y, t), bound, "MSE")
    assert_within(
        impl.mean_squared_error(y[0], t[0]),
        impl.mean_squared_error(y[:1], t[:1]),
        0.0,
        "MSE 1-D vs batch",
    )


@given(data=st.data())
def test_softmax_matches_jax(impl, data):
    """softmax over the last axis, any leading shape, logits up to ±700 (exp would overflow unshifted)."""
    shape = data.draw(array_shapes(min_dims=1, max_dims=3, max_side=5), label="shape")
    a = data.draw(finite_arrays(shape, -700.0, 700.0), label="logits")
    # Both shift by the row max, exp (<= 1 ulp) and divide by a sum of <= 5 terms in [1, 5].
    bound = same_formula_bound(shape[-1], 1.0 + np.abs(a - a.max(axis=-1, keepdims=True)))
    assert_within(
        impl.softmax(a),
        oracle.softmax(a),
        bound * oracle.softmax(a) + EPS[np.dtype(np.float64)],
        "softmax",
    )


# -- gradient descent ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DESCENT_OBJECTIVES))
@given(data=st.data())
def test_gradient_descent_matches_descent_on_jax_grad(impl, name, data):
    """gradient_descent(f, x0, lr, steps) = the same steps driven by jax.grad, within the
    accumulated numerical-gradient error, and init_x is left bit-identical."""
    shape = data.draw(array_shapes(min_dims=1, max_dims=2), label="shape")
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
    before = x0.copy()
    objective = DESCENT_OBJECTIVES[name]
    result = impl.gradient_descent(lambda x: objective(np, x, A, b), x0, lr=lr, step_num=steps)
    assert x0.tobytes() == before.tobytes(), "init_x changed"
    expected = oracle.descent(name, x0, A, b, lr, steps)
    # Along the way |x| stays within |x0| + |b|/λmin-ish; bound the magnitude f's rounding
    # acts on by its value at the larger of the start and the oracle's end (convex f, descent).
    reach = max(np.abs(x0).max(), np.abs(expected).max()) + 1
    magnitude = 0.5 * n * n * reach**2 * max(lipschitz, 1) + n * reach + np.log(n) + reach
    per_element = central_difference_bound(H, third, magnitude)
    bound = (
        descent_bound(steps, lr, float(np.sqrt(n) * per_element))
        + 4 * EPS[np.dtype(np.float64)] * reach
    )
    assert_within(result, expected, bound, f"gradient_descent({name})")


# -- TwoLayerNet ------------------------------------------------------------------------------


def _net(impl, params):
    d, hidden = params["W1"].shape
    net = impl.TwoLayerNet(d, hidden, params["W2"].shape[1])
    for key, value in params.items():
        net.params[key] = value.copy()
    return net


@given(data=st.data())
def test_two_layer_net_numerical_gradient_matches_jax_grad(impl, data):
    """TwoLayerNet.numerical_gradient = jax.grad of the same loss (CE with delta = 1e-7)."""
    params, x, t = data.draw(two_layer_params(), label="network")
    net = _net(impl, params)
    numeric = net.numerical_gradient(x, t)
    expected = oracle.two_layer_gradient(params, x, t, delta=1e-7)
    for key in params:
        assert np.array_equal(net.params[key], params[key]), f"params[{key!r}] changed"
    theta = np.concatenate([params[k].ravel() for k in ("W1", "b1", "W2", "b2")])
    from .functions import ModelProblem

    problem = ModelProblem(
        x,
        one_hot_labels(t, params["W2"].shape[1]),
        tuple(params[k].shape for k in ("W1", "b1", "W2", "b2")),
    )
    # The model bound is for CE without delta.  With every y_t >= e^-10 / 4 (weights and
    # inputs in [-1, 1], hidden <= 4), delta shifts each derivative of -log(y_t + δ) by a
    # relative δ / y_t <= 1e-7 · 4 e^10 < 0.01: a 1% allowance on M3 covers it.
    m3 = 1.01 * model_third_derivative_bound("two_layer_ce", theta, problem, H)
    exact = np.concatenate([expected[k].ravel() for k in ("W1", "b1", "W2", "b2")])
    magnitude = model_magnitude("two_layer_ce", np.abs(theta) + H, problem)
    bound = central_difference_bound(H, m3, magnitude, exact, theta)
    parts = problem.unflatten(np, bound)
    for key, part in zip(("W1", "b1", "W2", "b2"), parts, strict=True):
        assert_within(numeric[key], expected[key], part, f"TwoLayerNet.numerical_gradient {key}")


@given(data=st.data())
def test_two_layer_net_gradient_matches_jax_grad_without_delta(impl, data):
    """TwoLayerNet.gradient (backprop, y - t) = jax.grad of the loss with delta = 0."""
    params, x, t = data.draw(two_layer_params(), label="network")
    net = _net(impl, params)
    analytic = net.gradient(x, t)
    expected = oracle.two_layer_gradient(params, x, t, delta=0.0)
    # Every entry is a sum over <= N·K (<= 16) products of factors bounded by 1 (z, σ', x)
    # and |y - t| / N <= 1/N, times weights <= 1 and up to H = 4 hidden paths:
    # the sum of absolute terms is <= K·H <= 16.
    n_terms = x.shape[0] * params["W2"].shape[1] * params["W1"].shape[1]
    bound = same_formula_bound(n_terms, 16.0)
    for key in params:
        assert_within(analytic[key], expected[key], bound, f"TwoLayerNet.gradient {key}")


@given(data=st.data())
def test_two_layer_net_gradient_differs_from_delta_loss_by_delta_over_y(impl, data):
    """Backprop omits delta: against jax.grad of the loss *with* delta it differs by about
    δ / y_t relative, and by no more than δ / min y_t times the gradient's scale."""
    params, x, t = data.draw(two_layer_params(), label="network")
    net = _net(impl, params)
    analytic = net.gradient(x, t)
    with_delta = oracle.two_layer_gradient(params, x, t, delta=1e-7)
    y_true = net.predict(x)[np.arange(x.shape[0]), t]
    # ∂/∂a of -log(y_t + δ) is (y - t) scaled on the true class by y_t / (y_t + δ): the
    # difference per sample is δ/(y_t + δ) (y - e_t) ... <= δ / y_t, carried through the
    # same weights as the gradient (scale <= 16, see above).
    bound = 1e-7 / np.min(y_true) * 16 + same_formula_bound(16, 16.0)
    for key in params:
        assert_within(analytic[key], with_delta[key], bound, f"gradient vs delta loss {key}")
