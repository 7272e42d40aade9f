"""``refnet conformance TARGET``: the same as ``python -m refnet.conformance TARGET``."""

from refnet.conformance.cli import add_arguments, run

__all__ = ["add_arguments", "run"]
