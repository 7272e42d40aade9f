"""The named checks: each a property of the chapter's API, stated in one line per profile.

A check's body gets a `Case` and hypothesis's ``data``.
It draws inputs, runs the target's code through the case, and compares the result with
the JAX oracle within a bound from tolerances.py, or checks a behaviour (an argument left
unchanged, an error instead of a wrong number).  The bodies live in values.py,
gradients.py and networks.py; this module (the package) is the table.

Every check belongs to one or both **profiles**:

``book``
    the chapter's contract, what the book asks of each function, with the book's own
    conventions accepted (a batch-summed squared error, accuracy of one-hot targets only,
    ``(x, history)`` from gradient_descent, cross-entropy with or without delta) and its
    silent pitfalls reported as warnings, each with its consequence;
``strict``
    refnet's guarantees: the same values, and the pitfalls are failures.

A check's ``statement`` is its property under the strict profile; ``book`` states it
under the book profile where that differs, and ``pitfall`` names what the book profile
only warns of.  docs/reference/conformance.md is generated from this table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .common import (
    BATCH_TOTAL,
    FLOAT32_SILENT,
    INIT_X_OVERWRITTEN,
    INTEGER_TRUNCATED,
    PERTURBED_ON_ERROR,
    ROW_BY_ROW,
    WHOLE_BATCH_SOFTMAX,
)
from .gradients import (
    accepts_keywords,
    central_difference,
    descent_leaves_init_x_unchanged,
    descent_matches_jax,
    gradient_leaves_x_unchanged,
    gradient_of_float32_x,
    gradient_of_integer_x,
    gradient_restores_x_when_f_raises,
    model_loss_gradient,
    returned_value_forms,
    smooth_gradient,
)
from .networks import (
    NUMERICAL_NOT_BACKPROP,
    constructible,
    has_method,
    simple_net_gradient,
    simple_net_loss,
    two_layer_accuracy,
    two_layer_backprop_gradient,
    two_layer_initial_params,
    two_layer_loss,
    two_layer_numerical_gradient,
)
from .values import (
    arguments_unchanged,
    cross_entropy_target_forms,
    cross_entropy_value,
    sigmoid_values,
    softmax_of_large_logits,
    softmax_rows_apart,
    softmax_values,
    squared_error_value,
)

#: The profiles, and what each promises.
PROFILES = {
    "book": "the book's contract: its conventions accepted, its silent pitfalls warned of",
    "strict": "refnet's guarantees: the book's pitfalls fail",
}
BOTH = ("book", "strict")


@dataclass(frozen=True)
class Check:
    """A named property: ``body(case, data, **options)`` raises CheckFailed when it fails."""

    name: str
    statement: str  # the property under the strict profile
    body: Callable
    requires: tuple[str, ...]
    options: Mapping[str, object] = field(default_factory=dict)
    #: target -> None to run the check, or (reason, --map hint or None) to skip it.
    precondition: Callable | None = None
    profiles: tuple[str, ...] = BOTH
    book: str | None = None  # the property under the book profile, where it differs
    pitfall: str | None = None  # what the book profile warns of instead of failing
    #: graded only when the target has what it checks (chapter 5's backpropagation): when
    #: absent it is skipped and left out of the maximum, unless a points file names it
    optional: bool = False

    @property
    def function(self) -> str:
        """The API name the check belongs to in the report."""
        return self.requires[0]

    def statement_for(self, profile: str) -> str | None:
        """The property under ``profile``, or None when the check is not part of it."""
        if profile not in self.profiles:
            return None
        return self.book if profile == "book" and self.book else self.statement


def _c(name, statement, body, requires, options=None, **more) -> Check:
    return Check(name, statement, body, requires, dict(options or {}), **more)


_MSE_BOOK = (
    "y, t of shape (N, K): the mean over the N samples of eq. 4.1, or the sum over the "
    "batch as the book's 0.5 * np.sum((y - t)**2): the report notes which"
)
_CE_BOOK = "as JAX computes it with delta = 1e-7 or without delta: the report notes which"

# fmt: off
CHECKS = (
    _c("softmax.values", "softmax of one row of logits in [-20, 20] equals JAX's",
       softmax_values, ("softmax",)),
    _c("softmax.batch",
       "softmax of a batch (N, K) normalises each row: equal to JAX's row by row",
       softmax_values, ("softmax",), {"min_dims": 2, "max_dims": 2, "max_side": 4},
       book="softmax of a batch (N, K) normalises each row, or the batch is refused with an "
       "exception (noted)", pitfall=WHOLE_BATCH_SOFTMAX),
    _c("softmax.rows_apart",
       "a batch whose rows lie 750 to 1000 apart is normalised row by row, not NaN: subtract "
       "each row's maximum, not the batch's",
       softmax_rows_apart, ("softmax",), pitfall=WHOLE_BATCH_SOFTMAX),
    _c("softmax.large_logits",
       "logits shifted by +-750 to 1000, where exp overflows or underflows, still give JAX's "
       "probabilities, not NaN: subtract the row maximum",
       softmax_of_large_logits, ("softmax",)),
    _c("softmax.input_unchanged", "the caller's logits are left unchanged",
       arguments_unchanged, ("softmax",), {"function": "softmax"}),
    _c("sigmoid.values",
       "1 / (1 + exp(-x)) elementwise for x of rank 0 to 3 in [-50, 50], as JAX computes it",
       sigmoid_values, ("sigmoid",)),
    _c("mean_squared_error.one_sample", "y, t of shape (K,): 0.5 * sum((y - t)**2) (eq. 4.1)",
       squared_error_value, ("mean_squared_error",),
       {"function": "mean_squared_error", "batch": False}),
    _c("mean_squared_error.batch",
       "y, t of shape (N, K): the mean over the N samples of eq. 4.1 (the name says mean)",
       squared_error_value, ("mean_squared_error",), {"function": "mean_squared_error"},
       book=_MSE_BOOK),
    _c("mean_squared_error.inputs_unchanged", "the caller's y and t are left unchanged",
       arguments_unchanged, ("mean_squared_error",), {"function": "mean_squared_error"}),
    _c("sum_squared_error.one_sample", "y, t of shape (K,): 0.5 * sum((y - t)**2) (eq. 4.1)",
       squared_error_value, ("sum_squared_error",),
       {"function": "sum_squared_error", "batch": False}),
    _c("sum_squared_error.batch",
       "y, t of shape (N, K): 0.5 * np.sum((y - t)**2) over the whole batch (the book's code)",
       squared_error_value, ("sum_squared_error",), {"function": "sum_squared_error"},
       book="y, t of shape (N, K): 0.5 * np.sum((y - t)**2) over the whole batch, or the batch "
       "refused with an exception (noted)"),
    _c("sum_squared_error.inputs_unchanged", "the caller's y and t are left unchanged",
       arguments_unchanged, ("sum_squared_error",), {"function": "sum_squared_error"}),
    _c("cross_entropy_error.one_sample",
       "y (K,) and one-hot t (K,) (or an integer label): -sum(t * log(y + 1e-7)) (eq. 4.2), "
       "as JAX computes it",
       cross_entropy_value, ("cross_entropy_error",), {"batch": False},
       book=f"y (K,) and a one-hot t (K,) or an integer label, whichever the code accepts "
       f"(one of them): eq. 4.2, {_CE_BOOK}"),
    _c("cross_entropy_error.batch",
       "y (N, K) and one-hot t (N, K) (or integer labels): the mean over samples of eq. 4.2 "
       "(eq. 4.3), as JAX computes it",
       cross_entropy_value, ("cross_entropy_error",),
       book=f"y (N, K) and one-hot t (N, K) or labels (N,), whichever the code accepts (one "
       f"of them): eq. 4.3, {_CE_BOOK}", pitfall=BATCH_TOTAL),
    _c("cross_entropy_error.target_forms",
       "integer labels t (N,) give the same loss as the same targets one-hot (N, K)",
       cross_entropy_target_forms, ("cross_entropy_error",),
       book="integer labels t (N,) give the same loss as the same targets one-hot (N, K), or "
       "one of the two forms is refused with an exception (noted): never a silent wrong number"),
    _c("cross_entropy_error.inputs_unchanged", "the caller's y and t are left unchanged",
       arguments_unchanged, ("cross_entropy_error",), {"function": "cross_entropy_error"}),
    _c("numerical_diff.central",
       "numerical_diff(f, x) is within h^2 |f'''| / 6 + round-off of f'(x) (jax.grad): the "
       "central difference with h = 1e-4",
       central_difference, ("numerical_diff",)),
    _c("numerical_diff.f_returns",
       "f may return a Python float, a 0-d array or a NumPy scalar: each gives f'(x)",
       returned_value_forms, ("numerical_diff",), {"function": "numerical_diff"}),
    _c("numerical_gradient.vector",
       "for 1-D x, numerical_gradient(f, x) is within the central-difference error bound of "
       "jax.grad(f)(x)",
       smooth_gradient, ("numerical_gradient",)),
    _c("numerical_gradient.any_shape",
       "for x of rank 0 to 4, the gradient has x's shape and is within the error bound of "
       "jax.grad(f)(x)",
       smooth_gradient, ("numerical_gradient",), {"min_dims": 0, "max_dims": 4, "max_side": 3},
       book="for x of each rank 0 to 4 the code accepts, the gradient has x's shape and is "
       "within the error bound; a refused rank is noted",
       pitfall=ROW_BY_ROW),
    _c("numerical_gradient.f_returns",
       "f may return a Python float, a 0-d array or a NumPy scalar: each gives the gradient",
       returned_value_forms, ("numerical_gradient",), {"function": "numerical_gradient"}),
    _c("numerical_gradient.model_losses",
       "gradients of MSE and cross-entropy losses of linear and two-layer models in their "
       "flat parameters match jax.grad",
       model_loss_gradient, ("numerical_gradient",)),
    _c("numerical_gradient.closure",
       "an f that ignores its argument and reads x (a vector, or a matrix where the code "
       "takes one) from its closure, as lambda W: net.loss(x, t) does, gets the gradient: x is "
       "perturbed in place",
       smooth_gradient, ("numerical_gradient",),
       {"closure": True, "max_dims": 2, "max_side": 3}),
    _c("numerical_gradient.restores_x", "x is bit-identical after the call",
       gradient_leaves_x_unchanged, ("numerical_gradient",)),
    _c("numerical_gradient.restores_x_on_error",
       "when f raises midway, the exception reaches the caller and x is bit-identical",
       gradient_restores_x_when_f_raises, ("numerical_gradient",),
       book="when f raises midway, the exception reaches the caller",
       pitfall=PERTURBED_ON_ERROR),
    _c("numerical_gradient.integer_x",
       "an integer x gets a TypeError or ValueError, or the correct gradient; never a "
       "truncated one like [25000, 35000]",
       gradient_of_integer_x, ("numerical_gradient",),
       book="an integer x gets a TypeError or ValueError, or the correct gradient",
       pitfall=INTEGER_TRUNCATED),
    _c("numerical_gradient.float32_x",
       "a float32 x gets a TypeError or ValueError, a warning, or the gradient to float64's "
       "error bound plus float32's rounding of the result; never a float32-accurate one "
       "without a word",
       gradient_of_float32_x, ("numerical_gradient",),
       book="a float32 x gets a TypeError or ValueError, a warning, or the gradient within "
       "float32's error bound",
       pitfall=FLOAT32_SILENT),
    _c("gradient_descent.matches_jax",
       "step_num steps land within the accumulated numerical-gradient error of the same "
       "steps on jax.grad; the point x is returned alone",
       descent_matches_jax, ("gradient_descent",), precondition=accepts_keywords,
       book="step_num steps land within the accumulated numerical-gradient error of the "
       "same steps on jax.grad; x, or the book's (x, x_history), is returned"),
    _c("gradient_descent.init_x_unchanged", "the caller's init_x is left unchanged",
       descent_leaves_init_x_unchanged, ("gradient_descent",), precondition=accepts_keywords,
       book="gradient_descent runs (init_x may be overwritten, with a warning)",
       pitfall=INIT_X_OVERWRITTEN),
    _c("simpleNet.loss",
       "net.loss(x, t) with net.W set is cross_entropy_error(softmax(x @ W), t), as JAX "
       "computes it",
       simple_net_loss, ("simpleNet",), precondition=has_method("simpleNet", "loss"),
       book=f"net.loss(x, t) with net.W set is the cross-entropy of softmax(x @ W), {_CE_BOOK}"),
    _c("simpleNet.gradient",
       "numerical_gradient(lambda w: net.loss(x, t), net.W) matches jax.grad and leaves "
       "net.W unchanged",
       simple_net_gradient, ("simpleNet", "numerical_gradient"),
       precondition=has_method("simpleNet", "loss"),
       book="numerical_gradient(lambda w: net.loss(x, t), net.W) matches jax.grad of the loss "
       "with or without delta, and leaves net.W unchanged"),
    _c("TwoLayerNet.initial_params",
       "TwoLayerNet(input_size, hidden_size, output_size) has params W1 (input, hidden), b1 "
       "(hidden,), W2 (hidden, output), b2 (output,), and W1 and W2 are not constant (equal "
       "weights keep every hidden unit equal)",
       two_layer_initial_params, ("TwoLayerNet",), precondition=constructible),
    _c("TwoLayerNet.loss",
       "net.loss(x, t) with one-hot t is the mean cross-entropy of the network, as JAX "
       "computes it",
       two_layer_loss, ("TwoLayerNet",), precondition=constructible,
       book=f"net.loss(x, t) with one-hot t or labels, whichever the code accepts (one of "
       f"them), is the mean cross-entropy, {_CE_BOOK}", pitfall=BATCH_TOTAL),
    _c("TwoLayerNet.numerical_gradient",
       "net.numerical_gradient(x, t) matches jax.grad for W1, b1, W2, b2 and leaves params "
       "unchanged",
       two_layer_numerical_gradient, ("TwoLayerNet",),
       precondition=has_method("TwoLayerNet", "numerical_gradient"),
       book="net.numerical_gradient(x, t) matches jax.grad of the loss with or without delta "
       "for W1, b1, W2, b2 and leaves params unchanged", pitfall=BATCH_TOTAL),
    _c("TwoLayerNet.accuracy",
       "net.accuracy(x, t) with one-hot t is the fraction of samples whose argmax is right",
       two_layer_accuracy, ("TwoLayerNet",), precondition=has_method("TwoLayerNet", "accuracy"),
       book="net.accuracy(x, t) with one-hot t or labels, whichever the code accepts (one of "
       "them), is the fraction of samples whose argmax is right"),
    _c("TwoLayerNet.accuracy_labels",
       "net.accuracy(x, t) accepts integer labels t (N,) and gives the same fraction",
       two_layer_accuracy, ("TwoLayerNet",), {"targets": "labels"},
       precondition=has_method("TwoLayerNet", "accuracy"),
       book="net.accuracy(x, t) with integer labels t (N,) gives the same fraction, or labels "
       "are refused with an exception (noted)"),
    _c("TwoLayerNet.gradient",
       "net.gradient(x, t) (backpropagation) matches jax.grad within rounding",
       two_layer_backprop_gradient, ("TwoLayerNet",),
       precondition=has_method("TwoLayerNet", "gradient"), optional=True,
       book="net.gradient(x, t) matches jax.grad: within rounding (backpropagation), or within "
       f"the finite-difference bound with the note \"{NUMERICAL_NOT_BACKPROP.split(':')[0]}\""),
)
# fmt: on


def listing(checks=CHECKS, profile: str | None = None) -> str:
    """Every check's name, profiles and, indented below it, its property (``--list``)."""
    out = []
    for check in checks:
        if profile is not None and profile not in check.profiles:
            continue
        statement = check.statement_for(profile) if profile else check.statement
        out.append(f"{check.name} [{', '.join(check.profiles)}]\n    {statement}\n")
    return "".join(out)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("*", "\\*")


def contract_table(checks=CHECKS) -> str:
    """The two contracts side by side, one row per check (docs/reference/conformance.md)."""
    out = ["| check | `--profile book` | `--profile strict` |", "|---|---|---|"]
    for check in checks:
        book = check.statement_for("book")
        strict = check.statement_for("strict")
        if book is None:
            book_cell = "not checked (the book's convention differs)"
        elif check.pitfall:
            book_cell = f"{_cell(book)}. **Warning**, not a failure: {_cell(check.pitfall)}"
        else:
            book_cell = _cell(book)
        if strict is None:
            strict_cell = "not checked"
        elif strict == book and not check.pitfall:
            strict_cell = "the same"
        else:
            strict_cell = _cell(strict)
        out.append(f"| `{check.name}` | {book_cell} | {strict_cell} |")
    return "\n".join(out) + "\n"
