"""What each function accepts, found before it is judged: its *domain*.

A check draws its inputs inside the domain of the code it runs, so that a function is
judged on what it claims to take, and what it refuses is reported once, as a refusal.
Each *form* below is one kind of input beyond the function's base case (one sample of
the book's section, a 1-D ``x``), tried once on a plain, well-conditioned example: an
exception is a refusal, any answer is an acceptance (and from then on judged by the
checks, so a silent wrong number on an accepted form fails).

What a refusal costs is the profile's decision, and only there (`Case.forms`):

``book``
    the chapter's contract: the base case is required, and where the book itself has two
    versions (one-hot or label targets) one of them is; a refused form is a note.
``strict``
    refnet's contract: every form below is required; a refused form fails the check that
    judges it.

The probes are built with a small ``Case`` of their own, so the reproduction of a
refusal is the code that was run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Logits, probabilities and targets the probes use: N = 3 samples, K = 4 classes (N != K,
#: so that a one-hot (N, K) target never broadcasts silently against labels (N,)).
_LOGITS = np.array([[0.5, -1.0, 2.0, 0.0], [1.5, 0.25, -0.5, 1.0], [-2.0, 0.75, 0.0, 0.5]])
_Y = np.exp(_LOGITS) / np.sum(np.exp(_LOGITS), axis=1, keepdims=True)
_LABELS = np.array([2, 0, 1])
_ONE_HOT = np.eye(4)[_LABELS]
#: A generic shape for each rank: every side >= 2 and the sides distinct, so that a loop
#: over ``range(x.size)`` indexing ``x[i]`` cannot pass by accident.
RANK_SHAPES = {0: (), 2: (2, 3), 3: (2, 3, 4), 4: (2, 3, 2, 2)}


@dataclass(frozen=True)
class Form:
    """One kind of input: ``setup(case)`` binds the inputs, ``call`` runs the target."""

    function: str  # the API name whose domain it is
    name: str
    description: str  # what it is, for the reader: "integer labels t (N,)"
    setup: Callable
    call: str
    #: forms of which the book profile needs at least one (the book's two versions)
    book_group: str | None = None
    #: a form this one belongs with: refused with it (a cross-entropy that refuses labels
    #: for a batch is one-hot only, whatever a 0-d label broadcasts to)
    requires: str | None = None


def _let(**values):
    def setup(case):
        for name, value in values.items():
            case.let(name, value)

    return setup


def _sum_of_squares(shape):
    def setup(case):
        case.setup("def f(x):\n    return np.sum(x**2)")
        size = int(np.prod(shape))
        case.let("x", (np.arange(size, dtype=np.float64) / 4 - 0.5).reshape(shape))

    return setup


def _network(targets, method):
    def setup(case):
        case.let("x", np.array([[0.5, -0.25], [1.0, 0.75], [-0.5, 0.5]]))
        case.let("t", targets)
        case.run(
            f"net = {case.constructor('TwoLayerNet', input_size=2, hidden_size=3, output_size=4)}"
        )
        case.require_member("net", "TwoLayerNet", method)

    return setup


def _simple(targets: str) -> Form:
    def setup(case):
        case.let("x", np.array([0.5, -0.25]))
        case.let("t", np.array(_LABELS[0]) if targets == "labels" else _ONE_HOT[0][:3])
        case.run("net = simpleNet()")
        case.require_member("net", "simpleNet", "loss")

    what = "an integer label t (0-d)" if targets == "labels" else "a one-hot target t (3,)"
    return Form(
        "simpleNet",
        f"loss_{targets}",
        f"net.loss(x, t) with {what}",
        setup,
        "net.loss(x, t)",
        "loss",
    )


def _two_layer(method: str, targets: str, group: str) -> Form:
    value = _LABELS if targets == "labels" else _ONE_HOT
    what = "integer labels t (N,)" if targets == "labels" else "one-hot targets t (N, K)"
    return Form(
        "TwoLayerNet",
        f"{method}_{targets}",
        f"net.{method}(x, t) with {what}",
        _network(value, method),
        f"net.{method}(x, t)",
        group,
    )


FORMS = (
    Form("softmax", "batch", "a batch of logits (N, K)", _let(a=_LOGITS), "softmax(a)"),
    *(
        Form(name, "batch", "a batch y, t of shape (N, K)", _let(y=_Y, t=_ONE_HOT), f"{name}(y, t)")
        for name in ("mean_squared_error", "sum_squared_error")
    ),
    Form(
        "cross_entropy_error",
        "one_hot",
        "a batch y (N, K) with one-hot targets t (N, K)",
        _let(y=_Y, t=_ONE_HOT),
        "cross_entropy_error(y, t)",
        "batch",
    ),
    Form(
        "cross_entropy_error",
        "labels",
        "a batch y (N, K) with integer labels t (N,)",
        _let(y=_Y, t=_LABELS),
        "cross_entropy_error(y, t)",
        "batch",
    ),
    Form(
        "cross_entropy_error",
        "one_hot_sample",
        "one sample y (K,) with a one-hot target t (K,)",
        _let(y=_Y[0], t=_ONE_HOT[0]),
        "cross_entropy_error(y, t)",
        "sample",
        "one_hot",
    ),
    Form(
        "cross_entropy_error",
        "label_sample",
        "one sample y (K,) with an integer label t (0-d)",
        _let(y=_Y[0], t=np.array(_LABELS[0])),
        "cross_entropy_error(y, t)",
        "sample",
        "labels",
    ),
    *(
        Form(
            "numerical_gradient",
            f"rank{rank}",
            f"x of rank {rank} (shape {shape})",
            _sum_of_squares(shape),
            "numerical_gradient(f, x)",
        )
        for rank, shape in RANK_SHAPES.items()
    ),
    _simple("one_hot"),
    _simple("labels"),
    _two_layer("loss", "one_hot", "loss"),
    _two_layer("loss", "labels", "loss"),
    _two_layer("accuracy", "one_hot", "accuracy"),
    _two_layer("accuracy", "labels", "accuracy"),
    _two_layer("gradient", "one_hot", "gradient"),
    _two_layer("gradient", "labels", "gradient"),
)


def forms_of(function: str) -> tuple[Form, ...]:
    return tuple(form for form in FORMS if form.function == function)


def form(function: str, name: str) -> Form:
    return next(f for f in FORMS if f.function == function and f.name == name)


@dataclass
class Refusal:
    """Why a form was refused: the exception, and the code that raised it."""

    exception: str  # "IndexError: index 2 is out of bounds ..."
    reproduction: str
    type: str = "Exception"  # the exception's type name, "IndexError"

    def to_dict(self) -> dict:
        return {"exception": self.exception, "reproduction": self.reproduction}


def probe(function: str, make_case) -> dict[str, Refusal | None]:
    """Try each form of ``function`` once: form name -> None (accepted) or its Refusal.

    ``make_case()`` gives a fresh Case on the definition being probed.  A form whose setup
    cannot run (the class lacks the method) is left out: the check that needs it says so.
    """
    from .case import MissingMember

    domain: dict[str, Refusal | None] = {}
    for entry in forms_of(function):
        if entry.requires is not None and domain.get(entry.requires) is not None:
            domain[entry.name] = domain[entry.requires]
            continue
        case = make_case()
        try:
            entry.setup(case)
            error = case.run(entry.call, expect=Exception)
        except MissingMember:
            continue
        except AssertionError:  # the constructor raised: the checks report it
            continue
        if error is None:
            domain[entry.name] = None
        else:
            case.unwrap()  # the reproduction raises, as the call did
            text = f"{type(error).__name__}: {error}".strip()
            domain[entry.name] = Refusal(text[:300], case.reproduction(), type(error).__name__)
    return domain if _answers_base(function, domain, make_case) else {}


#: The base case of a function whose forms are all extensions of it: one call each.
BASES = {
    "softmax": (_let(a=_LOGITS[0]), "softmax(a)"),
    "mean_squared_error": (_let(y=_Y[0], t=_ONE_HOT[0]), "mean_squared_error(y, t)"),
    "sum_squared_error": (_let(y=_Y[0], t=_ONE_HOT[0]), "sum_squared_error(y, t)"),
    "numerical_gradient": (_sum_of_squares((3,)), "numerical_gradient(f, x)"),
}


def _answers_base(function: str, domain: dict, make_case) -> bool:
    """Whether a refusal means a narrower contract: the function answers its base case
    (and one form of each of the book's pairs).  A stub that raises on everything refuses
    nothing: its checks run and fail with its exception."""
    groups: dict[str, list[bool]] = {}
    for entry in forms_of(function):
        if entry.book_group is not None and entry.name in domain:
            groups.setdefault(entry.book_group, []).append(domain[entry.name] is None)
    if any(not any(accepted) for accepted in groups.values()):
        return False
    if function not in BASES or not any(domain.values()):
        return True
    setup, call = BASES[function]
    case = make_case()
    setup(case)
    return case.run(call, expect=Exception) is None
