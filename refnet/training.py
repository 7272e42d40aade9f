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

Checkpoints.  With ``checkpoint_path``, the state of the run -- parameters, the
generator's ``bit_generator.state``, the iteration, the current epoch's batches, the
history and the run's configuration -- is written atomically (temporary file, then
``os.replace``) every ``checkpoint_every`` iterations, at the end, when the run is
interrupted (Ctrl-C) and when it diverges.  ``train(..., resume=path)`` continues from it
and ends with exactly the parameters of an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import os
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ._checks import (
    StepLostError,
    as_generator,
    describe,
    non_negative_int,
    positive_finite_scalar,
    positive_int,
    real_float_array,
)

__all__ = [
    "train",
    "History",
    "Evaluation",
    "Checkpoint",
    "save_checkpoint",
    "load_checkpoint",
    "evaluate",
    "write_atomically",
    "iterations_per_epoch",
    "epoch_batches",
    "random_batch",
    "TrainingInterrupted",
    "TrainingDiverged",
    "CheckpointMismatchError",
    "GRADIENT_METHODS",
    "SAMPLING_METHODS",
    "DEFAULT_SAMPLING",
]

#: Values of ``train(..., gradient=)``: the chapter's numerical gradient, or backpropagation.
GRADIENT_METHODS = ("numerical", "backprop")
#: Values of ``train(..., sampling=)``; the first is the default (see the module docstring).
SAMPLING_METHODS = ("without_replacement", "with_replacement")
DEFAULT_SAMPLING = SAMPLING_METHODS[0]

#: Version of the checkpoint file layout; a file of another version is refused.
CHECKPOINT_FORMAT = 1

# Configuration entries that may differ between a checkpoint and the run resuming it:
# the number of iterations does not change the trajectory, only where it stops, and the
# notes are not part of the run's definition.
_RESUMABLE_CHANGES = frozenset({"iterations", "notes"})


# --------------------------------------------------------------------------- exceptions


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C (KeyboardInterrupt); the state was rolled back and saved.

    Attributes: ``iteration`` (iterations completed), ``history``, ``checkpoint_path``
    (None if no checkpoint was asked for).  A subclass of KeyboardInterrupt, so code that
    does not catch it stops as Ctrl-C always does.
    """

    def __init__(self, message, *, iteration, history, checkpoint_path):
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

    def __init__(self, message, *, iteration, loss, history, checkpoint_path):
        super().__init__(message)
        self.iteration = iteration
        self.loss = loss
        self.history = history
        self.checkpoint_path = checkpoint_path


class CheckpointMismatchError(ValueError):
    """A checkpoint was given to a run with another architecture, configuration or data."""


# --------------------------------------------------------------------------- sampling


def iterations_per_epoch(train_size, batch_size) -> int:
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


# --------------------------------------------------------------------------- history


@dataclass(frozen=True)
class Evaluation:
    """Loss and accuracy on the whole training and test sets after ``iteration`` iterations."""

    iteration: int
    epoch: float
    train_loss: float
    train_accuracy: float
    test_loss: float
    test_accuracy: float


@dataclass
class History:
    """What a run recorded.

    Attributes
    ----------
    loss : list of float
        Minibatch loss after each iteration's update (the book's ``train_loss_list``,
        figure 4-11).
    evaluations : list of Evaluation
        Whole-set loss and accuracy at iteration 0, after every epoch (or every
        ``eval_every`` iterations) and at the end (figure 4-12).
    iterations_per_epoch : int
    wall_time : float
        Seconds spent in :func:`train`, summed over resumed sessions.
    """

    loss: list = field(default_factory=list)
    evaluations: list = field(default_factory=list)
    iterations_per_epoch: int = 1
    wall_time: float = 0.0

    def column(self, name: str) -> list:
        """One field of every evaluation, e.g. ``history.column("test_accuracy")``."""
        return [getattr(e, name) for e in self.evaluations]

    @property
    def train_accuracy(self) -> list:
        return self.column("train_accuracy")

    @property
    def test_accuracy(self) -> list:
        return self.column("test_accuracy")

    def to_dict(self) -> dict:
        """A JSON-ready dict (floats round-trip exactly through Python's ``json``)."""
        return {
            "loss": list(self.loss),
            "evaluations": [asdict(e) for e in self.evaluations],
            "iterations_per_epoch": self.iterations_per_epoch,
            "wall_time": self.wall_time,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> History:
        return cls(
            loss=[float(v) for v in data["loss"]],
            evaluations=[Evaluation(**e) for e in data["evaluations"]],
            iterations_per_epoch=int(data["iterations_per_epoch"]),
            wall_time=float(data.get("wall_time", 0.0)),
        )


# --------------------------------------------------------------------------- checkpoints


@dataclass
class Checkpoint:
    """The state of a run between two iterations; see :func:`save_checkpoint`."""

    params: dict
    rng_state: dict
    iteration: int
    batches: np.ndarray | None  # the current epoch's batches (sampling without replacement)
    history: History
    config: dict


def save_checkpoint(path, checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint`` to ``path`` (a ``.npz`` file) atomically.

    The arrays are written to a temporary file in the same directory, which then replaces
    ``path`` in one ``os.replace``: a reader (or a crash) sees the old file or the new
    one, never half of one.
    """
    path = Path(path)
    meta = {
        "format": CHECKPOINT_FORMAT,
        "iteration": checkpoint.iteration,
        "rng_state": checkpoint.rng_state,
        "config": checkpoint.config,
        "param_names": list(checkpoint.params),
        "history": {
            "iterations_per_epoch": checkpoint.history.iterations_per_epoch,
            "wall_time": checkpoint.history.wall_time,
        },
    }
    evaluations = checkpoint.history.evaluations
    arrays = {f"param_{k}": np.asarray(v) for k, v in checkpoint.params.items()}
    arrays["loss"] = np.asarray(checkpoint.history.loss, dtype=np.float64)
    arrays["eval_iteration"] = np.array([e.iteration for e in evaluations], dtype=np.int64)
    arrays["eval_values"] = np.array(
        [
            [e.epoch, e.train_loss, e.train_accuracy, e.test_loss, e.test_accuracy]
            for e in evaluations
        ],
        dtype=np.float64,
    ).reshape(-1, 5)
    if checkpoint.batches is not None:
        arrays["batches"] = np.asarray(checkpoint.batches, dtype=np.int64)
    arrays["meta"] = np.array(json.dumps(meta))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda f: np.savez(f, **arrays))
    return path


def write_atomically(path, write) -> None:
    """Call ``write(binary_file)`` on a temporary file next to ``path``, then move it there.

    ``os.replace`` is atomic on POSIX and Windows, so ``path`` is always either the old
    file or the complete new one.  The temporary file is removed if anything fails.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        # mkstemp makes the file private (0600); give it the permissions of a normal file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def load_checkpoint(path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (or by ``refnet train``).

    Raises FileNotFoundError if it does not exist and ValueError, naming the file, if it
    is not a refnet checkpoint of this format.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"][()]))
            if meta.get("format") != CHECKPOINT_FORMAT:
                raise ValueError(
                    f"{path}: checkpoint format {meta.get('format')!r}, expected "
                    f"{CHECKPOINT_FORMAT} (written by another refnet version?)"
                )
            params = {k: data[f"param_{k}"].copy() for k in meta["param_names"]}
            iterations = data["eval_iteration"].tolist()
            values = data["eval_values"].tolist()
            history = History(
                loss=data["loss"].tolist(),
                evaluations=[
                    Evaluation(i, *row) for i, row in zip(iterations, values, strict=True)
                ],
                iterations_per_epoch=int(meta["history"]["iterations_per_epoch"]),
                wall_time=float(meta["history"]["wall_time"]),
            )
            batches = data["batches"].copy() if "batches" in data.files else None
            checkpoint = Checkpoint(
                params=params,
                rng_state=meta["rng_state"],
                iteration=int(meta["iteration"]),
                batches=batches,
                history=history,
                config=meta["config"],
            )
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint at {path}") from None
    except (KeyError, TypeError, json.JSONDecodeError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(
            f"{path} is not a refnet training checkpoint (or it is damaged): {exc!r}"
        ) from exc
    except ValueError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(
            f"{path} is not a refnet training checkpoint (or it is damaged): {exc}"
        ) from exc
    if len(checkpoint.history.loss) != checkpoint.iteration:
        raise ValueError(
            f"{path}: damaged checkpoint: {len(checkpoint.history.loss)} losses recorded "
            f"for {checkpoint.iteration} iterations"
        )
    return checkpoint


def _data_digest(arrays) -> str:
    """SHA-256 of the data, so that a checkpoint is not resumed on other data."""
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape};".encode())
        digest.update(a.data)
    return digest.hexdigest()


def _check_compatible(saved: Mapping, current: Mapping, where: str) -> None:
    differences = []
    for key in sorted(set(saved) | set(current)):
        if key in _RESUMABLE_CHANGES:
            continue
        old, new = saved.get(key), current.get(key)
        if old == new:
            continue
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            for sub in sorted(set(old) | set(new)):
                if old.get(sub) != new.get(sub):
                    differences.append(f"{sub}: {old.get(sub)!r} there, {new.get(sub)!r} here")
        else:
            differences.append(f"{key}: {old!r} there, {new!r} here")
    if differences:
        raise CheckpointMismatchError(
            f"checkpoint {where} was written by a different run, so resuming from it would "
            "not continue that run: " + "; ".join(differences)
        )


# --------------------------------------------------------------------------- the loop


def _quiet_overflow():
    # Overflow on the way to a NaN is reported as the divergence it is, not as warnings.
    return np.errstate(over="ignore", invalid="ignore", divide="ignore")


def evaluate(net, train_data, test_data, *, iteration: int = 0, per_epoch: int = 1) -> Evaluation:
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


def _check_choice(name: str, value, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def _finite_params(params) -> bool:
    return all(np.all(np.isfinite(p)) for p in params.values())


def train(
    net,
    train_data,
    test_data,
    *,
    iterations=10_000,
    batch_size=100,
    lr=0.1,
    gradient="numerical",
    sampling=DEFAULT_SAMPLING,
    rng=None,
    eval_every=None,
    callback: Callable | None = None,
    checkpoint_path=None,
    checkpoint_every=None,
    resume=None,
    metadata: Mapping | None = None,
    notes: Mapping | None = None,
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
        Where to write checkpoints (see :func:`save_checkpoint`).
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
    CheckpointMismatchError
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
    gradient = _check_choice("gradient", gradient, GRADIENT_METHODS)
    sampling = _check_choice("sampling", sampling, SAMPLING_METHODS)
    x_train, t_train = _pair("train_data", train_data)
    x_test, t_test = _pair("test_data", test_data)
    train_size = x_train.shape[0]
    if batch_size > train_size:
        raise ValueError(
            f"batch_size {batch_size} is larger than the training set ({train_size} examples)"
        )
    per_epoch = iterations_per_epoch(train_size, batch_size)
    eval_every = per_epoch if eval_every is None else positive_int("eval_every", eval_every)
    checkpoint_every = (
        eval_every
        if checkpoint_every is None
        else positive_int("checkpoint_every", checkpoint_every)
    )
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {describe(callback)}")
    for name, value in (("metadata", metadata), ("notes", notes)):
        if value is not None and not isinstance(value, Mapping):
            raise TypeError(f"{name} must be a mapping, got {describe(value)}")
    generator = as_generator(rng)
    params = net.params
    names = list(params)
    for name in names:
        if not (isinstance(params[name], np.ndarray) and params[name].dtype.kind == "f"):
            raise TypeError(f"net.params[{name!r}] must be a float ndarray")
    gradient_of = net.numerical_gradient if gradient == "numerical" else net.gradient

    config = {
        "iterations": iterations,
        "batch_size": batch_size,
        "lr": lr,
        "gradient": gradient,
        "sampling": sampling,
        "eval_every": eval_every,
        "param_shapes": {k: list(params[k].shape) for k in names},
        "train_size": train_size,
        "test_size": int(x_test.shape[0]),
        "data_sha256": _data_digest((x_train, t_train, x_test, t_test)),
        "bit_generator": type(generator.bit_generator).__name__,
        "metadata": json.loads(json.dumps(dict(metadata or {}))),
    }

    if resume is not None:
        where = "(given)" if isinstance(resume, Checkpoint) else str(resume)
        saved = resume if isinstance(resume, Checkpoint) else load_checkpoint(resume)
        _check_compatible(saved.config, config, where)
        if saved.iteration > iterations:
            raise CheckpointMismatchError(
                f"checkpoint {where} is at iteration {saved.iteration}, past iterations="
                f"{iterations}: ask for at least {saved.iteration}"
            )
        for name in names:
            params[name][...] = saved.params[name]
        generator.bit_generator.state = copy.deepcopy(saved.rng_state)
        iteration, batches = saved.iteration, saved.batches
        history = copy.deepcopy(saved.history)
    else:
        iteration, batches = 0, None
        history = History(iterations_per_epoch=per_epoch)

    def evaluate_at(i: int) -> Evaluation:
        return evaluate(net, (x_train, t_train), (x_test, t_test), iteration=i, per_epoch=per_epoch)

    # The state after the last completed iteration.  Whatever stops an iteration half-way
    # (Ctrl-C, a callback, a non-finite loss) rolls everything back to it, so the
    # parameters, the generator and the history always describe the same moment.
    snapshot = (
        iteration,
        batches,
        {k: params[k].copy() for k in names},
        generator.bit_generator.state,
    )

    def roll_back() -> None:
        nonlocal iteration, batches
        iteration, batches, saved_params, rng_state = snapshot
        for k in names:
            params[k][...] = saved_params[k]
        generator.bit_generator.state = rng_state
        del history.loss[iteration:]
        while history.evaluations and history.evaluations[-1].iteration > iteration:
            history.evaluations.pop()

    def write_checkpoint() -> None:
        if checkpoint_path is not None:
            checkpoint = Checkpoint(
                params={k: params[k] for k in names},
                rng_state=generator.bit_generator.state,
                iteration=iteration,
                batches=batches,
                history=history,
                config={**config, "notes": json.loads(json.dumps(dict(notes or {})))},
            )
            save_checkpoint(checkpoint_path, checkpoint)

    started = time.perf_counter()
    wall_before = history.wall_time
    try:
        while True:
            # Evaluations are keyed by iteration, so one interrupted before it was
            # recorded is simply done again after a resume.
            due = iteration % eval_every == 0 or iteration == iterations
            if due and not (history.evaluations and history.evaluations[-1].iteration == iteration):
                history.evaluations.append(evaluate_at(iteration))
            if iteration > 0 and (iteration % checkpoint_every == 0 or iteration == iterations):
                history.wall_time = wall_before + time.perf_counter() - started
                write_checkpoint()
            if iteration >= iterations:
                break

            if sampling == "with_replacement":
                batch = random_batch(generator, train_size, batch_size)
            else:
                if iteration % per_epoch == 0 or batches is None:
                    batches = epoch_batches(generator, train_size, batch_size)
                batch = batches[iteration % per_epoch]
            x_batch, t_batch = x_train[batch], t_train[batch]

            with _quiet_overflow():
                try:
                    grads = gradient_of(x_batch, t_batch)
                except StepLostError as exc:
                    raise _Divergence(
                        float("nan"), f"the parameters grew too large: {exc}"
                    ) from exc
                for k in names:
                    params[k] -= lr * grads[k]
                loss = float(net.loss(x_batch, t_batch))
            if not math.isfinite(loss):
                raise _Divergence(loss, f"the loss became {loss}")
            if not _finite_params(params):
                raise _Divergence(loss, "a parameter became NaN or infinite")

            history.loss.append(loss)
            iteration += 1
            history.wall_time = wall_before + time.perf_counter() - started
            snapshot = (
                iteration,
                batches,
                {k: params[k].copy() for k in names},
                generator.bit_generator.state,
            )
            if callback is not None:
                callback(iteration, loss, history)
    except KeyboardInterrupt:
        roll_back()
        history.wall_time = wall_before + time.perf_counter() - started
        write_checkpoint()
        saved_to = f"; checkpoint saved to {checkpoint_path}" if checkpoint_path else ""
        raise TrainingInterrupted(
            f"training interrupted after {iteration} of {iterations} iterations{saved_to}",
            iteration=iteration,
            history=history,
            checkpoint_path=checkpoint_path,
        ) from None
    except _Divergence as stop:
        roll_back()
        history.wall_time = wall_before + time.perf_counter() - started
        write_checkpoint()
        saved_to = f" (saved to {checkpoint_path})" if checkpoint_path else ""
        raise TrainingDiverged(
            f"training stopped at iteration {iteration + 1} of {iterations}: {stop.reason} "
            f"(lr={lr:g}). The network keeps the parameters after iteration {iteration}, "
            f"the last with a finite loss{saved_to}. A smaller lr usually helps.",
            iteration=iteration,
            loss=stop.loss,
            history=history,
            checkpoint_path=checkpoint_path,
        ) from stop.__cause__
    except BaseException:
        roll_back()
        raise
    return history


class _Divergence(Exception):
    def __init__(self, loss: float, reason: str):
        super().__init__(reason)
        self.loss = loss
        self.reason = reason
