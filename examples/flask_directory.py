"""The patient directory in Flask, its ``wsgi_app`` wrapped by the guard; the views report the patients they served.

Run: ``gunicorn examples.flask_directory:app`` (below a prefix: ``--env SCRIPT_NAME=/api``).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, request

from accessguard import WSGIAccessGuard, report_served
from examples.common import REPORTED_ROUTES, directory, example_guard

patients = directory()
app = Flask(__name__)


@app.get("/patients/<patient_id>")
def read_patient(patient_id: str) -> Any:
    found = patients.patient(patient_id) or abort(404)
    report_served(request.environ, [found["id"]])
    return found


@app.get("/patients")
def search_patients() -> Any:
    page = patients.patients(request.args)
    report_served(request.environ, [p["id"] for p in page])
    return {"patients": page}


app.wsgi_app = WSGIAccessGuard(app.wsgi_app, example_guard(REPORTED_ROUTES))  # type: ignore[method-assign]
