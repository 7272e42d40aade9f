"""Gradient descent on numerical gradients (section 4.4.1)."""

from __future__ import annotations

from typing import Literal, overload

import numpy as np
from numpy.typing import ArrayLike

from ._checks import (
    ArrayFunction,
    StepLostError,
    describe,
    non_negative_int,
    positive_finite_scalar,
    real_float_array,
)
from .differentiation import DEFAULT_STEP, numerical_gradient

__all__ = ["gradient_descent"]


@overload
def gradient_descent(
    f: ArrayFunction,
    init_x: ArrayLike,
    lr: float = ...,
    step_num: int = ...,
    *,
    return_path: Literal[False] = ...,
    h: ArrayLike = ...,
) -> np.ndarray: ...
@overload
def gradient_descent(
    f: ArrayFunction,
    init_x: ArrayLike,
    lr: float = ...,
    step_num: int = ...,
    *,
    return_path: Literal[True],
    h: ArrayLike = ...,
) -> tuple[np.ndarray, np.ndarray]: ...
def gradient_descent(
    f: ArrayFunction,
    init_x: ArrayLike,
    lr: float = 0.01,
    step_num: int = 100,
    *,
    return_path: bool = False,
    h: ArrayLike = DEFAULT_STEP,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
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
        The numerical gradient's step vanished in rounding (``x + h == x`` for some
        element), so the gradient there would be 0 and descent would stall without
        saying so.  When the iterate had been growing, the message says that descent
        diverged, by what factor x was multiplied per step, and that a smaller ``lr``
        is the fix (a larger ``h`` would only hide the divergence).  The exception
        carries ``step`` (the step that failed, from 1), ``x`` (the last iterate, where
        the gradient was lost) and ``path`` (with ``return_path=True``: every point
        visited before the failure, shape ``(step, *init_x.shape)``; else None).
    FloatingPointError
        The iterate left the finite numbers (a learning rate far too large); it carries
        ``step``, ``x`` and ``path`` as above.

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
    refnet.StepLostError: gradient descent diverged: x was multiplied by about -19 per step ...

    Each step multiplies x by 1 - 2 lr = -19, so at step 10, x[1] is about -1.3e12, where
    1.3e12 + 1e-4 == 1.3e12 in float64: the book's loop goes on with a gradient of 0 there
    and prints [-2.58983747e+13, -1.29524862e+12], a number that is not the result of 100
    steps.  To watch the divergence, keep the path, or let the step grow with |x|
    (``h="auto"``) and follow the true iterate $x_0 (-19)^k$ to about $10^{128}$:

    >>> try:
    ...     gradient_descent(function_2, init_x, lr=10.0, step_num=100, return_path=True)
    ... except StepLostError as exc:
    ...     print(exc.step, exc.path[:4].round(3).tolist())
    10 [[-3.0, 4.0], [57.0, -76.0], [-1083.0, 1444.0], [20577.0, -27436.0]]
    >>> gradient_descent(function_2, init_x, lr=10.0, step_num=100, h="auto")
    array([-2.25154873e+128,  3.00206497e+128])
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
    init = x.copy()
    path = [x.copy()] if return_path else None
    previous = None
    for step in range(step_num):
        try:
            grad = numerical_gradient(f, x, h)
        except StepLostError as exc:
            raise _stopped(
                StepLostError,
                _lost_step_message(exc, step, step_num, lr, init, previous, x),
                step,
                x,
                path,
            ) from None
        previous = x.copy()
        x -= lr * grad
        if not np.all(np.isfinite(x)):
            raise _stopped(
                FloatingPointError,
                f"gradient descent diverged at step {step + 1} of {step_num}: x is no longer "
                f"finite (lr={lr} is too large for this function; use a smaller lr)",
                step + 1,
                previous,
                path,
            )
        if path is not None:  # return_path
            path.append(x.copy())
    if path is not None:
        return x, np.stack(path)
    return x


def _stopped(kind, message, step, x, path):
    """The exception ``kind`` with the state of the descent where it stopped."""
    exc = kind(message)
    exc.step = step + 1 if kind is StepLostError else step
    exc.x = x.copy()
    exc.path = np.stack(path) if path is not None else None
    return exc


def _lost_step_message(exc, step, step_num, lr, init, previous, x) -> str:
    """Why the step was lost: an iterate that diverged, or an h too small for x's size."""
    size, start = float(np.max(np.abs(x))), float(np.max(np.abs(init)))
    if previous is None or not size > 10 * start:
        return (
            f"gradient descent stopped at step {step + 1} of {step_num}: {exc} "
            "(x is not growing, so h is too small for the size of x: pass a larger h, "
            "or h='auto' for a step relative to |x|)"
        )
    # The growth per step over the whole run (the last ratio alone carries the round-off
    # of a gradient taken where h is barely above the spacing of x), signed by the last.
    index = int(np.argmax(np.abs(x)))
    sign = -1.0 if x.flat[index] * previous.flat[index] < 0 else 1.0
    factor = sign * (size / start) ** (1.0 / step) if start > 0 else sign * np.inf
    steps = "step" if step == 1 else "steps"
    where = [int(i) for i in np.unravel_index(index, x.shape)] if x.ndim else []
    return (
        f"gradient descent diverged: x was multiplied by about {factor:.2g} per step "
        f"(|x| grew from {start:.3g} to {size:.3g} in {step} {steps}), so at step "
        f"{step + 1} of {step_num} x{where} = {x.flat[index]:.3g} is too large for the "
        f"numerical gradient's step to register (x + h == x in {x.dtype}): its gradient "
        f"would be 0 and x would freeze. lr={lr} is too large for this function: use a "
        "smaller lr (on a quadratic such as x0² + x1², each step multiplies x by "
        "1 - 2·lr). A larger h would only hide the divergence; to watch it, pass "
        "return_path=True and read this exception's .path, or pass h='auto' (a step "
        "relative to |x|)"
    )
