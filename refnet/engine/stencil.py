"""The difference engine: one `Stencil` per scheme, the step, and the perturbed points.

The maths is in [`refnet.differentiation`][refnet.differentiation]'s docstring.  Here are its working parts,
shared by the public functions (``numerical_diff``, ``numerical_gradient``), the gradient
check and the networks:

* `SCHEMES`, the stencils as rows, and `stencil_of`, the one place a scheme's
  name is looked up and refused;
* the step rules: `check_step` validates ``h`` once, at a public entry point, into a
  `Step` (its form: one number, ``"auto"`` or an array), the value that travels down;
  `Stencil.steps` turns it into one step per element (the nominal one or ``h="auto"``'s,
  `Stencil.auto_step`);
* the perturbed points (`points`), the step-lost check (`check_steps_kept`), and both at
  once (`checked_points`, which every caller runs);
* combination (`Stencil.combine`) and the error estimate (`Stencil.estimate`).

f is evaluated at the points by `refnet.engine.quotients` (one element at a time, the
book's loop) and `refnet.engine.stacked` (on stacks of copies).  Nothing here validates
what a public entry point has already validated: the functions trust their arguments.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._checks import (
    PrecisionWarning,
    StepLostError,
    positive_finite_scalar,
    warn_low_precision,
)

# What this private module offers the rest of refnet (no reference page renders it).
__all__ = [
    "AUTO",
    "CENTRAL",
    "COMPLEX",
    "COMPLEX_STEP",
    "DEFAULT_MEMORY_BUDGET",
    "DEFAULT_STEP",
    "SCHEMES",
    "Points",
    "Stencil",
    "Step",
    "check_step",
    "check_steps_kept",
    "checked_points",
    "points",
    "stencil_of",
]

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
