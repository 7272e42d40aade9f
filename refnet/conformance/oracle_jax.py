"""The oracle's values: the chapter's functions in ``jax.numpy``, differentiated by ``jax.grad``.

oracle.py is the front every check calls, which remembers values; this module computes
them.  This is the only place the suite imports JAX.  float64 is switched on here, once,
before anything is traced, and every result is handed back as a NumPy float64 array,
so tests compare NumPy with NumPy.  Functions are jitted: a new input shape costs one
compilation (~0.05 s), a shape seen before ~0.01 s, which is why the strategies keep
the space of shapes small.
"""

from __future__ import annotations

import functools
from typing import Any

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402  (after the float64 switch, on purpose)
import numpy as np  # noqa: E402

from .functions import DESCENT_OBJECTIVES, MODEL_LOSSES, SMOOTH_FUNCTIONS, ModelProblem  # noqa: E402


def as_numpy(value) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)


# -- smooth functions and model losses -------------------------------------------------


@functools.cache
def _smooth_grad(name: str):
    formula = SMOOTH_FUNCTIONS[name].formula
    return jax.jit(jax.grad(lambda x: formula(jnp, x)))


def smooth_gradient(name: str, x: np.ndarray) -> np.ndarray:
    """∇f(x) for a function of functions.py, by reverse-mode autodiff."""
    return as_numpy(_smooth_grad(name)(jnp.asarray(x, dtype=jnp.float64)))


@functools.partial(jax.jit, static_argnums=(0, 4))
def _model_grad(kind, theta, x, t, shapes):
    problem = ModelProblem(x, t, shapes)
    return jax.grad(lambda th: MODEL_LOSSES[kind](jnp, th, problem))(theta)


def model_gradient(kind: str, theta: np.ndarray, problem: ModelProblem) -> np.ndarray:
    return as_numpy(
        _model_grad(
            kind, jnp.asarray(theta), jnp.asarray(problem.x), jnp.asarray(problem.t), problem.shapes
        )
    )


# -- the chapter's functions -------------------------------------------------------------


@jax.jit
def _softmax(a):
    shifted = a - jnp.max(a, axis=-1, keepdims=True)
    e = jnp.exp(shifted)
    return e / jnp.sum(e, axis=-1, keepdims=True)


def softmax(a) -> np.ndarray:
    return as_numpy(_softmax(jnp.asarray(a, dtype=jnp.float64)))


@jax.jit
def _sigmoid(x):
    return 1.0 / (1.0 + jnp.exp(-x))


def sigmoid(x) -> np.ndarray:
    return as_numpy(_sigmoid(jnp.asarray(x, dtype=jnp.float64)))


@functools.cache
def _sigmoid_derivative(order: int):
    f: Any = _sigmoid
    for _ in range(order):
        f = jax.grad(f)
    return jax.jit(jax.vmap(f))


def sigmoid_derivative(order: int, x) -> np.ndarray:
    """The ``order``-th derivative of the sigmoid at every element of the 1-D ``x``."""
    return as_numpy(_sigmoid_derivative(order)(jnp.asarray(x, dtype=jnp.float64)))


def _one_hot(t, classes):
    return jax.nn.one_hot(t, classes, dtype=jnp.float64)


@jax.jit
def _ce_one_hot(y, t, delta):
    y2, t2 = jnp.atleast_2d(y), jnp.atleast_2d(t)
    return -jnp.sum(t2 * jnp.log(y2 + delta)) / y2.shape[0]


def cross_entropy(y, t, delta=1e-7) -> float:
    """Eq. 4.2 / 4.3 for one-hot targets or integer labels (converted to one-hot here)."""
    y = jnp.asarray(y, dtype=jnp.float64)
    t = np.asarray(t)
    if t.shape != y.shape:
        t = _one_hot(jnp.asarray(t), y.shape[-1])
    return float(_ce_one_hot(y, jnp.asarray(t, dtype=jnp.float64), delta))


@jax.jit
def _mse(y, t):
    y2, t2 = jnp.atleast_2d(y), jnp.atleast_2d(t)
    return 0.5 * jnp.sum((y2 - t2) ** 2) / y2.shape[0]


def mean_squared_error(y, t) -> float:
    """Mean over samples of ½ Σ_k (y_k - t_k)² (refnet's stated batch convention)."""
    y = jnp.asarray(y, dtype=jnp.float64)
    t = np.asarray(t)
    if t.shape != y.shape:
        t = _one_hot(jnp.asarray(t), y.shape[-1])
    return float(_mse(y, jnp.asarray(t, dtype=jnp.float64)))


@jax.jit
def _sse(y, t):
    return 0.5 * jnp.sum((y - t) ** 2)


def sum_squared_error(y, t) -> float:
    """½ Σ (y - t)² over every sample and class (the book's ``0.5 * np.sum((y - t)**2)``)."""
    y = jnp.asarray(y, dtype=jnp.float64)
    t = np.asarray(t)
    if t.shape != y.shape:
        t = _one_hot(jnp.asarray(t), y.shape[-1])
    return float(_sse(y, jnp.asarray(t, dtype=jnp.float64)))


# -- simpleNet: one weight matrix, softmax, cross-entropy -------------------------------------


def _linear_softmax_loss(W, x, t, delta):
    return _ce_one_hot(_softmax(x @ W), t, delta)


_linear_softmax_loss_jit = jax.jit(_linear_softmax_loss)
_linear_softmax_grad_jit = jax.jit(jax.grad(_linear_softmax_loss))


def linear_softmax_loss(W, x, t, delta=1e-7) -> float:
    """Cross-entropy(delta) of softmax(x @ W) against one-hot t (the book's simpleNet.loss)."""
    args = (jnp.asarray(a, dtype=jnp.float64) for a in (W, x, t))
    return float(_linear_softmax_loss_jit(*args, delta))


def linear_softmax_gradient(W, x, t, delta=1e-7) -> np.ndarray:
    args = (jnp.asarray(a, dtype=jnp.float64) for a in (W, x, t))
    return as_numpy(_linear_softmax_grad_jit(*args, delta))


# -- TwoLayerNet -----------------------------------------------------------------------------


#: Every axis of a network (batch, inputs, hidden units, classes) is padded to at least
#: this size, so one compilation serves every network the strategies draw (sides 1 to 4)
#: instead of one per combination of sizes (~0.3 s each).  Padding changes nothing: extra
#: inputs are 0, extra hidden units have zero outgoing weights, extra classes get logit
#: -inf (probability 0, no gradient), extra samples have all-zero targets, and the mean
#: divides by the true batch size.  Sums over the padding add exact zeros.
PADDED_SIDE = 4


def _pad(array, shape):
    out = np.zeros(shape)
    out[tuple(slice(0, side) for side in np.shape(array))] = array
    return out


def _padded(params, x, t=None):
    """Padded float64 params, x (and one-hot t), the class mask and the true sizes."""
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    h, k = np.shape(params["W2"])
    N, D, H, K = (max(PADDED_SIDE, side) for side in (n, d, h, k))
    padded = {
        "W1": _pad(params["W1"], (D, H)),
        "b1": _pad(params["b1"], (H,)),
        "W2": _pad(params["W2"], (H, K)),
        "b2": _pad(params["b2"], (K,)),
    }
    jparams = {key: jnp.asarray(value) for key, value in padded.items()}
    t_padded = None
    if t is not None:
        t = np.asarray(t)
        t_padded = jnp.asarray(_pad(np.eye(k)[t] if t.ndim == 1 else t, (N, K)))
    return jparams, jnp.asarray(_pad(x, (N, D))), t_padded, jnp.arange(K) < k, (n, d, h, k)


def _two_layer_logits(params, x, mask):
    a1 = x @ params["W1"] + params["b1"]
    z1 = 1.0 / (1.0 + jnp.exp(-a1))
    return jnp.where(mask, z1 @ params["W2"] + params["b2"], -jnp.inf)


def _two_layer_loss(params, x, t, mask, n, delta):
    y = _softmax(_two_layer_logits(params, x, mask))
    # Padded classes have y = 0 and t = 0: read them as y = 1 so that log(0 + 0) (delta = 0)
    # cannot turn 0 * -inf into NaN, in the value or in its gradient.
    y = jnp.where(mask, y, 1.0)
    return -jnp.sum(t * jnp.log(y + delta)) / n


_two_layer_logits_jit = jax.jit(_two_layer_logits)
_two_layer_loss_jit = jax.jit(_two_layer_loss)
_two_layer_grad_jit = jax.jit(jax.grad(_two_layer_loss))


def two_layer_logits(params, x) -> np.ndarray:
    """The logits sigmoid(x W1 + b1) W2 + b2, before the softmax, shape (N, K)."""
    jparams, xp, _, mask, (n, _, _, k) = _padded(params, x)
    return as_numpy(_two_layer_logits_jit(jparams, xp, mask))[:n, :k]


def two_layer_loss(params, x, t, delta=1e-7) -> float:
    """The book's network's mean cross-entropy(delta); t one-hot (N, K) or labels (N,)."""
    jparams, xp, tp, mask, (n, _, _, _) = _padded(params, x, t)
    return float(_two_layer_loss_jit(jparams, xp, tp, mask, float(n), delta))


def two_layer_gradient(params, x, t, delta=1e-7) -> dict:
    """∂L/∂params of the book's network with cross-entropy(delta), by jax.grad."""
    jparams, xp, tp, mask, (n, d, h, k) = _padded(params, x, t)
    grads = _two_layer_grad_jit(jparams, xp, tp, mask, float(n), delta)
    sizes = {"W1": (d, h), "b1": (h,), "W2": (h, k), "b2": (k,)}
    return {
        key: as_numpy(value)[tuple(slice(0, side) for side in sizes[key])]
        for key, value in grads.items()
    }


# -- gradient descent ----------------------------------------------------------------------


@functools.cache
def _descent(name):
    objective = DESCENT_OBJECTIVES[name]
    grad = jax.grad(lambda x, A, b: objective(jnp, x, A, b))

    @jax.jit
    def run(x0, A, b, lr, steps):
        return jax.lax.fori_loop(0, steps, lambda _, x: x - lr * grad(x, A, b), x0)

    return run


def descent(name: str, x0, A, b, lr: float, step_num: int) -> np.ndarray:
    """``step_num`` steps of x <- x - lr ∇f(x) with the exact gradient."""
    x0 = jnp.asarray(x0, dtype=jnp.float64)
    return as_numpy(_descent(name)(x0, jnp.asarray(A), jnp.asarray(b), lr, step_num))
