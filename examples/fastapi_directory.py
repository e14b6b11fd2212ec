"""The patient directory in FastAPI, the guard added with ``add_middleware``.

Run: ``uvicorn examples.fastapi_directory:app --no-proxy-headers``
(``ACCESSGUARD_EXAMPLE_MOUNT=/api``: the directory as a sub-application mounted at ``/api``).
Served ids are read from the responses (the demo's routes: ``served_ids="id"``, ``"patients[].id"``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request

from accessguard import AccessGuardMiddleware
from examples.common import MOUNT, directory, example_guard

patients = directory()
api = FastAPI(title="Patient directory")


@api.get("/patients/{patient_id}")
def read_patient(patient_id: str) -> dict[str, Any]:
    found = patients.patient(patient_id)
    if found is None:
        raise HTTPException(404, "no such patient")
    return found


@api.get("/patients")
def search_patients(request: Request) -> dict[str, Any]:
    return {"patients": patients.patients(request.query_params)}


api.add_middleware(AccessGuardMiddleware, guard=example_guard())

if MOUNT:
    app = FastAPI()
    app.mount(MOUNT, api)  # the guard sits inside the mount: it decides on the path below it
else:
    app = api
