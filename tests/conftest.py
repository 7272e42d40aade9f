"""Suite-wide settings: hypothesis profiles and the implementation under test.

The implementation under test is reached only through the ``impl`` fixture, so the same
properties can be pointed at another implementation of the chapter: set
``REFNET_IMPL`` to an importable module name (default ``refnet``).
"""

from __future__ import annotations

import importlib
import os

import pytest
from hypothesis import HealthCheck, settings

# JAX compiles on a new shape, so no example may have a deadline.
settings.register_profile("dev", max_examples=30, deadline=None)
settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

IMPLEMENTATION = os.environ.get("REFNET_IMPL", "refnet")


@pytest.fixture(scope="session")
def impl():
    """The module whose chapter-4 functions the suite checks."""
    return importlib.import_module(IMPLEMENTATION)
