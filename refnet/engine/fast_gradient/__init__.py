"""Network-aware central differences for TwoLayerNet: the reference loop's numbers, reorganised.

The reference (``TwoLayerNet.numerical_gradient(method="loop")``, the book's code) moves
one parameter θ_i to ``θ_i ± h``, runs the whole network on the whole batch, and
divides the difference of the two losses by 2h: 2 forward passes per parameter, 79,520
for the book's 784-50-10 network.  Here every entry is still

    (L(θ + h e_i) - L(θ - h e_i)) / 2h

of the *true* loss (cross-entropy with the book's delta, labels or one-hot targets, the
same h, the parameter stored at the same rounded ``θ_i ± h``), but only what a
perturbation changes is recomputed, from the unperturbed activations, for thousands of
perturbations per NumPy call:

* Moving ``W1[i, j]`` by d changes hidden pre-activation ``a1[n, j]`` by ``x[n, i] d``
  and nothing else in layer 1; samples with ``x[n, i] == 0`` do not change at all.
  ``b1[j]`` is the same with ``x[n, i]`` replaced by 1.
* The hidden unit then moves by ``Δz = σ(a + x d) - σ(a)`` and every logit of that
  sample by ``Δz W2[j, k]``.
* Moving ``W2[j, k]`` (or ``b2[k]``) changes only logit k, by ``z1[n, j] d`` (or ``d``).

The loss change of one sample is then evaluated *as a difference*, never as the
difference of two O(1) losses: with p the unperturbed softmax, ``Q_k = expm1(Δa_k)`` and
``r = Σ_k p_k Q_k``, the new probability of class k is ``p_k (1 + Q_k) / (1 + r)``, so

    Δℓ = -log((p_t' + δ) / (p_t + δ)) = -log1p( p_t / (p_t + δ) · (Q_t - r) / (1 + r) )

exactly (with t the target class; a probability-row target sums such terms).  Both
layers evaluate these by short power series whose remainders are below rounding
(`.series`), where bounds known in advance allow it, and otherwise by expm1 per
class and log1p (`.exact`).  Every factor is computed to a few ulps *relative to the change*, so the fast path's own
rounding error is tiny compared with the reference's, whose losses L(θ ± h e_i) are each
rounded at the level ``ε |L|`` and whose difference therefore carries about ``ε |L| / h``
of absolute error.  The two agree to that level, not bitwise.

Nothing here writes to the parameters: they are read, never perturbed in place, so
they are bit-identical afterwards whatever happens during the call (even a
KeyboardInterrupt).
"""

from __future__ import annotations

import numpy as np

from ..._checks import PARAM_NAMES
from ..stencil import DEFAULT_MEMORY_BUDGET
from .base import STENCIL, Base, OutOfRange, moves
from .exact import layer1_exact, layer2_exact
from .power_series import MAX_TERMS
from .series import layer1_series, layer2_plan, layer2_series, series_plan

# What the engine offers TwoLayerNet.numerical_gradient, its public entry point (no
# reference page renders this package).
__all__ = ["EVALUATIONS", "OutOfRange", "two_layer_numerical_gradient"]

#: ``evaluation=`` choices: the series where their bounds hold, else exact; only one.
EVALUATIONS = ("auto", "series", "exact")


def two_layer_numerical_gradient(
    params,
    x,
    t,
    labels,
    delta,
    steps,
    *,
    memory_budget=DEFAULT_MEMORY_BUDGET,
    workers=1,
    evaluation="auto",
):
    """Central differences of TwoLayerNet's loss for every parameter, network-aware.

    Every argument but ``evaluation`` is trusted: ``TwoLayerNet.numerical_gradient``
    validates them (and refuses a step lost to rounding) before it calls this.

    Parameters
    ----------
    params : mapping
        ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, K), ``b2`` (K,): finite, read, never written.
    x : ndarray, shape (N, D)
        A validated batch.
    t : ndarray
        Integer labels (N,) when ``labels`` is true, else target rows (N, K).
    labels : bool
    delta : float
        The cross-entropy's guard, ``-log(y_t + delta)``.
    steps : mapping
        The step of every parameter element: for each name, a float64 array shaped like
        that parameter.
    memory_budget : int
        Upper bound, in bytes, on the work arrays of one block of perturbations.
    workers : int, default 1
        Threads that share the hidden units of layer 1 (NumPy releases the GIL in its
        loops).  They pay off only on idle cores.  The result is the same bits.
    evaluation : {"auto", "series", "exact"}
        How layer 1's loss changes are evaluated: by series where bounds known in
        advance make them exact to rounding, else exactly (``"auto"``); ``"series"``
        raises ValueError where the bounds do not hold; ``"exact"`` never uses them.

    Returns
    -------
    dict of ndarray
        Same keys, shapes and dtypes as ``params``.

    Raises
    ------
    OutOfRange
        h, x or the weights are so large that a logit would move by more than 1.

    Examples
    --------
    The same quotients as the reference loop, to the loop's round-off (ε |L| / h ≈ 1e-12):

    >>> from refnet import TwoLayerNet
    >>> net = TwoLayerNet(4, 3, 2, weight_init_std=1.0, rng=0)
    >>> x = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.0, 0.3, 0.2]])
    >>> t = np.array([0, 1])
    >>> steps = {name: np.full(p.shape, 1e-4) for name, p in net.params.items()}
    >>> fast = two_layer_numerical_gradient(net.params, x, t, True, 1e-7, steps)
    >>> loop = net.numerical_gradient(x, t, method="loop")
    >>> all(np.allclose(fast[k], loop[k], rtol=0, atol=1e-11) for k in loop)
    True
    """
    if evaluation not in EVALUATIONS:
        raise ValueError(f"evaluation must be one of {EVALUATIONS}, got {evaluation!r}")
    originals = {name: params[name] for name in PARAM_NAMES}
    x = np.asarray(x, dtype=np.float64)
    moved = moves(originals, steps, x)
    plans = _plans(moved, evaluation)
    total1, total2 = _totals(originals, x, t, labels, delta, moved, plans, memory_budget, workers)
    for what, total in (("layer 1", total1), ("layer 2", total2)):
        if not np.all(np.isfinite(total)):
            raise ValueError(
                f"the loss is not finite at some perturbed point of {what}: the difference "
                "quotient is undefined there"
            )
    N, D = x.shape
    H = originals["W2"].shape[0]
    scale = {name: STENCIL.divisor * steps[name] * N for name in PARAM_NAMES}
    result = {
        "W1": total1[:D] / scale["W1"],
        "b1": total1[D] / scale["b1"],
        "W2": total2[:H] / scale["W2"],
        "b2": total2[H] / scale["b2"],
    }
    return {name: result[name].astype(originals[name].dtype) for name in PARAM_NAMES}


def _plans(moved, evaluation):
    """The series' terms for layer 1 and layer 2, None for a layer evaluated exactly."""
    if evaluation == "exact":
        return None, None
    plans = series_plan(moved.pre_activation, moved.max_w2), layer2_plan(moved.layer2_logit)
    if evaluation == "series" and None in plans:
        raise ValueError(
            f"evaluation='series': the steps move a pre-activation by up to "
            f"{moved.pre_activation:.3g} with max|W2| = {moved.max_w2:.3g}, and a logit by "
            f"up to {moved.layer2_logit:.3g} through W2 and b2: beyond what {MAX_TERMS} "
            "terms of the series evaluate exactly to rounding"
        )
    return plans


def _totals(originals, x, t, labels, delta, moved, plans, memory_budget, workers):
    """Σ_n Σ_o w_o Δℓ_n for [W1; b1] (D+1, H) and [W2; b2] (H+1, K).

    Every total is a sum over samples, so a large batch is taken in parts whose
    activations, coefficients and index arrays fit the memory budget (a few words per
    input and hidden unit per sample), and the parts' sums are added.
    """
    plan1, plan2 = plans
    N, D = x.shape
    H, K = originals["W2"].shape
    per_sample = 8 * (4 * (D + 1) + (12 + MAX_TERMS * (2 + K)) * H + 8 * K)
    part = max(1, memory_budget // per_sample)
    total1, total2 = np.zeros((D + 1, H)), np.zeros((H + 1, K))
    for start in range(0, N, part):
        rows = slice(start, start + part)
        base = Base(originals, x[rows], t[rows], labels, delta, first_sample=start)
        layer1 = (moved.layer1, moved.weights, memory_budget, workers)
        if plan1 is None:
            total1 += layer1_exact(base, *layer1)
        else:
            total1 += layer1_series(base, plan1, *layer1)
        layer2 = (moved.layer2, moved.weights, memory_budget)
        if plan2 is None:
            total2 += layer2_exact(base, *layer2)
        else:
            total2 += layer2_series(base, plan2, *layer2)
    return total1, total2
