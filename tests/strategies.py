"""The suite's hypothesis strategies: re-exported from refnet.conformance.strategies.

The module lives in refnet/conformance/ so that the conformance runner, which a user
installs with ``pip install 'refnet[conformance]'``, runs the same properties without
tests/.  Import from here as before: ``from .strategies import ...``.
"""

from refnet.conformance.strategies import *  # noqa: F403
from refnet.conformance.strategies import __all__  # noqa: F401
