"""f evaluated on stacks of perturbed points: the engine of ``numerical_gradient(vectorized=True)``.

Every perturbed point is a full copy of x with one element moved, so f does O(n) work
per point and 2n² for a central-difference gradient, exactly as in the loop: what
stacking saves is the loop's per-call overhead, not arithmetic.  Three things decide
whether that saving survives, measured by ``benchmarks/vectorized_blocks.py`` (numbers in
``docs/figures/benchmarks/vectorized_blocks.json``):

* **Block size.**  A stack and f's temporaries of the same size should stay in the CPU's
  caches: stacks of 32 MiB, the old default, made the vectorized path slower than the
  loop from n ≈ 10⁴ and several times slower than 1 MiB stacks at n = 1,000.  Blocks
  hold about `DEFAULT_BLOCK_BYTES` of points, but at least `MIN_ROWS`
  elements' points (the few NumPy calls a block costs besides f are then shared) and at
  most `MAX_BLOCK_BYTES`.
* **No copying per point.**  The stack buffer is filled with x once; each block moves
  its elements, calls f, and puts them back, so a block costs O(rows) writes rather than
  a fresh copy of every point (which alone made large n slower than the loop).  The
  buffer itself is kept for the thread's next call (`_scratch`).
* **The crossover.**  Past `LOOP_ORDER_POINT_BYTES` a point is big enough that f's
  own work hides the per-call overhead, and stacking only adds memory traffic: then f is
  called on one point at a time, in the loop's order, on one private copy of x.

The points are those of ``stencil.points`` (x's dtype, rounded once), and each row of a
stack is computed by f as it would compute a single point, so every path here gives the
loop's values bit for bit when f is a row-by-row function.  x is only read.

With an executor (any `concurrent.futures.Executor`), the same blocks are the
tasks: f, x and a block's moved values are sent, the worker builds the block, and the
results are put back in order, so the numbers are those of the serial path.
"""

from __future__ import annotations

import contextlib
import math
import threading
from dataclasses import dataclass

import numpy as np

from .quotients import value_eps

# What this private module offers the rest of refnet (no reference page renders it).
__all__ = [
    "DEFAULT_BLOCK_BYTES",
    "LOOP_ORDER_POINT_BYTES",
    "MAX_BLOCK_BYTES",
    "MIN_ROWS",
    "Task",
    "block_rows",
    "evaluate_stacked",
    "run",
]

#: Bytes of points aimed at per call of f: the best or within a few per cent of the best
#: block on the development machine (512 KiB of L2 a core, 32 MiB of L3) for n from 100
#: to 100,000.  Measured by benchmarks/vectorized_blocks.py.
DEFAULT_BLOCK_BYTES = 2**20

#: The fewest elements whose points share a call of f (when they fit MAX_BLOCK_BYTES):
#: a block costs a handful of NumPy calls besides f, shared by this many elements.
MIN_ROWS = 8

#: The most bytes of points handed to f at once by default.
MAX_BLOCK_BYTES = 4 * 2**20

#: A point (x.nbytes) of at least this size is evaluated one at a time, in the loop's
#: order: the crossover measured by benchmarks/vectorized_blocks.py.
LOOP_ORDER_POINT_BYTES = 2**19

_EPS64 = float(np.finfo(np.float64).eps)


def block_rows(size: int, itemsize: int, moving: int, memory_budget=None) -> int:
    """Elements whose perturbed points share one call of f; 0 means one point per call.

    ``size`` and ``itemsize`` are x's, ``moving`` the number of non-zero offsets, and
    ``memory_budget`` the caller's cap on the bytes of one stack (None: the measured
    default, `DEFAULT_BLOCK_BYTES` with at least `MIN_ROWS` elements and at
    most `MAX_BLOCK_BYTES`).  A cap smaller than one element's points still gets
    one element a call.  The crossover to one point a call depends on the size of a
    point only.

    Examples
    --------
    >>> block_rows(1000, 8, 2)  # 16 kB an element: 65 of them in 1 MiB
    65
    >>> block_rows(20_000, 8, 2)  # 320 kB an element: 3 in 1 MiB, but MIN_ROWS is 8
    8
    >>> block_rows(100_000, 8, 2)  # a point of 800 kB: past the crossover
    0
    >>> block_rows(1000, 8, 2, memory_budget=64_000)
    4
    """
    point = size * itemsize
    if point >= LOOP_ORDER_POINT_BYTES:
        return 0
    element = max(1, moving * point)
    if memory_budget is None:
        rows = min(max(DEFAULT_BLOCK_BYTES // element, MIN_ROWS), MAX_BLOCK_BYTES // element)
    else:
        rows = memory_budget // element
    return max(1, min(size, rows))


@dataclass(frozen=True)
class Task:
    """Elements ``start..stop`` of x moved, ``rows`` elements a call of f (0: one point).

    ``moved`` holds their perturbed values, shape ``(stop - start, len(offsets))``, in
    x's dtype; ``at_x`` asks for f at x itself first.  A task carries all it needs, so
    that an executor can pickle it to another process or machine.
    """

    flat: np.ndarray
    shape: tuple
    offsets: tuple
    start: int
    stop: int
    moved: np.ndarray
    rows: int
    at_x: bool = False


def evaluate_stacked(f, x: np.ndarray, moved: dict, memory_budget=None, executor=None, rows=None):
    """What ``quotients.evaluate_loop`` returns, with f called on stacks of the points.

    ``moved`` maps an offset to the array of values the perturbed element takes (x's
    dtype).  Returns ``(values, eps_f)``: ``values[offset]`` a float64 array shaped
    like x, ``eps_f`` the ε of the least precise value f returned.  ``x`` is only read.
    With an ``executor``, every block is one task, submitted at once and collected in
    order; the first error in that order is raised and the other tasks are cancelled.
    ``rows`` overrides `block_rows`'s choice (0: one point a call).
    """
    values = {offset: np.empty(x.shape, dtype=np.float64) for offset in moved}
    if x.size == 0:
        return values, _EPS64
    moving = tuple(offset for offset in moved if offset != 0.0)
    if rows is None:
        rows = block_rows(x.size, x.itemsize, len(moving), memory_budget)
    work = split(x, moved, moving, rows, executor is not None)
    if executor is None:
        results = [run(task, f) for task in work]
    else:
        futures = [executor.submit(run, task, f) for task in work]
        try:
            results = [future.result() for future in futures]
        finally:
            for future in futures:
                future.cancel()
    eps_f = _EPS64
    for task, (at_x, part, eps_part) in zip(work, results, strict=True):
        if at_x is not None:
            values[0.0][...] = at_x[0]
        for slot, offset in enumerate(moving):
            values[offset].reshape(-1)[task.start : task.stop] = part[:, slot]
        eps_f = max(eps_f, eps_part)
    return values, eps_f


def split(x: np.ndarray, moved: dict, moving: tuple, rows: int, spread: bool) -> list:
    """The tasks: all of x in one, or (``spread``) one block each, so f sees the same stacks."""
    flat = np.ascontiguousarray(x).reshape(-1)
    n = flat.size
    if moving:
        grid = np.stack([moved[offset].reshape(-1) for offset in moving], axis=1)
    else:
        grid = np.empty((n, 0), dtype=x.dtype)
    # Spread: a block a task; past the crossover (one point a call), MIN_ROWS elements.
    span = (rows or MIN_ROWS) if spread and moving else max(n, 1)
    return [
        Task(
            flat,
            x.shape,
            moving,
            start,
            min(n, start + span),
            grid[start : start + span],
            rows,
            at_x=start == 0 and 0.0 in moved,
        )
        for start in range(0, max(n, 1), span)
    ]


def run(task: Task, f):
    """``(f at x or None, values shaped (elements, offsets), ε of f's precision)`` of a task.

    Module-level, so that an executor can send it.  Raises what f raises, and
    ValueError for a non-finite value or an f that wrote into its stack.
    """
    count = task.stop - task.start
    rows = 1 if task.rows == 0 else max(1, min(task.rows, count))
    offsets = 1 if task.rows == 0 else len(task.offsets)
    with _scratch((rows, offsets, task.flat.size), task.flat.dtype) as buffer:
        buffer[...] = task.flat
        return _run_on(task, f, buffer, count)


def _run_on(task: Task, f, buffer: np.ndarray, count: int):
    eps_f, at_x = _EPS64, None
    if task.at_x:
        at_x, eps_f = stack_values(
            f, buffer.reshape(-1)[: task.flat.size].reshape(1, *task.shape), 1
        )
        if not math.isfinite(at_x[0]):
            raise ValueError(
                f"f returned {at_x[0]} at x: the difference quotient is undefined there"
            )
    if not task.offsets or count == 0:
        values = np.empty((count, len(task.offsets)))
    elif task.rows == 0:
        values, eps_run = _one_by_one(f, buffer.reshape(-1), task)
        eps_f = max(eps_f, eps_run)
    else:
        values, eps_run = _blocks(f, buffer, task)
        eps_f = max(eps_f, eps_run)
    _check_untouched(buffer, task.flat)
    return at_x, values, eps_f


def _blocks(f, buffer: np.ndarray, task: Task):
    """f on stacks of (elements x offsets) points, element by element, offsets inside."""
    rows, offsets, n = buffer.shape
    whole = buffer.reshape(-1)
    # Point (k, m) of a block is row k * offsets + m, with element begin + k moved:
    # its flat position is (k * offsets + m) * n + begin + k.
    k = np.repeat(np.arange(rows), offsets)
    base = (k * offsets + np.tile(np.arange(offsets), rows)) * n + k
    # What each block writes, and what puts x back, laid out once for the whole task:
    # a block costs a handful of NumPy calls besides f.
    moved = task.moved.reshape(-1)
    original = np.repeat(task.flat[task.start : task.stop], offsets)
    full = buffer.reshape(rows * offsets, *task.shape)
    values = np.empty((task.stop - task.start) * offsets)
    eps_f = _EPS64
    for local in range(0, task.stop - task.start, rows):
        count = min(rows, task.stop - task.start - local)
        points = count * offsets
        where = base[:points] + (task.start + local)
        part = slice(local * offsets, local * offsets + points)
        whole[where] = moved[part]
        chunk, eps_chunk = stack_values(f, full if count == rows else full[:points], points)
        # Copied out before x is put back: f may have returned a view of its stack.
        values[part] = chunk
        whole[where] = original[part]  # x again, ready for the next block
        eps_f = max(eps_f, eps_chunk)
    # Checked once for the task: the first non-finite value in the loop's order is named.
    if not np.isfinite(values).all():
        bad, slot = divmod(int(np.argmin(np.isfinite(values))), offsets)
        _refuse(values[bad * offsets + slot], task, task.start + bad, slot)
    return values.reshape(-1, offsets), eps_f


def _one_by_one(f, work: np.ndarray, task: Task):
    """f on one point at a time, in the loop's order, on ``work``, a private copy of x."""
    stack = work.reshape(1, *task.shape)
    moved = task.moved.tolist()
    values = np.empty((task.stop - task.start, len(task.offsets)))
    eps_f = _EPS64
    for local, element in enumerate(range(task.start, task.stop)):
        for slot in range(len(task.offsets)):
            work[element] = moved[local][slot]
            result = np.asarray(f(stack))
            if result.shape != (1,) or result.dtype.kind not in "fiu":
                _refuse_values(result, stack.shape, 1)
            value = float(result[0])
            if not math.isfinite(value):
                _refuse(value, task, element, slot)
            if result.dtype.itemsize < 8:
                eps_f = max(eps_f, value_eps(result))
            values[local, slot] = value
        work[element] = task.flat[element]
    return values, eps_f


def _refuse(value, task: Task, element: int, slot: int):
    index = [int(i) for i in np.unravel_index(element, task.shape)]
    raise ValueError(
        f"f returned {value} at x{index}{task.offsets[slot]:+g}h: the difference quotient "
        "is undefined there"
    )


def _check_untouched(buffer: np.ndarray, flat: np.ndarray) -> None:
    """Every row of the buffer is x again, bit for bit; if not, f wrote into its stack."""
    bits = np.dtype(f"u{flat.itemsize}")
    rows = buffer.view(bits).reshape(-1, flat.size)
    # A few rows at a time: the comparison's temporary stays small (no fresh pages).
    step = max(1, 2**17 // flat.size)
    if not all(
        np.array_equal(
            rows[start : start + step],
            np.broadcast_to(flat.view(bits), (min(step, len(rows) - start), flat.size)),
        )
        for start in range(0, len(rows), step)
    ):
        raise ValueError(
            "f modified the stack of points it was given (x itself is untouched), so the "
            "points after that were wrong and the gradient is meaningless: make f work on a copy"
        )


class _Scratch(threading.local):
    """One stack buffer a thread, kept between calls (see `_scratch`)."""

    buffer: np.ndarray | None = None
    busy = False


_SCRATCH = _Scratch()


@contextlib.contextmanager
def _scratch(shape: tuple, dtype):
    """An uninitialised array for a task's stacks, reused by the thread's next task.

    A fresh buffer of a megabyte or more comes from the operating system as new pages,
    and faulting them in cost as much as f's own work for f = sum(x**2) at n = 1,000
    (2.1 against 4.1 ms a gradient): so up to `MAX_BLOCK_BYTES` (plus one point)
    is kept per thread.  A nested call (an f that itself calls the vectorized path)
    gets a buffer of its own.
    """
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    keep = nbytes <= MAX_BLOCK_BYTES + LOOP_ORDER_POINT_BYTES and not _SCRATCH.busy
    if not keep:
        yield np.empty(shape, dtype=dtype)
        return
    if _SCRATCH.buffer is None or _SCRATCH.buffer.size < nbytes:
        _SCRATCH.buffer = np.empty(nbytes, dtype=np.uint8)
    _SCRATCH.busy = True
    try:
        yield _SCRATCH.buffer[:nbytes].view(dtype).reshape(shape)
    finally:
        _SCRATCH.busy = False


def stack_values(f, stack: np.ndarray, count: int):
    """f's values on a stack of ``count`` points, checked: float64 of shape (count,), and ε.

    ε is that of the precision f computed in (float64 unless it returned less).
    """
    values = np.asarray(f(stack))
    if values.shape != (count,) or values.dtype.kind not in "fiu":
        _refuse_values(values, stack.shape, count)
    if values.dtype == np.float64:
        return values, _EPS64
    return values.astype(np.float64), value_eps(values)


def _refuse_values(values: np.ndarray, shape: tuple, count: int):
    if values.shape != (count,):
        raise TypeError(
            f"with vectorized=True, f must map a stack of shape {shape} to {count} "
            f"values (shape ({count},)), got shape {values.shape}"
        )
    if values.dtype.kind == "c":
        raise TypeError("f must return real numbers, got a complex array")
    raise TypeError(f"f must return real numbers, got dtype {values.dtype}")
