"""One example of a check: the target's code, run and written down as a reproduction.

A check never calls the target directly.  It hands the :class:`Case` lines of Python
(``grad = numerical_gradient(f, x)``), which the case executes in its own namespace and
records; inputs enter that namespace as literals (``x = np.array([1.5, -0.0])``) that
round-trip bit for bit.  What ran is therefore exactly what the reproduction says, and the
reproduction of hypothesis's smallest failing example is ready to paste into a prompt.
"""

from __future__ import annotations

import inspect
import math
import re
import textwrap

import numpy as np

__all__ = [
    "Case",
    "CheckFailed",
    "TargetRaised",
    "assert_within",
    "function_source",
    "literal",
    "within_message",
]


class CheckFailed(AssertionError):
    """The property does not hold for this example; ``message`` says how."""

    def __init__(self, message: str, case: Case | None = None):
        super().__init__(message)
        self.message = message
        self.case = case

    def __str__(self):
        if self.case is None:
            return self.message
        return f"{self.message}\n\nReproduce (paste into Python):\n\n{self.case.reproduction()}"


class TargetRaised(CheckFailed):
    """The target raised an exception where the property needs an answer."""

    def __init__(self, code: str, exception: BaseException, case: Case):
        self.code = code
        self.exception = exception
        super().__init__(f"{code.strip()} raised {type(exception).__name__}: {exception}", case)


def _float(value: float) -> str:
    if math.isnan(value):
        return "-np.nan" if math.copysign(1.0, value) < 0 else "np.nan"
    if math.isinf(value):
        return "np.inf" if value > 0 else "-np.inf"
    return repr(value)


def _nested(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_nested(v) for v in value) + "]"
    if isinstance(value, float):
        return _float(value)
    return repr(value)


def literal(value) -> str:
    """Python source that evaluates (with ``import numpy as np``) to ``value``, bit for bit.

    Arrays become ``np.array([...], dtype=np.<dtype>)`` (the dtype left out for float64);
    floats use ``repr``, which round-trips, and ``np.nan``/``np.inf`` where needed.

    Examples
    --------
    >>> literal(np.array([1.5, -0.0, np.inf]))
    'np.array([1.5, -0.0, np.inf])'
    >>> literal(np.array([[3, 4]], dtype=np.int8))
    'np.array([[3, 4]], dtype=np.int8)'
    >>> literal((0.1, 2))
    '(0.1, 2)'
    """
    if isinstance(value, np.ndarray):
        dtype = "" if value.dtype == np.float64 else f", dtype=np.{value.dtype.name}"
        if value.size == 0:
            return f"np.zeros({value.shape!r}{dtype})"
        return f"np.array({_nested(value.tolist())}{dtype})"
    if isinstance(value, np.generic):
        return f"np.{value.dtype.name}({_nested(value.item())})"
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, tuple):
        items = ", ".join(literal(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    raise TypeError(f"no literal for {type(value).__name__}")


def function_source(formula, name: str = "f") -> str:
    """The source of a function written against an array namespace ``xp`` (functions.py),
    as a NumPy function of ``x`` called ``name``: ``def _cubic(xp, x)`` -> ``def f(x)``."""
    source = textwrap.dedent(inspect.getsource(formula))
    header, _, body = source.partition("\n")
    if not re.fullmatch(r"def \w+\(xp, (\w+)\):", header):
        raise ValueError(f"unexpected header {header!r}")
    argument = re.fullmatch(r"def \w+\(xp, (\w+)\):", header).group(1)
    body = re.sub(r"\bxp\.", "np.", body)
    lines = [line for line in body.splitlines() if line.strip()]
    return "\n".join([f"def {name}({argument}):", *lines])


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def within_message(actual, expected, bound, what: str) -> str | None:
    """None if |actual - expected| <= bound elementwise (same shape), else what went wrong."""
    value = actual
    try:
        kind = np.asarray(actual).dtype.kind
        actual = np.asarray(actual, dtype=np.float64) if kind in "biuf" else None
    except (TypeError, ValueError):
        actual = None
    if actual is None:
        return f"{what} returned {_short(value)}, not a real number or an array of them"
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        return f"{what} has shape {actual.shape}, expected {expected.shape}"
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs(actual - expected)
    bound = np.broadcast_to(np.asarray(bound, dtype=np.float64), error.shape)
    bad = ~(error <= bound)  # NaN counts as over
    if not np.any(bad):
        return None
    excess = np.where(bad, np.nan_to_num(error - bound, nan=np.inf), -np.inf)
    worst = np.unravel_index(np.argmax(excess), error.shape) if error.ndim else ()
    where = f" at index {tuple(int(i) for i in worst)}" if error.ndim else ""
    return (
        f"{what} is off by more than the error bound{where}: got {actual[worst].item()!r}, "
        f"expected {expected[worst].item()!r} (error {error[worst]:.3g}, bound "
        f"{bound[worst]:.3g}; {int(np.sum(bad))} of {error.size} elements over)"
    )


def assert_within(actual, expected, bound, what: str) -> None:
    """Elementwise |actual - expected| <= bound, with a report that names the worst element."""
    message = within_message(actual, expected, bound, what)
    if message is not None:
        raise AssertionError(message)


class Case:
    """A namespace in which one example of a check runs, and the lines that ran there."""

    def __init__(self, target):
        self.target = target
        self.ns: dict = {"np": np, "__name__": "__conformance__"}
        self.ns.update({name: found.obj for name, found in target.found.items()})
        self.lines: list[str] = []
        self.imports: list[str] = []

    # -- inputs and our own code ----------------------------------------------------------

    def let(self, name: str, value, comment: str | None = None):
        """Bind ``name`` to a new object built from the literal of ``value``; return ``value``.

        The check keeps ``value`` for the oracle: the target gets the object in the
        namespace, which it may change (that is for the behavioural checks to catch).
        """
        code = f"{name} = {literal(value)}"
        exec(code, self.ns)
        bound = self.ns[name]
        if isinstance(value, np.ndarray) and (
            bound.dtype != value.dtype or bound.tobytes() != value.tobytes()
        ):
            raise RuntimeError(f"literal of {name} does not round-trip: {code}")
        self.lines.append(code + (f"  # {comment}" if comment else ""))
        return value

    def setup(self, code: str) -> None:
        """Run a statement of the check's own (not the target's), and record it.

        A compound statement is followed by a blank line, which an interactive prompt
        needs to end it before the next statement.
        """
        exec(code, self.ns)
        lines = code.splitlines()
        self.lines.extend(lines)
        if any(line[:1].isspace() for line in lines):
            self.lines.append("")

    def use(self, import_line: str) -> None:
        """An import the reproduction needs (refnet's own test functions, for instance)."""
        exec(import_line, self.ns)
        if import_line not in self.imports:
            self.imports.append(import_line)

    def comment(self, text: str) -> None:
        self.lines.append(f"# {text}")

    # -- the target's code -----------------------------------------------------------------

    def run(self, code: str, *, expect=()):
        """Run a line that calls the target.

        An exception of a type in ``expect`` is returned; any other becomes
        :class:`TargetRaised`, a failure of the check.  Returns None when nothing was raised.
        """
        self.lines.append(code)
        try:
            exec(code, self.ns)
        except expect as exc:
            # Written so that the reproduction goes on past the expected exception.
            self.lines[-1:] = [
                "try:",
                textwrap.indent(code, "    "),
                "except Exception as error:",
                f"    print(repr(error))  # raised here: {type(exc).__name__}",
                "",
            ]
            return exc
        except (Exception, SystemExit) as exc:
            raise TargetRaised(code, exc, self) from exc
        return None

    def call(self, name: str, expression: str):
        """Run ``name = expression`` (the target's code) and return the value."""
        self.run(f"{name} = {expression}")
        return self.ns[name]

    # -- verdicts ---------------------------------------------------------------------------

    def fail(self, message: str):
        raise CheckFailed(message, self)

    def require(self, condition: str, message) -> None:
        """Assert a condition written in Python over the namespace (recorded as ``assert``).

        ``message`` is a string or a callable giving one, evaluated only on failure.
        """
        self.lines.append(f"assert {condition}")
        try:
            holds = bool(eval(condition, self.ns))
        except Exception as exc:
            self.fail(f"{condition} could not be evaluated: {type(exc).__name__}: {exc}")
        if not holds:
            self.fail(message() if callable(message) else message)

    def compare(
        self, actual: str, expected, bound, what: str, source: str | None = None, *, hint=None
    ):
        """Require |actual - expected| <= bound elementwise, with equal shapes.

        ``actual`` is an expression over the namespace (``"grad"``, ``"grads['W1']"``);
        ``expected`` a value (bound as ``expected``, ``source`` says where it came from) or
        the name of another variable; ``bound`` a number or an array (bound as ``bound``).
        ``hint``, a string or a function of the actual value, is added to a failure.
        """
        if isinstance(expected, str):
            expected_name = expected
        else:
            expected_name = "expected"
            self.let(expected_name, _plain(expected), source)
        self.let("bound", _plain(bound), "the error bound of this comparison")
        self.lines.append(
            f"assert np.shape({actual}) == np.shape({expected_name}) and "
            f"np.all(np.abs({actual} - {expected_name}) <= bound)"
        )
        try:
            value = eval(actual, self.ns)
        except Exception as exc:
            self.fail(f"could not read {actual} from the result: {type(exc).__name__}: {exc}")
        message = within_message(value, self.ns[expected_name], self.ns["bound"], what)
        if message is not None:
            extra = hint(value) if callable(hint) else hint
            self.fail(f"{message}: {extra}" if extra else message)

    # -- the reproduction --------------------------------------------------------------------

    def reproduction(self) -> str:
        """The lines that ran, with the imports they need: paste into a Python prompt."""
        used = set()
        for line in self.lines:
            used.update(re.findall(r"\b\w+\b", line))
        head = ["import numpy as np", *self.imports]
        head += self.target.setup_lines(used & set(self.target.found))
        return "\n".join(head + self.lines).rstrip() + "\n"


def _plain(value):
    """Numbers as Python floats or float64 arrays (so literals stay short and exact)."""
    array = np.asarray(value, dtype=np.float64)
    return float(array) if array.ndim == 0 else array
