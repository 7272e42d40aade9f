"""Every scheme has its order, measured the findiff way: the slope of log(error) on log(h).

For a scheme of order p, D(h) - f'(x) = C h^p f^(p+1)(x) (1 + O(h^q)) + round-off, so in
the window of h where the leading truncation term dominates both the round-off and the
next Taylor term, log|error| is a line of slope p in log h.  The window is derived from
the error model for f = exp (all of whose derivatives are e^x):

* lower end: round-off <= 1% of truncation.  Round-off is at most 2 ε (1 + |x|) e^x
  Σ|w_j| / (d h) (each value of f rounded by ε e^x / 2, each point x + o_j h by ε|x| / 2,
  doubled), truncation |m_(p+1)| h^p e^x / (p+1)! with the moments m_k = Σ_j w_j o_j^k / d.
  Solving for h gives h_low.  For the complex step the round-off is 2 ε e^x (nothing is
  subtracted) and the truncation h² e^x / 6.
* upper end: the next Taylor term <= 2% of the leading one.  Its ratio to the leading
  term is h^q |m_(p+1+q) / (p+1+q)!| / |m_(p+1) / (p+1)!|, q = 2 for symmetric stencils
  (the even moments vanish), q = 1 for one-sided ones.

A 1% round-off share moves the local slope by at most (p + 1) · 0.01 ≈ 0.07 (p = 6, at
the very lower end only), a 2% next term by q · 0.02 = 0.04: the fitted slope is within
MARGIN = 0.1 of p.  The errors are averaged over 16 points x in [0.3, 0.7].  Where the
window is shorter than half a decade (Richardson in float32: its truncation only
dominates float32 round-off for h near 1) the order cannot be seen, and the test says so.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import refnet
from refnet.conformance.tolerances import EPS, STENCILS

MARGIN = 0.1
POINTS = np.linspace(0.3, 0.7, 16)
SCHEMES = [*STENCILS, "complex_step"]


def _moment(scheme: str, k: int) -> float:
    if scheme == "complex_step":
        # Im f(x + ih) / h = f' - h² f'''/6 + h⁴ f⁽⁵⁾/120 - ...: moments -1 (k=3), 1 (k=5)
        return {3: -1.0, 4: 0.0, 5: 1.0}[k]
    offsets, weights, divisor, _ = STENCILS[scheme]
    return sum(w * o**k for o, w in zip(offsets, weights, strict=True)) / divisor


def _order(scheme: str) -> int:
    return 2 if scheme == "complex_step" else STENCILS[scheme][3]


def _window(scheme: str, dtype) -> tuple[float, float]:
    p = _order(scheme)
    eps = EPS[np.dtype(dtype)]
    leading = abs(_moment(scheme, p + 1)) / math.factorial(p + 1)
    xmax = float(POINTS.max())
    if scheme == "complex_step":
        low = math.sqrt(2 * eps / (0.01 * leading))
    else:
        offsets, weights, divisor, _ = STENCILS[scheme]
        spread = sum(abs(w) for w in weights) / divisor
        low = (2 * eps * (1 + xmax) * spread / (0.01 * leading)) ** (1 / (p + 1))
    q = 2 if abs(_moment(scheme, p + 2)) == 0 else 1
    following = abs(_moment(scheme, p + 1 + q)) / math.factorial(p + 1 + q)
    high = (0.02 * leading / following) ** (1 / q)
    return low, high


def _mean_error(scheme: str, h: float, dtype) -> float:
    errors = []
    for x in POINTS:
        if dtype == np.float64:
            d = refnet.numerical_diff(np.exp, float(x), h, scheme=scheme)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", refnet.PrecisionWarning)
                d = refnet.numerical_gradient(np.exp, np.array(x, dtype=dtype), h, scheme=scheme)
        errors.append(abs(float(d) - math.exp(float(np.asarray(x, dtype=dtype)))))
    return float(np.mean(errors))


def _slope(scheme, dtype, low, high, n=8):
    steps = np.geomspace(low, high, n)
    errors = [_mean_error(scheme, float(h), dtype) for h in steps]
    return float(np.polyfit(np.log(steps), np.log(errors), 1)[0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_truncation_error_falls_like_h_to_the_order(scheme, dtype):
    low, high = _window(scheme, dtype)
    if high < 3 * low:
        pytest.skip(
            f"{scheme} in {np.dtype(dtype)}: truncation dominates round-off only for h in "
            f"[{low:.2g}, {high:.2g}], too short a window to measure an order"
        )
    slope = _slope(scheme, dtype, low, high)
    assert abs(slope - _order(scheme)) <= MARGIN, (
        f"{scheme} ({np.dtype(dtype)}): fitted slope {slope:.3f} of log error on log h over "
        f"h in [{low:.3g}, {high:.3g}], expected the order {_order(scheme)} ± {MARGIN}"
    )


@pytest.mark.parametrize("scheme", list(STENCILS))
def test_round_off_grows_like_one_over_h(scheme):
    """The left arm of the V: where truncation is negligible, the mean error is ∝ ε|f| / h.

    Window: truncation <= 1% of the typical round-off (ε e^x Σ|w|/(d h) / 4, a quarter of
    the bound, for the mean of errors that partly cancel), two decades wide.  Each error
    is the rounding noise of a few values, so the fitted slope scatters more than on the
    truncation arm; the mean over 16 points keeps it within 0.25 of -1.
    """
    offsets, weights, divisor, p = STENCILS[scheme]
    eps = EPS[np.dtype(np.float64)]
    leading = abs(_moment(scheme, p + 1)) / math.factorial(p + 1)
    spread = sum(abs(w) for w in weights) / divisor
    high = (0.01 * eps * spread / 4 / leading) ** (1 / (p + 1))
    slope = _slope(scheme, np.float64, high / 100, high, n=12)
    assert abs(slope + 1) <= 0.25, f"{scheme}: round-off slope {slope:.3f}, expected -1 ± 0.25"


def test_windows_are_where_the_book_step_sits():
    """Sanity of the model: the book's h = 1e-4 is in the central difference's truncation
    window in float64 (so its error is ~h² f'''/6), and not in float32."""
    low, high = _window("central", np.float64)
    assert low < 1e-4 < high
    low32, _ = _window("central", np.float32)
    assert 1e-4 < low32
