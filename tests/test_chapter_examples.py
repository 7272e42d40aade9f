"""Every code example of the chapter, run with refnet's names as the book prints them.

One test per example, named by its section (``test_4_4_1_...``).  Each is marked either
``@books_number`` (refnet gives the number the book prints, or, where the book prints
none, the number the book's own code gives: ``tests/fixtures/book_chapter4.py``) or ``@deviation(slug)``:
refnet gives another number on purpose, and docs/explanation/differences-from-the-book.md
explains why under the heading ``{#slug}``.  The last tests check that the page and this
file cannot drift apart: every example is marked, every deviation on the page has a test,
and the page's table of examples says what the tests say.

"As printed" means the book's code with ``from refnet import ...`` in place of the book's
own definitions; where the book draws from the global ``np.random`` state, these tests pass
a seeded generator instead (the numbers the book prints there are random anyway).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

import refnet
from refnet import (
    SimpleNet,
    StepLostError,
    TargetWarning,
    TwoLayerNet,
    cross_entropy_error,
    gradient_descent,
    mean_squared_error,
    naive_numerical_diff,
    numerical_diff,
    numerical_gradient,
)
from refnet.datasets import load_digits

from .conftest import numerical_diff_bad
from .fixtures import book_chapter4 as book_code

PAGE = Path(__file__).resolve().parent.parent / "docs/explanation/differences-from-the-book.md"
BOOK = "book's number"

#: test name -> BOOK or the slug of a deviation on the page.
EXAMPLES: dict[str, str] = {}

#: Unit roundoff of float64: every correctly rounded operation errs by at most u relative.
U = np.finfo(np.float64).eps / 2


def books_number(test):
    EXAMPLES[test.__name__] = BOOK
    return test


def deviation(slug):
    def mark(test):
        EXAMPLES[test.__name__] = slug
        return test

    return mark


def function_1(x):
    return 0.01 * x**2 + 0.1 * x


def function_2(x):
    return x[0] ** 2 + x[1] ** 2


# The book's running example of section 4.2: the network puts 0.6, then 0.1, on class "2".
T_BOOK = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
Y_RIGHT = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
Y_WRONG = np.array([0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0])

# The slides' minibatch example of section 4.2.4 (rows of y do not sum to 1 there).
Y1 = np.array([0.1, 0.05, 0, 0.6, 0, 0.1, 0, 0.4, 0.05, 0])
T1 = np.array([0, 0, 0, 1, 0, 0, 0, 0, 0, 0])
Y2 = np.array(
    [[0.1, 0.05, 0, 0.6, 0, 0.1, 0, 0.4, 0.05, 0], [0.1, 0.05, 0, 0.06, 0, 0.1, 0, 0.4, 0.5, 0]]
)
T2 = np.array([[0, 0, 0, 1, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 1, 0]])

# Section 4.4.2: the weights the book printed for its random simpleNet, and its input.
W_BOOK = np.array([[0.47355232, 0.9977393, 0.84668094], [0.85557411, 0.03563661, 0.69422093]])
X_SIMPLE = np.array([0.6, 0.9])
T_SIMPLE = np.array([0, 0, 1])


# -- 4.2 loss functions ---------------------------------------------------------------------


@books_number
def test_4_2_1_mean_squared_error():
    # The book prints 0.097500000000000031 and 0.59750000000000003: the same two doubles.
    assert mean_squared_error(np.array(Y_RIGHT), np.array(T_BOOK)) == 0.097500000000000031
    assert mean_squared_error(np.array(Y_WRONG), np.array(T_BOOK)) == 0.59750000000000003


@deviation("mse-batch")
def test_4_2_1_mean_squared_error_of_a_batch():
    y, t = np.stack([Y_RIGHT, Y_WRONG]), np.stack([T_BOOK, T_BOOK])
    # The book's 0.5 * np.sum((y - t)**2) adds the two samples' errors...
    assert book_code.mean_squared_error(y, t) == pytest.approx(0.0975 + 0.5975, rel=1e-15)
    # ...refnet takes their mean, as cross-entropy does (eq. 4.3), so a batch of one
    # sample gives that sample's error and the value does not grow with the batch.
    assert mean_squared_error(y, t) == pytest.approx((0.0975 + 0.5975) / 2, rel=1e-15)
    assert mean_squared_error(y[:1], t[:1]) == mean_squared_error(Y_RIGHT, T_BOOK)


@books_number
def test_4_2_2_cross_entropy_error():
    # Printed by the book as 0.51082545709933802 and 2.3025840929945458.
    assert cross_entropy_error(np.array(Y_RIGHT), np.array(T_BOOK)) == 0.51082545709933802
    assert cross_entropy_error(np.array(Y_WRONG), np.array(T_BOOK)) == 2.3025840929945458


@deviation("random-state")
def test_4_2_3_drawing_a_minibatch():
    # The slides: batch_mask = np.random.choice(train_size, batch_size), from the global
    # state, and print(np.random.choice(60000, 10)), ten random indices.  refnet's draw
    # is the same call on a generator that the caller passes and can seed.
    from refnet.training import random_batch

    state = np.random.get_state()[1].copy()  # noqa: NPY002 (the legacy state, checked untouched)
    first = random_batch(np.random.default_rng(0), 60000, 10)
    again = random_batch(np.random.default_rng(0), 60000, 10)
    assert first.shape == (10,) and np.all((0 <= first) & (first < 60000))
    assert np.array_equal(first, again)
    net_a, net_b = TwoLayerNet(4, 3, 2, rng=7), TwoLayerNet(4, 3, 2, rng=7)
    assert all(np.array_equal(net_a.params[k], net_b.params[k]) for k in net_a.params)
    assert np.array_equal(np.random.get_state()[1], state)  # noqa: NPY002 (untouched)


@books_number
def test_4_2_4_cross_entropy_error_of_a_batch_one_hot():
    # The slides print no value: the book's code gives -log(0.6 + δ), then the mean of
    # -log(0.6 + δ) and -log(0.5 + δ); refnet gives the same doubles.
    assert cross_entropy_error(Y1, T1) == book_code.cross_entropy_error(Y1, T1)
    assert cross_entropy_error(Y2, T2) == book_code.cross_entropy_error(Y2, T2)
    assert cross_entropy_error(Y2, T2) == (-math.log(0.6 + 1e-7) - math.log(0.5 + 1e-7)) / 2


@books_number
def test_4_2_4_cross_entropy_error_of_a_batch_labels():
    # The slides' second version takes labels; refnet's one function takes both forms.
    labels = np.array([3, 8])
    assert cross_entropy_error(Y2, labels) == book_code.cross_entropy_error_labels(Y2, labels)
    assert cross_entropy_error(Y1, 3) == book_code.cross_entropy_error_labels(Y1, np.array(3))


# -- 4.3 numerical differentiation -------------------------------------------------------------


@books_number
def test_4_3_1_the_bad_example():
    # h = 1e-50: 5 + 1e-50 == 5 in float64, so the forward difference is exactly 0.
    with pytest.warns(refnet.PrecisionWarning, match="lost"):
        assert naive_numerical_diff(function_1, 5) == numerical_diff_bad(function_1, 5) == 0.0


@books_number
def test_4_3_2_numerical_diff_at_5():
    assert numerical_diff(function_1, 5) == 0.1999999999990898


@deviation("printed-digit")
def test_4_3_2_numerical_diff_at_10():
    printed = 0.29999999999986347  # the book's printout
    assert numerical_diff(function_1, 10) == book_code.numerical_diff(function_1, 10)
    assert numerical_diff(function_1, 10) == 0.2999999999986347  # one 9 fewer
    assert numerical_diff(function_1, 10) != printed
    # Both are central differences with round-off ε |f| / h ≈ 4e-12 (f(10) = 2): the
    # printout's error, 1.4e-13, is within it, but the book's code gives 1.4e-12.
    assert abs(printed - 0.3) < 4e-12 and abs(numerical_diff(function_1, 10) - 0.3) < 4e-12


@deviation("slides-numerical-difference")
def test_4_3_2_the_slides_numerical_difference():
    # The slides' numerical_difference (code not shown) prints 0.19999999999999998 and
    # 0.29999999999999998, within an ulp or two of the exact 0.2 and 0.3.  No central
    # difference at h = 1e-4 gets that close (round-off ε |f| / h ≈ 1e-12); the complex
    # step, which has no cancellation, does.
    assert numerical_diff(function_1, 5, scheme="complex_step") == pytest.approx(0.2, abs=4 * U)
    assert numerical_diff(function_1, 10, scheme="complex_step") == pytest.approx(0.3, abs=4 * U)
    assert abs(0.19999999999999998 - 0.2) <= 4 * U and abs(0.29999999999999998 - 0.3) <= 4 * U


@books_number
def test_4_3_2_plotting_function_1():
    # The slides' plot of eq. 4.5 (figure 4-6), drawn off screen.
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(0.0, 20.0, 0.1)
    y = function_1(x)
    plt.xlabel("x")
    plt.ylabel("f(x)")
    (line,) = plt.plot(x, y)
    plt.close("all")
    assert line.get_xydata().shape == (200, 2)
    assert np.array_equal(line.get_ydata(), 0.01 * x**2 + 0.1 * x)


@books_number
def test_4_3_3_partial_derivatives():
    def function_tmp1(x0):
        return x0 * x0 + 4.0**2.0

    def function_tmp2(x1):
        return 3.0**2.0 + x1 * x1

    assert numerical_diff(function_tmp1, 3.0) == 6.00000000000378
    assert numerical_diff(function_tmp2, 4.0) == 7.999999999999119


# -- 4.4 the gradient ----------------------------------------------------------------------


@books_number
def test_4_4_numerical_gradient():
    # Printed as [6.0000000000037801, 7.9999999999991189], then array([ 0.,  4.]) and
    # array([ 6.,  0.]) at NumPy's default 8 digits.
    assert numerical_gradient(function_2, np.array([3.0, 4.0])).tolist() == [
        6.0000000000037801,
        7.9999999999991189,
    ]
    for point, printed in (([0.0, 2.0], [0.0, 4.0]), ([3.0, 0.0], [6.0, 0.0])):
        grad = numerical_gradient(function_2, np.array(point))
        assert np.round(grad, 8).tolist() == printed
        assert grad.tolist() == book_code.numerical_gradient(function_2, np.array(point)).tolist()


@deviation("rows")
def test_4_4_numerical_gradient_of_rows():
    # The slides' 2-D extension calls f on each row; refnet's numerical_gradient calls f
    # on the whole array, as the 1-D version does.  The slides' f2 of one point...
    def f2(x):
        return x[0] * x[0] + x[1] * x[1]

    grid = np.array([[-2.0, 1.0], [0.5, 3.0], [1.5, -0.25]])
    per_row = book_code.numerical_gradient(f2, grid.copy())
    # ...is not a scalar function of the whole grid, and refnet says so:
    with pytest.raises(TypeError, match="scalar"):
        numerical_gradient(f2, grid.copy())

    # Summed over the rows it is, and its gradient is the slides' per-row gradient: each
    # element moves only its own row's term.  Same points, same quotient, up to the
    # round-off of the larger f (ε |f| / h with |f| <= 20 here).
    def f2_rows(x):
        return np.sum(x[:, 0] ** 2 + x[:, 1] ** 2)

    np.testing.assert_allclose(numerical_gradient(f2_rows, grid.copy()), per_row, atol=1e-10)


@books_number
def test_4_4_1_gradient_descent_lr_0_1():
    init_x = np.array([-3.0, 4.0])
    assert np.array2string(
        gradient_descent(function_2, init_x=init_x, lr=0.1, step_num=100)
    ) == np.array2string(np.array([-6.11110793e-10, 8.14814391e-10]))


@books_number
def test_4_4_1_gradient_descent_lr_1e_10():
    init_x = np.array([-3.0, 4.0])
    assert (
        np.array2string(gradient_descent(function_2, init_x=init_x, lr=1e-10, step_num=100))
        == "[-2.99999994  3.99999992]"
    )


def _descent_tolerance(path, steps):
    """Relative error bound of each point of a descent on x0² + x1² (lr = 10).

    One central difference of f = x0² + x1² at x errs, relative to g_i = 2 x_i, by the
    stored points' rounding, u |x_i| / h, plus the rounding of f(x ± h e_i), 3u |f| each,
    over 2h: 1.5 u |f| / (h |x_i|) <= 2.5 u |x| / h (here |x_i| >= 0.6 |x|, x being a
    multiple of (-3, 4)), plus 2u for the subtraction and division: 3.5 u |x| / h + 2u.
    The update x - lr g = -19 x + lr (2x - g) turns it into (20/19) of that, relative to
    the new point, plus u for the update's own rounding; an error already in x is only
    multiplied by -19, so the relative errors of the steps add up.
    """
    per_step = (20 / 19) * (3.5 * U * np.linalg.norm(path[:-1], axis=1) / steps + 2 * U) + U
    return np.concatenate([[0.0], np.cumsum(per_step)])


@deviation("lr-10")
def test_4_4_1_gradient_descent_lr_10():
    init_x = np.array([-3.0, 4.0])
    # The book's code prints [-2.58983747e+13, -1.29524862e+12]: x[1] froze at step 10.
    frozen = book_code.gradient_descent(function_2, init_x.copy(), lr=10.0, step_num=100)
    np.testing.assert_allclose(frozen, [-2.58983747e13, -1.29524862e12], rtol=1e-8)
    assert frozen[1] + 1e-4 == frozen[1]
    # refnet stops there, says why, and says what to do.
    with pytest.raises(StepLostError) as caught:
        gradient_descent(function_2, init_x, lr=10.0, step_num=100, return_path=True)
    message = str(caught.value)
    assert "diverged" in message and "multiplied by about -19 per step" in message
    assert "at step 10 of 100" in message and "use a smaller lr" in message
    assert "would only hide the divergence" in message  # not "raise h"
    # The path so far is the closed form x0 (-19)^k, to the error model's bound.
    path = caught.value.path
    assert caught.value.step == 10 and path.shape == (10, 2)
    assert np.array_equal(caught.value.x, path[-1])
    closed = init_x * (-19.0) ** np.arange(10)[:, None]
    error = np.max(np.abs(path - closed) / np.abs(closed), axis=1)
    assert np.all(error <= _descent_tolerance(closed, 1e-4))
    assert error[5] < 1e-7  # where the bound is tight enough to see a wrong update


@deviation("lr-10")
def test_4_4_1_gradient_descent_lr_10_watched_with_a_relative_step():
    init_x = np.array([-3.0, 4.0])
    x, path = gradient_descent(
        function_2, init_x, lr=10.0, step_num=100, h="auto", return_path=True
    )
    closed = init_x * (-19.0) ** np.arange(101)[:, None]
    steps = np.array([float(np.min(refnet.auto_step(point, "central"))) for point in closed[:-1]])
    error = np.max(np.abs(path - closed) / np.abs(closed), axis=1)
    assert np.all(error <= _descent_tolerance(closed, steps))
    assert np.abs(x[1]) > 1e128  # it kept going to about 3e128


@deviation("init-x")
def test_4_4_1_the_slides_three_runs_on_one_init_x():
    # The slides' "Test" cell runs lr = 0.1, 10.0 and 1e-5 on the same init_x.  The book's
    # gradient_descent updates init_x in place, so its second and third runs start where
    # the first ended; refnet's never changes init_x, so each run starts at (-3, 4).
    init_x = np.array([-3.0, 4.0])
    book_code.gradient_descent(function_2, init_x, lr=0.1, step_num=100)
    assert np.all(np.abs(init_x) < 1e-9)  # the book's first run overwrote it

    init_x = np.array([-3.0, 4.0])
    gradient_descent(function_2, init_x, lr=0.1, step_num=100)
    with pytest.raises(StepLostError):
        gradient_descent(function_2, init_x, lr=10.0, step_num=100)
    small = gradient_descent(function_2, init_x, lr=1e-5, step_num=100)
    assert init_x.tolist() == [-3.0, 4.0]
    # 100 steps of x <- (1 - 2 lr) x, to the per-step round-off of the quotient
    # (ε |f| / (h |g|) ≈ 1e-11 relative, times 100 steps).
    np.testing.assert_allclose(small, init_x * (1 - 2e-5) ** 100, rtol=1e-8)


@books_number
def test_4_4_2_simple_net_prediction():
    net = SimpleNet()
    net.W = W_BOOK.copy()  # the book's random weights, as it printed them
    p = net.predict(X_SIMPLE)
    # Printed as [ 1.05414809  0.63071653  1.1328074 ]; W is given to 8 digits, so p is
    # exact to about 1e-8.
    np.testing.assert_allclose(p, [1.05414809, 0.63071653, 1.1328074], rtol=0, atol=1e-8)
    assert np.argmax(p) == 2


@deviation("simplenet-delta")
def test_4_4_2_simple_net_loss_and_gradient():
    net = SimpleNet()
    net.W = W_BOOK.copy()

    def f(W):
        return net.loss(X_SIMPLE, T_SIMPLE)

    dW = numerical_gradient(f, net.W)
    printed = [[0.21924763, 0.14356247, -0.36281009], [0.32887144, 0.2153437, -0.54421514]]
    # The printout is self-consistent: dL/dW = x (y - t)ᵀ, so row 2 / row 1 = 0.9 / 0.6.
    np.testing.assert_allclose(np.array(printed[1]) / printed[0], 1.5, rtol=1e-7)
    # But it is the gradient of the loss without δ: the book's own code, which adds
    # δ = 1e-7, gives refnet's numbers, 2.5e-7 relative (δ / y_t, y_t = 0.395) smaller.
    book_net = book_code.simpleNet()
    book_net.W = W_BOOK.copy()
    book_dW = book_code.numerical_gradient(lambda W: book_net.loss(X_SIMPLE, T_SIMPLE), book_net.W)
    np.testing.assert_allclose(dW, book_dW, rtol=0, atol=1e-10)  # both ε |L| / h of round-off
    assert np.max(np.abs(dW - np.array(printed))) > 5e-8
    # refnet with delta=0 gives every printed digit, and the printed loss, 0.92806853663411326.
    no_delta = net.numerical_gradient(X_SIMPLE, T_SIMPLE, delta=0)
    np.testing.assert_allclose(no_delta, printed, rtol=0, atol=1e-8)
    assert net.loss(X_SIMPLE, T_SIMPLE, delta=0) == pytest.approx(0.92806853663411326, abs=1e-8)
    assert net.loss(X_SIMPLE, T_SIMPLE) == pytest.approx(0.9280682857864075, rel=1e-15)


# -- 4.5 the learning algorithm -----------------------------------------------------------------


@books_number
def test_4_5_1_two_layer_net():
    net = TwoLayerNet(input_size=784, hidden_size=100, output_size=10)
    shapes = {key: value.shape for key, value in net.params.items()}
    assert shapes == {"W1": (784, 100), "b1": (100,), "W2": (100, 10), "b2": (10,)}
    x = np.random.default_rng(0).random((100, 784))  # the book: np.random.rand(100, 784)
    y = net.predict(x)
    assert y.shape == (100, 10)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=0, atol=1e-15)


@pytest.mark.slow
@deviation("dummy-targets")
def test_4_5_1_gradients_for_dummy_targets():
    rng = np.random.default_rng(0)
    net = TwoLayerNet(input_size=784, hidden_size=100, output_size=10, rng=rng)
    x = rng.random((100, 784))  # dummy input data (100 of them)
    t = rng.random((100, 10))  # dummy targets: rows summing to about 5, not 1
    with pytest.warns(TargetWarning, match="section 4.5.1"):
        grads = net.numerical_gradient(x, t)
    shapes = {key: value.shape for key, value in grads.items()}
    assert shapes == {"W1": (784, 100), "b1": (100,), "W2": (100, 10), "b2": (10,)}
    # It is the gradient of -Σ t log(y + δ) as written.  For b2 that is, by hand,
    # mean_n Σ_k t_nk y_nk / (y_nk + δ) (y_n - e_k); the central difference errs from it by
    # its truncation h² |f'''| / 6, where the third derivative of -log softmax along one
    # logit is y (1 - y)(1 - 2y) <= 0.0963 per unit of target (rows of t sum to < 10).
    y = net.predict(x)
    weights = t * y / (y + 1e-7)  # (N, K)
    exact_b2 = np.mean(y * weights.sum(axis=1, keepdims=True) - weights, axis=0)
    truncation = 1e-8 * 0.0963 * np.max(t.sum(axis=1)) / 6
    np.testing.assert_allclose(grads["b2"], exact_b2, rtol=0, atol=truncation + 1e-12)


def _digits():
    return load_digits(normalize=True, one_hot_label=True)


@deviation("mnist")
def test_4_5_2_minibatch_learning():
    # train_neuralnet.py with refnet's names, on the 8x8 digits instead of MNIST (no
    # download in a test), for 5 iterations instead of 10,000.
    (x_train, t_train), _ = _digits()
    rng = np.random.default_rng(0)
    train_loss_list = []
    iters_num = 5
    train_size = x_train.shape[0]
    batch_size = 100
    learning_rate = 0.1
    network = TwoLayerNet(input_size=64, hidden_size=50, output_size=10, rng=rng)
    for _ in range(iters_num):
        batch_mask = rng.choice(train_size, batch_size)
        x_batch = x_train[batch_mask]
        t_batch = t_train[batch_mask]
        before = network.loss(x_batch, t_batch)
        grad = network.numerical_gradient(x_batch, t_batch)
        _assert_close_to_backprop(network, x_batch, t_batch, grad)
        for key in ("W1", "b1", "W2", "b2"):
            network.params[key] -= learning_rate * grad[key]
        loss = network.loss(x_batch, t_batch)
        train_loss_list.append(loss)
        assert loss < before  # each step lowers its own minibatch's loss
    assert len(train_loss_list) == iters_num


def _assert_close_to_backprop(network, x, t, grad):
    """The book's numerical gradient against its backprop line, ``network.gradient``.

    The numerical gradient is of the loss with δ, backprop's of the loss without: per
    sample, their logit gradients differ by exactly w_n (y_n - t_n), w_n = δ / (y_t + δ),
    so the difference is at most max w_n times the mean of the per-sample gradients'
    magnitudes.  Rounding adds a few ε of that same mean (the fast path errs by a few ε
    of the gradient, backprop by about ε per operation on each sample's terms).
    """
    backprop = network.gradient(x, t)
    y_t = np.sum(network.predict(x) * t, axis=1)
    weight = np.max(1e-7 / (y_t + 1e-7))
    for key in grad:
        per_sample = np.mean(
            [np.abs(network.gradient(x[n : n + 1], t[n : n + 1])[key]) for n in range(len(x))],
            axis=0,
        )
        bound = (weight + 20 * np.finfo(np.float64).eps) * per_sample
        assert np.all(np.abs(grad[key] - backprop[key]) <= bound), key


@deviation("mnist")
def test_4_5_3_evaluating_on_test_data():
    # Train and test accuracy every epoch, by backpropagation (the book's fast line) so
    # that a few hundred iterations run in a second: they rise together, as on MNIST.
    from refnet.training import train

    train_data, test_data = _digits()
    net = TwoLayerNet(input_size=64, hidden_size=50, output_size=10, rng=0)
    history = train(
        net,
        train_data,
        test_data,
        iterations=600,
        batch_size=100,
        lr=0.5,
        gradient="backprop",
        rng=0,
    )
    first, last = history.evaluations[0], history.evaluations[-1]
    assert first.train_accuracy < 0.3 and first.test_accuracy < 0.3
    assert last.train_accuracy > 0.9 and last.test_accuracy > 0.9
    assert abs(last.train_accuracy - last.test_accuracy) < 0.05  # no overfitting to speak of


@deviation("sampling")
def test_4_5_2_minibatches_are_drawn_without_replacement():
    from refnet.training import DEFAULT_SAMPLING, epoch_batches, random_batch

    assert DEFAULT_SAMPLING == "without_replacement"
    rng = np.random.default_rng(0)
    # The book's np.random.choice(train_size, batch_size) draws with replacement: over
    # an "epoch" of train_size / batch_size batches it misses about 1/e of the examples.
    seen = np.unique(np.concatenate([random_batch(rng, 1000, 100) for _ in range(10)]))
    assert 0.55 < seen.size / 1000 < 0.72  # 1 - 1/e = 0.632, ± 5 standard deviations
    # refnet's epoch is a permutation cut into batches: every example once.
    batches = epoch_batches(rng, 1000, 100)
    assert batches.shape == (10, 100) and np.array_equal(np.sort(batches.ravel()), np.arange(1000))


@deviation("slides-learn")
def test_4_5_the_slides_learn_method():
    # The slides' Two_Layer_Neural_Network.learn(lr=0.01, epoch=10000, batch_size=40) is
    # the lecturer's class; its first line, batch_size = max(batch_size, len(x)), makes
    # every "minibatch" the whole training set.  refnet's counterpart is train(), with
    # the batch size it is given (here the slides' 40 and their sampling).
    from refnet.training import train

    train_data, test_data = _digits()
    assert max(40, train_data[0].shape[0]) == train_data[0].shape[0]  # the slides' batch
    net = TwoLayerNet(64, 50, 10, rng=0)
    history = train(
        net,
        train_data,
        test_data,
        iterations=30,
        batch_size=40,
        lr=0.01,
        gradient="backprop",
        sampling="with_replacement",
        rng=0,
    )
    assert len(history.loss) == 30
    tr, te = net.accuracy(*train_data), net.accuracy(*test_data)
    assert 0 <= tr <= 1 and 0 <= te <= 1


# -- the page and the tests cannot drift apart ------------------------------------------------


def _page():
    return PAGE.read_text(encoding="utf-8")


def _example_tests():
    return sorted(name for name in globals() if re.match(r"test_4_", name))


def test_every_example_is_marked():
    unmarked = [name for name in _example_tests() if name not in EXAMPLES]
    assert not unmarked, f"mark these with @books_number or @deviation(slug): {unmarked}"
    assert len(EXAMPLES) >= 25


def test_every_deviation_on_the_page_has_a_test_and_back():
    on_page = set(re.findall(r"^#+ .*\{#([a-z0-9-]+)\}\s*$", _page(), flags=re.MULTILINE))
    tested = {slug for slug in EXAMPLES.values() if slug != BOOK}
    assert on_page - tested == set(), f"deviations on the page without a test: {on_page - tested}"
    assert tested - on_page == set(), f"tests marking deviations the page lacks: {tested - on_page}"


def test_the_pages_table_of_examples_says_what_the_tests_say():
    rows = re.findall(r"^\|[^|\n]*\|[^|\n]*\|\s*(.+?)\s*\|\s*`(test_4_\w+)`\s*\|$", _page(), re.M)
    table = {test: verdict for verdict, test in rows}
    assert set(table) == set(EXAMPLES), (
        f"missing from the page: {set(EXAMPLES) - set(table)}; "
        f"not tests: {set(table) - set(EXAMPLES)}"
    )
    for test, marking in EXAMPLES.items():
        expected = BOOK if marking == BOOK else f"[documented deviation](#{marking})"
        assert table[test] == expected, (
            f"{test}: the page says {table[test]!r}, the test {expected!r}"
        )


def test_each_deviation_section_names_its_tests():
    text = _page()
    for slug in {s for s in EXAMPLES.values() if s != BOOK}:
        section = text.split(f"{{#{slug}}}", 1)[1].split("\n## ", 1)[0]
        for test in (name for name, mark in EXAMPLES.items() if mark == slug):
            assert f"`{test}`" in section, f"the section {{#{slug}}} should name `{test}`"
