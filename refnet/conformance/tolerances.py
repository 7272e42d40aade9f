"""Tolerances of the suite, each derived from the error model of what it compares.

No tolerance here is a number chosen until a test passed.  Each is a formula, with
the model it comes from stated beside it, so that a reader can check it and a test
that exceeds it points at a real error.

The central difference D(h) = (f(x + h) - f(x - h)) / 2h of a function with a
continuous third derivative satisfies, elementwise,

    D(h) - f'(x) = h² f'''(ξ) / 6               for some ξ in [x - h, x + h]  (truncation)

and each evaluation of f in floating point carries an absolute rounding error of at
most k ε S, where S is the sum of the absolute values of the terms f adds up (its
"magnitude") at the perturbed points, so at |x| + h, and k a small count of rounding
stages.  The difference of two such evaluations, divided by 2h, contributes at most
k ε S / h (round-off).  The perturbed coordinate x ± h is itself rounded when stored,
by at most ε |x ± h| / 2, which moves f by |f'| times that: ε |f'| (|x| + h) / 2h more
(we allow twice that, for f' varying across the stencil).  So

    |D(h) - f'(x)| <= h² M3 / 6 + k ε S / h + ε |f'| (|x| + h) / h,
    M3 = max |f'''| on [x - h, x + h].

The bound is not scaled by the number of elements: S is the magnitude of the sum, which
is what rounding acts on (JAX's test utilities scale by size; we do not).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "EPS",
    "ROUNDING_STAGES",
    "affine_error",
    "central_difference_bound",
    "descent_bound",
    "forward_difference_bound",
    "same_formula_bound",
    "sigmoid_bound",
    "softmax_bound",
    "softmax_cross_entropy_bound",
    "two_layer_logit_error",
    "stencil_reach",
    "scheme_bound",
    "complex_step_bound",
    "fast_vs_loop_bound",
    "reorganised_difference_bound",
    "STENCILS",
]

#: Machine epsilon (spacing of 1.0) per dtype.
EPS = {np.dtype(d): float(np.finfo(d).eps) for d in (np.float64, np.float32, np.float16)}

#: k above: rounding stages per evaluation of the suite's functions.  Each does at most
#: a handful of elementwise operations (each <= 1/2 ulp), then a pairwise sum of at most
#: 81 terms (NumPy's pairwise summation: <= log2(81) < 7 stages), then perhaps a log or
#: exp (<= 1 ulp each).  8 + 7 + 1 = 16 covers every function in functions.py.
ROUNDING_STAGES = 16


def central_difference_bound(
    h: float, third_derivative_bound, magnitude, slope=0.0, x=0.0, dtype=np.float64
):
    """Elementwise bound on |central difference - exact derivative| (see module docstring).

    ``magnitude`` is S at |x| + h; ``slope`` is |f'| across the stencil (the oracle's
    gradient at x serves in float64, where the h |f''| it misses costs ε |f''| (|x| + h),
    far below the round-off term), ``x`` the point.
    """
    eps = EPS[np.dtype(dtype)]
    truncation = h**2 * np.asarray(third_derivative_bound) / 6
    roundoff = ROUNDING_STAGES * eps * np.asarray(magnitude) / h
    placement = eps * np.abs(slope) * (np.abs(x) + h) / h
    return truncation + roundoff + placement


def forward_difference_bound(h: float, second_derivative_bound, magnitude, dtype=np.float64):
    """Same for (f(x + h) - f(x)) / h: truncation h M2 / 2, round-off 2 k ε S / h."""
    eps = EPS[np.dtype(dtype)]
    return (
        h * np.asarray(second_derivative_bound) / 2
        + 2 * ROUNDING_STAGES * eps * np.asarray(magnitude) / h
    )


def same_formula_bound(n_terms: int, magnitude, dtype=np.float64):
    """Two implementations of the same closed formula (a loss value, a backprop gradient).

    Each result is a sum of at most ``n_terms`` terms, each computed with a few correctly
    rounded operations (log, exp, products: <= 4 ulps per term, a bound we take from the
    accuracy of libm/XLA log and exp, both within 1 ulp).  A sum of n terms accumulated in
    any order errs by at most (n - 1) ε Σ|terms| (Higham, Accuracy and Stability, 4.2); the
    two results may err in opposite directions, hence the factor 2.
    """
    eps = EPS[np.dtype(dtype)]
    return 2 * (n_terms - 1 + 4) * eps * np.asarray(magnitude)


def descent_bound(step_num: int, lr: float, gradient_error_norm: float):
    """Distance after ``step_num`` steps between descent on numerical and exact gradients.

    For convex f with an L-Lipschitz gradient and lr <= 2 / L, the step x -> x - lr ∇f(x)
    is non-expansive in the 2-norm, so an error e_k in the k-th gradient moves the result
    by at most lr ||e_k||; errors add up: ||d|| <= lr Σ_k ||e_k|| <= step_num lr E, where E
    bounds ||e_k||₂ (sqrt(n) times the elementwise bound).  The final subtraction of
    the iterates adds rounding of order ε |x|, included by the caller where it matters.
    """
    return step_num * lr * gradient_error_norm


def sigmoid_bound(expected, dtype=np.float64):
    """Elementwise bound on |target - oracle| for the logistic function 1 / (1 + exp(-x)).

    With that formula the negation is exact, exp errs by <= 1 ulp, the sum and the
    quotient by 1/2 ulp each: <= 2 ε relative, and we allow 4 ε (libm's exp may be 2 ulps
    off) per implementation, 8 ε |σ| for two.  The other common form, 0.5 (1 + tanh(x/2)),
    is accurate to about ε absolutely but not relatively where σ is tiny (1 + tanh cancels):
    the absolute 2 ε admits it.
    """
    eps = EPS[np.dtype(dtype)]
    return 8 * eps * np.abs(np.asarray(expected)) + 2 * eps


def softmax_bound(logits, expected, dtype=np.float64):
    """Elementwise bound on |target - oracle| for the softmax over the last axis.

    Per entry, relative: shifting by the row maximum rounds the exponent by <= ε |a - max|/2,
    which exp turns into the same relative error; exp itself <= 1 ulp; the sum of K terms
    <= (K - 1) ε; the quotient 1/2 ulp.  ``same_formula_bound`` with K terms and magnitude
    1 + |a - max| covers that for two implementations; an unshifted implementation (exact
    exponents) is only more accurate.  The absolute ε covers entries that underflow to 0.
    """
    logits = np.asarray(logits, dtype=np.float64)
    spread = np.abs(logits - logits.max(axis=-1, keepdims=True))
    relative = same_formula_bound(logits.shape[-1], 1.0 + spread, dtype)
    return relative * np.abs(np.asarray(expected)) + EPS[np.dtype(dtype)]


def affine_error(x, W, b=None, dtype=np.float64) -> float:
    """Bound on the rounding error of every entry of ``x @ W (+ b)``.

    A dot product of n terms in floating point errs by at most n ε Σ|terms| (Higham,
    Accuracy and Stability, 3.1, to first order), whatever the order of summation; the
    bias is one more term.
    """
    x, W = np.atleast_2d(np.abs(np.asarray(x, dtype=np.float64))), np.abs(np.asarray(W))
    terms = x @ W
    n = W.shape[0]
    if b is not None:
        terms = terms + np.abs(np.asarray(b))
        n += 1
    return n * EPS[np.dtype(dtype)] * float(np.max(terms))


def two_layer_logit_error(params, x, dtype=np.float64) -> float:
    """Bound on the rounding error of the logits sigmoid(x W1 + b1) W2 + b2 of TwoLayerNet.

    The first affine layer errs by e1 = affine_error(x, W1, b1); the sigmoid, whose slope is
    at most 1/4, passes on e1 / 4 and adds 4 ε (its own relative error, see sigmoid_bound,
    on values <= 1).  The second layer adds its own affine_error (with z <= 1, so computed
    at z = 1 as a bound) and multiplies the error of z by at most max_k Σ_j |W2_jk|.
    """
    eps = EPS[np.dtype(dtype)]
    W1, b1, W2, b2 = (np.asarray(params[k], dtype=np.float64) for k in ("W1", "b1", "W2", "b2"))
    e_z = affine_error(x, W1, b1, dtype) / 4 + 4 * eps
    ones = np.ones((1, W2.shape[0]))
    return affine_error(ones, W2, b2, dtype) + float(np.max(np.sum(np.abs(W2), axis=0))) * e_z


def softmax_cross_entropy_bound(logit_error, logits, loss, dtype=np.float64) -> float:
    """Bound on |target - oracle| for the mean over samples of -log(softmax(a)_t + δ).

    Per sample, for one implementation:

    * logits off by at most e each move the loss by at most 2 e: ∂L/∂a_k is
      p_t / (p_t + δ) (p_k - [k = t]), whose absolute values sum to at most 2;
    * softmax from the computed logits errs relatively by at most ε (spread + K + 2)
      (see softmax_bound; spread = max a - min a of the row), the + δ by ε/2, and a relative
      error r of the log's argument moves the log by at most r; the log adds ε |L|;
    * the mean of N losses adds (N - 1) ε Σ L_n / N and a rounding of the quotient.

    So one implementation errs by 2 e + ε (spread + K + 3) + (N + 1) ε L; two by twice that.
    ``loss`` is the oracle's (mean) loss, ``logits`` the (N, K) or (K,) logits.
    """
    eps = EPS[np.dtype(dtype)]
    logits = np.atleast_2d(np.asarray(logits, dtype=np.float64))
    batch, classes = logits.shape
    spread = float(np.max(logits.max(axis=1) - logits.min(axis=1)))
    one = 2 * logit_error + eps * (spread + classes + 3) + (batch + 1) * eps * abs(loss)
    return 2 * one


# -- every difference scheme ------------------------------------------------------------------
#
# The stencils as textbooks write them (offsets in units of h, weights, divisor, order),
# typed here independently of the implementation so that a wrong table there is caught.
# A scheme D(h) = Σ_j w_j f(x + o_j h) / (d h) of order p errs elementwise by at most
#
#     h^p Σ_j |w_j| |o_j|^(p+1) M_(p+1) / (d (p+1)!)                      (truncation)
#     + Σ_j |w_j| k ε S / (d h)                                              (round-off)
#     + Σ_j |w_j| ε |f'| (|x| + |o_j| h) / (d h)                             (placement)
#
# (Taylor with the Lagrange remainder at each stencil point; each f value rounded by
# k ε S; each perturbed coordinate rounded by ε |x + o_j h| / 2, taken twice for f'
# varying across the stencil.)  For the central difference this is the bound above.

STENCILS = {
    "forward": ((1.0, 0.0), (1.0, -1.0), 1.0, 1),
    "backward": ((0.0, -1.0), (1.0, -1.0), 1.0, 1),
    "central": ((1.0, -1.0), (1.0, -1.0), 2.0, 2),
    # (-f(x+2h) + 8f(x+h) - 8f(x-h) + f(x-2h)) / 12h, error -h⁴ f⁽⁵⁾ / 30
    "five_point": ((2.0, 1.0, -1.0, -2.0), (-1.0, 8.0, -8.0, 1.0), 12.0, 4),
    # (64 C(h/4) - 20 C(h/2) + C(h)) / 45 with C(s) = (f(x+s) - f(x-s)) / 2s, error h⁶ f⁽⁷⁾ / 322560
    "richardson": (
        (1.0, 0.5, 0.25, -0.25, -0.5, -1.0),
        (1.0, -40.0, 256.0, -256.0, 40.0, -1.0),
        90.0,
        6,
    ),
}


def stencil_reach(scheme: str, h):
    offsets = STENCILS[scheme][0]
    return max(abs(o) for o in offsets) * np.asarray(h)


def scheme_bound(scheme, h, derivative_bound, magnitude, slope=0.0, x=0.0, dtype=np.float64):
    """Elementwise bound on |D(h) - f'| for a scheme of STENCILS (see above).

    ``derivative_bound`` is M_(p+1) over the stencil's reach, ``magnitude`` S there,
    ``h`` a number or an array of per-element steps.
    """
    offsets, weights, divisor, p = STENCILS[scheme]
    eps = EPS[np.dtype(dtype)]
    h = np.asarray(h, dtype=np.float64)
    absw = [abs(w) for w in weights]
    moment = sum(a * abs(o) ** (p + 1) for a, o in zip(absw, offsets, strict=True))
    truncation = h**p * moment * np.asarray(derivative_bound) / (divisor * math.factorial(p + 1))
    roundoff = sum(absw) * ROUNDING_STAGES * eps * np.asarray(magnitude) / (divisor * h)
    placement = sum(
        a * eps * np.abs(slope) * (np.abs(x) + abs(o) * h)
        for a, o in zip(absw, offsets, strict=True)
    ) / (divisor * h)
    return truncation + roundoff + placement


def complex_step_bound(h, third_derivative_bound, gradient_terms, dtype=np.float64):
    """Elementwise bound on |Im f(x + ih) / h - f'| for f analytic near x.

    Truncation: Im f(x + ih) / h = f' - h² f''' / 6 + ...; M3 from the real line is
    doubled to cover |f'''| on the complex disc of radius h (the steps used here are
    ~1e-16 |x|, where any such factor leaves the term below 1e-30).  Round-off: k ε G,
    G the sum of the absolute terms of ∂f/∂x_i (no division by h: nothing cancels).
    """
    eps = EPS[np.dtype(dtype)]
    h = np.asarray(h, dtype=np.float64)
    return h**2 * 2 * np.asarray(third_derivative_bound) / 6 + ROUNDING_STAGES * eps * np.asarray(
        gradient_terms
    )


# -- a reorganised computation of the same central difference --------------------------------
#
# The fast paths (numerical_gradient(..., vectorized=True), TwoLayerNet's method="fast")
# evaluate the loss at the very points the reference loop evaluates it at (θ_i ± h, rounded
# as the loop stores it), so the truncation error h² M3 / 6 and the placement error are the
# same real numbers for both and cancel in their difference.  What differs is rounding:
#
# * the loop computes each L(θ ± h e_i) with an absolute error of at most k ε S (S the
#   magnitude above, k = ROUNDING_STAGES); the difference of two, over 2h: k ε S / h;
# * the network-aware path never forms L(θ ± h e_i): it computes each sample's loss change
#   Δℓ from the unperturbed activations with expm1/log1p, every factor to a few ulps
#   *relative to the change*, plus the shift of the point where that change is taken (the
#   unperturbed activations are themselves rounded, by ε S relative): so its error is a
#   few ε S times the size of the per-sample gradient terms, G, not ε S / h.  With
#   h = 1e-4 that is 10⁴ times smaller than the loop's.
#
# Hence |fast - loop| <= k ε S / h + k ε S G, and |fast - exact central difference| <=
# k ε S G: the second is what a test against an extended-precision evaluation can check.


def fast_vs_loop_bound(h: float, magnitude, gradient_scale, dtype=np.float64):
    """|fast - loop| per entry: the loop's round-off plus the fast path's (see above)."""
    eps = EPS[np.dtype(dtype)]
    return ROUNDING_STAGES * eps * np.asarray(magnitude) * (1.0 / h + np.asarray(gradient_scale))


def reorganised_difference_bound(magnitude, gradient_scale, dtype=np.float64):
    """|fast - exact central difference| per entry: k ε S G, no 1/h (see above)."""
    eps = EPS[np.dtype(dtype)]
    return ROUNDING_STAGES * eps * np.asarray(magnitude) * np.asarray(gradient_scale)
