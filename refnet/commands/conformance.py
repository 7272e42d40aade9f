"""``refnet conformance TARGET``: the same as ``python -m refnet.conformance TARGET``."""

# Re-exported for refnet.cli, which loads every subcommand module by name.
from refnet.conformance.cli import add_arguments as add_arguments
from refnet.conformance.cli import run as run
