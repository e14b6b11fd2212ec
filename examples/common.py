"""What the examples share with the demo: its data directory (patients, accounts, keys), settings and guard.

``ACCESSGUARD_DATA_DIR`` names the data directory (default ``./accessguard-data``);
the first start makes the demo's patients and accounts and lists them in
``demo-accounts.json`` there. ``ACCESSGUARD_EXAMPLE_MOUNT`` (say ``/api``)
mounts the ASGI examples' directory below that prefix; WSGI servers take a
prefix from ``SCRIPT_NAME`` instead, without a change to the application.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Sequence
from pathlib import Path

from accessguard import REPORTED_BY_APP, Guard, ProtectedRoute
from accessguard.demo.app import PatientDirectory, demo_guard, demo_settings

DATA_DIR = Path(os.environ.get("ACCESSGUARD_DATA_DIR", "accessguard-data")).absolute()
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
    """The demo's guard over ``DATA_DIR`` (``routes`` replace the demo's), closed when the process exits."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    guard = demo_guard(demo_settings(DATA_DIR) if routes is None else demo_settings(DATA_DIR, routes=routes))
    atexit.register(guard.close)
    return guard
