r"""A gradient check that knows its own error and says which elements disagree, and why.

``check_gradient(f, x, grad)`` compares a gradient you computed (by backpropagation,
by hand) with a numerical one and returns a [`GradientReport`][refnet.gradcheck.GradientReport].  Unlike a check
with a fixed step and a fixed tolerance, the tolerance of every element is derived
from the estimated error of its own difference quotient (`ErrorEstimate`:
truncation from two steps, round-off from $ε |f| / h$), in the precision that f and x
actually have, so float32 inputs, large or badly scaled values and kinks do not fail
falsely.  Each element gets a verdict:

``agrees``
    $|\text{given} - \text{numerical}| ≤ \sqrt{ε} \max(|\text{given}|, |\text{numerical}|)$: they share at least
    half of the digits the dtype holds.
``within finite-difference noise``
    They differ by more than that, but by no more than the difference quotient's own
    estimated error allows (times `SAFETY`): the numerical value cannot tell.
``at a kink``
    The one-sided differences ``(f(x+h) - f(x)) / h`` and ``(f(x) - f(x-h)) / h`` disagree,
    and the disagreement does not shrink when h is halved, so f is not differentiable
    within the stencil (ReLU at 0, ``abs``, a step); ``given`` lies between the two
    one-sided slopes (a valid one-sided derivative or subgradient).
``likely wrong``
    None of the above.

[`assert_gradient_close`][refnet.gradcheck.assert_gradient_close] raises an AssertionError whose message is the report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._checks import describe, perturbable
from .engine.quotients import difference_quotients
from .engine.stencil import AUTO, Stencil, Step, check_step, checked_points, stencil_of

__all__ = [
    "AGREES",
    "AT_A_KINK",
    "LIKELY_WRONG",
    "NOISE",
    "SAFETY",
    "VERDICTS",
    "ElementReport",
    "GradientReport",
    "assert_gradient_close",
    "check_gradient",
]

AGREES = "agrees"
NOISE = "within finite-difference noise"
AT_A_KINK = "at a kink"
LIKELY_WRONG = "likely wrong"
#: Every verdict, from best to worst.
VERDICTS = (AGREES, NOISE, AT_A_KINK, LIKELY_WRONG)

#: How many times its estimated error a difference quotient may be off before a
#: disagreement counts against the given gradient.  The estimate is of the typical error
#: (ε |f| per evaluation, one truncation term); the factor covers rounding that
#: accumulates over the stages of f (a sum of n terms can err by up to log2(n) ε Σ|terms|
#: with NumPy's pairwise summation) and the chance that D(h) and D(2h) err alike.
SAFETY = 10.0

#: The one-sided differences at h and 2h of a function with a kink differ by the jump,
#: whatever h; where f is smooth they differ by h f'' and 2h f'': ratio 1 against 1/2.
#: A kink is called when |jump(h)| > KINK_RATIO |jump(2h)| (and above the noise).
KINK_RATIO = 0.75


@dataclass(frozen=True)
class ElementReport:
    """One element of a gradient check (a row of the report's table)."""

    index: str
    numerical: float
    given: float
    abs_error: float
    rel_error: float
    step: float
    fd_error: float
    tolerance: float
    left: float
    right: float
    verdict: str


@dataclass(frozen=True)
class GradientReport:
    """What [`check_gradient`][refnet.gradcheck.check_gradient] found.

    The per-element fields are arrays shaped like ``x`` (dicts of arrays when ``x`` is a
    mapping of named arrays, such as ``TwoLayerNet.params``).

    Attributes
    ----------
    verdicts : ndarray of str
        One of `VERDICTS` per element.
    numerical, given : ndarray
        The numerical gradient and the gradient under test.
    abs_error, rel_error : ndarray
        ``|given - numerical|`` and that over ``max(|given|, |numerical|)``.
    step, fd_error, tolerance : ndarray
        The step of each element, the estimated error of its difference quotient
        (truncation + round-off), and the tolerance derived from it.
    worst : tuple of ElementReport
        The elements with the largest ``abs_error / tolerance``, worst first.
    scheme, dtype : str
        The difference scheme and the dtype of x.
    """

    verdicts: np.ndarray | dict
    numerical: np.ndarray | dict
    given: np.ndarray | dict
    abs_error: np.ndarray | dict
    rel_error: np.ndarray | dict
    step: np.ndarray | dict
    fd_error: np.ndarray | dict
    tolerance: np.ndarray | dict
    worst: tuple = ()
    scheme: str = "central"
    dtype: str = "float64"
    shape: str = ""
    counts: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when no element is likely wrong."""
        return self.counts.get(LIKELY_WRONG, 0) == 0

    @property
    def size(self) -> int:
        return sum(self.counts.values())

    def __str__(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [
            f"gradient check {verdict}: {self.size} elements of {self.dtype} {self.shape}, "
            f"{self.scheme} differences",
            "  " + ", ".join(f"{self.counts.get(v, 0)} {_plural(v)}" for v in VERDICTS),
        ]
        if self.worst:
            lines.append("  worst elements (by |given - numerical| / tolerance):")
            width = max(8, *(len(e.index) for e in self.worst))
            lines.append(
                f"    {'index':<{width}}  {'numerical':>15}  {'given':>15}  {'abs err':>8}  "
                f"{'rel err':>8}  {'step':>8}  {'FD error':>8}  {'tolerance':>9}  verdict"
            )
            for e in self.worst:
                lines.append(
                    f"    {e.index:<{width}}  {e.numerical:>15.8e}  {e.given:>15.8e}  "
                    f"{e.abs_error:>8.2e}  {e.rel_error:>8.2e}  {e.step:>8.2e}  "
                    f"{e.fd_error:>8.2e}  {e.tolerance:>9.2e}  {e.verdict}"
                )
                if e.verdict == AT_A_KINK:
                    lines.append(
                        f"    {'':<{width}}  one-sided slopes: left {e.left:.6g}, right {e.right:.6g}"
                    )
        return "\n".join(lines)


def _plural(verdict: str) -> str:
    return {AGREES: "agree", LIKELY_WRONG: "likely wrong"}.get(verdict, verdict)


def _eps(dtype) -> float:
    dtype = np.dtype(dtype)
    return float(np.finfo(dtype if dtype.kind == "f" else np.float64).eps)


def _given(name: str, grad, x: np.ndarray) -> np.ndarray:
    what = f"grad[{name!r}]" if name else "grad"
    try:
        given = np.asarray(grad)
    except Exception as exc:  # pragma: no cover - exotic objects
        raise TypeError(f"{what} must be array-like, got {describe(grad)}") from exc
    if given.dtype.kind not in "fiu":
        raise TypeError(f"{what} must hold real numbers, got {describe(grad)}")
    if given.shape != x.shape:
        hint = ""
        if given.ndim == 2 and given.shape == x.shape[::-1]:
            hint = " (is it transposed?)"
        raise ValueError(
            f"{what} has shape {given.shape} but x{'[' + repr(name) + ']' if name else ''} "
            f"has shape {x.shape}{hint}"
        )
    return given


def _check_part(f, x: np.ndarray, given: np.ndarray, h: Step, stencil: Stencil, name: str, safety):
    """Every per-element quantity of the report for one array (h and the scheme checked)."""
    wanted = list(dict.fromkeys([*stencil.evaluated_offsets(True), 0.0, 1.0, -1.0, 2.0, -2.0]))
    at = checked_points(x, stencil, h, wanted, warn=False)
    done = difference_quotients(f, x, stencil, at, name=name or "x")
    values, eps_f, numerical, steps = done.values, done.eps_f, done.derivative, at.steps
    eps_x = _eps(x.dtype)
    x64 = x.astype(np.float64)
    truncation, roundoff = stencil.estimate(values, steps, x64, numerical, eps_f, eps_x)
    sigma = _noise_of_f(values)
    fd_noise = sigma * np.sqrt(sum(w * w for w in stencil.weights)) / (stencil.divisor * steps)
    fd_error = truncation + roundoff + fd_noise

    given64 = given.astype(np.float64)
    eps_g = max(_eps(given.dtype), eps_x)
    abs_error = np.abs(given64 - numerical)
    size = np.maximum(np.abs(given64), np.abs(numerical))
    with np.errstate(invalid="ignore", divide="ignore"):
        rel_error = np.where(size > 0, abs_error / size, 0.0)
    agree = abs_error <= np.sqrt(eps_g) * size
    tolerance = safety * fd_error + 4.0 * eps_g * size
    noise = abs_error <= tolerance

    # One-sided slopes at h and 2h; their difference (the "jump") is ~h f'' where f is
    # smooth and does not shrink with h at a kink.
    v0, v1, vm1, v2, vm2 = (values[o] for o in (0.0, 1.0, -1.0, 2.0, -2.0))
    right, left = (v1 - v0) / steps, (v0 - vm1) / steps
    jump = right - left
    jump_wide = (v2 - v0) / (2 * steps) - (v0 - vm2) / (2 * steps)
    jump_noise = (
        eps_f * (np.abs(v1) + 2 * np.abs(v0) + np.abs(vm1))
        + eps_x * np.abs(x64) * (np.abs(right) + np.abs(left))
    ) / steps + sigma * np.sqrt(6.0) / steps
    kink = (np.abs(jump) > safety * jump_noise) & (np.abs(jump) > KINK_RATIO * np.abs(jump_wide))
    low = np.minimum(left, right) - tolerance
    high = np.maximum(left, right) + tolerance
    between = (given64 >= low) & (given64 <= high)

    # At a kink the central difference is no derivative, so agreeing with it means
    # nothing: the kink verdict overrides the others.
    verdicts = np.full(x.shape, LIKELY_WRONG, dtype=object)
    verdicts[noise] = NOISE
    verdicts[agree] = AGREES
    verdicts[kink & between] = AT_A_KINK
    verdicts[kink & ~between] = LIKELY_WRONG
    return {
        "verdicts": verdicts,
        "numerical": numerical,
        "given": given64,
        "abs_error": abs_error,
        "rel_error": rel_error,
        "step": steps,
        "fd_error": fd_error,
        "tolerance": tolerance,
        "left": left,
        "right": right,
    }


#: Elements needed before the noise of f is measured across them (see _noise_of_f).
NOISE_SAMPLE = 8


def _noise_of_f(values: dict) -> float:
    """The rounding noise σ of f's values, measured across elements.

    The model ``ε |f| / h`` misses rounding that f does internally and then cancels (a
    sum of large terms that comes out near 0 is still rounded at the size of its
    terms).  The fourth difference ``f(x+2h) - 4f(x+h) + 6f(x) - 4f(x-h) + f(x-2h)`` is
    ``h⁴ f⁗`` for smooth f, negligible at these steps, plus rounding noise of standard
    deviation √70 σ if each value carries independent noise σ.  Every element shares f,
    so σ is estimated from all of them at once, by the median of |Δ⁴| / (0.674 √70) (the
    median of |N(0, s²)| is 0.674 s): a median, so that kinks, where Δ⁴ is large for
    another reason, cannot inflate it unless they are half of the elements.  With fewer
    than NOISE_SAMPLE elements one kink could be that half: the measurement is skipped and
    the model alone speaks.  The noise of a quotient Σ w_j f_j / (d h) is then
    ``σ √(Σ w_j²) / (d h)``.
    """
    fourth = values[2.0] - 4 * values[1.0] + 6 * values[0.0] - 4 * values[-1.0] + values[-2.0]
    if fourth.size < NOISE_SAMPLE:
        return 0.0
    return float(np.median(np.abs(fourth))) / (0.674 * np.sqrt(70.0))


def check_gradient(
    f: Callable[[Any], Any],
    x: ArrayLike | Mapping[str, np.ndarray],
    grad: ArrayLike | Mapping[str, ArrayLike],
    *,
    h: ArrayLike = AUTO,
    scheme: str = "central",
    worst: int = 5,
    safety: float = SAFETY,
) -> GradientReport:
    """Check ``grad`` against a numerical gradient of ``f`` at ``x``, element by element.

    Parameters
    ----------
    f : callable
        Maps ``x`` to a real scalar.  As in `numerical_gradient`, ``x`` is perturbed
        in place (and restored), so f may read it through a closure.
    x : ndarray of float, or mapping of str to ndarray
        Where to check.  A mapping (``net.params``) is perturbed array by array and
        passed to f whole.
    grad : array_like, or mapping of str to array_like
        The gradient under test, shaped like ``x`` (the same keys for a mapping).
    h : float, array or "auto", default "auto"
        Step of the numerical gradient (see `auto_step`).
    scheme : str, default "central"
        A real scheme of `SCHEMES`.  Besides its stencil, f is evaluated at
        ``x ± 2h`` (for the error estimate) and at x (for the one-sided slopes).
    worst : int, default 5
        How many elements the report lists.
    safety : float, default SAFETY
        Multiplier of the estimated finite-difference error in the tolerance.

    Returns
    -------
    GradientReport
        ``report.passed`` is False when some element is likely wrong; ``print(report)``
        shows the verdicts and the worst elements.

    Examples
    --------
    >>> def f(x):
    ...     return np.sum(x**3)
    >>> x = np.array([[1.0, -2.0], [0.5, 3.0]])
    >>> report = check_gradient(f, x, 3 * x**2)
    >>> report.passed, report.counts
    (True, {'agrees': 4})
    >>> wrong = 3 * x**2
    >>> wrong[1, 0] *= 1.001
    >>> report = check_gradient(f, x, wrong)
    >>> report.passed, report.verdicts[1, 0]
    (False, 'likely wrong')
    >>> report.worst[0].index
    '[1, 0]'

    ReLU at 0 has no derivative; 0 and 1 are its one-sided ones:

    >>> relu_sum = lambda v: np.sum(np.maximum(v, 0))
    >>> check_gradient(relu_sum, np.array([0.0, 2.0]), np.array([0.0, 1.0])).verdicts.tolist()
    ['at a kink', 'agrees']
    """
    stencil = stencil_of(scheme)
    if stencil.complex_step:
        raise ValueError(
            f"scheme={scheme!r} cannot check a gradient: the kink test needs one-sided "
            "differences, so check_gradient takes a real scheme"
        )
    if not callable(f):
        raise TypeError(f"f must be callable, got {describe(f)}")
    if isinstance(worst, bool) or not isinstance(worst, int) or worst < 0:
        raise ValueError(f"worst must be an integer >= 0, got {worst!r}")
    if not (isinstance(safety, (int, float)) and np.isfinite(safety) and safety > 0):
        raise ValueError(f"safety must be a positive number, got {safety!r}")
    parts, dtype, shape = _check_parts(f, x, grad, check_step(h), stencil, safety)
    counts: dict[str, int] = {}
    for part in parts.values():
        for verdict in VERDICTS:
            n = int(np.sum(part["verdicts"] == verdict))
            if n:
                counts[verdict] = counts.get(verdict, 0) + n

    def field_of(key):
        if isinstance(x, Mapping):
            return {name: part[key] for name, part in parts.items()}
        return parts[""][key]

    return GradientReport(
        **{key: field_of(key) for key in _ARRAY_FIELDS},
        worst=_worst_elements(parts, worst),
        scheme=scheme,
        dtype=dtype,
        shape=shape,
        counts=counts,
    )


#: The per-element fields of a GradientReport, in its order.
_ARRAY_FIELDS = (
    "verdicts",
    "numerical",
    "given",
    "abs_error",
    "rel_error",
    "step",
    "fd_error",
    "tolerance",
)


def _check_parts(f, x, grad, h, stencil: Stencil, safety):
    """``(parts, dtype, shape)``: every array of x checked (one part, named "", for an array)."""
    if not isinstance(x, Mapping):
        array = perturbable(x)
        parts = {"": _check_part(f, array, _given("", grad, array), h, stencil, "", safety)}
        return parts, str(array.dtype), str(array.shape)
    if not isinstance(grad, Mapping):
        raise TypeError(f"x is a mapping, so grad must be one too, got {describe(grad)}")
    if set(grad) != set(x):
        raise ValueError(f"grad has keys {sorted(grad)} but x has keys {sorted(x)}")
    parts = {}
    for name, array in x.items():
        if not isinstance(array, np.ndarray):
            raise TypeError(
                f"x[{name!r}] must be an ndarray (it is perturbed in place), got {describe(array)}"
            )
        array = perturbable(array)
        # f receives the whole mapping, with one of its arrays perturbed in place.
        parts[name] = _check_part(
            lambda _: f(x), array, _given(name, grad[name], array), h, stencil, name, safety
        )
    dtype = ", ".join(sorted({str(np.asarray(a).dtype) for a in x.values()}))
    shape = "{" + ", ".join(f"{k}: {np.shape(v)}" for k, v in x.items()) + "}"
    return parts, dtype, shape


def _worst_elements(parts: dict, worst: int) -> tuple:
    """The ``worst`` elements with the largest |given - numerical| / tolerance, worst first."""
    rows = []
    for name, part in parts.items():
        ratio = part["abs_error"] / np.where(part["tolerance"] > 0, part["tolerance"], np.inf)
        ratio = np.where(np.isnan(part["abs_error"]), np.inf, ratio)
        for index in np.ndindex(part["verdicts"].shape):
            rows.append((float(ratio[index]), name, index))
    rows.sort(key=lambda row: -row[0])
    fields = (*_ARRAY_FIELDS[1:], "left", "right")
    elements = []
    for _, name, index in rows[:worst]:
        part = parts[name]
        elements.append(
            ElementReport(
                index=name + (str(list(index)) if index else ("" if name else "()")),
                **{key: float(part[key][index]) for key in fields},
                verdict=str(part["verdicts"][index]),
            )
        )
    return tuple(elements)


def assert_gradient_close(
    f: Callable[[Any], Any],
    x: ArrayLike | Mapping[str, np.ndarray],
    grad: ArrayLike | Mapping[str, ArrayLike],
    **kwargs: Any,
) -> GradientReport:
    """[`check_gradient`][refnet.gradcheck.check_gradient], raising ``AssertionError(report)`` when an element is likely wrong.

    The message is the report's text: the verdict counts and the worst elements with
    their numerical and given values, errors, steps and estimated finite-difference
    errors, readable in a pytest log.  Returns the report when the check passes.

    Examples
    --------
    >>> assert_gradient_close(lambda v: np.sum(v**2), np.array([1.0, 2.0]), np.array([2.0, -4.0]))
    Traceback (most recent call last):
    ...
    AssertionError: gradient check FAILED: 2 elements of float64 (2,), central differences
      1 agree, 0 within finite-difference noise, 0 at a kink, 1 likely wrong
    ...
    """
    report = check_gradient(f, x, grad, **kwargs)
    if not report.passed:
        raise AssertionError(str(report))
    return report
