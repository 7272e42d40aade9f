"""Short power series whose remainders are below rounding: σ differences, class sums, log1p.

The network-aware gradient (`refnet.engine.fast_gradient`) evaluates, for millions of
perturbations, three functions of a small argument: the change of a sigmoid
``σ(a + e) - σ(a)``, a softmax's class sums ``Σ_k p_k expm1(u W_k)``, and ``log1p(v)``.
Each is a convergent power series in its argument, whose coefficients depend only on the
unperturbed network, so they are computed once and the series is summed by Horner's rule:
a few multiply-adds per perturbation instead of a transcendental function per class.

The number of terms comes from a bound on the argument known before anything is evaluated
(the largest step, input and weight), so that the neglected remainder is at most
`SERIES_TOLERANCE` (ε/8) of the scale at which the exact evaluation rounds.  Then the
series value *is* the function's value to rounding; the derivations are in
docs/explanation/fast-numerical-gradients.md, and each ``*_terms`` function says which
bound it uses.  Where no number of terms up to `MAX_TERMS` suffices, the functions
return None and the caller evaluates the functions exactly.
"""

from __future__ import annotations

import math

import numpy as np

# What this private module offers the rest of refnet (no reference page renders it).
__all__ = [
    "MAX_TERMS",
    "SERIES_TOLERANCE",
    "SIGMOID_POLYNOMIALS",
    "SIGMOID_POLYNOMIAL_BOUNDS",
    "class_sum_terms",
    "horner",
    "log1p_series",
    "log1p_terms",
    "power_sums",
    "sigmoid_difference_coefficients",
    "sigmoid_terms",
]

#: The largest remainder a truncated series may leave, relative to the scale at which the
#: exact evaluation rounds: an eighth of the spacing of float64 numbers near 1.
SERIES_TOLERANCE = float(np.finfo(np.float64).eps) / 8

#: The most terms any series is given; beyond, the exact functions are cheaper or as cheap.
MAX_TERMS = 6


def _sigmoid_polynomials(count):
    """Integer coefficients (lowest degree first) of P_0 .. P_{count-1}.

    Every derivative of σ is σ' times a polynomial in σ: σ^(k+1)(a) = σ'(a) P_k(σ(a)) with
    P_0 = 1 and, since dσ/da = σ(1 - σ) and dσ'/da = σ'(1 - 2σ),
    P_{k+1}(s) = (1 - 2s) P_k(s) + s (1 - s) P_k'(s).
    """
    polys: list[tuple[int, ...]] = [(1,)]
    for _ in range(count - 1):
        p = polys[-1]
        nxt = [0] * (len(p) + 1)
        for i, c in enumerate(p):  # (1 - 2s) P
            nxt[i] += c
            nxt[i + 1] -= 2 * c
        for i in range(1, len(p)):  # s (1 - s) P', P' = Σ i c_i s^(i-1)
            nxt[i] += i * p[i]
            nxt[i + 1] -= i * p[i]
        polys.append(tuple(nxt))
    return tuple(polys)


#: P_k of σ^(k+1) = σ' P_k(σ), k = 0 .. MAX_TERMS, integer coefficients, lowest degree first.
SIGMOID_POLYNOMIALS = _sigmoid_polynomials(MAX_TERMS + 1)

#: β_k >= max over s in [0, 1] of |P_k(s)|, k = 0 .. MAX_TERMS: the maxima (1 up to k = 4,
#: then 1.8150 and 4.25), rounded up; tests/test_series.py checks them on a fine grid with
#: a bound on the slope between grid points.
SIGMOID_POLYNOMIAL_BOUNDS = (1.0, 1.0, 1.0, 1.0, 1.0, 1.82, 4.25)


def _smallest(remainder):
    """The fewest terms M in 1..MAX_TERMS with remainder(M) <= SERIES_TOLERANCE, or None."""
    for terms in range(1, MAX_TERMS + 1):
        if remainder(terms) <= SERIES_TOLERANCE:
            return terms
    return None


def sigmoid_terms(change_bound: float):
    """Terms of the series of ``σ(a + e) - σ(a)`` in e, for every ``|e| <= change_bound``.

    Taylor's theorem with Lagrange's remainder: after M terms the rest is
    ``σ'(ξ) P_M(σ(ξ)) e^(M+1) / (M+1)!`` for some ξ between a and a + e, and
    ``σ'(ξ) <= σ'(a) e^|e|`` (|d log σ'/da| = |1 - 2σ| <= 1).  The change itself is
    ``σ'(ζ) e >= σ'(a) e^-|e| |e|``, so the remainder relative to it is at most
    ``β_M e^(2|e|) |e|^M / (M+1)!``, whatever a.

    Examples
    --------
    >>> sigmoid_terms(1e-4), sigmoid_terms(1e-6), sigmoid_terms(0.5) is None
    (4, 3, True)
    """
    e = float(change_bound)

    def remainder(m):
        return SIGMOID_POLYNOMIAL_BOUNDS[m] * math.exp(2 * e) * e**m / math.factorial(m + 1)

    return _smallest(remainder)


def class_sum_terms(argument_bound: float):
    """Terms of ``Σ_m u^m Σ_k p_k w_k^m / m!`` (= Σ_k p_k expm1(u w_k)) for ``|u w_k| <= c``.

    Term m is at most ``|u| Σ_k p_k |w_k| c^(m-1) / m!``, so after M terms the rest,
    relative to ``|u| Σ_k p_k |w_k|``, is at most ``c^M / (M+1)! / (1 - c / (M+2))`` (a
    geometric bound on the tail); and since ``|expm1(y)| >= |y| e^-|y|``, the scale at
    which Σ_k p_k expm1(u w_k) rounds, Σ_k p_k |expm1(u w_k)|, is at least e^-c times
    that.  The same holds for a difference of two such sums, relative to the sum of their
    scales, and for a single expm1 (one class, p = 1).

    Examples
    --------
    >>> class_sum_terms(2.5e-5), class_sum_terms(1e-7)
    (4, 3)
    """
    c = float(argument_bound)

    def remainder(m):
        if c >= m + 2:
            return math.inf
        return math.exp(c) * c**m / math.factorial(m + 1) / (1 - c / (m + 2))

    return _smallest(remainder)


def log1p_terms(argument_bound: float):
    """Terms of ``log1p(v) = v - v²/2 + v³/3 - ...`` for every ``|v| <= argument_bound < 1``.

    After M terms the rest is at most ``|v|^(M+1) / ((M+1)(1 - |v|))``; relative to
    ``|log1p(v)| >= |v| / (1 + |v|)`` that is ``(1 + |v|) |v|^M / ((M+1)(1 - |v|))``.

    Examples
    --------
    >>> log1p_terms(5e-5), log1p_terms(1e-9)
    (4, 2)
    """
    v = float(argument_bound)
    if v >= 1:
        return None
    return _smallest(lambda m: (1 + v) * v**m / ((m + 1) * (1 - v)))


def sigmoid_difference_coefficients(a: np.ndarray, terms: int) -> np.ndarray:
    """``S_m = σ^(m)(a) / m!`` for m = 1..terms: shape ``(terms, *a.shape)``.

    ``σ(a + e) - σ(a) = Σ_m S_m e^m``.  ``S_1 = σ'(a)`` is computed as ``E / (1 + E)²``
    with ``E = exp(-|a|)``, accurate to a few ulps relative even where σ' underflows
    towards 0; the higher coefficients need only be accurate relative to σ'(a), which
    the polynomial in σ gives.

    Examples
    --------
    >>> S = sigmoid_difference_coefficients(np.array([0.25]), 4)
    >>> e = 2.0**-13  # 0.25 + e is exact, so only the functions round
    >>> series = (S[0] * e + S[1] * e**2 + S[2] * e**3 + S[3] * e**4)[0]
    >>> s = lambda v: 1 / (1 + np.exp(-np.longdouble(v)))  # long double: ~2e-15 of the change
    >>> float(abs(series - (s(0.25 + e) - s(0.25))) / series) < 1e-14
    True
    """
    a = np.asarray(a, dtype=np.float64)
    E = np.exp(-np.abs(a))
    slope = E / (1.0 + E) ** 2
    s = np.where(a >= 0, 1.0 / (1.0 + E), E / (1.0 + E))
    out = np.empty((terms, *a.shape))
    for m in range(1, terms + 1):
        poly = SIGMOID_POLYNOMIALS[m - 1]
        value = np.full(a.shape, float(poly[-1]))
        for coefficient in poly[-2::-1]:
            value = value * s + coefficient
        out[m - 1] = slope * value / math.factorial(m)
    return out


def power_sums(W: np.ndarray, p: np.ndarray, terms: int) -> np.ndarray:
    """``R_m = p @ (W ** m).T / m!`` for m = 1..terms: shape ``(terms, N, H)``.

    With W (H, K) and p (N, K): ``Σ_k p[n, k] expm1(u W[j, k]) = Σ_m u^m R_m[n, j]``.
    One matrix product per term, for every sample and hidden unit at once.

    Examples
    --------
    >>> W, p = np.array([[0.5, -1.0]]), np.array([[0.25, 0.75]])
    >>> R = power_sums(W, p, 5)
    >>> u = 1e-3
    >>> exact = float(np.sum(p * np.expm1(u * W)))
    >>> bool(abs(sum(R[m, 0, 0] * u ** (m + 1) for m in range(5)) - exact) < 1e-19)
    True
    """
    out = np.empty((terms, p.shape[0], W.shape[0]))
    power = np.ones_like(W)
    for m in range(1, terms + 1):
        power = power * W
        np.matmul(p, power.T, out=out[m - 1])
        out[m - 1] /= math.factorial(m)
    return out


def horner(coefficients, z: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``Σ_{m=1..M} c_m z^m`` into ``out`` (not z), the c_m broadcast against z.

    2M - 1 NumPy operations, each in place.

    Examples
    --------
    >>> z = np.array([0.5, 2.0])
    >>> horner([1.0, 3.0, np.array([0.0, 1.0])], z, np.empty(2))
    array([ 1.25, 22.  ])
    """
    np.multiply(z, coefficients[-1], out=out)
    for coefficient in coefficients[-2::-1]:
        out += coefficient
        out *= z
    return out


def log1p_series(v: np.ndarray, terms: int, out: np.ndarray) -> np.ndarray:
    """``Σ_{k=1..terms} (-1)^(k+1) v^k / k`` into ``out`` (not v): log1p(v) for small v.

    Examples
    --------
    >>> v = np.array([1e-5, -3e-5])
    >>> bool(np.all(np.abs(log1p_series(v, 4, np.empty(2)) - np.log1p(v)) <= 1e-21))
    True
    """
    return horner([(-1.0) ** (k + 1) / k for k in range(1, terms + 1)], v, out)
