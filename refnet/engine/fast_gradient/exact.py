"""The exact evaluation of the loss changes: an expm1 per class, log1p per sample.

For every perturbation of ``W1[i, j]`` (or ``b1[j]``) and every sample n with
``x[n, i] != 0``, the hidden unit's change Δz is computed from the identity
``σ(b + f) - σ(b) = -expm1(-f) σ(b + f) σ(-b)`` (b = |a|, f = sign(a) x d, so that no
exponential overflows), every class's ``Q_k = expm1(Δz W2[j, k])``, their sum
``r = Σ_k p_k Q_k`` and the loss change ``-log1p(ρ (Q_t - r) / (1 + r))``; for layer 2
(``W2``, ``b2``) a single logit moves, one expm1 per perturbation and sample.  This is
the fallback of `refnet.engine.fast_gradient.series` where its series are not known to be
exact to rounding (large steps and weights), and the reference the series are tested
against.

The work is cut into blocks of (input, sample) pairs with ``x[n, i] != 0``, ordered by
input, times hidden units.
"""

from __future__ import annotations

import numpy as np

# What this private module offers the rest of refnet (no reference page renders it).
__all__ = ["layer1_exact", "layer2_exact"]

#: Elements of the largest class-shaped work array (classes x perturbed samples): about
#: 1 MiB, so that a block's arrays stay in the CPU's L2/L3 cache between NumPy calls.
_CACHE_BLOCK = 1 << 17

#: Fewest (input, sample) pairs per block before the block is split by hidden units.
_MIN_PAIRS = 64


class _Fields:
    """What the exact formulas read from the base pass, computed once per base."""

    def __init__(self, base):
        # The sigmoid difference is computed from b = |a1| and the sign, so that exp(-b)
        # never overflows: σ(b + f) - σ(b) = -expm1(-f) σ(b + f) σ(-b), with
        # σ(b + f) = 1 / (1 + E (1 + expm1(-f))), E = exp(-b).
        sign = np.where(base.a1 >= 0, 1.0, -1.0)
        E = np.exp(-np.abs(base.a1))
        self.classes = base.classes
        self.labels = base.labels
        self.ratio = base.ratio
        if base.labels:
            self.t = base.t
        else:
            self.targets = base.targets
        self.yT = np.ascontiguousarray(base.y.T)  # (K, N)
        self.W2T = np.ascontiguousarray(base.W2.T)  # (K, H)
        # Transposed (H, N) copies: the pair blocks gather columns of them.
        self.neg_signT = np.ascontiguousarray(-sign.T)
        self.ET = np.ascontiguousarray(E.T)
        self.one_plus_ET = np.ascontiguousarray(1.0 + self.ET)
        self.factorT = np.ascontiguousarray((-sign * E / (1.0 + E)).T)  # -sign σ(-b)


# -- layer 1: W1 and b1 --------------------------------------------------------------------


def layer1_exact(base, d1, weights, memory_budget, workers):
    """Σ_n Σ_o w_o Δℓ_n for every entry of [W1; b1] (shape (D+1, H))."""
    x_aug = base.x_aug
    base = _Fields(base)
    n_off, rows, H = d1.shape
    K = base.classes
    totalT = np.zeros((H, rows))
    d1T = np.ascontiguousarray(d1.transpose(0, 2, 1))  # (O, H, D+1)
    # Pairs (input i, sample n) with x[n, i] != 0, ordered by i: only those samples move.
    cols, samples = np.nonzero(x_aug.T)
    values = x_aug.T[cols, samples]
    # Class-shaped work arrays hold K x O x J x P elements (J hidden units, P pairs), a
    # few alive at a time: sized for the cache, and never beyond the memory budget.
    block = max(1, min(_CACHE_BLOCK, memory_budget // (8 * 4)))
    jblock = min(H, max(1, block // (K * n_off * _MIN_PAIRS)))
    pairs_per_chunk = max(1, block // (K * n_off * jblock))

    def columns(j_start, j_stop):
        # One work buffer per thread, reused: fresh megabyte arrays would cost page faults.
        buffer = np.empty(K * n_off * min(jblock, j_stop - j_start) * pairs_per_chunk)
        for start in range(0, cols.size, pairs_per_chunk):
            stop = min(cols.size, start + pairs_per_chunk)
            i_p, n_p, x_p = cols[start:stop], samples[start:stop], values[start:stop]
            # Segment starts: the pairs of one input are contiguous.
            first = np.flatnonzero(np.concatenate(([True], i_p[1:] != i_p[:-1])))
            seg_i = i_p[first]
            chunk = _PairChunk(base, i_p, n_p, x_p, j_start, j_stop)
            for j0 in range(j_start, j_stop, jblock):
                j1 = min(j_stop, j0 + jblock)
                s = _layer1_block(base, chunk, d1T, weights, j0, j1, buffer)
                totalT[j0:j1, seg_i] += np.add.reduceat(s, first, axis=1)

    if workers == 1 or H < 2:
        columns(0, H)
    else:
        from concurrent.futures import ThreadPoolExecutor

        bounds = np.linspace(0, H, min(workers, H) + 1).astype(int)
        with ThreadPoolExecutor(max_workers=len(bounds) - 1) as pool:
            futures = [
                pool.submit(columns, a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
            ]
            for future in futures:
                future.result()
    return totalT.T


class _PairChunk:
    """What a block of (input, sample) pairs reads from the base pass, gathered once.

    Arrays are (hidden unit, pair) for hidden units j_start..j_stop (row 0 = j_start).
    """

    def __init__(self, base, i_p, n_p, x_p, j_start, j_stop):
        hidden = slice(j_start, j_stop)
        self.offset = j_start
        self.i_p, self.n_p = i_p, n_p
        self.pg = base.yT[:, n_p]  # (K, P)
        self.neg_sign_x = base.neg_signT[hidden][:, n_p] * x_p  # -sign(a) x
        self.E = base.ET[hidden][:, n_p]
        self.one_plus_E = base.one_plus_ET[hidden][:, n_p]
        self.factor = base.factorT[hidden][:, n_p]
        if base.labels:
            self.ratio = base.ratio[n_p]
            self.t_p = base.t[n_p]
            self._target_index = {}

    def target_index(self, n_off, J):
        """Flat indices of Q[t_n, o, j, p] in a (K, O, J, P) array, cached per shape."""
        if J not in self._target_index:
            size = n_off * J * self.t_p.size
            self._target_index[J] = (
                np.arange(size).reshape(n_off, J, self.t_p.size) + self.t_p * size
            ).reshape(-1)
        return self._target_index[J]


def _layer1_block(base, chunk, d1T, weights, j0, j1, buffer):
    """Σ_o w_o Δℓ for the chunk's pairs and hidden units j0..j1: shape (J, P)."""
    rows = slice(j0 - chunk.offset, j1 - chunk.offset)
    K = base.classes
    d = d1T[:, j0:j1, chunk.i_p]  # (O, J, P): the stored step of W1[i, j] (or b1[j])
    n_off, J, P = d.shape
    # dz = m factor / (1 + E + E m), m = expm1(-sign e), e = x d: computed in place.
    dz = np.multiply(d, chunk.neg_sign_x[rows])
    np.expm1(dz, out=dz)
    denominator = chunk.E[rows] * dz
    denominator += chunk.one_plus_E[rows]
    dz *= chunk.factor[rows]
    dz /= denominator
    # Every logit of the sample moves by Δz W2[j, k]: Q = expm1 of that, class axis first.
    Q = buffer[: K * n_off * J * P].reshape(K, n_off, J, P)
    np.multiply(dz[None], base.W2T[:, None, j0:j1, None], out=Q)
    np.expm1(Q, out=Q)
    if base.labels:
        Qt = Q.reshape(-1).take(chunk.target_index(n_off, J))  # Q at the target class
        r = np.einsum("kojp,kp->ojp", Q, chunk.pg)  # Σ_k p_k Q_k
        # -Δℓ = log1p(ratio (Q_t - r) / (1 + r)), in place; the sign goes into the weights.
        change = Qt.reshape(r.shape)
        change -= r
        change *= chunk.ratio
        r += 1.0
        change /= r
        minus_dl = np.log1p(change, out=change)
    else:
        r = np.einsum("kojp,kp->ojp", Q, chunk.pg)
        minus_dl = -_soft_loss_changes(base, Q, r, chunk.n_p)
    s = -weights[0] * minus_dl[0]
    for o in range(1, n_off):
        s -= weights[o] * minus_dl[o]
    return s


def _soft_loss_changes(base, Q, r, n_index):
    """Δℓ = -Σ_k t_k log1p(p_k / (p_k + δ) (Q_k - r) / (1 + r)) for probability-row targets.

    ``Q`` has the class axis first; ``n_index`` maps the last axis to sample numbers.
    """
    u = r / (1.0 + r)
    total = np.zeros_like(r)
    for k in range(base.classes):
        tk = base.targets[n_index, k]
        rk = base.ratio[n_index, k]
        total -= tk * np.log1p(rk * (Q[k] / (1.0 + r) - u))
    return total


# -- layer 2: W2 and b2 ----------------------------------------------------------------------


def layer2_exact(base, d2, weights, memory_budget):
    """Σ_n Σ_o w_o Δℓ_n for every entry of [W2; b2] (shape (H+1, K))."""
    n_off, rows, K = d2.shape
    N = base.n
    z_aug = np.concatenate([base.z1, np.ones((N, 1))], axis=1)  # (N, H+1): b2 sees 1
    total = np.zeros((rows, K))
    # Work arrays are (O, J, K, N), about eight alive at a time: J rows of [W2; b2] per
    # block, sized for the cache and never beyond the memory budget.
    block = max(1, min(_CACHE_BLOCK, memory_budget // (8 * 8)))
    jblock = max(1, min(rows, block // (n_off * K * N)))
    onehot = None
    if base.labels:
        onehot = np.zeros((K, N), dtype=bool)
        onehot[base.t, np.arange(N)] = True
    n_index = np.arange(N)
    yT = base.y.T
    for j0 in range(0, rows, jblock):
        j1 = min(rows, j0 + jblock)
        # Logit k of sample n moves by z[n, j] d[j, k]; the other logits do not move.
        Q = np.expm1(d2[:, j0:j1, :, None] * z_aug.T[None, j0:j1, None, :])  # (O, J, K, N)
        r = Q * yT  # p_k Q_k: the only non-zero term of Σ_k p_k Q_k
        if base.labels:
            assert onehot is not None  # set above whenever base.labels
            Qt = np.where(onehot, Q, 0.0)
            dl = -np.log1p(base.ratio * (Qt - r) / (1.0 + r))
        else:
            u = r / (1.0 + r)
            dl = 0.0
            for k in range(K):
                tk, rk = base.targets[n_index, k], base.ratio[n_index, k]
                # Class k itself moved by Q; the others only through the normalisation.
                own = np.where(np.arange(K)[None, None, :, None] == k, Q, 0.0)
                dl = dl - tk * np.log1p(rk * (own / (1.0 + r) - u))
        total[j0:j1] = np.tensordot(weights, dl.sum(axis=-1), axes=(0, 0))
    return total
