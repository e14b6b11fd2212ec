"""Hypothesis profiles for the property tests: a bounded CI run, or a long one.

``ACCESSGUARD_PROPERTIES=long`` multiplies every test's example budget by
``LONG_SCALE`` (run it before a release, or overnight); the default ``ci``
profile keeps the whole property set within about a minute on two cores.
Failures print the example and a reproduction blob; no example database is
written into the work tree.
"""

from __future__ import annotations

import asyncio
import io
import os
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def call_asgi(app: Any, scope: dict[str, Any], body: bytes = b"") -> Answer:
    """One HTTP request straight into an ASGI application: ``scope`` fills in a default GET scope from a client on loopback."""
    full = {
        "type": "http", "http_version": "1.1", "method": "GET", "scheme": "http", "path": "/", "raw_path": None, "root_path": "",
        "query_string": b"", "headers": [], "client": ("127.0.0.1", 40000), "server": ("localhost", 80), **scope,
    }  # fmt: skip
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    asyncio.run(app(full, receive, send))
    start = messages[0]
    headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in start.get("headers", [])]
    return Answer(int(start["status"]), headers, b"".join(m.get("body", b"") for m in messages[1:]))


def call_wsgi(app: Any, environ: dict[str, Any], body: bytes = b"") -> Answer:
    """One HTTP request straight into a WSGI application, as gunicorn would hand it over from a client on loopback."""
    full = {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/", "QUERY_STRING": "", "REMOTE_ADDR": "127.0.0.1",
        "SERVER_SOFTWARE": "gunicorn/23.0.0", "SERVER_NAME": "localhost", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
        "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), **environ,
    }  # fmt: skip
    started: list[tuple[str, list[tuple[str, str]]]] = []
    chunks = b"".join(app(full, lambda status, headers, exc_info=None: started.append((status, headers))))
    status, headers = started[0]
    return Answer(int(status.split()[0]), headers, chunks)


def wsgi_headers(headers: list[tuple[str, str]]) -> dict[str, str]:
    """Request headers as a WSGI server puts them into the environ (repeated ones joined with a comma)."""
    environ: dict[str, str] = {}
    for name, value in headers:
        key = name.upper().replace("-", "_")
        key = key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"
        environ[key] = f"{environ[key]}, {value}" if key in environ else value
    return environ
