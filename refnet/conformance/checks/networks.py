"""Check bodies for the two networks: simpleNet (4.4.2) and TwoLayerNet (4.5.1).

Networks are built in the Case as a reader would (``net = TwoLayerNet(2, 3, 4)``, then
``net.params['W1'] = W1.copy()``), in the target's spelling of every member
(``--map TwoLayerNet.params=weights``).  Every TwoLayerNet check sets non-zero b1 and
b2: the book initialises both to zeros, and a misused bias hides behind a zero.
"""

from __future__ import annotations

import inspect

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from .. import oracle
from ..functions import ModelProblem, model_magnitude, model_third_derivative_bound
from ..strategies import finite_arrays, labels, one_hot_labels, two_layer_params
from ..tolerances import (
    central_difference_bound,
    same_formula_bound,
    softmax_cross_entropy_bound,
    two_layer_logit_error,
)
from .case import member_hint, vars_of, within_message
from .common import (
    BATCH_TOTAL,
    DELTA,
    EPS64,
    PARAM_NAMES,
    WITH_DELTA,
    H,
    require_unchanged,
    summed_over_batch,
    without_delta,
)

#: The smallest |b1|, |b2| entry the TwoLayerNet checks draw.
BIAS_FLOOR = 0.125
NUMERICAL_NOT_BACKPROP = (
    "numerical, not backpropagation: net.gradient agrees with jax.grad only within the "
    "finite-difference error bound, not within backpropagation's rounding"
)


def has_method(name: str, method: str):
    """Precondition: the class ``name`` has ``method`` (as the target spells it)."""

    def precondition(target):
        if name == "TwoLayerNet" and constructible(target):
            return constructible(target)
        cls = target.found[name].obj
        spelling = target.member(name, method)
        if callable(getattr(cls, spelling, None)):
            return None
        mapped = f" (mapped to {spelling!r})" if spelling != method else ""
        return f"{name} has no {method} method{mapped}", member_hint(name, method, vars_of(cls))

    return precondition


def constructible(target):
    """Precondition: TwoLayerNet(input_size, hidden_size, output_size) binds."""
    cls = target.found["TwoLayerNet"].obj
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return None
    keys = ("input_size", "hidden_size", "output_size")
    mapped = any(("TwoLayerNet", key) in target.members for key in keys)
    try:
        if mapped:
            signature.bind(**{target.member("TwoLayerNet", key): 1 for key in keys})
        else:
            signature.bind(1, 1, 1)
    except TypeError as exc:
        names = [p for p in signature.parameters if p != "self"]
        hint = " ".join(member_hint("TwoLayerNet", key, names) for key in keys)
        return f"TwoLayerNet{signature} cannot be called as TwoLayerNet(2, 3, 4): {exc}", hint
    return None


# -- simpleNet --------------------------------------------------------------------------------


def _simple_net(case, data, judged=False):
    """Build the network; return W, x and the one-hot target (the target is given the
    form its loss accepts: one-hot, or a label, probing.py)."""
    names = ["loss_one_hot", "loss_labels"]
    if judged:
        accepted = case.forms("simpleNet", names[:1], also=names[1:])
    else:
        accepted = case.accepted("simpleNet", names) or names[:1]
    # The book's simpleNet takes a one-hot t; a label only where one-hot is refused (a 0-d
    # label broadcasts silently against a one-hot cross-entropy's t * log(y)).
    form = "loss_one_hot" if "loss_one_hot" in accepted else "loss_labels"
    # Weights and inputs in [-1, 1]: logits in [-2, 2], every softmax output >= e^-4 / 3.
    W = case.let("W", data.draw(finite_arrays((2, 3), -1.0, 1.0), label="W"))
    x = case.let("x", data.draw(finite_arrays((2,), -1.0, 1.0), label="x"))
    label = data.draw(labels(None, 3), label="t")
    t = one_hot_labels(label, 3)
    if form == "loss_labels":
        case.let("t", label, "a label")
    else:
        case.let("t", t, "one-hot")
    case.run("net = simpleNet()")
    case.require_member("net", "simpleNet", "W")
    case.run(f"net.{case.member('simpleNet', 'W')} = W.copy()")
    return W, x, t


def simple_net_loss(case, data):
    W, x, t = _simple_net(case, data, judged=True)
    case.call("loss", f"net.{case.member('simpleNet', 'loss')}(x, t)")
    # Logits x0 W0k + x1 W1k: a dot product of 2 terms (affine_error).
    logit_error = 2 * EPS64 * float(np.max(np.abs(x) @ np.abs(W)))
    expected = [oracle.linear_softmax_loss(W, x, t, d) for d in (DELTA, 0.0)]
    bounds = [softmax_cross_entropy_bound(logit_error, x @ W, e) for e in expected]
    matched = case.compare(
        "loss",
        expected[0],
        bounds[0],
        "net.loss(x, t)",
        "cross-entropy of softmax(x W), by JAX",
        alternatives=without_delta(case, expected[1], bounds[1]),
    )
    if case.profile == "book" and matched == 0:
        case.note(WITH_DELTA)


def simple_net_gradient(case, data):
    W, x, t = _simple_net(case, data)
    weights = f"net.{case.member('simpleNet', 'W')}"
    case.setup(f"f = lambda w: net.{case.member('simpleNet', 'loss')}(x, t)")
    case.setup(f"W_before = {weights}.copy()")
    if case.accepted("numerical_gradient", ["rank2"]):
        case.call("dW", f"numerical_gradient(f, {weights})")
    else:
        # Inside numerical_gradient's domain (1-D x): W as a flat view, perturbed in place.
        case.call("dW", f"numerical_gradient(f, {weights}.reshape(-1)).reshape(2, 3)")
    problem = ModelProblem(x[None, :], t[None, :], ((2, 3),))
    theta = W.ravel()
    # The model bound is for cross-entropy without delta.  With every softmax output >= e^-4/3,
    # delta changes the k-th derivative of -log(p) by a relative k δ / p < 1e-4: 1% covers it.
    m3 = 1.01 * model_third_derivative_bound("linear_ce", theta, problem, H)
    magnitude = model_magnitude("linear_ce", np.abs(theta) + H, problem)
    answers = []
    for delta in (DELTA, 0.0):
        expected = oracle.linear_softmax_gradient(W, x, t, delta)
        bound = central_difference_bound(H, m3, magnitude, expected.ravel(), theta)
        answers.append((expected, bound.reshape(2, 3)))
    what = "numerical_gradient(lambda w: net.loss(x, t), net.W)"
    case.compare("dW", *answers[0], what, "jax.grad", alternatives=without_delta(case, *answers[1]))
    require_unchanged(case, weights, "W_before")


# -- TwoLayerNet --------------------------------------------------------------------------


def _targets(case, data, method: str, judged: bool) -> str:
    """``one_hot`` or ``labels``: a target form ``net.method`` accepts (probing.py); with
    ``judged``, a refusal of one-hot targets gets the profile's verdict."""
    names = [f"{method}_one_hot", f"{method}_labels"]
    if judged:
        accepted = case.forms("TwoLayerNet", names[:1], also=names[1:])
    else:
        accepted = case.accepted("TwoLayerNet", names) or names[:1]
    return data.draw(st.sampled_from(accepted), label="targets").split("_", 1)[1]


def _two_layer_net(case, data, targets):
    """Build the network in the case; return its params, x and the labels (whatever form
    the target is given)."""
    params, x, t = data.draw(two_layer_params(bias_floor=BIAS_FLOOR), label="network")
    d, hidden = params["W1"].shape
    classes = params["W2"].shape[1]
    for key in PARAM_NAMES:
        case.let(key, params[key])
    case.let("x", x)
    if targets == "labels":
        case.let("t", t, "labels")
    else:
        case.let("t", one_hot_labels(t, classes), "one-hot")
    sizes = {"input_size": d, "hidden_size": hidden, "output_size": classes}
    case.run(f"net = {case.constructor('TwoLayerNet', **sizes)}")
    case.require_member("net", "TwoLayerNet", "params")
    store = case.member("TwoLayerNet", "params")
    current = getattr(case.ns["net"], store)
    for key in PARAM_NAMES:
        old = current.get(key) if isinstance(current, dict) else None
        if isinstance(old, np.ndarray) and old.shape == params[key].shape:
            # In place: chapter 5's layers hold these very arrays (Affine(W1, b1)).
            case.run(f"net.{store}[{key!r}][...] = {key}")
        else:
            case.run(f"net.{store}[{key!r}] = {key}.copy()")
    return params, x, t


def two_layer_initial_params(case, data):
    """A new network: the four parameters in their shapes, and weights that break the
    symmetry between hidden units (equal weights give every hidden unit the same gradient,
    so they stay equal and the network learns one unit's worth)."""
    sizes = {
        key: data.draw(st.integers(2, 5), label=key)
        for key in ("input_size", "hidden_size", "output_size")
    }
    case.run(f"net = {case.constructor('TwoLayerNet', **sizes)}")
    case.require_member("net", "TwoLayerNet", "params")
    store = case.member("TwoLayerNet", "params")
    d, hidden, classes = sizes.values()
    shapes = {"W1": (d, hidden), "b1": (hidden,), "W2": (hidden, classes), "b2": (classes,)}
    for key, shape in shapes.items():
        case.require(
            f"np.shape(net.{store}[{key!r}]) == {shape!r}",
            lambda key=key, shape=shape: (
                f"net.{store}[{key!r}] has shape "
                f"{np.shape(case.ns['net'].__dict__.get(store, {}).get(key))}, expected {shape}"
            ),
        )
    for key in ("W1", "W2"):
        case.require(
            f"np.ptp(net.{store}[{key!r}]) > 0",
            f"every entry of a new network's {key} is the same: the hidden units start equal, "
            "get equal gradients and stay equal (draw weight_init_std * np.random.randn)",
        )


def _method(case, method):
    return f"net.{case.member('TwoLayerNet', method)}"


def two_layer_loss(case, data, *, targets=None):
    targets = targets or _targets(case, data, "loss", judged=True)
    params, x, t = _two_layer_net(case, data, targets)
    case.call("loss", f"{_method(case, 'loss')}(x, t)")
    logits = oracle.two_layer_logits(params, x)
    error = two_layer_logit_error(params, x)
    expected = [oracle.two_layer_loss(params, x, t, d) for d in (DELTA, 0.0)]
    bounds = [softmax_cross_entropy_bound(error, logits, e) for e in expected]
    alternatives = without_delta(case, expected[1], bounds[1])
    means = [(expected[0], bounds[0]), *((a[0], a[1]) for a in alternatives)]
    if summed_over_batch(case, "loss", means, x.shape[0]):
        case.comment(f"loss is {x.shape[0]} times the mean: the sum over the samples")
        case.compare(
            "loss",
            expected[0],
            bounds[0],
            "net.loss(x, t)",
            "the same network in JAX, the mean over the samples",
            pitfall=BATCH_TOTAL,
        )
        return
    matched = case.compare(
        "loss",
        expected[0],
        bounds[0],
        "net.loss(x, t)",
        "the same network in JAX",
        alternatives=alternatives,
    )
    if case.profile == "book" and matched == 0:
        case.note(WITH_DELTA)


def _difference_answers(params, x, t):
    """jax.grad with and without delta, each with the central difference's bound."""
    theta = np.concatenate([params[k].ravel() for k in PARAM_NAMES])
    classes = params["W2"].shape[1]
    problem = ModelProblem(
        x, one_hot_labels(t, classes), tuple(params[k].shape for k in PARAM_NAMES)
    )
    # The model bound is for CE without delta.  With every y_t >= e^-10 / 4 (weights and
    # inputs in [-1, 1], hidden <= 4), delta shifts each derivative of -log(y_t + δ) by a
    # relative δ / y_t <= 1e-7 · 4 e^10 < 0.01: a 1% allowance on M3 covers it.
    m3 = 1.01 * model_third_derivative_bound("two_layer_ce", theta, problem, H)
    magnitude = model_magnitude("two_layer_ce", np.abs(theta) + H, problem)
    answers = []
    for delta in (DELTA, 0.0):
        expected = oracle.two_layer_gradient(params, x, t, delta=delta)
        exact = np.concatenate([expected[k].ravel() for k in PARAM_NAMES])
        bound = problem.unflatten(np, central_difference_bound(H, m3, magnitude, exact, theta))
        answers.append({k: (expected[k], b) for k, b in zip(PARAM_NAMES, bound, strict=True)})
    return answers


def two_layer_numerical_gradient(case, data, *, targets=None):
    targets = targets or _targets(case, data, "loss", judged=False)
    params, x, t = _two_layer_net(case, data, targets)
    store = case.member("TwoLayerNet", "params")
    case.setup(f"params_before = {{key: value.copy() for key, value in net.{store}.items()}}")
    case.call("grads", f"{_method(case, 'numerical_gradient')}(x, t)")
    with_delta, no_delta = _difference_answers(params, x, t)
    answers = [with_delta, no_delta] if case.profile == "book" else [with_delta]
    # The gradient of a loss summed over the batch (BATCH_TOTAL, as net.loss): N times
    # jax.grad of the mean in every parameter, and not the mean's in all of them.
    total = _holds_all(case, answers, scale=x.shape[0]) and not _holds_all(case, answers)
    for key in PARAM_NAMES:
        case.compare(
            f"grads[{key!r}]",
            *with_delta[key],
            f"net.numerical_gradient(x, t)[{key!r}]",
            "jax.grad of the mean loss over the samples" if total else "jax.grad",
            alternatives=() if total else without_delta(case, *no_delta[key]),
            pitfall=BATCH_TOTAL if total else None,
        )
    case.require(
        f"all(net.{store}[k].tobytes() == params_before[k].tobytes() for k in params_before)",
        "net.numerical_gradient changed the network's parameters",
    )


def _holds_all(case, answers, scale: int = 1) -> bool:
    """Whether one of ``answers`` (key -> (expected, bound) each) holds in every key of
    ``grads``, its expected values and bounds scaled by ``scale``."""
    return any(
        all(
            _holds(case, f"grads[{key!r}]", [(scale * e, scale * b)])
            for key, (e, b) in answer.items()
        )
        for answer in answers
    )


def two_layer_accuracy(case, data, *, targets=None):
    if targets == "labels":  # accuracy_labels: a refusal of labels is the verdict
        if not case.forms("TwoLayerNet", ["accuracy_labels"], need_one=False):
            return
    else:
        targets = _targets(case, data, "accuracy", judged=True)
    params, x, t = _two_layer_net(case, data, targets)
    logits = oracle.two_layer_logits(params, x)
    # The argmax of the target's probabilities is the true one when the top two logits are
    # further apart than both implementations' logit errors plus softmax's rounding (which
    # could swap two probabilities closer than that): see softmax_cross_entropy_bound.
    top = np.sort(logits, axis=1)
    spread = float(np.max(top[:, -1] - top[:, 0]))
    margin = 4 * two_layer_logit_error(params, x) + 2 * EPS64 * (spread + logits.shape[1] + 2)
    assume(np.all(top[:, -1] - top[:, -2] > margin))
    expected = float(np.sum(np.argmax(logits, axis=1) == t)) / x.shape[0]
    case.call("acc", f"{_method(case, 'accuracy')}(x, t)")
    # k / N rounded once; (1 / N) * k rounds twice: within 2 ε of it.
    case.compare(
        "acc", expected, 2 * EPS64 * expected, "net.accuracy(x, t)", "argmax of JAX's predictions"
    )


def two_layer_backprop_gradient(case, data, *, targets=None):
    targets = targets or _targets(case, data, "gradient", judged=False)
    params, x, t = _two_layer_net(case, data, targets)
    case.call("grads", f"{_method(case, 'gradient')}(x, t)")
    # Every entry is a sum over <= N·K (<= 16) products of factors bounded by 1 (z, σ', x)
    # and |y - t| / N <= 1/N, times weights <= 1 and up to H = 4 hidden paths:
    # the sum of absolute terms is <= K·H <= 16.
    n_terms = x.shape[0] * params["W2"].shape[1] * params["W1"].shape[1]
    bound = same_formula_bound(n_terms, 16.0)
    exact = {d: oracle.two_layer_gradient(params, x, t, delta=d) for d in (0.0, DELTA)}
    differences = None
    for key in PARAM_NAMES:
        actual, what = f"grads[{key!r}]", f"net.gradient(x, t)[{key!r}]"
        backprop = [
            (exact[0.0][key], bound, "jax.grad, delta = 0", None),
            (exact[DELTA][key], bound, "jax.grad of the loss with delta", None),
        ]
        if _holds(case, actual, backprop):
            case.compare(actual, *backprop[0][:2], what, backprop[0][2], alternatives=backprop[1:])
            continue
        # Not within backpropagation's rounding: is it a numerical gradient?
        differences = differences or _difference_answers(params, x, t)
        numerical = [
            (*differences[0][key], "jax.grad, within the central difference's bound", None),
            (*differences[1][key], "the same without delta", None),
        ]
        if case.profile == "book" and _holds(case, actual, numerical):
            case.compare(
                actual, *numerical[0][:2], what, numerical[0][2], alternatives=numerical[1:]
            )
            case.note(NUMERICAL_NOT_BACKPROP)
            continue
        hint = NUMERICAL_NOT_BACKPROP if _holds(case, actual, numerical) else None
        case.compare(actual, *backprop[0][:2], what, backprop[0][2], hint=hint)


def _holds(case, actual: str, answers) -> bool:
    """Whether ``actual`` is within the bound of any of ``answers`` (nothing recorded)."""
    try:
        value = eval(actual, case.ns)
    except Exception:
        return False
    return any(within_message(value, e, b, actual) is None for e, b, *_ in answers)
