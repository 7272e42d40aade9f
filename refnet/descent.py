"""Gradient descent on numerical gradients (section 4.4.1)."""

from __future__ import annotations

import numpy as np

from ._checks import (
    StepLostError,
    describe,
    non_negative_int,
    positive_finite_scalar,
    real_float_array,
)
from .differentiation import DEFAULT_STEP, numerical_gradient

__all__ = ["gradient_descent"]


def gradient_descent(f, init_x, lr=0.01, step_num=100, *, return_path=False, h=DEFAULT_STEP):
    """Minimise ``f`` by ``step_num`` steps of ``x <- x - lr * numerical_gradient(f, x)``.

    Parameters
    ----------
    f : callable
        Maps an array shaped like ``init_x`` to a real scalar.
    init_x : array_like
        The starting point.  Never modified: descent runs on a float64 copy (the book's
        version overwrites the caller's array step by step).
    lr : float, default 0.01
        Learning rate, finite and > 0.
    step_num : int, default 100
        Number of steps, >= 0.
    return_path : bool, default False
        Also return every point visited, shape ``(step_num + 1, *init_x.shape)``:
        the start, then the point after each step (figure 4-10).
    h : float, default 1e-4
        Step of the numerical gradient.

    Returns
    -------
    x : ndarray of float64
        The point after the last step.
    path : ndarray of float64
        Only with ``return_path=True``.

    Raises
    ------
    StepLostError
        The iterate grew so large that ``x + h == x`` for some element, so the
        numerical gradient there would be 0 and descent would stall without saying so.
    FloatingPointError
        The iterate left the finite numbers (a learning rate far too large).

    Examples
    --------
    The book's three runs on f(x0, x1) = x0² + x1² from (-3, 4): a good learning rate,
    one too large (it oscillates with growing amplitude) and one too small (it hardly moves).

    >>> def function_2(x):
    ...     return x[0]**2 + x[1]**2
    >>> init_x = np.array([-3.0, 4.0])
    >>> gradient_descent(function_2, init_x, lr=0.1, step_num=100)
    array([-6.11110793e-10,  8.14814391e-10])
    >>> gradient_descent(function_2, init_x, lr=10.0, step_num=100)
    Traceback (most recent call last):
    ...
    refnet.StepLostError: gradient descent stopped at step 10 of 100: h=0.0001 is lost ...

    The book prints [-2.58983747e+13, -1.29524862e+12] for that run: its x[1] reached
    -1.3e12, where 1.3e12 + 1e-4 == 1.3e12 in float64, so from then on its numerical
    gradient was 0 and x[1] froze.  The true result of 100 steps, x0 * (-19)**100, is
    about [-2.3e+128, 3.0e+128].
    >>> gradient_descent(function_2, init_x, lr=1e-10, step_num=100)
    array([-2.99999994,  3.99999992])
    >>> init_x  # unchanged
    array([-3.,  4.])
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {describe(f)}")
    lr = positive_finite_scalar("lr", lr)
    step_num = non_negative_int("step_num", step_num)
    x = real_float_array("init_x", init_x).astype(np.float64, copy=True)
    if not np.all(np.isfinite(x)):
        raise ValueError("init_x must be finite")
    path = [x.copy()] if return_path else None
    for step in range(step_num):
        try:
            grad = numerical_gradient(f, x, h)
        except StepLostError as exc:
            raise StepLostError(
                f"gradient descent stopped at step {step + 1} of {step_num}: {exc} "
                f"(the iterate is growing: is lr={lr} too large?)"
            ) from None
        x -= lr * grad
        if not np.all(np.isfinite(x)):
            raise FloatingPointError(
                f"gradient descent diverged at step {step + 1} of {step_num}: x is no longer "
                f"finite (lr={lr} is too large for this function)"
            )
        if return_path:
            path.append(x.copy())
    if return_path:
        return x, np.stack(path)
    return x
