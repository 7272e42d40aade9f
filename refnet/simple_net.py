"""The book's ``simpleNet`` (section 4.4.2): one 2x3 weight matrix, softmax and cross-entropy."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._checks import RngLike, as_generator, finite, real_float_array
from .activations import softmax
from .differentiation import DEFAULT_STEP, numerical_gradient
from .losses import DEFAULT_DELTA, cross_entropy_error

__all__ = ["SimpleNet"]


class SimpleNet:
    """A single linear layer ``x @ W`` followed by softmax and cross-entropy.

    Parameters
    ----------
    W : array_like, shape (2, 3), optional
        The weights; copied.  Drawn from the standard normal distribution when omitted.
    rng : numpy.random.Generator or int, optional
        Source of the random weights when ``W`` is omitted (never the global state).

    Examples
    --------
    The book's example, with the weights it printed (rounded to 8 digits):

    >>> net = SimpleNet(W=[[0.47355232, 0.9977393, 0.84668094],
    ...                    [0.85557411, 0.03563661, 0.69422093]])
    >>> x = np.array([0.6, 0.9])
    >>> p = net.predict(x)
    >>> p
    array([1.05414809, 0.63071653, 1.1328074 ])
    >>> int(np.argmax(p))
    2
    >>> t = np.array([0, 0, 1])
    >>> float(net.loss(x, t))
    0.9280682857864075
    >>> net.numerical_gradient(x, t)
    array([[ 0.21924757,  0.14356243, -0.36281   ],
           [ 0.32887136,  0.21534364, -0.544215  ]])
    """

    def __init__(self, W: ArrayLike | None = None, *, rng: RngLike = None) -> None:
        if W is None:
            self.W = as_generator(rng).standard_normal((2, 3))
        else:
            W = real_float_array("W", W).astype(np.float64, copy=True)
            if W.shape != (2, 3):
                raise ValueError(f"W must have shape (2, 3), got {W.shape}")
            self.W = finite("W", W)

    def predict(self, x: ArrayLike) -> np.ndarray:
        """Scores ``x @ W`` for one sample (2,) or a batch (N, 2)."""
        x = real_float_array("x", x)
        if x.ndim not in (1, 2) or x.shape[-1] != self.W.shape[0]:
            raise ValueError(
                f"x must have shape ({self.W.shape[0]},) or (N, {self.W.shape[0]}), got {x.shape}"
            )
        return np.dot(finite("x", x), self.W)

    def loss(self, x: ArrayLike, t: ArrayLike, delta: float = DEFAULT_DELTA) -> float:
        """Cross-entropy of ``softmax(predict(x))`` against ``t`` (one-hot or labels)."""
        return cross_entropy_error(softmax(self.predict(x)), t, delta=delta)

    def numerical_gradient(
        self, x: ArrayLike, t: ArrayLike, delta: float = DEFAULT_DELTA, h: ArrayLike = DEFAULT_STEP
    ) -> np.ndarray:
        """dL/dW by central differences, perturbing ``self.W`` in place (and restoring it)."""
        return numerical_gradient(lambda W: self.loss(x, t, delta=delta), self.W, h)
