"""Hypothesis profiles for the property tests: a bounded CI run, or a long one.

``ACCESSGUARD_PROPERTIES=long`` multiplies every test's example budget by
``LONG_SCALE`` (run it before a release, or overnight); the default ``ci``
profile keeps the whole property set within about a minute on two cores.
Failures print the example and a reproduction blob; no example database is
written into the work tree.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("ACCESSGUARD_PROPERTIES", "ci")
LONG_SCALE = 50

settings.register_profile(
    "ci",
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
settings.register_profile("long", parent=settings.get_profile("ci"))
settings.load_profile("long" if PROFILE == "long" else "ci")


def budget(examples: int) -> settings:
    """A test's example budget under the loaded profile."""
    return settings(max_examples=examples * (LONG_SCALE if PROFILE == "long" else 1))
