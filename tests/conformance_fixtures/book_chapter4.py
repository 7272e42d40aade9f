"""The book's own Chapter 4 code, transcribed, as a conformance target for the tests.

Where the lecture slides (shared/seed/chapter4-slides.txt) print the code, it is
transcribed from them: both versions of cross_entropy_error (4.2.4), numerical_gradient
with its 2-D extension (4.4 and 4.5), simpleNet (4.4.2) and TwoLayerNet (4.5.1).  The
slides use, without printing them, mean_squared_error (4.2.1), numerical_diff (4.3.1) and
gradient_descent (4.4.1), transcribed from the book's text, and sigmoid and softmax, which
the slides import from the book's common/functions.py (the batch version of softmax).

Nothing here is fixed: tests/test_conformance.py asserts which checks this code fails.
"""

import numpy as np

# -- from the book's common/functions.py (imported by the slides' code) ----------------------


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)  # guard against overflow
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


# -- 4.2.1, the book's text -----------------------------------------------------------------


def mean_squared_error(y, t):
    return 0.5 * np.sum((y - t) ** 2)


# -- 4.2.4, the slides: for one-hot targets ----------------------------------------------------


def cross_entropy_error(y, t):
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)

    batch_size = y.shape[0]
    return -np.sum(t * np.log(y + 1e-7)) / batch_size


# -- 4.2.4, the slides' exercise: for labels (not a chapter name: check it with --map) --------


def cross_entropy_error_labels(y, t):
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)

    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


# -- 4.3.1, the book's text: the central difference -------------------------------------------


def numerical_diff(f, x):
    h = 1e-4  # 0.0001
    return (f(x + h) - f(x - h)) / (2 * h)


# -- 4.4 and 4.5, the slides -----------------------------------------------------------------


def _numerical_gradient_no_batch_(f, x):
    h = 1e-4  # 0.0001
    grad = np.zeros_like(x)  # an array shaped like x

    for idx in range(x.size):
        tmp_val = x[idx]
        # f(x+h)
        x[idx] = tmp_val + h
        fxh1 = f(x)

        # f(x-h)
        x[idx] = tmp_val - h
        fxh2 = f(x)

        grad[idx] = (fxh1 - fxh2) / (2 * h)
        x[idx] = tmp_val  # restore the value

    return grad  # the slide is cut off here; the book returns grad


def numerical_gradient(f, X):
    if X.ndim == 1:
        return _numerical_gradient_no_batch_(f, X)  # original numerical_gradient function
    else:
        grad = np.zeros_like(X)

        for idx, x in enumerate(X):
            grad[idx] = _numerical_gradient_no_batch_(f, x)

    return grad


# -- 4.4.1, the book's text ------------------------------------------------------------------


def gradient_descent(f, init_x, lr=0.01, step_num=100):
    x = init_x

    for i in range(step_num):
        grad = numerical_gradient(f, x)
        x -= lr * grad
    return x


# -- 4.4.2, the slides -----------------------------------------------------------------------


class simpleNet:
    def __init__(self):
        self.W = np.random.randn(2, 3)  # initialised from the normal distribution

    def predict(self, x):
        return np.dot(x, self.W)

    def loss(self, x, t):
        z = self.predict(x)
        y = softmax(z)
        loss = cross_entropy_error(y, t)

        return loss


# -- 4.5.1, the slides -----------------------------------------------------------------------


class TwoLayerNet:
    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01):
        # initialise the weights
        self.params = {}
        self.params["W1"] = weight_init_std * np.random.randn(input_size, hidden_size)
        self.params["b1"] = np.zeros(hidden_size)
        self.params["W2"] = weight_init_std * np.random.randn(hidden_size, output_size)
        self.params["b2"] = np.zeros(output_size)

    def predict(self, x):
        W1, W2 = self.params["W1"], self.params["W2"]
        b1, b2 = self.params["b1"], self.params["b2"]

        a1 = np.dot(x, W1) + b1
        z1 = sigmoid(a1)
        a2 = np.dot(z1, W2) + b2
        y = softmax(a2)

        return y

    def loss(self, x, t):
        y = self.predict(x)

        return cross_entropy_error(y, t)

    def accuracy(self, x, t):
        y = self.predict(x)
        y = np.argmax(y, axis=1)
        t = np.argmax(t, axis=1)

        accuracy = np.sum(y == t) / float(x.shape[0])
        return accuracy

    def numerical_gradient(self, x, t):
        loss_W = lambda W: self.loss(x, t)

        grads = {}
        grads["W1"] = numerical_gradient(loss_W, self.params["W1"])
        grads["b1"] = numerical_gradient(loss_W, self.params["b1"])
        grads["W2"] = numerical_gradient(loss_W, self.params["W2"])
        grads["b2"] = numerical_gradient(loss_W, self.params["b2"])

        return grads
