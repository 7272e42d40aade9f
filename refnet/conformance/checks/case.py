"""One example of a check: the target's code, run and written down as a reproduction.

A check never calls the target directly.  It hands the `Case` lines of Python
(``grad = numerical_gradient(f, x)``), which the case executes in its own namespace and
records; inputs enter that namespace as literals (``x = np.array([1.5, -0.0])``) that
round-trip bit for bit.  What ran is therefore exactly what the reproduction says, and the
reproduction of hypothesis's smallest failing example is ready to paste into a prompt.
"""

from __future__ import annotations

import difflib
import re
import textwrap

import numpy as np

from .literals import literal
from .reproduction import numpy_helpers, numpy_source, setup_lines


class CheckFailed(AssertionError):
    """The property does not hold for this example; ``message`` says how."""

    def __init__(self, message: str, case: Case | _Replay | None = None):
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


class Refused(CheckFailed):
    """The target refused a form of input the profile requires; ``refusal`` is the probe's
    (probing.py): its exception and the reproduction that raises it."""

    def __init__(self, message: str, refusal):
        super().__init__(message, _Replay(refusal.reproduction))
        self.exception_info = {"type": refusal.type, "message": refusal.exception, "traceback": ""}


class MissingMember(BaseException):
    """The target lacks a member a check needs (a method, an attribute, a keyword): the
    check is skipped, with the ``--map`` line that would enable it.

    A BaseException, so that hypothesis does not take it for a failure and shrink it.
    """

    def __init__(self, reason: str, hint: str):
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


class Journal:
    """What the examples of one check noticed besides passing or failing: notes (which
    convention matched) and, under the book profile, pitfalls (a warning each)."""

    def __init__(self):
        self.notes: dict[str, None] = {}
        #: consequence -> (detail, reproduction) of the smallest example that showed it
        self.pitfalls: dict[str, tuple[str, str]] = {}

    def pitfall(self, consequence: str, detail: str, reproduction: str) -> None:
        kept = self.pitfalls.get(consequence)
        if kept is None or len(reproduction) < len(kept[1]):
            self.pitfalls[consequence] = (detail, reproduction)


def function_source(formula, name: str = "f") -> str:
    """The source of a function written against an array namespace ``xp`` (functions.py),
    as a NumPy function of ``x`` called ``name``: ``def _cubic(xp, x)`` -> ``def f(x)``."""
    return numpy_source(formula, name)


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

    def __init__(
        self, target, profile: str = "strict", journal: Journal | None = None, domains=None
    ):
        self.target = target
        #: (name, id of the object) -> its domain (probing.py), filled as checks ask; None:
        #: nothing is probed and every form is drawn (the suite's own tests of the bodies)
        self.domains = domains
        #: "book" accepts the book's conventions and only warns of its pitfalls; "strict"
        #: is refnet's contract (tests/ run the checks' bodies under it).
        self.profile = profile
        self.journal = journal if journal is not None else Journal()
        self.ns: dict = {"np": np, "__name__": "__conformance__"}
        self.ns.update({name: found.obj for name, found in target.found.items()})
        self.lines: list[str] = []
        self.imports: list[str] = []
        self._wrapped = (0, "")

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
        """An import of the standard library the reproduction needs (never refnet's: the
        student has NumPy and their own files only)."""
        if re.search(r"\brefnet\b", import_line):
            raise ValueError(f"a reproduction cannot import refnet: {import_line!r} (Case.define)")
        exec(import_line, self.ns)
        if import_line not in self.imports:
            self.imports.append(import_line)

    def define(self, function, name: str | None = None) -> None:
        """Define a function of functions.py (written against ``xp``) and its helpers as
        NumPy code, in the namespace and in the reproduction: its source, not an import."""
        for each in [*numpy_helpers(function), function]:
            source = numpy_source(each, name if each is function else None)
            if source.partition("\n")[0] not in self.lines:
                self.setup(source)

    def record(self, code: str) -> None:
        """A line the reproduction shows (an assert that fails there) without running it."""
        self.lines.append(code)

    def comment(self, text: str) -> None:
        self.lines.append(f"# {text}")

    # -- the target's code -----------------------------------------------------------------

    def run(self, code: str, *, expect=()):
        """Run a line that calls the target.

        An exception of a type in ``expect`` is returned; any other becomes
        `TargetRaised`, a failure of the check.  Returns None when nothing was raised.
        """
        self.lines.append(code)
        try:
            exec(code, self.ns)
        except expect as exc:
            # Written so that the reproduction goes on past the expected exception.
            self._wrapped = (len(self.lines) - 1, code)
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

    def unwrap(self) -> None:
        """Show the last call `run` caught as it ran, not inside a try (it raises there)."""
        start, code = self._wrapped
        del self.lines[start:]
        self.lines.append(code)

    def unexpected(self, exc: BaseException):
        """The exception the last `run` caught is not one the property allows: show
        that call unwrapped (so that the reproduction raises it too) and fail with it."""
        self.unwrap()
        raise TargetRaised(self._wrapped[1], exc, self)

    def call(self, name: str, expression: str):
        """Run ``name = expression`` (the target's code) and return the value."""
        self.run(f"{name} = {expression}")
        return self.ns[name]

    # -- verdicts ---------------------------------------------------------------------------

    def fail(self, message: str):
        raise CheckFailed(message, self)

    def note(self, text: str) -> None:
        """Record which convention an example matched (shown beside the verdict)."""
        self.journal.notes[text] = None

    def pitfall(self, consequence: str, detail: str) -> None:
        """One of the book's silent pitfalls: a failure under the strict profile; under the
        book profile a warning (``consequence``, with the smallest example) and go on."""
        if self.profile == "strict":
            self.fail(f"{consequence}: {detail}")
        self.journal.pitfall(consequence, detail, self.reproduction())

    # -- the domain: what the target's code accepts (probing.py) ----------------------------

    def domain(self, function: str) -> dict:
        """The forms of ``function`` (as found) and their refusals, probed on first use."""
        from .probing import probe

        if self.domains is None or function not in self.target.found:
            return {}
        key = (function, id(self.target.found[function].obj))
        if key not in self.domains:
            self.domains[key] = probe(function, lambda: Case(self.target, self.profile))
        return self.domains[key]

    def accepted(self, function: str, names) -> list[str]:
        """Those of the forms ``names`` that ``function`` accepts (no verdict)."""
        domain = self.domain(function)
        return [name for name in names if domain.get(name) is None]

    def forms(self, function: str, judged, *, also=(), need_one: bool = True) -> list[str]:
        """The forms among ``judged`` and ``also`` that ``function`` accepts, to draw from.

        A refusal of a ``judged`` form is the profile's to judge: a failure under strict
        (refnet's contract takes every form), a note under book.  With ``need_one``, a
        function that accepts none of them fails under both profiles (the book's contract
        needs one of the book's versions).
        """
        from .probing import form

        domain = self.domain(function)
        for name in judged:
            refusal = domain.get(name)
            if refusal is None:
                continue
            what = form(function, name).description
            if self.profile == "strict":
                raise Refused(
                    f"{function} refuses {what} ({refusal.exception}): refnet's contract takes "
                    "it (--profile book notes a refusal instead)",
                    refusal,
                )
            self.note(f"refuses {what} ({refusal.exception}); the book's contract allows it")
        names = [*judged, *also]
        accepted = self.accepted(function, names)
        if need_one and not accepted:
            refusal = domain[names[0]]
            described = " and ".join(form(function, n).description for n in names)
            raise Refused(f"{function} refuses {described}: {refusal.exception}", refusal)
        return accepted

    # -- the target's spellings (--map NAME.MEMBER=SPELLING) -------------------------------

    def member(self, name: str, member: str) -> str:
        """The target's spelling of a method or attribute of ``name``."""
        return self.target.member(name, member)

    def keywords(self, name: str, **values) -> str:
        """``lr=0.1, step_num=5`` in the target's spelling of each keyword."""
        return ", ".join(f"{self.member(name, k)}={v!r}" for k, v in values.items())

    def constructor(self, name: str, **arguments) -> str:
        """``TwoLayerNet(2, 3, 4)``: positional, unless a mapping renames an argument (then
        every argument is passed by keyword, in the target's spelling)."""
        if any((name, key) in self.target.members for key in arguments):
            return f"{name}({self.keywords(name, **arguments)})"
        return f"{name}({', '.join(repr(v) for v in arguments.values())})"

    def require_member(self, variable: str, name: str, member: str) -> None:
        """Skip the check, with a hint, when the object ``variable`` lacks ``member``."""
        spelling = self.member(name, member)
        obj = self.ns[variable]
        if hasattr(obj, spelling):
            return
        same = [a for a in vars_of(obj) if a.lower() == spelling.lower()]
        if (name, member) not in self.target.members and len(same) == 1:
            # The one spelling that differs only in case (net.w for net.W): used, and said.
            self.target.members[(name, member)] = same[0]
            self.note(f"{name}.{member} is spelled {same[0]!r}: checked as it")
            return
        raise MissingMember(
            f"{name} has no {member!r} {'(mapped to ' + repr(spelling) + ') ' if spelling != member else ''}"
            f"after {variable} = {name}(...)",
            member_hint(name, member, [a for a in vars_of(obj)]),
        )

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
        self,
        actual: str,
        expected,
        bound,
        what: str,
        source: str | None = None,
        *,
        hint=None,
        alternatives=(),
        pitfall: str | None = None,
    ):
        """Require |actual - expected| <= bound elementwise, with equal shapes.

        ``actual`` is an expression over the namespace (``"grad"``, ``"grads['W1']"``);
        ``expected`` a value (bound as ``expected``, ``source`` says where it came from) or
        the name of another variable; ``bound`` a number or an array (bound as ``bound``).
        ``hint``, a string or a function of the actual value, is added to a failure.

        ``alternatives`` are other accepted answers, ``(expected, bound, source, note)``
        each, tried in order when the first does not hold: the one that holds is what the
        reproduction shows, and its ``note`` is recorded.  With ``pitfall`` (a consequence),
        a miss is one of the book's pitfalls (see `pitfall`) rather than a failure.

        Returns the index of the answer that held (0: ``expected``), or None for a pitfall
        recorded under the book profile.
        """
        try:
            value = eval(actual, self.ns)
        except Exception as exc:
            self.fail(f"could not read {actual} from the result: {type(exc).__name__}: {exc}")
        candidates = [(expected, bound, source, None), *alternatives]
        verdicts = []
        for candidate, limit, _, _ in candidates:
            reference = self.ns[candidate] if isinstance(candidate, str) else _plain(candidate)
            verdicts.append(within_message(value, reference, _plain(limit), what))
        chosen = next((i for i, v in enumerate(verdicts) if v is None), 0)
        candidate, limit, origin, note = candidates[chosen]
        if isinstance(candidate, str):
            expected_name = candidate
        else:
            expected_name = "expected"
            self.let(expected_name, _plain(candidate), origin)
        self.let("bound", _plain(limit), "the error bound of this comparison")
        self.lines.append(
            f"assert np.shape({actual}) == np.shape({expected_name}) and "
            f"np.all(np.abs({actual} - {expected_name}) <= bound)"
        )
        if verdicts[chosen] is None:
            if note:
                self.note(note)
            return chosen
        message = verdicts[0]
        assert message is not None  # else candidate 0 was chosen and returned above
        extra = hint(value) if callable(hint) else hint
        message = f"{message}: {extra}" if extra else message
        if len(candidates) > 1:
            others = "; ".join(c[2] or "another answer" for c in candidates[1:])
            message += f" (nor does it match {others})"
        if pitfall is not None:
            self.pitfall(pitfall, message)
        else:
            self.fail(message)

    # -- the reproduction --------------------------------------------------------------------

    def reproduction(self) -> str:
        """The lines that ran, with the imports they need: paste into a Python prompt."""
        used = set()
        for line in self.lines:
            used.update(re.findall(r"\b\w+\b", line))
        head = ["import numpy as np", *self.imports]
        head += setup_lines(self.target, used & set(self.target.found))
        return "\n".join(head + self.lines).rstrip() + "\n"


class _Replay:
    """Stands for a Case whose reproduction is already written (a probe's)."""

    def __init__(self, reproduction: str):
        self._reproduction = reproduction

    def reproduction(self) -> str:
        return self._reproduction


def vars_of(obj) -> list[str]:
    """The public attribute names of an object (an instance's and its class's)."""
    names = list(getattr(obj, "__dict__", {}))
    names += [n for n in dir(type(obj)) if n not in names]
    return [n for n in names if not n.startswith("_")]


def member_hint(name: str, member: str, available) -> str:
    """``--map NAME.MEMBER=SPELLING``, with a guess among ``available`` where one fits."""
    from ..api import api_name

    api = api_name(name)
    synonyms = api.synonyms.get(member, ())
    # A member the checks use under its own name is no rename of another one.
    available = [a for a in available if a not in api.members]
    guess = [s for s in synonyms if s in available]
    guess = guess or [a for a in available if member.lower() in a.lower()]
    guess = guess or difflib.get_close_matches(member, available, 1, 0.6)
    return f"--map {name}.{member}={guess[0] if guess else 'SPELLING'}"


def _plain(value):
    """Numbers as Python floats or float64 arrays (so literals stay short and exact)."""
    array = np.asarray(value, dtype=np.float64)
    return float(array) if array.ndim == 0 else array
