"""The patient directory in Starlette, the guard added as Starlette middleware.

Run: ``uvicorn examples.starlette_directory:app --no-proxy-headers``
(``ACCESSGUARD_EXAMPLE_MOUNT=/api``: the same directory below ``/api``, by a ``Mount``).
Served ids are read from the responses (the demo's routes: ``served_ids="id"``, ``"patients[].id"``).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route

from accessguard import AccessGuardMiddleware
from examples.common import MOUNT, directory, example_guard

patients = directory()
guarded_directory = Starlette(
    routes=[Route("/patients/{id}", patients.read), Route("/patients", patients.search)],
    middleware=[Middleware(AccessGuardMiddleware, guard=example_guard())],
)
app = Starlette(routes=[Mount(MOUNT, app=guarded_directory)]) if MOUNT else guarded_directory
