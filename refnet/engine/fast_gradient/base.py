"""What every network-aware evaluation starts from: the stored steps and the unperturbed pass."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..._checks import PARAM_NAMES
from ...activations import sigmoid, softmax
from ..stencil import CENTRAL, points

# What this private module offers the rest of refnet (no reference page renders it).
__all__ = ["LARGEST_CHANGE", "STENCIL", "Base", "Moves", "OutOfRange", "is_one_hot", "moves"]

#: The scheme of TwoLayerNet.numerical_gradient.  Every formula of the package is written
#: for any stencil whose weights sum to 0 (a loss *difference* is evaluated), as the
#: central one's do.
STENCIL = CENTRAL

#: The largest change of a pre-activation or a logit the difference formulas are used
#: for.  Up to 1, expm1 cannot overflow and 1 + r >= 1/e keeps its relative accuracy.  At
#: the book's h = 1e-4 a logit moves by at most h max|x| max|W2| / 4: |W2| would need to
#: exceed 40,000 (for |x| <= 1) to get there.  Larger changes raise OutOfRange.
LARGEST_CHANGE = 1.0


class OutOfRange(ValueError):
    """A perturbation moves a pre-activation or a logit by more than ``LARGEST_CHANGE``.

    TwoLayerNet.numerical_gradient then computes the same quotients with the loop.
    """


@dataclass(frozen=True)
class Moves:
    """The stored changes of every parameter, stacked by layer, and bounds on their effects.

    ``layer1`` (O, D+1, H) holds [W1; b1] and ``layer2`` (O, H+1, K) holds [W2; b2], one
    slice per non-zero offset of the stencil, whose weight is in ``weights``.
    ``pre_activation`` bounds |x d| over layer 1 (b1 counts as an input of 1), ``logit``
    the change of any logit, ``layer2_logit`` that of a logit moved by W2 or b2 (z d,
    0 < z < 1, or d), ``max_w2`` is max |W2|.
    """

    layer1: np.ndarray
    layer2: np.ndarray
    weights: np.ndarray
    pre_activation: float
    logit: float
    layer2_logit: float
    max_w2: float


def moves(originals, steps, x) -> Moves:
    """The stored changes of every parameter (see `Moves`).

    Raises OutOfRange where a change could exceed ``LARGEST_CHANGE``.
    """
    offsets = [o for o in STENCIL.offsets if o]
    weights = np.array([w for o, w in zip(STENCIL.offsets, STENCIL.weights, strict=True) if o])
    # The loop stores theta + offset*h in the parameter's dtype and evaluates the loss at
    # that stored point: the change it sees is the stored value minus theta (exact when
    # |theta| >= h, by Sterbenz's lemma; otherwise within half an ulp of the step).
    changes = {}
    for name, value in originals.items():
        moved = points(value, steps[name], offsets)
        changes[name] = [moved[o].astype(np.float64) - value.astype(np.float64) for o in offsets]
    d_max = {
        name: max(float(np.max(np.abs(m), initial=0.0)) for m in changes[name]) for name in changes
    }
    max_w2 = float(np.max(np.abs(originals["W2"]), initial=0.0))
    # Bounds on the changes: a1 by |x| d (b1: d); z by a quarter of that (σ' <= 1/4), at
    # most 1; a logit by |Δz| |W2| (layer 1) or |z| d <= d (layer 2).
    pre_activation = max(float(np.max(np.abs(x), initial=0.0)) * d_max["W1"], d_max["b1"])
    hidden = min(1.0, pre_activation / 4)
    layer2_logit = max(d_max["W2"], d_max["b2"])
    logit = max(hidden * max_w2, layer2_logit)
    if max(pre_activation, logit) > LARGEST_CHANGE:
        raise OutOfRange(
            f"the steps move a pre-activation by up to {pre_activation:.3g} and a logit "
            f"by up to {logit:.3g}: beyond {LARGEST_CHANGE}, the network-aware formulas "
            "are not used"
        )
    layer1 = np.stack(
        [
            np.concatenate([w1, b1[None, :]])
            for w1, b1 in zip(changes["W1"], changes["b1"], strict=True)
        ]
    )
    layer2 = np.stack(
        [
            np.concatenate([w2, b2[None, :]])
            for w2, b2 in zip(changes["W2"], changes["b2"], strict=True)
        ]
    )
    return Moves(layer1, layer2, weights, pre_activation, logit, layer2_logit, max_w2)


class Base:
    """The unperturbed forward pass of a batch and the target data every evaluation reads.

    Attributes: ``x`` (N, D) and ``x_aug`` (N, D+1, with the 1 that b1 multiplies), ``a1``
    and ``z1`` (N, H), ``y`` (N, K) the softmax, ``W2``; ``labels`` and then ``t`` (N,)
    or ``targets`` (N, K); ``ratio``, p_t / (p_t + δ) (N,) for labels or p_k / (p_k + δ)
    where t_k > 0 (N, K) for probability rows: how much of a change of p the log sees.
    """

    def __init__(self, params, x, t, labels, delta, first_sample=0):
        W1, b1, W2, b2 = (np.asarray(params[k], dtype=np.float64) for k in PARAM_NAMES)
        self.x = np.asarray(x, dtype=np.float64)
        self.n = self.x.shape[0]
        self.x_aug = np.concatenate([self.x, np.ones((self.n, 1))], axis=1)
        self.W2 = W2
        self.a1 = self.x @ W1 + b1
        self.z1 = sigmoid(self.a1)
        self.y = softmax(self.z1 @ W2 + b2)
        self.classes = W2.shape[1]
        t = np.asarray(t)
        if not labels and is_one_hot(t):
            # -sum_k t_k log(y_k + delta) has a single non-zero term per exactly one-hot
            # row, so the loss is bit-for-bit the label form's.
            t, labels = np.argmax(t, axis=1), True
        self.labels = labels
        with np.errstate(divide="ignore", invalid="ignore"):
            if labels:
                self.t = t.astype(np.intp)
                y_t = self.y[np.arange(self.n), self.t]
                self.ratio = y_t / (y_t + delta)
                bad = y_t + delta == 0
            else:
                self.targets = np.asarray(t, dtype=np.float64)  # (N, K)
                self.ratio = np.where(self.targets > 0, self.y / (self.y + delta), 0.0)
                bad = np.any((self.targets > 0) & (self.y + delta == 0), axis=1)
        if np.any(bad):
            n = first_sample + int(np.argmax(bad))
            raise ValueError(
                f"the loss is infinite at these parameters: sample {n} puts probability 0 "
                "(in float64) on its target class and delta=0, so log(0) = -inf; the "
                "difference quotient is undefined (use delta > 0)"
            )


def is_one_hot(t: np.ndarray) -> bool:
    """Whether every row of ``t`` is exactly one 1 and zeros."""
    return bool(np.all((t == 0) | (t == 1)) and np.all(np.sum(t == 1, axis=1) == 1))
