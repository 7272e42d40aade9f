"""Activation functions: the step function, sigmoid, ReLU and softmax (chapter 3, used in chapter 4).

Each takes any real array-like and returns a new array; integer input is computed in
float64, float16/float32 input keeps its dtype.  NaN is refused with a ValueError that
says where it is (a NaN activation is always a bug upstream); infinities are accepted
where the function has a limit there (sigmoid(-inf) = 0, softmax with -inf logits).

``sigmoid_unchecked`` and ``softmax_unchecked`` are the bare formulas, without those
checks, for arrays already checked: the networks call them, since inside a training loop
a NaN must reach the loss, where training reports it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._checks import no_nan, real_float_array

__all__ = [
    "step_function",
    "sigmoid",
    "sigmoid_grad",
    "relu",
    "softmax",
    "sigmoid_unchecked",
    "softmax_unchecked",
]


def step_function(x: ArrayLike) -> np.ndarray:
    """1 where ``x > 0``, else 0 (the perceptron's activation, figure 4-4).

    Its derivative is zero everywhere except at 0, where it does not exist: a network
    built on it gives the loss nothing to follow (section 4.2.5).

    Examples
    --------
    >>> step_function(np.array([-1.0, 0.0, 2.0]))
    array([0, 0, 1])
    """
    x = no_nan("x", real_float_array("x", x))
    return (x > 0).astype(np.int64)


def sigmoid(x: ArrayLike) -> np.ndarray:
    """The logistic function 1 / (1 + exp(-x)), with no overflow warning for large ``|x|``.

    For x below about -709, ``exp(-x)`` overflows to infinity in float64 and the
    formula gives 1 / inf = 0, which is the correctly rounded answer; only NumPy's
    overflow warning is silenced.  The formula is accurate to a few ulps everywhere:
    it never subtracts nearly equal numbers.

    Examples
    --------
    >>> sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    array([0. , 0.5, 1. ])
    """
    return sigmoid_unchecked(no_nan("x", real_float_array("x", x)))


def sigmoid_unchecked(x: np.ndarray) -> np.ndarray:
    """[`sigmoid`][refnet.activations.sigmoid] of a real array, without the check for NaN.

    Examples
    --------
    >>> sigmoid_unchecked(np.array([0.0, np.nan]))
    array([0.5, nan])
    """
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def sigmoid_grad(x: ArrayLike) -> np.ndarray:
    """Derivative of [`sigmoid`][refnet.activations.sigmoid]: sigmoid(x) * (1 - sigmoid(x)).

    Examples
    --------
    >>> float(sigmoid_grad(0.0))
    0.25
    """
    s = sigmoid(x)
    return s * (1.0 - s)


def relu(x: ArrayLike) -> np.ndarray:
    """max(x, 0), elementwise.

    Examples
    --------
    >>> relu(np.array([-2.0, 0.0, 3.0]))
    array([0., 0., 3.])
    """
    x = no_nan("x", real_float_array("x", x))
    return np.maximum(x, 0)


def softmax(x: ArrayLike) -> np.ndarray:
    """Softmax over the last axis, for one sample (1-D) or a batch (N-D).

    The row maximum is subtracted before exponentiating: softmax is unchanged by
    adding a constant to a row, and this way ``exp`` never sees a positive number,
    so it cannot overflow.

    Examples
    --------
    >>> softmax(np.array([0.3, 2.9, 4.0]))
    array([0.01821127, 0.24519181, 0.73659691])
    >>> softmax(np.array([1010.0, 1000.0, 990.0]))  # exp(1010) would overflow
    array([9.99954600e-01, 4.53978686e-05, 2.06106005e-09])
    """
    x = no_nan("x", real_float_array("x", x))
    if x.ndim == 0:
        raise ValueError("x must have at least one axis (the classes), got a 0-d array")
    if x.shape[-1] == 0:
        raise ValueError("x must have at least one class on its last axis, got 0")
    if np.isposinf(x).any():
        # +inf - max would be inf - inf = NaN; the limit depends on how many +infs a row has.
        raise ValueError("x contains +inf: softmax has no well-defined value there")
    if np.isneginf(np.max(x, axis=-1)).any():
        raise ValueError("x has a row of only -inf: softmax is undefined there (0/0)")
    return softmax_unchecked(x)


def softmax_unchecked(x: np.ndarray) -> np.ndarray:
    """[`softmax`][refnet.activations.softmax] of a real array with at least one axis, without the checks.

    Examples
    --------
    >>> softmax_unchecked(np.array([0.0, np.log(3.0)]))
    array([0.25, 0.75])
    """
    shifted = x - np.max(x, axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / np.sum(exp, axis=-1, keepdims=True)
