"""Layer 1 of the network-aware gradient by short series: the fast evaluation.

For a perturbation d of ``W1[i, j]`` (of ``b1[j]``: x = 1) and a sample n, e = x[n, i] d
moves the pre-activation, and every quantity of the loss change is a power series in a
small argument, with coefficients computed once per batch:

* the hidden unit:  ``u = σ(a + e) - σ(a) = Σ_m S_m e^m``,  ``S_m = σ^(m)(a) / m!``;
* the class sum:    ``r = Σ_k p_k expm1(u W2[j, k]) = Σ_m R_m u^m``,
  ``R_m = (W2^m p^T)[j, n] / m!`` (one matrix product per term);
* the target:       ``ρ (Q_t - r) = Σ_m C_m u^m``,  ``C_m = ρ (W2[j, t]^m / m! - R_m)``;
* the loss change:  ``Δℓ = -log1p(v)``,  ``v = ρ (Q_t - r) / (1 + r)``, log1p by its series.

Each series is cut where its remainder is below ε/8 of the scale at which the exact
evaluation (:mod:`refnet.fast_gradient.exact`) rounds (:class:`SeriesPlan`,
:mod:`refnet._series`): the values are the exact ones to rounding, perturbation by
perturbation.  Nothing is expanded in h: every perturbation's loss change is evaluated at
its own stored step, and the difference quotient is formed from those changes.
Probability-row targets add one such target term per class k with some ``t_k > 0``, with
``W2[j, k]``, ``ρ_k = p_k / (p_k + δ)`` and the weight t_k.

The perturbations are laid out as arrays (offset, hidden unit, sample, input), whose
per-(hidden unit, sample) coefficients broadcast along the inputs:

* dense: every input of every sample; the steps broadcast over the samples and x over the
  hidden units, and the sum over samples is an axis sum;
* padded, for sparse x: each sample's non-zero inputs (and the 1 of b1), samples sorted
  by their number of them and padded to the longest of their block with zeros, which
  contribute exactly 0; the steps are gathered and the sums scattered back by input.

The dense layout is used from :data:`DENSE_FROM` non-zero inputs on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._series import (
    class_sum_terms,
    horner,
    log1p_series,
    log1p_terms,
    power_sums,
    sigmoid_difference_coefficients,
    sigmoid_terms,
)

__all__ = ["DENSE_FROM", "WORK_BLOCK", "SeriesPlan", "layer1_series", "series_plan"]

#: Elements of one work array (offsets x hidden units x samples x inputs): 256 KiB, so that
#: the half-dozen arrays of a block stay in the CPU's L2 cache between NumPy calls.
WORK_BLOCK = 1 << 15

#: Work arrays of a block alive at once (for the memory budget).
_LIVE_ARRAYS = 7

#: Share of non-zero inputs (x and the 1 of b1) from which the dense layout is used: below
#: it, the padded layout's gathers and scatters cost less than the zeros the dense one
#: computes.  Measured with benchmarks/numerical_gradient.py --crossover.
DENSE_FROM = 0.5


@dataclass(frozen=True)
class SeriesPlan:
    """Terms of each series: of σ(a + e) - σ(a), of the class sums, of log1p."""

    sigmoid: int
    class_sums: int
    log1p: int


def series_plan(pre_activation: float, max_w2: float):
    """The terms that make every series exact to rounding, or None where none do.

    ``pre_activation`` bounds |e| = |x d| over every perturbation of layer 1, and
    ``max_w2`` is max |W2|.  Then |u| <= |e| / 4 (σ' <= 1/4), every class's argument
    |u W2[j, k]| <= c = |e| max|W2| / 4, |Q_t - r| <= 2 (e^c - 1), 1 + r >= 2 - e^c and
    so |v| <= 2 (e^c - 1) / (2 - e^c) (ρ <= 1).

    Examples
    --------
    >>> series_plan(1e-4, 0.05)  # the book's step and initial weights
    SeriesPlan(sigmoid=4, class_sums=3, log1p=3)
    >>> series_plan(0.05, 10.0) is None  # a large step and large weights: the exact path
    True
    """
    c = pre_activation / 4 * max_w2
    if c >= 0.5:
        return None
    v = 2 * math.expm1(c) / (2 - math.exp(c))
    terms = (sigmoid_terms(pre_activation), class_sum_terms(c), log1p_terms(v))
    if None in terms:
        return None
    return SeriesPlan(*terms)


class _Coefficients:
    """The series' coefficients, (terms, H, N), for the samples in ``order``."""

    def __init__(self, base, plan: SeriesPlan, order):
        a1, y = base.a1[order], base.y[order]
        self.sigmoid = sigmoid_difference_coefficients(a1.T, plan.sigmoid)
        self.class_sums = power_sums(base.W2, y, plan.class_sums)
        # (coefficients, weight per sample or None) for every target term.
        self.targets = []
        if base.labels:
            t = base.t[order]
            self.targets.append((self._target(base.W2[:, t], base.ratio[order]), None))
        else:
            targets, ratio = base.targets[order], base.ratio[order]
            for k in np.flatnonzero(np.any(targets > 0, axis=0)):
                coefficients = self._target(base.W2[:, k, None], ratio[:, k])
                self.targets.append((coefficients, targets[:, k, None]))

    def _target(self, w, ratio):
        """C_m = ρ (w^m / m! - R_m): ρ (Q_t - r) = Σ_m C_m u^m."""
        out = np.empty_like(self.class_sums)
        power = np.ones_like(w)
        for m in range(1, out.shape[0] + 1):
            power = power * w
            np.subtract(power / math.factorial(m), self.class_sums[m - 1], out=out[m - 1])
            out[m - 1] *= ratio
        return out


class _Buffers:
    """One block's work arrays, reused (fresh arrays of this size would cost page faults)."""

    def __init__(self, size):
        self.flat = [np.empty(size) for _ in range(_LIVE_ARRAYS)]

    def take(self, shape):
        size = math.prod(shape)
        return [buffer[:size].reshape(shape) for buffer in self.flat]


def _block_sums(coefficients, plan, weights, e, j, n, work):
    """Σ_o w_o log1p(v_o) (Σ over target terms, weighted) for the block e: (J, samples, inputs)."""
    u, r, A, L, s, term = work
    horner([S[j, n, None] for S in coefficients.sigmoid], e, u)
    horner([R[j, n, None] for R in coefficients.class_sums], u, r)
    r += 1.0
    s = s[0]
    term = term[0]
    for index, (C, weight) in enumerate(coefficients.targets):
        horner([c[j, n, None] for c in C], u, A)
        A /= r
        log1p_series(A, plan.log1p, L)
        out = s if index == 0 else term
        # w_o = ±1 for the central difference: a subtraction, the same bits as w_0 L_0 + w_1 L_1.
        if weights.size == 2 and weights[0] == 1.0 and weights[1] == -1.0:
            np.subtract(L[0], L[1], out=out)
        else:
            np.multiply(L[0], weights[0], out=out)
            for o in range(1, weights.size):
                out += weights[o] * L[o]
        if weight is not None:
            out *= weight[n]
        if index:
            s += out
    return s


def _dense(coefficients, plan, weights, x_aug, steps_T, shape, total, hidden):
    """Every input of every sample; ``total`` (H, D+1) gets the sums over samples."""
    n_off, J, nb, B = shape
    N, P = x_aug.shape
    buffers = _Buffers(math.prod(shape))
    for n0 in range(0, N, nb):
        n = slice(n0, min(N, n0 + nb))
        for i0 in range(0, P, B):
            i = slice(i0, min(P, i0 + B))
            for j0 in range(hidden.start, hidden.stop, J):
                j = slice(j0, min(hidden.stop, j0 + J))
                block = (n_off, j.stop - j.start, n.stop - n.start, i.stop - i.start)
                e, *work = buffers.take(block)
                np.multiply(x_aug[None, None, n, i], steps_T[:, j, None, i], out=e)
                s = _block_sums(coefficients, plan, weights, e, j, n, work)
                total[j, i] += s.sum(axis=1)


class _Padded:
    """Each sample's non-zero inputs, samples sorted by their count (most first), padded.

    ``index`` (N, longest) holds input numbers (the padding: a dummy input ``width - 1``),
    ``x`` the values (padding: 0), ``counts`` the number of non-zero inputs per row.
    """

    def __init__(self, x_aug):
        counts = np.count_nonzero(x_aug, axis=1)  # >= 1: the 1 of b1
        self.order = np.argsort(-counts, kind="stable")
        rows = x_aug[self.order]
        self.counts = counts[self.order]
        self.width = x_aug.shape[1] + 1
        sample, column = np.nonzero(rows)  # row by row, inputs in order
        starts = np.cumsum(self.counts) - self.counts
        position = np.arange(sample.size) - starts[sample]
        self.index = np.full((rows.shape[0], self.counts[0]), self.width - 1)
        self.index[sample, position] = column
        self.x = np.zeros(self.index.shape)
        self.x[sample, position] = rows[sample, column]


def _padded(coefficients, plan, weights, padded, steps_T, shape, total, hidden):
    """The non-zero inputs only; ``total`` (H, D+2, the last a dummy) gets the sums."""
    n_off, J, nb, B = shape
    N = padded.index.shape[0]
    buffers = _Buffers(math.prod(shape))
    # A zero step for the dummy input of the padding.
    steps_Tz = np.concatenate([steps_T, np.zeros(steps_T.shape[:2] + (1,))], axis=2)
    for n0 in range(0, N, nb):
        n = slice(n0, min(N, n0 + nb))
        longest = int(padded.counts[n0])
        index, x = padded.index[n, :longest], padded.x[n, :longest]
        # Flat positions in a (J, width) block of total, per sample and input.
        flat = (np.arange(J) * padded.width)[:, None, None] + index
        for i0 in range(0, longest, B):
            i = slice(i0, min(longest, i0 + B))
            for j0 in range(hidden.start, hidden.stop, J):
                j = slice(j0, min(hidden.stop, j0 + J))
                rows = j.stop - j.start
                e, *work = buffers.take((n_off, rows, n.stop - n.start, i.stop - i.start))
                np.take(steps_Tz[:, j], index[:, i], axis=2, out=e)
                e *= x[:, i]
                s = _block_sums(coefficients, plan, weights, e, j, n, work)
                sums = np.bincount(
                    flat[:rows, :, i].ravel(), weights=s.ravel(), minlength=rows * padded.width
                )
                total[j] += sums.reshape(rows, padded.width)


def block_shape(n_off, hidden, samples, inputs, memory_budget):
    """(offsets, hidden units, samples, inputs) of one block: WORK_BLOCK elements at most,
    and never more than the memory budget for all its work arrays."""
    block = max(1, min(WORK_BLOCK, memory_budget // (8 * _LIVE_ARRAYS)))
    B = min(inputs, max(1, block // n_off))
    nb = min(samples, max(1, block // (n_off * B)))
    J = min(hidden, max(1, block // (n_off * nb * B)))
    return n_off, J, nb, B


def layer1_series(base, plan, d1, weights, memory_budget, workers):
    """Σ_n Σ_o w_o Δℓ_n for every entry of [W1; b1] (shape (D+1, H)), by the series."""
    x_aug = base.x_aug
    n_off, _, H = d1.shape
    steps_T = np.ascontiguousarray(d1.transpose(0, 2, 1))  # (O, H, D+1)
    dense = np.count_nonzero(x_aug) >= DENSE_FROM * x_aug.size
    if dense:
        coefficients = _Coefficients(base, plan, slice(None))
        shape = block_shape(n_off, H, *x_aug.shape, memory_budget)
        total = np.zeros((H, x_aug.shape[1]))

        def run(hidden):
            _dense(coefficients, plan, weights, x_aug, steps_T, shape, total, hidden)

    else:
        padded = _Padded(x_aug)
        coefficients = _Coefficients(base, plan, padded.order)
        shape = block_shape(n_off, H, *padded.index.shape, memory_budget)
        total = np.zeros((H, padded.width))

        def run(hidden):
            _padded(coefficients, plan, weights, padded, steps_T, shape, total, hidden)

    if workers == 1 or H < 2:
        run(slice(0, H))
    else:
        from concurrent.futures import ThreadPoolExecutor

        # Threads share the hidden units: disjoint rows of total, the same arithmetic.
        bounds = np.linspace(0, H, min(workers, H) + 1).astype(int)
        with ThreadPoolExecutor(max_workers=len(bounds) - 1) as pool:
            futures = [
                pool.submit(run, slice(a, b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
            ]
            for future in futures:
                future.result()
    # Δℓ = -log1p(v): the sign, exactly.
    return -total[:, : x_aug.shape[1]].T
