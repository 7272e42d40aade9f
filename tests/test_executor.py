"""numerical_gradient(..., vectorized=True, executor=...): blocks of stacked points on workers.

The promise: any concurrent.futures.Executor (threads, processes, a Dask cluster's
``client.get_executor()``) gives the serial stacked path's numbers bit for bit, x is never
written, f's errors and bad values surface as in the serial path, and a bad executor is
refused at the entry point.  Behaviour only: nothing here is timed.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing

import numpy as np
import pytest

import refnet
from refnet.engine.stacked import block_rows


def sin_rows(stack):
    """sum(sin(x) x) of every point of a stack (module-level: picklable for processes)."""
    return np.sum(np.sin(stack) * stack, axis=tuple(range(1, stack.ndim)))


def sin_point(x):
    return float(np.sum(np.sin(x) * x))


def nan_at_third_element(stack):
    # x[2] moved by +h is the only point whose third entry exceeds 0.7 + h / 2.
    values = sin_rows(stack)
    return np.where(stack.reshape(len(stack), -1)[:, 2] > 0.7 + 5e-5, np.nan, values)


def _serial_and_spread(executor, x, **kwargs):
    serial = refnet.numerical_gradient(sin_rows, x, vectorized=True, **kwargs)
    spread = refnet.numerical_gradient(sin_rows, x, vectorized=True, executor=executor, **kwargs)
    return serial, spread


def _bytes(result):
    if isinstance(result, tuple):
        grad, err = result
        return (grad.tobytes(), err.truncation.tobytes(), err.roundoff.tobytes())
    return result.tobytes()


@pytest.fixture(scope="module")
def threads():
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as executor:
        yield executor


@pytest.mark.parametrize("budget", [None, 1, 8 * 2 * 7 * 3])
@pytest.mark.parametrize("shape", [(), (7,), (3, 7)])
@pytest.mark.parametrize("scheme", ["central", "forward", "five_point"])
def test_threads_give_the_serial_numbers_bit_for_bit(threads, budget, shape, scheme):
    x = np.linspace(-1.3, 0.9, int(np.prod(shape))).reshape(shape)
    for return_error in (False, True):
        serial, spread = _serial_and_spread(
            threads, x, scheme=scheme, return_error=return_error, memory_budget=budget
        )
        assert _bytes(spread) == _bytes(serial)
    # And both are the loop's numbers: f computes each row as it would one point.
    loop = refnet.numerical_gradient(sin_point, x.copy(), scheme=scheme)
    assert spread[0].tobytes() == loop.tobytes()


def test_the_blocks_are_the_tasks(threads):
    x = np.linspace(-1, 1, 40)
    submitted = []

    class Counting(concurrent.futures.Executor):
        def submit(self, fn, *args, **kwargs):
            submitted.append(args[0].stop - args[0].start)
            return threads.submit(fn, *args, **kwargs)

    budget = 2 * 8 * x.size * 6  # six elements' points a block
    refnet.numerical_gradient(
        sin_rows, x, vectorized=True, executor=Counting(), memory_budget=budget
    )
    assert block_rows(x.size, 8, 2, budget) == 6
    assert submitted == [6] * 6 + [4]


def test_x_is_only_read_and_may_be_read_only(threads):
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    x.flags.writeable = False
    before = x.tobytes()
    grad = refnet.numerical_gradient(
        sin_rows, x, vectorized=True, executor=threads, memory_budget=1
    )
    assert x.tobytes() == before
    # d/dx (sin(x) x) = cos(x) x + sin(x); central difference error h² f''' / 6 ≲ 1e-8 · 3 / 6.
    np.testing.assert_allclose(grad, np.cos(x) * x + np.sin(x), rtol=0, atol=1e-8)


def test_a_worker_error_reaches_the_caller(threads):
    calls = []

    def failing(stack):
        calls.append(len(stack))
        if len(calls) == 2:
            raise RuntimeError("boom on a worker")
        return sin_rows(stack)

    x = np.linspace(-1, 1, 50)
    with pytest.raises(RuntimeError, match="boom on a worker"):
        refnet.numerical_gradient(failing, x, vectorized=True, executor=threads, memory_budget=1)


class FirstTaskOnly(concurrent.futures.Executor):
    """Runs the first task it is given at once and leaves every later one pending, as a
    busy pool would: what happens to those is then up to the caller."""

    def __init__(self):
        self.futures = []

    def submit(self, fn, /, *args, **kwargs):
        future = concurrent.futures.Future()
        if not self.futures:
            try:
                future.set_result(fn(*args, **kwargs))
            except Exception as exc:
                future.set_exception(exc)
        self.futures.append(future)
        return future


def test_after_a_worker_error_the_pending_tasks_are_cancelled():
    def failing(stack):
        raise RuntimeError("boom on a worker")

    pool = FirstTaskOnly()
    x = np.linspace(-1, 1, 50)
    with pytest.raises(RuntimeError, match="boom on a worker"):
        refnet.numerical_gradient(failing, x, vectorized=True, executor=pool, memory_budget=1)
    first, *pending = pool.futures
    assert len(pending) >= 2 and first.exception() is not None
    assert all(future.cancelled() for future in pending)


def test_a_non_finite_value_is_reported_where_the_serial_path_reports_it(threads):
    x = np.array([0.1, 0.2, 0.7, 0.3])
    messages = []
    for executor in (None, threads):
        with pytest.raises(ValueError) as caught:
            refnet.numerical_gradient(
                nan_at_third_element, x, vectorized=True, executor=executor, memory_budget=1
            )
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert messages[0].startswith("f returned nan at x[2]+1h")


def test_an_f_that_writes_into_its_stack_is_caught(threads):
    def squaring_in_place(stack):
        stack **= 2
        return np.sum(stack, axis=1)

    for executor in (None, threads):
        with pytest.raises(ValueError, match="f modified the stack"):
            refnet.numerical_gradient(
                squaring_in_place, np.array([1.0, 2.0, 3.0]), vectorized=True, executor=executor
            )


@pytest.mark.slow
def test_processes_give_the_serial_numbers_bit_for_bit():
    # spawn, not fork: the test process may hold threads (JAX's) that fork would copy.
    context = multiprocessing.get_context("spawn")
    x = np.linspace(-2, 2, 30).reshape(5, 6)
    with concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=context) as executor:
        serial, spread = _serial_and_spread(executor, x, memory_budget=2 * 8 * 30 * 4)
    assert spread.tobytes() == serial.tobytes()


@pytest.mark.slow
def test_a_dask_clusters_executor_gives_the_serial_numbers_bit_for_bit():
    distributed = pytest.importorskip(
        "dask.distributed",
        reason="the cluster extra is not installed: pip install -e '.[cluster]'",
    )
    x = np.linspace(-2, 2, 24).reshape(4, 6)
    scale = 1.5

    with (
        # dashboard_address=":0": a free port.  With None the scheduler still serves HTTP on
        # 8787, and a second cluster on the machine (another test run) fails to start.
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        # A closure: Dask pickles f with cloudpickle, so f need not be module-level.
        def scaled(stack):
            return scale * sin_rows(stack)

        executor = client.get_executor()
        serial = refnet.numerical_gradient(
            scaled, x, vectorized=True, memory_budget=2 * 8 * 24 * 5, return_error=True
        )
        spread = refnet.numerical_gradient(
            scaled,
            x,
            vectorized=True,
            memory_budget=2 * 8 * 24 * 5,
            return_error=True,
            executor=executor,
        )
        with pytest.raises(ValueError, match=r"f returned nan at x\[2\]\+1h"):
            refnet.numerical_gradient(
                nan_at_third_element,
                np.array([0.1, 0.2, 0.7, 0.3]),
                vectorized=True,
                executor=executor,
                memory_budget=1,
            )
    assert _bytes(spread) == _bytes(serial)


# -- refused at the entry point ----------------------------------------------------------------


@pytest.mark.parametrize("executor", [object(), "threads", 4, concurrent.futures.Future()])
def test_a_non_executor_is_refused_by_name(executor):
    with pytest.raises(TypeError, match="executor must be a concurrent.futures.Executor"):
        refnet.numerical_gradient(sin_rows, np.ones(3), vectorized=True, executor=executor)


def test_an_executor_needs_the_stacked_path(threads):
    calls = []
    with pytest.raises(ValueError, match="executor needs vectorized=True"):
        refnet.numerical_gradient(lambda v: calls.append(v) or 0.0, np.ones(3), executor=threads)
    assert calls == []


def test_past_the_crossover_a_task_holds_several_elements(threads, monkeypatch):
    """One point a call does not mean one task an element: MIN_ROWS elements a task."""
    from refnet.engine import stacked as stacked_module

    monkeypatch.setattr(stacked_module, "LOOP_ORDER_POINT_BYTES", 8)
    x = np.linspace(-1, 1, 20)
    submitted, calls = [], []

    class Counting(concurrent.futures.Executor):
        def submit(self, fn, *args, **kwargs):
            submitted.append(args[0].stop - args[0].start)
            return threads.submit(fn, *args, **kwargs)

    def rows(stack):
        calls.append(len(stack))
        return sin_rows(stack)

    grad = refnet.numerical_gradient(rows, x, vectorized=True, executor=Counting())
    assert submitted == [8, 8, 4] and set(calls) == {1}
    assert grad.tobytes() == refnet.numerical_gradient(sin_point, x.copy()).tobytes()
