"""The network-aware gradient by short series: the fast evaluation of both layers.

For a perturbation d of ``W1[i, j]`` (of ``b1[j]``: x = 1) and a sample n, e = x[n, i] d
moves the pre-activation, and every quantity of the loss change is a power series in a
small argument, with coefficients computed once per batch:

* the hidden unit:  ``u = σ(a + e) - σ(a) = Σ_m S_m e^m``,  ``S_m = σ^(m)(a) / m!``;
* the class sum:    ``r = Σ_k p_k expm1(u W2[j, k]) = Σ_m R_m u^m``,
  ``R_m = (p (W2^m)^T)[n, j] / m!`` (one matrix product per term);
* the target:       ``ρ (Q_t - r) = Σ_m C_m u^m``,  ``C_m = ρ (W2[j, t]^m / m! - R_m)``;
* the loss change:  ``Δℓ = -log1p(v)``,  ``v = ρ (Q_t - r) / (1 + r)``, log1p by its series.

Each series is cut where its remainder is below ε/8 of the scale at which the exact
evaluation (`refnet.engine.fast_gradient.exact`) rounds (`series_plan`,
`refnet.engine.fast_gradient.power_series`): the values are the exact ones to rounding, perturbation by
perturbation.  Nothing is expanded in h: every perturbation's loss change is evaluated at
its own stored step, and the difference quotient is formed from those changes.
Probability-row targets add one such target term per class k with some ``t_k > 0``, with
``W2[j, k]``, ``ρ_k = p_k / (p_k + δ)`` and the weight t_k.  Layer 2 (``W2``, ``b2``)
moves a single logit: expm1 of its change and log1p by their series
(`layer2_series`).

Layer 1's perturbations are laid out as arrays (offset, input, sample, hidden unit), whose
per-(sample, hidden unit) coefficients broadcast over the first two axes, contiguously:

* dense: every input of every sample; the steps broadcast over the samples and x over the
  hidden units, and the sum over samples is a matrix-vector product;
* padded, for sparse x: each sample's non-zero inputs (and the 1 of b1), samples sorted
  by their number of them and padded to the longest of their block with zeros, which
  contribute exactly 0; the steps are gathered and the sums scattered back by input.

The dense layout is used from `DENSE_FROM` non-zero inputs on.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .power_series import (
    class_sum_terms,
    horner,
    log1p_series,
    log1p_terms,
    power_sums,
    sigmoid_difference_coefficients,
    sigmoid_terms,
)

# What this private module offers the rest of refnet (no reference page renders it).
__all__ = [
    "DENSE_FROM",
    "PADDED_SAMPLES",
    "WORK_BLOCK",
    "Layer2Plan",
    "SeriesPlan",
    "block_sums",
    "layer1_series",
    "layer2_plan",
    "layer2_series",
    "series_plan",
]

#: Elements of one work array (offsets x hidden units x samples x inputs): 256 KiB, so that
#: the half-dozen arrays of a block stay in the CPU's L2 cache between NumPy calls.
WORK_BLOCK = 1 << 16

#: Work arrays of a block alive at once, in units of the block's size (for the budget).
_LIVE_ARRAYS = 6

#: Samples per block of the padded layout: its rows are padded to the longest of the block,
#: so few samples of similar counts (they are sorted) waste little on padding.
PADDED_SAMPLES = 32

#: Share of non-zero inputs (x and the 1 of b1) from which the dense layout is used: below
#: it, the padded layout's gathers and scatters cost less than the zeros the dense one
#: computes.  benchmarks/numerical_gradient.py times both at every share: on the
#: MNIST-shaped network they crossed between 0.6 and 0.7.
DENSE_FROM = 0.65


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


@dataclass(frozen=True)
class Layer2Plan:
    """Terms of the series of expm1 of a logit's change and of log1p, for W2 and b2."""

    expm1: int
    log1p: int


def layer2_plan(logit_change: float):
    """The terms for layer 2, where a perturbation moves one logit k by |g| <= logit_change.

    Then ``Q = expm1(g)``, ``|Q| <= e^|g| - 1``, and the target term is
    ``v = a Q / (1 + p_k Q)`` with ``|a| = ρ |[k = t] - p_k| <= 1``, so
    ``|v| <= (e^|g| - 1) / (2 - e^|g|)``.

    Examples
    --------
    >>> layer2_plan(1e-4)
    Layer2Plan(expm1=4, log1p=4)
    """
    g = logit_change
    if g >= 0.5:
        return None
    terms = (class_sum_terms(g), log1p_terms(math.expm1(g) / (2 - math.exp(g))))
    if None in terms:
        return None
    return Layer2Plan(*terms)


class _Coefficients:
    """The series' coefficients, (terms, N, H), for the samples in ``order``."""

    def __init__(self, base, plan: SeriesPlan, order):
        self.sigmoid = sigmoid_difference_coefficients(base.a1[order], plan.sigmoid)
        self.class_sums = power_sums(base.W2, base.y[order], plan.class_sums)
        # (coefficients, weight per sample or None) for every target term.
        self.targets = []
        W2T = base.W2.T  # (K, H)
        if base.labels:
            t = base.t[order]
            self.targets.append((self._target(W2T[t], base.ratio[order, None]), None))
        else:
            targets, ratio = base.targets[order], base.ratio[order]
            for k in np.flatnonzero(np.any(targets > 0, axis=0)):
                coefficients = self._target(W2T[k], ratio[:, k, None])
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


#: Work arrays kept between calls, per thread: fresh arrays of a block's size cost page
#: faults on every call (on the development machine, 2.6 ms for six arrays of 800 kB, more
#: than the arithmetic of a digits-sized gradient), and training calls this every iteration.
#: At most six arrays of the largest block used, a few MiB.
_KEPT = threading.local()


class _Buffers:
    """One block's work arrays: four of the block's shape, two without its offset axis."""

    def __init__(self, size):
        kept = getattr(_KEPT, "arrays", [])
        if len(kept) < 6 or kept[0].size < size:
            kept = [np.empty(size) for _ in range(6)]
            _KEPT.arrays = kept
        self.flat, self.half = kept[:4], kept[4:]

    def take(self, shape):
        size, rest = math.prod(shape), math.prod(shape[1:])
        full = [buffer[:size].reshape(shape) for buffer in self.flat]
        return full + [buffer[:rest].reshape(shape[1:]) for buffer in self.half]


def block_sums(coefficients, plan, weights, e, n, j, work):
    """Σ_o w_o log1p(v_o), Σ over the target terms (weighted), for the block e.

    ``e`` (O, inputs, samples n, hidden units j) holds the pre-activation changes; the
    coefficients (samples, hidden units) broadcast over the first two axes, contiguous.
    Returns an array (inputs, samples, hidden units).
    """
    u, A, L, s, term = work
    horner([S[n, j] for S in coefficients.sigmoid], e, u)
    r = horner([R[n, j] for R in coefficients.class_sums], u, e)  # e is spent: its buffer
    r += 1.0
    for index, (C, weight) in enumerate(coefficients.targets):
        horner([c[n, j] for c in C], u, A)
        A /= r
        log1p_series(A, plan.log1p, L)
        out = _combine(weights, L, s if index == 0 else term)
        if weight is not None:
            out *= weight[n]
        if index:
            s += out
    return s


def _dense(coefficients, plan, weights, xT, d1, shape, total, inputs):
    """Every input of every sample, for the inputs in ``inputs`` (a range of blocks).

    ``total`` (D+1, H) gets the sums over samples, taken by a matrix-vector product.
    """
    n_off, B, nb, J = shape
    P, N = xT.shape
    H = d1.shape[2]
    buffers = _Buffers(math.prod(shape))
    ones = np.ones(nb)
    for i0 in inputs:
        i = slice(i0, min(P, i0 + B))
        for n0 in range(0, N, nb):
            n = slice(n0, min(N, n0 + nb))
            for j0 in range(0, H, J):
                j = slice(j0, min(H, j0 + J))
                block = (n_off, i.stop - i.start, n.stop - n.start, j.stop - j.start)
                e, *work = buffers.take(block)
                np.multiply(xT[None, i, n, None], d1[:, i, None, j], out=e)
                s = block_sums(coefficients, plan, weights, e, n, j, work)
                total[i, j] += np.matmul(ones[: block[2]], s)


class _Padded:
    """Each sample's non-zero inputs, samples sorted by their count (most first), padded.

    ``index`` (longest, N) holds input numbers (the padding: a dummy input ``width - 1``),
    ``x`` the values (padding: 0), position by sample; ``counts`` the number of non-zero
    inputs of each sample, in the sorted order.
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
        self.index = np.full((self.counts[0], rows.shape[0]), self.width - 1)
        self.index[position, sample] = column
        self.x = np.zeros(self.index.shape)
        self.x[position, sample] = rows[sample, column]


def _padded(coefficients, plan, weights, padded, d1, shape, total, hidden):
    """The non-zero inputs only, for the hidden units in ``hidden``.

    ``total`` (D+2, H: the last row is the padding's dummy input) gets the sums, scattered
    by input.
    """
    n_off, B, nb, J = shape
    N = padded.index.shape[1]
    H = total.shape[1]
    total_flat = total.reshape(-1)
    buffers = _Buffers(math.prod(shape))
    # A zero step for the dummy input of the padding.
    d1z = np.concatenate([d1[:, :, hidden], np.zeros((n_off, 1, hidden.stop - hidden.start))], 1)
    for n0 in range(0, N, nb):
        n = slice(n0, min(N, n0 + nb))
        longest = int(padded.counts[n0])
        # Positions in equal chunks of at most B (no chunk of a few left over).
        step = -(-longest // -(-longest // B))
        for i0 in range(0, longest, step):
            i = slice(i0, min(longest, i0 + step))
            index = padded.index[i, n]
            for j0 in range(hidden.start, hidden.stop, J):
                j = slice(j0, min(hidden.stop, j0 + J))
                rows = j.stop - j.start
                block = (n_off, i.stop - i.start, n.stop - n.start, rows)
                e, *work = buffers.take(block)
                local = slice(j0 - hidden.start, j.stop - hidden.start)
                # mode="clip": np.take with out= and the default mode="raise" buffers a copy.
                np.take(d1z[:, :, local], index, axis=1, out=e, mode="clip")
                e *= padded.x[None, i, n, None]
                s = block_sums(coefficients, plan, weights, e, n, j, work)
                # Into total[index, j], summed where inputs repeat (ufunc.at, in order).
                flat = index[:, :, None] * H + np.arange(j.start, j.stop)
                np.add.at(total_flat, flat.ravel(), s.ravel())


def _block_elements(memory_budget):
    """Elements of one work array: WORK_BLOCK, or less to keep a block within the budget."""
    return max(1, min(WORK_BLOCK, memory_budget // (8 * _LIVE_ARRAYS)))


def block_shape(n_off, inputs, samples, hidden, memory_budget, most_samples=None):
    """(offsets, inputs, samples, hidden units) of one block: WORK_BLOCK elements at most,
    and never more than the memory budget for all its work arrays.  Hidden units first,
    then samples (up to ``most_samples``), then inputs."""
    block = _block_elements(memory_budget)
    J = min(hidden, max(1, block // n_off))
    nb = min(samples, most_samples or samples, max(1, block // (n_off * J)))
    B = min(inputs, max(1, block // (n_off * nb * J)))
    return n_off, B, nb, J


def layer1_series(base, plan, d1, weights, memory_budget, workers):
    """Σ_n Σ_o w_o Δℓ_n for every entry of [W1; b1] (shape (D+1, H)), by the series."""
    x_aug = base.x_aug
    n_off, P, H = d1.shape
    if np.count_nonzero(x_aug) >= DENSE_FROM * x_aug.size:
        coefficients = _Coefficients(base, plan, slice(None))
        xT = np.ascontiguousarray(x_aug.T)
        shape = block_shape(n_off, P, base.n, H, memory_budget)
        total = np.zeros((P, H))
        starts = np.arange(0, P, shape[1])
        # Workers share the blocks of inputs: disjoint rows of total, the same arithmetic.
        parts: list[Any] = [starts[w::workers] for w in range(min(workers, starts.size))]

        def run(part):
            _dense(coefficients, plan, weights, xT, d1, shape, total, part)

    else:
        padded = _Padded(x_aug)
        coefficients = _Coefficients(base, plan, padded.order)
        shape = block_shape(n_off, padded.counts[0], base.n, H, memory_budget, PADDED_SAMPLES)
        total = np.zeros((padded.width, H))
        # Workers share the hidden units: disjoint columns of total, the same arithmetic.
        bounds = np.linspace(0, H, min(workers, H) + 1).astype(int)
        parts = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

        def run(part):
            _padded(coefficients, plan, weights, padded, d1, shape, total, part)

    if len(parts) == 1:
        run(parts[0])
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=len(parts)) as pool:
            for future in [pool.submit(run, part) for part in parts]:
                future.result()
    # Δℓ = -log1p(v): the sign, exactly.
    return -total[:P]


# -- layer 2: W2 and b2 ----------------------------------------------------------------------


def _combine(weights, L, out):
    """Σ_o w_o L[o] into out; w_o = ±1 for the central difference: a subtraction, the
    same bits as w_0 L_0 + w_1 L_1."""
    if weights.size == 2 and weights[0] == 1.0 and weights[1] == -1.0:
        return np.subtract(L[0], L[1], out=out)
    np.multiply(L[0], weights[0], out=out)
    for o in range(1, weights.size):
        out += weights[o] * L[o]
    return out


def layer2_series(base, plan, d2, weights, memory_budget):
    """Σ_n Σ_o w_o Δℓ_n for every entry of [W2; b2] (shape (H+1, K)), by the series.

    A perturbation g of logit k gives ``p'_c = p_c (1 + [c = k] Q) / (1 + p_k Q)`` with
    ``Q = expm1(g)``, so a target term c has ``v = ρ_c ([c = k] - p_k) Q / (1 + p_k Q)``.
    The work arrays are (O, rows of [W2; b2], K, N); the (K, N) coefficients broadcast.
    """
    n_off, rows, K = d2.shape
    N = base.n
    zT = np.ascontiguousarray(np.concatenate([base.z1, np.ones((N, 1))], axis=1).T)
    pT = np.ascontiguousarray(base.y.T)
    if base.labels:
        own = np.zeros((K, N))
        own[base.t, np.arange(N)] = 1.0
        terms = [(base.ratio * (own - pT), None)]
    else:
        targets = base.targets
        terms = []
        for c in np.flatnonzero(np.any(targets > 0, axis=0)):
            own = np.zeros((K, 1))
            own[c] = 1.0
            terms.append((base.ratio[:, c] * (own - pT), targets[:, c]))
    # Rows of [W2; b2] per block (a batch part holds few enough samples for the budget).
    J = min(rows, max(1, _block_elements(memory_budget) // (n_off * N * K)))
    buffers = _Buffers(n_off * J * N * K)
    expm1 = [1.0 / math.factorial(m) for m in range(1, plan.expm1 + 1)]
    ones = np.ones(N)
    total = np.zeros((rows, K))
    for j0 in range(0, rows, J):
        j = slice(j0, min(rows, j0 + J))
        g, Q, v, L, s, term = buffers.take((n_off, j.stop - j.start, K, N))
        np.multiply(d2[:, j, :, None], zT[None, j, None, :], out=g)
        horner(expm1, g, Q)
        den = np.multiply(Q, pT, out=g)  # g is spent: its buffer
        den += 1.0
        for index, (a, weight) in enumerate(terms):
            np.multiply(Q, a, out=v)
            v /= den
            log1p_series(v, plan.log1p, L)
            out = _combine(weights, L, s if index == 0 else term)
            if weight is not None:
                out *= weight
            if index:
                s += out
        total[j] += np.matmul(s, ones)
    return -total
