"""``refnet figures``: regenerate every documentation figure and quoted number of refnet's source tree.

The generator is documentation tooling, not part of the library: it lives in the source
tree, at ``tools/figures.py``, beside the ``docs/`` it writes.  This command finds that tree
from where refnet is imported (an editable install, ``pip install -e .``), whatever the
current folder is, and writes into its ``docs/figures`` unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from refnet._command_line import CommandError, OutputFolder, check_value

#: The generator's module, and its file relative to the source tree.
GENERATOR = "tools.figures"
GENERATOR_FILE = Path("tools", "figures.py")

#: Where the figures go in the source tree (the site's docs read them there).
FIGURES = Path("docs", "figures")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=OutputFolder(),
        metavar="DIR",
        help=f"folder for the PNGs, numbers.json and fragments (default: {FIGURES} of "
        "refnet's source tree, wherever the command is run)",
    )


def source_tree() -> Path:
    """The folder that holds the refnet package being run, when it is refnet's source tree."""
    import refnet

    return Path(refnet.__file__).resolve().parent.parent


def load_generator(root: Path):
    """``tools.figures`` of the source tree ``root``, or a CommandError saying why not."""
    path = root / GENERATOR_FILE
    if not path.is_file():
        raise CommandError(
            f"refnet figures regenerates the documentation of refnet's source tree, and the "
            f"refnet imported here ({root / 'refnet'}) is not in one (no {GENERATOR_FILE} "
            "beside it): run it from an editable install, pip install -e '.[docs]' in "
            "refnet's source folder"
        )
    loaded = sys.modules.get(GENERATOR)
    if loaded is not None and Path(loaded.__file__ or "").resolve() == path.resolve():
        return loaded
    spec = importlib.util.spec_from_file_location(GENERATOR, path)
    assert spec is not None and spec.loader is not None  # a .py file that exists
    module = importlib.util.module_from_spec(spec)
    sys.modules[GENERATOR] = module
    spec.loader.exec_module(module)
    return module


def run(args: argparse.Namespace) -> int:
    import time

    root = source_tree()
    generator = load_generator(root)
    out = (
        args.out
        if args.out is not None
        else check_value(OutputFolder(), str(root / FIGURES), "--out {problem}")
    )
    start = time.perf_counter()
    try:
        numbers = generator.generate(out)
    except ImportError as exc:  # matplotlib, scikit-learn: the message names the extra
        raise CommandError(str(exc)) from None
    except OSError as exc:  # the folder became unwritable, the disk filled up
        raise CommandError(f"could not write the figures to {out}: {exc}") from None
    print(
        f"wrote figures and {len(numbers)} numbers to {out} in {time.perf_counter() - start:.1f} s"
    )
    return 0
