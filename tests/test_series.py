"""The short series of refnet/engine/fast_gradient/power_series.py: coefficients, term counts, values.

Three claims are checked separately:

* the coefficients: σ^(k+1) = σ' P_k(σ) against JAX's derivatives of the sigmoid, and the
  table β_k >= max |P_k| on [0, 1] against the polynomials' critical points;
* the term counts: at the bound they were chosen for, the neglected tail (summed here in
  long double, term by term, well past where it stops mattering) is at most
  TOLERANCE (ε/8, the requirement, written here rather than read from the code: a looser
  SERIES_TOLERANCE there would choose fewer terms and fail these tests) of the scale the
  exact function rounds at;
* the values: each truncated series, evaluated in float64, agrees with the function
  evaluated in long double by a formula that does not cancel, within the error model
  (a few roundings per Horner step, plus the tolerance).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from refnet.conformance import oracle
from refnet.conformance.strategies import probability_rows
from refnet.engine.fast_gradient.power_series import (
    MAX_TERMS,
    SERIES_TOLERANCE,
    SIGMOID_POLYNOMIAL_BOUNDS,
    SIGMOID_POLYNOMIALS,
    class_sum_terms,
    horner,
    log1p_series,
    log1p_terms,
    power_sums,
    sigmoid_difference_coefficients,
    sigmoid_terms,
)

EPS = float(np.finfo(np.float64).eps)
#: What a truncated series may leave, relative to the scale at which the exact evaluation
#: rounds: an eighth of the spacing of float64 numbers near 1 (docs/explanation/
#: fast-numerical-gradients.md).  Stated here, not imported, so that the tests hold the code
#: to the requirement rather than to whatever the code says.
TOLERANCE = EPS / 8
#: Below float64's smallest normal number rounding is absolute, not relative: an operation
#: whose result is subnormal errs by up to half of this (the error model's floor there).
SUBNORMAL = float(np.finfo(np.float64).smallest_subnormal)
LD = np.longdouble
LD_EPS = float(np.finfo(np.longdouble).eps)
extended = pytest.mark.skipif(LD_EPS > 1e-18, reason="long double is not extended precision here")


def _polyval(coefficients, s):
    value = np.zeros_like(s) + coefficients[-1]
    for c in coefficients[-2::-1]:
        value = value * s + c
    return value


# -- coefficients ------------------------------------------------------------------------------


@pytest.mark.parametrize("k", range(MAX_TERMS + 1))
def test_sigmoid_derivatives_are_sigma_prime_times_the_polynomials(k):
    """σ^(k+1)(a) = σ'(a) P_k(σ(a)), against jax.grad applied k + 1 times.

    Each side is a sum of terms of size at most σ' Σ_i |c_i| (the polynomial's absolute
    coefficients), each evaluated with a few roundings: 8 (deg + 1) ε σ' Σ|c_i| covers both.
    A wrong coefficient would be off by σ' at least.
    """
    a = np.linspace(-20.0, 20.0, 81)
    E = np.exp(-np.abs(a))  # σ and σ' without 1 - σ, which loses σ' for large a
    s = np.where(a >= 0, 1 / (1 + E), E / (1 + E))
    slope = E / (1 + E) ** 2
    poly = SIGMOID_POLYNOMIALS[k]
    expected = oracle.sigmoid_derivative(k + 1, a)
    got = slope * _polyval(poly, s)
    bound = 8 * len(poly) * EPS * slope * sum(abs(c) for c in poly)
    assert np.all(np.abs(got - expected) <= bound), np.max(np.abs(got - expected) / bound)


@pytest.mark.parametrize("k", range(MAX_TERMS + 1))
def test_the_polynomial_bounds_are_the_maxima_rounded_up(k):
    """β_k >= max_[0,1] |P_k|, found at the ends or where P_k' = 0, and within 0.01 of it.

    (The maxima are evaluated in float64 at rounded roots: 1e-12 allows for that.)
    """
    poly = np.array(SIGMOID_POLYNOMIALS[k], dtype=float)
    candidates = [0.0, 1.0]
    if poly.size > 2:
        roots = np.roots(np.polynomial.polynomial.polyder(poly)[::-1])
        candidates += [r.real for r in roots if abs(r.imag) < 1e-9 and 0 <= r.real <= 1]
    maximum = max(abs(float(_polyval(poly, np.array(s)))) for s in candidates)
    assert maximum - 1e-12 <= SIGMOID_POLYNOMIAL_BOUNDS[k] <= maximum + 0.01


# -- term counts -------------------------------------------------------------------------------


BOUNDS = st.floats(1e-12, 0.3).map(lambda v: float(np.float64(v)))


def _tail(terms, first):
    """Σ of terms(m) for m >= first, in long double, until they stop mattering."""
    total, m = LD(0), first
    while True:
        term = LD(terms(m))
        total += term
        if abs(term) <= abs(total) * LD_EPS or m > first + 200:
            return total
        m += 1


@extended
@given(c=BOUNDS)
def test_class_sum_terms_leave_a_tail_below_the_tolerance(c):
    """The worst case of the bound: one class with |u w| = c, tail Σ_(m>M) c^m / m!,
    relative to |expm1(c)| (the exact evaluation's scale) and to the positive argument's
    mirror, |expm1(-c)| = 1 - e^-c, the smaller of the two."""
    terms = class_sum_terms(c)
    if terms is None:
        assert c**MAX_TERMS / math.factorial(MAX_TERMS + 1) > TOLERANCE / 2
        return
    tail = _tail(lambda m: LD(c) ** m / math.factorial(m), terms + 1)
    assert tail <= TOLERANCE * -np.expm1(LD(-c))


@extended
@given(v=BOUNDS)
def test_log1p_terms_leave_a_tail_below_the_tolerance(v):
    """Tail Σ_(k>M) |v|^k / k relative to |log1p(-|v|)|... the smaller of |log1p(±v)|."""
    terms = log1p_terms(v)
    if terms is None:
        assert v**MAX_TERMS / (MAX_TERMS + 1) > TOLERANCE / 2
        return
    tail = _tail(lambda k: LD(v) ** k / k, terms + 1)
    assert tail <= TOLERANCE * np.log1p(LD(v))


def _sigmoid_taylor(a, count):
    """σ^(m)(a) / m! for m = 0..count - 1, in long double, independently of the polynomials:
    σ(a + e) = 1 / f(e), f(e) = 1 + E exp(-e), E = exp(-a), by the reciprocal's recurrence
    g_0 = 1 / f_0, g_m = -Σ_(i=1..m) f_i g_(m-i) / f_0, with f_0 = 1 + E, f_i = E (-1)^i / i!."""
    E = np.exp(-LD(a))
    f = [1 + E] + [E * (-1) ** i / LD(math.factorial(i)) for i in range(1, count)]
    g = [1 / f[0]]
    for m in range(1, count):
        g.append(-sum(f[i] * g[m - i] for i in range(1, m + 1)) / f[0])
    return g


@extended
@given(a=st.floats(-30, 30), e=BOUNDS)
def test_sigmoid_terms_leave_a_tail_below_the_tolerance(a, e):
    """At the bound |e| itself, either sign: Σ_(m>M) S_m e^m relative to the whole change.
    (|e| <= 0.3 < π, the radius of convergence at a = 0: 30 more terms are plenty.)"""
    terms = sigmoid_terms(e)
    if terms is None:
        assert e > 1e-3  # only large arguments are left to the exact functions
        return
    coefficients = _sigmoid_taylor(a, terms + 31)[1:]  # S_1, S_2, ...
    for sign in (1, -1):
        powers = [(sign * LD(e)) ** (m + 1) for m in range(len(coefficients))]
        change = sum(c * p for c, p in zip(coefficients, powers, strict=True))
        tail = sum(c * p for c, p in zip(coefficients[terms:], powers[terms:], strict=True))
        assert abs(tail) <= TOLERANCE * abs(change)


# -- values ------------------------------------------------------------------------------------


def _sigmoid_ld(v):
    return 1 / (1 + np.exp(-v))


@extended
@given(a=st.floats(-40, 40), bound=BOUNDS, fraction=st.floats(-1, 1))
@example(a=0.0, bound=0.00390625, fraction=2.225073858507203e-309)  # a subnormal change
def test_sigmoid_difference_series_against_long_double(a, bound, fraction):
    """Σ S_m e^m (float64) = σ(a + e) - σ(a) within (2M + 4) ε + τ relative (and as many
    halves of the subnormal spacing absolute, for a change below float64's tiny).

    The reference is -expm1(-e) σ(a + e) σ(-a) in long double (no cancellation).  S_1 = σ'
    carries about 3 roundings, each of the 2M - 1 Horner operations one more, relative to
    the partial sums, which are within a factor 1 + |e| of the result.
    """
    e = float(np.float64(bound * fraction))
    if e == 0:
        return
    terms = sigmoid_terms(bound)
    if terms is None:
        return
    S = sigmoid_difference_coefficients(np.array([a]), terms)
    got = horner(list(S[:, 0]), np.array([e]), np.empty(1))[0]
    ref = -np.expm1(-LD(e)) * _sigmoid_ld(LD(a) + LD(e)) * _sigmoid_ld(-LD(a))
    bound_ = ((2 * terms + 4) * EPS + TOLERANCE + 8 * LD_EPS) * abs(ref)
    assert abs(LD(got) - ref) <= bound_ + (2 * terms + 4) * SUBNORMAL


@extended
@given(data=st.data())
def test_class_sum_series_against_long_double(data):
    """Σ_m R_m u^m and Σ_m (w_t^m / m! - R_m) u^m = Σ_k p_k Q_k and Q_t - Σ_k p_k Q_k.

    Within (2M + K + 3) ε + τ of the scale Σ_k p_k |Q_k| (+ |Q_t|): the products by BLAS
    (K terms, K ε), the division by m!, the Horner steps (2M - 1).
    """
    classes = data.draw(st.integers(2, 6), label="classes")
    p = data.draw(probability_rows(1, classes), label="p")
    w = np.array(data.draw(st.lists(st.floats(-3, 3), min_size=classes, max_size=classes)))
    w[0] = data.draw(st.sampled_from([-1.0, 1.0]), label="sign") * max(abs(w[0]), 0.01)
    c = data.draw(BOUNDS, label="c")
    target = data.draw(st.integers(0, classes - 1), label="target")
    largest = float(np.max(np.abs(w)))
    u = float(np.float64(c / largest * data.draw(st.floats(-1, 1), label="fraction")))
    terms = class_sum_terms(c)
    if terms is None or u == 0:
        return
    R = power_sums(w[None, :], p, terms)[:, 0, 0]
    C = np.array([w[target] ** m / math.factorial(m) for m in range(1, terms + 1)]) - R
    r = horner(list(R), np.array([u]), np.empty(1))[0]
    difference = horner(list(C), np.array([u]), np.empty(1))[0]
    Q = np.expm1(LD(u) * w.astype(LD))
    exact_r = np.sum(p[0].astype(LD) * Q)
    scale = np.sum(p[0].astype(LD) * np.abs(Q))
    k = (2 * terms + classes + 3) * EPS + TOLERANCE + 8 * LD_EPS
    floor = (2 * terms + classes + 3) * SUBNORMAL
    assert abs(LD(r) - exact_r) <= k * scale + floor
    assert abs(LD(difference) - (Q[target] - exact_r)) <= k * (scale + abs(Q[target])) + floor


@extended
@given(bound=BOUNDS, fraction=st.floats(-1, 1))
def test_log1p_series_against_long_double(bound, fraction):
    """Σ (-1)^(k+1) v^k / k = log1p(v) within 2M ε + τ relative (Horner with rounded 1/k)."""
    v = float(np.float64(bound * fraction))
    terms = log1p_terms(bound)
    if terms is None or v == 0:
        return
    got = log1p_series(np.array([v]), terms, np.empty(1))[0]
    ref = np.log1p(LD(v))
    relative = (2 * terms + 1) * EPS + TOLERANCE + 4 * LD_EPS
    assert abs(LD(got) - ref) <= relative * abs(ref) + (2 * terms + 1) * SUBNORMAL


def test_the_code_uses_the_required_tolerance():
    assert SERIES_TOLERANCE == TOLERANCE


def test_the_argument_bounds_beyond_which_no_series_is_used():
    """Large arguments need more than MAX_TERMS terms: None, and the caller falls back."""
    assert sigmoid_terms(0.1) is None and class_sum_terms(0.2) is None
    assert log1p_terms(0.2) is None and log1p_terms(1.0) is None
    assert class_sum_terms(0.0) == 1 and sigmoid_terms(0.0) == 1
