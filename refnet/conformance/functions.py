"""The smooth functions the suite differentiates, each with its error model.

Every function is written once against an array namespace ``xp`` (NumPy for the
implementation under test, ``jax.numpy`` for the oracle), so the two compute the same
mathematics.  Beside it stand the two numbers the central-difference error bound needs
(tolerances.py): M3, a bound on |∂³f/∂x_i³| over [x_i - h, x_i + h] for every element,
derived by hand in the comments; and S, the magnitude that rounding acts on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DESCENT_OBJECTIVES",
    "LSE_D3",
    "MODEL_LOSSES",
    "ModelProblem",
    "SIGMOID_D1",
    "SIGMOID_D2",
    "SIGMOID_D3",
    "SMOOTH_FUNCTIONS",
    "SmoothFunction",
    "linear_ce",
    "linear_mse",
    "lse_ridge",
    "model_magnitude",
    "model_third_derivative_bound",
    "quadratic",
    "two_layer_ce",
    "two_layer_mse",
    "DERIVATIVE_BOUNDS",
    "GRADIENT_TERMS",
    "sigmoid_derivative_bound",
]

#: max |σ'|, |σ''|, |σ'''| of the logistic sigmoid: σ(1-σ) <= 1/4;
#: σ(1-σ)(1-2σ) peaks at 1/(6√3); σ(1-σ)(1-6σ+6σ²) peaks in magnitude at σ = 1/2: 1/8.
SIGMOID_D1, SIGMOID_D2, SIGMOID_D3 = 0.25, 1 / (6 * math.sqrt(3)), 0.125
#: max |∂³ LSE(z) / ∂z_k³| = max p(1-p)|1-2p| over p in [0, 1] = 1/(6√3).
LSE_D3 = 1 / (6 * math.sqrt(3))


@dataclass(frozen=True)
class SmoothFunction:
    """f: R^shape -> R with what the error bound needs."""

    name: str
    formula: Callable  # formula(xp, x) -> scalar
    third_derivative_bound: Callable  # (x, h) -> array shaped like x
    magnitude: Callable  # x -> float
    low: float  # inputs are drawn from [low, high]: where f is well conditioned
    high: float

    def numpy(self, x):
        return self.formula(np, x)


def _cubic(xp, x):
    # Cross term 0.25 (Σx)² couples the elements; its third derivative is 0.
    return xp.sum(0.5 * x**3 - x**2 + 2.0 * x) + 0.25 * xp.sum(x) ** 2


def _quartic(xp, x):
    flat = xp.reshape(x, (-1,))
    # x_i x_{i+1} (cyclic) couples neighbours; bilinear, so no third derivative.
    return 0.25 * xp.sum(flat**4) + 0.5 * xp.sum(flat * xp.roll(flat, 1))


def _trigonometric(xp, x):
    return xp.sum(xp.sin(3.0 * x) + xp.cos(x)) + xp.sin(0.25 * xp.sum(x))


def _exponential(xp, x):
    return 0.5 * xp.sum(xp.exp(x - 1.0))


def _log_sum_exp(xp, x):
    # Shift by the maximum so exp never overflows; the shift cancels exactly in real arithmetic.
    m = xp.max(x)
    return m + xp.log(xp.sum(xp.exp(x - m)))


SMOOTH_FUNCTIONS = {
    f.name: f
    for f in [
        # ∂³/∂x_i³ (0.5 x_i³) = 3, the rest has no third derivative.
        SmoothFunction(
            "cubic",
            _cubic,
            lambda x, h: np.full(np.shape(x), 3.0),
            lambda x: float(
                np.sum(0.5 * np.abs(x) ** 3 + x**2 + 2 * np.abs(x)) + 0.25 * np.sum(np.abs(x)) ** 2
            ),
            -2.0,
            2.0,
        ),
        # ∂³/∂x_i³ (x_i⁴ / 4) = 6 x_i, largest at the end of [x - h, x + h].
        SmoothFunction(
            "quartic",
            _quartic,
            lambda x, h: 6.0 * (np.abs(x) + h),
            lambda x: float(
                0.25 * np.sum(np.asarray(x) ** 4)
                + 0.5 * np.sum(np.abs(np.reshape(x, -1) * np.roll(np.reshape(x, -1), 1)))
            ),
            -2.0,
            2.0,
        ),
        # |(sin 3x)'''| <= 27, |(cos x)'''| <= 1, |∂³_i sin(Σx/4)| <= 1/64.
        # Rounding of the arguments 3x and Σx/4 moves sin by <= ε(3|x|) and ε Σ|x|/4.
        SmoothFunction(
            "trigonometric",
            _trigonometric,
            lambda x, h: np.full(np.shape(x), 27.0 + 1.0 + 1 / 64),
            lambda x: float(np.sum(2.0 + 3.25 * np.abs(x)) + 1.0),
            -2.0,
            2.0,
        ),
        # (0.5 e^(x-1))''' = 0.5 e^(x-1) <= 0.5 e^(|x| + h - 1); rounding of x - 1 moves
        # each term by <= its value times ε|x - 1|.
        SmoothFunction(
            "exponential",
            _exponential,
            lambda x, h: 0.5 * np.exp(np.abs(x) + h - 1.0),
            lambda x: float(
                np.sum(0.5 * np.exp(np.asarray(x) - 1.0) * (1.0 + np.abs(np.asarray(x) - 1.0)))
            ),
            -2.0,
            2.0,
        ),
        # ∂³_i LSE = p_i(1 - p_i)(1 - 2p_i), |.| <= 1/(6√3).  Rounding: the shift x - m
        # (<= ε |x - m| per term, and p_i sum to 1), the log of a sum in [1, n], and m.
        SmoothFunction(
            "log_sum_exp",
            _log_sum_exp,
            lambda x, h: np.full(np.shape(x), LSE_D3),
            lambda x: float(np.max(np.abs(x)) * 3 + math.log(max(np.size(x), 1)) + 2.0),
            -5.0,
            5.0,
        ),
    ]
}


# -- models: a loss as a function of one flat parameter vector ---------------------------


@dataclass(frozen=True)
class ModelProblem:
    """Data and shapes for a model loss L(θ) with θ flat; the loss is chosen by name."""

    x: np.ndarray  # (N, D)
    t: np.ndarray  # (N, K) one-hot (CE) or targets (MSE)
    shapes: tuple  # parameter shapes in order

    @property
    def sizes(self):
        return [math.prod(s) for s in self.shapes]

    def unflatten(self, xp, theta):
        parts, start = [], 0
        for shape, size in zip(self.shapes, self.sizes, strict=True):
            parts.append(xp.reshape(theta[start : start + size], shape))
            start += size
        return parts


def _log_softmax(xp, a):
    shifted = a - xp.max(a, axis=-1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))


def _sigmoid(xp, a):
    return 1.0 / (1.0 + xp.exp(-a))


def linear_mse(xp, theta, problem):
    (W,) = problem.unflatten(xp, theta)
    r = problem.x @ W - problem.t
    return 0.5 * xp.sum(r**2) / problem.x.shape[0]


def linear_ce(xp, theta, problem):
    (W,) = problem.unflatten(xp, theta)
    return -xp.sum(problem.t * _log_softmax(xp, problem.x @ W)) / problem.x.shape[0]


def two_layer_mse(xp, theta, problem):
    W1, b1, W2, b2 = problem.unflatten(xp, theta)
    out = _sigmoid(xp, problem.x @ W1 + b1) @ W2 + b2
    return 0.5 * xp.sum((out - problem.t) ** 2) / problem.x.shape[0]


def two_layer_ce(xp, theta, problem):
    W1, b1, W2, b2 = problem.unflatten(xp, theta)
    logits = _sigmoid(xp, problem.x @ W1 + b1) @ W2 + b2
    return -xp.sum(problem.t * _log_softmax(xp, logits)) / problem.x.shape[0]


def model_third_derivative_bound(kind: str, theta: np.ndarray, problem: ModelProblem, h: float):
    """M3 for every element of θ (same layout), derived per parameter group.

    Each loss is a mean over samples of a per-sample loss, so a bound on every sample's
    third derivative bounds the mean's.  Parameters are at most |θ| + h away during the
    difference; we use max|W| + h for the weights below.
    """
    x = np.abs(problem.x)
    xmax3 = np.max(x, axis=0) ** 3  # (D,): max over samples of |x_ni|³
    parts = problem.unflatten(np, np.abs(theta) + h)
    if kind == "linear_mse":
        # L is quadratic in W: no third derivative.
        return np.zeros_like(theta)
    if kind == "linear_ce":
        # W_ij moves logit j of sample n by x_ni: ∂³ = mean_n x_ni³ ∂³_j LSE.
        (W,) = parts
        return np.broadcast_to((xmax3 * LSE_D3)[:, None], W.shape).ravel().copy()
    W1, b1, W2, b2 = parts
    m = np.max(W2, axis=1)  # (H,): m_j = max_k |W2_jk|
    K = W2.shape[1]
    if kind == "two_layer_ce":
        # Per sample, as a function of z_j = σ(a_j): g' = Σ_k (p_k - t_k) W2_jk, so
        # |g'| <= 2 m_j; g'' = Var_p(W2_j·) <= m_j²; g''' is the third central moment of
        # values in [-m_j, m_j]: <= E|X - μ|³ <= 2m_j · m_j² = 2 m_j³.  Faà di Bruno:
        # (g∘σ)''' = g'''σ'³ + 3g''σ'σ'' + g'σ'''.  W1_ij moves a_j by x_ni (cubed).
        inner = 2 * m**3 * SIGMOID_D1**3 + 3 * m**2 * SIGMOID_D1 * SIGMOID_D2 + 2 * m * SIGMOID_D3
        # W2_jk moves logit k by z_j in (0, 1): <= LSE_D3; b2_k likewise.
        w2 = np.full(W2.shape, LSE_D3)
        b2_bound = np.full(b2.shape, LSE_D3)
    elif kind == "two_layer_mse":
        # Output o = z W2 + b2 is linear in W2, b2: L quadratic there, no third derivative.
        # As a function of z_j: g' = Σ_k r_k W2_jk with residual |r_k| <= Σ_j |W2_jk| +
        # |b2_k| + |t_k| =: R, so |g'| <= K m_j R; g'' = Σ_k W2_jk² <= K m_j²; g''' = 0.
        R = np.max(np.sum(W2, axis=0) + b2 + np.max(np.abs(problem.t), axis=0))
        inner = 3 * K * m**2 * SIGMOID_D1 * SIGMOID_D2 + K * m * R * SIGMOID_D3
        w2 = np.zeros(W2.shape)
        b2_bound = np.zeros(b2.shape)
    else:
        raise ValueError(kind)
    w1 = xmax3[:, None] * inner[None, :]
    b1_bound = inner.copy()  # b1_j moves a_j by 1
    return np.concatenate([w1.ravel(), b1_bound.ravel(), w2.ravel(), b2_bound.ravel()])


def model_magnitude(kind: str, theta: np.ndarray, problem: ModelProblem) -> float:
    """S for a model loss: the largest sum of absolute terms any stage rounds.

    The pre-activations and logits are sums of |x||W| + |b| (their rounding is what the
    loss inherits, through log-softmax or the square with Lipschitz constants <= 2 and
    2|r|); the loss itself adds at most log K (CE) or the residuals (MSE).
    """
    x = np.abs(problem.x)
    parts = problem.unflatten(np, np.abs(theta))
    if kind.startswith("linear"):
        (W,) = parts
        out = x @ W
    else:
        W1, b1, W2, b2 = parts
        out = (x @ W1 + b1) @ W2 + W2.sum(axis=0) + b2
    scale = float(np.max(out)) + float(np.max(np.abs(problem.t)))
    if kind.endswith("mse"):
        return 2 * scale * (scale + 1)
    return 2 * scale + math.log(problem.t.shape[1]) + 2


MODEL_LOSSES = {
    "linear_mse": linear_mse,
    "linear_ce": linear_ce,
    "two_layer_mse": two_layer_mse,
    "two_layer_ce": two_layer_ce,
}


# -- objectives for gradient descent: convex, with a known Lipschitz constant of ∇f -------


def quadratic(xp, x, A, b):
    """½ xᵀAx + bᵀx on the flattened x (A symmetric positive definite); ∇f is ||A||-Lipschitz.

    The book's x0² + x1² is the case A = 2I, b = 0.  Central differences of a quadratic
    have no truncation error (f''' = 0): only round-off separates them from ∇f.
    """
    flat = xp.reshape(x, (-1,))
    return 0.5 * flat @ (A @ flat) + b @ flat


def lse_ridge(xp, x, A, b):
    """LSE(x) + ½|x|² + bᵀx: strongly convex; its Hessian diag(p) - ppᵀ + I has norm <= 3/2."""
    flat = xp.reshape(x, (-1,))
    m = xp.max(flat)
    return m + xp.log(xp.sum(xp.exp(flat - m))) + 0.5 * flat @ flat + b @ flat


DESCENT_OBJECTIVES = {"quadratic": quadratic, "lse_ridge": lse_ridge}


# -- higher derivatives, for the schemes beyond the central difference --------------------
#
# A scheme of order p with offsets o_j errs by at most h^p Σ_j|w_j||o_j|^(p+1) M_(p+1) /
# (d (p+1)!) (Taylor's theorem with the Lagrange remainder at every point of the
# stencil; the lower moments cancel), where M_n bounds |∂ⁿf/∂x_iⁿ| on [x_i - r, x_i + r]
# and r = max|o_j| h is the stencil's reach.  forward/backward need M2, five_point M5,
# richardson M7.


def _sigmoid_derivative_polynomial(order: int) -> list[int]:
    """Integer coefficients (in powers of s) of P with σ^(order)(x) = P(σ(x)).

    σ' = s - s² with s = σ(x), and d/dx P(s) = P'(s)(s - s²): the recursion below.
    """
    coefficients = [0, 1, -1]  # σ' = s - s²
    for _ in range(order - 1):
        derivative = [k * c for k, c in enumerate(coefficients)][1:]
        product = [0] * (len(derivative) + 2)
        for k, c in enumerate(derivative):
            product[k + 1] += c  # · s
            product[k + 2] -= c  # · (-s²)
        coefficients = product
    return coefficients


def sigmoid_derivative_bound(order: int) -> float:
    """max |σ^(order)| <= Σ|coefficients of P| (|s^k| <= 1 for s in [0, 1]).

    Crude (2, 6, 26, 150, 1082, 9366 for orders 1 to 6, where the true maxima are
    below 1) but rigorous; at the steps the suite uses, h^p M times the scheme's
    constant stays far below the round-off term anyway.  Order 1 is 1/4 exactly.
    """
    if order == 1:
        return 0.25
    return float(sum(abs(c) for c in _sigmoid_derivative_polynomial(order)))


def _cubic_bound(x, reach, n):
    # ∂²_i = 3x_i - 2 + 1/2 (the cross term 0.25 (Σx)² adds 1/2); nothing above the third.
    if n == 2:
        return 3.0 * (np.abs(x) + reach) + 1.5
    return np.zeros(np.shape(x)) if n > 3 else np.full(np.shape(x), 3.0)


def _quartic_bound(x, reach, n):
    # ∂²_i = 3x_i² (+1 when x has one element: the cyclic product is then x_0²); x⁴ has
    # no fifth derivative.
    if n == 2:
        return 3.0 * (np.abs(x) + reach) ** 2 + 1.0
    return np.zeros(np.shape(x)) if n > 4 else 6.0 * (np.abs(x) + reach)


def _trigonometric_bound(x, reach, n):
    # |∂ⁿ sin 3x| <= 3ⁿ, |∂ⁿ cos x| <= 1, |∂ⁿ_i sin(Σx/4)| <= 4⁻ⁿ.
    return np.full(np.shape(x), 3.0**n + 1.0 + 0.25**n)


def _exponential_bound(x, reach, n):
    # Every derivative of 0.5 e^(x-1) is itself.
    return 0.5 * np.exp(np.abs(x) + reach - 1.0)


def _log_sum_exp_bound(x, reach, n):
    # ∂LSE/∂x_i = σ(x_i - c) with c = log Σ_{j≠i} e^(x_j), so ∂ⁿ_i LSE = σ^(n-1)(x_i - c).
    return np.full(np.shape(x), sigmoid_derivative_bound(n - 1))


#: name -> (x, reach, n) -> bound on |∂ⁿf/∂x_iⁿ| on [x_i - reach, x_i + reach], elementwise.
DERIVATIVE_BOUNDS = {
    "cubic": _cubic_bound,
    "quartic": _quartic_bound,
    "trigonometric": _trigonometric_bound,
    "exponential": _exponential_bound,
    "log_sum_exp": _log_sum_exp_bound,
}


# -- the complex step's round-off ---------------------------------------------------------
#
# Im f(x + ih) / h subtracts nothing: its rounding is a few ε relative to the terms that
# make up ∂f/∂x_i (each operation on the imaginary parts rounds them relatively), plus
# what the rounding of the real parts does to them.  G bounds the sum of the absolute
# values of those terms, elementwise.


def _cubic_terms(x):
    # ∂_i = 1.5x_i² - 2x_i + 2 + 0.5 Σx
    return 1.5 * x**2 + 2 * np.abs(x) + 2 + 0.5 * np.sum(np.abs(x))


def _quartic_terms(x):
    # ∂_i = x_i³ + (x_(i-1) + x_(i+1)) / 2
    return np.abs(x) ** 3 + np.max(np.abs(x), initial=0.0)


def _trigonometric_terms(x):
    # ∂_i = 3 cos 3x_i - sin x_i + cos(Σx/4) / 4; the arguments 3x and Σx/4 round by
    # ε|3x| and ε Σ|x|/4, which moves those terms by as much again.
    return np.full(np.shape(x), 3 + 1 + 0.25) * (1 + 3 * np.abs(x) + np.sum(np.abs(x)) / 4)


def _exponential_terms(x):
    # ∂_i = 0.5 e^(x_i - 1); rounding x - 1 moves it by a relative ε|x - 1|.
    return 0.5 * np.exp(x - 1.0) * (1 + np.abs(x - 1.0))


def _log_sum_exp_terms(x):
    # ∂_i = p_i <= 1, through the shift x - m (rounded by ε|x - m|) and a complex log
    # (atan2 of the imaginary over a real part >= 1).
    return 1.0 + np.abs(x - np.max(x)) + np.log(max(np.size(x), 1)) + 2.0


#: name -> x -> G, elementwise (see above).
GRADIENT_TERMS = {
    "cubic": _cubic_terms,
    "quartic": _quartic_terms,
    "trigonometric": _trigonometric_terms,
    "exponential": _exponential_terms,
    "log_sum_exp": _log_sum_exp_terms,
}
