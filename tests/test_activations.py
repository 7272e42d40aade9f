"""Activation functions: values, stability, shapes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import refnet


def test_sigmoid_has_no_overflow_warning_and_correct_limits():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = refnet.sigmoid(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0]))
    assert out[0] == 0.0 and out[-1] == 1.0 and out[2] == 0.5
    # σ(-50) = e^-50 / (1 + e^-50): relative accuracy, not just absolute.
    assert out[1] == pytest.approx(np.exp(-50.0), rel=1e-14)


def test_softmax_is_stable_and_shift_invariant():
    a = np.array([[1010.0, 1000.0, 990.0], [0.3, 2.9, 4.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = refnet.softmax(a)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=0, atol=4e-16)
    np.testing.assert_allclose(refnet.softmax(a - 1000.0), y, rtol=1e-13)
    np.testing.assert_allclose(refnet.softmax(a[1]), y[1], rtol=0, atol=0)


def test_softmax_over_the_last_axis_of_any_batch_shape():
    a = np.arange(24.0).reshape(2, 3, 4) / 10
    y = refnet.softmax(a)
    for i in range(2):
        np.testing.assert_array_equal(y[i], refnet.softmax(a[i]))


def test_step_function_and_relu():
    x = np.array([-1.0, 0.0, 0.5])
    assert refnet.step_function(x).tolist() == [0, 0, 1]
    assert refnet.relu(x).tolist() == [0.0, 0.0, 0.5]


def test_sigmoid_grad_matches_its_definition():
    x = np.linspace(-5, 5, 11)
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(refnet.sigmoid_grad(x), s * (1 - s), rtol=1e-14)


def test_activations_do_not_modify_input():
    x = np.array([-1.0, 2.0])
    for fn in (refnet.sigmoid, refnet.relu, refnet.softmax, refnet.step_function):
        fn(x)
    assert x.tolist() == [-1.0, 2.0]
