"""The implementation against jax.grad, on hypothesis-generated shapes, weights and inputs.

The properties themselves live in refnet/conformance/checks.py, where the conformance
runner points them at any implementation of the chapter; here they run against the
implementation under test (the ``impl`` fixture) over refnet's wider domain: arrays of
rank 0 to 4, logits up to ±700, label targets.  Each comparison's tolerance is a formula
from tolerances.py fed with the error model of functions.py; none is a constant tuned to
pass.  A failure prints the reproduction of the smallest failing example.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refnet.conformance import checks
from refnet.conformance.case import Case, assert_within  # noqa: F401 (assert_within: shared)
from refnet.conformance.target import Target

from . import oracle
from .functions import DESCENT_OBJECTIVES, MODEL_LOSSES, SMOOTH_FUNCTIONS
from .strategies import labels, one_hot_labels, probability_rows, two_layer_params
from .tolerances import same_formula_bound

H = 1e-4  # the book's step, the implementations' default


@pytest.fixture(scope="module")
def target(impl):
    """The implementation under test as a conformance target (its names, found once)."""
    return Target.from_module(impl)


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


# -- losses ---------------------------------------------------------------------------------


@given(data=st.data())
def test_cross_entropy_matches_jax_in_both_target_forms(target, data):
    """Batched CE with labels and with one-hot rows equals the JAX CE, and each other."""
    checks.cross_entropy_value(Case(target), data, targets="labels")
    checks.cross_entropy_value(Case(target), data, targets="one_hot")
    checks.cross_entropy_target_forms(Case(target), data)


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
def test_mean_squared_error_matches_jax(impl, target, data):
    """MSE (mean over samples of ½Σ(y - t)²) equals the JAX formula; 1-D equals a batch of one."""
    checks.squared_error_value(Case(target), data, function="mean_squared_error")
    checks.squared_error_value(Case(target), data, function="mean_squared_error", batch=False)
    batch = data.draw(st.integers(1, 6), label="batch")
    classes = data.draw(st.integers(2, 6), label="classes")
    y = data.draw(probability_rows(batch, classes), label="y")
    t = one_hot_labels(data.draw(labels(batch, classes), label="t"), classes)
    assert_within(
        impl.mean_squared_error(y[0], t[0]),
        impl.mean_squared_error(y[:1], t[:1]),
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


def _net(impl, params):
    d, hidden = params["W1"].shape
    net = impl.TwoLayerNet(d, hidden, params["W2"].shape[1])
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
