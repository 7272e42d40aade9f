"""``refnet train``: the command line, in-process (cli.main) and once as a real process.

Runs are tiny (a few hidden units, tens of iterations) so the whole file takes seconds;
the accuracy goals of the default configuration are measured by benchmarks/train.py.
"""

from __future__ import annotations

import gzip
import inspect
import io
import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import numpy as np
import pytest

import refnet
from refnet import TwoLayerNet, cli
from refnet.checkpoints import load_checkpoint
from refnet.commands import train as train_command
from refnet.commands import train_outputs
from refnet.datasets import load_digits

TINY = ["--hidden-size", "5", "--batch-size", "10", "--gradient", "backprop"]


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Runs land in tmp_path, and no default data location points at the real home."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REFNET_DATA", str(tmp_path / "no-data-here"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def run(capsys, *args):
    code = cli.main(["train", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def metrics(folder) -> dict:
    return json.loads((Path(folder) / "metrics.json").read_text())


def params(folder) -> dict:
    with np.load(Path(folder) / "params.npz") as data:
        return {k: data[k] for k in data.files}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------- outputs


def test_a_run_writes_metrics_curve_params_and_prints_a_summary(capsys, tmp_path):
    code, out, err = run(capsys, *TINY, "--iterations", 40, "--out", tmp_path / "run")
    assert code == 0, err
    folder = tmp_path / "run"
    assert {p.name for p in folder.iterdir()} == {
        "metrics.json",
        "learning_curve.png",
        "params.npz",
        "checkpoint.npz",
    }
    assert (folder / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = metrics(folder)
    assert record["status"] == "completed"
    config = record["config"]
    assert (config["dataset"], config["hidden_size"], config["iterations"]) == ("digits", 5, 40)
    assert (config["gradient"], config["batch_size"], config["seed"]) == ("backprop", 10, 0)
    assert len(record["history"]["loss"]) == 40
    assert {"refnet", "numpy", "python", "scikit-learn", "matplotlib"} <= set(record["versions"])
    assert record["wall_time_s"] > 0
    # The reported accuracies are those of the saved parameters on the default split.
    net = TwoLayerNet(64, 5, 10)
    net.params = params(folder)
    (x, t), (x_test, t_test) = load_digits()
    assert record["final"]["test_accuracy"] == net.accuracy(x_test, t_test)
    assert record["final"]["train_accuracy"] == net.accuracy(x, t)
    assert record["final"]["iteration"] == 40
    # The summary names the accuracies, the wall time and the gradient method.
    assert f"test {net.accuracy(x_test, t_test):.4f}" in out
    assert "wall time" in out and "gradient   backprop" in out
    assert "\r" not in err  # stderr is not a terminal here: no progress bar


def test_numerical_gradient_is_the_default(capsys, tmp_path):
    code, out, err = run(
        capsys, "--hidden-size", 2, "--batch-size", 5, "--iterations", 2, "--out", "n"
    )
    assert code == 0, err
    config = metrics("n")["config"]
    assert config["gradient"] == "numerical"
    # Whatever method TwoLayerNet.numerical_gradient uses by default is the one reported.
    # The method the CLI reports is the one TwoLayerNet.numerical_gradient uses by default.
    default = inspect.signature(TwoLayerNet.numerical_gradient).parameters["method"].default
    assert config["numerical_method"] == train_command.NUMERICAL_METHOD == default
    assert "gradient   numerical" in out


def test_default_output_folder_is_under_runs(capsys, tmp_path):
    code, _, err = run(capsys, *TINY, "--iterations", 3)
    assert code == 0, err
    (folder,) = (tmp_path / "runs").iterdir()
    assert (folder / "metrics.json").is_file()
    code, _, _ = run(capsys, *TINY, "--iterations", 3)  # a second run gets its own folder
    assert code == 0 and len(list((tmp_path / "runs").iterdir())) == 2


def test_same_seed_same_parameters_other_seed_others(capsys):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        assert run(capsys, *TINY, "--iterations", 15, "--seed", seed, "--out", name)[0] == 0
    assert same(params("a"), params("b"))
    assert not same(params("a"), params("c"))


def test_refuses_to_overwrite_a_run(capsys):
    assert run(capsys, *TINY, "--iterations", 3, "--out", "r")[0] == 0
    code, _, err = run(capsys, *TINY, "--iterations", 3, "--out", "r")
    assert code == 2
    assert "r already holds a run; continue it with --resume r" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--test-size", "0.5", "--dataset", "mnist"], "--test-size applies to --dataset digits"),
        (["--data-dir", "x"], "--data-dir, --download and --no-verify apply to --dataset mnist"),
        (["--batch-size", "5000"], "--batch-size 5000 is larger than the training set"),
        (["--lr", "-1"], "--lr must be > 0, got -1"),
        (["--hidden-size", "0"], "--hidden-size must be >= 1, got 0"),
        # A run of no iterations would list a checkpoint it never wrote.
        (["--iterations", "0"], "--iterations must be >= 1, got 0"),
        (["--test-size", "1.5"], "--test-size must be in (0, 1), got 1.5"),
        (["--test-size", "0.001"], "--test-size 0.001 leaves no test example of class 0"),
        (["--resume", "nowhere"], "--resume nowhere: no such file or folder"),
        (["--resume", "."], "--resume .: no checkpoint found at checkpoint.npz"),
        (["--out", "README.md"], "--out README.md is a file, not a folder"),
    ],
)
def test_usage_errors_are_one_clear_line(capsys, tmp_path, args, message):
    Path("README.md").write_text("an existing file\n")
    code, out, err = run(capsys, "--iterations", 2, *args)
    assert code == 2
    assert err.startswith("refnet train: error: ") and message in err
    assert err.count("\n") == 1 and out == ""
    assert not (tmp_path / "runs").exists()  # no empty run folder left behind


def test_help_lists_the_options(capsys):
    assert cli.main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--gradient", "--sampling", "--resume", "--data-dir", "--no-verify", "--seed"):
        assert option in text
    assert "{numerical,backprop}" in text


# --------------------------------------------------------------------------- MNIST from local files


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file written from the format's definition (not by refnet's reader)."""
    code = {np.dtype(np.uint8): 0x08}[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.tobytes(), mtime=0))


def small_mnist(root: Path, n_train: int = 120, n_test: int = 30) -> None:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    labels = rng.integers(0, 10, size=n_train + n_test).astype(np.uint8)
    images = rng.integers(0, 256, size=(n_train + n_test, 28, 28)).astype(np.uint8)
    write_idx(root / "train-images-idx3-ubyte.gz", images[:n_train])
    write_idx(root / "train-labels-idx1-ubyte.gz", labels[:n_train])
    write_idx(root / "t10k-images-idx3-ubyte.gz", images[n_train:])
    write_idx(root / "t10k-labels-idx1-ubyte.gz", labels[n_train:])


def test_mnist_from_a_local_folder_with_the_books_recipe(capsys, tmp_path):
    data = tmp_path / "mnist"
    small_mnist(data)
    mnist = ["--dataset", "mnist", "--data-dir", data, "--no-verify"]
    code, out, err = run(capsys, *mnist, "--gradient", "backprop", "--iterations", 5, "--out", "m")
    assert code == 0, err
    record = metrics("m")
    config = record["config"]
    # The book's train_neuralnet.py: hidden 50, batch 100, lr 0.1, weight_init_std 0.01.
    assert (config["hidden_size"], config["batch_size"], config["lr"]) == (50, 100, 0.1)
    assert config["weight_init_std"] == 0.01
    sizes = (config["input_size"], config["train_examples"], config["test_examples"])
    assert sizes == (784, 120, 30)
    assert config["data_dir"] == str(data)
    assert len(record["history"]["loss"]) == 5
    assert config["verify_sha256"] is False
    # Without --iterations the book's 10,000 are the default.
    assert train_command.DEFAULTS["mnist"]["iterations"] == 10_000
    # A resumed run finds the files (and skips the check) as the run did.
    code, _, err = run(capsys, "--resume", "m", "--iterations", 8)
    assert code == 0, err
    assert len(metrics("m")["history"]["loss"]) == 8


def test_mnist_files_are_verified_unless_told_otherwise(capsys, tmp_path):
    data = tmp_path / "mnist"
    small_mnist(data)
    code, _, err = run(capsys, "--dataset", "mnist", "--data-dir", data, *TINY, "--out", "m")
    assert code == 1
    assert "could not load mnist" in err and "SHA-256 mismatch" in err and "--no-verify" in err


def test_missing_mnist_files_say_how_to_get_them(capsys, tmp_path):
    code, out, err = run(capsys, "--dataset", "mnist", "--data-dir", tmp_path / "empty", *TINY)
    assert code == 1 and out == ""
    assert err.startswith("refnet train: error: MNIST files not found in --data-dir ")
    assert "add --download" in err and "--data-dir DIR" in err
    assert "load_mnist" not in err and "download=True" not in err and "root=" not in err
    assert err.count("\n") == 1


def test_an_offline_download_names_each_mirror_once(capsys, tmp_path, monkeypatch):
    import urllib.error
    import urllib.request

    from refnet.datasets import MNIST_MIRRORS

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network here")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    code, out, err = run(
        capsys, "--dataset", "mnist", "--data-dir", tmp_path / "d", "--download", *TINY
    )
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("refnet train: error: could not download")
    for mirror in MNIST_MIRRORS:
        assert err.count(mirror) == 1, mirror


# --------------------------------------------------------------------------- interrupt, resume, divergence


def interrupt_at(monkeypatch, k: int) -> None:
    """Make the k-th iteration's progress callback raise KeyboardInterrupt, as Ctrl-C would."""
    original = train_outputs.Progress.update

    def update(self, iteration, loss, history):
        if iteration == k:
            raise KeyboardInterrupt
        return original(self, iteration, loss, history)

    monkeypatch.setattr(train_outputs.Progress, "update", update)


def test_ctrl_c_saves_a_checkpoint_and_resume_finishes_the_same_run(capsys, monkeypatch):
    args = [*TINY, "--iterations", 300, "--sampling", "with-replacement"]
    assert run(capsys, *args, "--out", "whole")[0] == 0
    with monkeypatch.context() as patch:
        interrupt_at(patch, 170)
        code, _, err = run(capsys, *args, "--out", "parts")
    assert code == 130
    assert "interrupted after 170 of 300 iterations" in err
    assert "refnet train --resume parts" in err
    assert metrics("parts")["status"] == "interrupted"
    assert load_checkpoint(Path("parts") / "checkpoint.npz").iteration == 170
    code, out, err = run(capsys, "--resume", "parts")
    assert code == 0, err
    assert same(params("parts"), params("whole"))
    whole, parts = metrics("whole"), metrics("parts")
    assert parts["history"]["loss"] == whole["history"]["loss"]
    assert parts["history"]["evaluations"] == whole["history"]["evaluations"]
    assert parts["final"] == whole["final"]


def test_resume_refuses_changed_options_but_may_extend(capsys):
    assert run(capsys, *TINY, "--iterations", 20, "--out", "r")[0] == 0
    code, _, err = run(capsys, "--resume", "r", "--batch-size", 7, "--lr", 3)
    assert code == 2
    assert "--batch-size 7 (the run used 10)" in err and "--lr 3.0 (the run used 2.0)" in err
    assert run(capsys, *TINY, "--iterations", 35, "--out", "longer")[0] == 0
    assert run(capsys, "--resume", "r", "--iterations", 35)[0] == 0
    assert same(params("r"), params("longer"))


def test_a_resume_from_another_architecture_is_refused(capsys):
    assert run(capsys, *TINY, "--iterations", 10, "--out", "r")[0] == 0
    code, _, err = run(capsys, "--resume", "r", "--hidden-size", 6)
    assert code == 2 and "--hidden-size 6 (the run used 5)" in err


def test_divergence_stops_with_a_message_and_keeps_good_parameters(capsys):
    code, _, err = run(capsys, *TINY, "--iterations", 50, "--lr", 1.7e308, "--out", "d")
    assert code == 1
    assert "the loss became nan" in err and "the last with a finite loss" in err
    record = metrics("d")
    assert record["status"] == "diverged" and "loss became nan" in record["message"]
    kept = params("d")
    assert all(np.all(np.isfinite(v)) for v in kept.values())
    assert record["final"]["iteration"] == len(record["history"]["loss"]) < 50


# --------------------------------------------------------------------------- progress bar


def _frames(text: str) -> list[str]:
    """What a terminal would show at each redraw of a bar written to ``text``."""
    return [frame.strip("\n") for frame in text.replace("\x1b[A", "").split("\r") if frame.strip()]


def test_the_progress_bar_shows_the_count_the_loss_and_the_latest_trained_accuracy():
    from refnet.checkpoints import Evaluation, History

    untrained = Evaluation(0, 0.0, 2.3, 0.11, 2.3, 0.0975)  # the network before any update
    history = History(evaluations=[untrained])
    stream = io.StringIO()
    bar = train_outputs.Progress(30, file=stream, ncols=100, mininterval=0, dynamic_ncols=False)
    bar.update(10, 0.5, history)
    before = _frames(stream.getvalue())[-1]
    history.evaluations.append(Evaluation(20, 1.0, 0.4, 0.875, 0.6, 0.8125))
    bar.update(20, 0.25, history)
    history.evaluations.append(Evaluation(30, 1.5, 0.3, 0.9, 0.5, 0.84375))
    history.loss = [0.5] * 29 + [0.125]
    bar.close(history)
    frames = _frames(stream.getvalue())
    # Before an evaluation of a trained network there is no accuracy to show (the
    # untrained one's would be shown for a whole epoch otherwise).
    assert "10/30" in before and "0.5000" in before and "—" in before
    assert "0.098" not in before and "0.097" not in before
    (middle,) = {frame for frame in frames if "20/30" in frame}
    assert "0.2500" in middle and "0.812" in middle
    # Closing shows the final evaluation and ends the line.
    assert "30/30" in frames[-1] and "0.1250" in frames[-1] and "0.844" in frames[-1]
    assert stream.getvalue().endswith("\n")
    assert all(len(frame) <= 100 for frame in frames)


@pytest.mark.parametrize("columns", [40, 60, 79, 120])
def test_the_progress_bar_fits_the_terminal_and_keeps_loss_and_accuracy_in_view(columns):
    from refnet.checkpoints import Evaluation, History

    history = History(evaluations=[Evaluation(5, 1.0, 0.4, 0.9, 0.5, 0.875)])
    stream = io.StringIO()
    bar = train_outputs.Progress(
        100_000, file=stream, ncols=columns, mininterval=0, dynamic_ncols=False
    )
    for iteration in (1, 9, 99, 999, 9999, 99_999):  # the count gains digits
        bar.update(iteration, 0.5, history)
    bar.close()
    frames = _frames(stream.getvalue())[1:]  # after the first update
    assert len(frames) >= 6 and all(len(frame) <= columns for frame in frames)
    assert all("loss 0.5000" in frame and "0.875" in frame for frame in frames)


def test_a_resumed_bar_starts_at_the_checkpoints_iteration():
    from refnet.checkpoints import History

    stream = io.StringIO()
    bar = train_outputs.Progress(
        50, initial=40, file=stream, ncols=80, mininterval=0, dynamic_ncols=False
    )
    bar.update(41, 0.5, History())
    bar.close()
    assert "40/50" in _frames(stream.getvalue())[0] and "41/50" in _frames(stream.getvalue())[-1]


def test_the_bar_is_drawn_only_on_a_terminal_and_not_with_quiet(capsys, monkeypatch):
    monkeypatch.setattr(train_command, "_wants_progress", lambda args: not args.quiet)
    code, _, err = run(capsys, *TINY, "--iterations", 20, "--out", "shown")
    assert code == 0 and "\r" in err and "20/20" in err
    code, _, err = run(capsys, *TINY, "--iterations", 20, "--out", "quiet", "--quiet")
    assert code == 0 and "\r" not in err and "20/20" not in err
    off = io.StringIO()
    bar = train_outputs.Progress(20, enabled=False, file=off)
    bar.update(1, 0.5, None)
    bar.close()
    assert off.getvalue() == ""


# --------------------------------------------------------------------------- resuming a run that is done


def test_resuming_a_complete_run_says_so_and_how_to_extend_it(capsys):
    assert run(capsys, *TINY, "--iterations", 12, "--out", "r")[0] == 0
    before = Path("r", "metrics.json").read_bytes()
    code, out, err = run(capsys, "--resume", "r")
    assert code == 0 and out == ""
    assert err == (
        "refnet train: r is already complete (12 of 12 iterations); to train it further, "
        "add --iterations N with N > 12\n"
    )
    assert Path("r", "metrics.json").read_bytes() == before  # nothing rewritten
    code, _, err = run(capsys, "--resume", "r", "--iterations", 5)
    assert code == 2 and "--iterations 5 is fewer than the 12 the run has done" in err


def test_resuming_a_diverged_run_is_refused_with_the_reason(capsys):
    assert run(capsys, *TINY, "--iterations", 50, "--lr", 1.7e308, "--out", "d")[0] == 1
    code, _, err = run(capsys, "--resume", "d", "--iterations", 60)
    assert code == 2 and err.count("\n") == 1
    assert "diverged after iteration" in err and "smaller --lr" in err


# --------------------------------------------------------------------------- metrics.json and its schema


def validate(record: dict) -> None:
    """Validate against the schema shipped in the package (jsonschema, draft 2020-12)."""
    schema = train_outputs.metrics_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(record)


def keys_of(value, prefix="") -> list[str]:
    if isinstance(value, dict):
        return [
            k for key, v in value.items() for k in [prefix + key, *keys_of(v, prefix + key + ".")]
        ]
    if isinstance(value, list):
        return [k for v in value for k in keys_of(v, prefix)]
    return []


def test_every_kind_of_run_writes_metrics_that_follow_the_schema(capsys, monkeypatch, tmp_path):
    args = [*TINY, "--iterations", 30, "--eval-every", 7]
    assert run(capsys, *args, "--out", "done")[0] == 0
    validate(metrics("done"))
    with monkeypatch.context() as patch:
        interrupt_at(patch, 17)
        assert run(capsys, *args, "--out", "parts")[0] == 130
    interrupted = metrics("parts")
    validate(interrupted)
    assert interrupted["status"] == "interrupted" and "--resume parts" in interrupted["message"]
    assert run(capsys, "--resume", "parts")[0] == 0
    resumed = metrics("parts")
    validate(resumed)
    # One wall time, summed over the sessions: the second session added to the first's.
    assert [key for key in keys_of(resumed) if "time" in key] == ["wall_time_s"]
    assert resumed["wall_time_s"] > interrupted["wall_time_s"] > 0
    assert (
        resumed["wall_time_s"] == load_checkpoint(Path("parts", "checkpoint.npz")).history.wall_time
    )
    assert resumed["history"] == metrics("done")["history"]
    assert run(capsys, *TINY, "--iterations", 50, "--lr", 1.7e308, "--out", "diverged")[0] == 1
    diverged = metrics("diverged")
    validate(diverged)
    assert diverged["status"] == "diverged"
    small_mnist(tmp_path / "mnist")
    mnist = ["--dataset", "mnist", "--data-dir", tmp_path / "mnist", "--no-verify"]
    assert run(capsys, *mnist, *TINY, "--iterations", 3, "--out", "m")[0] == 0
    validate(metrics("m"))
    assert metrics("m")["config"]["test_size"] is None


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.update(session_time_s=1.0),  # a field the schema does not describe
        lambda r: r["history"].update(wall_time=1.0),  # the old second wall time
        lambda r: r.pop("final"),
        lambda r: r.update(status="finished"),
        lambda r: r.update(message="stopped"),  # a message on a completed run
        lambda r: r["final"].update(test_accuracy=1.5),
        lambda r: r["history"]["evaluations"][0].pop("epoch"),
    ],
)
def test_the_schema_refuses_what_is_not_a_metrics_file(capsys, change):
    assert run(capsys, *TINY, "--iterations", 4, "--out", "r")[0] == 0
    record = metrics("r")
    change(record)
    with pytest.raises(jsonschema.ValidationError):
        validate(record)


def test_the_first_loss_is_after_the_first_update_unlike_the_first_evaluation(capsys):
    """What the schema says of history.loss[0] and evaluations[0].train_loss."""
    assert run(capsys, *TINY, "--iterations", 1, "--out", "one")[0] == 0
    record = metrics("one")
    net = TwoLayerNet(64, 5, 10, weight_init_std=0.1, rng=np.random.default_rng(0))
    (x, t), _ = load_digits()
    assert record["history"]["evaluations"][0]["train_loss"] == net.loss(x, t)  # before
    net.params = params("one")  # after the one update
    rng = np.random.default_rng(0)
    TwoLayerNet(64, 5, 10, weight_init_std=0.1, rng=rng)  # the same draws as the run's net
    batch = rng.permutation(x.shape[0])[:10]  # the first minibatch of the first epoch
    assert record["history"]["loss"][0] == net.loss(x[batch], t[batch])


REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference" / "training.md"


def schema_rows(schema: dict, node: dict, prefix: str = "") -> list[tuple[str, str, str]]:
    """(field, type, description) of every field under ``node``, depth first."""
    rows = []
    for name, field in node.get("properties", {}).items():
        if "$ref" in field.get("items", {}):
            items = schema["$defs"][field["items"]["$ref"].rsplit("/", 1)[1]]
            rows.append((prefix + name, "array of objects", field["description"]))
            rows += schema_rows(schema, items, f"{prefix}{name}[].")
            continue
        rows.append((prefix + name, type_words(field), field["description"]))
        rows += schema_rows(schema, field, f"{prefix}{name}.")
    return rows


def type_words(field: dict) -> str:
    if "const" in field:
        return f"`{json.dumps(field['const'])}`"
    if "enum" in field:
        return " or ".join(f"`{json.dumps(value)}`" for value in field["enum"])
    kinds = field["type"] if isinstance(field["type"], list) else [field["type"]]
    if kinds == ["array"]:
        return f"array of {field['items']['type']}s"
    return " or ".join(kinds)


def test_the_reference_page_describes_every_field_of_metrics_json_from_the_schema():
    """docs/reference/training.md's table is the schema's descriptions, generated; rewrite
    it with REFNET_UPDATE_DOCS=1 pytest tests/test_cli_train.py -k reference_page."""
    schema = train_outputs.metrics_schema()
    rows = schema_rows(schema, schema)
    table = "| field | type | meaning |\n|---|---|---|\n" + "".join(
        f"| `{name}` | {kind} | {text} |\n" for name, kind, text in rows
    )
    page = REFERENCE.read_text(encoding="utf-8")
    begin, end = "<!-- metrics fields: begin -->\n", "<!-- metrics fields: end -->"
    assert begin in page and end in page, f"the metrics-fields markers are missing from {REFERENCE}"
    head, rest = page.split(begin, 1)
    current, tail = rest.split(end, 1)
    if os.environ.get("REFNET_UPDATE_DOCS") == "1":
        REFERENCE.write_text(head + begin + table + end + tail, encoding="utf-8")
        return
    assert current == table, "the metrics.json table is out of date (see this test's docstring)"
    assert len(rows) >= 40  # every field of config, final, versions, history and its evaluations


# --------------------------------------------------------------------------- a real Ctrl-C


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_to_a_real_process_then_resume_matches_an_uninterrupted_run(capsys, tmp_path):
    """SIGINT to `python -m refnet train`, then --resume: the parameters of an uninterrupted run.

    The interrupted run asks for far more iterations than it will get, so the signal always
    lands mid-run however fast the machine; the resumed and the reference runs then stop
    at the same, later iteration (the trajectory does not depend on where a run stops).
    """
    root = Path(refnet.__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    args = [*TINY, "--eval-every", 25, "--seed", 5]
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            # Ctrl-C restored in the child (a background shell starts it ignored); not by a
            # preexec_fn, which makes subprocess fork: JAX, if imported, warns about that.
            "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "runpy.run_module('refnet', run_name='__main__', alter_sys=True)",
            "train",
            *map(str, args),
            "--iterations",
            "100000000",
            "--out",
            str(tmp_path / "sig"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    checkpoint = tmp_path / "sig" / "checkpoint.npz"
    try:
        deadline = time.monotonic() + 120
        while not checkpoint.exists():
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "no checkpoint after 120 s"
            time.sleep(0.01)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130, err
    assert "interrupted after" in err and "--resume" in err
    stopped = load_checkpoint(checkpoint).iteration
    assert stopped >= 25
    end = stopped + 13
    code, _, err = run(capsys, "--resume", tmp_path / "sig", "--iterations", end)
    assert code == 0, err
    code, _, err = run(capsys, *args, "--iterations", end, "--out", tmp_path / "ref")
    assert code == 0, err
    assert same(params(tmp_path / "sig"), params(tmp_path / "ref"))
    assert (
        metrics(tmp_path / "sig")["history"]["loss"] == metrics(tmp_path / "ref")["history"]["loss"]
    )
