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

Schemes.  A real difference scheme is a row of :data:`SCHEMES`: offsets ``o_j`` (in
units of h), weights ``w_j`` and a divisor ``d``, and computes
``D(h) = Σ_j w_j f(x + o_j h) / (d h)``.  Expanding each ``f(x + o_j h)`` in a Taylor
series, ``D(h) = Σ_k m_k h^(k-1) f^(k)(x) / k!`` with moments ``m_k = Σ_j w_j o_j^k / d``;
a scheme is consistent when ``m_0 = 0`` and ``m_1 = 1``, and its *order* p is the number
of further moments that vanish (:func:`scheme_order`).  Its error is then

* truncation: ``m_(p+1) h^p f^(p+1)(x) / (p+1)!`` to leading order, and
* round-off: each evaluation of f carries a rounding error of about ``ε |f|``, which the
  quotient turns into about ``ε |f| Σ|w_j| / (d h)``.

The first falls with h, the second grows as h shrinks; their sum is smallest near
``h ≈ ε^(1/(p+1))``, the rule behind ``h="auto"`` (:func:`auto_step`).  With float64
(ε ≈ 2.2e-16) and the book's central difference at ``h = 1e-4`` both are small: about
1.7e-9 |f'''| and 2.2e-12 |f|.

The complex step ``Im f(x + ih) / h`` subtracts nothing, so it has no round-off term to
balance: its error is ``h² f'''/6`` plus the rounding of f' itself, and h can be tiny.
It needs an ``f`` that is analytic and written so that it accepts complex input.
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass

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
    "AUTO",
    "COMPLEX_STEP",
    "DEFAULT_MEMORY_BUDGET",
    "DEFAULT_STEP",
    "SCHEMES",
    "ErrorEstimate",
    "auto_step",
    "naive_numerical_diff",
    "numerical_diff",
    "numerical_gradient",
    "scheme_order",
    "truncation_constant",
]

#: The book's step for numerical differentiation.
DEFAULT_STEP = 1e-4

#: Bytes of perturbed points handed to f in one call by the vectorized path (and the cap
#: on the work arrays of one block of the network-aware path).  f's own temporaries come
#: on top: a few times this for the usual elementwise-then-sum function.
DEFAULT_MEMORY_BUDGET = 32 * 2**20

#: ``h=AUTO`` picks a step per element from the dtype and the magnitude (:func:`auto_step`).
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


def _moment(scheme: str, k: int) -> float:
    offsets, weights, divisor = SCHEMES[scheme]
    return sum(w * o**k for o, w in zip(offsets, weights, strict=True)) / divisor


def _scheme(scheme):
    if scheme == COMPLEX_STEP:
        return None
    if not isinstance(scheme, str) or scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {[*SCHEMES, COMPLEX_STEP]}, got {scheme!r}")
    return SCHEMES[scheme]


def scheme_order(scheme: str) -> int:
    """The order p of a scheme: its truncation error falls like h^p.

    Read off the moments of the stencil (see the module docstring), so a new row of
    :data:`SCHEMES` needs no separate declaration of its order.

    Examples
    --------
    >>> [scheme_order(s) for s in ("forward", "central", "five_point", "richardson")]
    [1, 2, 4, 6]
    >>> scheme_order("complex_step")
    2
    """
    if _scheme(scheme) is None:
        return 2
    for k in range(2, 12):
        if abs(_moment(scheme, k)) > 1e-12:
            return k - 1
    raise ValueError(f"scheme {scheme!r} has no non-zero moment below 12")  # pragma: no cover


def truncation_constant(scheme: str) -> float:
    """c in ``D(h) - f'(x) ≈ c h^p f^(p+1)(x)``, the leading truncation term.

    Examples
    --------
    >>> truncation_constant("central")  # h² f''' / 6
    0.16666666666666666
    >>> round(1 / truncation_constant("five_point"), 9)  # -h⁴ f⁽⁵⁾ / 30
    -30.0
    """
    if _scheme(scheme) is None:
        return -1.0 / 6.0  # Im f(x + ih) / h = f' - h² f''' / 6 + ...
    p = scheme_order(scheme)
    return _moment(scheme, p + 1) / math.factorial(p + 1)


def _weight_sum(scheme: str) -> float:
    """Σ|w_j| / d: how much of ε|f| / h the scheme passes on as round-off."""
    _, weights, divisor = SCHEMES[scheme]
    return sum(abs(w) for w in weights) / divisor


def auto_step(x, scheme: str = "central", dtype=None) -> np.ndarray:
    """The step ``h="auto"`` uses: per element, a power of two near ``ε^(1/(p+1)) max(|x|, 1)``.

    For a scheme of order p the truncation error is about ``h^p |f^(p+1)|`` and the
    round-off about ``ε |f| / h``; with f and its derivatives of the same size, their
    sum is smallest at ``h ≈ ε^(1/(p+1))``, and scaling by ``max(|x|, 1)`` keeps the
    step a fixed number of ulps of ``x`` when ``|x|`` is large (the absolute step then
    grows with x, so ``x + h`` never rounds back to ``x``).  ε is that of ``dtype``
    (default: ``x``'s own floating dtype, float64 for anything else).  Rounding to a
    power of two makes every ``o_j h`` exact.

    The complex step has no round-off term to balance: any h with ``h² |f'''| / 6``
    below ``ε |f'|`` is as good as any other, so it takes ``ε max(|x|, 1)``.

    Examples
    --------
    >>> auto_step(np.array([0.5, 3.0, -1000.0]))  # central, float64: ε^(1/3) ≈ 6.1e-6
    array([7.62939453e-06, 1.52587891e-05, 7.81250000e-03])
    >>> float(auto_step(1.0, "five_point"))  # ε^(1/5) ≈ 7.4e-4
    0.0009765625
    """
    x = np.asarray(x)
    if dtype is None:
        dtype = x.dtype if x.dtype.kind == "f" else np.float64
    eps = float(np.finfo(dtype).eps)
    scale = np.maximum(np.abs(x.astype(np.float64)), 1.0)
    if _scheme(scheme) is None:
        return eps * scale
    target = eps ** (1.0 / (scheme_order(scheme) + 1)) * scale
    return np.exp2(np.round(np.log2(target)))


@dataclass(frozen=True)
class ErrorEstimate:
    """The estimated error of a difference quotient, elementwise (or scalars for one variable).

    Attributes
    ----------
    step : ndarray or float
        The step h used.
    truncation : ndarray or float
        ``|D(h) - D(2h)| / (2^p - 1)``: for a scheme of order p, ``D(2h) - D(h)`` is
        ``(2^p - 1)`` times the truncation error of ``D(h)`` to leading order.  Where
        round-off dominates, this difference is round-off noise, and the estimate
        reports that noise instead (which is also an error of ``D(h)``).
    roundoff : ndarray or float
        ``ε_f Σ_j |w_j f(x + o_j h)| / (d h)`` for the rounding of f's values, plus
        ``|D| Σ_j |w_j| ε_x |x + o_j h| / (2 d h)`` for the rounding of the perturbed
        points.  For the complex step, ``ε |D|``: nothing is subtracted.
    """

    step: np.ndarray | float
    truncation: np.ndarray | float
    roundoff: np.ndarray | float

    @property
    def total(self):
        """``truncation + roundoff``: the estimated absolute error of the result."""
        return self.truncation + self.roundoff


# -- evaluation of f -----------------------------------------------------------------------


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


def _value_eps(value) -> float:
    """ε of the precision f computed ``value`` in (float64 for Python numbers)."""
    dtype = getattr(value, "dtype", None)
    if dtype is not None and dtype.kind == "f" and dtype.itemsize < 8:
        return float(np.finfo(dtype).eps)
    return float(np.finfo(np.float64).eps)


def _complex_value(value, what: str) -> complex:
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


def _offsets_with_check(offsets, weights, with_error: bool):
    """All offsets to evaluate, without repeats: the scheme's and, for the estimate, 2x them."""
    wanted = list(offsets)
    if with_error:
        wanted += [2.0 * o for o in offsets]
    return list(dict.fromkeys(wanted))


def _steps(x: np.ndarray, h, scheme: str) -> np.ndarray:
    """The step of every element as a float64 array shaped like ``x``."""
    if isinstance(h, str):
        if h != AUTO:
            raise ValueError(f"h must be a positive number or 'auto', got {h!r}")
        return np.broadcast_to(auto_step(x, scheme), x.shape).astype(np.float64)
    if isinstance(h, np.ndarray) and h.ndim > 0:
        if h.dtype.kind not in "fiu":
            raise TypeError(f"h must hold real numbers, got dtype {h.dtype}")
        try:
            steps = np.broadcast_to(h.astype(np.float64), x.shape).copy()
        except ValueError:
            raise ValueError(
                f"h has shape {h.shape}, which does not broadcast to x's {x.shape}"
            ) from None
        if not np.all(np.isfinite(steps) & (steps > 0)):
            raise ValueError("h must be > 0 and finite at every element")
        return steps
    return np.full(x.shape, positive_finite_scalar("h", h))


def _points(x: np.ndarray, steps: np.ndarray, offset: float) -> np.ndarray:
    """x + offset * h, rounded once to x's dtype (what the perturbed element will hold)."""
    if offset == 0:
        return x.copy()
    return (x.astype(np.float64) + offset * steps).astype(x.dtype)


def _describe_step(h, steps, index):
    if isinstance(h, str) or (isinstance(h, np.ndarray) and h.ndim > 0):
        return f"h={steps[index]:.3g}"
    return f"h={h}"


def _check_steps(x: np.ndarray, h, steps: np.ndarray, offsets, points: dict) -> None:
    """Refuse a step that rounding swallows; warn when it is badly represented."""
    if not np.all(np.isfinite(x)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise ValueError(f"x must be finite, found {x[bad]} at index {bad}")
    ordered = sorted(set(offsets) | {0.0})
    for low, high in zip(ordered, ordered[1:], strict=False):
        lost = points[high] <= points[low]
        if np.any(lost):
            bad = tuple(int(i) for i in np.argwhere(lost)[0])
            raise StepLostError(
                f"{_describe_step(h, steps, bad)} is lost to rounding at x{list(bad)}={x[bad]}: "
                f"x + h == x in {x.dtype}, so the difference quotient would be 0; use h of at "
                f"least {np.spacing(np.abs(x[bad])):.3g}"
            )
    if x.size == 0:
        return
    span = points[ordered[-1]].astype(np.float64) - points[ordered[0]].astype(np.float64)
    wanted = (ordered[-1] - ordered[0]) * steps
    distortion = float(np.max(np.abs(span - wanted) / wanted))
    if distortion > 0.01:
        warnings.warn(
            f"h is represented with a relative error of up to {distortion:.2g} at some "
            f"elements of x ({x.dtype} spacing is coarse there); the gradient carries that error",
            PrecisionWarning,
            stacklevel=3,
        )


def _perturbable(x, *, in_place: bool = True) -> np.ndarray:
    """The array numerical_gradient will perturb in place (or only read), or a clear error."""
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


def _evaluate(f, x: np.ndarray, points: dict, name: str = "x"):
    """f at every perturbed point, one element at a time, in place (the book's loop).

    ``points`` maps an offset to the array of values the perturbed element takes.
    Returns ``(values, eps_f)``: ``values[offset]`` is a float64 array shaped like x of
    f at x with that one element perturbed (offset 0: f at x itself, evaluated once),
    and ``eps_f`` the ε of the least precise value f returned.
    """
    backup = x.copy()
    values = {offset: np.empty(x.shape, dtype=np.float64) for offset in points}
    eps_f = float(np.finfo(np.float64).eps)
    index = saved = None
    finished = False
    try:
        if 0.0 in points:
            value = f(x)
            eps_f = max(eps_f, _value_eps(value))
            values[0.0][...] = _real_value(value, name)
        moved = [offset for offset in points if offset != 0.0]
        for index in np.ndindex(x.shape):
            saved = x[index]
            for offset in moved:
                x[index] = points[offset][index]
                value = f(x)
                eps_f = max(eps_f, _value_eps(value))
                values[offset][index] = _real_value(value, f"{name}{list(index)}{offset:+g}h")
            x[index] = saved
        finished = True
    finally:
        if index is not None:
            x[index] = saved
        # Compared as bytes: NaN payloads and -0.0 count, and an f that changed x is caught.
        if x.tobytes() != backup.tobytes():
            x[...] = backup
            if finished:
                raise ValueError(
                    f"f modified its argument {name} (beyond the perturbation numerical_gradient "
                    f"makes); {name} has been restored, but the gradient is meaningless: make f "
                    "work on a copy"
                )
    return values, eps_f


def _combine(values: dict, steps, scheme: str, scale: float = 1.0):
    """Σ_j w_j f(x + o_j s h) / (d s h), in the scheme's order (bit-identical to the book)."""
    offsets, weights, divisor = SCHEMES[scheme]
    total = 0.0
    for offset, weight in zip(offsets, weights, strict=True):
        total = total + weight * values[scale * offset]
    return total / (divisor * (scale * steps))


def _estimate(values, steps, scheme, x64, derivative, eps_f, eps_x) -> ErrorEstimate:
    """Truncation from D(h) against D(2h); round-off from ε|f|/h and the rounded points."""
    offsets, weights, divisor = SCHEMES[scheme]
    p = scheme_order(scheme)
    wide = _combine(values, steps, scheme, 2.0)
    truncation = np.abs(wide - derivative) / (2.0**p - 1.0)
    size_f = sum(abs(w) * np.abs(values[o]) for o, w in zip(offsets, weights, strict=True))
    placed = sum(
        abs(w) * (np.abs(x64) + abs(o) * steps) for o, w in zip(offsets, weights, strict=True)
    )
    roundoff = (eps_f * size_f + np.abs(derivative) * eps_x * placed / 2.0) / (divisor * steps)
    return ErrorEstimate(steps, truncation, roundoff)


# -- one variable ---------------------------------------------------------------------------


def numerical_diff(f, x, h=DEFAULT_STEP, *, scheme="central", return_error=False):
    """Derivative of a function of one variable by a difference quotient (section 4.3.1).

    Parameters
    ----------
    f : callable
        Maps a real number to a real number (a complex one for ``scheme="complex_step"``).
    x : float
        Where to differentiate.
    h : float or "auto", default 1e-4
        The step.  Must be large enough that ``x + h != x`` in floating point.
        ``"auto"`` takes :func:`auto_step` for the scheme.
    scheme : str, default "central"
        A row of :data:`SCHEMES` or ``"complex_step"``: ``central`` (the book's) is
        ``(f(x+h) - f(x-h)) / 2h``, error O(h²); ``forward`` ``(f(x+h) - f(x)) / h`` and
        ``backward`` ``(f(x) - f(x-h)) / h``, O(h); ``five_point``
        ``(-f(x+2h) + 8f(x+h) - 8f(x-h) + f(x-2h)) / 12h``, O(h⁴); ``richardson``, two
        levels of Richardson extrapolation of the central difference, O(h⁶);
        ``complex_step`` ``Im f(x + ih) / h``, O(h²) with no round-off growth.
    return_error : bool, default False
        Also return an :class:`ErrorEstimate` (costs the evaluations at 2h).

    Examples
    --------
    The book's function 0.01x² + 0.1x, whose exact derivatives at 5 and 10 are 0.2 and 0.3:

    >>> def function_1(x):
    ...     return 0.01 * x**2 + 0.1 * x
    >>> numerical_diff(function_1, 5)
    0.1999999999990898
    >>> numerical_diff(function_1, 10)
    0.2999999999986347

    exp'(1) = e = 2.718281828459045...: the book's step errs by h² e / 6 ≈ 4.5e-9, the
    complex step by nothing visible.

    >>> numerical_diff(np.exp, 1.0)
    2.71828183298...
    >>> numerical_diff(np.exp, 1.0, "auto", scheme="complex_step")
    2.718281828459045
    """
    stencil = _scheme(scheme)
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
    if isinstance(h, np.ndarray) and h.ndim > 0:
        raise ValueError(f"h must be a scalar for numerical_diff, got shape {h.shape}")
    step = float(_steps(np.asarray(x0), h, scheme))
    if stencil is None:
        return _complex_diff(f, x0, step, return_error)
    offsets, weights, divisor = stencil
    wanted = _offsets_with_check(offsets, weights, return_error)
    points = {offset: x0 + offset * step for offset in wanted}
    ordered = sorted(set(wanted) | {0.0})
    for low, high in zip(ordered, ordered[1:], strict=False):
        if (points.get(high, x0)) <= (points.get(low, x0)):
            raise StepLostError(
                f"h={step} is lost to rounding at x={x0}: x + h == x in float64, so every "
                "difference quotient would be 0; use a step of at least "
                f"{np.spacing(abs(x0)) if x0 else np.finfo(float).tiny:.3g}"
            )
    values = {}
    eps_f = float(np.finfo(np.float64).eps)
    for offset in wanted:
        value = f(points[offset])
        eps_f = max(eps_f, _value_eps(value))
        values[offset] = _real_value(value, f"x{offset:+g}h")
    total = 0.0
    for offset, weight in zip(offsets, weights, strict=True):
        total += weight * values[offset]
    derivative = total / (divisor * step)
    if not return_error:
        return derivative
    arrays = {k: np.asarray(v) for k, v in values.items()}
    estimate = _estimate(arrays, np.asarray(step), scheme, np.asarray(x0), derivative, eps_f, eps_f)
    return derivative, ErrorEstimate(step, float(estimate.truncation), float(estimate.roundoff))


def _complex_diff(f, x0: float, step: float, return_error: bool):
    def at(s):
        return _complex_value(f(complex(x0, s)), f"x+{s:g}i").imag / s

    derivative = at(step)
    if not return_error:
        return derivative
    eps = float(np.finfo(np.float64).eps)
    truncation = abs(at(2 * step) - derivative) / 3.0
    return derivative, ErrorEstimate(step, truncation, eps * abs(derivative))


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


# -- arrays ------------------------------------------------------------------------------------


def numerical_gradient(
    f,
    x,
    h=DEFAULT_STEP,
    *,
    scheme="central",
    return_error=False,
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
    h : float, array or "auto", default 1e-4
        The step: one number, one per element (an array broadcastable to ``x``), or
        ``"auto"`` for :func:`auto_step`'s per-element steps.
    scheme : str, default "central"
        As in :func:`numerical_diff`.  With ``"complex_step"``, f is called with a
        complex copy of x (one element moved by ``ih``), so it must use its argument;
        ``x`` itself is not touched.
    return_error : bool, default False
        Also return an :class:`ErrorEstimate` of every element (costs the evaluations
        at 2h: twice the calls of f).
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
        Same shape and dtype as ``x``.  With ``return_error``, ``(gradient, estimate)``.

    Raises
    ------
    TypeError
        ``x`` is an integer, boolean or complex array, or ``f`` returns a non-scalar
        (or, for the complex step, a real number).
    StepLostError
        ``h`` is lost to rounding at some element (``x + h == x``): the quotient would
        be 0 there whatever f is.  A subclass of ValueError.
    ValueError
        ``x`` is read-only or not finite, ``h`` is not a positive finite number or
        ``"auto"``, ``f`` returns NaN or infinity, or ``f`` modified ``x`` (which is
        then restored).

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

    With an error estimate (a quadratic has no truncation error, so what is left is
    round-off, about ε |f| / h = 2.2e-16 · 25 / 1e-4):

    >>> grad, err = numerical_gradient(function_2, np.array([3.0, 4.0]), return_error=True)
    >>> bool(np.all(np.abs(grad - [6, 8]) <= err.total))
    True

    The same function written for a stack of points, evaluated in one call:

    >>> def function_2_rows(points):
    ...     return points[:, 0]**2 + points[:, 1]**2
    >>> numerical_gradient(function_2_rows, np.array([3.0, 4.0]), vectorized=True).tolist()
    [6.00000000000378, 7.999999999999119]
    """
    stencil = _scheme(scheme)
    if not callable(f):
        raise TypeError(f"f must be callable, got {describe(f)}")
    x = _perturbable(x, in_place=not vectorized)
    steps = _steps(x, h, scheme)
    if stencil is None:
        if vectorized:
            raise ValueError("scheme='complex_step' has no vectorized form; use vectorized=False")
        return _complex_gradient(f, x, steps, h, return_error)
    offsets, weights, _ = stencil
    wanted = _offsets_with_check(offsets, weights, return_error)
    points = {offset: _points(x, steps, offset) for offset in {0.0, *wanted}}
    _check_steps(x, h, steps, wanted, points)
    if x.dtype != np.float64:
        eps = float(np.finfo(x.dtype).eps)
        p = scheme_order(scheme)
        if isinstance(h, str):
            what = (
                f"h='auto' balances truncation against round-off, which leaves a relative "
                f"error near ε^({p}/{p + 1}) ≈ {eps ** (p / (p + 1)):.1g}"
            )
        else:
            what = (
                f"the {scheme} difference's round-off is about "
                f"{eps * _weight_sum(scheme) / float(np.min(steps, initial=np.inf)):.1g} |f| at h={h}"
            )
        warn_low_precision("x", x.dtype, what)
    needed = {offset: points[offset] for offset in wanted}
    if vectorized:
        values, eps_f = _evaluate_stacked(f, x, needed, memory_budget)
    else:
        values, eps_f = _evaluate(f, x, needed)
    derivative = _combine(values, steps, scheme)
    # asarray: arithmetic on 0-d arrays gives NumPy scalars; the result is an array like x.
    grad = np.asarray(derivative, dtype=np.float64).astype(x.dtype)
    if not return_error:
        return grad
    eps_x = float(np.finfo(x.dtype).eps)
    estimate = _estimate(values, steps, scheme, x.astype(np.float64), derivative, eps_f, eps_x)
    return grad, estimate


def _complex_gradient(f, x: np.ndarray, steps: np.ndarray, h, return_error: bool):
    if not np.all(np.isfinite(x)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise ValueError(f"x must be finite, found {x[bad]} at index {bad}")
    complex_dtype = np.result_type(x.dtype, np.complex64)
    z = x.astype(complex_dtype)
    backup = z.tobytes()
    scales = (1.0, 2.0) if return_error else (1.0,)
    out = {s: np.empty(x.shape, dtype=np.float64) for s in scales}
    for index in np.ndindex(x.shape):
        for s in scales:
            z[index] = complex(float(x[index]), s * steps[index])
            value = _complex_value(f(z), f"x{list(index)}+{s:g}ih")
            z[index] = x[index]
            out[s][index] = value.imag / (s * steps[index])
    if z.tobytes() != backup:
        raise ValueError(
            "f modified its argument (the complex copy of x it was given); the gradient is "
            "meaningless: make f work on a copy"
        )
    grad = out[1.0].astype(x.dtype)
    if not return_error:
        return grad
    eps = float(np.finfo(x.dtype).eps)
    truncation = np.abs(out[2.0] - out[1.0]) / 3.0
    return grad, ErrorEstimate(steps, truncation, eps * np.abs(out[1.0]))


def _evaluate_stacked(f, x: np.ndarray, points: dict, memory_budget):
    """What :func:`_evaluate` returns, with f called on stacks of the perturbed points.

    The stacks hold exactly the loop's points (``points``, rounded to x's dtype), so an f
    that computes each row as it would a single point gives the loop's values bit for
    bit.  ``x`` is only read.  Stacks are chunked so that one holds at most
    ``memory_budget`` bytes of points; the buffer is reused, so f must not keep it.
    """
    memory_budget = positive_int("memory_budget", memory_budget)
    values = {offset: np.empty(x.shape, dtype=np.float64) for offset in points}
    eps_f = float(np.finfo(np.float64).eps)
    n = x.size
    if n == 0:
        return values, eps_f
    if 0.0 in points:
        # An offset of 0 is f(x) itself, the same for every element: evaluated once.
        at_x, eps_f = _stack_values(f, x[None], 1, "x")
        values[0.0][...] = at_x[0]
    moving = [offset for offset in points if offset != 0.0]
    if not moving:
        return values, eps_f
    flat = x.reshape(-1)
    moved = {offset: points[offset].reshape(-1) for offset in moving}
    rows = max(1, min(n, memory_budget // max(1, len(moving) * n * x.itemsize)))
    buffer = np.empty((len(moving) * rows, n), dtype=x.dtype)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        count = stop - start
        stack = buffer[: len(moving) * count].reshape(len(moving), count, n)
        stack[...] = flat
        columns = np.arange(start, stop)
        for slot, offset in enumerate(moving):
            stack[slot, np.arange(count), columns] = moved[offset][columns]
        chunk, eps_chunk = _stack_values(
            f, stack.reshape(len(moving) * count, *x.shape), len(moving) * count, None
        )
        eps_f = max(eps_f, eps_chunk)
        chunk = chunk.reshape(len(moving), count)
        if not np.all(np.isfinite(chunk)):
            slot, k = (int(i) for i in np.argwhere(~np.isfinite(chunk))[0])
            index = [int(i) for i in np.unravel_index(start + k, x.shape)]
            raise ValueError(
                f"f returned {chunk[slot, k]} at x{index}{moving[slot]:+g}h: the difference "
                "quotient is undefined there"
            )
        for slot, offset in enumerate(moving):
            values[offset].reshape(-1)[start:stop] = chunk[slot]
    return values, eps_f


def _stack_values(f, stack: np.ndarray, count: int, what):
    """f's values on a stack of ``count`` points, checked: float64 of shape (count,), and ε.

    ε is that of the precision f computed in (float64 unless it returned less).
    """
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
    eps_f = _value_eps(values)
    values = values.astype(np.float64)
    if what is not None and not np.all(np.isfinite(values)):
        raise ValueError(
            f"f returned {values[0]} at {what}: the difference quotient is undefined there"
        )
    return values, eps_f
