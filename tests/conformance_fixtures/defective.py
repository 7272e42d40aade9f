"""A deliberately defective implementation of the chapter, for tests/test_conformance.py.

Every function is right except for one planted defect, named in its docstring; the
conformance run must fail exactly the checks that catch those defects.  ``simpleNet`` is
left out, and ``TwoLayerNet`` has no ``gradient`` method: their checks are skipped.
"""

import numpy as np


def softmax(a):
    """DEFECT: no subtraction of the row maximum, so exp overflows for logits above ~709."""
    e = np.exp(a)
    return e / np.sum(e, axis=-1, keepdims=True)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def mean_squared_error(y, t):
    if y.ndim == 1:
        return 0.5 * np.sum((y - t) ** 2)
    return 0.5 * np.sum((y - t) ** 2) / y.shape[0]


def cross_entropy_error(y, t):
    """DEFECT: one-hot targets only (labels are broadcast against y: a wrong number or a crash)."""
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    return -np.sum(t * np.log(y + 1e-7)) / y.shape[0]


def numerical_diff(f, x):
    """DEFECT: a forward difference, error O(h) instead of the central difference's O(h^2)."""
    h = 1e-4
    return (f(x + h) - f(x)) / h


def numerical_gradient(f, x):
    """DEFECTS: perturbs an integer x in place (x[i] + h is truncated when stored), and does
    not restore x when f raises (no try/finally).  Any shape is handled."""
    h = 1e-4
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        tmp_val = x[idx]
        x[idx] = tmp_val + h
        fxh1 = f(x)
        x[idx] = tmp_val - h
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        x[idx] = tmp_val
    return grad


def gradient_descent(f, init_x, lr=0.01, step_num=100):
    """DEFECT: descends on init_x itself, so the caller's array is overwritten."""
    x = init_x
    for _ in range(step_num):
        x -= lr * numerical_gradient(f, x)
    return x


class TwoLayerNet:
    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01):
        rng = np.random.default_rng(0)
        self.params = {
            "W1": weight_init_std * rng.standard_normal((input_size, hidden_size)),
            "b1": np.zeros(hidden_size),
            "W2": weight_init_std * rng.standard_normal((hidden_size, output_size)),
            "b2": np.zeros(output_size),
        }

    def predict(self, x):
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        z1 = sigmoid(np.dot(x, W1) + b1)
        a2 = np.dot(z1, W2) + b2
        # The network's own softmax is stable: only the public softmax carries the defect.
        e = np.exp(a2 - np.max(a2, axis=-1, keepdims=True))
        return e / np.sum(e, axis=-1, keepdims=True)

    def loss(self, x, t):
        return cross_entropy_error(self.predict(x), t)

    def accuracy(self, x, t):
        """DEFECT: one-hot targets only, as the book's (np.argmax(t, axis=1) of labels fails)."""
        y = np.argmax(self.predict(x), axis=1)
        t = np.argmax(t, axis=1)
        return np.sum(y == t) / float(x.shape[0])

    def numerical_gradient(self, x, t):
        def loss_W(W):
            return self.loss(x, t)

        return {key: numerical_gradient(loss_W, self.params[key]) for key in self.params}
