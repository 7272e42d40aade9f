"""gradient_descent: the book's runs, the caller's init_x, the path, refusals."""

from __future__ import annotations

import numpy as np
import pytest

import refnet

from .fixtures import book_chapter4 as book


def function_2(x):
    return x[0] ** 2 + x[1] ** 2


def test_gradient_descent_reproduces_the_book():
    init_x = np.array([-3.0, 4.0])
    np.testing.assert_allclose(
        refnet.gradient_descent(function_2, init_x, lr=0.1, step_num=100),
        [-6.11110793e-10, 8.14814391e-10],
        rtol=1e-8,
    )
    np.testing.assert_allclose(
        refnet.gradient_descent(function_2, init_x, lr=1e-10, step_num=100),
        [-2.99999994, 3.99999992],
        rtol=1e-8,
    )
    assert init_x.tolist() == [-3.0, 4.0]


def test_the_books_lr_10_result_is_a_lost_step_and_refnet_says_so():
    # The book's loop reproduces its printed numbers...
    x = book.gradient_descent(function_2, np.array([-3.0, 4.0]), lr=10.0, step_num=100)
    np.testing.assert_allclose(x, [-2.58983747e13, -1.29524862e12], rtol=1e-8)
    # ...because x[1] froze where 1e-4 is below half the float64 spacing:
    assert x[1] + 1e-4 == x[1]
    # The true iterate is x0 (-19)^100 (each step multiplies by 1 - 2 lr = -19).
    with pytest.raises(refnet.StepLostError, match="step 10 of 100"):
        refnet.gradient_descent(function_2, np.array([-3.0, 4.0]), lr=10.0, step_num=100)


def test_the_books_descent_overwrites_init_x_and_refnet_does_not():
    init_x = np.array([-3.0, 4.0])
    book.gradient_descent(function_2, init_x, lr=0.1, step_num=10)
    assert init_x.tolist() != [-3.0, 4.0]
    init_x = np.array([-3.0, 4.0])
    refnet.gradient_descent(function_2, init_x, lr=0.1, step_num=10)
    assert init_x.tolist() == [-3.0, 4.0]


def test_return_path_gives_every_point():
    x, path = refnet.gradient_descent(
        function_2, np.array([-3.0, 4.0]), lr=0.1, step_num=20, return_path=True
    )
    assert path.shape == (21, 2)
    assert path[0].tolist() == [-3.0, 4.0] and np.array_equal(path[-1], x)
    # Each step multiplies by 1 - 2 lr = 0.8 (up to the O(ε/h) round-off of the quotient).
    np.testing.assert_allclose(path[1:] / path[:-1], 0.8, rtol=1e-9)


def test_zero_steps_returns_a_copy_of_init_x():
    init_x = np.array([1.0, 2.0])
    out = refnet.gradient_descent(function_2, init_x, step_num=0)
    assert out.tolist() == [1.0, 2.0] and out is not init_x


def test_integer_init_x_is_computed_in_float64():
    out = refnet.gradient_descent(function_2, np.array([-3, 4]), lr=0.1, step_num=100)
    np.testing.assert_allclose(out, [-6.11110793e-10, 8.14814391e-10], rtol=1e-8)


@pytest.mark.parametrize("lr", [0.0, -0.1, np.nan, np.inf])
def test_bad_learning_rate_is_refused(lr):
    with pytest.raises(ValueError, match="lr must be"):
        refnet.gradient_descent(function_2, np.array([1.0, 1.0]), lr=lr)


@pytest.mark.parametrize("step_num, error", [(-1, ValueError), (2.5, TypeError), (True, TypeError)])
def test_bad_step_num_is_refused(step_num, error):
    with pytest.raises(error, match="step_num"):
        refnet.gradient_descent(function_2, np.array([1.0, 1.0]), step_num=step_num)
