"""TwoLayerNet: construction, shapes, accuracy in both target forms, gradients, contract."""

from __future__ import annotations

import numpy as np
import pytest

import refnet


@pytest.fixture
def small():
    net = refnet.TwoLayerNet(input_size=5, hidden_size=4, output_size=3, weight_init_std=0.5, rng=1)
    rng = np.random.default_rng(2)
    # Non-zero biases (a new network has b1 = b2 = 0): a forward pass that dropped either
    # would otherwise give the same numbers.
    net.params["b1"] = rng.uniform(-1, 1, size=4)
    net.params["b2"] = rng.uniform(-2, 2, size=3)
    x = rng.uniform(-1, 1, size=(6, 5))
    t = rng.integers(0, 3, size=6)
    return net, x, t


def forward_by_hand(params, x):
    """The book's forward pass written out here, independently of refnet: the expected
    values of the tests below."""
    a1 = x @ params["W1"] + params["b1"]
    z1 = 1.0 / (1.0 + np.exp(-a1))
    a2 = z1 @ params["W2"] + params["b2"]
    e = np.exp(a2 - a2.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_predict_is_the_books_forward_pass_with_both_biases(small):
    net, x, _ = small
    expected = forward_by_hand(net.params, x)
    # The same operations in the same order, up to the rounding of exp and of the sums
    # (a few ulps of values of order 1).
    np.testing.assert_allclose(net.predict(x), expected, rtol=0, atol=16 * np.finfo(float).eps)
    # Without b2 the probabilities move by far more than that: the test can tell.
    without_b2 = forward_by_hand({**net.params, "b2": np.zeros(3)}, x)
    assert np.max(np.abs(without_b2 - expected)) > 1e-2


def test_params_shapes_and_seeded_determinism():
    a = refnet.TwoLayerNet(784, 50, 10, rng=0)
    b = refnet.TwoLayerNet(784, 50, 10, rng=np.random.default_rng(0))
    assert {k: v.shape for k, v in a.params.items()} == {
        "W1": (784, 50),
        "b1": (50,),
        "W2": (50, 10),
        "b2": (10,),
    }
    for key in a.params:
        assert np.array_equal(a.params[key], b.params[key])
    assert not np.any(a.params["b1"]) and not np.any(a.params["b2"])
    # weight_init_std scales standard normal draws: sample std within 5 standard errors.
    std = a.params["W1"].std()
    assert abs(std - 0.01) < 5 * 0.01 / np.sqrt(2 * a.params["W1"].size)


def test_global_random_state_is_not_used():
    np.random.seed(0)  # noqa: NPY002  (the point: the global state must be left alone)
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    refnet.TwoLayerNet(3, 2, 2)
    assert np.array_equal(np.random.get_state()[1], state)  # noqa: NPY002


def test_predict_gives_probability_rows(small):
    net, x, _ = small
    y = net.predict(x)
    assert y.shape == (6, 3)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    # Vector-matrix and matrix-matrix products add in different orders: a few ulps apart
    # (4 terms per dot product: <= 4 ε relative, then softmax's exp and divide).
    np.testing.assert_allclose(net.predict(x[0]), y[0], rtol=8 * np.finfo(float).eps, atol=0)


def test_loss_and_accuracy_take_labels_or_one_hot(small):
    net, x, t = small
    hot = np.eye(3)[t]
    assert net.loss(x, t) == net.loss(x, hot)
    assert net.accuracy(x, t) == net.accuracy(x, hot)
    # The expected fraction from the forward pass written out in this file, not net.predict.
    expected = np.mean(np.argmax(forward_by_hand(net.params, x), axis=1) == t)
    assert 0 < expected < 1  # neither all right nor all wrong: a wrong count would show
    assert net.accuracy(x, t) == expected


def test_numerical_gradient_restores_params_and_matches_backprop(small):
    net, x, t = small
    before = {k: v.tobytes() for k, v in net.params.items()}
    numeric = net.numerical_gradient(x, t, delta=0)
    analytic = net.gradient(x, t)
    for key in before:
        assert net.params[key].tobytes() == before[key]
        # Central difference error h² M3 / 6 with M3 <= ~1 for these sizes: ~2e-9.
        np.testing.assert_allclose(numeric[key], analytic[key], rtol=0, atol=2e-9)


def test_gradient_shapes_match_params(small):
    net, x, t = small
    for grads in (net.gradient(x, t), net.numerical_gradient(x, t)):
        assert {k: v.shape for k, v in grads.items()} == {k: v.shape for k, v in net.params.items()}


@pytest.mark.parametrize(
    "x, t, message",
    [
        (
            np.zeros((2, 4)),
            np.array([0, 1]),
            "4 features per sample but the network's input_size is 5",
        ),
        (np.zeros((2, 5)), np.array([0, 3]), "labels from 0 to 3 but y has 3 classes"),
        (np.zeros((2, 5)), np.array([0, 1, 2]), "fits y of shape"),
        (np.zeros((0, 5)), np.zeros(0, dtype=int), "empty batch"),
        (np.full((2, 5), np.nan), np.array([0, 1]), "x must be finite"),
    ],
)
def test_bad_inputs_are_refused(small, x, t, message):
    net, _, _ = small
    for method in (net.loss, net.accuracy, net.gradient, net.numerical_gradient):
        with pytest.raises(ValueError, match=message):
            method(x, t)


@pytest.mark.parametrize("args", [(0, 2, 2), (3, 2.5, 2), (3, 2, -1)])
def test_bad_sizes_are_refused(args):
    with pytest.raises((ValueError, TypeError), match="size"):
        refnet.TwoLayerNet(*args)
