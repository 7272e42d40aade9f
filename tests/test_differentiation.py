"""numerical_diff, naive_numerical_diff and numerical_gradient: the book's values and contract."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refnet
from refnet.conformance.functions import SMOOTH_FUNCTIONS
from refnet.conformance.strategies import array_shapes, finite_arrays

from .conftest import numerical_diff_bad
from .fixtures import book_chapter4 as book


def function_1(x):
    return 0.01 * x**2 + 0.1 * x


def function_2(x):
    return x[0] ** 2 + x[1] ** 2


def sum_of_squares(x):
    return np.sum(x**2)


# -- the book's printed values ------------------------------------------------------------


def test_numerical_diff_reproduces_the_book():
    assert refnet.numerical_diff(function_1, 5) == 0.1999999999990898
    assert refnet.numerical_diff(function_1, 10) == 0.2999999999986347


def test_numerical_diff_is_near_the_exact_derivative():
    # f''' = 0 for a quadratic: only round-off, ε |f| / h ≈ 2.2e-16 · 1.25 / 1e-4 ≈ 3e-12,
    # times a few rounding stages; 1e-11 is that bound.
    assert abs(refnet.numerical_diff(function_1, 5) - 0.2) < 1e-11
    assert abs(refnet.numerical_diff(function_1, 10) - 0.3) < 1e-11


def test_naive_numerical_diff_reproduces_the_bad_example_and_says_why():
    with pytest.warns(refnet.PrecisionWarning, match="lost to rounding"):
        assert refnet.naive_numerical_diff(function_1, 5) == 0.0
    # The same number as the book's code: the step 1e-50 vanishes in 5 + 1e-50.
    assert numerical_diff_bad(function_1, 5) == 0.0
    assert 5.0 + 1e-50 == 5.0
    assert np.float32(1e-50) == 0.0  # the book's side remark: underflow in float32


def test_numerical_gradient_reproduces_the_book():
    assert refnet.numerical_gradient(function_2, np.array([3.0, 4.0])).tolist() == [
        6.00000000000378,
        7.999999999999119,
    ]
    # The book prints [0, 4] and [6, 0]; the central difference of a quadratic is exact up
    # to round-off (ε |f| / h ≈ 2.2e-16 · 9 / 1e-4 ≈ 2e-11).
    np.testing.assert_allclose(
        refnet.numerical_gradient(function_2, np.array([0.0, 2.0])), [0, 4], rtol=0, atol=1e-10
    )
    np.testing.assert_allclose(
        refnet.numerical_gradient(function_2, np.array([3.0, 0.0])), [6, 0], rtol=0, atol=1e-10
    )


def test_the_books_loop_on_an_integer_array_is_wrong_and_refnet_refuses():
    x = np.array([3, 4])
    # The book's loop stores 3 + 1e-4 as 3 and 3 - 1e-4 as 2: (9+16 - (4+16)) / 2e-4 = 25000.
    assert book.numerical_gradient(sum_of_squares, x.copy()).tolist() == [25000, 35000]
    with pytest.raises(TypeError, match="integer dtype"):
        refnet.numerical_gradient(sum_of_squares, x)
    assert x.tolist() == [3, 4]


# -- shapes --------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(), (1,), (3,), (2, 3), (2, 1, 3), (2, 2, 1, 2)])
def test_numerical_gradient_of_any_shape(shape):
    x = np.linspace(-1.5, 1.5, int(np.prod(shape))).reshape(shape)
    grad = refnet.numerical_gradient(sum_of_squares, x)
    assert grad.shape == x.shape and grad.dtype == x.dtype
    # Exact answer 2x; quadratic: round-off only, ε · Σx² / h ≲ 2.2e-16 · 10 / 1e-4.
    np.testing.assert_allclose(grad, 2 * x, rtol=0, atol=1e-10)


def test_numerical_gradient_of_rows_is_the_slides_batched_version():
    """The slides' 2-D version takes the gradient of f at each row; for f a sum of per-row
    terms, the whole-array gradient is the same stack of per-row gradients."""
    X = np.array([[3.0, 4.0], [0.0, 2.0], [3.0, 0.0]])
    rowwise = np.stack([refnet.numerical_gradient(function_2, row.copy()) for row in X])
    whole = refnet.numerical_gradient(lambda A: np.sum(A[:, 0] ** 2 + A[:, 1] ** 2), X)
    np.testing.assert_allclose(whole, rowwise, rtol=0, atol=1e-10)


def test_numerical_gradient_accepts_a_list_and_a_non_contiguous_view():
    np.testing.assert_allclose(
        refnet.numerical_gradient(sum_of_squares, [1.0, 2.0]), [2, 4], atol=1e-10
    )
    base = np.arange(12.0).reshape(3, 4)
    view = base[:, ::2]
    before = base.copy()
    grad = refnet.numerical_gradient(sum_of_squares, view)
    np.testing.assert_allclose(grad, 2 * view, rtol=0, atol=1e-9)
    assert base.tobytes() == before.tobytes()


# -- the in-place contract -------------------------------------------------------------------


def test_f_sees_the_perturbation_in_place():
    x = np.array([1.0, 2.0])
    # Ignores its argument, as the book's `lambda W: net.loss(x, t)` does.
    grad = refnet.numerical_gradient(lambda _: np.sum(x**3), x)
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-7)


def test_x_is_bit_identical_after_f_raises():
    x = np.array([0.1, -0.0, 0.3, 1e-300])
    before = x.tobytes()
    calls = []

    def failing(v):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("boom")
        return float(np.sum(v))

    with pytest.raises(RuntimeError, match="boom"):
        refnet.numerical_gradient(failing, x)
    assert x.tobytes() == before


def test_the_books_loop_leaves_x_perturbed_when_f_raises():
    x = np.array([1.0, 2.0])

    def failing(v):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        book.numerical_gradient(failing, x)
    assert x[0] == 1.0 + 1e-4  # what refnet's finally block prevents


def test_f_that_modifies_x_is_caught_and_undone():
    x = np.array([1.0, 2.0, 3.0])
    before = x.tobytes()

    def meddling(v):
        v[2] += 1.0
        return float(np.sum(v))

    with pytest.raises(ValueError, match="modified its argument"):
        refnet.numerical_gradient(meddling, x)
    assert x.tobytes() == before


@pytest.mark.parametrize("layout", ["fortran", "transposed", "strided"])
def test_the_loop_perturbs_any_layout_in_place(layout):
    """The loop writes through a flat view of a C-contiguous x and through multi-indices
    otherwise: either way f sees x itself moved, in the same order, with the same values."""
    base = np.linspace(-1.2, 2.3, 24).reshape(4, 6)
    x = {
        "fortran": np.asfortranarray(base),
        "transposed": base.T,
        "strided": np.linspace(-1.2, 2.3, 48).reshape(4, 12)[:, ::2],
    }[layout]
    before = x.tobytes()
    reference = np.ascontiguousarray(x)
    seen, seen_reference = [], []

    def cubes(record, array):
        def f(_):  # ignores its argument: reads x through the closure, as the book's loss does
            record.append(array.copy())
            # Summed in C order whatever the layout, so the two runs round alike.
            return float(np.sum(np.ascontiguousarray(array) ** 3))

        return f

    grad = refnet.numerical_gradient(cubes(seen, x), x)
    expected = refnet.numerical_gradient(cubes(seen_reference, reference), reference)
    assert grad.tobytes() == expected.tobytes()
    assert [a.tobytes() for a in map(np.ascontiguousarray, seen)] == [
        a.tobytes() for a in seen_reference
    ]
    assert x.tobytes() == before


def test_every_value_f_returns_is_still_checked():
    x = np.array([[0.5, 1.5, -2.0], [1.0, 0.25, 3.0]])
    calls = []

    def nan_once(v):
        calls.append(1)
        return np.float64(np.nan) if len(calls) == 9 else float(np.sum(v**2))

    # Call 9 is element 4 = x[1, 1] moved by +h (two calls an element, +h first).
    with pytest.raises(ValueError, match=r"f returned nan at x\[1, 1\]\+1h"):
        refnet.numerical_gradient(nan_once, x)
    for bad, error, message in [
        (lambda v: True, TypeError, "real number"),
        (lambda v: np.array([1.0]), TypeError, "f must return a scalar"),
        (lambda v: complex(1, 1), TypeError, "real number"),
        (lambda v: np.inf, ValueError, "f returned inf"),
    ]:
        with pytest.raises(error, match=message):
            refnet.numerical_gradient(bad, x)
    # Python ints and NumPy integers are real numbers: accepted.
    assert refnet.numerical_gradient(lambda v: 3, x).tolist() == [[0.0] * 3] * 2


def test_the_precision_f_returns_in_reaches_the_error_estimate():
    """f returning float32 values rounds them at ε32 = 1.2e-7, not ε64 = 2.2e-16.  The
    round-off estimate's first term, ε_f Σ_j |w_j f_j| / (d h), is then at least
    ε32 · 2 · f(x) / (2h) to first order (f ≈ f(x) = 2.5 at both points), 3e-3 here; with
    float64 values the whole estimate stays near 1e-11."""
    x = np.array([0.5, 1.5])
    _, err64 = refnet.numerical_gradient(lambda v: float(np.sum(v**2)), x, return_error=True)
    _, err32 = refnet.numerical_gradient(lambda v: np.float32(np.sum(v**2)), x, return_error=True)
    floor = float(np.finfo(np.float32).eps) * 2 * 2.5 / (2 * 1e-4)
    assert np.all(err32.roundoff >= 0.99 * floor)
    assert np.all(err64.roundoff < floor / 1e6)


# -- refusals and warnings --------------------------------------------------------------------


def test_read_only_x_is_refused():
    x = np.array([1.0, 2.0])
    x.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        refnet.numerical_gradient(sum_of_squares, x)


@pytest.mark.parametrize("bad", [np.array([1.0, np.nan]), np.array([np.inf, 1.0])])
def test_non_finite_x_is_refused(bad):
    with pytest.raises(ValueError, match="x must be finite"):
        refnet.numerical_gradient(sum_of_squares, bad)


def test_lost_step_is_refused():
    with pytest.raises(refnet.StepLostError, match="lost to rounding"):
        refnet.numerical_gradient(sum_of_squares, np.array([1.0, 1e13]))
    with pytest.raises(refnet.StepLostError):
        refnet.numerical_gradient(sum_of_squares, np.array([5.0]), h=1e-50)
    with pytest.raises(refnet.StepLostError):
        refnet.numerical_diff(function_1, 5, h=1e-50)


@pytest.mark.parametrize("h", [0.0, -1e-4, np.nan, np.inf])
def test_bad_step_is_refused(h):
    with pytest.raises(ValueError, match="h must be"):
        refnet.numerical_gradient(sum_of_squares, np.array([1.0]), h=h)


def test_f_returning_a_vector_is_refused():
    with pytest.raises(TypeError, match="f must return a scalar"):
        refnet.numerical_gradient(lambda v: v * 2, np.array([1.0, 2.0]))


def test_f_returning_nan_is_refused():
    with pytest.raises(ValueError, match="f returned nan"):
        refnet.numerical_gradient(lambda v: np.nan * v[0], np.array([1.0]))


def test_complex_x_is_refused():
    with pytest.raises(TypeError, match="complex"):
        refnet.numerical_gradient(lambda v: np.sum(v.real), np.array([1.0 + 0j]))


def test_float32_is_differentiated_with_a_precision_warning():
    x = np.array([3.0, 4.0], dtype=np.float32)
    with pytest.warns(refnet.PrecisionWarning, match="float32"):
        grad = refnet.numerical_gradient(sum_of_squares, x)
    assert grad.dtype == np.float32
    # Round-off: ε32 |f| / h = 1.2e-7 · 25 / 1e-4 ≈ 0.03 per evaluation pair, plus the
    # rounding of x ± h in float32 (relative ε32 |x| / h ≈ 5e-3 of the step).  Not 1e-10:
    # that is the point of the warning.
    np.testing.assert_allclose(grad, [6.0, 8.0], rtol=0, atol=0.1)


@pytest.mark.parametrize("scheme, order", [("forward", 1), ("backward", 1), ("central", 2)])
def test_schemes_have_their_truncation_order(scheme, order):
    """Halving h divides the truncation error by 2**order (exp at 0.5, h where round-off is negligible)."""
    errors = [
        abs(refnet.numerical_diff(np.exp, 0.5, h, scheme=scheme) - np.exp(0.5))
        for h in (1e-2, 5e-3)
    ]
    assert errors[0] / errors[1] == pytest.approx(2**order, rel=0.05)


def test_no_warnings_in_float64():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refnet.numerical_gradient(sum_of_squares, np.array([3.0, 4.0]))


# -- schemes, steps and error estimates ----------------------------------------------------------

from refnet.conformance.tolerances import STENCILS  # noqa: E402


def test_the_scheme_table_holds_the_textbook_stencils():
    for name, (offsets, weights, divisor, order) in STENCILS.items():
        got_offsets, got_weights, got_divisor = refnet.SCHEMES[name]
        # The same stencil up to a common factor and the order of its points.
        got = sorted(zip(got_offsets, np.divide(got_weights, got_divisor), strict=True))
        want = sorted(zip(offsets, np.divide(weights, divisor), strict=True))
        np.testing.assert_allclose(got, want, rtol=1e-15, err_msg=name)
        assert refnet.scheme_order(name) == order


def test_one_level_of_richardson_is_the_five_point_stencil_at_half_the_step():
    """(4 C(h/2) - C(h)) / 3 = (8(f(x+h/2) - f(x-h/2)) - (f(x+h) - f(x-h))) / 6h: the
    five-point stencil with step h/2, which is why "richardson" takes two levels."""
    h = 0.01
    c = [refnet.numerical_diff(np.sin, 0.7, s) for s in (h, h / 2)]
    one_level = (4 * c[1] - c[0]) / 3
    # Both are O(h⁴) approximations of cos 0.7 made of the same four values; they differ
    # only by rounding: a few ε |f| / h ≈ 1e-13.
    assert abs(one_level - refnet.numerical_diff(np.sin, 0.7, h / 2, scheme="five_point")) < 1e-12


@pytest.mark.parametrize("scheme", ["forward", "backward", "central", "five_point", "richardson"])
def test_every_scheme_differentiates_exp(scheme):
    # exp'(1) = e; at h = 1e-3 the leading truncation terms are h e / 2 (first order),
    # h² e / 6, h⁴ e / 30 and h⁶ e / 322560: well under 2e-3, 1e-6, 1e-12, 1e-15.
    bound = {"forward": 2e-3, "backward": 2e-3, "central": 1e-6, "five_point": 1e-11}
    error = abs(refnet.numerical_diff(np.exp, 1.0, 1e-3, scheme=scheme) - np.e)
    assert error < bound.get(scheme, 1e-11)


def test_unknown_scheme_and_step_are_refused():
    with pytest.raises(ValueError, match="scheme must be one of"):
        refnet.numerical_gradient(sum_of_squares, np.array([1.0]), scheme="centre")
    with pytest.raises(ValueError, match="h must be a positive number or 'auto'"):
        refnet.numerical_gradient(sum_of_squares, np.array([1.0]), h="best")
    with pytest.raises(ValueError, match="does not broadcast"):
        refnet.numerical_gradient(
            sum_of_squares, np.array([1.0, 2.0]), h=np.array([1e-4, 1e-4, 1e-4])
        )
    with pytest.raises(ValueError, match="> 0 and finite"):
        refnet.numerical_gradient(sum_of_squares, np.array([1.0, 2.0]), h=np.array([1e-4, 0.0]))


def test_per_element_steps():
    """Element i of the gradient with steps h is element i with the single step h[i]."""
    x = np.array([0.5, -2.0, 1e6])
    steps = np.array([1e-4, 1e-3, 1.0])
    f = lambda v: float(np.sum(np.sin(v)))  # noqa: E731
    grad = refnet.numerical_gradient(f, x, h=steps)
    for i, h in enumerate(steps):
        assert grad[i] == refnet.numerical_gradient(f, x, h=float(h))[i]


def test_auto_step_is_the_issues_rule():
    x = np.array([0.0, 0.5, 3.0, -1000.0, 1e12])
    eps = np.finfo(np.float64).eps
    for scheme, p in [("forward", 1), ("central", 2), ("five_point", 4), ("richardson", 6)]:
        h = refnet.auto_step(x, scheme)
        target = eps ** (1 / (p + 1)) * np.maximum(np.abs(x), 1)
        assert np.all(np.log2(h) == np.round(np.log2(h))), "a power of two"
        assert np.all((h >= target / np.sqrt(2)) & (h <= target * np.sqrt(2)))
    np.testing.assert_array_equal(
        refnet.auto_step(x, "complex_step"), eps * np.maximum(np.abs(x), 1)
    )
    eps32 = np.finfo(np.float32).eps
    h32 = refnet.auto_step(np.float32(2.0), "central")
    assert eps32 ** (1 / 3) * 2 / np.sqrt(2) <= h32 <= eps32 ** (1 / 3) * 2 * np.sqrt(2)


def test_auto_step_follows_a_growing_iterate():
    """The book's lr=10.0 descent loses h = 1e-4 at |x| ~ 1e12; a step relative to |x|
    does not, and descent then follows the true iterate x0 (-19)^k."""
    x = np.array([-3.0, 4.0]) * 19.0**10
    with pytest.raises(refnet.StepLostError):
        refnet.numerical_gradient(function_2, x.copy())
    grad = refnet.numerical_gradient(function_2, x.copy(), "auto")
    # f''' = 0: round-off only, ε|f| / h with h ≈ ε^(1/3)|x|: relative ε^(2/3) ≈ 4e-11,
    # times the rounding stages of f (3) and the power-of-two rounding of h (√2).
    np.testing.assert_allclose(grad, 2 * x, rtol=3 * np.sqrt(2) * 4e-11 * 25 / 9)
    out = refnet.gradient_descent(
        function_2, np.array([-3.0, 4.0]), lr=10.0, step_num=100, h="auto"
    )
    # 100 steps, each multiplying by -19 (1 + δ) with |δ| <= the relative error above
    # times 20/19: the product errs by <= 100 · 1.1 · 2e-10 relative.
    np.testing.assert_allclose(out, np.array([-3.0, 4.0]) * 19.0**100, rtol=100 * 1.1 * 2e-10)


def test_complex_step_is_exact_to_rounding():
    x = np.array([-1.0, 0.25, 2.0])
    grad = refnet.numerical_gradient(lambda v: np.sum(np.exp(v)), x, "auto", scheme="complex_step")
    # Nothing is subtracted: the error is the rounding of e^x itself and of the step's
    # imaginary part, a few ε relative; truncation h² e^x / 6 with h ~ 4e-16 is nothing.
    np.testing.assert_allclose(grad, np.exp(x), rtol=4 * np.finfo(float).eps, atol=0)
    assert refnet.numerical_diff(np.sin, 1.0, 1e-20, scheme="complex_step") == np.cos(1.0)


def test_complex_step_needs_an_f_that_carries_the_imaginary_part():
    x = np.array([1.0, 2.0])
    with pytest.raises(TypeError, match="carry the imaginary part"):
        refnet.numerical_gradient(lambda v: float(np.sum(np.abs(v))), x, scheme="complex_step")
    # An f that ignores its argument (the book's lambda W: net.loss(x, t)) sees no step.
    with pytest.raises(TypeError, match="ignore its argument"):
        refnet.numerical_gradient(lambda _: np.sum(x**2), x, scheme="complex_step")
    assert x.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("scheme", ["central", "forward", "five_point", "richardson"])
def test_error_estimate_tracks_the_actual_error(scheme):
    """In the truncation regime the estimate |D(h) - D(2h)| / (2^p - 1) is the error to
    leading order: the ratio is 1 + O(h) (one-sided) or 1 + O(h²)."""
    h = {"central": 1e-2, "forward": 1e-3, "five_point": 5e-2, "richardson": 0.2}[scheme]
    value, estimate = refnet.numerical_diff(np.exp, 0.5, h, scheme=scheme, return_error=True)
    actual = abs(value - np.exp(0.5))
    assert estimate.step == h
    # Next-term share at these h is below 3% for every scheme (h/3, h²/20, 0.12h², 0.02h²,
    # times the ratio 2^(p+q) - 1 over 2^p - 1 <= 3 for the D(2h) comparison).
    assert 0.9 * actual <= estimate.truncation <= 1.1 * actual
    assert estimate.roundoff < 1e-3 * actual


def test_error_estimate_sees_round_off_when_h_is_too_small():
    x = np.array([0.3, 0.5, 0.7])
    grad, estimate = refnet.numerical_gradient(
        lambda v: np.sum(np.exp(v)), x, 1e-10, return_error=True
    )
    actual = np.abs(grad - np.exp(x))
    # Round-off ε |f| / h with |f| = Σe^x ≈ 5: about 1e-5 per element; the estimate is of
    # that size, and bounds the actual error.
    assert np.all(estimate.roundoff > 1e-6)
    assert np.all(actual <= estimate.total * 10)
    assert np.all(estimate.step == 1e-10) and estimate.step.shape == x.shape


def test_return_error_does_not_change_the_gradient():
    x = np.array([[0.3, -1.2], [2.0, 0.1]])
    for scheme in ["central", "forward", "five_point", "richardson", "complex_step"]:
        plain = refnet.numerical_gradient(lambda v: np.sum(np.sin(v)), x, "auto", scheme=scheme)
        with_error, _ = refnet.numerical_gradient(
            lambda v: np.sum(np.sin(v)), x, "auto", scheme=scheme, return_error=True
        )
        assert plain.tobytes() == with_error.tobytes()


def test_new_schemes_keep_the_in_place_contract():
    x = np.array([0.1, -0.0, 0.3])
    before = x.tobytes()
    calls = []

    def failing(v):
        calls.append(1)
        if len(calls) == 7:
            raise RuntimeError("boom")
        return float(np.sum(v**2))

    with pytest.raises(RuntimeError, match="boom"):
        refnet.numerical_gradient(failing, x, "auto", scheme="richardson")
    assert x.tobytes() == before
    with pytest.raises(TypeError, match="integer dtype"):
        refnet.numerical_gradient(sum_of_squares, np.array([3, 4]), scheme="five_point")
    with pytest.raises(refnet.StepLostError):
        refnet.numerical_gradient(sum_of_squares, np.array([1e13]), scheme="five_point")


#: The stencils of the module docstring, written out here: offset -> weight, and divisor.
STENCILS_BY_HAND = {
    "central": ({1: 1.0, -1: -1.0}, 2.0),
    "forward": ({1: 1.0, 0: -1.0}, 1.0),
    "five_point": ({2: -1.0, 1: 8.0, -1: -8.0, -2: 1.0}, 12.0),
}


def documented_roundoff(f, x, h, scheme, derivative):
    """ErrorEstimate.roundoff by its docstring: eps_f sum_j |w_j f(x + o_j h)| / (d h) for the
    rounding of f's values, plus |D| sum_j |w_j| eps_x (|x| + |o_j| h) / (2 d h) for the
    rounding of the perturbed points (eps_f = eps_x = float64's eps here)."""
    weights, divisor = STENCILS_BY_HAND[scheme]
    eps = np.finfo(np.float64).eps
    values = sum(abs(w) * abs(f(x + o * h)) for o, w in weights.items())
    points = sum(abs(w) * (abs(x) + abs(o) * h) for o, w in weights.items())
    return (eps * values + abs(derivative) * eps * points / 2) / (divisor * h)


@pytest.mark.parametrize("scheme", sorted(STENCILS_BY_HAND))
def test_the_roundoff_estimate_is_its_documented_formula(scheme):
    """Not only a bound: the estimate is the formula the docs state, for numerical_diff and
    for every element of numerical_gradient.  (A round-off estimate ten times too large
    would still bound the actual error and pass the tests above.)"""
    h = 1e-3
    value, estimate = refnet.numerical_diff(np.exp, 0.5, h, scheme=scheme, return_error=True)
    expected = documented_roundoff(np.exp, 0.5, h, scheme, value)
    # The same sums in another order: equal to a few ulps.
    assert estimate.roundoff == pytest.approx(expected, rel=1e-12)

    x = np.array([0.3, -1.7, 2.5])
    total = float(np.sum(np.exp(x)))
    grad, estimate = refnet.numerical_gradient(
        lambda v: np.sum(np.exp(v)), x.copy(), h, scheme=scheme, return_error=True
    )
    for i in range(x.size):
        # f of the whole array, with element i moved: Σ e^x - e^(x_i) + e^(x_i + o h).
        def f_i(xi, i=i):
            return total - np.exp(x[i]) + np.exp(xi)

        expected = documented_roundoff(f_i, x[i], h, scheme, grad[i])
        assert estimate.roundoff[i] == pytest.approx(expected, rel=1e-9)


# -- the book's loop and the engine: the same bits ----------------------------------------------
# With a number h and the central scheme, numerical_diff and numerical_gradient run the book's
# plain loop; everything else goes to the engine.  Where both apply (the engine is reached
# here through return_error, which adds the evaluations at 2h but combines the same ±h
# values, and through an array of equal steps), they must agree to the bit.


def _engine_gradient(f, x, h=1e-4):
    by_error = refnet.numerical_gradient(f, x, h, return_error=True)[0]
    by_array = refnet.numerical_gradient(f, x, np.full(np.shape(x), h))
    assert by_error.tobytes() == by_array.tobytes()
    return by_array


@pytest.mark.parametrize("x", [5.0, 10.0, -3.25, 1e-8])
def test_numerical_diff_the_books_line_and_the_engine_give_the_same_bits(x):
    plain = refnet.numerical_diff(function_1, x)
    engine, _ = refnet.numerical_diff(function_1, x, return_error=True)
    assert np.float64(plain).tobytes() == np.float64(engine).tobytes()


@pytest.mark.parametrize("x", [[3.0, 4.0], [0.0, 2.0], [3.0, 0.0]])
def test_numerical_gradient_the_books_loop_and_the_engine_give_the_same_bits(x):
    x = np.array(x)
    plain = refnet.numerical_gradient(function_2, x)
    assert plain.tobytes() == _engine_gradient(function_2, x).tobytes()


@settings(deadline=None)
@given(data=st.data())
def test_the_books_loop_and_the_engine_agree_bit_for_bit_on_drawn_inputs(data):
    dtype = data.draw(st.sampled_from([np.float64, np.float32]), label="dtype")
    x = data.draw(finite_arrays(array_shapes(max_dims=3), -3.0, 3.0, dtype), label="x")
    smooth = SMOOTH_FUNCTIONS[data.draw(st.sampled_from(sorted(SMOOTH_FUNCTIONS)), label="f")]
    h = data.draw(st.sampled_from([1e-4, 1e-3, 2.0**-10]), label="h")

    def f(v):  # the conformance suite's smooth functions, on NumPy
        return smooth.formula(np, v)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", refnet.PrecisionWarning)  # float32, as documented
        plain = refnet.numerical_gradient(f, x, h)
        engine = _engine_gradient(f, x, h)
    assert plain.dtype == engine.dtype == x.dtype
    assert plain.tobytes() == engine.tobytes()
