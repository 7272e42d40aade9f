"""Subcommands of the ``refnet`` command line, one module each (see refnet/cli.py)."""
