"""The book's ``TwoLayerNet`` (section 4.5.1): affine, sigmoid, affine, softmax, cross-entropy."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from ._checks import (
    PARAM_NAMES,
    RngLike,
    as_generator,
    finite,
    perturbable,
    positive_finite_scalar,
    positive_int,
    real_float_array,
)
from .activations import sigmoid_unchecked, softmax_unchecked
from .differentiation import numerical_gradient
from .engine.fast_gradient import OutOfRange, two_layer_numerical_gradient
from .engine.stencil import CENTRAL, DEFAULT_MEMORY_BUDGET, DEFAULT_STEP, check_step, checked_points
from .losses import DEFAULT_DELTA, checked_targets, cross_entropy_unchecked

__all__ = ["TwoLayerNet", "PARAM_NAMES"]

#: Methods accepted by ``TwoLayerNet.numerical_gradient``.
NUMERICAL_GRADIENT_METHODS = ("fast", "loop")


class TwoLayerNet:
    """Two-layer network: ``softmax(sigmoid(x @ W1 + b1) @ W2 + b2)``.

    Parameters
    ----------
    input_size, hidden_size, output_size : int
        Layer widths (784, 50, 10 for the book's MNIST network).
    weight_init_std : float, default 0.01
        Standard deviation of the normal initial weights; biases start at zero.
    rng : numpy.random.Generator or int, optional
        Source of the initial weights.  An int is a seed; None draws fresh entropy.
        The global ``np.random`` state is never used.

    Attributes
    ----------
    params : dict of ndarray
        ``W1`` (input, hidden), ``b1`` (hidden,), ``W2`` (hidden, output), ``b2`` (output,).

    Notes
    -----
    ``loss`` and ``numerical_gradient`` use cross-entropy with the book's ``delta=1e-7``;
    ``gradient`` (backpropagation) returns the gradient of the loss *without* delta,
    because ``y - t`` is that gradient.  The two differ by about ``delta / y_t`` relative:
    negligible unless the network puts almost no probability on a right answer.

    Examples
    --------
    >>> net = TwoLayerNet(input_size=4, hidden_size=3, output_size=2, rng=0)
    >>> sorted((name, p.shape) for name, p in net.params.items())
    [('W1', (4, 3)), ('W2', (3, 2)), ('b1', (3,)), ('b2', (2,))]
    >>> x = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.4, 0.3, 0.2]])
    >>> t = np.array([0, 1])
    >>> net.predict(x).shape
    (2, 2)
    >>> round(float(net.loss(x, t)), 3)  # about log 2: small initial weights predict ~50/50
    0.693
    >>> num = net.numerical_gradient(x, t, delta=0)
    >>> ana = net.gradient(x, t)
    >>> all(np.allclose(num[k], ana[k], rtol=0, atol=1e-9) for k in num)
    True
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float = 0.01,
        rng: RngLike = None,
    ) -> None:
        input_size = positive_int("input_size", input_size)
        hidden_size = positive_int("hidden_size", hidden_size)
        output_size = positive_int("output_size", output_size)
        weight_init_std = positive_finite_scalar(
            "weight_init_std", weight_init_std, allow_zero=True
        )
        generator = as_generator(rng)
        self.params = {
            "W1": weight_init_std * generator.standard_normal((input_size, hidden_size)),
            "b1": np.zeros(hidden_size),
            "W2": weight_init_std * generator.standard_normal((hidden_size, output_size)),
            "b2": np.zeros(output_size),
        }

    # -- shapes -------------------------------------------------------------------

    @property
    def input_size(self) -> int:
        return self.params["W1"].shape[0]

    @property
    def hidden_size(self) -> int:
        return self.params["W1"].shape[1]

    @property
    def output_size(self) -> int:
        return self.params["W2"].shape[1]

    def _inputs(self, x) -> np.ndarray:
        x = real_float_array("x", x)
        if x.ndim not in (1, 2):
            raise ValueError(f"x must be one sample (D,) or a batch (N, D), got shape {x.shape}")
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"x has {x.shape[-1]} features per sample but the network's input_size is "
                f"{self.input_size}"
            )
        if x.ndim == 2 and x.shape[0] == 0:
            raise ValueError("x is an empty batch (0 samples)")
        return finite("x", x)

    def _batch(self, x: ArrayLike, t: ArrayLike) -> tuple[np.ndarray, np.ndarray, bool]:
        """Validated 2-D inputs and targets: ``(x, t, labels)``."""
        x = self._inputs(x)
        t_arr = np.asarray(t)
        if x.ndim == 1:
            x = x[None, :]
            t_arr = t_arr[None, ...]
        t_arr, labels = checked_targets(
            (x.shape[0], self.output_size), t_arr, need_distribution=True
        )
        return x, t_arr, labels

    # -- the book's methods ----------------------------------------------------------

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return forward(self.params, x)

    def predict(self, x: ArrayLike) -> np.ndarray:
        """Class probabilities, shape (N, output_size), or (output_size,) for one sample."""
        return self._forward(self._inputs(x))[1]

    def loss(self, x: ArrayLike, t: ArrayLike, delta: float = DEFAULT_DELTA) -> float:
        """Mean cross-entropy of the predictions against ``t`` (labels or one-hot)."""
        x, t_arr, labels = self._batch(x, t)
        delta = positive_finite_scalar("delta", delta, allow_zero=True)
        return cross_entropy_unchecked(self._forward(x)[1], t_arr, labels, delta)

    def accuracy(self, x: ArrayLike, t: ArrayLike) -> float:
        """Fraction of samples whose most probable class is the target's.

        ``t`` may be labels or one-hot rows (the book's version accepts only one-hot).
        Ties go to the lowest class index, as ``np.argmax`` does.
        """
        x, t_arr, labels = self._batch(x, t)
        predicted = np.argmax(self._forward(x)[1], axis=1)
        truth = t_arr if labels else np.argmax(t_arr, axis=1)
        return float(np.sum(predicted == truth)) / x.shape[0]

    def numerical_gradient(
        self,
        x: ArrayLike,
        t: ArrayLike,
        delta: float = DEFAULT_DELTA,
        h: ArrayLike = DEFAULT_STEP,
        *,
        method: str = "fast",
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        workers: int = 1,
    ) -> dict[str, np.ndarray]:
        """Gradient of `loss` for every parameter, by central differences (section 4.5.1).

        ``method="loop"`` is the book's reference: the loss as a function of each parameter
        array, differentiated by [`numerical_gradient`][refnet.differentiation.numerical_gradient]
        (the array perturbed in place, one element at a time, and restored bit-identical).
        ``"fast"`` (the default) computes the same quotients network-aware
        (`refnet.engine.fast_gradient`): only what each perturbation changes, from the
        unperturbed activations, for thousands of perturbations per NumPy call, never
        writing to ``params``.  Both store each parameter at the same rounded ``θ_i ± h``;
        they agree to the loop's round-off, $ε |L| / h$ (not bitwise: the arithmetic is
        ordered differently).  Should a step move a logit by more than 1 (a huge h, x or
        W2), ``"fast"`` runs the loop.

        Parameters
        ----------
        h : float, array or "auto", default 1e-4
            As in [`refnet.numerical_gradient`][refnet.differentiation.numerical_gradient]
            (an array must broadcast to every parameter), checked once for all of them.
        method : {"fast", "loop"}
            The network-aware evaluation, or the book's loop.
        memory_budget : int, default 32 MiB
            ``"fast"`` only: the cap, in bytes, on one block's work arrays.
        workers : int, default 1
            ``"fast"`` only: threads sharing the work (on idle cores); the same bits.
        """
        if method not in NUMERICAL_GRADIENT_METHODS:
            raise ValueError(f"method must be one of {NUMERICAL_GRADIENT_METHODS}, got {method!r}")
        x, t_arr, labels = self._batch(x, t)
        delta = positive_finite_scalar("delta", delta, allow_zero=True)
        step = check_step(h)
        memory_budget = positive_int("memory_budget", memory_budget)
        workers = positive_int("workers", workers)
        for name in PARAM_NAMES:
            finite(f"params[{name!r}]", self.params[name])
        if method == "fast":
            try:
                return self._fast_numerical_gradient(
                    x, t_arr, labels, delta, step, memory_budget, workers
                )
            except OutOfRange:
                pass  # a step moves a logit by more than 1: the book's loop computes it

        def loss_W(W):  # W is perturbed in place in self.params, which the loss reads
            return cross_entropy_unchecked(self._forward(x)[1], t_arr, labels, delta)

        return {name: numerical_gradient(loss_W, self.params[name], step) for name in PARAM_NAMES}

    def _fast_numerical_gradient(self, x, t_arr, labels, delta, step, memory_budget, workers):
        """``method="fast"``: every parameter's steps checked (none lost to rounding), then
        the network-aware quotients, which read the parameters and never write them."""
        steps = {}
        for name in PARAM_NAMES:
            param = perturbable(self.params[name], in_place=False)
            steps[name] = checked_points(param, CENTRAL, step, CENTRAL.offsets, warn=False).steps
        return two_layer_numerical_gradient(
            self.params,
            x,
            t_arr,
            labels,
            delta,
            steps,
            memory_budget=memory_budget,
            workers=workers,
        )

    def gradient(self, x: ArrayLike, t: ArrayLike) -> dict[str, np.ndarray]:
        """Gradient of the loss (without delta) by backpropagation, the book's fast version."""
        x, t_arr, labels = self._batch(x, t)
        W2 = self.params["W2"]
        z1, y = self._forward(x)
        dy = y.copy()
        if labels:
            dy[np.arange(x.shape[0]), t_arr] -= 1.0
        else:
            # d/da of -Σ t log softmax(a) is y Σt - t: y - t for rows summing to 1
            # (y * 1.0 is y, bit for bit), and still exact for the book's dummy targets.
            dy = dy * np.sum(t_arr, axis=1, keepdims=True) - t_arr
        dy /= x.shape[0]
        dz1 = np.dot(dy, W2.T)
        da1 = dz1 * z1 * (1.0 - z1)
        return {
            "W1": np.dot(x.T, da1),
            "b1": np.sum(da1, axis=0),
            "W2": np.dot(z1.T, dy),
            "b2": np.sum(dy, axis=0),
        }


def forward(params: Mapping[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The forward pass on a validated batch: ``(hidden activations, class probabilities)``.

    Shared by [`TwoLayerNet`][refnet.two_layer_net.TwoLayerNet] and the benchmarks, which time the loss exactly as
    the reference loop evaluates it.  ``params`` holds ``W1``, ``b1``, ``W2``, ``b2``.
    """
    W1, b1, W2, b2 = (params[name] for name in PARAM_NAMES)
    a1 = np.dot(x, W1) + b1
    z1 = sigmoid_unchecked(a1)
    a2 = np.dot(z1, W2) + b2
    return z1, softmax_unchecked(a2)
