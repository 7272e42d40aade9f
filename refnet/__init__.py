"""refnet: Chapter 4 of *Deep Learning from Scratch* in NumPy, verified against jax.grad.

The public names keep the book's names and signatures::

    from refnet import numerical_gradient, cross_entropy_error, TwoLayerNet

``refnet`` itself exports the chapter's functions and classes and the few entry points a
user needs: training ([`train`][refnet.training.train], [`History`][refnet.checkpoints.History]), the datasets ([`load_digits`][refnet.datasets.digits.load_digits],
[`load_mnist`][refnet.datasets.mnist.load_mnist]) and the gradient check.  Everything else lives in documented
submodules (``refnet.training``, ``refnet.checkpoints``, ``refnet.datasets``,
``refnet.differentiation``, ``refnet.gradcheck``, ``refnet.plots``,
``refnet.conformance``), each of which lists its public names in ``__all__``; a name in
no such ``__all__`` is private, whether or not it starts with an underscore.  The reference
pages (docs/reference/) render exactly these lists, and tests/test_api.py checks that
they agree.  ``refnet.engine`` (what the chapter's functions hand over to) and the
underscore modules are private: their ``__all__`` lists what they offer the rest of refnet.
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

# Nothing is imported until it is used: ``import refnet`` costs no NumPy, so that the
# ``refnet`` command (refnet.cli) is watching for Ctrl-C before any heavy import starts.
# The imports above are the one list of refnet's public names: type checkers and the
# documentation read them, and at run time they are read once from this file (with ast,
# no NumPy) into __all__ and the table that loads a name from its module on first access
# (PEP 562), as it loads a submodule (``refnet.training``) an eager import would have made
# available.


def _homes() -> dict[str, str]:
    """name -> its module, from the ``from .module import ...`` lines under TYPE_CHECKING."""
    import ast

    with open(__file__, encoding="utf-8") as source:
        tree = ast.parse(source.read())
    (block,) = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
    ]
    return {
        alias.name: str(node.module)
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


_HOMES = _homes()
__all__ = sorted(_HOMES)


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
