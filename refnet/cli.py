"""The ``refnet`` command line: ``refnet train``, ``refnet check``, ``refnet figures``.

Each subcommand lives in its own module under ``refnet/commands/`` and provides
``add_arguments(parser)`` and ``run(args) -> int``; this file only dispatches, so the
numerical core never imports argparse, plotting or dataset code.  What every command
line promises (one line and exit code 2 for a usage error, 1 for a problem met while
running, 130 for Ctrl-C, no traceback) is kept by refnet/_command_line.py.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ._command_line import Guard, Parser, run_guarded

#: name -> (module, one-line help).  Modules are imported only when their command runs,
#: except that building the parser imports each to read its arguments.
COMMANDS = {
    "train": (
        "refnet.commands.train",
        "train TwoLayerNet by minibatch SGD (numerical gradients by default)",
    ),
    "check": (
        "refnet.commands.check",
        "check TwoLayerNet's backprop gradient against its numerical gradient",
    ),
    "figures": (
        "refnet.commands.figures",
        "regenerate every documentation figure and quoted number",
    ),
    "conformance": ("refnet.commands.conformance", "check another implementation of the chapter"),
}


def _available():
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # a command this build does not ship
            raise
        yield name, module, help_text


def build_parser() -> argparse.ArgumentParser:
    from refnet import __version__

    parser = Parser(
        prog="refnet",
        description="Chapter 4 of Deep Learning from Scratch: numerical gradients, honestly.",
    )
    parser.add_argument("--version", action="version", version=f"refnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module, help_text in _available():
        command = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command)
        command.set_defaults(_run=module.run, _parser=command)
    return parser


def main(argv=None) -> int:
    """Run ``refnet ARGV...``; return the exit code (the ``refnet`` command's entry point).

    Ctrl-C is caught from here on, while the subcommands' modules are still importing.
    """
    return run_guarded("refnet", lambda guard: _dispatch(guard, argv))


def _dispatch(guard: Guard, argv) -> int:
    args, unknown = build_parser().parse_known_args(argv)
    guard.prog = f"refnet {args.command}"
    if unknown:  # said by the subcommand's parser, whose options the user was writing
        args._parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args._run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
