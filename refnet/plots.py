"""The learning curve of a training run: figures 4-11 (loss) and 4-12 (accuracy) side by side.

matplotlib is imported inside the function (install it with ``pip install -e '.[train]'``)
and drives no window: the figure is drawn by the Agg renderer straight to a file, without
pyplot, so plotting never changes the caller's matplotlib backend or global state.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._checks import install_hint

if TYPE_CHECKING:  # for the annotation only: a plot reads a History, or its dict
    from .checkpoints import History

__all__ = ["plot_learning_curve"]


def _columns(history):
    """(loss per iteration, evaluations as dicts, iterations per epoch) of a History or its dict."""
    if isinstance(history, Mapping):
        loss = list(history["loss"])
        evaluations = [dict(e) for e in history["evaluations"]]
        per_epoch = int(history["iterations_per_epoch"])
    else:
        loss = list(history.loss)
        evaluations = [vars(e) for e in history.evaluations]
        per_epoch = int(history.iterations_per_epoch)
    return loss, evaluations, per_epoch


def plot_learning_curve(
    history: History | Mapping[str, Any], path: str | os.PathLike[str], *, title: str | None = None
) -> Path:
    """Draw the minibatch loss per iteration and the accuracy per epoch, and save to ``path``.

    Parameters
    ----------
    history : refnet.checkpoints.History or dict
        A History, or its ``to_dict()`` form (as stored in ``metrics.json``).
    path : str or os.PathLike
        Output file; the format follows the suffix (``.png``, ``.svg``, ``.pdf``).
    title : str, optional
        A title over both panels.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> history = {"loss": [2.3, 1.1, 0.6], "iterations_per_epoch": 1, "evaluations": [
    ...     {"iteration": i, "epoch": float(i), "train_accuracy": a, "test_accuracy": a}
    ...     for i, a in enumerate([0.1, 0.6, 0.8, 0.9])]}
    >>> out = plot_learning_curve(history, pathlib.Path(tempfile.mkdtemp()) / "curve.png")
    >>> out.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            f"plot_learning_curve needs matplotlib; install it with: {install_hint('train')}"
        ) from exc

    loss, evaluations, per_epoch = _columns(history)
    path = Path(path)
    figure = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)

    # Figure 4-11: the minibatch loss at every iteration.
    left.plot(range(1, len(loss) + 1), loss, linewidth=0.8)
    left.set_xlabel("iteration")
    left.set_ylabel("loss")
    left.set_title("training loss (minibatch)")
    left.set_ylim(bottom=0)

    # Figure 4-12: accuracy on the whole training and test sets, per epoch.
    epochs = [e["iteration"] / per_epoch for e in evaluations]
    right.plot(epochs, [e["train_accuracy"] for e in evaluations], marker="o", label="train acc")
    right.plot(
        epochs,
        [e["test_accuracy"] for e in evaluations],
        marker="s",
        linestyle="--",
        label="test acc",
    )
    right.set_xlabel("epochs")
    right.set_ylabel("accuracy")
    right.set_ylim(0, 1.0)
    right.set_title("accuracy")
    right.legend(loc="lower right")
    if title:
        figure.suptitle(title)
    figure.savefig(path)
    return path
