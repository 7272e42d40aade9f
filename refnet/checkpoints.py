"""What a training run records and how it is saved: the history, checkpoints, resuming.

[`History`][refnet.checkpoints.History] is what [`refnet.training.train`][refnet.training.train] returns: the minibatch loss of
every iteration and the evaluations on the whole training and test sets.  A
[`Checkpoint`][refnet.checkpoints.Checkpoint] is the state of a run between two iterations -- parameters, the
generator's ``bit_generator.state``, the iteration, the current epoch's batches, the
history and the run's configuration -- enough to continue the run and end with exactly
the parameters of an uninterrupted one.

The file format (version `CHECKPOINT_FORMAT`) is one ``.npz`` archive, written
atomically: ``param_<name>`` for each parameter, ``loss``, ``eval_iteration`` and
``eval_values`` for the history, ``batches`` (sampling without replacement only), and
``meta``, a JSON string with the iteration, the generator state and the configuration.

The configuration (`run_config`) is what defines a run: ``train()``'s options
(`TRAINING_OPTIONS`), the parameter shapes, the sizes and SHA-256 of the data, the
bit generator and the caller's ``metadata``.  A checkpoint resumes only a run with the
same configuration, except for the entries in `RESUMABLE_CHANGES`
(`check_resumable`).  The caller's ``notes`` are stored but never compared.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time
import zipfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._io import write_atomically

# RunState, run_config, check_resumable, changed_options and the option tables are shared
# with refnet.training and the CLI but are not public: they are not listed here.
__all__ = [
    "History",
    "Evaluation",
    "Checkpoint",
    "save_checkpoint",
    "load_checkpoint",
    "CheckpointMismatchError",
    "CHECKPOINT_FORMAT",
]

#: Version of the checkpoint file layout; a file of another version is refused.
CHECKPOINT_FORMAT = 1

#: The keyword options of ``train()`` that a checkpoint's configuration records.
TRAINING_OPTIONS = ("iterations", "batch_size", "lr", "gradient", "sampling", "eval_every")

#: Configuration entries that may differ between a checkpoint and the run resuming it:
#: the number of iterations does not change the trajectory, only where it stops, and the
#: notes are not part of the run's definition.
RESUMABLE_CHANGES = frozenset({"iterations", "notes"})


class CheckpointMismatchError(ValueError):
    """A checkpoint was given to a run with another architecture, configuration or data."""


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
        Seconds spent in [`refnet.training.train`][refnet.training.train], summed over resumed sessions.
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
    """The state of a run between two iterations; see [`save_checkpoint`][refnet.checkpoints.save_checkpoint]."""

    params: dict
    rng_state: dict
    iteration: int
    batches: np.ndarray | None  # the current epoch's batches (sampling without replacement)
    history: History
    config: dict

    @property
    def metadata(self) -> dict:
        """The ``metadata`` the run was given (compared on resume)."""
        return self.config.get("metadata", {})

    @property
    def notes(self) -> dict:
        """The ``notes`` the run was given (not compared on resume)."""
        return self.config.get("notes", {})

    def options(self) -> dict:
        """The options that define the run: the caller's metadata and ``train()``'s options.

        One flat dict, e.g. ``{"seed": 0, ..., "batch_size": 10, "lr": 2.0, ...}``, with
        ``eval_every`` as the run used it (one epoch unless it was given).
        """
        options = dict(self.metadata)
        options.update(
            {name: self.config[name] for name in TRAINING_OPTIONS if name in self.config}
        )
        return options


def changed_options(checkpoint: Checkpoint, given: Mapping) -> dict:
    """The options in ``given`` that would make a resumed run differ from ``checkpoint``'s.

    ``given`` maps option names, as in [`Checkpoint.options`][refnet.checkpoints.Checkpoint.options], to values; None means
    "not given" and an entry of `RESUMABLE_CHANGES` may change.  Returns
    ``{name: (given value, the checkpoint's value)}``, empty if the run may resume.

    Examples
    --------
    >>> config = {"iterations": 10, "batch_size": 5, "lr": 0.1, "gradient": "backprop",
    ...           "sampling": "with_replacement", "eval_every": 2, "metadata": {"seed": 3}}
    >>> saved = Checkpoint({}, {}, 4, None, History(), config)
    >>> changed_options(saved, {"seed": 4, "lr": 0.1, "iterations": 20, "batch_size": None})
    {'seed': (4, 3)}
    """
    saved = checkpoint.options()
    return {
        name: (value, saved.get(name))
        for name, value in given.items()
        if name not in RESUMABLE_CHANGES and value is not None and value != saved.get(name)
    }


def run_config(
    options: Mapping, *, params: Mapping, arrays, generator: np.random.Generator, metadata
) -> dict:
    """The configuration that defines a run, as checkpoints store and compare it.

    ``options`` holds ``train()``'s `TRAINING_OPTIONS`; ``arrays`` is
    ``(x_train, t_train, x_test, t_test)``; ``metadata`` is the caller's (JSON-ready).
    """
    x_train, _, x_test, _ = arrays
    return {
        **{name: options[name] for name in TRAINING_OPTIONS},
        "param_shapes": {name: list(value.shape) for name, value in params.items()},
        "train_size": int(x_train.shape[0]),
        "test_size": int(x_test.shape[0]),
        "data_sha256": _data_digest(arrays),
        "bit_generator": type(generator.bit_generator).__name__,
        "metadata": json.loads(json.dumps(dict(metadata or {}))),
    }


def check_resumable(checkpoint: Checkpoint, config: Mapping, *, where: str) -> None:
    """Raise CheckpointMismatchError unless ``checkpoint`` continues the run ``config`` defines.

    The configurations must agree but for `RESUMABLE_CHANGES`, and the checkpoint
    must not be past the run's ``iterations``.  ``where`` names the checkpoint in messages.
    """
    differences = []
    saved = checkpoint.config
    for key in sorted(set(saved) | set(config)):
        old, new = saved.get(key), config.get(key)
        if key in RESUMABLE_CHANGES or old == new:
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
    if checkpoint.iteration > config["iterations"]:
        raise CheckpointMismatchError(
            f"checkpoint {where} is at iteration {checkpoint.iteration}, past iterations="
            f"{config['iterations']}: ask for at least {checkpoint.iteration}"
        )


def _data_digest(arrays) -> str:
    """SHA-256 of the data, so that a checkpoint is not resumed on other data."""
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape};".encode())
        digest.update(a.data)
    return digest.hexdigest()


# --------------------------------------------------------------------------- the live state


class RunState:
    """The live state of a run, and a snapshot of it after the last completed iteration.

    The parameters (``params``, the network's own arrays, updated in place by the loop),
    the generator, the iteration, the current epoch's batches and the history always
    describe the same moment: `advance` takes the snapshot after an iteration, and
    whatever stops the next one half-way (Ctrl-C, a callback, a non-finite loss) calls
    `roll_back`.  `save` writes the state as a [`Checkpoint`][refnet.checkpoints.Checkpoint] to
    ``path`` (if not None) with the run's ``config``; `resumed` starts from one.
    ``history.wall_time`` adds this session's time to the sessions before it.
    """

    def __init__(self, params, generator, history, *, config, path, iteration=0, batches=None):
        self.params = params
        self.generator = generator
        self.history = history
        self.iteration = iteration
        self.batches = batches
        self.config = config  # what checkpoints record
        self.checkpoint_path = path  # where they go; None: nowhere
        self._wall_before = history.wall_time
        self._started = time.perf_counter()
        self._commit()

    @classmethod
    def resumed(cls, params, generator, resume, *, config, path) -> RunState:
        """The run a checkpoint (or the path of one) left, after checking it is this run."""
        where = "(given)" if isinstance(resume, Checkpoint) else str(resume)
        saved = resume if isinstance(resume, Checkpoint) else load_checkpoint(resume)
        check_resumable(saved, config, where=where)
        for name in params:
            params[name][...] = saved.params[name]
        generator.bit_generator.state = copy.deepcopy(saved.rng_state)
        history = copy.deepcopy(saved.history)
        return cls(
            params,
            generator,
            history,
            config=config,
            path=path,
            iteration=saved.iteration,
            batches=saved.batches,
        )

    def evaluated_at(self, iteration: int) -> bool:
        """Whether the history's last evaluation is that of ``iteration``."""
        last = self.history.evaluations[-1] if self.history.evaluations else None
        return last is not None and last.iteration == iteration

    def advance(self, loss: float) -> None:
        """Record a completed iteration and take the snapshot."""
        self.history.loss.append(loss)
        self.iteration += 1
        self.clock()
        self._commit()

    def clock(self) -> None:
        """Bring ``history.wall_time`` up to now."""
        self.history.wall_time = self._wall_before + time.perf_counter() - self._started

    def _commit(self) -> None:
        params = {name: value.copy() for name, value in self.params.items()}
        state = self.generator.bit_generator.state
        self._snapshot = (self.iteration, self.batches, params, state)

    def roll_back(self) -> None:
        """Back to the snapshot; the clock keeps running."""
        self.iteration, self.batches, params, state = self._snapshot
        for name, value in params.items():
            self.params[name][...] = value
        self.generator.bit_generator.state = state
        del self.history.loss[self.iteration :]
        evaluations = self.history.evaluations
        while evaluations and evaluations[-1].iteration > self.iteration:
            evaluations.pop()
        self.clock()

    def save(self) -> None:
        """Write the checkpoint, if the run has a path for it."""
        if self.checkpoint_path is not None:
            checkpoint = Checkpoint(
                params=dict(self.params),
                rng_state=self.generator.bit_generator.state,
                iteration=self.iteration,
                batches=self.batches,
                history=self.history,
                config=self.config,
            )
            save_checkpoint(self.checkpoint_path, checkpoint)


# --------------------------------------------------------------------------- the file


def save_checkpoint(path: str | os.PathLike[str], checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint`` to ``path`` (a ``.npz`` file) atomically, creating its folder.

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
    arrays: dict[str, Any] = {f"param_{k}": np.asarray(v) for k, v in checkpoint.params.items()}
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


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint written by [`save_checkpoint`][refnet.checkpoints.save_checkpoint] (or by ``refnet train``).

    Raises FileNotFoundError if it does not exist and ValueError, naming the file, if it
    is not a refnet checkpoint of this format.
    """
    path = Path(path)
    damaged = f"{path} is not a refnet training checkpoint (or it is damaged)"
    try:
        with np.load(path, allow_pickle=False) as data:
            checkpoint = _read(data, path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint at {path}") from None
    except (KeyError, TypeError, json.JSONDecodeError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"{damaged}: {exc!r}") from exc
    except ValueError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{damaged}: {exc}") from exc
    if len(checkpoint.history.loss) != checkpoint.iteration:
        raise ValueError(
            f"{path}: damaged checkpoint: {len(checkpoint.history.loss)} losses recorded "
            f"for {checkpoint.iteration} iterations"
        )
    return checkpoint


def _read(data, path: Path) -> Checkpoint:
    """The checkpoint in an open ``.npz`` archive (KeyError etc. if it is not one)."""
    meta = json.loads(str(data["meta"][()]))
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path}: checkpoint format {meta.get('format')!r}, expected "
            f"{CHECKPOINT_FORMAT} (written by another refnet version?)"
        )
    iterations = data["eval_iteration"].tolist()
    values = data["eval_values"].tolist()
    history = History(
        loss=data["loss"].tolist(),
        evaluations=[Evaluation(i, *row) for i, row in zip(iterations, values, strict=True)],
        iterations_per_epoch=int(meta["history"]["iterations_per_epoch"]),
        wall_time=float(meta["history"]["wall_time"]),
    )
    return Checkpoint(
        params={k: data[f"param_{k}"].copy() for k in meta["param_names"]},
        rng_state=meta["rng_state"],
        iteration=int(meta["iteration"]),
        batches=data["batches"].copy() if "batches" in data.files else None,
        history=history,
        config=meta["config"],
    )
