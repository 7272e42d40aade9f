"""The smooth test functions and their error models: re-exported from refnet.conformance.functions.

The module lives in refnet/conformance/ so that the conformance runner, which a user
installs with ``pip install 'refnet[conformance]'``, runs the same properties without
tests/.  Import from here as before: ``from .functions import ...``.
"""

from refnet.conformance.functions import *  # noqa: F403
from refnet.conformance.functions import __all__  # noqa: F401
