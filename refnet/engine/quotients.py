"""f evaluated at the perturbed points, and the difference quotients: the engine's evaluation.

What `refnet.engine.stencil` prepares (a checked step, the points, `Points`) is evaluated
here: in place, one element at a time (`evaluate_loop`, the book's loop, with the
overhead of the book's), or at complex points (`evaluate_complex`); evaluation on stacks
of copies, the vectorized path, is `refnet.engine.stacked`.  `difference_quotients` is
the one pipeline from checked points to quotients, which every caller that hands over to
the engine runs.  What f returns is checked at every call (`real_value`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._checks import describe
from .stencil import Points, Stencil

# What this private module offers the rest of refnet (no reference page renders it).
__all__ = [
    "Quotients",
    "complex_value",
    "difference_quotients",
    "evaluate_complex",
    "evaluate_loop",
    "real_value",
    "undo_changes",
    "value_eps",
]

# -- what f returns ----------------------------------------------------------------------------


#: What f usually returns: a finite one of these passes `real_value` at the cost of two tests.
_PLAIN = (float, np.float64)


def real_value(value, what) -> float:
    """The scalar an evaluation of f returned, as a Python float.

    ``what`` says where f was evaluated, for the message of an unusable value: a string,
    or ``(name, index, offset)`` of the element moved (``x[1, 2]+1h``), formatted only then.
    """
    if value.__class__ in _PLAIN and math.isfinite(value):
        return float(value)
    if not isinstance(what, str):
        what = _at_index(*what)
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


def value_eps(value) -> float:
    """ε of the precision f computed ``value`` in (float64 for Python numbers)."""
    dtype = getattr(value, "dtype", None)
    if dtype is not None and dtype.kind == "f" and dtype.itemsize < 8:
        return float(np.finfo(dtype).eps)
    return float(np.finfo(np.float64).eps)


def complex_value(value, what: str) -> complex:
    """The scalar f returned for a complex argument, or an error saying why it is unusable."""
    array = np.asarray(value)
    if array.ndim != 0:
        raise TypeError(f"f must return a scalar, got shape {array.shape} at {what}")
    if array.dtype.kind != "c":
        raise TypeError(
            f"f returned the real {describe(value)} for a complex argument at {what}: the complex "
            "step needs f to carry the imaginary part through (does f ignore its argument, or "
            "call abs, real, maximum or a comparison?); use a real scheme"
        )
    number = complex(array[()])
    if not (np.isfinite(number.real) and np.isfinite(number.imag)):
        raise ValueError(f"f returned {number} at {what}: the complex step is undefined there")
    return number


# -- evaluation ---------------------------------------------------------------------------------


def evaluate_loop(f, x: np.ndarray, moved: dict, name: str = "x"):
    """f at every perturbed point, one element at a time, in place (the book's loop).

    ``moved`` maps an offset to the array of values the perturbed element takes.
    Returns ``(values, eps_f)``: ``values[offset]`` is a float64 array shaped like x of
    f at x with that one element perturbed (offset 0: f at x itself, evaluated once),
    and ``eps_f`` the ε of the least precise value f returned.  x is bit-identical
    afterwards, also when f raises; an f that changed x is caught and undone.

    What is checked once (x's layout, the values to write, x's bytes at the end) is
    kept out of the loop: per evaluation, a float f returned costs one type test and
    one finiteness test, so the loop's overhead is the book loop's.
    """
    backup = x.copy()
    values = {offset: np.empty(x.shape, dtype=np.float64) for offset in moved}
    eps_f = float(np.finfo(np.float64).eps)
    moving = [offset for offset in moved if offset != 0.0]
    # A C-contiguous x is written through a flat view (a plain int index is the cheapest
    # item assignment); any other layout through its own multi-indices.
    keys: Sequence[Any]
    if x.flags.c_contiguous:
        target, keys = x.reshape(-1), range(x.size)
    else:
        target, keys = x, list(np.ndindex(x.shape))
    # Python floats of x's dtype: writing one back into x is exact.
    new = [moved[offset].reshape(-1).tolist() for offset in moving]
    got: list[list[Any]] = [[] for _ in moving]
    key = saved = None
    finished = False
    try:
        if 0.0 in moved:
            value = f(x)
            eps_f = max(eps_f, value_eps(value))
            values[0.0][...] = real_value(value, name)
        # Bound once: the loop body is the book's plus one type and one finiteness test.
        isfinite, plain = math.isfinite, (float, np.float64)
        slots = [(new[slot], got[slot].append, offset) for slot, offset in enumerate(moving)]
        for position, key in enumerate(keys):
            saved = target[key]
            for perturbed, store, offset in slots:
                target[key] = perturbed[position]
                value = f(x)
                if value.__class__ not in plain or not isfinite(value):
                    eps_f = max(eps_f, value_eps(value))
                    value = real_value(value, _at(name, x.shape, position, offset))
                store(value)
            target[key] = saved
        finished = True
    finally:
        if key is not None:
            target[key] = saved
        undo_changes(x, backup, name, finished)
    for slot, offset in enumerate(moving):
        values[offset].reshape(-1)[...] = got[slot]
    return values, eps_f


def undo_changes(x: np.ndarray, backup: np.ndarray, name: str, finished: bool) -> None:
    """Put ``x`` back to ``backup`` if f changed it; once every value is in, that is an error.

    Compared as bytes: NaN payloads and -0.0 count.  When f raised (``finished`` false),
    x is only restored and f's exception goes on.
    """
    if x.tobytes() == backup.tobytes():
        return
    x[...] = backup
    if finished:
        raise ValueError(
            f"f modified its argument {name} (beyond the perturbation numerical_gradient "
            f"makes); {name} has been restored, but the gradient is meaningless: make f "
            "work on a copy"
        )


@dataclass(frozen=True)
class Quotients:
    """What `difference_quotients` returns: f's values at every offset (float64 arrays
    shaped like x), ε of the least precise value f returned, and the stencil's quotient."""

    values: dict
    eps_f: float
    derivative: Any


def difference_quotients(
    f, x: np.ndarray, stencil: Stencil, at: Points, evaluate=None, name: str = "x"
) -> Quotients:
    """f at every checked point and the stencil's quotient: the one pipeline of the engine.

    Every caller that hands over to the engine runs it: ``numerical_gradient`` (schemes,
    ``h="auto"``, arrays of steps, error estimates, ``vectorized``) and the gradient check.
    ``evaluate(f, x, moved)`` evaluates f at the points (default: `evaluate_loop`, in
    place, one element at a time; ``refnet.engine.stacked`` on stacks of copies).
    """
    needed = {offset: at.moved[offset] for offset in at.offsets}
    if evaluate is None:
        values, eps_f = evaluate_loop(f, x, needed, name)
    else:
        values, eps_f = evaluate(f, x, needed)
    return Quotients(values, eps_f, stencil.combine(values, at.steps))


def _at(name: str, shape: tuple, position: int, offset: float) -> str:
    """Where a value came from, for an error message: ``x[1, 2]+1h``."""
    return _at_index(name, np.unravel_index(position, shape), offset)


def _at_index(name: str, index: tuple, offset: float) -> str:
    return f"{name}{[int(i) for i in index]}{offset:+g}h"


def evaluate_complex(f, x: np.ndarray, steps: np.ndarray, scales) -> dict:
    """scale -> ``Im f(x + i s h e_k) / (s h)`` for every element k: the complex step at s h.

    f gets a complex copy of x with one element moved at a time; ``x`` is only read.
    """
    if not np.all(np.isfinite(x)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise ValueError(f"x must be finite, found {x[bad]} at index {bad}")
    complex_dtype = np.result_type(x.dtype, np.complex64)
    z = x.astype(complex_dtype)
    backup = z.tobytes()
    out = {s: np.empty(x.shape, dtype=np.float64) for s in scales}
    for index in np.ndindex(x.shape):
        for s in scales:
            z[index] = complex(float(x[index]), s * steps[index])
            value = complex_value(f(z), f"x{list(index)}+{s:g}ih")
            z[index] = x[index]
            out[s][index] = value.imag / (s * steps[index])
    if z.tobytes() != backup:
        raise ValueError(
            "f modified its argument (the complex copy of x it was given); the gradient is "
            "meaningless: make f work on a copy"
        )
    return out
