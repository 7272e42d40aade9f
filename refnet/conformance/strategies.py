"""Hypothesis strategies of the suite, named as nouns.

Shapes are small on purpose: every new shape costs the JAX oracle a compilation, so
ranks go from 0 to 4 and sides from 1 to 3 (121 shapes in all).  Values are drawn
where the functions are well conditioned, and that is a choice, stated per strategy:
the suite tests that refnet computes what the error model says it should, and
ill-conditioned inputs (a softmax saturated to 0/1, a step lost in x + h, exp near
overflow) are covered by targeted tests of their own rather than hidden behind loose
tolerances here.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .functions import ModelProblem

__all__ = [
    "array_shapes",
    "finite_arrays",
    "labels",
    "model_problems",
    "nonzero_arrays",
    "one_hot_labels",
    "parameter_vectors",
    "probability_rows",
    "spd_matrices",
    "two_layer_params",
]


def array_shapes(min_dims: int = 0, max_dims: int = 4, max_side: int = 3):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side)


def finite_arrays(shape, low: float, high: float, dtype=np.float64):
    """Arrays of the given shape (or shape strategy) with every element in [low, high]."""
    elements = st.floats(
        low, high, allow_nan=False, allow_infinity=False, width=np.dtype(dtype).itemsize * 8
    )
    return hnp.arrays(dtype, shape, elements=elements)


@st.composite
def probability_rows(draw, batch=None, classes=None, min_prob: float = 0.0):
    """Softmax outputs: rows in [0, 1] summing to 1, shape (batch, classes) or (classes,).

    Built as the softmax of logits in [-8, 8], so no entry is below about 1e-7 of its row
    (log(y + delta) stays in the range where the loss and its comparison are well defined);
    ``min_prob`` raises that floor further where a test needs it.
    """
    if classes is None:
        classes = draw(st.integers(2, 6), label="classes")
    shape = (classes,) if batch is None else (batch, classes)
    logits = draw(finite_arrays(shape, -8.0, 8.0), label="logits")
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    y = e / e.sum(axis=-1, keepdims=True)
    if min_prob:
        y = (y + min_prob) / (1 + classes * min_prob)
    return y


def labels(batch, classes):
    """Integer class labels, shape () for ``batch=None`` else (batch,)."""
    shape = () if batch is None else (batch,)
    return hnp.arrays(np.int64, shape, elements=st.integers(0, classes - 1))


def one_hot_labels(label_array: np.ndarray, classes: int) -> np.ndarray:
    """The one-hot float64 rows of integer labels (a plain function: no drawing)."""
    return np.eye(classes)[label_array]


def spd_matrices(n: int, low_eig: float = 0.5, high_eig: float = 2.0):
    """Symmetric positive definite n x n matrices with eigenvalues in [low_eig, high_eig]."""

    @st.composite
    def build(draw):
        eigs = draw(finite_arrays((n,), low_eig, high_eig), label="eigenvalues")
        seed = draw(st.integers(0, 2**32 - 1), label="rotation seed")
        q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
        return (q * eigs) @ q.T

    return build()


def nonzero_arrays(shape, low: float, high: float):
    """Arrays whose every element has magnitude in [low, high] (0 < low), either sign."""
    magnitudes = finite_arrays(shape, low, high)
    signs = hnp.arrays(np.bool_, shape)
    return st.tuples(magnitudes, signs).map(lambda pair: np.where(pair[1], -pair[0], pair[0]))


@st.composite
def two_layer_params(
    draw, max_side: int = 4, weight: float = 1.0, min_classes: int = 2, bias_floor: float = 0.0
):
    """Sizes, weights, inputs and labels for a TwoLayerNet small enough for the oracle.

    Weights and inputs in [-weight, weight]; with ``weight = 1`` and hidden <= 4 every logit
    lies in [-5, 5], so every softmax probability is >= e^-10 / K: far from saturation.
    With ``bias_floor > 0`` no entry of b1 or b2 is smaller than that in magnitude, so a
    bias that is misused cannot hide behind a zero (the book initialises both to zeros).
    """
    n = draw(st.integers(1, max_side), label="batch")
    d = draw(st.integers(1, max_side), label="input_size")
    hidden = draw(st.integers(1, max_side), label="hidden_size")
    k = draw(st.integers(min_classes, max_side), label="output_size")
    params = {
        "W1": draw(finite_arrays((d, hidden), -weight, weight), label="W1"),
        "b1": draw(_biases((hidden,), weight, bias_floor), label="b1"),
        "W2": draw(finite_arrays((hidden, k), -weight, weight), label="W2"),
        "b2": draw(_biases((k,), weight, bias_floor), label="b2"),
    }
    x = draw(finite_arrays((n, d), -1.0, 1.0), label="x")
    t = draw(labels(n, k), label="t")
    return params, x, t


def _biases(shape, weight, floor):
    if floor > 0:
        return nonzero_arrays(shape, floor, weight)
    return finite_arrays(shape, -weight, weight)


@st.composite
def model_problems(draw, kind: str):
    """Data and parameter shapes for a model loss of functions.py."""
    n = draw(st.integers(1, 4), label="batch")
    d = draw(st.integers(1, 4), label="inputs")
    k = draw(st.integers(2, 4), label="outputs")
    x = draw(finite_arrays((n, d), -1.0, 1.0), label="x")
    if kind.endswith("ce"):
        t = one_hot_labels(draw(labels(n, k), label="labels"), k)
    else:
        t = draw(finite_arrays((n, k), -1.0, 1.0), label="targets")
    if kind.startswith("linear"):
        shapes: tuple[tuple[int, ...], ...] = ((d, k),)
    else:
        hidden = draw(st.integers(1, 4), label="hidden")
        shapes = ((d, hidden), (hidden,), (hidden, k), (k,))
    return ModelProblem(x, t, shapes)


def parameter_vectors(problem: ModelProblem, weight: float = 1.0):
    return finite_arrays((sum(problem.sizes),), -weight, weight)
