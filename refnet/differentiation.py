"""Numerical differentiation: difference quotients of one variable and gradients of arrays.

The reference implementation is the book's loop (section 4.4): for every element of
``x`` in turn, set it to ``x_i + h``, evaluate ``f``, set it to ``x_i - h``, evaluate
again, and restore it.  ``f`` sees the perturbation *in place*, which is what lets the
book write ``lambda W: net.loss(x, t)``, a function that ignores its argument and reads
the weights from the network.  refnet keeps that contract and makes it safe:

* the element is restored in a ``finally`` block, so ``x`` is bit-identical afterwards
  even when ``f`` raises, and an ``f`` that changes ``x`` itself is caught and undone;
* an integer array is refused (the book's loop would store ``3 + 1e-4`` as ``3`` and
  return ``[25000, 35000]`` for the gradient of ``sum(x**2)`` at ``[3, 4]``);
* a step that rounding swallows (``x + h == x``, the book's ``h = 1e-50`` trap) is an error;
* float16/float32 arrays are differentiated, with a :class:`PrecisionWarning`.

Error model of the central difference (the default): for f with a bounded third
derivative, ``(f(x+h) - f(x-h)) / 2h = f'(x) + h² f'''(ξ) / 6`` (truncation), and each
evaluation of f carries a rounding error of about ``ε |f|``, which the quotient turns
into about ``ε |f| / h`` (round-off).  With float64 (ε ≈ 2.2e-16) and the book's
``h = 1e-4`` both are small: about 1.7e-9 |f'''| and 2.2e-12 |f|.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from ._checks import (
    PrecisionWarning,
    StepLostError,
    describe,
    positive_finite_scalar,
    positive_int,
    real_float_array,
    warn_low_precision,
)

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "DEFAULT_STEP",
    "SCHEMES",
    "numerical_diff",
    "naive_numerical_diff",
    "numerical_gradient",
]

#: The book's step for numerical differentiation.
DEFAULT_STEP = 1e-4

#: Bytes of perturbed points handed to f in one call by the vectorized path (and the cap
#: on the work arrays of one block of the network-aware path).  f's own temporaries come
#: on top: a few times this for the usual elementwise-then-sum function.
DEFAULT_MEMORY_BUDGET = 32 * 2**20

#: Difference schemes: name -> (offsets in units of h, weights, divisor in units of h).
SCHEMES = {
    "central": ((1.0, -1.0), (1.0, -1.0), 2.0),
    "forward": ((1.0, 0.0), (1.0, -1.0), 1.0),
    "backward": ((0.0, -1.0), (1.0, -1.0), 1.0),
}


def _scheme(scheme: str):
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {sorted(SCHEMES)}, got {scheme!r}")
    return SCHEMES[scheme]


def _real_value(value, what: str) -> float:
    """The scalar an evaluation of f returned, as a Python float."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
    else:
        array = np.asarray(value)
        if array.ndim != 0:
            raise TypeError(f"f must return a scalar, got shape {array.shape} at {what}")
        if array.dtype.kind == "c":
            raise TypeError(f"f must return a real number, got complex {array[()]} at {what}")
        if array.dtype.kind not in "fiu":
            raise TypeError(f"f must return a real number, got {describe(value)} at {what}")
        number = float(array)
    if not np.isfinite(number):
        raise ValueError(
            f"f returned {number} at {what}: the difference quotient is undefined there"
        )
    return number


def numerical_diff(f, x, h=DEFAULT_STEP, *, scheme="central"):
    """Derivative of a function of one variable by a difference quotient (section 4.3.1).

    Parameters
    ----------
    f : callable
        Maps a real number to a real number.
    x : float
        Where to differentiate.
    h : float, default 1e-4
        The step.  Must be large enough that ``x + h != x`` in floating point.
    scheme : {"central", "forward", "backward"}
        ``central`` (the book's) is ``(f(x+h) - f(x-h)) / 2h``, error O(h²);
        ``forward`` is ``(f(x+h) - f(x)) / h`` and ``backward`` ``(f(x) - f(x-h)) / h``,
        error O(h).

    Examples
    --------
    The book's function 0.01x² + 0.1x, whose exact derivatives at 5 and 10 are 0.2 and 0.3:

    >>> def function_1(x):
    ...     return 0.01 * x**2 + 0.1 * x
    >>> numerical_diff(function_1, 5)
    0.1999999999990898
    >>> numerical_diff(function_1, 10)
    0.2999999999986347
    """
    offsets, weights, divisor = _scheme(scheme)
    if isinstance(x, np.ndarray) and x.ndim != 0:
        raise ValueError(
            f"x must be a scalar, got shape {x.shape}; use numerical_gradient for arrays"
        )
    x_arr = real_float_array("x", x)
    if x_arr.ndim != 0:
        raise ValueError(
            f"x must be a scalar, got shape {x_arr.shape}; use numerical_gradient for arrays"
        )
    x0 = float(x_arr)
    if not np.isfinite(x0):
        raise ValueError(f"x must be finite, got {x0}")
    h = positive_finite_scalar("h", h)
    points = [x0 + offset * h for offset in offsets]
    if points[0] == points[-1]:
        raise StepLostError(
            f"h={h} is lost to rounding at x={x0}: x + h == x in float64, so every difference "
            "quotient would be 0; use a step of at least "
            f"{np.spacing(abs(x0)) if x0 else np.finfo(float).tiny:.3g}"
        )
    total = 0.0
    for point, offset, weight in zip(points, offsets, weights, strict=True):
        value = _real_value(f(point), f"x{offset:+g}h")
        total += weight * value
    return total / (divisor * h)


def naive_numerical_diff(f, x, h=1e-50):
    """The book's "bad example" of a derivative: a forward difference with h = 1e-50.

    Kept to show what goes wrong, not to be used.  Two errors stack up.  Truncation: a
    forward difference errs by about h f''(x) / 2.  Rounding, which wins here: 1e-50 is
    far below the spacing of float64 numbers near 5 (about 8.9e-16), so ``5 + 1e-50``
    rounds to exactly 5 and the quotient is 0.  (``np.float32(1e-50)`` is 0.0 as well,
    the book's side remark; that is underflow, a different limit.)  A
    :class:`PrecisionWarning` says when the step was lost.

    Examples
    --------
    >>> import warnings
    >>> def function_1(x):
    ...     return 0.01 * x**2 + 0.1 * x
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     naive_numerical_diff(function_1, 5)
    0.0
    >>> print(caught[0].message)
    h=1e-50 is lost to rounding at x=5.0: x + h == x, so the quotient is 0 whatever f is
    """
    x0 = float(real_float_array("x", x))
    if x0 + h == x0:
        warnings.warn(
            f"h={h} is lost to rounding at x={x0}: x + h == x, so the quotient is 0 whatever f is",
            PrecisionWarning,
            stacklevel=2,
        )
    return (f(x0 + h) - f(x0)) / h


def _perturbable(x, *, in_place: bool = True) -> np.ndarray:
    """The array numerical_gradient will perturb in place (or read), or a clear error."""
    if isinstance(x, np.ndarray):
        if x.dtype.kind in "biu":
            raise TypeError(
                f"x has integer dtype {x.dtype}: numerical_gradient perturbs x in place, and "
                f"x[i] + h would be truncated to an integer (the book's loop returns [25000, 35000] "
                "for sum(x**2) at [3, 4] this way); pass x.astype(float)"
            )
        if x.dtype.kind == "c":
            raise TypeError(f"x must be real, got complex dtype {x.dtype}")
        if x.dtype.kind != "f":
            raise TypeError(f"x must be a floating array, got dtype {x.dtype}")
        if in_place and not x.flags.writeable:
            raise ValueError(
                "x is read-only: numerical_gradient perturbs x in place so that f sees it; "
                "pass a writable copy (x.copy())"
            )
        return x
    # Lists, tuples and Python numbers: nothing of the caller's can be perturbed, so a
    # new float64 array is both safe and what f receives.
    return real_float_array("x", x).astype(np.float64, copy=True)


def _check_steps(x: np.ndarray, h: float, offsets) -> None:
    """Refuse a step that rounding swallows; warn when it is badly represented."""
    if not np.all(np.isfinite(x)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise ValueError(f"x must be finite, found {x[bad]} at index {bad}")
    high = (x + x.dtype.type(offsets[0] * h)).astype(x.dtype)
    low = (x + x.dtype.type(offsets[1] * h)).astype(x.dtype)
    step = high.astype(np.float64) - low.astype(np.float64)
    lost = step == 0
    if np.any(lost):
        bad = tuple(int(i) for i in np.argwhere(lost)[0])
        raise StepLostError(
            f"h={h} is lost to rounding at x{list(bad)}={x[bad]}: x + h == x in {x.dtype}, so "
            f"the difference quotient would be 0; use h of at least {np.spacing(np.abs(x[bad])):.3g}"
        )
    wanted = (offsets[0] - offsets[1]) * h
    distortion = np.max(np.abs(step - wanted)) / wanted if x.size else 0.0
    if distortion > 0.01:
        warnings.warn(
            f"h={h} is represented with a relative error of up to {distortion:.2g} at some "
            f"elements of x ({x.dtype} spacing is coarse there); the gradient carries that error",
            PrecisionWarning,
            stacklevel=3,
        )


def numerical_gradient(
    f,
    x,
    h=DEFAULT_STEP,
    *,
    scheme="central",
    vectorized=False,
    memory_budget=DEFAULT_MEMORY_BUDGET,
):
    """Gradient of a scalar function of an array, one element at a time (section 4.4).

    ``f`` is evaluated at ``x`` with one element moved by ``±h`` at a time; the
    perturbation is made *in place*, in ``x`` itself, exactly as the book does, so
    ``f`` may ignore its argument and read ``x`` through a closure (``lambda W:
    net.loss(x, t)``).  Every element is restored in a ``finally`` block.

    Parameters
    ----------
    f : callable
        Maps ``x`` to a real scalar.  It must not modify ``x`` itself.
    x : ndarray of float, any shape (0-d included)
        Where to differentiate; perturbed in place during the call and bit-identical
        afterwards.  Lists and Python numbers are converted to a new float64 array.
        For a 2-D ``x`` of rows (the slides' batched version), this is the per-row
        gradient whenever f is a sum of per-row terms.
    h : float, default 1e-4
        The step.
    scheme : {"central", "forward", "backward"}
        As in :func:`numerical_diff`.
    vectorized : bool, default False
        False is the book's loop (the reference).  True: ``f`` takes a *stack* of
        points, an array of shape ``(k, *x.shape)``, and returns their ``k`` values; the
        perturbed points are built as copies (``x`` is never written, and may be
        read-only) and handed to ``f`` in chunks.  They are bit-for-bit the loop's
        points and the quotient is combined in the loop's order, so if ``f`` computes each
        row as it would compute a single point, the result is identical to the loop's.
        The stack is a scratch buffer, reused between calls: ``f`` must not keep it.
    memory_budget : int, default DEFAULT_MEMORY_BUDGET (32 MiB)
        With ``vectorized=True``, the largest stack handed to ``f`` at once, in bytes.

    Returns
    -------
    ndarray
        Same shape and dtype as ``x``.

    Raises
    ------
    TypeError
        ``x`` is an integer, boolean or complex array, or ``f`` returns a non-scalar.
    StepLostError
        ``h`` is lost to rounding at some element (``x + h == x``): the quotient would
        be 0 there whatever f is.  A subclass of ValueError.
    ValueError
        ``x`` is read-only or not finite, ``h`` is not a positive finite number,
        ``f`` returns NaN or infinity, or ``f`` modified ``x`` (which is then restored).

    Warns
    -----
    PrecisionWarning
        ``x`` is float16 or float32.  The round-off term ε|f|/h is then about
        1e-3 |f| at h = 1e-4: expect two to three correct digits.

    Examples
    --------
    >>> def function_2(x):
    ...     return x[0]**2 + x[1]**2
    >>> numerical_gradient(function_2, np.array([3.0, 4.0])).tolist()
    [6.00000000000378, 7.999999999999119]
    >>> numerical_gradient(function_2, np.array([0.0, 2.0])).round(8)
    array([0., 4.])
    >>> numerical_gradient(function_2, np.array([3.0, 0.0])).round(8)
    array([6., 0.])

    The same function written for a stack of points, evaluated in one call:

    >>> def function_2_rows(points):
    ...     return points[:, 0]**2 + points[:, 1]**2
    >>> numerical_gradient(function_2_rows, np.array([3.0, 4.0]), vectorized=True).tolist()
    [6.00000000000378, 7.999999999999119]
    """
    offsets, weights, divisor = _scheme(scheme)
    if not callable(f):
        raise TypeError(f"f must be callable, got {describe(f)}")
    x = _perturbable(x, in_place=not vectorized)
    h = positive_finite_scalar("h", h)
    _check_steps(x, h, offsets)
    if x.dtype != np.float64:
        warn_low_precision(
            "x",
            x.dtype,
            f"the central difference's round-off is about "
            f"{np.finfo(x.dtype).eps / h:.1g} |f| at h={h:g}",
        )
    if vectorized:
        return _vectorized_gradient(f, x, h, (offsets, weights, divisor), memory_budget)
    backup = x.copy()
    grad = np.zeros_like(x)
    scale = divisor * h
    index = saved = None
    finished = False
    try:
        for index in np.ndindex(x.shape):
            saved = x[index]
            total = 0.0
            for offset, weight in zip(offsets, weights, strict=True):
                x[index] = saved + offset * h if offset else saved
                total += weight * _real_value(f(x), f"x{list(index)}{offset:+g}h")
            x[index] = saved
            grad[index] = total / scale
        finished = True
    finally:
        if index is not None:
            x[index] = saved
        # Compared as bytes: NaN payloads and -0.0 count, and an f that changed x is caught.
        if x.tobytes() != backup.tobytes():
            x[...] = backup
            if finished:
                raise ValueError(
                    "f modified its argument x (beyond the perturbation numerical_gradient "
                    "makes); x has been restored, but the gradient is meaningless: make f "
                    "work on a copy"
                )
    return grad


def _vectorized_gradient(f, x: np.ndarray, h, scheme, memory_budget) -> np.ndarray:
    """The loop's quotients, with f evaluated on stacks of the loop's perturbed points.

    ``h`` may be a scalar or an array broadcastable to ``x`` (a step per element).
    ``scheme`` is an entry of SCHEMES: (offsets, weights, divisor), any number of offsets.
    """
    offsets, weights, divisor = scheme
    memory_budget = positive_int("memory_budget", memory_budget)
    steps = np.broadcast_to(np.asarray(h, dtype=np.float64), x.shape).reshape(-1)
    flat = x.reshape(-1)
    n = flat.size
    grad = np.empty(n, dtype=np.float64)
    if n == 0:
        return grad.reshape(x.shape).astype(x.dtype)
    moving = [offset for offset in offsets if offset]
    # An offset of 0 is f(x) itself, the same for every element: evaluate it once.
    at_x = _stack_values(f, x[None], 1, "x")[0] if len(moving) < len(offsets) else None
    rows = max(1, min(n, memory_budget // max(1, len(moving) * n * x.itemsize)))
    buffer = np.empty((len(moving) * rows, n), dtype=x.dtype)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        count = stop - start
        stack = buffer[: len(moving) * count].reshape(len(moving), count, n)
        stack[...] = flat
        columns = np.arange(start, stop)
        for slot, offset in enumerate(moving):
            # In x's dtype, as the loop's `x[index] = saved + offset * h` stores it.
            stack[slot, np.arange(count), columns] = flat[columns] + (
                offset * steps[columns]
            ).astype(x.dtype)
        values = _stack_values(
            f, stack.reshape(len(moving) * count, *x.shape), len(moving) * count, None
        ).reshape(len(moving), count)
        if not np.all(np.isfinite(values)):
            slot, k = (int(i) for i in np.argwhere(~np.isfinite(values))[0])
            index = [int(i) for i in np.unravel_index(start + k, x.shape)]
            raise ValueError(
                f"f returned {values[slot, k]} at x{index}{moving[slot]:+g}h: the difference "
                "quotient is undefined there"
            )
        # Combined term by term in the table's order, as the loop adds them up.
        total = np.zeros(count)
        for offset, weight in zip(offsets, weights, strict=True):
            total += weight * (values[moving.index(offset)] if offset else at_x)
        grad[start:stop] = total / (divisor * steps[start:stop])
    return grad.reshape(x.shape).astype(x.dtype)


def _stack_values(f, stack: np.ndarray, count: int, what) -> np.ndarray:
    """f's values on a stack of ``count`` points, checked: a real array of shape (count,)."""
    values = np.asarray(f(stack))
    if values.shape != (count,):
        raise TypeError(
            f"with vectorized=True, f must map a stack of shape {stack.shape} to {count} "
            f"values (shape ({count},)), got shape {values.shape}"
        )
    if values.dtype.kind == "c":
        raise TypeError("f must return real numbers, got a complex array")
    if values.dtype.kind not in "fiu":
        raise TypeError(f"f must return real numbers, got dtype {values.dtype}")
    values = values.astype(np.float64)
    if what is not None and not np.all(np.isfinite(values)):
        raise ValueError(
            f"f returned {values[0]} at {what}: the difference quotient is undefined there"
        )
    return values
