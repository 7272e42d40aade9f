"""Minibatch stochastic gradient descent (sections 4.5.2 and 4.5.3): the book's training loop.

The loop of the book's ``train_neuralnet.py``, one iteration at a time:

1. draw a minibatch of ``batch_size`` training examples;
2. compute the gradient of the loss on it (``numerical`` differences, the chapter's
   point, or ``backprop``, the next chapter's fast version);
3. update every parameter in place, ``params[key] -= lr * grad[key]``;
4. record the minibatch loss at the updated parameters (as the book does).

Every epoch the network is evaluated on the whole training and test sets (loss and
accuracy), and once more at the end if the last iteration is not on an epoch boundary.

Epochs.  An epoch is ``ceil(train_size / batch_size)`` iterations: the number of batches
it takes to go through the training set once.  (The book writes
``max(train_size / batch_size, 1)``, which is the same for 60,000 / 100 but a fraction
otherwise.)

Sampling.  Two ways to draw minibatches (``sampling=``):

* ``"without_replacement"`` (the default): each epoch is a fresh random permutation of
  the training set cut into batches, so every example is seen once per epoch.  When
  ``batch_size`` does not divide the training set, the last batch of the epoch is filled
  up with examples drawn (without replacement) from the rest of that epoch, so every
  batch really has ``batch_size`` rows.
* ``"with_replacement"``: the book's ``np.random.choice(train_size, batch_size)``: every
  batch is ``batch_size`` independent uniform draws, so an example may appear twice in a
  batch and, in one epoch, only about 1 - 1/e = 63% of the examples are seen.

Without replacement is the default because it makes an "epoch" mean what the book says
it means (the whole training set, once), every example contributes equally, and the
gradient noise is lower for the same cost; the book's sampling is one argument away.

Determinism.  One ``numpy.random.Generator`` drives all randomness: pass the generator
that initialised the network and the same seed gives bit-identical parameters.  The global
``np.random`` state is never used.

Checkpoints.  With ``checkpoint_path``, the state of the run (see
[`refnet.checkpoints`][refnet.checkpoints]) is written atomically every ``checkpoint_every`` iterations,
at the end, when the run is interrupted (Ctrl-C) and when it diverges.
``train(..., resume=path)`` continues from it and ends with exactly the parameters of an
uninterrupted run.
"""
# Size: a little over 500 lines, about a third of them this docstring and train()'s, which
# explain sampling, determinism and checkpoints where a reader of the loop needs them.

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import ArrayLike

from ._checks import (
    RngLike,
    StepLostError,
    as_generator,
    describe,
    non_negative_int,
    one_of,
    positive_finite_scalar,
    positive_int,
    real_float_array,
)
from .checkpoints import (
    TRAINING_OPTIONS,
    Checkpoint,
    Evaluation,
    History,
    RunState,
    run_config,
)
from .two_layer_net import TwoLayerNet

__all__ = [
    "train",
    "evaluate",
    "iterations_per_epoch",
    "epoch_batches",
    "random_batch",
    "TrainingInterrupted",
    "TrainingDiverged",
    "GRADIENT_METHODS",
    "SAMPLING_METHODS",
    "DEFAULT_SAMPLING",
]

#: A data set as the datasets return each side: ``(x, t)``, inputs and targets.
Data: TypeAlias = "tuple[ArrayLike, ArrayLike]"

#: Values of ``train(..., gradient=)``: the chapter's numerical gradient, or backpropagation.
GRADIENT_METHODS = ("numerical", "backprop")
#: Values of ``train(..., sampling=)``; the first is the default (see the module docstring).
SAMPLING_METHODS = ("without_replacement", "with_replacement")
DEFAULT_SAMPLING = SAMPLING_METHODS[0]


# --------------------------------------------------------------------------- exceptions


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C (KeyboardInterrupt); the state was rolled back and saved.

    Attributes: ``iteration`` (iterations completed), ``history``, ``checkpoint_path``
    (None if no checkpoint was asked for).  A subclass of KeyboardInterrupt, so code that
    does not catch it stops as Ctrl-C always does.
    """

    def __init__(
        self, message: str, *, iteration: int, history: History, checkpoint_path: Path | None
    ) -> None:
        super().__init__(message)
        self.iteration = iteration
        self.history = history
        self.checkpoint_path = checkpoint_path


class TrainingDiverged(FloatingPointError):
    """The loss (or a parameter) became NaN or infinite, or grew past what the step can resolve.

    The network keeps the parameters of the last iteration whose loss was finite; they
    are also in the checkpoint, if one was asked for.  Attributes: ``iteration``
    (iterations completed with a finite loss), ``loss`` (the offending value), ``history``,
    ``checkpoint_path``.
    """

    def __init__(
        self,
        message: str,
        *,
        iteration: int,
        loss: float,
        history: History,
        checkpoint_path: Path | None,
    ) -> None:
        super().__init__(message)
        self.iteration = iteration
        self.loss = loss
        self.history = history
        self.checkpoint_path = checkpoint_path


# --------------------------------------------------------------------------- sampling


def iterations_per_epoch(train_size: int, batch_size: int) -> int:
    """Iterations in one epoch: ``ceil(train_size / batch_size)``.

    Examples
    --------
    >>> iterations_per_epoch(60000, 100)  # the book's MNIST run: 600
    600
    >>> iterations_per_epoch(1346, 20)  # 67 full batches and one partial batch
    68
    """
    train_size = positive_int("train_size", train_size)
    batch_size = positive_int("batch_size", batch_size)
    return -(-train_size // batch_size)


def random_batch(rng: np.random.Generator, train_size: int, batch_size: int) -> np.ndarray:
    """The book's minibatch: ``batch_size`` indices drawn uniformly *with* replacement.

    This is ``np.random.choice(train_size, batch_size)`` of ``train_neuralnet.py``, drawn
    from ``rng`` instead of the global state.

    Examples
    --------
    >>> batch = random_batch(np.random.default_rng(0), train_size=10, batch_size=4)
    >>> batch.shape, bool(np.all((0 <= batch) & (batch < 10)))
    ((4,), True)
    """
    return rng.choice(train_size, batch_size)


def epoch_batches(rng: np.random.Generator, train_size: int, batch_size: int) -> np.ndarray:
    """One epoch of minibatches *without* replacement, shape ``(iterations, batch_size)``.

    A fresh permutation of ``range(train_size)`` is cut into
    ``iterations_per_epoch(train_size, batch_size)`` batches.  If ``batch_size`` does not
    divide ``train_size``, the last batch is completed with distinct examples drawn from
    the full batches before it, so that every batch has exactly ``batch_size`` rows and
    every example appears at least once in the epoch.

    Examples
    --------
    >>> batches = epoch_batches(np.random.default_rng(0), train_size=10, batch_size=4)
    >>> batches.shape
    (3, 4)
    >>> sorted(set(batches.ravel().tolist())) == list(range(10))  # every example seen
    True
    >>> all(len(set(row)) == 4 for row in batches.tolist())  # no repeat within a batch
    True
    """
    if batch_size > train_size:
        raise ValueError(
            f"batch_size {batch_size} is larger than the training set ({train_size} examples)"
        )
    order = rng.permutation(train_size)
    partial = train_size % batch_size
    if partial:
        full = train_size - partial  # examples in the full batches
        extra = order[rng.choice(full, batch_size - partial, replace=False)]
        order = np.concatenate([order, extra])
    return order.reshape(-1, batch_size)


# --------------------------------------------------------------------------- training


def _quiet_overflow():
    # Overflow on the way to a NaN is reported as the divergence it is, not as warnings.
    return np.errstate(over="ignore", invalid="ignore", divide="ignore")


def evaluate(
    net: TwoLayerNet,
    train_data: Data,
    test_data: Data,
    *,
    iteration: int = 0,
    per_epoch: int = 1,
) -> Evaluation:
    """Loss and accuracy of ``net`` on the whole training and test sets.

    Examples
    --------
    >>> from refnet import TwoLayerNet
    >>> net = TwoLayerNet(2, 2, 2, weight_init_std=0)  # all-zero weights: 50/50 everywhere
    >>> x, t = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([0, 1])
    >>> e = evaluate(net, (x, t), (x, t))
    >>> round(e.train_loss, 6) == round(float(np.log(2)), 6), e.test_accuracy  # ties go to 0
    (True, 0.5)
    """
    (x_train, t_train), (x_test, t_test) = train_data, test_data
    with _quiet_overflow():
        return Evaluation(
            iteration=iteration,
            epoch=iteration / per_epoch,
            train_loss=float(net.loss(x_train, t_train)),
            train_accuracy=float(net.accuracy(x_train, t_train)),
            test_loss=float(net.loss(x_test, t_test)),
            test_accuracy=float(net.accuracy(x_test, t_test)),
        )


def train(
    net: TwoLayerNet,
    train_data: Data,
    test_data: Data,
    *,
    iterations: int = 10_000,
    batch_size: int = 100,
    lr: float = 0.1,
    gradient: str = "numerical",
    sampling: str = DEFAULT_SAMPLING,
    rng: RngLike = None,
    eval_every: int | None = None,
    callback: Callable[[int, float, History], Any] | None = None,
    checkpoint_path: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
    resume: Checkpoint | str | os.PathLike[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    notes: Mapping[str, Any] | None = None,
) -> History:
    """Train ``net`` by minibatch SGD and evaluate it on the test data every epoch.

    The defaults are the book's MNIST run (10,000 iterations of batches of 100, lr 0.1,
    numerical gradients); see the module docstring for sampling, epochs and checkpoints.

    Parameters
    ----------
    net : TwoLayerNet or alike
        Anything with ``params`` (a dict of float arrays, updated in place), ``loss(x, t)``,
        ``accuracy(x, t)``, ``numerical_gradient(x, t)`` and ``gradient(x, t)``.
    train_data, test_data : (x, t) pairs
        Inputs (N, D) and targets (labels or one-hot), as returned by ``load_digits``.
    iterations : int
        Number of parameter updates (the total, counting those before a resume).
    batch_size : int
        Rows per minibatch, at most the size of the training set.
    lr : float
        Learning rate.
    gradient : {"numerical", "backprop"}
        ``net.numerical_gradient(x, t)`` (with its default method) or ``net.gradient(x, t)``.
    sampling : {"without_replacement", "with_replacement"}
        How minibatches are drawn (the book's is ``"with_replacement"``).
    rng : numpy.random.Generator or int, optional
        The generator that draws the minibatches; pass the one that initialised ``net``
        so that one seed determines the whole run.
    eval_every : int, optional
        Iterations between evaluations; default one epoch.
    callback : callable, optional
        ``callback(iteration, loss, history)`` after every iteration (``iteration``
        counts the iterations done).  It may raise KeyboardInterrupt to stop the run.
    checkpoint_path : str or os.PathLike, optional
        Where to write checkpoints (see [`refnet.checkpoints.save_checkpoint`][refnet.checkpoints.save_checkpoint]).
    checkpoint_every : int, optional
        Iterations between checkpoints; default ``eval_every``.
    resume : Checkpoint, str or os.PathLike, optional
        Continue from this checkpoint: ``net``'s parameters, ``rng``'s state and the
        history are set from it.  Everything but ``iterations`` must match the run that
        wrote it (architecture, data, batch size, lr, gradient, sampling, metadata),
        else CheckpointMismatchError.
    metadata : mapping, optional
        JSON-ready facts that define the run (e.g. the dataset and seed), stored in
        checkpoints and compared on resume.
    notes : mapping, optional
        JSON-ready facts stored in checkpoints but not compared (e.g. where the data
        files are); a resumed run's notes replace the checkpoint's.

    Returns
    -------
    History

    Raises
    ------
    TrainingInterrupted
        On KeyboardInterrupt (Ctrl-C): the iteration in progress is undone (parameters,
        generator and history are as they were after the last completed iteration),
        the checkpoint is written, and the exception carries the history.
    TrainingDiverged
        If the loss or a parameter becomes NaN or infinite (or too large for the
        numerical gradient's step): the update is undone, so ``net`` keeps the last
        parameters with a finite loss, and the checkpoint is written.
    refnet.checkpoints.CheckpointMismatchError
        If ``resume`` comes from another run.

    Examples
    --------
    >>> from refnet import TwoLayerNet
    >>> rng = np.random.default_rng(0)
    >>> x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> t = np.array([0, 1, 1, 1])  # logical OR
    >>> net = TwoLayerNet(2, 3, 2, weight_init_std=0.5, rng=rng)
    >>> history = train(net, (x, t), (x, t), iterations=300, batch_size=2, lr=2.0, rng=rng)
    >>> len(history.loss), history.iterations_per_epoch, history.test_accuracy[-1]
    (300, 2, 1.0)
    """
    iterations = non_negative_int("iterations", iterations)
    batch_size = positive_int("batch_size", batch_size)
    lr = positive_finite_scalar("lr", lr)
    gradient = one_of("gradient", gradient, GRADIENT_METHODS)
    sampling = one_of("sampling", sampling, SAMPLING_METHODS)
    data = _checked_data(train_data, test_data, batch_size)
    per_epoch = iterations_per_epoch(data[0].shape[0], batch_size)
    eval_every = per_epoch if eval_every is None else positive_int("eval_every", eval_every)
    if checkpoint_every is not None:
        checkpoint_every = positive_int("checkpoint_every", checkpoint_every)
    plan = _Plan(
        iterations, batch_size, lr, gradient, sampling, eval_every, checkpoint_every, per_epoch
    )
    _check_hooks(callback, metadata, notes)
    generator = as_generator(rng)
    _check_params(net.params)
    config = run_config(
        plan.options(), params=net.params, arrays=data, generator=generator, metadata=metadata
    )
    config["notes"] = json.loads(json.dumps(dict(notes or {})))  # stored, never compared
    if resume is None:
        history = History(iterations_per_epoch=plan.per_epoch)
        run = RunState(net.params, generator, history, config=config, path=checkpoint_path)
    else:
        run = RunState.resumed(net.params, generator, resume, config=config, path=checkpoint_path)
    step = net.numerical_gradient if plan.gradient == "numerical" else net.gradient
    try:
        _loop(run, net, data, plan, step, callback)
    except KeyboardInterrupt:
        run.roll_back()
        # A second Ctrl-C during this save is held until the checkpoint is complete
        # (write_atomically), then raised here: the run is stopping anyway.
        with contextlib.suppress(KeyboardInterrupt):
            run.save()
        raise _interrupted(run, plan) from None
    except _Divergence as stop:
        run.roll_back()
        run.save()
        raise _diverged(run, plan, stop) from stop.__cause__
    except BaseException:
        run.roll_back()
        raise
    return run.history


def _interrupted(run: RunState, plan: _Plan) -> TrainingInterrupted:
    saved_to = f"; checkpoint saved to {run.checkpoint_path}" if run.checkpoint_path else ""
    return TrainingInterrupted(
        f"training interrupted after {run.iteration} of {plan.iterations} iterations{saved_to}",
        iteration=run.iteration,
        history=run.history,
        checkpoint_path=run.checkpoint_path,
    )


def _diverged(run: RunState, plan: _Plan, stop: _Divergence) -> TrainingDiverged:
    saved_to = f" (saved to {run.checkpoint_path})" if run.checkpoint_path else ""
    return TrainingDiverged(
        f"training stopped at iteration {run.iteration + 1} of {plan.iterations}: "
        f"{stop.reason} (lr={plan.lr:g}). The network keeps the parameters after iteration "
        f"{run.iteration}, the last with a finite loss{saved_to}. A smaller lr usually helps.",
        iteration=run.iteration,
        loss=stop.loss,
        history=run.history,
        checkpoint_path=run.checkpoint_path,
    )


# --------------------------------------------------------------------------- the loop


@dataclass(frozen=True)
class _Plan:
    """The validated schedule of a run."""

    iterations: int
    batch_size: int
    lr: float
    gradient: str
    sampling: str
    eval_every: int
    checkpoint_every: int | None  # None: with every evaluation
    per_epoch: int

    def options(self) -> dict:
        """``train()``'s options as a checkpoint records them (TRAINING_OPTIONS)."""
        return {name: getattr(self, name) for name in TRAINING_OPTIONS}

    def evaluates_at(self, iteration: int) -> bool:
        return iteration % self.eval_every == 0 or iteration == self.iterations

    def checkpoints_at(self, iteration: int) -> bool:
        every = self.eval_every if self.checkpoint_every is None else self.checkpoint_every
        return iteration > 0 and (iteration % every == 0 or iteration == self.iterations)


def _loop(run: RunState, net, data, plan: _Plan, step, callback) -> None:
    """Iterate until ``plan.iterations``: evaluate, checkpoint, draw, step, record."""
    x_train, t_train, x_test, t_test = data
    while True:
        # Evaluations are keyed by iteration, so one interrupted before it was recorded
        # is simply done again after a resume.
        if plan.evaluates_at(run.iteration) and not run.evaluated_at(run.iteration):
            run.history.evaluations.append(
                evaluate(
                    net,
                    (x_train, t_train),
                    (x_test, t_test),
                    iteration=run.iteration,
                    per_epoch=plan.per_epoch,
                )
            )
        if plan.checkpoints_at(run.iteration):
            run.clock()
            run.save()
        if run.iteration >= plan.iterations:
            return
        batch = _next_batch(run, plan, x_train.shape[0])
        loss = _step(net, step, x_train[batch], t_train[batch], plan.lr)
        run.advance(loss)
        if callback is not None:
            callback(run.iteration, loss, run.history)


def _next_batch(run: RunState, plan: _Plan, train_size: int) -> np.ndarray:
    if plan.sampling == "with_replacement":
        return random_batch(run.generator, train_size, plan.batch_size)
    position = run.iteration % plan.per_epoch
    if position == 0 or run.batches is None:
        run.batches = epoch_batches(run.generator, train_size, plan.batch_size)
    return run.batches[position]


def _step(net, gradient_of, x_batch, t_batch, lr: float) -> float:
    """One SGD update of ``net.params`` in place; the minibatch loss after it."""
    params = net.params
    with _quiet_overflow():
        try:
            grads = gradient_of(x_batch, t_batch)
        except StepLostError as exc:
            raise _Divergence(float("nan"), f"the parameters grew too large: {exc}") from exc
        for name in params:
            params[name] -= lr * grads[name]
        loss = float(net.loss(x_batch, t_batch))
    if not math.isfinite(loss):
        raise _Divergence(loss, f"the loss became {loss}")
    if not all(np.all(np.isfinite(p)) for p in params.values()):
        raise _Divergence(loss, "a parameter became NaN or infinite")
    return loss


class _Divergence(Exception):
    def __init__(self, loss: float, reason: str):
        super().__init__(reason)
        self.loss = loss
        self.reason = reason


# --------------------------------------------------------------------------- arguments


def _pair(name: str, data):
    try:
        x, t = data
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (x, t), got {describe(data)}") from None
    x = real_float_array(f"{name}[0] (x)", x)
    t = np.asarray(t)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{name}[0] (x) must be a non-empty batch (N, D), got shape {x.shape}")
    if t.ndim == 0 or t.shape[0] != x.shape[0]:
        raise ValueError(
            f"{name} has {x.shape[0]} inputs but {t.shape[0] if t.ndim else 0} targets"
        )
    return x, t


def _checked_data(train_data, test_data, batch_size: int) -> tuple:
    """``(x_train, t_train, x_test, t_test)``, with room for a batch in the training set."""
    data = _pair("train_data", train_data) + _pair("test_data", test_data)
    train_size = data[0].shape[0]
    if batch_size > train_size:
        raise ValueError(
            f"batch_size {batch_size} is larger than the training set ({train_size} examples)"
        )
    return data


def _check_hooks(callback, metadata, notes) -> None:
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {describe(callback)}")
    for name, value in (("metadata", metadata), ("notes", notes)):
        if value is not None and not isinstance(value, Mapping):
            raise TypeError(f"{name} must be a mapping, got {describe(value)}")


def _check_params(params) -> None:
    for name, value in params.items():
        if not (isinstance(value, np.ndarray) and value.dtype.kind == "f"):
            raise TypeError(f"net.params[{name!r}] must be a float ndarray")
