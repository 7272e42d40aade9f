"""The book's own code, transcribed from the slides, used only to explain its printed numbers.

Some of the book's printed values are artifacts of its code (a lost step, an integer
array); these transcriptions reproduce them, so the tests can show where each number
comes from while refnet itself refuses to produce it.  Nothing here is refnet.
"""

import numpy as np


def numerical_gradient(f, x):
    h = 1e-4
    grad = np.zeros_like(x)
    for idx in range(x.size):
        tmp_val = x[idx]
        x[idx] = tmp_val + h
        fxh1 = f(x)
        x[idx] = tmp_val - h
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        x[idx] = tmp_val
    return grad


def gradient_descent(f, init_x, lr=0.01, step_num=100):
    x = init_x
    for _ in range(step_num):
        grad = numerical_gradient(f, x)
        x -= lr * grad
    return x


def numerical_diff_bad(f, x):
    h = 1e-50
    return (f(x + h) - f(x)) / h
