"""What ``refnet train`` shows, reads and writes: the progress bar, the run's folder, the summary.

The output folder of a run holds params.npz, learning_curve.png, checkpoint.npz and
metrics.json.  metrics.json is described, field by field, by a JSON Schema (draft
2020-12) shipped inside the package, refnet/schemas/metrics.schema.json
(`metrics_schema`); the reference page (docs/reference/training.md) quotes its
descriptions, and the tests validate real runs' files against it.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from refnet._checks import install_hint
from refnet._command_line import UsageError

CHECKPOINT_NAME = "checkpoint.npz"
METRICS_NAME = "metrics.json"
PARAMS_NAME = "params.npz"
CURVE_NAME = "learning_curve.png"
#: The version of metrics.json's layout, its ``format`` field; the schema states it too.
METRICS_FORMAT = 1
#: What the train extra installs; named when one of its packages is missing.
TRAIN_EXTRA = install_hint("train")


def metrics_schema() -> dict:
    """The JSON Schema of metrics.json, as shipped in the package.

    Examples
    --------
    >>> schema = metrics_schema()
    >>> schema["$schema"], schema["properties"]["format"]["const"]
    ('https://json-schema.org/draft/2020-12/schema', 1)
    """
    text = resources.files("refnet").joinpath("schemas/metrics.schema.json").read_text("utf-8")
    return json.loads(text)


# --------------------------------------------------------------------------- progress


def progress_note(loss: float | None, history) -> str:
    """What the bar shows first: the minibatch loss and the latest test accuracy.

    The evaluation at iteration 0 is of the untrained network, so the accuracy reads "—"
    until an evaluation after some training.

    Examples
    --------
    >>> from refnet.checkpoints import Evaluation, History
    >>> history = History(evaluations=[Evaluation(0, 0.0, 2.3, 0.1, 2.3, 0.098)])
    >>> progress_note(0.5, history)
    'loss 0.5000, test acc —'
    >>> history.evaluations.append(Evaluation(10, 1.0, 0.4, 0.9, 0.5, 0.875))
    >>> progress_note(0.25, history)
    'loss 0.2500, test acc 0.875'
    """
    evaluations = history.evaluations if history is not None else []
    latest = next((e for e in reversed(evaluations) if e.iteration > 0), None)
    accuracy = "—" if latest is None else f"{latest.test_accuracy:.3f}"
    return f"loss {'—' if loss is None else f'{loss:.4f}'}, test acc {accuracy}"


class Progress:
    """The progress bar of ``refnet train``: tqdm's, on stderr, or nothing.

    ``update(iteration, loss, history)`` is ``train()``'s callback; ``close(history)``
    shows the final evaluation and ends the line.  ``initial`` is the iteration a resumed
    run starts from.  Extra keywords go to ``tqdm`` (a test gives ``file`` and ``ncols``).
    The loss and accuracy come first, so that a narrow terminal, where tqdm cuts the line
    at its width, loses the rate before them.
    """

    FORMAT = (
        "{desc}  {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]"
    )

    def __init__(self, total: int, *, initial: int = 0, enabled: bool = True, **options):
        self.bar = None
        if not enabled:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            print(
                f"refnet train: no progress bar, as tqdm is not installed ({TRAIN_EXTRA})",
                file=sys.stderr,
            )
            return
        settings: dict[str, Any] = {
            "file": sys.stderr,
            "unit": "it",
            "mininterval": 0.1,
            "dynamic_ncols": True,
            "bar_format": self.FORMAT,
            "desc": progress_note(None, None),
        }
        settings.update(options)
        self.bar = tqdm(total=total, initial=initial, **settings)

    def update(self, iteration: int, loss: float, history) -> None:
        if self.bar is not None:
            self.bar.set_description_str(progress_note(loss, history), refresh=False)
            self.bar.update(iteration - self.bar.n)

    def close(self, history=None) -> None:
        if self.bar is None:
            return
        if history is not None and history.loss:
            self.bar.set_description_str(progress_note(history.loss[-1], history), refresh=False)
            self.bar.update(len(history.loss) - self.bar.n)
        self.bar.close()
        self.bar = None


# --------------------------------------------------------------------------- the files


def saved_run(resume: Path | None):
    """``(checkpoint path, Checkpoint)`` of the run to resume, or ``(None, None)``."""
    if resume is None:
        return None, None
    from refnet.checkpoints import load_checkpoint

    path = resume / CHECKPOINT_NAME if resume.is_dir() else resume
    if not path.is_file():
        raise UsageError(f"--resume {resume}: no checkpoint found at {path}")
    try:
        return path, load_checkpoint(path)
    except (ValueError, OSError) as exc:
        # load_checkpoint's detail, for a file that is no .npz at all, is NumPy's advice
        # on pickles: the first clause is what the user needs.
        message = str(exc)
        if message.startswith(f"{path} is not a refnet training checkpoint"):
            message = message.split(": ", 1)[0]
        raise UsageError(f"--resume {resume}: {message}") from None


def nothing_to_do(saved, iterations: int, out: Path) -> str | None:
    """Why resuming this run would change nothing, or None if it would.

    A run at its last iteration whose outputs are written is complete; a run that
    diverged would diverge again at the same iteration, as the trajectory is determined.
    """
    if saved is None:
        return None
    record = read_metrics(out / METRICS_NAME)
    done = record.get("final", {}).get("iteration") == saved.iteration
    if done and record.get("status") == "diverged":
        raise UsageError(
            f"the run in {out} diverged after iteration {saved.iteration}; resuming repeats "
            "the same iterations and diverges again. Start a new run with a smaller --lr."
        )
    if done and record.get("status") == "completed" and saved.iteration >= iterations:
        return (
            f"{out} is already complete ({saved.iteration} of {saved.iteration} iterations); "
            f"to train it further, add --iterations N with N > {saved.iteration}"
        )
    return None


def holds_a_run(out: Path) -> bool:
    return any((out / name).exists() for name in (CHECKPOINT_NAME, METRICS_NAME, PARAMS_NAME))


def read_metrics(path: Path) -> dict:
    """A metrics.json's content, or ``{}`` if there is none (or it is not one)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def final_evaluation(net, history, train_data, test_data, iteration: int) -> dict:
    """The last evaluation, made now if the run stopped between evaluations."""
    from refnet.training import evaluate

    last = history.evaluations[-1] if history.evaluations else None
    if last is None or last.iteration != iteration:
        last = evaluate(net, train_data, test_data, iteration=iteration)
    keys = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")
    return {"iteration": iteration, **{key: getattr(last, key) for key in keys}}


def versions(dataset: str) -> dict:
    import refnet

    found = {
        "refnet": refnet.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
    }
    modules = ["sklearn"] if dataset == "digits" else []
    for name in modules + ["matplotlib"]:
        module = sys.modules.get(name)
        if module is not None:
            found["scikit-learn" if name == "sklearn" else name] = module.__version__
    return found


def metrics_record(*, status: str, message, config: dict, final: dict, history) -> dict:
    """metrics.json's content (refnet/schemas/metrics.schema.json says what each field is).

    The history's ``wall_time`` is the record's ``wall_time_s``, stated once; the
    checkpoint keeps it in the history, where a resumed run adds to it.
    """
    recorded = history.to_dict()
    wall_time = recorded.pop("wall_time")
    record = {"format": METRICS_FORMAT, "status": status}
    if message:
        record["message"] = message
    record.update(
        config=config,
        final=final,
        wall_time_s=wall_time,
        versions=versions(config["dataset"]),
        history=recorded,
    )
    return record


def write_outputs(out: Path, *, net, history, final, config, status, message) -> list[str]:
    """Write params.npz, learning_curve.png (unless interrupted) and metrics.json."""
    from refnet._io import write_atomically

    written = []
    out.mkdir(parents=True, exist_ok=True)
    write_atomically(out / PARAMS_NAME, lambda f: np.savez(f, **dict(net.params)))
    written.append(PARAMS_NAME)
    if status != "interrupted":
        from refnet.plots import plot_learning_curve

        title = f"{config['dataset']}: {config['gradient']} gradient"
        plot_learning_curve(history, out / CURVE_NAME, title=title)
        written.append(CURVE_NAME)
    record = metrics_record(
        status=status, message=message, config=config, final=final, history=history
    )
    # Every number is finite (train() stops before a non-finite loss), so the file is
    # strict JSON; allow_nan=False would say so loudly if that ever changed.
    text = json.dumps(record, indent=2, allow_nan=False) + "\n"
    write_atomically(out / METRICS_NAME, lambda f: f.write(text.encode()))
    written.append(METRICS_NAME)
    if status != "interrupted":
        written.append(CHECKPOINT_NAME)
    return written


# --------------------------------------------------------------------------- words


def describe_run(options, numerical_method) -> str:
    gradient = options["gradient"]
    if numerical_method:
        gradient += f" (method {numerical_method!r})"
    return (
        f"{options['dataset']}, hidden {options['hidden_size']}, {options['iterations']} "
        f"iterations of batch {options['batch_size']}, lr {options['lr']:g}, {gradient} gradient"
    )


def summary(options, numerical_method, final, history, out, written, status) -> str:
    epochs = final["iteration"] / history.iterations_per_epoch
    gradient = options["gradient"]
    if numerical_method:
        gradient += f" (method {numerical_method!r})"
    lines = [
        f"refnet train: {status}",
        f"  data       {options['dataset']}",
        f"  network    TwoLayerNet(hidden_size={options['hidden_size']}, "
        f"weight_init_std={options['weight_init_std']:g}), seed {options['seed']}",
        f"  training   {final['iteration']} iterations ({epochs:.1f} epochs) of batch "
        f"{options['batch_size']}, lr {options['lr']:g}, sampling {options['sampling']}",
        f"  gradient   {gradient}",
        f"  accuracy   train {final['train_accuracy']:.4f}   test {final['test_accuracy']:.4f}",
        f"  wall time  {history.wall_time:.1f} s (training, all sessions)",
        f"  output     {out}{os.sep}  " + "  ".join(written),
    ]
    return "\n".join(lines)
