"""The demo patient directory as a plain WSGI application, for the WSGI adapter's tests."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from accessguard.demo.app import demo_settings, initialise
from accessguard.guard import Guard
from accessguard.middleware.wsgi import WSGIAccessGuard
from accessguard.sqlite_uri import sqlite_uri


def directory_app(path: Path) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        db = sqlite3.connect(sqlite_uri(path, "ro"), uri=True)
        db.row_factory = sqlite3.Row
        route = environ["PATH_INFO"]
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        if route.startswith("/patients/"):
            row = db.execute("SELECT * FROM patients WHERE id = ?", (route.removeprefix("/patients/"),)).fetchone()
            status, document = ("200 OK", dict(row)) if row else ("404 Not Found", {"detail": "no such patient"})
        elif route == "/patients":
            limit = int(query.get("limit", "20"))
            offset = int(query.get("offset", "0"))
            rows = db.execute("SELECT * FROM patients ORDER BY id LIMIT ? OFFSET ?", (limit, offset)).fetchall()
            status, document = "200 OK", {"patients": [dict(r) for r in rows]}
        else:
            status, document = "200 OK", {"status": "ok"}
        db.close()
        body = json.dumps(document).encode()
        start_response(status, [("content-type", "application/json"), ("content-length", str(len(body)))])
        return [body]

    return app


def build_wsgi(data_dir: Path, **overrides: Any) -> tuple[WSGIAccessGuard, Guard]:
    guard = Guard(demo_settings(data_dir, **overrides))
    initialise(data_dir, guard)
    return WSGIAccessGuard(directory_app(data_dir / "patients.db"), guard), guard
