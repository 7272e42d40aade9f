"""The oracle: the chapter's functions in ``jax.numpy``, differentiated by ``jax.grad``.

This is the only place the suite imports JAX.  float64 is switched on here, once,
before anything is traced, and every result is handed back as a NumPy float64 array,
so tests compare NumPy with NumPy.  Functions are jitted: a new input shape costs one
compilation (~0.05 s), a shape seen before ~0.01 s, which is why the strategies keep
the space of shapes small.
"""

from __future__ import annotations

import functools

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402  (after the float64 switch, on purpose)
import numpy as np  # noqa: E402

from .functions import DESCENT_OBJECTIVES, MODEL_LOSSES, SMOOTH_FUNCTIONS, ModelProblem  # noqa: E402

__all__ = [
    "as_numpy",
    "cross_entropy",
    "descent",
    "mean_squared_error",
    "model_gradient",
    "smooth_gradient",
    "softmax",
    "two_layer_gradient",
    "two_layer_loss",
]


def as_numpy(value) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)


# -- smooth functions and model losses -------------------------------------------------


@functools.cache
def _smooth_grad(name: str):
    formula = SMOOTH_FUNCTIONS[name].formula
    return jax.jit(jax.grad(lambda x: formula(jnp, x)))


def smooth_gradient(name: str, x: np.ndarray) -> np.ndarray:
    """∇f(x) for a function of tests/functions.py, by reverse-mode autodiff."""
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


# -- TwoLayerNet -----------------------------------------------------------------------------


def _two_layer_loss(params, x, t, delta):
    a1 = x @ params["W1"] + params["b1"]
    z1 = 1.0 / (1.0 + jnp.exp(-a1))
    y = _softmax(z1 @ params["W2"] + params["b2"])
    return -jnp.sum(t * jnp.log(y + delta)) / x.shape[0]


_two_layer_loss_jit = jax.jit(_two_layer_loss)
_two_layer_grad_jit = jax.jit(jax.grad(_two_layer_loss))


def _jax_params(params):
    return {k: jnp.asarray(v, dtype=jnp.float64) for k, v in params.items()}


def _targets_one_hot(t, classes):
    t = np.asarray(t)
    if t.ndim == 1:
        t = np.eye(classes)[t]
    return jnp.asarray(t, dtype=jnp.float64)


def two_layer_loss(params, x, t, delta=1e-7) -> float:
    classes = np.shape(params["W2"])[1]
    return float(
        _two_layer_loss_jit(
            _jax_params(params), jnp.asarray(x), _targets_one_hot(t, classes), delta
        )
    )


def two_layer_gradient(params, x, t, delta=1e-7) -> dict:
    """∂L/∂params of the book's network with cross-entropy(delta), by jax.grad."""
    classes = np.shape(params["W2"])[1]
    grads = _two_layer_grad_jit(
        _jax_params(params), jnp.asarray(x), _targets_one_hot(t, classes), delta
    )
    return {k: as_numpy(v) for k, v in grads.items()}


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
