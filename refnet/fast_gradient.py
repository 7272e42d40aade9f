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
* The hidden unit then moves by ``Δz = σ(a + x d) - σ(a)``, recomputed exactly, and
  every logit of that sample by ``Δz W2[j, k]``.
* Moving ``W2[j, k]`` (or ``b2[k]``) changes only logit k, by ``z1[n, j] d`` (or ``d``).

The loss change of one sample is then evaluated *as a difference*, never as the
difference of two O(1) losses: with p the unperturbed softmax, ``Q_k = expm1(Δa_k)`` and
``r = Σ_k p_k Q_k``, the new probability of class k is ``p_k (1 + Q_k) / (1 + r)``, so

    Δℓ = -log((p_t' + δ) / (p_t + δ)) = -log1p( p_t / (p_t + δ) · (Q_t - r) / (1 + r) )

exactly (with t the target class; a probability-row target sums such terms).  Every
factor is computed to a few ulps *relative to the change*, so the fast path's own
rounding error is tiny compared with the reference's, whose losses L(θ ± h e_i) are
each rounded at the level ``ε |L|`` and whose difference therefore carries about
``ε |L| / h`` of absolute error.  The two agree to that level, not bitwise.

Nothing here writes to the parameters: they are read, never perturbed in place, so
they are bit-identical afterwards whatever happens during the call (even a
KeyboardInterrupt).
"""

from __future__ import annotations

import numpy as np

from ._checks import PARAM_NAMES
from ._stencil import CENTRAL, DEFAULT_MEMORY_BUDGET, points
from .activations import sigmoid, softmax

# Internal: TwoLayerNet.numerical_gradient is the public entry point.
__all__: list[str] = []

#: Elements of the largest class-shaped work array (classes x perturbed samples): about
#: 1 MiB, so that a block's arrays stay in the CPU's L2/L3 cache between NumPy calls.
_CACHE_BLOCK = 1 << 17

#: The largest change of a pre-activation or a logit the difference formulas are used
#: for.  Up to 1, expm1 cannot overflow and 1 + r >= 1/e keeps its relative accuracy.  At
#: the book's h = 1e-4 a logit moves by at most h max|x| max|W2| / 4: |W2| would need to
#: exceed 40,000 (for |x| <= 1) to get there.  Larger changes raise OutOfRange.
_LARGEST_CHANGE = 1.0

#: Fewest (input, sample) pairs per block before the block is split by hidden units.
_MIN_PAIRS = 64

#: The scheme of TwoLayerNet.numerical_gradient.  Every formula below is written for any
#: stencil whose weights sum to 0 (a loss *difference* is evaluated), as the central one's do.
STENCIL = CENTRAL


class OutOfRange(ValueError):
    """A perturbation moves a pre-activation or a logit by more than ``_LARGEST_CHANGE``.

    TwoLayerNet.numerical_gradient then computes the same quotients with the loop.
    """


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
):
    """Central differences of TwoLayerNet's loss for every parameter, network-aware.

    Every argument is trusted: ``TwoLayerNet.numerical_gradient`` validates them (and
    refuses a step lost to rounding) before it calls this.

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
        loops).  They pay off only on idle cores: on the shared 2-core development
        machine two threads were slower than one.  The result is the same bits.

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
    originals = {name: params[name] for name in PARAM_NAMES}
    x = np.asarray(x, dtype=np.float64)
    d1, d2, used_weights = _moves(originals, steps, x)
    # Every total is a sum over samples, so a large batch is taken in parts whose pair
    # lists and activations fit the memory budget (a few words per input and hidden unit
    # per sample), and the parts' sums are added.
    N, D = x.shape
    H, K = originals["W2"].shape
    per_sample = 8 * (4 * (D + 1) + 12 * H + 8 * K)
    part = max(1, memory_budget // per_sample)
    total1, total2 = np.zeros((D + 1, H)), np.zeros((H + 1, K))
    for start in range(0, N, part):
        rows = slice(start, start + part)
        base = _Base(originals, x[rows], t[rows], labels, delta, first_sample=start)
        x_aug = np.concatenate([base.x, np.ones((base.n, 1))], axis=1)  # b1 acts as input 1
        total1 += _layer1(base, x_aug, d1, used_weights, memory_budget, workers)
        total2 += _layer2(base, d2, used_weights, memory_budget)
    for what, total in (("layer 1", total1), ("layer 2", total2)):
        if not np.all(np.isfinite(total)):
            raise ValueError(
                f"the loss is not finite at some perturbed point of {what}: the difference "
                "quotient is undefined there"
            )
    scale = {name: STENCIL.divisor * steps[name] * N for name in PARAM_NAMES}
    result = {
        "W1": total1[:D] / scale["W1"],
        "b1": total1[D] / scale["b1"],
        "W2": total2[:H] / scale["W2"],
        "b2": total2[H] / scale["b2"],
    }
    return {name: result[name].astype(originals[name].dtype) for name in PARAM_NAMES}


def _moves(originals, steps, x):
    """The stored changes of every parameter, stacked by layer, and the weights they take.

    Returns ``(d1, d2, weights)``: d1 (O, D+1, H) for [W1; b1] and d2 (O, H+1, K) for
    [W2; b2], one slice per non-zero offset of the stencil, whose weight is in ``weights``.
    Raises OutOfRange where a change could exceed ``_LARGEST_CHANGE``.
    """
    offsets = [o for o in STENCIL.offsets if o]
    weights = np.array([w for o, w in zip(STENCIL.offsets, STENCIL.weights, strict=True) if o])
    # The loop stores theta + offset*h in the parameter's dtype and evaluates the loss at
    # that stored point: the change it sees is the stored value minus theta (exact when
    # |theta| >= h, by Sterbenz's lemma; otherwise within half an ulp of the step).
    moves = {}
    for name, value in originals.items():
        moved = points(value, steps[name], offsets)
        moves[name] = [moved[o].astype(np.float64) - value.astype(np.float64) for o in offsets]
    d_max = {
        name: max(float(np.max(np.abs(m), initial=0.0)) for m in moves[name]) for name in moves
    }
    # Bounds on the changes: a1 by |x| d; z by a quarter of that (σ' <= 1/4), at most 1;
    # a logit by |Δz| |W2| (layer 1) or |z| d <= d (layer 2).
    pre_activation = max(1.0, float(np.max(np.abs(x)))) * max(d_max["W1"], d_max["b1"])
    hidden = min(1.0, pre_activation / 4)
    logit = max(
        hidden * float(np.max(np.abs(originals["W2"]), initial=0.0)),
        d_max["W2"],
        d_max["b2"],
    )
    if max(pre_activation, logit) > _LARGEST_CHANGE:
        raise OutOfRange(
            f"the steps move a pre-activation by up to {pre_activation:.3g} and a logit "
            f"by up to {logit:.3g}: beyond {_LARGEST_CHANGE}, the network-aware formulas "
            "are not used"
        )
    d1 = np.stack(
        [np.concatenate([w1, b1[None, :]]) for w1, b1 in zip(moves["W1"], moves["b1"], strict=True)]
    )
    d2 = np.stack(
        [np.concatenate([w2, b2[None, :]]) for w2, b2 in zip(moves["W2"], moves["b2"], strict=True)]
    )
    return d1, d2, weights


class _Base:
    """The unperturbed forward pass and what every perturbation reuses from it."""

    def __init__(self, params, x, t, labels, delta, first_sample=0):
        W1, b1, W2, b2 = (np.asarray(params[k], dtype=np.float64) for k in PARAM_NAMES)
        self.x = np.asarray(x, dtype=np.float64)
        self.n = self.x.shape[0]
        self.W2 = W2
        self.a1 = self.x @ W1 + b1
        self.z1 = sigmoid(self.a1)
        self.y = softmax(self.z1 @ W2 + b2)
        K = W2.shape[1]
        t = np.asarray(t)
        if not labels and _is_one_hot(t):
            # -sum_k t_k log(y_k + delta) has a single non-zero term per exactly one-hot
            # row, so the loss is bit-for-bit the label form's.
            t, labels = np.argmax(t, axis=1), True
        self.labels = labels
        with np.errstate(divide="ignore", invalid="ignore"):
            if labels:
                self.t = t.astype(np.intp)
                y_t = self.y[np.arange(self.n), self.t]
                # p_t / (p_t + delta): how much of a change of p_t the log sees.
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
        # The sigmoid difference is computed from b = |a1| and the sign, so that exp(-b)
        # never overflows: σ(b + f) - σ(b) = -expm1(-f) σ(b + f) σ(-b), with
        # σ(b + f) = 1 / (1 + E (1 + expm1(-f))), E = exp(-b).
        b = np.abs(self.a1)
        self.sign = np.where(self.a1 >= 0, 1.0, -1.0)
        self.E = np.exp(-b)
        self.one_plus_E = 1.0 + self.E
        self.factor = -self.sign * self.E / self.one_plus_E  # -sign σ(-b)
        self.yT = np.ascontiguousarray(self.y.T)  # (K, N)
        self.W2T = np.ascontiguousarray(W2.T)  # (K, H)
        self.classes = K
        # Transposed (H, N) copies: the pair blocks gather columns of them.
        self.neg_signT = np.ascontiguousarray(-self.sign.T)
        self.ET = np.ascontiguousarray(self.E.T)
        self.one_plus_ET = np.ascontiguousarray(self.one_plus_E.T)
        self.factorT = np.ascontiguousarray(self.factor.T)


def _is_one_hot(t: np.ndarray) -> bool:
    return bool(np.all((t == 0) | (t == 1)) and np.all(np.sum(t == 1, axis=1) == 1))


# -- layer 1: W1 and b1 --------------------------------------------------------------------


def _layer1(base, x_aug, d1, weights, memory_budget, workers):
    """Σ_n Σ_o w_o Δℓ_n for every entry of [W1; b1] (shape (D+1, H))."""
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


def _layer2(base, d2, weights, memory_budget):
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
    for j0 in range(0, rows, jblock):
        j1 = min(rows, j0 + jblock)
        # Logit k of sample n moves by z[n, j] d[j, k]; the other logits do not move.
        Q = np.expm1(d2[:, j0:j1, :, None] * z_aug.T[None, j0:j1, None, :])  # (O, J, K, N)
        r = Q * base.yT  # p_k Q_k: the only non-zero term of Σ_k p_k Q_k
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
