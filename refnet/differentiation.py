r"""Numerical differentiation: the chapter's loop first, the engine behind it.

[`numerical_diff`][refnet.differentiation.numerical_diff] and
[`numerical_gradient`][refnet.differentiation.numerical_gradient] open this file as the
book writes them (sections 4.3 and 4.4): with a number ``h`` and the central difference,
each is the book's ``(f(x+h) - f(x-h)) / (2*h)``, for an array element by element: set
``x[i]`` to ``x_i + h``, evaluate ``f``, set it to ``x_i - h``, evaluate again, restore it.
``f`` sees the perturbation *in place*, which is what lets the book write
``lambda W: net.loss(x, t)``, a function that ignores its argument and reads the weights
from the network.  refnet keeps that contract and makes it safe:

* the element is restored in a ``finally`` block, so ``x`` is bit-identical afterwards
  even when ``f`` raises, and an ``f`` that changes ``x`` itself is caught and undone;
* an integer array is refused (the book's loop would store ``3 + 1e-4`` as ``3`` and
  return ``[25000, 35000]`` for the gradient of ``sum(x**2)`` at ``[3, 4]``);
* a step that rounding swallows (``x + h == x``, the book's ``h = 1e-50`` trap) is an error;
* float16/float32 arrays are differentiated, with a [`PrecisionWarning`][refnet.PrecisionWarning].

Everything else (other schemes, ``h="auto"``, an array of steps, ``return_error``,
``vectorized``, ``executor``) is handed over to the engine (``refnet.engine.stencil``,
``refnet.engine.stacked``), whose quotients are the loop's, bit for bit, where both apply
(tests/test_differentiation.py holds them to it).

Schemes.  A real difference scheme is a row of `SCHEMES`: offsets ``o_j`` (in
units of h), weights ``w_j`` and a divisor ``d``, and computes
$D(h) = ∑_j w_j f(x + o_j h) / (d h)$.  Expanding each ``f(x + o_j h)`` in a Taylor
series, $D(h) = ∑_k m_k h^{k-1} f^{(k)}(x) / k!$ with moments $m_k = ∑_j w_j o_j^k / d$;
a scheme is consistent when $m_0 = 0$ and $m_1 = 1$, and its *order* p is the number
of further moments that vanish ([`scheme_order`][refnet.differentiation.scheme_order]).  Its error is then

* truncation: $m_{p+1} h^p f^{(p+1)}(x) / (p+1)!$ to leading order, and
* round-off: each evaluation of f carries a rounding error of about $ε |f|$, which the
  quotient turns into about $ε |f| ∑_j |w_j| / (d h)$.

The first falls with h, the second grows as h shrinks; their sum is smallest near
$h ≈ ε^{1/(p+1)}$, the rule behind ``h="auto"`` ([`auto_step`][refnet.differentiation.auto_step]).  With float64
($ε ≈ 2.2 × 10^{-16}$) and the book's central difference at $h = 10^{-4}$ both are small: about
$1.7 × 10^{-9} |f'''|$ and $2.2 × 10^{-12} |f|$.

The complex step $\operatorname{Im} f(x + ih) / h$ subtracts nothing, so it has no round-off term to
balance: its error is $h^2 f''' / 6$ plus the rounding of f' itself, and h can be tiny.
It needs an ``f`` that is analytic and written so that it accepts complex input.

Vectorized evaluation.  With ``vectorized=True``, ``f`` takes a *stack* of points, an
array of shape ``(k, *x.shape)``, and returns their ``k`` values; the perturbed points
are built as copies (``x`` is never written, and may be read-only) and handed to ``f`` in
chunks.  They are bit-for-bit the loop's points and the quotient is combined in the
loop's order, so if ``f`` computes each row as it would compute a single point, on an
array of x's shape (``stack[i, ...]``: for a 0-d x, ``stack[i]`` is a NumPy scalar, which
may round differently), the result is identical to the loop's.  The stack is a scratch
buffer, reused between calls: ``f`` must neither keep nor modify it (a modification is
caught, as a ValueError).  Stacks are sized for the CPU cache; points of 512 KiB or more
(64Ki float64 elements) are handed over one at a time, in the loop's order, where stacking
no longer pays (the crossover measured by ``benchmarks/vectorized_blocks.py``).
``memory_budget`` caps the bytes of one stack (at least one element's points are handed
over); the default is about `DEFAULT_BLOCK_BYTES` (1 MiB) of points, but at least 8
elements' and at most 4 MiB, measured to keep a stack and ``f``'s temporaries in cache.

Executors.  With ``vectorized=True``, ``executor`` evaluates the blocks on any
``concurrent.futures.Executor``: a ``ThreadPoolExecutor``, a ``ProcessPoolExecutor``
(then ``f`` must be picklable), or a Dask cluster's ``client.get_executor()``.  Each
block of stacked points is one task that carries ``f``, ``x`` and the block's moved
values; the worker builds the stack, ``x`` is never written, and the results are combined
in the serial order, so the gradient is the serial path's, bit for bit.  It pays when one
evaluation of ``f`` costs much more than sending ``x`` (see the how-to "Spread a
numerical gradient over workers"); ``memory_budget`` sets the size of a task.

Errors and warnings of `numerical_gradient`.  TypeError: ``x`` is an integer, boolean or
complex array, or ``f`` returns a non-scalar (or, for the complex step, a real number);
``executor`` is not a ``concurrent.futures.Executor``.  [`StepLostError`][refnet.StepLostError]
(a ValueError): ``h`` is lost to rounding at some element (``x + h == x``), where the
quotient would be 0 whatever f is.  ValueError: ``x`` is read-only or not finite, ``h``
is not a positive finite number or ``"auto"``, ``f`` returns NaN or infinity, or ``f``
modified ``x`` (which is then restored) or its stack; ``executor`` without
``vectorized=True``.  [`PrecisionWarning`][refnet.PrecisionWarning]: ``x`` is float16 or
float32; the round-off term $ε |f| / h$ is then about $10^{-3} |f|$ at $h = 10^{-4}$:
expect two to three correct digits.

More examples.  With an error estimate (a quadratic has no truncation error, so what is
left is round-off, about ε |f| / h = 2.2e-16 · 25 / 1e-4):

>>> def function_2(x):
...     return x[0]**2 + x[1]**2
>>> grad, err = numerical_gradient(function_2, np.array([3.0, 4.0]), return_error=True)
>>> bool(np.all(np.abs(grad - [6, 8]) <= err.total))
True

The same function written for a stack of points, evaluated in one call, and the same
blocks on two threads (any ``concurrent.futures.Executor``), the same bits:

>>> def function_2_rows(points):
...     return points[:, 0]**2 + points[:, 1]**2
>>> numerical_gradient(function_2_rows, np.array([3.0, 4.0]), vectorized=True).tolist()
[6.00000000000378, 7.999999999999119]
>>> from concurrent.futures import ThreadPoolExecutor
>>> with ThreadPoolExecutor(max_workers=2) as pool:
...     numerical_gradient(
...         function_2_rows, np.array([3.0, 4.0]), vectorized=True, executor=pool
...     ).tolist()
[6.00000000000378, 7.999999999999119]
"""
# Size: over 500 lines because it is the chapter's public face for differentiation: the
# book's two functions first, then the engine hand-overs, the typed overloads of their
# ``return_error`` forms and four smaller functions, whose docstrings (the error model,
# every option, examples that pytest runs) are most of the file.

from __future__ import annotations

import concurrent.futures
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, SupportsFloat, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ._checks import (
    ArrayFunction,
    PrecisionWarning,
    StepLostError,
    describe,
    perturbable,
    positive_int,
    real_float_array,
)
from .engine.quotients import (
    complex_value,
    difference_quotients,
    evaluate_complex,
    real_value,
    undo_changes,
    value_eps,
)
from .engine.stacked import DEFAULT_BLOCK_BYTES, evaluate_stacked
from .engine.stencil import (
    AUTO,
    CENTRAL,
    COMPLEX_STEP,
    DEFAULT_MEMORY_BUDGET,
    DEFAULT_STEP,
    SCHEMES,
    Step,
    check_step,
    checked_points,
    stencil_of,
)

__all__ = [
    "AUTO",
    "COMPLEX_STEP",
    "DEFAULT_BLOCK_BYTES",
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


# -- the chapter: one variable (section 4.3.1) ------------------------------------------------


@overload
def numerical_diff(
    f: Callable[[Any], Any],
    x: SupportsFloat,
    h: float | str = ...,
    *,
    scheme: str = ...,
    return_error: Literal[False] = ...,
) -> float: ...
@overload
def numerical_diff(
    f: Callable[[Any], Any],
    x: SupportsFloat,
    h: float | str = ...,
    *,
    scheme: str = ...,
    return_error: Literal[True],
) -> tuple[float, ErrorEstimate]: ...
def numerical_diff(
    f: Callable[[Any], Any],
    x: SupportsFloat,
    h: float | str = DEFAULT_STEP,
    *,
    scheme: str = "central",
    return_error: bool = False,
) -> float | tuple[float, ErrorEstimate]:
    """Derivative of a function of one variable by a difference quotient (section 4.3.1).

    Parameters
    ----------
    f : callable
        Maps a real number to a real number (a complex one for ``scheme="complex_step"``).
    x : float
        Where to differentiate.
    h : float or "auto", default 1e-4
        The step: large enough that ``x + h != x`` in floating point, or ``"auto"`` for
        [`auto_step`][refnet.differentiation.auto_step]'s.
    scheme : str, default "central"
        The book's ``(f(x+h) - f(x-h)) / 2h``, error O(h²); or ``forward``
        ``(f(x+h) - f(x)) / h`` and ``backward``, O(h); ``five_point``, O(h⁴);
        ``richardson`` (two levels of Richardson extrapolation), O(h⁶); ``complex_step``
        ``Im f(x + ih) / h``, O(h²) with no round-off growth (rows of `SCHEMES`).
    return_error : bool, default False
        Also return an [`ErrorEstimate`][refnet.differentiation.ErrorEstimate] (costs the evaluations at 2h).

    Examples
    --------
    The book's 0.01x² + 0.1x, whose derivatives at 5 and 10 are 0.2 and 0.3; exp'(1) = e =
    2.718281828459045..., where the book's step errs by h² e / 6 ≈ 4.5e-9 and the complex
    step by nothing visible:

    >>> def function_1(x):
    ...     return 0.01 * x**2 + 0.1 * x
    >>> numerical_diff(function_1, 5), numerical_diff(function_1, 10)
    (0.1999999999990898, 0.2999999999986347)
    >>> numerical_diff(np.exp, 1.0)
    2.71828183298...
    >>> numerical_diff(np.exp, 1.0, "auto", scheme="complex_step")
    2.718281828459045
    """
    stencil, x = stencil_of(scheme), _scalar("x", x)
    step = check_step(h)
    if step.form == "array":
        raise ValueError(f"h must be a scalar for numerical_diff, got shape {step.h.shape}")
    if stencil is not CENTRAL or step.form != "number" or return_error:
        return _diff_by_engine(f, x, step, stencil, return_error)
    h = step.h
    _refuse_lost_step(x, h, [x - h, x, x + h])

    def fx(point):  # f's value, checked: a real, finite number
        return real_value(f(point), "x+1h" if point > x else "x-1h")

    return (fx(x + h) - fx(x - h)) / (2 * h)


def _scalar(name: str, x) -> float:
    """``x`` as a finite Python float, or the error that says why it cannot be one."""
    if isinstance(x, np.ndarray) and x.ndim != 0:
        raise ValueError(
            f"{name} must be a scalar, got shape {x.shape}; use numerical_gradient for arrays"
        )
    x_arr = real_float_array(name, x)
    if x_arr.ndim != 0:
        raise ValueError(
            f"{name} must be a scalar, got shape {x_arr.shape}; use numerical_gradient for arrays"
        )
    x0 = float(x_arr)
    if not np.isfinite(x0):
        raise ValueError(f"{name} must be finite, got {x0}")
    return x0


def _refuse_lost_step(x0: float, step: float, ordered: list) -> None:
    """StepLostError unless the points f is evaluated at (and x) are distinct, in order."""
    for low, high in zip(ordered, ordered[1:], strict=False):
        if high <= low:
            raise StepLostError(
                f"h={step} is lost to rounding at x={x0}: x + h == x in float64, so every "
                "difference quotient would be 0; use a step of at least "
                f"{np.spacing(abs(x0)) if x0 else np.finfo(float).tiny:.3g}"
            )


# -- the chapter: arrays (section 4.4) ----------------------------------------------------------


@overload
def numerical_gradient(
    f: ArrayFunction,
    x: ArrayLike,
    h: ArrayLike | Step = ...,
    *,
    scheme: str = ...,
    return_error: Literal[False] = ...,
    vectorized: bool = ...,
    memory_budget: int | None = ...,
    executor: concurrent.futures.Executor | None = ...,
) -> np.ndarray: ...
@overload
def numerical_gradient(
    f: ArrayFunction,
    x: ArrayLike,
    h: ArrayLike | Step = ...,
    *,
    scheme: str = ...,
    return_error: Literal[True],
    vectorized: bool = ...,
    memory_budget: int | None = ...,
    executor: concurrent.futures.Executor | None = ...,
) -> tuple[np.ndarray, ErrorEstimate]: ...
def numerical_gradient(
    f: ArrayFunction,
    x: ArrayLike,
    h: ArrayLike | Step = DEFAULT_STEP,
    *,
    scheme: str = "central",
    return_error: bool = False,
    vectorized: bool = False,
    memory_budget: int | None = None,
    executor: concurrent.futures.Executor | None = None,
) -> np.ndarray | tuple[np.ndarray, ErrorEstimate]:
    """Gradient of a scalar function of an array, one element at a time (section 4.4).

    ``f`` is evaluated at ``x`` with one element moved by ``±h`` at a time, *in place*, as
    the book does, so ``f`` may read ``x`` through a closure (``lambda W: net.loss(x, t)``);
    every element is restored in a ``finally`` block.  Returns an array shaped and typed
    like ``x`` (with ``return_error``, ``(gradient, estimate)``).  Errors, warnings,
    ``vectorized`` and ``executor``: the [module's documentation][refnet.differentiation].

    Parameters
    ----------
    f : callable
        Maps ``x`` to a real scalar; it must not modify ``x`` itself.
    x : ndarray of float, any shape (0-d included)
        Perturbed in place, bit-identical afterwards (lists, numbers: a new float64 array).
    h : float, array or "auto", default 1e-4
        One step, one per element (broadcast to ``x``), or ``"auto"`` ([`auto_step`][refnet.differentiation.auto_step]).
    scheme : str, default "central"
        As in [`numerical_diff`][refnet.differentiation.numerical_diff] (``"complex_step"``: f gets a complex copy of x).
    return_error : bool, default False
        Also return an [`ErrorEstimate`][refnet.differentiation.ErrorEstimate] per element (twice the calls of f).
    vectorized : bool, default False
        False is the book's loop; True: ``f`` maps a stack of points ``(k, *x.shape)`` to k values.
    memory_budget : int, optional
        With ``vectorized=True``: the largest stack handed to ``f`` at once, in bytes.
    executor : concurrent.futures.Executor, optional
        With ``vectorized=True``: evaluate the blocks on it (the serial path's bits).

    Examples
    --------
    >>> def function_2(x):
    ...     return x[0]**2 + x[1]**2
    >>> numerical_gradient(function_2, np.array([3.0, 4.0])).tolist()
    [6.00000000000378, 7.999999999999119]
    """
    stencil = stencil_of(scheme)
    if not callable(f):
        raise TypeError(f"f must be callable, got {describe(f)}")
    x, step = perturbable(x, in_place=not vectorized), check_step(h)
    _check_executor(executor, vectorized)
    if stencil is not CENTRAL or step.form != "number" or return_error or vectorized:
        engine = (return_error, vectorized, memory_budget, executor)
        return _gradient_by_engine(f, x, step, stencil, *engine)
    h = step.h
    checked_points(x, CENTRAL, step, CENTRAL.offsets)  # finite x, h not lost, float32 warned
    grad, backup, finished = np.empty(x.shape), x.copy(), False
    try:
        for i in np.ndindex(x.shape):
            tmp_val = float(x[i])
            try:
                x[i] = tmp_val + h
                fxh1 = real_value(f(x), ("x", i, +1))  # f(x+h)
                x[i] = tmp_val - h
                fxh2 = real_value(f(x), ("x", i, -1))  # f(x-h)
            finally:
                x[i] = tmp_val  # restore the value
            grad[i] = (fxh1 - fxh2) / (2 * h)
        finished = True
    finally:
        undo_changes(x, backup, "x", finished)  # and catch an f that changed x itself
    return grad.astype(x.dtype)


# -- what the chapter's functions hand over to the engine --------------------------------------


def _diff_by_engine(f, x0: float, step: Step, stencil, return_error: bool):
    """numerical_diff for every scheme, ``h="auto"`` and the error estimate."""
    h = float(stencil.steps(np.asarray(x0), step))
    if stencil.complex_step:
        return _complex_diff(f, x0, h, return_error)
    wanted = stencil.evaluated_offsets(return_error)
    moved = {offset: x0 + offset * h for offset in wanted}
    _refuse_lost_step(x0, h, [moved.get(o, x0) for o in sorted({*wanted, 0.0})])
    values = {}
    eps_f = float(np.finfo(np.float64).eps)
    for offset in wanted:
        value = f(moved[offset])
        eps_f = max(eps_f, value_eps(value))
        values[offset] = real_value(value, f"x{offset:+g}h")
    derivative = stencil.combine(values, h)
    if not return_error:
        return derivative
    arrays = {k: np.asarray(v) for k, v in values.items()}
    truncation, roundoff = stencil.estimate(
        arrays, np.asarray(h), np.asarray(x0), derivative, eps_f, eps_f
    )
    return derivative, ErrorEstimate(h, float(truncation), float(roundoff))


def _gradient_by_engine(f, x, step: Step, stencil, return_error, vectorized, budget, executor):
    """numerical_gradient for every scheme, step form, error estimate and evaluation."""
    if vectorized and budget is not None:
        budget = positive_int("memory_budget", budget)
    if stencil.complex_step:
        if vectorized:
            raise ValueError("scheme='complex_step' has no vectorized form; use vectorized=False")
        return _complex_gradient(f, x, stencil.steps(x, step), return_error)
    at = checked_points(x, stencil, step, stencil.evaluated_offsets(return_error), stacklevel=5)

    def stacked(f, x, moved):
        return evaluate_stacked(f, x, moved, budget, executor)

    done = difference_quotients(f, x, stencil, at, stacked if vectorized else None)
    # asarray: arithmetic on 0-d arrays gives NumPy scalars; the result is an array like x.
    grad = np.asarray(done.derivative, dtype=np.float64).astype(x.dtype)
    if not return_error:
        return grad
    eps_x = float(np.finfo(x.dtype).eps)
    truncation, roundoff = stencil.estimate(
        done.values, at.steps, x.astype(np.float64), done.derivative, done.eps_f, eps_x
    )
    return grad, ErrorEstimate(at.steps, truncation, roundoff)


def _check_executor(executor, vectorized) -> None:
    if executor is None:
        return
    if not isinstance(executor, concurrent.futures.Executor):
        raise TypeError(
            "executor must be a concurrent.futures.Executor (a ThreadPoolExecutor, a "
            f"ProcessPoolExecutor, a Dask client's get_executor()), got {describe(executor)}"
        )
    if not vectorized:
        raise ValueError(
            "executor needs vectorized=True: the loop moves x in place, which workers in "
            "other threads or processes would see half-moved"
        )


def _complex_gradient(f, x: np.ndarray, steps: np.ndarray, return_error: bool):
    quotients = evaluate_complex(f, x, steps, (1.0, 2.0) if return_error else (1.0,))
    grad = quotients[1.0].astype(x.dtype)
    if not return_error:
        return grad
    eps = float(np.finfo(x.dtype).eps)
    truncation = np.abs(quotients[2.0] - quotients[1.0]) / 3.0
    return grad, ErrorEstimate(steps, truncation, eps * np.abs(quotients[1.0]))


def _complex_diff(f, x0: float, step: float, return_error: bool):
    def at(s):
        return complex_value(f(complex(x0, s)), f"x+{s:g}i").imag / s

    derivative = at(step)
    if not return_error:
        return derivative
    eps = float(np.finfo(np.float64).eps)
    truncation = abs(at(2 * step) - derivative) / 3.0
    return derivative, ErrorEstimate(step, truncation, eps * abs(derivative))


# -- the book's bad example, the schemes and the error estimate ---------------------------


def naive_numerical_diff(f: Callable[[float], Any], x: SupportsFloat, h: float = 1e-50) -> float:
    """The book's "bad example" of a derivative: a forward difference with h = 1e-50.

    Kept to show what goes wrong, not to be used.  Two errors stack up.  Truncation: a
    forward difference errs by about h f''(x) / 2.  Rounding, which wins here: 1e-50 is
    far below the spacing of float64 numbers near 5 (about 8.9e-16), so ``5 + 1e-50``
    rounds to exactly 5 and the quotient is 0.  (``np.float32(1e-50)`` is 0.0 as well,
    the book's side remark; that is underflow, a different limit.)  A
    [`PrecisionWarning`][refnet.PrecisionWarning] says when the step was lost.

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


def scheme_order(scheme: str) -> int:
    """The order p of a scheme: its truncation error falls like h^p.

    Read off the moments of the stencil (see the module docstring), so a new row of
    `SCHEMES` needs no separate declaration of its order.

    Examples
    --------
    >>> [scheme_order(s) for s in ("forward", "central", "five_point", "richardson")]
    [1, 2, 4, 6]
    >>> scheme_order("complex_step")
    2
    """
    return stencil_of(scheme).order


def truncation_constant(scheme: str) -> float:
    """c in $D(h) - f'(x) ≈ c h^p f^{(p+1)}(x)$, the leading truncation term.

    Examples
    --------
    >>> truncation_constant("central")  # h² f''' / 6
    0.16666666666666666
    >>> round(1 / truncation_constant("five_point"), 9)  # -h⁴ f⁽⁵⁾ / 30
    -30.0
    """
    return stencil_of(scheme).truncation_constant


def auto_step(x: ArrayLike, scheme: str = "central", dtype: DTypeLike | None = None) -> np.ndarray:
    r"""The step ``h="auto"`` uses: per element, a power of two near $ε^{1/(p+1)} \max(|x|, 1)$.

    For a scheme of order p the truncation error is about $h^p |f^{(p+1)}|$ and the
    round-off about $ε |f| / h$; with f and its derivatives of the same size, their
    sum is smallest at $h ≈ ε^{1/(p+1)}$, and scaling by $\max(|x|, 1)$ keeps the
    step a fixed number of ulps of ``x`` when ``|x|`` is large (the absolute step then
    grows with x, so ``x + h`` never rounds back to ``x``).  ε is that of ``dtype``
    (default: ``x``'s own floating dtype, float64 for anything else).  Rounding to a
    power of two makes every ``o_j h`` exact.

    The complex step has no round-off term to balance: any h with $h^2 |f'''| / 6$
    below $ε |f'|$ is as good as any other, so it takes $ε \max(|x|, 1)$.

    Examples
    --------
    >>> auto_step(np.array([0.5, 3.0, -1000.0]))  # central, float64: ε^(1/3) ≈ 6.1e-6
    array([7.62939453e-06, 1.52587891e-05, 7.81250000e-03])
    >>> float(auto_step(1.0, "five_point"))  # ε^(1/5) ≈ 7.4e-4
    0.0009765625
    """
    return stencil_of(scheme).auto_step(x, dtype)


@dataclass(frozen=True)
class ErrorEstimate:
    """The estimated error of a difference quotient, elementwise (or scalars for one variable).

    Attributes
    ----------
    step : ndarray or float
        The step h used.
    truncation : ndarray or float
        $|D(h) - D(2h)| / (2^p - 1)$: for a scheme of order p, $D(2h) - D(h)$ is
        $2^p - 1$ times the truncation error of ``D(h)`` to leading order.  Where
        round-off dominates, this difference is round-off noise, and the estimate
        reports that noise instead (which is also an error of ``D(h)``).
    roundoff : ndarray or float
        $ε_f ∑_j |w_j f(x + o_j h)| / (d h)$ for the rounding of f's values, plus
        $|D| ∑_j |w_j| ε_x (|x| + |o_j| h) / (2 d h)$ for the rounding of the perturbed
        points.  For the complex step, $ε |D|$: nothing is subtracted.
    """

    step: np.ndarray | float
    truncation: np.ndarray | float
    roundoff: np.ndarray | float

    @property
    def total(self) -> np.ndarray | float:
        """``truncation + roundoff``: the estimated absolute error of the result."""
        return self.truncation + self.roundoff
