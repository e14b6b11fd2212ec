"""What the examples share with the demo: its data directory (patients, accounts, keys), settings and guard.

``ACCESSGUARD_DATA_DIR`` names the data directory (default ``./accessguard-data``);
the first start makes the demo's patients and accounts and lists them in
``demo-accounts.json`` there. ``ACCESSGUARD_EXAMPLE_MOUNT`` (say ``/api``)
mounts the ASGI examples' directory below that prefix; WSGI servers take a
prefix from ``SCRIPT_NAME`` instead, without a change to the application.
``ACCESSGUARD_CONFIG`` names a configuration file (docs/configuration.md) to
take the guard's settings from instead, secrets from the environment
(``ACCESSGUARD_<KEY>`` or ``ACCESSGUARD_<KEY>_FILE``).
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Sequence
from pathlib import Path

from accessguard import REPORTED_BY_APP, Guard, ProtectedRoute, Settings
from accessguard.demo.app import PatientDirectory, demo_guard, demo_settings
from accessguard.errors import ConfigurationError

CONFIG = os.environ.get("ACCESSGUARD_CONFIG")
DATA_DIR = Path(Settings.from_file(CONFIG).data_dir if CONFIG else os.environ.get("ACCESSGUARD_DATA_DIR", "accessguard-data")).absolute()
MOUNT = os.environ.get("ACCESSGUARD_EXAMPLE_MOUNT", "").rstrip("/")

#: The demo's routes with the served ids reported by the views (``report_served``) rather than read from the response.
REPORTED_ROUTES = (
    ProtectedRoute("/patients/{id}", name="patients.read", action="read", served_ids=REPORTED_BY_APP),
    ProtectedRoute("/patients", name="patients.search", action="search", requested_count="limit", served_ids=REPORTED_BY_APP),
)


def directory() -> PatientDirectory:
    """The demo's patients (SQLite, read-only)."""
    return PatientDirectory(DATA_DIR / "patients.db")


def example_guard(routes: Sequence[ProtectedRoute] | None = None) -> Guard:
    """The guard from ``ACCESSGUARD_CONFIG``, else the demo's over ``DATA_DIR``; closed when the process exits.

    ``routes`` are those of views that report their served ids: the demo's are
    replaced by them, and a configuration file must declare its routes so.
    """
    if CONFIG:
        settings = Settings.from_file(CONFIG)
        if routes is not None and any(route.served_ids != REPORTED_BY_APP for route in settings.routes):
            reported = f"served_ids = {REPORTED_BY_APP!r}"
            raise ConfigurationError(f"{CONFIG}: these views report the patients they serve: give each route {reported}")
    else:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        settings = demo_settings(DATA_DIR) if routes is None else demo_settings(DATA_DIR, routes=routes)
    guard = demo_guard(settings)
    atexit.register(guard.close)
    return guard
