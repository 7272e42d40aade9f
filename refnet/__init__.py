"""refnet: Chapter 4 of *Deep Learning from Scratch* in NumPy, verified against jax.grad.

The public names keep the book's names and signatures::

    from refnet import numerical_gradient, cross_entropy_error, TwoLayerNet

``refnet`` itself exports the chapter's functions and classes and the few entry points a
user needs: training ([`train`][refnet.training.train], [`History`][refnet.checkpoints.History]), the datasets ([`load_digits`][refnet.datasets.digits.load_digits],
[`load_mnist`][refnet.datasets.mnist.load_mnist]) and the gradient check.  Everything else lives in documented
submodules (``refnet.training``, ``refnet.checkpoints``, ``refnet.datasets``,
``refnet.differentiation``, ``refnet.gradcheck``, ``refnet.plots``, ``refnet.figures``,
``refnet.conformance``), each of which lists its public names in ``__all__``; a name in
no ``__all__`` is private, whether or not it starts with an underscore.  The reference
pages (docs/reference/) render exactly these lists, and tests/test_api.py checks that
they agree.
"""

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
