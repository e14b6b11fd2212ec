"""The demo patient directory written in FastAPI, Flask and Django, each behind the middleware, for the mounting tests.

``django_app()`` is also a gunicorn factory (``tests.framework_apps:django_app()``):
its data directory comes from ``ACCESSGUARD_TEST_DATA``.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from types import ModuleType
from typing import Any

from fastapi import FastAPI

from accessguard.demo.app import PatientDirectory, demo_settings
from accessguard.guard import Guard
from accessguard.middleware.asgi import AccessGuardMiddleware
from accessguard.middleware.wsgi import WSGIAccessGuard
from tests.wsgi_directory import directory_app


def _patient(data_dir: Path, patient: str) -> dict[str, Any] | None:
    with closing(sqlite3.connect(f"file:{data_dir / 'patients.db'}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM patients WHERE id = ?", (patient,)).fetchone()
    return dict(row) if row else None


def _patients(data_dir: Path, limit: int) -> list[dict[str, Any]]:
    with closing(sqlite3.connect(f"file:{data_dir / 'patients.db'}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM patients ORDER BY id LIMIT ?", (limit,))]


def fastapi_directory(guard: Guard) -> FastAPI:
    """A FastAPI sub-application with the middleware added the FastAPI way; mount it where you like."""
    directory = PatientDirectory(guard.settings.data_dir / "patients.db")
    api = FastAPI()
    api.add_api_route("/patients/{id}", directory.read)
    api.add_api_route("/patients", directory.search)
    api.add_middleware(AccessGuardMiddleware, guard=guard)
    return api


def flask_directory(guard: Guard) -> Any:
    """A Flask application whose ``wsgi_app`` is wrapped by the middleware."""
    from flask import Flask, abort, request

    data_dir = guard.settings.data_dir
    app = Flask("directory")

    @app.get("/patients/<patient>")
    def read(patient: str) -> Any:
        return _patient(data_dir, patient) or abort(404)

    @app.get("/patients")
    def search() -> Any:
        return {"patients": _patients(data_dir, int(request.args.get("limit", "20")))}

    app.wsgi_app = WSGIAccessGuard(app.wsgi_app, guard)  # type: ignore[method-assign]
    return app


def django_app(data_dir: str | None = None) -> WSGIAccessGuard:
    """A Django project of one URL module (settings.configure), its WSGI handler behind the middleware."""
    import django
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.http import Http404, HttpRequest, JsonResponse
    from django.urls import path

    directory = Path(data_dir or os.environ["ACCESSGUARD_TEST_DATA"])

    def read(request: HttpRequest, patient: str) -> JsonResponse:
        found = _patient(directory, patient)
        if found is None:
            raise Http404("no such patient")
        return JsonResponse(found)

    def search(request: HttpRequest) -> JsonResponse:
        return JsonResponse({"patients": _patients(directory, int(request.GET.get("limit", "20")))})

    urls = ModuleType("directory_urls")
    urls.urlpatterns = [path("patients/<str:patient>", read), path("patients", search)]  # type: ignore[attr-defined]
    sys.modules[urls.__name__] = urls
    if not settings.configured:
        settings.configure(ROOT_URLCONF=urls.__name__, ALLOWED_HOSTS=["*"], DEBUG=False, SECRET_KEY="test", USE_TZ=True)
        django.setup()
    guard = Guard(demo_settings(directory))
    return WSGIAccessGuard(WSGIHandler(), guard)


def plain_wsgi_app() -> WSGIAccessGuard:
    """The plain WSGI directory behind the middleware, for gunicorn (``tests.framework_apps:plain_wsgi_app()``)."""
    directory = Path(os.environ["ACCESSGUARD_TEST_DATA"])
    return WSGIAccessGuard(directory_app(directory / "patients.db"), Guard(demo_settings(directory)))
