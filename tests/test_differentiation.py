"""numerical_diff, naive_numerical_diff and numerical_gradient: the book's values and contract."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from . import book


def function_1(x):
    return 0.01 * x**2 + 0.1 * x


def function_2(x):
    return x[0] ** 2 + x[1] ** 2


def sum_of_squares(x):
    return np.sum(x**2)


# -- the book's printed values ------------------------------------------------------------


def test_numerical_diff_reproduces_the_book(impl):
    assert impl.numerical_diff(function_1, 5) == 0.1999999999990898
    assert impl.numerical_diff(function_1, 10) == 0.2999999999986347


def test_numerical_diff_is_near_the_exact_derivative(impl):
    # f''' = 0 for a quadratic: only round-off, ε |f| / h ≈ 2.2e-16 · 1.25 / 1e-4 ≈ 3e-12,
    # times a few rounding stages; 1e-11 is that bound.
    assert abs(impl.numerical_diff(function_1, 5) - 0.2) < 1e-11
    assert abs(impl.numerical_diff(function_1, 10) - 0.3) < 1e-11


def test_naive_numerical_diff_reproduces_the_bad_example_and_says_why(impl):
    with pytest.warns(impl.PrecisionWarning, match="lost to rounding"):
        assert impl.naive_numerical_diff(function_1, 5) == 0.0
    # The same number as the book's code: the step 1e-50 vanishes in 5 + 1e-50.
    assert book.numerical_diff_bad(function_1, 5) == 0.0
    assert 5.0 + 1e-50 == 5.0
    assert np.float32(1e-50) == 0.0  # the book's side remark: underflow in float32


def test_numerical_gradient_reproduces_the_book(impl):
    assert impl.numerical_gradient(function_2, np.array([3.0, 4.0])).tolist() == [
        6.00000000000378,
        7.999999999999119,
    ]
    # The book prints [0, 4] and [6, 0]; the central difference of a quadratic is exact up
    # to round-off (ε |f| / h ≈ 2.2e-16 · 9 / 1e-4 ≈ 2e-11).
    np.testing.assert_allclose(
        impl.numerical_gradient(function_2, np.array([0.0, 2.0])), [0, 4], rtol=0, atol=1e-10
    )
    np.testing.assert_allclose(
        impl.numerical_gradient(function_2, np.array([3.0, 0.0])), [6, 0], rtol=0, atol=1e-10
    )


def test_the_books_loop_on_an_integer_array_is_wrong_and_refnet_refuses(impl):
    x = np.array([3, 4])
    # The book's loop stores 3 + 1e-4 as 3 and 3 - 1e-4 as 2: (9+16 - (4+16)) / 2e-4 = 25000.
    assert book.numerical_gradient(sum_of_squares, x.copy()).tolist() == [25000, 35000]
    with pytest.raises(TypeError, match="integer dtype"):
        impl.numerical_gradient(sum_of_squares, x)
    assert x.tolist() == [3, 4]


# -- shapes --------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(), (1,), (3,), (2, 3), (2, 1, 3), (2, 2, 1, 2)])
def test_numerical_gradient_of_any_shape(impl, shape):
    x = np.linspace(-1.5, 1.5, int(np.prod(shape))).reshape(shape)
    grad = impl.numerical_gradient(sum_of_squares, x)
    assert grad.shape == x.shape and grad.dtype == x.dtype
    # Exact answer 2x; quadratic: round-off only, ε · Σx² / h ≲ 2.2e-16 · 10 / 1e-4.
    np.testing.assert_allclose(grad, 2 * x, rtol=0, atol=1e-10)


def test_numerical_gradient_of_rows_is_the_slides_batched_version(impl):
    """The slides' 2-D version takes the gradient of f at each row; for f a sum of per-row
    terms, the whole-array gradient is the same stack of per-row gradients."""
    X = np.array([[3.0, 4.0], [0.0, 2.0], [3.0, 0.0]])
    rowwise = np.stack([impl.numerical_gradient(function_2, row.copy()) for row in X])
    whole = impl.numerical_gradient(lambda A: np.sum(A[:, 0] ** 2 + A[:, 1] ** 2), X)
    np.testing.assert_allclose(whole, rowwise, rtol=0, atol=1e-10)


def test_numerical_gradient_accepts_a_list_and_a_non_contiguous_view(impl):
    np.testing.assert_allclose(
        impl.numerical_gradient(sum_of_squares, [1.0, 2.0]), [2, 4], atol=1e-10
    )
    base = np.arange(12.0).reshape(3, 4)
    view = base[:, ::2]
    before = base.copy()
    grad = impl.numerical_gradient(sum_of_squares, view)
    np.testing.assert_allclose(grad, 2 * view, rtol=0, atol=1e-9)
    assert base.tobytes() == before.tobytes()


# -- the in-place contract -------------------------------------------------------------------


def test_f_sees_the_perturbation_in_place(impl):
    x = np.array([1.0, 2.0])
    # Ignores its argument, as the book's `lambda W: net.loss(x, t)` does.
    grad = impl.numerical_gradient(lambda _: np.sum(x**3), x)
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-7)


def test_x_is_bit_identical_after_f_raises(impl):
    x = np.array([0.1, -0.0, 0.3, 1e-300])
    before = x.tobytes()
    calls = []

    def failing(v):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("boom")
        return float(np.sum(v))

    with pytest.raises(RuntimeError, match="boom"):
        impl.numerical_gradient(failing, x)
    assert x.tobytes() == before


def test_the_books_loop_leaves_x_perturbed_when_f_raises():
    x = np.array([1.0, 2.0])

    def failing(v):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        book.numerical_gradient(failing, x)
    assert x[0] == 1.0 + 1e-4  # what refnet's finally block prevents


def test_f_that_modifies_x_is_caught_and_undone(impl):
    x = np.array([1.0, 2.0, 3.0])
    before = x.tobytes()

    def meddling(v):
        v[2] += 1.0
        return float(np.sum(v))

    with pytest.raises(ValueError, match="modified its argument"):
        impl.numerical_gradient(meddling, x)
    assert x.tobytes() == before


# -- refusals and warnings --------------------------------------------------------------------


def test_read_only_x_is_refused(impl):
    x = np.array([1.0, 2.0])
    x.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        impl.numerical_gradient(sum_of_squares, x)


@pytest.mark.parametrize("bad", [np.array([1.0, np.nan]), np.array([np.inf, 1.0])])
def test_non_finite_x_is_refused(impl, bad):
    with pytest.raises(ValueError, match="x must be finite"):
        impl.numerical_gradient(sum_of_squares, bad)


def test_lost_step_is_refused(impl):
    with pytest.raises(impl.StepLostError, match="lost to rounding"):
        impl.numerical_gradient(sum_of_squares, np.array([1.0, 1e13]))
    with pytest.raises(impl.StepLostError):
        impl.numerical_gradient(sum_of_squares, np.array([5.0]), h=1e-50)
    with pytest.raises(impl.StepLostError):
        impl.numerical_diff(function_1, 5, h=1e-50)


@pytest.mark.parametrize("h", [0.0, -1e-4, np.nan, np.inf])
def test_bad_step_is_refused(impl, h):
    with pytest.raises(ValueError, match="h must be"):
        impl.numerical_gradient(sum_of_squares, np.array([1.0]), h=h)


def test_f_returning_a_vector_is_refused(impl):
    with pytest.raises(TypeError, match="f must return a scalar"):
        impl.numerical_gradient(lambda v: v * 2, np.array([1.0, 2.0]))


def test_f_returning_nan_is_refused(impl):
    with pytest.raises(ValueError, match="f returned nan"):
        impl.numerical_gradient(lambda v: np.nan * v[0], np.array([1.0]))


def test_complex_x_is_refused(impl):
    with pytest.raises(TypeError, match="complex"):
        impl.numerical_gradient(lambda v: np.sum(v.real), np.array([1.0 + 0j]))


def test_float32_is_differentiated_with_a_precision_warning(impl):
    x = np.array([3.0, 4.0], dtype=np.float32)
    with pytest.warns(impl.PrecisionWarning, match="float32"):
        grad = impl.numerical_gradient(sum_of_squares, x)
    assert grad.dtype == np.float32
    # Round-off: ε32 |f| / h = 1.2e-7 · 25 / 1e-4 ≈ 0.03 per evaluation pair, plus the
    # rounding of x ± h in float32 (relative ε32 |x| / h ≈ 5e-3 of the step).  Not 1e-10:
    # that is the point of the warning.
    np.testing.assert_allclose(grad, [6.0, 8.0], rtol=0, atol=0.1)


@pytest.mark.parametrize("scheme, order", [("forward", 1), ("backward", 1), ("central", 2)])
def test_schemes_have_their_truncation_order(impl, scheme, order):
    """Halving h divides the truncation error by 2**order (exp at 0.5, h where round-off is negligible)."""
    errors = [
        abs(impl.numerical_diff(np.exp, 0.5, h, scheme=scheme) - np.exp(0.5)) for h in (1e-2, 5e-3)
    ]
    assert errors[0] / errors[1] == pytest.approx(2**order, rel=0.05)


def test_no_warnings_in_float64(impl):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        impl.numerical_gradient(sum_of_squares, np.array([3.0, 4.0]))
