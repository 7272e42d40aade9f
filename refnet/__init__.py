"""refnet: Chapter 4 of *Deep Learning from Scratch* in NumPy, verified against jax.grad.

The public names keep the book's names and signatures::

    from refnet import numerical_gradient, cross_entropy_error, TwoLayerNet
"""

from ._checks import PrecisionWarning, StepLostError
from .activations import relu, sigmoid, sigmoid_grad, softmax, step_function
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
from .two_layer_net import TwoLayerNet

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_DELTA",
    "DEFAULT_STEP",
    "ErrorEstimate",
    "GradientReport",
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
]
