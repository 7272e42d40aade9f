"""Check bodies for numerical differentiation and gradient descent.

A numerical derivative is allowed the central difference's error (tolerances.py); the
behavioural checks ask for no silently wrong number.  Where the book's code is silently
wrong on purpose-free inputs (an integer x, an f that raises, a float32 x, init_x
overwritten) the body reports a *pitfall*: a warning under the book profile, a failure
under the strict one (Case.pitfall).
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .. import oracle
from ..functions import (
    DESCENT_OBJECTIVES,
    LSE_D3,
    MODEL_LOSSES,
    SMOOTH_FUNCTIONS,
    model_magnitude,
    model_third_derivative_bound,
)
from ..strategies import (
    array_shapes,
    finite_arrays,
    model_problems,
    parameter_vectors,
    spd_matrices,
)
from ..tolerances import central_difference_bound, descent_bound
from .case import function_source, member_hint, within_message
from .common import (
    EPS64,
    FLOAT32_SILENT,
    INIT_X_OVERWRITTEN,
    INTEGER_TRUNCATED,
    PERTURBED_ON_ERROR,
    ROW_BY_ROW,
    H,
    draw_function,
    require_unchanged,
)
from .reproduction import model_problem_source

#: How f may hand back its value: each must give the same derivative.
VALUE_FORMS = {
    "f_float": ("a Python float", "float(f(x))"),
    "f_array": ("a 0-d array", "np.asarray(f(x))"),
    "f_scalar": ("a NumPy scalar", "np.float64(f(x))"),
}


def _gradient_bound(fn, x, exact, dtype=np.float64):
    # Magnitudes are taken at |x| + h: rounding acts on f at the perturbed points.
    x64 = np.asarray(x, dtype=np.float64)
    return central_difference_bound(
        H, fn.third_derivative_bound(x64, H), fn.magnitude(np.abs(x64) + H), exact, x64, dtype
    )


def central_difference(case, data, *, function=None):
    fn = draw_function(data, function)
    x = data.draw(st.floats(fn.low, fn.high), label="x")
    case.setup(function_source(fn.formula))
    case.let("x", x)
    case.call("d", "numerical_diff(f, x)")
    exact = oracle.smooth_gradient(fn.name, np.asarray(x))
    bound = _gradient_bound(fn, np.asarray(x), exact)
    case.compare("d", float(exact), float(bound), "numerical_diff(f, x)", "f'(x) by jax.grad")


def returned_value_forms(case, data, *, function):
    """``function`` (numerical_diff or numerical_gradient) of an f returning each form."""
    fn = draw_function(data)
    if function == "numerical_diff":
        x = data.draw(st.floats(fn.low, fn.high), label="x")
    else:
        size = data.draw(st.integers(1, 4), label="size")
        x = data.draw(finite_arrays((size,), fn.low, fn.high), label="x")
    case.setup(function_source(fn.formula))
    case.let("x", x)
    exact = oracle.smooth_gradient(fn.name, np.asarray(x))
    bound = _gradient_bound(fn, np.asarray(x), exact)
    expected: float | np.ndarray = exact
    allowed: float | np.ndarray = bound
    if function == "numerical_diff":
        expected, allowed = float(exact), float(bound)
    for name, (form, expression) in VALUE_FORMS.items():
        case.setup(f"def {name}(x):\n    return {expression}")
        case.call("d", f"{function}({name}, x)")
        what = f"{function}(f, x) for an f that returns {form}"
        case.compare("d", expected, allowed, what, "jax.grad(f)(x)")


def _smooth_point(case, data, *, min_dims, max_dims, max_side, function, dtype=np.float64):
    fn = draw_function(data, function)
    shape = data.draw(array_shapes(min_dims, max_dims, max_side), label="shape")
    x = data.draw(finite_arrays(shape, fn.low, fn.high, dtype), label="x")
    case.setup(function_source(fn.formula))
    case.let("x", x)
    return fn, x


def _ranks(case, low: int, high: int, *, judged: bool) -> list[int]:
    """The ranks in [low, high] numerical_gradient accepts (1-D always: the base case);
    with ``judged``, a refused rank gets the profile's verdict (Case.forms)."""
    names = [f"rank{r}" for r in range(low, high + 1) if r != 1]
    if judged:
        names = case.forms("numerical_gradient", names, need_one=False)
    else:
        names = case.accepted("numerical_gradient", names)
    ranks = [int(name[4:]) for name in names]
    return sorted([1, *ranks]) if low <= 1 <= high else sorted(ranks)


#: The smooth functions whose value couples the rows of a matrix.  For a sum of per-element
#: terms (exponential), or a matrix of one row, the row-by-row gradient of the book's
#: gradient_2d.py *is* the gradient, so a row-by-row answer would pass by luck of the draw.
ROW_COUPLED = ("cubic", "log_sum_exp", "quartic", "trigonometric")


def _coupled_point(case, data, *, rank, max_side):
    """x of ``rank`` >= 2 with two rows or more, and an f that couples them."""
    fn = SMOOTH_FUNCTIONS[data.draw(st.sampled_from(ROW_COUPLED), label="f")]
    rows = data.draw(st.integers(2, max(2, max_side)), label="rows")
    rest = data.draw(array_shapes(rank - 1, rank - 1, max_side), label="shape")
    x = data.draw(finite_arrays((rows, *rest), fn.low, fn.high), label="x")
    case.setup(function_source(fn.formula))
    case.let("x", x)
    return fn, x


def smooth_gradient(
    case, data, *, min_dims=1, max_dims=1, max_side=5, function=None, closure=False
):
    # Drawn inside the domain: the ranks the target accepts (any_shape judges refusals).
    judged = not closure and max_dims > 1
    ranks = _ranks(case, min_dims, max_dims, judged=judged)
    rank = data.draw(st.sampled_from(ranks), label="rank")
    if judged and rank >= 2 and function is None:
        # Every matrix drawn can tell the gradient from a row-by-row one (_row_by_row).
        fn, x = _coupled_point(case, data, rank=rank, max_side=max_side)
    else:
        fn, x = _smooth_point(
            case, data, min_dims=rank, max_dims=rank, max_side=max_side, function=function
        )
    if closure:
        case.comment("g ignores its argument and reads x, as the book's lambda W: net.loss(x, t)")
        case.setup("def g(_):\n    return f(x)")
        case.call("grad", "numerical_gradient(g, x)")
    else:
        case.call("grad", "numerical_gradient(f, x)")
    exact = oracle.smooth_gradient(fn.name, x)
    bound = _gradient_bound(fn, x, exact)
    what = "numerical_gradient(f, x)"
    if x.ndim >= 2 and not closure and _row_by_row(case, fn, x):
        return
    hint = None
    if closure:
        hint = _closure_hint(case, fn, x, exact, bound)
    case.compare("grad", exact, bound, what, "jax.grad(f)(x)", hint=hint)


def _row_by_row(case, fn, x) -> bool:
    """The book's gradient_2d.py takes a matrix as a batch of points, f of each row on its
    own: a pitfall (it plots a gradient field) when that, and not the gradient, came back."""
    value = case.ns["grad"]
    exact = oracle.smooth_gradient(fn.name, x)
    if within_message(value, exact, _gradient_bound(fn, x, exact), "grad") is None:
        return False
    rows = np.stack([oracle.smooth_gradient(fn.name, row) for row in x])
    bound = np.stack([_gradient_bound(fn, row, g) for row, g in zip(x, rows, strict=True)])
    if within_message(value, rows, bound, "grad") is not None:
        return False
    case.comment(f"grad is the gradient of f(x[i]) for each row x[i] of x {x.shape}, not of f(x)")
    case.compare(
        "grad",
        exact,
        _gradient_bound(fn, x, exact),
        "numerical_gradient(f, x)",
        "jax.grad(f)(x)",
        pitfall=ROW_BY_ROW,
    )
    return True


def _closure_hint(case, fn, x, exact, bound) -> str:
    """Why a closure's gradient is off: x perturbed on a copy, or x's entries perturbed
    along the wrong axis, or (the root cause elsewhere) the plain gradient itself is off."""
    value = np.asarray(case.ns["grad"], dtype=np.float64)
    if value.shape == exact.shape and np.all(value == 0):
        return (
            "every entry is 0: g reads x itself, so numerical_gradient must perturb x in place "
            "(not a copy) and restore it"
        )
    return (
        "g reads x itself, through a closure: numerical_gradient must evaluate f at the "
        "perturbed x; here the gradient is off without being all zeros, so the cause is more "
        "likely what its other checks find"
    )


def gradient_leaves_x_unchanged(case, data, *, min_dims=1, max_dims=1, max_side=5, function=None):
    _, x = _smooth_point(
        case, data, min_dims=min_dims, max_dims=max_dims, max_side=max_side, function=function
    )
    case.setup("x_before = x.copy()")
    case.run("numerical_gradient(f, x)")
    require_unchanged(case, "x", "x_before")


def _raised_by_f(error: BaseException | None, message: str) -> bool:
    """Whether ``error`` is f's own exception, or wraps it (``raise ... from``)."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, RuntimeError) and str(error) == message:
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def gradient_restores_x_when_f_raises(case, data, *, max_side=4):
    size = data.draw(st.integers(1, max_side), label="size")
    x = data.draw(finite_arrays((size,), -2.0, 2.0), label="x")
    fails_at = data.draw(st.integers(1, 2 * size), label="failing call")
    message = f"f fails on purpose at its call {fails_at}"
    case.setup(
        "calls = []\n"
        "def f(x):\n"
        "    calls.append(1)\n"
        f"    if len(calls) == {fails_at}:\n"
        f"        raise RuntimeError({message!r})\n"
        "    return float(np.sum(x**2))"
    )
    case.let("x", x)
    case.setup("x_before = x.copy()")
    error = case.run("numerical_gradient(f, x)", expect=Exception)
    if error is not None and not _raised_by_f(error, message):
        case.unexpected(error)  # its own exception (a stub's NotImplementedError): a failure
    if len(case.ns["calls"]) < fails_at:
        return  # the target never reached the failing call: nothing to judge here
    if error is None:
        case.fail(
            f"f raised at its call {fails_at}, but numerical_gradient returned normally: the "
            "error was swallowed and the gradient is meaningless"
        )
    if case.ns["x"].tobytes() != x.tobytes():
        case.record("assert x.tobytes() == x_before.tobytes()")
        case.pitfall(
            PERTURBED_ON_ERROR,
            f"after f raised at its call {fails_at}, x is {case.ns['x'].tolist()!r} instead of "
            f"{x.tolist()!r}",
        )


def gradient_of_integer_x(case, data, *, max_side=4):
    size = data.draw(st.integers(1, max_side), label="size")
    x = data.draw(hnp.arrays(np.int64, (size,), elements=st.integers(-5, 5)), label="x")
    case.setup("def f(x):\n    return np.sum(x**2)")
    case.let("x", x)
    case.setup("x_before = x.copy()")
    error = case.run("grad = numerical_gradient(f, x)", expect=(TypeError, ValueError))
    if error is None:
        x64 = x.astype(np.float64)
        exact = 2 * x64
        # A quadratic has no third derivative: only round-off, with S = Σ (|x| + h)².
        bound = central_difference_bound(H, 0.0, float(np.sum((np.abs(x64) + H) ** 2)), exact, x64)
        what = "numerical_gradient(f, x) of an integer x"
        case.compare(
            "grad", exact, bound, what, "2 x, the gradient of sum(x**2)", pitfall=INTEGER_TRUNCATED
        )
    require_unchanged(case, "x", "x_before")


def gradient_of_float32_x(case, data, *, max_side=4, function=None):
    """The result is judged, not the code's dtype: a gradient computed in float64 and handed
    back in float32 is within float64's bound plus float32's rounding of the result."""
    fn, x = _smooth_point(
        case, data, min_dims=1, max_dims=1, max_side=max_side, function=function, dtype=np.float32
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        error = case.run("grad = numerical_gradient(f, x)", expect=(TypeError, ValueError))
    if error is not None or caught:
        return  # refused, or answered with a warning: not silent
    exact = oracle.smooth_gradient(fn.name, x)
    # float64's error at x (x's float32 values are exact in float64), and one rounding of
    # each element of the result to float32: at most eps32 |value| (eps32 / 2, doubled for
    # the float64 error the value carries into the rounding).
    accurate = _gradient_bound(fn, x, exact) + float(np.finfo(np.float32).eps) * np.abs(exact)
    coarse = _gradient_bound(fn, x, exact, np.float32)  # arithmetic in float32 throughout
    value = case.ns["grad"]
    what = "numerical_gradient(f, x) of a float32 x"
    source = "jax.grad(f)(x) (float64)"
    if within_message(value, exact, accurate, what) is None:
        case.compare("grad", exact, accurate, what, source)
    elif within_message(value, exact, coarse, what) is None:
        # Within float32's bound but not float64's: computed in float32, without a word.
        case.compare("grad", exact, accurate, what, source, pitfall=FLOAT32_SILENT)
    elif case.profile == "strict":
        case.compare("grad", exact, accurate, what, source)
    else:
        case.compare("grad", exact, coarse, what, "jax.grad(f)(x), to float32's error bound")


def model_loss_gradient(case, data, *, kind=None):
    kind = kind or data.draw(st.sampled_from(sorted(MODEL_LOSSES)), label="model")
    problem = data.draw(model_problems(kind), label="problem")
    theta = data.draw(parameter_vectors(problem), label="theta")
    case.let("x", problem.x)
    case.let("t", problem.t)
    for statement in model_problem_source(problem.shapes):  # NumPy only, as the student has
        case.setup(statement)
    case.define(MODEL_LOSSES[kind])
    case.let("theta", theta)
    case.setup(f"def f(theta):\n    return {kind}(theta, problem)")
    case.call("grad", "numerical_gradient(f, theta)")
    exact = oracle.model_gradient(kind, theta, problem)
    bound = central_difference_bound(
        H,
        model_third_derivative_bound(kind, theta, problem, H),
        model_magnitude(kind, np.abs(theta) + H, problem),
        exact,
        theta,
    )
    case.compare("grad", exact, bound, f"numerical_gradient of {kind}", "jax.grad")


# -- gradient descent ---------------------------------------------------------------------


def accepts_keywords(target):
    """Precondition: gradient_descent takes lr= and step_num= (as the target spells them)."""
    function = target.found["gradient_descent"].obj
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return None  # a built-in: try the call
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return None
    missing = [
        m for m in ("lr", "step_num") if target.member("gradient_descent", m) not in parameters
    ]
    if not missing:
        return None
    spellings = " or ".join(repr(target.member("gradient_descent", m)) for m in missing)
    others = list(parameters)[2:]
    hints = [member_hint("gradient_descent", m, others) for m in missing]
    return f"gradient_descent has no keyword argument {spellings}", " ".join(hints)


def descent_matches_jax(case, data, *, objective=None, max_dims=1):
    name = objective or data.draw(st.sampled_from(sorted(DESCENT_OBJECTIVES)), label="f")
    shape = data.draw(array_shapes(min_dims=1, max_dims=max_dims), label="shape")
    n = int(np.prod(shape))
    if name == "quadratic":
        A = data.draw(spd_matrices(n), label="A")
        lipschitz = float(np.linalg.eigvalsh(A).max())
        third = 0.0  # a quadratic has no third derivative: the central difference is exact
    else:
        A = np.zeros((n, n))
        lipschitz = 1.5
        third = LSE_D3
    b = data.draw(finite_arrays((n,), -1.0, 1.0), label="b")
    x0 = data.draw(finite_arrays(shape, -2.0, 2.0), label="init_x")
    lr = data.draw(st.floats(0.01, 1.0 / lipschitz), label="lr")  # <= 1/L: non-expansive steps
    steps = data.draw(st.integers(0, 30), label="step_num")
    case.define(DESCENT_OBJECTIVES[name])  # its NumPy source, not an import of refnet
    case.let("A", A)
    case.let("b", b)
    case.setup(f"def f(x):\n    return {name}(x, A, b)")
    case.let("init_x", x0)
    keywords = case.keywords("gradient_descent", lr=lr, step_num=steps)
    value = case.call("x", f"gradient_descent(f, init_x, {keywords})")
    if isinstance(value, tuple):
        if case.profile != "book" or len(value) != 2:
            case.fail(
                f"gradient_descent returned a tuple of {len(value)}, not the point x: the strict "
                "contract returns x alone (--profile book accepts the book's (x, x_history))"
            )
        case.setup("x, x_history = x  # the book's gradient_descent returns (x, x_history)")
        case.note("returns (x, x_history), as the book's gradient_method.py does")
    expected = oracle.descent(name, x0, A, b, lr, steps)
    # Along the way |x| stays within |x0| + |b|/λmin-ish; bound the magnitude f's rounding
    # acts on by its value at the larger of the start and the oracle's end (convex f, descent).
    reach = max(np.abs(x0).max(), np.abs(expected).max()) + 1
    magnitude = 0.5 * n * n * reach**2 * max(lipschitz, 1) + n * reach + np.log(n) + reach
    per_element = central_difference_bound(H, third, magnitude)
    bound = descent_bound(steps, lr, float(np.sqrt(n) * per_element)) + 4 * EPS64 * reach
    case.compare("x", expected, bound, "gradient_descent(f, init_x)", "the same steps on jax.grad")


def descent_leaves_init_x_unchanged(case, data, *, max_dims=1):
    shape = data.draw(array_shapes(min_dims=1, max_dims=max_dims), label="shape")
    x0 = data.draw(finite_arrays(shape, -2.0, 2.0), label="init_x")
    steps = data.draw(st.integers(1, 5), label="step_num")
    case.setup("def f(x):\n    return np.sum(x**2)")
    case.let("init_x", x0)
    case.setup("init_x_before = init_x.copy()")
    case.run(
        f"gradient_descent(f, init_x, {case.keywords('gradient_descent', lr=0.1, step_num=steps)})"
    )
    if case.ns["init_x"].tobytes() != x0.tobytes():
        case.record("assert init_x.tobytes() == init_x_before.tobytes()")
        case.pitfall(
            INIT_X_OVERWRITTEN,
            f"init_x went from {x0.tolist()!r} to {case.ns['init_x'].tolist()!r}",
        )
