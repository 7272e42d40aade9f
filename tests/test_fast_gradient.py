"""The fast numerical gradients: the same central differences as the reference loop.

Two fast paths are checked here:

* ``TwoLayerNet.numerical_gradient(method="fast")`` (the network-aware path, the default)
  against the reference loop (``method="loop"``), against an extended-precision evaluation
  of the same central difference, and against jax.grad; and inside it, the evaluation by
  short series (both layouts of the perturbations, dense and padded) against the exact
  evaluation it falls back to, and the fallback itself;
* ``numerical_gradient(f, x, vectorized=True)`` against the loop, bit for bit when f
  computes each row of the stack as it computes a single point.

Tolerances are formulas of refnet/conformance/tolerances.py, derived from the error model.
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import refnet
from refnet.conformance import oracle
from refnet.conformance.checks.case import assert_within
from refnet.conformance.functions import (
    SMOOTH_FUNCTIONS,
    ModelProblem,
    model_magnitude,
    model_third_derivative_bound,
)
from refnet.conformance.strategies import (
    array_shapes,
    finite_arrays,
    one_hot_labels,
    probability_rows,
    two_layer_params,
)
from refnet.conformance.tolerances import (
    EPS,
    ROUNDING_STAGES,
    central_difference_bound,
    fast_vs_loop_bound,
    reorganised_difference_bound,
)
from refnet.engine import fast_gradient
from refnet.engine.fast_gradient import series

H = 1e-4
NAMES = ("W1", "b1", "W2", "b2")


def _net(params):
    d, hidden = params["W1"].shape
    net = refnet.TwoLayerNet(d, hidden, params["W2"].shape[1])
    for key, value in params.items():
        net.params[key] = value.copy()
    return net


@st.composite
def networks(draw, max_side=4, weight=1.0, bias_floor=0.0, zeros=False, multi_hot=False):
    """A small TwoLayerNet problem with labels, one-hot rows or probability rows as targets.

    ``zeros``: some inputs set to 0, as in images (the padded layout skips them).
    ``multi_hot``: also rows of 0s and 1s with more than one 1 (the book's loss accepts
    them, with a TargetWarning): exactly 0/1 like one-hot rows, but not to be read as labels.
    """
    params, x, t = draw(
        two_layer_params(max_side=max_side, weight=weight, bias_floor=bias_floor), label="network"
    )
    if zeros:
        mask = draw(hnp.arrays(np.bool_, x.shape), label="zero inputs")
        x = np.where(mask, 0.0, x)
    classes = params["W2"].shape[1]
    forms = ["labels", "one-hot", "probability rows", *(["multi-hot"] if multi_hot else [])]
    form = draw(st.sampled_from(forms), label="targets")
    if form == "one-hot":
        t = one_hot_labels(t, classes)
    elif form == "multi-hot":
        more = draw(hnp.arrays(np.bool_, (x.shape[0], classes)), label="more ones")
        rows = np.maximum(one_hot_labels(t, classes), more)
        rows[0, (t[0] + 1) % classes] = 1.0  # at least one row with two 1s (given 2 classes)
        t = rows
    elif form == "probability rows":
        t = draw(probability_rows(x.shape[0], classes), label="t")
    delta = draw(st.sampled_from([0.0, 1e-7]), label="delta")
    return params, x, t, delta


def _problem(params, x, t):
    classes = params["W2"].shape[1]
    t_rows = one_hot_labels(t, classes) if t.ndim == 1 else t
    return ModelProblem(x, t_rows, tuple(params[k].shape for k in NAMES))


def _theta(params):
    return np.concatenate([params[k].ravel() for k in NAMES])


def _gradient_scale(params, x):
    """G: a bound on each sample's contribution to any entry of the gradient.

    W1[i, j] (b1: x = 1): |x_ni| σ' |Σ_k (p_k - t_k) W2_jk| <= max|x| / 4 * 2 max|W2|;
    W2[j, k] (b2: z = 1): |z_nj (p_k - t_k)| <= 1.  The delta factor p_t / (p_t + δ) <= 1.
    """
    return max(1.0, float(np.max(np.abs(x)))) * max(1.0, float(np.max(np.abs(params["W2"]))))


def _target_weight(t):
    """w: the largest row sum of the targets (1 for labels and distributions).  A row of
    weight w makes the loss a sum of w log-probability terms: S and G grow by w each."""
    return 1.0 if t.ndim == 1 else max(1.0, float(np.max(np.sum(t, axis=1))))


def _split(params, flat):
    sizes = np.cumsum([params[k].size for k in NAMES])[:-1]
    return {
        k: part.reshape(params[k].shape)
        for k, part in zip(NAMES, np.split(flat, sizes), strict=True)
    }


# -- the network-aware path against the reference loop -------------------------------------


@given(data=st.data())
def test_fast_equals_the_loop_within_the_loops_round_off(data):
    """|fast - loop| <= k ε S / h + k ε S G for every entry, every target form and delta
    (multi-hot rows included: read as labels, they would put the fast path far off)."""
    params, x, t, delta = data.draw(networks(multi_hot=True))
    net = _net(params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", refnet.TargetWarning)  # multi-hot rows, as documented
        fast = net.numerical_gradient(x, t, delta=delta)
        loop = net.numerical_gradient(x, t, delta=delta, method="loop")
    w = _target_weight(t)
    magnitude = model_magnitude("two_layer_ce", np.abs(_theta(params)) + H, _problem(params, x, t))
    bound = fast_vs_loop_bound(H, w * magnitude, w * _gradient_scale(params, x))
    for key in NAMES:
        assert fast[key].shape == params[key].shape and fast[key].dtype == params[key].dtype
        assert_within(fast[key], loop[key], bound, f"fast vs loop, {key}")
        assert net.params[key].tobytes() == params[key].tobytes(), f"params[{key!r}] changed"


@settings(max_examples=20)
@given(data=st.data())
def test_fast_equals_the_loop_with_per_element_steps(data):
    """h="auto" (a step per element, from each parameter's magnitude) takes the fast path too.

    The same bound as for one step, at the smallest step used: the loop's round-off
    k ε S / h is largest there.
    """
    params, x, t, delta = data.draw(networks())
    net = _net(params)
    fast = net.numerical_gradient(x, t, delta=delta, h="auto")
    loop = net.numerical_gradient(x, t, delta=delta, h="auto", method="loop")
    steps = np.concatenate([refnet.auto_step(params[k]).ravel() for k in NAMES])
    problem = _problem(params, x, t)
    magnitude = model_magnitude("two_layer_ce", np.abs(_theta(params)) + steps.max(), problem)
    bound = fast_vs_loop_bound(steps.min(), magnitude, _gradient_scale(params, x))
    for key in NAMES:
        assert_within(fast[key], loop[key], bound, f"fast vs loop, h='auto', {key}")


def _extended_loss(params, x, t, delta):
    """The loss in long double (64-bit mantissa on x86): the chapter's formula, nothing else."""
    ld = np.longdouble
    W1, b1, W2, b2 = (params[k].astype(ld) for k in NAMES)
    z = 1 / (1 + np.exp(-(x.astype(ld) @ W1 + b1)))
    a = z @ W2 + b2
    e = np.exp(a - a.max(axis=1, keepdims=True))
    y = e / e.sum(axis=1, keepdims=True)
    rows = np.eye(W2.shape[1])[t] if t.ndim == 1 else t
    terms = np.where(rows > 0, rows.astype(ld) * np.log(y + ld(delta)), ld(0))
    return -terms.sum() / ld(x.shape[0])


def _extended_central_difference(params, x, t, delta, h=H):
    """(L(θ + h e_i) - L(θ - h e_i)) / 2h at the loop's stored float64 points, in long double."""
    result = {}
    for key in NAMES:
        grad = np.zeros(params[key].shape, dtype=np.longdouble)
        for index in np.ndindex(params[key].shape):
            moved = {k: v.copy() for k, v in params.items()}
            moved[key][index] = params[key][index] + h
            plus = _extended_loss(moved, x, t, delta)
            moved[key][index] = params[key][index] - h
            minus = _extended_loss(moved, x, t, delta)
            grad[index] = (plus - minus) / np.longdouble(2 * h)
        result[key] = grad
    return result


LONG_DOUBLE_EPS = float(np.finfo(np.longdouble).eps)


@pytest.mark.skipif(LONG_DOUBLE_EPS > 1e-18, reason="long double is not extended precision here")
@given(data=st.data())
def test_fast_is_the_central_difference_to_a_few_ulps(data):
    """The fast path's own error is k ε S G, without the loop's 1/h.

    Against the same central difference evaluated in long double (ε ≈ 1.1e-19, whose own
    round-off k ε_ld S / h is counted in the bound).  The loop misses this bound by one to two
    orders of magnitude: its error is k ε S / h.
    """
    params, x, t, delta = data.draw(networks())
    net = _net(params)
    fast = net.numerical_gradient(x, t, delta=delta)
    extended = _extended_central_difference(params, x, t, delta)
    magnitude = model_magnitude("two_layer_ce", np.abs(_theta(params)) + H, _problem(params, x, t))
    bound = (
        reorganised_difference_bound(magnitude, _gradient_scale(params, x))
        + ROUNDING_STAGES * LONG_DOUBLE_EPS * magnitude / H
    )
    for key in NAMES:
        assert_within(
            fast[key], extended[key].astype(np.float64), bound, f"fast vs long double, {key}"
        )


# Each new shape costs JAX a compilation: fewer examples here, since
# test_oracle_agreement already runs the default (fast) method on 40 label problems.
@settings(max_examples=20)
@given(data=st.data())
def test_both_methods_match_jax_grad(data):
    """Either method = jax.grad of the same loss within h² M3 / 6 + k ε S / h (+ placement)."""
    params, x, t, delta = data.draw(networks())
    net = _net(params)
    expected = oracle.two_layer_gradient(params, x, t, delta=delta)
    problem = _problem(params, x, t)
    theta = _theta(params)
    # As in test_oracle_agreement: M3 is derived for delta = 0; with every y_t >= e^-10 / 4
    # the delta changes each derivative by a relative δ / y_t < 0.01.
    m3 = 1.01 * model_third_derivative_bound("two_layer_ce", theta, problem, H)
    exact = np.concatenate([expected[k].ravel() for k in NAMES])
    magnitude = model_magnitude("two_layer_ce", np.abs(theta) + H, problem)
    bound = _split(params, central_difference_bound(H, m3, magnitude, exact, theta))
    for method in ("fast", "loop"):
        numeric = net.numerical_gradient(x, t, delta=delta, method=method)
        for key in NAMES:
            assert_within(numeric[key], expected[key], bound[key], f"{method} vs jax.grad, {key}")


def _digits_batch(batch=100):
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    return digits.data[:batch] / 16.0, digits.target[:batch]


def _digits_problem(weight_init_std):
    x, t = _digits_batch()
    net = refnet.TwoLayerNet(64, 50, 10, weight_init_std=weight_init_std, rng=0)
    params = {k: net.params[k] for k in NAMES}
    magnitude = model_magnitude("two_layer_ce", np.abs(_theta(params)) + H, _problem(params, x, t))
    return net, params, x, t, magnitude


def test_digits_network_agrees_with_the_loop_to_1e_8_relative():
    """The issue's requirement, on the digits network (64-50-10, batch 100) with weights of
    the size training reaches (std 1): per parameter, max |fast - loop| <= 1e-8 max |loop|;
    and every entry within the error model's bound."""
    net, params, x, t, magnitude = _digits_problem(1.0)
    before = {k: v.tobytes() for k, v in params.items()}
    fast = net.numerical_gradient(x, t)
    loop = net.numerical_gradient(x, t, method="loop")
    bound = fast_vs_loop_bound(H, magnitude, _gradient_scale(params, x))
    for key in NAMES:
        assert net.params[key].tobytes() == before[key]
        assert_within(fast[key], loop[key], bound, f"digits fast vs loop, {key}")
        worst = np.max(np.abs(fast[key] - loop[key]))
        assert worst <= 1e-8 * np.max(np.abs(loop[key])), (key, worst)


@pytest.mark.skipif(LONG_DOUBLE_EPS > 1e-18, reason="long double is not extended precision here")
def test_digits_network_at_initialisation_fast_is_the_accurate_one():
    """At the book's initialisation (std 0.01) the b1 gradient is only ~2e-4, and the loop's
    own round-off (ε |L| / h ≈ 5e-12) is ~2e-8 of it: there 1e-8 relative agreement with the
    loop is impossible.  The fast path is checked against the long-double central difference
    instead, within k ε S G + k ε_ld S / h (b1 and b2: 60 entries, two evaluations each)."""
    net, params, x, t, magnitude = _digits_problem(0.01)
    fast = net.numerical_gradient(x, t)
    bound = (
        reorganised_difference_bound(magnitude, _gradient_scale(params, x))
        + ROUNDING_STAGES * LONG_DOUBLE_EPS * magnitude / H
    )
    for key in ("b1", "b2"):
        extended = np.zeros(params[key].shape, dtype=np.longdouble)
        for index in np.ndindex(params[key].shape):
            moved = {k: v.copy() for k, v in params.items()}
            moved[key][index] = params[key][index] + H
            plus = _extended_loss(moved, x, t, 1e-7)
            moved[key][index] = params[key][index] - H
            extended[index] = (plus - _extended_loss(moved, x, t, 1e-7)) / np.longdouble(2 * H)
        assert_within(fast[key], extended.astype(np.float64), bound, f"digits at init, {key}")


# -- inside the fast path: the series against the exact evaluation ---------------------------
#
# Layer 1 (and layer 2) evaluate each perturbation's loss change by short series where bounds
# known in advance make them exact to rounding (refnet/engine/fast_gradient/power_series.py), and otherwise by expm1
# and log1p ("exact").  Both are the same central difference of the true loss, each within
# k ε S G of it (reorganised_difference_bound), so they agree within twice that.

LAYOUTS = {"dense": 0.0, "padded": 2.0}  # series.DENSE_FROM forcing each layout


def _direct(params, x, t, delta, evaluation="auto", h=H, **kwargs):
    """two_layer_numerical_gradient as TwoLayerNet.numerical_gradient calls it."""
    steps = {k: np.full(params[k].shape, h) for k in NAMES}
    labels = t.ndim == 1
    return fast_gradient.two_layer_numerical_gradient(
        params, x, t, labels, delta, steps, evaluation=evaluation, **kwargs
    )


def _frozen(params):
    """Read-only copies: any write by the code under test raises."""
    copies = {k: v.copy() for k, v in params.items()}
    for value in copies.values():
        value.setflags(write=False)
    return copies


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@given(data=st.data())
def test_series_equals_the_exact_evaluation(layout, data):
    """Labels, one-hot and probability rows; non-zero biases; inputs with zeros; delta 0 or
    the book's: |series - exact| <= 2 k ε S G, and the parameters are only read."""
    params, x, t, delta = data.draw(networks(bias_floor=0.05, zeros=True, multi_hot=True))
    frozen = _frozen(params)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(series, "DENSE_FROM", LAYOUTS[layout])
        got = _direct(frozen, x, t, delta, evaluation="series")
    exact = _direct(frozen, x, t, delta, evaluation="exact")
    w = _target_weight(t)
    magnitude = model_magnitude("two_layer_ce", np.abs(_theta(params)) + H, _problem(params, x, t))
    bound = 2 * reorganised_difference_bound(w * magnitude, w * _gradient_scale(params, x))
    for key in NAMES:
        assert_within(got[key], exact[key], bound, f"series ({layout}) vs exact, {key}")
        assert frozen[key].tobytes() == params[key].tobytes()


@pytest.mark.skipif(LONG_DOUBLE_EPS > 1e-18, reason="long double is not extended precision here")
@pytest.mark.parametrize("evaluation", ["series, dense", "series, padded", "exact"])
@settings(max_examples=20)
@given(data=st.data())
def test_each_evaluation_is_the_central_difference_to_a_few_ulps(evaluation, data):
    """Against the long-double central difference, within k ε S G + k ε_ld S / h, as above."""
    how, _, layout = evaluation.partition(", ")
    params, x, t, delta = data.draw(networks(bias_floor=0.05, zeros=True))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(series, "DENSE_FROM", LAYOUTS.get(layout, series.DENSE_FROM))
        got = _direct(params, x, t, delta, evaluation=how)
    extended = _extended_central_difference(params, x, t, delta)
    magnitude = model_magnitude("two_layer_ce", np.abs(_theta(params)) + H, _problem(params, x, t))
    bound = (
        reorganised_difference_bound(magnitude, _gradient_scale(params, x))
        + ROUNDING_STAGES * LONG_DOUBLE_EPS * magnitude / H
    )
    for key in NAMES:
        assert_within(got[key], extended[key].astype(np.float64), bound, f"{evaluation}, {key}")


def test_the_series_are_used_at_the_books_step_and_sizes():
    """h = 1e-4, |x| <= 1 and the weights of training: every series applies."""
    assert series.series_plan(1e-4, 3.0) is not None
    assert series.layer2_plan(1e-4) is not None


def _large_step_network():
    """h = 0.05 and |W2| up to 10: no logit moves by more than 0.2 (no loop), but the class
    sums' argument reaches 0.125, beyond what MAX_TERMS terms evaluate to rounding."""
    rng = np.random.default_rng(8)
    params = {
        "W1": rng.uniform(-1, 1, (5, 4)),
        "b1": rng.uniform(-1, 1, 4),
        "W2": rng.uniform(-10, 10, (4, 3)),
        "b2": rng.uniform(-1, 1, 3),
    }
    params["W2"][0, 0] = 10.0
    x = rng.uniform(0, 1, (6, 5))
    return params, x, rng.integers(0, 3, 6)


def test_outside_the_bounds_the_exact_evaluation_is_taken(monkeypatch):
    """No series plan; TwoLayerNet gives exactly evaluation="exact"'s bits, through the exact
    functions only; evaluation="series" refuses; and the loop agrees within its round-off."""
    params, x, t = _large_step_network()
    h = 0.05
    assert series.series_plan(h, 10.0) is None and series.layer2_plan(h) is None
    calls = []
    for name in ("layer1_exact", "layer2_exact", "layer1_series", "layer2_series"):
        original = getattr(fast_gradient, name)
        monkeypatch.setattr(
            fast_gradient,
            name,
            lambda *args, _o=original, _n=name, **kwargs: calls.append(_n) or _o(*args, **kwargs),
        )
    net = _net(params)
    got = net.numerical_gradient(x, t, h=h)
    assert set(calls) == {"layer1_exact", "layer2_exact"}
    exact = _direct(params, x, t, 1e-7, evaluation="exact", h=h)
    for key in NAMES:
        assert got[key].tobytes() == exact[key].tobytes()
    with pytest.raises(ValueError, match="evaluation='series'.*beyond"):
        _direct(params, x, t, 1e-7, evaluation="series", h=h)
    loop = net.numerical_gradient(x, t, h=h, method="loop")
    magnitude = model_magnitude("two_layer_ce", np.abs(_theta(params)) + h, _problem(params, x, t))
    bound = fast_vs_loop_bound(h, magnitude, _gradient_scale(params, x))
    for key in NAMES:
        assert_within(got[key], loop[key], bound, f"exact fallback vs loop, {key}")


@pytest.mark.parametrize("budget", [1, 600, 2**12])
@pytest.mark.parametrize("zeros", [0.0, 0.4], ids=["dense x", "sparse x"])
def test_the_exact_evaluation_cut_into_many_blocks_sums_the_same_terms(budget, zeros):
    """The exact evaluation (the series' fallback, the only one at h = 0.05 here) with a
    small memory budget: its (input, sample) pairs, hidden units, rows of [W2; b2] and
    samples are cut into many blocks (1 byte: one pair, one row, one sample a block; 600
    bytes: one sample a part, its six pairs in chunks of three; 4 KiB: two samples a part),
    where the default budget takes each in one.  Every term is still summed once:
    only the order of the sums changes, within k ε S G of each other (twice the
    reorganised-difference bound: each result is within it of the exact central difference)."""
    params, x, t = _large_step_network()
    x[x < zeros] = 0.0
    whole = _direct(params, x, t, 1e-7, evaluation="exact", h=0.05)
    cut = _direct(params, x, t, 1e-7, evaluation="exact", h=0.05, memory_budget=budget)
    problem = _problem(params, x, t)
    magnitude = model_magnitude("two_layer_ce", np.abs(_theta(params)) + 0.05, problem)
    bound = 2 * reorganised_difference_bound(magnitude, _gradient_scale(params, x))
    for key in NAMES:
        assert_within(cut[key], whole[key], bound, f"memory_budget={budget}, {key}")


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_labels_and_one_hot_rows_give_the_same_bits(layout, monkeypatch):
    """One-hot rows are read as labels: the loss is bit for bit the same, so are the sums."""
    monkeypatch.setattr(series, "DENSE_FROM", LAYOUTS[layout])
    params, x, t = _large_step_network()
    x[x < 0.4] = 0.0
    labels = _direct(params, x, t, 1e-7)
    rows = _direct(params, x, one_hot_labels(t, 3), 1e-7)
    for key in NAMES:
        assert labels[key].tobytes() == rows[key].tobytes()


def test_an_unknown_evaluation_is_refused():
    params, x, t = _large_step_network()
    with pytest.raises(ValueError, match="evaluation must be one of"):
        _direct(params, x, t, 1e-7, evaluation="taylor")


# -- the parameters are never left changed -----------------------------------------------------


def test_fast_path_does_not_write_to_params():
    """Read-only parameters: any write would raise.  The result is the writable case's."""
    rng = np.random.default_rng(3)
    net = refnet.TwoLayerNet(6, 5, 4, weight_init_std=0.5, rng=1)
    x, t = rng.uniform(-1, 1, (7, 6)), rng.integers(0, 4, 7)
    expected = net.numerical_gradient(x, t)
    for value in net.params.values():
        value.setflags(write=False)
    got = net.numerical_gradient(x, t)
    for key in NAMES:
        assert got[key].tobytes() == expected[key].tobytes()


@pytest.mark.parametrize("method", ["fast", "loop"])
def test_params_are_bit_identical_after_an_interrupt(method, monkeypatch):
    """A KeyboardInterrupt in the middle of the computation leaves params as they were."""
    rng = np.random.default_rng(4)
    net = refnet.TwoLayerNet(6, 5, 4, weight_init_std=0.5, rng=1)
    x, t = rng.uniform(-1, 1, (7, 6)), rng.integers(0, 4, 7)
    before = {k: v.tobytes() for k, v in net.params.items()}
    calls = {"n": 0}

    def interrupt_after(original, count):
        def wrapper(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] > count:
                raise KeyboardInterrupt
            return original(*args, **kwargs)

        return wrapper

    if method == "loop":
        monkeypatch.setattr(net, "_forward", interrupt_after(net._forward, 17))
    else:
        series = importlib.import_module("refnet.engine.fast_gradient.series")
        monkeypatch.setattr(series, "block_sums", interrupt_after(series.block_sums, 0))
    with pytest.raises(KeyboardInterrupt):
        net.numerical_gradient(x, t, method=method)
    assert calls["n"] > 0
    for key in NAMES:
        assert net.params[key].tobytes() == before[key], f"params[{key!r}] changed"


@pytest.mark.parametrize("zeros", [0.0, 0.7], ids=["dense x", "sparse x"])
def test_work_split_between_threads_gives_the_same_bits(zeros):
    rng = np.random.default_rng(5)
    net = refnet.TwoLayerNet(9, 7, 3, weight_init_std=0.8, rng=2)
    x, t = rng.uniform(0, 1, (11, 9)), rng.integers(0, 3, 11)
    x[rng.uniform(size=x.shape) < zeros] = 0.0
    one = net.numerical_gradient(x, t, workers=1)
    for workers in (2, 3, 7):
        other = net.numerical_gradient(x, t, workers=workers)
        for key in NAMES:
            assert other[key].tobytes() == one[key].tobytes(), (workers, key)


@pytest.mark.parametrize("zeros", [0.0, 0.7], ids=["dense x", "sparse x"])
def test_a_small_memory_budget_changes_only_the_summation_order(zeros):
    """Smaller blocks split the sums over samples differently: a few ulps of the result."""
    rng = np.random.default_rng(6)
    net = refnet.TwoLayerNet(9, 7, 3, weight_init_std=0.8, rng=2)
    x, t = rng.uniform(0, 1, (11, 9)), rng.integers(0, 3, 11)
    x[rng.uniform(size=x.shape) < zeros] = 0.0
    params = {k: net.params[k] for k in NAMES}
    magnitude = model_magnitude("two_layer_ce", np.abs(_theta(params)) + H, _problem(params, x, t))
    bound = reorganised_difference_bound(magnitude, _gradient_scale(params, x))
    default = net.numerical_gradient(x, t)
    for budget in (1, 4096):
        small = net.numerical_gradient(x, t, memory_budget=budget)
        for key in NAMES:
            assert_within(small[key], default[key], 2 * bound, f"memory_budget={budget}, {key}")


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"method": "finite"}, ValueError, "method must be one of"),
        ({"workers": 0}, ValueError, "workers must be >= 1"),
        ({"memory_budget": 0}, ValueError, "memory_budget must be >= 1"),
        ({"h": 0.0}, ValueError, "h must be > 0"),
        ({"h": 1e-300}, ValueError, "lost to rounding"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, message):
    net = refnet.TwoLayerNet(3, 2, 2, weight_init_std=1.0, rng=0)
    with pytest.raises(error, match=message):
        net.numerical_gradient(np.ones((2, 3)), np.array([0, 1]), **kwargs)


@pytest.mark.parametrize("case", ["huge x", "huge W2", "huge h"])
def test_steps_that_move_a_logit_by_more_than_1_are_left_to_the_loop(case):
    """The difference formulas are used for changes up to 1 (no overflow, 1 + r >= 1/e);
    beyond, the fast method runs the loop: the same bits as method="loop"."""
    rng = np.random.default_rng(7)
    net = refnet.TwoLayerNet(3, 2, 4, weight_init_std=1.0, rng=0)
    x, t, h = rng.uniform(-1, 1, (5, 3)), rng.integers(0, 4, 5), 1e-4
    if case == "huge x":
        x = x * 1e6
    elif case == "huge W2":
        net.params["W2"] *= 1e5
    else:
        h = 3.0
    fast = net.numerical_gradient(x, t, h=h)
    loop = net.numerical_gradient(x, t, h=h, method="loop")
    for key in NAMES:
        assert fast[key].tobytes() == loop[key].tobytes()


def test_an_infinite_loss_is_an_error_as_in_the_loop():
    """delta = 0 and a target class with probability 0 in float64: log 0. Both refuse."""
    net = refnet.TwoLayerNet(1, 1, 2, rng=0)
    net.params["W2"][...] = [[1000.0, -1000.0]]
    x, t = np.array([[1.0]]), np.array([1])
    for method in ("fast", "loop"):
        with pytest.raises(ValueError, match="infinite|inf"):
            net.numerical_gradient(x, t, delta=0, method=method)


# -- the generic vectorized path ------------------------------------------------------------


def _row_by_row(formula):
    """f on a stack, computed one row at a time exactly as on a single point.

    Each row is handed over as the loop hands x: an array of x's shape.  ``stack[i, ...]``
    keeps a 0-d row an array; iterating ``for point in stack`` would turn it into a NumPy
    scalar, whose arithmetic may round differently (``np.float64(1.7501)**3`` is one ulp
    from ``np.array(1.7501)**3``, on NumPy 2.0 as on 2.4), and then the rows are not the loop's evaluations.
    """
    return lambda stack: np.array([formula(np, stack[i, ...]) for i in range(len(stack))])


@pytest.mark.parametrize("scheme", ["central", "forward", "backward"])
@pytest.mark.parametrize("name", sorted(SMOOTH_FUNCTIONS))
@given(data=st.data())
def test_vectorized_evaluates_the_loops_points_bit_for_bit(name, scheme, data):
    """Same points, same quotient arithmetic: with a row-by-row f, identical to the loop."""
    fn = SMOOTH_FUNCTIONS[name]
    shape = data.draw(array_shapes(), label="shape")
    x = data.draw(finite_arrays(shape, fn.low, fn.high), label="x")
    budget = data.draw(st.sampled_from([1, 64, 2**25]), label="memory_budget")
    x.setflags(write=False)  # the vectorized path only reads x
    loop = refnet.numerical_gradient(fn.numpy, x.copy(), scheme=scheme)
    fast = refnet.numerical_gradient(
        _row_by_row(fn.formula), x, scheme=scheme, vectorized=True, memory_budget=budget
    )
    assert fast.shape == x.shape and fast.dtype == x.dtype
    assert fast.tobytes() == loop.tobytes()


def _cubic_rows(stack):
    axes = tuple(range(1, stack.ndim))
    return np.sum(0.5 * stack**3 - stack**2 + 2.0 * stack, axis=axes) + 0.25 * (
        np.sum(stack, axis=axes) ** 2
    )


def _log_sum_exp_rows(stack):
    flat = stack.reshape(stack.shape[0], -1)
    m = np.max(flat, axis=1)
    return m + np.log(np.sum(np.exp(flat - m[:, None]), axis=1))


@pytest.mark.parametrize("name, rows", [("cubic", _cubic_rows), ("log_sum_exp", _log_sum_exp_rows)])
@settings(max_examples=20)  # JAX compiles per shape; the bit-for-bit test above covers more
@given(data=st.data())
def test_vectorized_f_matches_the_loop_and_jax_grad(name, rows, data):
    """A truly vectorized f rounds differently from the scalar f: equal to the loop within
    2 k ε S / h (both round-offs), and to jax.grad within the central-difference bound."""
    fn = SMOOTH_FUNCTIONS[name]
    shape = data.draw(array_shapes(), label="shape")
    x = data.draw(finite_arrays(shape, fn.low, fn.high), label="x")
    fast = refnet.numerical_gradient(rows, x, vectorized=True)
    loop = refnet.numerical_gradient(fn.numpy, x)
    magnitude = fn.magnitude(np.abs(x) + H)
    eps = EPS[np.dtype(np.float64)]
    assert_within(fast, loop, 2 * ROUNDING_STAGES * eps * magnitude / H, f"{name}: vs loop")
    exact = oracle.smooth_gradient(name, x)
    bound = central_difference_bound(H, fn.third_derivative_bound(x, H), magnitude, exact, x)
    assert_within(fast, exact, bound, f"{name}: vs jax.grad")


def test_vectorized_respects_the_memory_budget():
    x = np.linspace(-1, 1, 300)
    seen = []

    def f(stack):
        seen.append(stack.nbytes)
        return np.sum(stack**2, axis=1)

    refnet.numerical_gradient(f, x, vectorized=True, memory_budget=2**16)
    assert max(seen) <= 2**16 and len(seen) > 1
    np.testing.assert_array_equal(
        refnet.numerical_gradient(f, x, vectorized=True, memory_budget=2**16),
        refnet.numerical_gradient(f, x, vectorized=True),
    )


def test_vectorized_engine_takes_a_step_per_element():
    """h may be an array broadcastable to x: entry i is the loop's quotient with step h_i."""
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    steps = np.array([1e-3, 1e-4, 1e-5])  # one per column
    fn = SMOOTH_FUNCTIONS["trigonometric"]
    got = refnet.numerical_gradient(_row_by_row(fn.formula), x, h=steps, vectorized=True)
    for column, step in enumerate(steps):
        expected = refnet.numerical_gradient(fn.numpy, x.copy(), h=float(step))
        assert got[:, column].tobytes() == expected[:, column].tobytes()


@pytest.mark.parametrize(
    "f, error, message",
    [
        (lambda stack: np.zeros(3), TypeError, r"must map a stack of shape \(4, 2\) to 4 values"),
        (lambda stack: np.sum(stack), TypeError, "got shape ()"),
        (lambda stack: np.zeros(stack.shape[0], complex), TypeError, "complex"),
        (lambda stack: np.log(stack[:, 0] - 1.0), ValueError, r"f returned nan at x\[0\]\+1h"),
    ],
)
def test_vectorized_refuses_bad_f(f, error, message):
    with np.errstate(invalid="ignore"), pytest.raises(error, match=message):
        refnet.numerical_gradient(f, np.array([0.5, 2.0]), vectorized=True)
