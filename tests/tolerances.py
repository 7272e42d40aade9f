"""The suite's tolerances: re-exported from refnet.conformance.tolerances.

The module lives in refnet/conformance/ so that the conformance runner, which a user
installs with ``pip install 'refnet[conformance]'``, runs the same properties without
tests/.  Import from here as before: ``from .tolerances import ...``.
"""

from refnet.conformance.tolerances import *  # noqa: F403
from refnet.conformance.tolerances import __all__  # noqa: F401
