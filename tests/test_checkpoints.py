"""refnet.checkpoints: the history, the checkpoint file, and what may resume what.

Resuming through ``train()`` (bit-exact continuation, rollback) is tested in
test_training.py and, with real processes and signals, in test_training_faults.py; here
the checkpoint is built by hand, so each test sees one piece of the format.
"""

from __future__ import annotations

import json
import os
import stat
import sys

import numpy as np
import pytest

from refnet.checkpoints import (
    CHECKPOINT_FORMAT,
    TRAINING_OPTIONS,
    Checkpoint,
    CheckpointMismatchError,
    Evaluation,
    History,
    changed_options,
    check_resumable,
    load_checkpoint,
    run_config,
    save_checkpoint,
)

OPTIONS = {
    "iterations": 20,
    "batch_size": 5,
    "lr": 0.7,
    "gradient": "backprop",
    "sampling": "without_replacement",
    "eval_every": 4,
}


def data(shift: float = 0.0):
    rng = np.random.default_rng(0)
    x_train, x_test = rng.uniform(size=(8, 3)) + shift, rng.uniform(size=(4, 3))
    return x_train, np.arange(8) % 3, x_test, np.arange(4) % 3


def params(hidden: int = 4) -> dict:
    rng = np.random.default_rng(1)
    return {
        "W1": rng.standard_normal((3, hidden)),
        "b1": rng.standard_normal(hidden),
        "W2": rng.standard_normal((hidden, 3)),
        "b2": rng.standard_normal(3),
    }


def config(**changes) -> dict:
    metadata = changes.pop("metadata", {"seed": 11, "dataset": "digits"})
    shapes = changes.pop("params", params())
    arrays = changes.pop("arrays", data())
    generator = np.random.default_rng(2)
    made = run_config(
        {**OPTIONS, **changes}, params=shapes, arrays=arrays, generator=generator, metadata=metadata
    )
    made["notes"] = {"data_dir": "/somewhere"}
    return made


def checkpoint(iteration: int = 6, **config_changes) -> Checkpoint:
    generator = np.random.default_rng(3)
    generator.random(5)  # a state that is not the seed's
    losses = [1.0 / (i + 1) for i in range(iteration)]
    evaluations = [
        Evaluation(i, i / 2, 0.5 + 0.01 * i, 0.1 * i, 0.6 - 0.01 * i, 0.2 * i)
        for i in range(0, iteration + 1, 4)
    ]
    return Checkpoint(
        params=params(),
        rng_state=generator.bit_generator.state,
        iteration=iteration,
        batches=np.arange(10).reshape(2, 5)[::-1],
        history=History(losses, evaluations, iterations_per_epoch=2, wall_time=1.25),
        config=config(**config_changes),
    )


# --------------------------------------------------------------------------- the file


def test_round_trip_is_exact(tmp_path):
    original = checkpoint()
    save_checkpoint(tmp_path / "ckpt.npz", original)
    loaded = load_checkpoint(tmp_path / "ckpt.npz")
    assert loaded.iteration == original.iteration
    assert loaded.rng_state == original.rng_state
    assert loaded.config == original.config
    assert loaded.history == original.history  # floats exactly, wall time included
    np.testing.assert_array_equal(loaded.batches, original.batches)
    assert list(loaded.params) == list(original.params)
    for name, value in original.params.items():
        assert loaded.params[name].tobytes() == value.tobytes()
        assert loaded.params[name].dtype == value.dtype


def test_batches_are_optional(tmp_path):
    without = Checkpoint(**{**vars(checkpoint()), "batches": None})
    save_checkpoint(tmp_path / "ckpt.npz", without)
    assert load_checkpoint(tmp_path / "ckpt.npz").batches is None


def test_save_creates_the_folder(tmp_path):
    path = save_checkpoint(tmp_path / "new" / "folder" / "ckpt.npz", checkpoint())
    assert load_checkpoint(path).iteration == 6


def test_a_failed_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, checkpoint())
    before = path.read_bytes()

    def broken_savez(file, **arrays):
        file.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, checkpoint(iteration=9))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.npz"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_the_file_gets_the_mode_open_would_give_it(tmp_path):
    old = os.umask(0o027)
    try:
        save_checkpoint(tmp_path / "ckpt.npz", checkpoint())
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "ckpt.npz").st_mode) == 0o640


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*missing.npz"):
        load_checkpoint(tmp_path / "missing.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="garbage.npz is not a refnet training checkpoint"):
        load_checkpoint(garbage)
    other = tmp_path / "other.npz"
    np.savez(other, W1=np.zeros(3))
    with pytest.raises(ValueError, match="other.npz is not a refnet training checkpoint"):
        load_checkpoint(other)


def rewrite_meta(path, change) -> None:
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(str(arrays["meta"][()]))
    change(meta)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)


def test_another_format_version_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.npz", checkpoint())
    rewrite_meta(path, lambda meta: meta.update(format=CHECKPOINT_FORMAT + 1))
    with pytest.raises(ValueError, match=f"checkpoint format {CHECKPOINT_FORMAT + 1}, expected"):
        load_checkpoint(path)


def test_a_loss_history_that_does_not_match_the_iteration_is_damage(tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.npz", checkpoint())
    rewrite_meta(path, lambda meta: meta.update(iteration=7))
    with pytest.raises(ValueError, match="damaged checkpoint: 6 losses recorded for 7 iterations"):
        load_checkpoint(path)


# --------------------------------------------------------------------------- history


def test_history_dict_round_trips_through_json():
    history = checkpoint().history
    again = History.from_dict(json.loads(json.dumps(history.to_dict())))
    assert again == history
    assert history.test_accuracy == [e.test_accuracy for e in history.evaluations]
    assert history.column("epoch") == [0.0, 2.0]


# --------------------------------------------------------------------------- resuming


def test_options_are_the_metadata_and_trains_options():
    assert checkpoint().options() == {"seed": 11, "dataset": "digits", **OPTIONS}
    assert set(TRAINING_OPTIONS) == set(OPTIONS)
    assert checkpoint().notes == {"data_dir": "/somewhere"}


def test_changed_options_ignores_what_was_not_given_and_iterations():
    saved = checkpoint()
    assert changed_options(saved, {"seed": None, "lr": 0.7, "iterations": 500}) == {}
    changed = changed_options(saved, {"seed": 12, "lr": 0.7, "batch_size": 4, "hidden": 9})
    assert changed == {"seed": (12, 11), "batch_size": (4, 5), "hidden": (9, None)}


def test_the_same_run_may_resume_with_more_iterations_and_other_notes():
    saved = checkpoint()
    check_resumable(saved, config(), where="here")
    longer = {**config(iterations=40), "notes": {"data_dir": "/elsewhere"}}
    check_resumable(saved, longer, where="here")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"batch_size": 4}, "batch_size: 5 there, 4 here"),
        ({"lr": 0.5}, "lr: 0.7 there, 0.5 here"),
        ({"sampling": "with_replacement"}, "sampling: 'without_replacement' there"),
        ({"params": params(hidden=6)}, r"W1: \[3, 4\] there, \[3, 6\] here"),
        ({"metadata": {"seed": 12, "dataset": "digits"}}, "seed: 11 there, 12 here"),
        ({"arrays": data(shift=1e-9)}, "data_sha256"),
    ],
)
def test_another_run_is_refused_naming_the_difference(changes, message):
    with pytest.raises(
        CheckpointMismatchError,
        match=f"checkpoint ckpt.npz was written by a different run.*{message}",
    ):
        check_resumable(checkpoint(), config(**changes), where="ckpt.npz")


def test_a_checkpoint_past_the_run_is_refused():
    with pytest.raises(CheckpointMismatchError, match="at iteration 6, past iterations=5"):
        check_resumable(checkpoint(iteration=6), config(iterations=5), where="ckpt.npz")
