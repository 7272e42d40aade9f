"""SimpleNet: the book's example values (section 4.4.2)."""

from __future__ import annotations

import numpy as np
import pytest

import refnet

W_BOOK = np.array([[0.47355232, 0.9977393, 0.84668094], [0.85557411, 0.03563661, 0.69422093]])
X = np.array([0.6, 0.9])
T = np.array([0, 0, 1])


def test_predict_reproduces_the_book():
    net = refnet.SimpleNet(W=W_BOOK)
    # The book prints p to 8 digits; W is given to 8 digits, so p is exact to about 1e-8.
    np.testing.assert_allclose(
        net.predict(X), [1.05414809, 0.63071653, 1.1328074], rtol=0, atol=1e-8
    )
    assert np.argmax(net.predict(X)) == 2


def test_loss_with_and_without_delta():
    net = refnet.SimpleNet(W=W_BOOK)
    # Both values recomputed by hand from the rounded W: log-sum-exp of p minus p[2].
    p = X @ W_BOOK
    exact = np.log(np.sum(np.exp(p))) - p[2]
    assert net.loss(X, T, delta=0) == pytest.approx(exact, rel=1e-15)
    assert net.loss(X, T, delta=0) == pytest.approx(0.9280685387482351, rel=1e-15)
    assert net.loss(X, T) == pytest.approx(0.9280682857864075, rel=1e-15)
    # The book's 0.92806853663411326 came from unrounded W: equal to the 8 digits of W.
    assert net.loss(X, T, delta=0) == pytest.approx(0.92806853663411326, abs=1e-7)


def test_numerical_gradient_reproduces_the_book():
    net = refnet.SimpleNet(W=W_BOOK)
    W_before = net.W.copy()
    with_delta = net.numerical_gradient(X, T)
    np.testing.assert_allclose(
        with_delta,
        [[0.21924757, 0.14356243, -0.36281], [0.32887136, 0.21534364, -0.544215]],
        rtol=0,
        atol=1e-8,
    )
    without_delta = net.numerical_gradient(X, T, delta=0)
    # The book's printed values (from its unrounded W), to the 8 digits it prints.
    np.testing.assert_allclose(
        without_delta,
        [[0.21924763, 0.14356247, -0.36281009], [0.32887144, 0.2153437, -0.54421514]],
        rtol=0,
        atol=1e-8,
    )
    assert net.W.tobytes() == W_before.tobytes()


def test_random_weights_come_from_the_given_rng():
    a = refnet.SimpleNet(rng=np.random.default_rng(7)).W
    b = refnet.SimpleNet(rng=7).W
    assert a.shape == (2, 3) and np.array_equal(a, b)


def test_bad_weights_and_inputs_are_refused():
    with pytest.raises(ValueError, match=r"W must have shape \(2, 3\)"):
        refnet.SimpleNet(W=np.zeros((3, 2)))
    net = refnet.SimpleNet(W=W_BOOK)
    with pytest.raises(ValueError, match="x must have shape"):
        net.predict(np.zeros(3))
