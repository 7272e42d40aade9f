"""mean_squared_error and cross_entropy_error: the book's values, target forms, refusals."""

from __future__ import annotations

import numpy as np
import pytest

import refnet

T = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
Y_RIGHT = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
Y_WRONG = np.array([0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0])


def test_mean_squared_error_reproduces_the_book():
    # ½ (0.1² + 0.05² + 0.4² + 0.05² + 0.1² + 0.1²) = 0.0975, by hand.
    assert refnet.mean_squared_error(Y_RIGHT, T) == pytest.approx(0.0975, rel=1e-15, abs=0)
    assert refnet.mean_squared_error(Y_WRONG, T) == pytest.approx(0.5975, rel=1e-15, abs=0)


def test_cross_entropy_reproduces_the_book():
    assert refnet.cross_entropy_error(Y_RIGHT, T) == 0.510825457099338
    assert refnet.cross_entropy_error(Y_WRONG, T) == 2.302584092994546


def test_the_slides_minibatch_example():
    """Slide 4.2.4: rows that do not sum to 1 are the book's own example and are accepted."""
    y1 = np.array([0.1, 0.05, 0, 0.6, 0, 0.1, 0, 0.4, 0.05, 0])
    t1 = np.array([0, 0, 0, 1, 0, 0, 0, 0, 0, 0])
    y2 = np.array(
        [[0.1, 0.05, 0, 0.6, 0, 0.1, 0, 0.4, 0.05, 0], [0.1, 0.05, 0, 0.06, 0, 0.1, 0, 0.4, 0.5, 0]]
    )
    t2 = np.array([[0, 0, 0, 1, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 1, 0]])
    assert refnet.cross_entropy_error(y1, t1) == -np.log(0.6 + 1e-7)
    assert refnet.cross_entropy_error(y2, t2) == (-np.log(0.6 + 1e-7) - np.log(0.5 + 1e-7)) / 2
    assert refnet.cross_entropy_error(y2, np.array([3, 8])) == refnet.cross_entropy_error(y2, t2)


def test_label_and_one_hot_forms_agree_to_the_last_bit():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(7, 5))
    y = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    t = rng.integers(0, 5, size=7)
    assert refnet.cross_entropy_error(y, t) == refnet.cross_entropy_error(y, np.eye(5)[t])
    assert refnet.mean_squared_error(y, t) == refnet.mean_squared_error(y, np.eye(5)[t])


def test_mse_batch_convention_is_the_mean_over_samples():
    y = np.stack([Y_RIGHT, Y_WRONG])
    t = np.stack([T, T])
    assert refnet.mean_squared_error(y, t) == pytest.approx((0.0975 + 0.5975) / 2, rel=1e-15)


def test_delta_zero_gives_the_exact_cross_entropy():
    assert refnet.cross_entropy_error(Y_RIGHT, T, delta=0) == -np.log(0.6)
    with np.errstate(divide="ignore"):
        assert refnet.cross_entropy_error(Y_RIGHT, 3, delta=0) == np.inf  # log 0: the true value


def test_soft_targets_are_accepted():
    y = np.array([0.2, 0.3, 0.5])
    t = np.array([0.5, 0.5, 0.0])
    assert refnet.cross_entropy_error(y, t, delta=0) == pytest.approx(
        -(0.5 * np.log(0.2) + 0.5 * np.log(0.3)), rel=1e-15
    )


@pytest.mark.parametrize(
    "y, t, error, message",
    [
        (Y_RIGHT, np.array([0, 0, 1]), ValueError, "fits y of shape"),
        (Y_RIGHT, 10, ValueError, "labels from 10 to 10 but y has 10 classes"),
        (Y_RIGHT, -1, ValueError, "labels from -1"),
        (np.stack([Y_RIGHT]), np.array([2.0]), TypeError, "labels must be integers"),
        (Y_RIGHT, np.zeros(10), ValueError, "row 0 sums to 0.0"),
        (Y_RIGHT, -T, ValueError, "must be non-negative"),
        (-Y_RIGHT, T, ValueError, "probabilities"),
        (Y_RIGHT * 2, T, ValueError, "probabilities"),
        (np.where(T, np.nan, Y_RIGHT), T, ValueError, "y must be finite"),
        (np.zeros((0, 10)), np.zeros((0, 10)), ValueError, "empty batch"),
        (np.float64(0.5), 0, ValueError, "one sample"),
        (Y_RIGHT + 0j, T, TypeError, "complex"),
    ],
)
def test_cross_entropy_refuses_bad_input(y, t, error, message):
    with pytest.raises(error, match=message):
        refnet.cross_entropy_error(y, t)


@pytest.mark.parametrize(
    "t, total",
    [
        (2 * T, 2.0),
        (np.eye(10)[2] + np.eye(10)[3], 2.0),  # two classes marked: a multi-hot row
        (np.full(10, 0.05), 0.5),
    ],
)
def test_targets_that_are_not_distributions_are_computed_with_a_warning(t, total):
    # The loss as written, -Σ t log(y + δ), term by term (no row normalisation).
    expected = -np.sum(t * np.log(Y_RIGHT + 1e-7))
    with pytest.warns(refnet.TargetWarning, match=rf"row 0 sums to {total:g}, not 1"):
        value = refnet.cross_entropy_error(Y_RIGHT, t)
    # One log per term, summed: a few ulps of the terms' magnitudes (at most ~16 here).
    assert value == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("delta", [-1e-7, np.nan, np.inf, "1e-7"])
def test_bad_delta_is_refused(delta):
    with pytest.raises((ValueError, TypeError), match="delta"):
        refnet.cross_entropy_error(Y_RIGHT, T, delta=delta)


def test_inputs_are_not_modified():
    y, t = Y_RIGHT.copy(), T.copy()
    refnet.cross_entropy_error(y, t)
    refnet.mean_squared_error(y, t)
    assert np.array_equal(y, Y_RIGHT) and np.array_equal(t, T)
