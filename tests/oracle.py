"""The JAX oracle: re-exported from refnet.conformance.oracle.

The module lives in refnet/conformance/ so that the conformance runner, which a user
installs with ``pip install 'refnet[conformance]'``, runs the same properties without
tests/.  Import from here as before: ``from .oracle import ...``.
"""

from refnet.conformance.oracle import *  # noqa: F403
from refnet.conformance.oracle import __all__  # noqa: F401
