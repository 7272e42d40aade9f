"""The data of ``refnet train``: the digits, or MNIST from its folder, with advice for the command line.

The library's loaders speak to Python callers (``load_mnist(..., download=True)``); what
goes wrong here is said in the command's terms (``--download``, ``--data-dir``,
``--test-size``), as one line: a UsageError for a bad option, a CommandError for missing
or damaged files and failed downloads.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

from refnet._command_line import CommandError, OutputFolder, UsageError, check_value

from .train_outputs import TRAIN_EXTRA


def load_data(options, data_dir: Path | None, verify: bool, download: bool, show: bool):
    """The data as ``(train, test)`` pairs; UsageError or CommandError saying what to do."""
    if options["dataset"] == "digits":
        from refnet.datasets import load_digits

        try:
            return load_digits(test_size=options["test_size"], rng=options["split_seed"])
        except ImportError as exc:
            raise CommandError(f"{exc} ({TRAIN_EXTRA})") from None
        except ValueError as exc:  # the split: a --test-size that empties a class
            raise UsageError(
                str(exc).replace("test_size=", "--test-size ").replace("test_size", "--test-size")
            ) from None
    from refnet.datasets import (
        MNIST_FILES,
        MNIST_SHA256,
        DownloadError,
        default_mnist_root,
        load_mnist,
    )

    root = data_dir if data_dir is not None else default_mnist_root()
    missing = [
        stem
        for stem in MNIST_FILES
        if not any((root / f"{stem}{gz}").is_file() for gz in (".gz", ""))
    ]
    if missing and not download:
        where = f"--data-dir {root}" if data_dir is not None else f"{root} (the default folder)"
        raise CommandError(
            f"MNIST files not found in {where}: {', '.join(missing)} (each may end in .gz); "
            "add --download to fetch them there, or give --data-dir DIR for a folder that has them"
        )
    if missing:
        check_value(OutputFolder(), str(root), "--download needs a folder it can write: {problem}")
    try:
        with _download_messages(show):
            return load_mnist(root, download=download, checksums=MNIST_SHA256 if verify else None)
    except DownloadError as exc:
        raise CommandError(str(exc)) from None
    except (OSError, ValueError) as exc:
        hint = ""
        if "SHA-256" in str(exc):
            hint = "; for IDX files of your own (not the published MNIST), add --no-verify"
        raise CommandError(f"could not load mnist: {exc}{hint}") from None


@contextlib.contextmanager
def _download_messages(show: bool):
    """MNIST's download log: "downloading URL" on stderr if ``show``, and never the
    failures of single mirrors, which the error, if every mirror fails, lists once."""
    logger = logging.getLogger("refnet.datasets.mnist")
    handler = logging.StreamHandler(sys.stderr) if show else logging.NullHandler()
    handler.setFormatter(logging.Formatter("refnet train: %(message)s"))
    handler.addFilter(lambda record: record.levelno == logging.INFO)
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
