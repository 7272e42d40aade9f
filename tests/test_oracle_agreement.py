"""refnet against jax.grad, on hypothesis-generated shapes, weights and inputs.

The properties themselves live in refnet/conformance/checks/__init__.py, where the conformance
runner points them at any implementation of the chapter; here they run against refnet
over its wider domain: arrays of rank 0 to 4, logits up to ±700, label targets.  Each
comparison's tolerance is a formula from refnet/conformance/tolerances.py fed with the
error model of refnet/conformance/functions.py; none is a constant tuned to pass.  A failure prints the reproduction of the smallest failing example.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refnet
from refnet.conformance import checks, oracle
from refnet.conformance.checks.case import Case, assert_within  # noqa: F401 (assert_within: shared)
from refnet.conformance.finding.target import Target
from refnet.conformance.functions import (
    DERIVATIVE_BOUNDS,
    DESCENT_OBJECTIVES,
    GRADIENT_TERMS,
    MODEL_LOSSES,
    SMOOTH_FUNCTIONS,
)
from refnet.conformance.strategies import (
    array_shapes,
    finite_arrays,
    labels,
    one_hot_labels,
    probability_rows,
    two_layer_params,
)
from refnet.conformance.tolerances import (
    EPS,
    STENCILS,
    complex_step_bound,
    same_formula_bound,
    scheme_bound,
    stencil_reach,
)

H = 1e-4  # the book's step, the implementations' default


@pytest.fixture(scope="module")
def target():
    """The implementation under test as a conformance target (its names, found once)."""
    return Target.from_module(refnet)


# -- numerical_gradient on smooth functions of arrays of any rank --------------------------


@pytest.mark.parametrize("name", sorted(SMOOTH_FUNCTIONS))
@given(data=st.data())
def test_numerical_gradient_matches_jax_grad(target, name, data):
    """numerical_gradient(f, x) = ∇f(x) within h²M3/6 + kεS/h, for x of rank 0 to 4, and x
    is bit-identical afterwards."""
    shapes = {"min_dims": 0, "max_dims": 4, "max_side": 3, "function": name}
    checks.smooth_gradient(Case(target), data, **shapes)
    checks.gradient_leaves_x_unchanged(Case(target), data, **shapes)


@pytest.mark.parametrize("kind", sorted(MODEL_LOSSES))
@given(data=st.data())
def test_numerical_gradient_of_model_losses_matches_jax_grad(target, kind, data):
    """MSE and softmax cross-entropy of linear and two-layer models, as functions of θ."""
    checks.model_loss_gradient(Case(target), data, kind=kind)


# -- every scheme, with h="auto" -------------------------------------------------------------


def auto_steps(x, order):
    """The issue's rule, typed independently: a power of two near ε^(1/(p+1)) max(|x|, 1)."""
    eps = EPS[np.dtype(np.float64)]
    return np.exp2(np.round(np.log2(eps ** (1 / (order + 1)) * np.maximum(np.abs(x), 1.0))))


@pytest.mark.parametrize("scheme", sorted(STENCILS))
@pytest.mark.parametrize("name", sorted(SMOOTH_FUNCTIONS))
@settings(max_examples=10)
@given(data=st.data())
def test_every_scheme_with_auto_step_matches_jax_grad(name, scheme, data):
    """numerical_gradient(f, x, "auto", scheme=s) = ∇f(x) within the scheme's own bound:
    h^p Σ|w||o|^(p+1) M_(p+1) / (d (p+1)!) + round-off (refnet/conformance/tolerances.py), with M2, M3,
    M5 or M7 from refnet/conformance/functions.py over the stencil's reach."""
    fn = SMOOTH_FUNCTIONS[name]
    order = STENCILS[scheme][3]
    shape = data.draw(array_shapes(), label="shape")
    x = data.draw(finite_arrays(shape, fn.low, fn.high), label="x")
    before = x.copy()
    numeric = refnet.numerical_gradient(fn.numpy, x, "auto", scheme=scheme)
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
def test_complex_step_matches_jax_grad(name, data):
    """Im f(x + ih) / h with h = ε max(|x|, 1): within h² M3 / 3 + k ε G of ∇f (no 1/h)."""
    fn = SMOOTH_FUNCTIONS[name]
    shape = data.draw(array_shapes(), label="shape")
    x = data.draw(finite_arrays(shape, fn.low, fn.high), label="x")
    before = x.copy()
    numeric = refnet.numerical_gradient(fn.numpy, x, "auto", scheme="complex_step")
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
def test_accuracy_goals(name, scheme, h, goal, data):
    fn = SMOOTH_FUNCTIONS[name]
    shape = data.draw(array_shapes(), label="shape")
    x = data.draw(finite_arrays(shape, fn.low, fn.high), label="x")
    numeric = refnet.numerical_gradient(fn.numpy, x, h, scheme=scheme)
    exact = oracle.smooth_gradient(name, x)
    relative = float(np.max(np.abs(numeric - exact) / np.maximum(np.abs(exact), 1.0)))
    assert relative <= goal, f"{scheme} at h={h}: relative error {relative:.3g} > goal {goal:g}"


# -- losses ---------------------------------------------------------------------------------


@given(data=st.data())
def test_cross_entropy_matches_jax_in_both_target_forms(target, data):
    """Batched CE with labels and with one-hot rows equals the JAX CE, and each other."""
    checks.cross_entropy_value(Case(target), data, targets="labels")
    checks.cross_entropy_value(Case(target), data, targets="one_hot")
    checks.cross_entropy_target_forms(Case(target), data)


@given(data=st.data())
def test_one_sample_equals_a_batch_of_one(data):
    """A 1-D sample gives the loss of the same sample as a batch of one (both target forms)."""
    classes = data.draw(st.integers(2, 6), label="classes")
    y = data.draw(probability_rows(None, classes), label="y")
    t = data.draw(labels(None, classes), label="t")
    t_hot = one_hot_labels(t, classes)
    single = refnet.cross_entropy_error(y, t_hot)
    assert_within(
        single, refnet.cross_entropy_error(y[None, :], t_hot[None, :]), 0.0, "CE of (K,) vs (1, K)"
    )
    assert_within(
        single, refnet.cross_entropy_error(y[None, :], np.atleast_1d(t)), 0.0, "CE of a label"
    )
    assert_within(
        single,
        oracle.cross_entropy(y, t_hot),
        same_formula_bound(1, -np.log(y[t] + 1e-7) + 1),
        "CE vs JAX",
    )


@given(data=st.data())
def test_mean_squared_error_matches_jax(target, data):
    """MSE (mean over samples of ½Σ(y - t)²) equals the JAX formula; 1-D equals a batch of one."""
    checks.squared_error_value(Case(target), data, function="mean_squared_error")
    checks.squared_error_value(Case(target), data, function="mean_squared_error", batch=False)
    batch = data.draw(st.integers(1, 6), label="batch")
    classes = data.draw(st.integers(2, 6), label="classes")
    y = data.draw(probability_rows(batch, classes), label="y")
    t = one_hot_labels(data.draw(labels(batch, classes), label="t"), classes)
    assert_within(
        refnet.mean_squared_error(y[0], t[0]),
        refnet.mean_squared_error(y[:1], t[:1]),
        0.0,
        "MSE 1-D vs batch",
    )


@given(data=st.data())
def test_softmax_matches_jax(target, data):
    """softmax over the last axis, any leading shape, logits up to ±700 (exp would overflow unshifted)."""
    checks.softmax_values(
        Case(target), data, min_dims=1, max_dims=3, max_side=5, low=-700.0, high=700.0
    )


# -- gradient descent ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DESCENT_OBJECTIVES))
@given(data=st.data())
def test_gradient_descent_matches_descent_on_jax_grad(target, name, data):
    """gradient_descent(f, x0, lr, steps) = the same steps driven by jax.grad, within the
    accumulated numerical-gradient error, and init_x is left bit-identical."""
    checks.descent_matches_jax(Case(target), data, objective=name, max_dims=2)
    checks.descent_leaves_init_x_unchanged(Case(target), data, max_dims=2)


# -- TwoLayerNet ------------------------------------------------------------------------------


def _net(params):
    d, hidden = params["W1"].shape
    net = refnet.TwoLayerNet(d, hidden, params["W2"].shape[1])
    for key, value in params.items():
        net.params[key] = value.copy()
    return net


@given(data=st.data())
def test_two_layer_net_numerical_gradient_matches_jax_grad(target, data):
    """TwoLayerNet.numerical_gradient = jax.grad of the same loss (CE with delta = 1e-7),
    with label targets, and params unchanged afterwards."""
    checks.two_layer_numerical_gradient(Case(target), data, targets="labels")


@given(data=st.data())
def test_two_layer_net_gradient_matches_jax_grad_without_delta(target, data):
    """TwoLayerNet.gradient (backprop, y - t) = jax.grad of the loss with delta = 0."""
    checks.two_layer_backprop_gradient(Case(target), data, targets="labels")


@given(data=st.data())
def test_two_layer_net_gradient_differs_from_delta_loss_by_delta_over_y(data):
    """Backprop omits delta: against jax.grad of the loss *with* delta it differs by about
    δ / y_t relative, and by no more than δ / min y_t times the gradient's scale."""
    params, x, t = data.draw(two_layer_params(), label="network")
    net = _net(params)
    analytic = net.gradient(x, t)
    with_delta = oracle.two_layer_gradient(params, x, t, delta=1e-7)
    y_true = net.predict(x)[np.arange(x.shape[0]), t]
    # ∂/∂a of -log(y_t + δ) is (y - t) scaled on the true class by y_t / (y_t + δ): the
    # difference per sample is δ/(y_t + δ) (y - e_t) ... <= δ / y_t, carried through the
    # same weights as the gradient (scale <= 16, see above).
    bound = 1e-7 / np.min(y_true) * 16 + same_formula_bound(16, 16.0)
    for key in params:
        assert_within(analytic[key], with_delta[key], bound, f"gradient vs delta loss {key}")
