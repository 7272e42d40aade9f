"""The chapter's API as the runner looks for it: names, the spellings accepted, and members.

Every name is the book's spelling; ``aliases`` are other spellings found in the wild and
recognised without a mapping (the slides' ``numerical_difference``, PEP 8's ``SimpleNet``).
``members`` are what the checks use of a name besides calling it: methods and attributes
of the two networks, keyword arguments of ``gradient_descent``, constructor arguments of
``TwoLayerNet``.  Each can be renamed on the command line (``--map SimpleNet.W=w``); the
``synonyms`` are the renamings the runner proposes in a hint when a member is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "API",
    "API_NAMES",
    "ApiName",
    "CANONICAL",
    "MEMBER_KINDS",
    "TargetError",
    "api_name",
]


class TargetError(Exception):
    """The target cannot be loaded, or a mapping is malformed (the command exits 2)."""


#: What a member is, which decides how a check uses it and how a mapping is validated.
MEMBER_KINDS = ("method", "attribute", "keyword", "argument")


@dataclass(frozen=True)
class ApiName:
    """One name of the chapter's API: the book's spelling and the others accepted."""

    name: str
    aliases: tuple[str, ...]
    description: str
    #: member -> its kind (one of MEMBER_KINDS)
    members: dict[str, str] = field(default_factory=dict)
    #: member -> spellings proposed when the member is missing
    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: another name for the same concept: when that one is found, this one is not missing
    alternative: str | None = None


#: The chapter's API, in the order the report lists it.
API = (
    ApiName("softmax", (), "softmax over the last axis"),
    ApiName("sigmoid", (), "the logistic function"),
    ApiName(
        "mean_squared_error",
        (),
        "eq. 4.1; the book's code sums a batch, refnet takes the mean",
        alternative="sum_squared_error",
    ),
    ApiName(
        "sum_squared_error",
        (),
        "eq. 4.1, a batch's value is the sum over samples (common/functions.py's name)",
        alternative="mean_squared_error",
    ),
    ApiName("cross_entropy_error", (), "eqs. 4.2 and 4.3, with delta = 1e-7 or without"),
    ApiName("numerical_diff", ("numerical_difference",), "central difference, h = 1e-4"),
    ApiName("numerical_gradient", (), "the gradient of f at an array x"),
    ApiName(
        "gradient_descent",
        (),
        "x <- x - lr * grad f(x), step_num times",
        members={"lr": "keyword", "step_num": "keyword"},
        synonyms={
            "lr": ("learning_rate", "eta", "alpha", "step_size", "rate"),
            "step_num": ("steps", "num_steps", "n_steps", "iterations", "iters", "n_iter"),
        },
    ),
    ApiName(
        "simpleNet",
        ("SimpleNet",),
        "one 2x3 weight matrix W, softmax, cross-entropy",
        members={"W": "attribute", "loss": "method"},
        synonyms={"W": ("w", "weights", "weight", "W1"), "loss": ("compute_loss", "loss_fn")},
    ),
    ApiName(
        "TwoLayerNet",
        (),
        "the two-layer network with params W1, b1, W2, b2",
        members={
            "params": "attribute",
            "loss": "method",
            "accuracy": "method",
            "numerical_gradient": "method",
            "gradient": "method",
            "input_size": "argument",
            "hidden_size": "argument",
            "output_size": "argument",
        },
        synonyms={
            "params": ("parameters", "weights", "param"),
            "numerical_gradient": ("numerical_gradient_net", "num_gradient", "numerical_grad"),
            "gradient": ("backprop", "backward", "gradient_backprop", "analytic_gradient"),
            "accuracy": ("acc", "score"),
            "loss": ("compute_loss", "loss_fn"),
            "input_size": ("n_in", "n_input", "n_inputs", "input_dim", "in_features", "d_in"),
            "hidden_size": ("n_hidden", "hidden", "hidden_dim", "hidden_units", "n_units"),
            "output_size": ("n_out", "n_output", "n_outputs", "output_dim", "n_classes"),
        },
    ),
)
API_NAMES = tuple(api.name for api in API)
#: every accepted spelling -> the book's name
CANONICAL = {alias: api.name for api in API for alias in (api.name, *api.aliases)}


def api_name(name: str) -> ApiName:
    """The entry of the book's ``name``."""
    return next(api for api in API if api.name == name)

