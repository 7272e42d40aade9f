"""The difference engine: one `Stencil` per scheme, and what every difference quotient needs.

The maths is in [`refnet.differentiation`][refnet.differentiation]'s docstring.  Here are its working parts,
shared by the public functions (``numerical_diff``, ``numerical_gradient``), the gradient
check and the networks:

* `SCHEMES`, the stencils as rows, and `stencil_of`, the one place a scheme's
  name is looked up and refused;
* the step rules: `check_step` validates ``h`` once, at a public entry point, into a
  `Step` (its form: one number, ``"auto"`` or an array), the value that travels down;
  `Stencil.steps` turns it into one step per element (the nominal one or ``h="auto"``'s,
  `Stencil.auto_step`);
* the perturbed points (`points`) and the step-lost check (`check_steps_kept`);
* evaluation of f at those points: in place, one element at a time (`evaluate_loop`,
  the book's loop), or at complex points (`evaluate_complex`); evaluation on stacks
  of copies, the vectorized path, is `refnet.engine.stacked`;
* combination (`Stencil.combine`) and the error estimate (`Stencil.estimate`);
* `difference_quotients`: the one pipeline from checked points to quotients, which every
  caller runs (numerical_gradient's engine path, the gradient check, the network's loop).

Nothing here validates what a public entry point has already validated: the functions
trust their arguments, except for what f returns, which is checked at every call.

Size: over 500 lines because it is the one pipeline of the engine, from a checked step to
difference quotients, in reading order; its pieces are small and each is used by several
callers, so splitting it would spread one path over files without shortening any of them.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._checks import (
    PrecisionWarning,
    StepLostError,
    describe,
    positive_finite_scalar,
    warn_low_precision,
)

#: The book's step for numerical differentiation.
DEFAULT_STEP = 1e-4

#: Bytes of perturbed points handed to f in one call by the vectorized path (and the cap
#: on the work arrays of one block of the network-aware path).  f's own temporaries come
#: on top: a few times this for the usual elementwise-then-sum function.
DEFAULT_MEMORY_BUDGET = 32 * 2**20

#: ``h=AUTO`` picks a step per element from the dtype and the magnitude (`auto_step`).
AUTO = "auto"

#: The name of the complex-step scheme, ``Im f(x + ih) / h`` (not a row of SCHEMES).
COMPLEX_STEP = "complex_step"

#: Real difference schemes: name -> (offsets in units of h, weights, divisor in units of h).
#: ``richardson`` is two levels of Richardson extrapolation of the central difference
#: C(s) at s = h, h/2, h/4: ``(64 C(h/4) - 20 C(h/2) + C(h)) / 45``, written out as one
#: stencil.  (One level, ``(4 C(h/2) - C(h)) / 3``, is exactly ``five_point`` at h/2.)
SCHEMES = {
    "central": ((1.0, -1.0), (1.0, -1.0), 2.0),
    "forward": ((1.0, 0.0), (1.0, -1.0), 1.0),
    "backward": ((0.0, -1.0), (1.0, -1.0), 1.0),
    "five_point": ((2.0, 1.0, -1.0, -2.0), (-1.0, 8.0, -8.0, 1.0), 12.0),
    "richardson": (
        (1.0, 0.5, 0.25, -0.25, -0.5, -1.0),
        (1.0, -40.0, 256.0, -256.0, 40.0, -1.0),
        90.0,
    ),
}

#: The highest moment searched for the order of a stencil.
_MAX_MOMENT = 12


@dataclass(frozen=True)
class Step:
    """``h`` as `check_step` returned it: checked once, at a public entry point.

    ``form`` says which of its forms it is: ``"number"`` (``h`` a positive finite float,
    the same step for every element), ``"auto"`` (``h`` is `AUTO`: `Stencil.auto_step`'s
    per element) or ``"array"`` (``h`` a float64 array of steps, broadcast to x).
    `Stencil.steps` gives the size of every element's step.
    """

    h: Any
    form: str

    def describe(self, steps: np.ndarray, index: tuple) -> str:
        """``h=...`` for a message about one element: the nominal step, or that element's."""
        return f"h={self.h}" if self.form == "number" else f"h={steps[index]:.3g}"


@dataclass(frozen=True)
class Stencil:
    """A difference scheme and the constants of its error, computed once.

    A real scheme computes ``D(h) = Σ_j w_j f(x + o_j h) / (d h)``.  Its order p and its
    truncation constant c (``D(h) - f'(x) ≈ c h^p f^(p+1)(x)``) are read off the moments
    ``m_k = Σ_j w_j o_j^k / d``; ``weight_sum`` is ``Σ_j |w_j| / d``, the factor by which
    the quotient passes on the rounding of f's values as ``ε |f| / h``.

    The complex step ``Im f(x + ih) / h`` has no real stencil: ``complex_step`` is true,
    the offsets and weights are empty, and its order (2) and constant (-1/6) come from
    ``Im f(x + ih) / h = f' - h² f''' / 6 + ...``.
    """

    name: str
    offsets: tuple[float, ...]
    weights: tuple[float, ...]
    divisor: float
    order: int
    truncation_constant: float
    weight_sum: float
    complex_step: bool = False

    @classmethod
    def from_row(cls, name: str, offsets, weights, divisor) -> Stencil:
        """The stencil of a row of `SCHEMES`, its order read off the moments."""
        offsets, weights, divisor = tuple(offsets), tuple(weights), float(divisor)

        def moment(k):
            return sum(w * o**k for o, w in zip(offsets, weights, strict=True)) / divisor

        for k in range(2, _MAX_MOMENT):
            if abs(moment(k)) > 1e-12:
                order = k - 1
                break
        else:  # pragma: no cover - every row of SCHEMES has a non-zero moment
            raise ValueError(f"scheme {name!r} has no non-zero moment below {_MAX_MOMENT}")
        return cls(
            name=name,
            offsets=offsets,
            weights=weights,
            divisor=divisor,
            order=order,
            truncation_constant=moment(order + 1) / math.factorial(order + 1),
            weight_sum=sum(abs(w) for w in weights) / divisor,
        )

    def moment(self, k: int) -> float:
        """``m_k = Σ_j w_j o_j^k / d`` (real schemes only)."""
        if self.complex_step:
            raise ValueError("the complex step has no real stencil, so no moments")
        pairs = zip(self.offsets, self.weights, strict=True)
        return sum(w * o**k for o, w in pairs) / self.divisor

    # -- the step rules ------------------------------------------------------------------

    def auto_step(self, x, dtype=None) -> np.ndarray:
        """``h="auto"``'s step per element (see [`refnet.differentiation.auto_step`][refnet.differentiation.auto_step])."""
        x = np.asarray(x)
        if dtype is None:
            dtype = x.dtype if x.dtype.kind == "f" else np.float64
        eps = float(np.finfo(dtype).eps)
        scale = np.maximum(np.abs(x.astype(np.float64)), 1.0)
        if self.complex_step:
            return eps * scale
        target = eps ** (1.0 / (self.order + 1)) * scale
        return np.exp2(np.round(np.log2(target)))

    def steps(self, x: np.ndarray, step: Step) -> np.ndarray:
        """The step of every element as a float64 array shaped like ``x``.

        An array step must broadcast to ``x``.
        """
        if step.form == "auto":
            return np.broadcast_to(self.auto_step(x), x.shape).astype(np.float64)
        if step.form == "array":
            try:
                return np.broadcast_to(step.h, x.shape).copy()
            except ValueError:
                raise ValueError(
                    f"h has shape {step.h.shape}, which does not broadcast to x's {x.shape}"
                ) from None
        return np.full(x.shape, step.h)

    def evaluated_offsets(self, with_error: bool) -> list[float]:
        """The offsets f is evaluated at, without repeats: the scheme's, and 2x them for the estimate."""
        wanted = list(self.offsets)
        if with_error:
            wanted += [2.0 * o for o in self.offsets]
        return list(dict.fromkeys(wanted))

    # -- combination and the error estimate -------------------------------------------

    def combine(self, values: dict, steps, scale: float = 1.0):
        """Σ_j w_j f(x + o_j s h) / (d s h), in the scheme's order (bit-identical to the book:
        for the central difference ``1 * f(x+h) + -1 * f(x-h)`` is ``f(x+h) - f(x-h)``, signed
        zeros included, and the divisor is ``2 * h``)."""
        pairs = list(zip(self.offsets, self.weights, strict=True))
        offset, weight = pairs[0]
        total = weight * values[scale * offset]
        for offset, weight in pairs[1:]:
            total = total + weight * values[scale * offset]
        return total / (self.divisor * (scale * steps))

    def estimate(self, values: dict, steps, x64, derivative, eps_f: float, eps_x: float):
        """``(truncation, roundoff)``: D(h) against D(2h); ε|f|/h and the rounded points.

        ``values`` holds f at the offsets of ``evaluated_offsets(True)``; ``eps_f`` is ε
        of the precision f computed in, ``eps_x`` that of x.
        """
        wide = self.combine(values, steps, 2.0)
        truncation = np.abs(wide - derivative) / (2.0**self.order - 1.0)
        pairs = list(zip(self.offsets, self.weights, strict=True))
        size_f = sum(abs(w) * np.abs(values[o]) for o, w in pairs)
        placed = sum(abs(w) * (np.abs(x64) + abs(o) * steps) for o, w in pairs)
        roundoff = (eps_f * size_f + np.abs(derivative) * eps_x * placed / 2.0) / (
            self.divisor * steps
        )
        return truncation, roundoff

    def warn_if_low_precision(self, x: np.ndarray, step: Step, steps, stacklevel: int = 4) -> None:
        """The PrecisionWarning for a float16/float32 ``x``, with the error it implies."""
        if x.dtype == np.float64:
            return
        eps = float(np.finfo(x.dtype).eps)
        p = self.order
        if step.form == "auto":
            what = (
                f"h='auto' balances truncation against round-off, which leaves a relative "
                f"error near ε^({p}/{p + 1}) ≈ {eps ** (p / (p + 1)):.1g}"
            )
        else:
            smallest = float(np.min(steps, initial=np.inf))
            what = (
                f"the {self.name} difference's round-off is about "
                f"{eps * self.weight_sum / smallest:.1g} |f| at h={step.h}"
            )
        warn_low_precision("x", x.dtype, what, stacklevel=stacklevel)


#: The complex step: no real stencil (see `Stencil`).
COMPLEX = Stencil(
    name=COMPLEX_STEP,
    offsets=(),
    weights=(),
    divisor=1.0,
    order=2,
    truncation_constant=-1.0 / 6.0,
    weight_sum=0.0,
    complex_step=True,
)


@functools.cache
def _built(name: str, offsets: tuple, weights: tuple, divisor: float) -> Stencil:
    # Keyed by the row as well as the name, so a row edited in SCHEMES is rebuilt.
    return Stencil.from_row(name, offsets, weights, divisor)


def stencil_of(scheme) -> Stencil:
    """The `Stencil` of a scheme's name, or the one error every entry point gives.

    Examples
    --------
    >>> stencil_of("five_point").order
    4
    >>> stencil_of("centre")
    Traceback (most recent call last):
    ...
    ValueError: scheme must be one of ['central', 'forward', 'backward', 'five_point', 'richardson', 'complex_step'], got 'centre'
    """
    if scheme == COMPLEX_STEP:
        return COMPLEX
    if not isinstance(scheme, str) or scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {[*SCHEMES, COMPLEX_STEP]}, got {scheme!r}")
    offsets, weights, divisor = SCHEMES[scheme]
    return _built(scheme, tuple(offsets), tuple(weights), float(divisor))


#: The book's scheme, the one the networks use.
CENTRAL = stencil_of("central")


# -- the step and x, checked once at the entry point ------------------------------------------


def check_step(h) -> Step:
    """``h`` checked once, into a `Step`: a positive finite float, `AUTO`, or a float64
    array of such.  A `Step` is passed through: it was checked where it was made.

    Whether an array broadcasts to x is checked by `Stencil.steps`, which knows x.
    """
    if isinstance(h, Step):
        return h
    if isinstance(h, str):
        if h != AUTO:
            raise ValueError(f"h must be a positive number or 'auto', got {h!r}")
        return Step(AUTO, "auto")
    if isinstance(h, np.ndarray) and h.ndim > 0:
        if h.dtype.kind not in "fiu":
            raise TypeError(f"h must hold real numbers, got dtype {h.dtype}")
        steps = h.astype(np.float64)
        if not np.all(np.isfinite(steps) & (steps > 0)):
            raise ValueError("h must be > 0 and finite at every element")
        return Step(steps, "array")
    return Step(positive_finite_scalar("h", h), "number")


# -- the perturbed points ------------------------------------------------------------------


def points(x: np.ndarray, steps: np.ndarray, offsets) -> dict:
    """offset -> x + offset * h, rounded once to x's dtype (what the perturbed element will hold)."""
    moved = {}
    for offset in offsets:
        if offset == 0:
            moved[offset] = x.copy()
        else:
            moved[offset] = (x.astype(np.float64) + offset * steps).astype(x.dtype)
    return moved


def check_steps_kept(
    x: np.ndarray, step: Step, steps: np.ndarray, offsets, moved: dict, stacklevel: int = 3
) -> None:
    """Refuse a non-finite x and a step that rounding swallows; warn when the step is badly
    represented.

    ``moved`` holds the points of every offset and of 0 (see `points`).
    """
    if not np.all(np.isfinite(x)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise ValueError(f"x must be finite, found {x[bad]} at index {bad}")
    ordered = sorted(set(offsets) | {0.0})
    for low, high in zip(ordered, ordered[1:], strict=False):
        lost = moved[high] <= moved[low]
        if np.any(lost):
            bad = tuple(int(i) for i in np.argwhere(lost)[0])
            raise StepLostError(
                f"{step.describe(steps, bad)} is lost to rounding at x{list(bad)}={x[bad]}: "
                f"x + h == x in {x.dtype}, so the difference quotient would be 0; use h of at "
                f"least {np.spacing(np.abs(x[bad])):.3g}"
            )
    if x.size == 0:
        return
    span = moved[ordered[-1]].astype(np.float64) - moved[ordered[0]].astype(np.float64)
    wanted = (ordered[-1] - ordered[0]) * steps
    distortion = float(np.max(np.abs(span - wanted) / wanted))
    if distortion > 0.01:
        warnings.warn(
            f"h is represented with a relative error of up to {distortion:.2g} at some "
            f"elements of x ({x.dtype} spacing is coarse there); the gradient carries that error",
            PrecisionWarning,
            stacklevel=stacklevel,
        )


# -- what f returns ----------------------------------------------------------------------------


def real_value(value, what) -> float:
    """The scalar an evaluation of f returned, as a Python float.

    ``what`` says where f was evaluated, for the message of an unusable value: a string,
    or ``(name, index, offset)`` of the element moved (``x[1, 2]+1h``), formatted only then.
    """
    if value.__class__ is float and math.isfinite(value):
        return value
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
class Points:
    """The checked perturbed points of x: what `checked_points` returns.

    ``steps`` is the step of every element (float64, shaped like x); ``moved`` maps 0 and
    every offset to x with each element moved by that many steps, in x's dtype.
    """

    step: Step
    steps: np.ndarray
    offsets: tuple
    moved: dict


def checked_points(
    x: np.ndarray, stencil: Stencil, step: Step, offsets, *, warn: bool = True, stacklevel=4
) -> Points:
    """The step of every element and the points f is evaluated at, checked once.

    Refuses a non-finite x and a step lost to rounding (`check_steps_kept`); with ``warn``,
    the PrecisionWarning of a float16/float32 x.  ``stacklevel`` is the public caller's.
    """
    steps = stencil.steps(x, step)
    offsets = tuple(offsets)
    moved = points(x, steps, {0.0, *offsets})
    check_steps_kept(x, step, steps, offsets, moved, stacklevel=stacklevel)
    if warn:
        stencil.warn_if_low_precision(x, step, steps, stacklevel=stacklevel + 1)
    return Points(step, steps, offsets, moved)


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
