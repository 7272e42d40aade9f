"""The difference engine (refnet/engine/stencil.py, quotients.py): each Stencil's constants, its pieces, and the
promise that a scheme and a step are validated once, one way, at the public entry point.

The order and the truncation constant of every stencil are checked two independent ways:
against the moments of its row, computed here in exact rational arithmetic, and against
the error the stencil actually makes on exp at 0 (every derivative 1), measured over a
window of steps where the leading term dominates.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import refnet
from refnet.engine import stencil as stencil_module
from refnet.engine.quotients import evaluate_complex, evaluate_loop
from refnet.engine.stacked import evaluate_stacked
from refnet.engine.stencil import COMPLEX, SCHEMES, check_step, points, stencil_of

EPS = float(np.finfo(np.float64).eps)


def _moments(name):
    """k -> m_k = Σ_j w_j o_j^k / d, exactly (offsets and weights are binary fractions)."""
    offsets, weights, divisor = SCHEMES[name]
    o = [Fraction(v) for v in offsets]
    w = [Fraction(v) for v in weights]
    d = Fraction(divisor)
    return lambda k: sum(wj * oj**k for oj, wj in zip(o, w, strict=True)) / d


def _leading_terms(name):
    """(p, c, q, c2): D(h) - f' = c h^p f^(p+1) + c2 h^(p+q) f^(p+q+1) + ..., from the moments."""
    m = _moments(name)
    p = next(k - 1 for k in range(2, 12) if m(k) != 0)
    q = next(q for q in (1, 2, 3) if m(p + 1 + q) != 0)
    return p, m(p + 1) / math.factorial(p + 1), q, m(p + 1 + q) / math.factorial(p + 1 + q)


def _window(name):
    """Steps where, on exp at 0, the leading truncation term is the error to 1%.

    The next Taylor term is |c2/c| h^q of the leading one: <= 1% below ``high``.  The
    round-off, about ε Σ|w_j| / (d h) (|f| ≈ 1 near 0), is <= 1% of |c| h^p above ``low``.
    """
    p, c, q, c2 = _leading_terms(name)
    _, weights, divisor = SCHEMES[name]
    weight_sum = sum(abs(w) for w in weights) / divisor
    low = (100 * EPS * weight_sum / abs(float(c))) ** (1 / (p + 1))
    high = (0.01 * abs(float(c / c2))) ** (1 / q)
    return low, high


def _quotient(stencil, h):
    """D(h) of exp at 0, through the engine's combination."""
    values = {o: np.array(math.exp(o * h)) for o in stencil.evaluated_offsets(True)}
    return stencil.combine(values, np.array(h)), values


# -- each stencil's constants ------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SCHEMES))
def test_order_and_constant_are_those_of_the_moments(name):
    m = _moments(name)
    stencil = stencil_of(name)
    p = stencil.order
    assert m(0) == 0 and m(1) == 1, "not a consistent first-derivative stencil"
    assert all(m(k) == 0 for k in range(2, p + 1)), f"a moment below {p + 1} is not 0"
    assert m(p + 1) != 0, f"order {p} is too low: m_{p + 1} = 0"
    assert stencil.truncation_constant == pytest.approx(
        float(m(p + 1)) / math.factorial(p + 1), rel=1e-15
    )
    weights, divisor = SCHEMES[name][1:]
    assert stencil.weight_sum == pytest.approx(sum(abs(w) for w in weights) / divisor, rel=1e-15)


@pytest.mark.parametrize("name", list(SCHEMES))
def test_order_and_constant_are_those_of_the_measured_error(name):
    """log|error| against log h has slope p, and error / h^p tends to c (f^(p+1) = 1).

    Within the window the next term and the round-off are each <= 1% of the leading term,
    so the local slope is p to within (q + p + 1) 1% <= 0.09; at the window's geometric
    middle both are far smaller, and error / (c h^p) is 1 to within 2% (twice their sum).
    """
    stencil = stencil_of(name)
    low, high = _window(name)
    assert high > 4 * low, "the window is too short to fit a slope"
    steps = np.geomspace(low, high, 12)
    errors = np.array([abs(float(_quotient(stencil, h)[0]) - 1.0) for h in steps])
    slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert abs(slope - stencil.order) < 0.1, f"fitted slope {slope:.3f}, order {stencil.order}"
    middle = math.sqrt(low * high)
    error = float(_quotient(stencil, middle)[0]) - 1.0
    ratio = error / (stencil.truncation_constant * middle**stencil.order)
    assert abs(ratio - 1) < 0.02, f"error / (c h^p) = {ratio:.4f}"


def test_the_complex_step_has_order_2_and_constant_minus_one_sixth():
    """Im exp(ih) / h = sin(h) / h = 1 - h²/6 + h⁴/120: measured, not assumed.

    Nothing cancels, so the round-off is ~ε: for h in [1e-4, 1e-2], h²/6 >= 1.7e-9 is
    >= 1e6 ε, and the next term is h²/20 <= 5e-6 of the leading one.
    """
    steps = np.geomspace(1e-4, 1e-2, 9)
    quotients = [
        float(evaluate_complex(lambda z: np.exp(z[0]), np.zeros(1), np.full(1, h), (1.0,))[1.0][0])
        for h in steps
    ]
    errors = np.abs(np.array(quotients) - 1.0)
    slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert abs(slope - COMPLEX.order) < 0.01
    ratio = (quotients[4] - 1.0) / (COMPLEX.truncation_constant * steps[4] ** 2)
    assert abs(ratio - 1) < 1e-4
    assert stencil_of("complex_step") is COMPLEX and COMPLEX.complex_step


@pytest.mark.parametrize("name", list(SCHEMES))
def test_the_truncation_estimate_is_the_truncation_error(name):
    """|D(h) - D(2h)| / (2^p - 1) against the true error, in the window (at its middle).

    D(2h) - D(h) = (2^p - 1) c h^p + (2^(p+q) - 1) c2 h^(p+q) + ...: the estimate is off by
    at most about (2^q + 1) |c2/c| h^q plus twice the relative round-off, each a small
    fraction of 1% at the middle of the window; 2% covers them with room.
    """
    stencil = stencil_of(name)
    low, high = _window(name)
    h = math.sqrt(low * high) / 2  # so that 2h is inside the window as well
    derivative, values = _quotient(stencil, h)
    truncation, _ = stencil.estimate(values, np.array(h), np.array(0.0), derivative, EPS, EPS)
    actual = abs(float(derivative) - 1.0)
    assert abs(float(truncation) / actual - 1) < 0.02


def test_the_roundoff_estimate_is_the_documented_formula():
    """ErrorEstimate.roundoff's documented formula, written out here from its docstring:
    ε_f Σ|w_j f_j| / (d h) + |D| Σ|w_j| ε_x (|x| + |o_j| h) / (2 d h)."""
    rng = np.random.default_rng(0)
    for name in SCHEMES:
        stencil = stencil_of(name)
        x = rng.uniform(-3, 3, 5)
        h = rng.uniform(1e-5, 1e-3, 5)
        values = {o: rng.uniform(-10, 10, 5) for o in stencil.evaluated_offsets(True)}
        derivative = stencil.combine(values, h)
        eps_f, eps_x = 1e-10, 1e-12  # distinct, so that swapping them shows
        _, roundoff = stencil.estimate(values, h, x, derivative, eps_f, eps_x)
        offsets, weights, d = SCHEMES[name]
        pairs = list(zip(offsets, weights, strict=True))
        expected = eps_f * sum(abs(w) * np.abs(values[o]) for o, w in pairs) / (d * h) + np.abs(
            derivative
        ) * sum(abs(w) * eps_x * (np.abs(x) + abs(o) * h) for o, w in pairs) / (2 * d * h)
        np.testing.assert_allclose(roundoff, expected, rtol=1e-13)


def test_the_roundoff_estimate_is_sharp_not_just_a_bound():
    """On a quadratic (no truncation) the actual error reaches a good part of the estimate.

    f(x) = x² at x in [1, 2), central, h = 2^-14 (exact points): each f value is rounded by
    up to ε/2 |f| and their difference, divided by 2h, by up to ε |f| / (2h), while the
    estimate is ε (|f+| + |f-|) / (2h) ≈ ε |f| / h.  Over 4000 points the largest ratio comes
    near 1/2; an estimate inflated tenfold would leave it below 0.05.
    """
    rng = np.random.default_rng(1)
    x = rng.uniform(1, 2, 4000)
    stencil = stencil_of("central")
    h = np.full(x.shape, 2.0**-14)
    values = {o: (x + o * h) ** 2 for o in stencil.evaluated_offsets(True)}
    derivative = stencil.combine(values, h)
    _, roundoff = stencil.estimate(values, h, x, derivative, EPS, EPS)
    ratio = np.abs(derivative - 2 * x) / roundoff
    assert np.max(ratio) <= 1.0
    assert np.max(ratio) > 0.2


# -- the pieces --------------------------------------------------------------------------------


def test_a_stencil_is_built_once_per_scheme():
    for name in [*SCHEMES, "complex_step"]:
        assert stencil_of(name) is stencil_of(name)


@pytest.mark.parametrize("block_bytes", [1, 8 * 7, 8 * 40, 2**30])
def test_the_block_size_changes_only_how_f_is_called(block_bytes):
    """Stacked evaluation gives the loop's values bit for bit, whatever the block size."""
    rng = np.random.default_rng(2)
    x = rng.uniform(-2, 2, (4, 5))
    stencil = stencil_of("five_point")
    steps = stencil.steps(x, check_step(1e-3))
    moved = points(x, steps, stencil.evaluated_offsets(True))
    calls = []

    def rows(stack):
        calls.append(stack.shape[0])
        return np.sum(np.sin(stack) * stack, axis=tuple(range(1, stack.ndim)))

    stacked, _ = evaluate_stacked(rows, x, moved, block_bytes)
    looped, _ = evaluate_loop(lambda v: float(np.sum(np.sin(v) * v)), x, moved)
    for offset in moved:
        assert stacked[offset].tobytes() == looped[offset].tobytes()
    moving = len(moved)
    largest = max(1, block_bytes // (moving * x.size * x.itemsize)) * moving
    assert max(calls) == min(largest, moving * x.size)


@pytest.mark.parametrize(
    "h, expected, form",
    [
        (1e-3, 1e-3, "number"),
        (np.float32(0.5), 0.5, "number"),
        (np.array(2e-4), 2e-4, "number"),
        ("auto", "auto", "auto"),
    ],
)
def test_check_step_returns_the_step_in_one_form(h, expected, form):
    checked = check_step(h)
    assert checked.h == expected and type(checked.h) is type(expected) and checked.form == form
    assert check_step(checked) is checked  # a checked step travels down unchecked again


def test_check_step_returns_arrays_as_float64():
    checked = check_step(np.array([1, 2], dtype=np.int32))
    assert checked.form == "array"
    assert checked.h.dtype == np.float64 and checked.h.tolist() == [1.0, 2.0]


# -- one way to refuse a scheme, everywhere ---------------------------------------------------


def _entry_points(scheme):
    square = lambda v: float(np.sum(v**2))  # noqa: E731
    x = np.array([1.0, 2.0])
    return {
        "stencil_of": lambda: stencil_of(scheme),
        "numerical_diff": lambda: refnet.numerical_diff(math.sin, 1.0, scheme=scheme),
        "numerical_gradient": lambda: refnet.numerical_gradient(square, x, scheme=scheme),
        "numerical_gradient vectorized": lambda: refnet.numerical_gradient(
            lambda s: np.sum(s**2, axis=1), x, scheme=scheme, vectorized=True
        ),
        "auto_step": lambda: refnet.auto_step(x, scheme),
        "scheme_order": lambda: refnet.scheme_order(scheme),
        "truncation_constant": lambda: refnet.differentiation.truncation_constant(scheme),
        "check_gradient": lambda: refnet.check_gradient(square, x, 2 * x, scheme=scheme),
        "assert_gradient_close": lambda: refnet.assert_gradient_close(
            square, x, 2 * x, scheme=scheme
        ),
    }


@pytest.mark.parametrize("scheme", ["centre", "Central", "", None, 2, ("central",)])
def test_a_bad_scheme_gets_the_same_error_from_every_entry_point(scheme):
    messages = {}
    for where, call in _entry_points(scheme).items():
        with pytest.raises(ValueError) as caught:
            call()
        messages[where] = str(caught.value)
    assert len(set(messages.values())) == 1, messages
    message = messages["stencil_of"]
    assert message.startswith("scheme must be one of") and message.endswith(f"got {scheme!r}")
    for name in [*SCHEMES, "complex_step"]:
        assert repr(name) in message


# -- one validation of h, at the entry point ----------------------------------------------------


@pytest.fixture
def h_checks(monkeypatch):
    """Counts how often a scalar h is validated (check_step's positive_finite_scalar("h"))."""
    calls = []
    original = stencil_module.positive_finite_scalar

    def counting(name, value, **kwargs):
        if name == "h":
            calls.append(value)
        return original(name, value, **kwargs)

    monkeypatch.setattr(stencil_module, "positive_finite_scalar", counting)
    return calls


@pytest.mark.parametrize(
    "method, h",
    [("fast", 1e-4), ("loop", 1e-4), ("fast", 3.0)],  # h = 3 moves logits by > 1: fast hands over
    ids=["fast", "loop", "fast falls back to the loop"],
)
def test_two_layer_net_validates_h_once(h_checks, method, h):
    net = refnet.TwoLayerNet(3, 2, 4, weight_init_std=1.0, rng=0)
    x, t = np.random.default_rng(3).uniform(-1, 1, (5, 3)), np.array([0, 1, 2, 3, 0])
    net.numerical_gradient(x, t, h=h, method=method)
    assert h_checks == [h]


def test_the_gradient_check_validates_h_once_for_all_arrays(h_checks):
    params = {"a": np.array([1.0, 2.0]), "b": np.array([[0.5], [3.0]])}
    grad = {"a": 2 * params["a"], "b": 2 * params["b"]}
    refnet.check_gradient(
        lambda p: sum(float(np.sum(v**2)) for v in p.values()), params, grad, h=1e-3
    )
    assert h_checks == [1e-3]


@pytest.mark.parametrize("vectorized", [False, True])
def test_numerical_gradient_validates_h_once(h_checks, vectorized):
    f = (lambda s: np.sum(s**2, axis=1)) if vectorized else (lambda v: float(np.sum(v**2)))
    refnet.numerical_gradient(f, np.array([1.0, 2.0, 3.0]), 1e-4, vectorized=vectorized)
    assert h_checks == [1e-4]


def test_a_bad_h_is_refused_before_the_network_runs(monkeypatch):
    net = refnet.TwoLayerNet(3, 2, 4, rng=0)
    forward_calls = []
    monkeypatch.setattr(net, "_forward", lambda x: forward_calls.append(x))
    for method in ("fast", "loop"):
        with pytest.raises(ValueError, match="h must be > 0"):
            net.numerical_gradient(np.ones((2, 3)), np.array([0, 1]), h=-1e-4, method=method)
    assert forward_calls == []
