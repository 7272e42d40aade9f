"""The vectorized engine (refnet/engine/stacked.py): how it cuts the work, and that the cut never shows.

The block size and the crossover to one point a call are decisions about speed, measured
by benchmarks/vectorized_blocks.py; here they are checked for what they decide (given
sizes) and for giving the loop's numbers, bit for bit, on both sides.  Nothing is timed.
"""

from __future__ import annotations

import numpy as np
import pytest

import refnet
from refnet.engine import stacked as stacked_module
from refnet.engine.quotients import evaluate_loop
from refnet.engine.stacked import block_rows, evaluate_stacked
from refnet.engine.stencil import check_step, points, stencil_of


def sin_rows(stack):
    return np.sum(np.sin(stack) * stack, axis=tuple(range(1, stack.ndim)))


def sin_point(v):
    # A NumPy scalar of x's precision, as a row of sin_rows is: the same ε for both paths.
    return np.sum(np.sin(v) * v)


# -- the decision, given sizes --------------------------------------------------------------------


@pytest.mark.parametrize(
    "size, itemsize, moving, budget, rows",
    [
        # The crossover: a point of 512 KiB or more goes one point a call (rows 0), whatever
        # the dtype and the number of offsets; just below it, stacks.
        (65_536, 8, 2, None, 0),
        (65_535, 8, 2, None, 4),  # 1 MiB an element: the 4 MiB cap holds 4
        (131_072, 4, 2, None, 0),
        (65_536, 8, 6, None, 0),
        (65_536, 8, 2, 2**40, 0),  # a budget does not undo the crossover
        # Default blocks: 1 MiB of points (64 elements of 2 x 1,000 float64).
        (1_000, 8, 2, None, 65),
        (1_000, 4, 2, None, 131),
        (1_000, 8, 6, None, 21),
        # At least MIN_ROWS = 8 elements a block, as long as 4 MiB holds them...
        (20_000, 8, 2, None, 8),
        # ...and never more than 4 MiB: 4 elements of 2 x 60,000 float64 (960 kB each).
        (60_000, 8, 2, None, 4),
        # Never more elements than x has.
        (3, 8, 2, None, 3),
        (1, 8, 1, None, 1),
        # An explicit budget is a cap, but one element's points always go together.
        (1_000, 8, 2, 64_000, 4),
        (1_000, 8, 2, 1, 1),
        (1_000, 8, 2, 2**40, 1_000),
    ],
)
def test_block_rows_decides_from_the_sizes(size, itemsize, moving, budget, rows):
    assert block_rows(size, itemsize, moving, budget) == rows


# -- the same numbers on both sides -------------------------------------------------------------


def _moved(x, scheme, with_error):
    stencil = stencil_of(scheme)
    steps = stencil.steps(x, check_step(1e-3))
    return points(x, steps, stencil.evaluated_offsets(with_error))


@pytest.mark.parametrize("scheme", ["central", "forward", "five_point", "richardson"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(), (1,), (7,), (3, 4), (2, 1, 3)])
def test_every_strategy_gives_the_loops_values_bit_for_bit(scheme, dtype, shape):
    x = np.linspace(-1.7, 1.1, int(np.prod(shape)), dtype=dtype).reshape(shape)
    moved = _moved(x, scheme, with_error=True)
    looped, eps_loop = evaluate_loop(sin_point, x.copy(), moved)
    for rows in (0, 1, 2, 5, x.size):
        stacked, eps_stacked = evaluate_stacked(sin_rows, x, moved, rows=rows)
        for offset in moved:
            assert stacked[offset].tobytes() == looped[offset].tobytes(), (rows, offset)
        assert eps_stacked == eps_loop


def test_one_point_a_call_is_what_f_sees_past_the_crossover(monkeypatch):
    """With the crossover moved down to 4 elements, a 5-element x is handed over one point
    at a time, a 3-element x in one stack: the same gradient, bit for bit, both ways."""
    monkeypatch.setattr(stacked_module, "LOOP_ORDER_POINT_BYTES", 4 * 8)
    for n, expected_calls in ((5, [1] * 10), (3, [6])):
        x = np.linspace(-1, 1, n)
        calls = []

        def rows(stack, calls=calls):
            calls.append(stack.shape[0])
            return sin_rows(stack)

        grad = refnet.numerical_gradient(rows, x, vectorized=True)
        assert calls == expected_calls
        assert grad.tobytes() == refnet.numerical_gradient(sin_point, x.copy()).tobytes()


def test_one_point_a_call_reports_errors_as_the_stacks_do():
    x = np.array([0.1, 0.2, 0.7, 0.3])
    moved = _moved(x, "central", with_error=False)

    def nan_at_third(stack):
        values = sin_rows(stack)
        return np.where(stack[:, 2] > 0.7 + 5e-4, np.nan, values)

    messages = set()
    for rows in (0, 1, 4):
        with pytest.raises(ValueError) as caught:
            evaluate_stacked(nan_at_third, x, moved, rows=rows)
        messages.add(str(caught.value))
    assert messages == {"f returned nan at x[2]+1h: the difference quotient is undefined there"}

    shapes = set()
    for rows in (0, 1):
        with pytest.raises(TypeError, match="with vectorized=True, f must map a stack") as caught:
            evaluate_stacked(lambda s: np.zeros((len(s), 2)), x, moved, rows=rows)
        shapes.add(str(caught.value).split("got shape")[1])
    assert len(shapes) == 2  # each says what it was given: (1, 2) one by one, (2, 2) stacked


@pytest.mark.parametrize("rows", [0, 1, 3])
def test_f_that_writes_into_its_stack_is_caught_and_x_is_untouched(rows):
    x = np.array([1.0, 2.0, 3.0])
    x.flags.writeable = False
    moved = _moved(x, "central", with_error=False)

    def meddling(stack):
        stack[:, 0] = 0.0
        return np.sum(stack, axis=1)

    with pytest.raises(ValueError, match="f modified the stack"):
        evaluate_stacked(meddling, x, moved, rows=rows)
    assert x.tolist() == [1.0, 2.0, 3.0]


def test_f_at_x_itself_is_evaluated_once_on_a_copy():
    """forward differences need f(x): one call on a 1-point stack, never on x itself."""
    x = np.array([0.5, -0.25, 2.0])
    x.flags.writeable = False
    seen = []

    def rows(stack):
        seen.append((stack.shape[0], np.shares_memory(stack, x)))
        return sin_rows(stack)

    grad = refnet.numerical_gradient(rows, x, scheme="forward", vectorized=True)
    assert seen[0] == (1, False) and all(not shared for _, shared in seen)
    assert sum(count for count, _ in seen) == 1 + x.size
    loop = refnet.numerical_gradient(sin_point, x.copy(), scheme="forward")
    assert grad.tobytes() == loop.tobytes()


def test_an_empty_x_calls_nothing():
    calls = []
    grad = refnet.numerical_gradient(
        lambda s: calls.append(s) or np.zeros(len(s)), np.zeros((0, 3)), vectorized=True
    )
    assert grad.shape == (0, 3) and calls == []


def test_an_f_that_itself_differentiates_on_stacks_gets_its_own_buffer():
    """The stack buffer is kept between calls; a nested vectorized call must not reuse the
    one its caller is still using (its points would be overwritten mid-block)."""

    def inner(t):
        return np.sum(t**2, axis=1)

    def point(v):
        return np.sum(refnet.numerical_gradient(inner, v.copy(), vectorized=True) * v)

    def rows(stack):
        return np.array([point(row) for row in stack])

    x = np.linspace(-1, 1, 6)
    stacked = refnet.numerical_gradient(rows, x, vectorized=True)
    looped = refnet.numerical_gradient(point, x.copy())
    assert stacked.tobytes() == looped.tobytes()
    # f = Σ 2 v_i² (to round-off), so the gradient is 4x; the quadratic's central
    # difference is exact up to ε |f| / h ≈ 2.2e-16 · 4 / 1e-4 per level, twice.
    np.testing.assert_allclose(stacked, 4 * x, rtol=0, atol=1e-6)


def test_an_f_that_returns_a_view_of_its_stack_gets_its_own_values():
    """f = x[0] returned as a view of the stack: the values must be read before the
    engine puts x back into the stack."""
    x = np.array([0.25, -1.5, 2.0])
    grad = refnet.numerical_gradient(lambda s: s[:, 0], x, vectorized=True)
    assert grad.tolist() == refnet.numerical_gradient(lambda v: v[0], x.copy()).tolist()
    np.testing.assert_allclose(grad, [1.0, 0.0, 0.0], rtol=0, atol=1e-12)
