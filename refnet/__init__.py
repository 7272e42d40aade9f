"""refnet: Chapter 4 of *Deep Learning from Scratch* in NumPy, verified against jax.grad.

The public names keep the book's names and signatures::

    from refnet import numerical_gradient, cross_entropy_error, TwoLayerNet

``refnet`` itself exports the chapter's functions and classes and the few entry points a
user needs: training ([`train`][refnet.training.train], [`History`][refnet.checkpoints.History]), the datasets ([`load_digits`][refnet.datasets.digits.load_digits],
[`load_mnist`][refnet.datasets.mnist.load_mnist]) and the gradient check.  Everything else lives in documented
submodules (``refnet.training``, ``refnet.checkpoints``, ``refnet.datasets``,
``refnet.differentiation``, ``refnet.gradcheck``, ``refnet.plots``,
``refnet.conformance``), each of which lists its public names in ``__all__``; a name in
no ``__all__`` is private, whether or not it starts with an underscore.  The reference
pages (docs/reference/) render exactly these lists, and tests/test_api.py checks that
they agree.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the names, for type checkers and documentation tools
    from ._checks import PrecisionWarning, StepLostError
    from .activations import relu, sigmoid, sigmoid_grad, softmax, step_function
    from .checkpoints import History
    from .datasets import load_digits, load_mnist
    from .descent import gradient_descent
    from .differentiation import (
        DEFAULT_STEP,
        SCHEMES,
        ErrorEstimate,
        auto_step,
        naive_numerical_diff,
        numerical_diff,
        numerical_gradient,
        scheme_order,
    )
    from .gradcheck import GradientReport, assert_gradient_close, check_gradient
    from .losses import DEFAULT_DELTA, TargetWarning, cross_entropy_error, mean_squared_error
    from .simple_net import SimpleNet
    from .training import train
    from .two_layer_net import TwoLayerNet

# Nothing is imported until it is used: ``import refnet`` costs no NumPy import, so that
# the ``refnet`` command (refnet.cli) is watching for Ctrl-C before any heavy import
# starts.  A name of __all__ is loaded from its module on first access (PEP 562), and so
# is a submodule (``refnet.training``), as an eager import would have made it available.
_HOMES = {
    "PrecisionWarning": "_checks",
    "StepLostError": "_checks",
    "relu": "activations",
    "sigmoid": "activations",
    "sigmoid_grad": "activations",
    "softmax": "activations",
    "step_function": "activations",
    "History": "checkpoints",
    "load_digits": "datasets",
    "load_mnist": "datasets",
    "gradient_descent": "descent",
    "DEFAULT_STEP": "differentiation",
    "SCHEMES": "differentiation",
    "ErrorEstimate": "differentiation",
    "auto_step": "differentiation",
    "naive_numerical_diff": "differentiation",
    "numerical_diff": "differentiation",
    "numerical_gradient": "differentiation",
    "scheme_order": "differentiation",
    "GradientReport": "gradcheck",
    "assert_gradient_close": "gradcheck",
    "check_gradient": "gradcheck",
    "DEFAULT_DELTA": "losses",
    "TargetWarning": "losses",
    "cross_entropy_error": "losses",
    "mean_squared_error": "losses",
    "SimpleNet": "simple_net",
    "train": "training",
    "TwoLayerNet": "two_layer_net",
}


def __getattr__(name: str):
    import importlib

    home = _HOMES.get(name)
    if home is not None:
        value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    elif not name.startswith("__"):
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})


# The one place the version is written: pyproject.toml reads it from here
# ([tool.setuptools.dynamic]), so the installed metadata and refnet.__version__ agree.
__version__ = "0.1.0"

__all__ = [
    "DEFAULT_DELTA",
    "DEFAULT_STEP",
    "ErrorEstimate",
    "GradientReport",
    "History",
    "PrecisionWarning",
    "SCHEMES",
    "SimpleNet",
    "StepLostError",
    "TargetWarning",
    "TwoLayerNet",
    "assert_gradient_close",
    "auto_step",
    "check_gradient",
    "cross_entropy_error",
    "gradient_descent",
    "load_digits",
    "load_mnist",
    "mean_squared_error",
    "naive_numerical_diff",
    "numerical_diff",
    "numerical_gradient",
    "relu",
    "scheme_order",
    "sigmoid",
    "sigmoid_grad",
    "softmax",
    "step_function",
    "train",
]
