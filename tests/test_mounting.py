"""The guard decides on the path the application routes on, however the application is mounted (issue 11, item 1).

Each mounting style runs on the real framework: Starlette ``Mount``, a FastAPI
sub-application, ``uvicorn --root-path`` (a real server), Flask under Werkzeug's
``DispatcherMiddleware``, Django under gunicorn with ``SCRIPT_NAME``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from flask import Flask
from starlette.applications import Starlette
from starlette.routing import Mount
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from accessguard.demo.app import PatientDirectory, build, demo_settings
from accessguard.guard import Guard
from accessguard.middleware.asgi import AccessGuardMiddleware
from accessguard.mounting import asgi_route_path, loose_readings, wsgi_route_path
from tests.conftest import CAEN, Clock, Demo, TestClient, _accounts, _copy_demo
from tests.demo_process import wait_for
from tests.framework_apps import fastapi_directory, flask_directory
from tests.server_support import gunicorn_server, uvicorn_server


def entries(data_dir: Path) -> list[tuple[str, str, str | None]]:
    """(kind, subject, route) of every access-log entry committed so far."""
    with closing(sqlite3.connect(data_dir / "audit.db")) as db:
        return list(db.execute("SELECT kind, subject, route FROM entries ORDER BY seq"))


def asgi_client(app: object, base_url: str) -> Callable[[], httpx.Client]:
    return lambda: TestClient(app, client=("127.0.0.1", 40000), base_url=base_url)  # type: ignore[arg-type]


@pytest.fixture
def data_dir(demo_template: Path, tmp_path: Path) -> Path:
    return _copy_demo(demo_template, tmp_path / "data")


@pytest.fixture
def mounted(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Demo]:
    """The demo directory mounted under /api in one framework, in process; clients talk to /api."""
    clock = Clock()
    guard = Guard(demo_settings(data_dir, clock=clock))
    style = request.param
    if style == "starlette-mount":  # the set-up of the issue
        directory = AccessGuardMiddleware(PatientDirectory(data_dir / "patients.db").app(), guard)
        factory = asgi_client(Starlette(routes=[Mount("/api", app=directory)]), "http://localhost/api")
    elif style == "fastapi-mount":
        main = FastAPI()
        main.mount("/api", fastapi_directory(guard))
        factory = asgi_client(main, "http://localhost/api")
    else:
        root = DispatcherMiddleware(Flask("front"), {"/api": flask_directory(guard)})
        transport = httpx.WSGITransport(app=root, remote_addr="127.0.0.1")  # type: ignore[arg-type]

        def factory() -> httpx.Client:
            return httpx.Client(transport=transport, base_url="http://localhost/api")

    yield Demo(guard, clock, _accounts(data_dir), factory)
    guard.close()


def assert_guarded_under_prefix(demo: Demo, data_dir: Path) -> None:
    anonymous = demo.client()
    for path in ("/patients?limit=5000", "/patients/pat-0001"):
        refused = anonymous.get(path, headers={"x-forwarded-for": CAEN})
        assert refused.status_code == 401, (path, refused.status_code, refused.text[:200])
        assert "first_name" not in refused.text
    client = demo.login("dr.martin")
    read = client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN})
    assert read.status_code == 200, read.text
    assert read.json()["id"] == "pat-0001"
    demo.guard.access_log.flush()
    assert ("served", "dr.martin", "patients.read") in entries(data_dir)


@pytest.mark.parametrize("mounted", ["starlette-mount", "fastapi-mount", "flask-dispatcher"], indirect=True)
def test_a_mounted_directory_is_guarded_below_its_prefix(mounted: Demo, data_dir: Path) -> None:
    assert_guarded_under_prefix(mounted, data_dir)


@pytest.mark.parametrize("mounted", ["starlette-mount", "fastapi-mount", "flask-dispatcher"], indirect=True)
@pytest.mark.parametrize("path", ["//patients", "/patients/", "/Patients", "/patients/pat-0001/", "/x/..%2Fpatients"])
def test_a_path_some_router_reads_as_protected_is_refused(mounted: Demo, path: str) -> None:
    """Werkzeug routes ``//patients`` as ``/patients``: before, that served the directory undecided."""
    client = mounted.login("dr.martin")
    refused = client.get(str(client.base_url).rstrip("/") + path, headers={"x-forwarded-for": CAEN})  # "//x" alone names a host
    assert refused.status_code == 400, (path, refused.status_code, refused.text[:200])
    assert refused.json()["type"].endswith("ambiguous-path")


@pytest.mark.realpart
def test_uvicorn_root_path_behind_a_path_stripping_proxy(data_dir: Path) -> None:
    """``uvicorn --root-path /api``: the proxy sends /patients, uvicorn's scope path is /api/patients, Starlette routes /patients."""
    clock = Clock()
    app, guard = build(data_dir, clock=clock)
    try:
        with uvicorn_server(app, root_path="/api") as url:
            demo = Demo(guard, clock, _accounts(data_dir), lambda: httpx.Client(base_url=url))
            assert_guarded_under_prefix(demo, data_dir)
    finally:
        guard.close()


@pytest.mark.realpart
@pytest.mark.slow
def test_django_under_gunicorn_with_a_script_name(data_dir: Path, tmp_path: Path) -> None:
    with gunicorn_server("tests.framework_apps:django_app()", data_dir, tmp_path / "gunicorn.log", "--env", "SCRIPT_NAME=/api") as url:
        demo = Demo(None, Clock(time.time()), _accounts(data_dir), lambda: httpx.Client(base_url=f"{url}/api"))  # type: ignore[arg-type]
        anonymous = demo.client()
        for path in ("/patients?limit=5000", "/patients/pat-0001"):
            assert anonymous.get(path).status_code == 401, path
        read = demo.login("dr.martin").get("/patients/pat-0001", headers={"x-forwarded-for": CAEN})
        assert read.status_code == 200, read.text
        assert read.json()["id"] == "pat-0001"
        wait_for(lambda: ("served", "dr.martin", "patients.read") in entries(data_dir), "the served entry", timeout_s=10)


@pytest.mark.parametrize(
    ("path", "root_path", "raw_path", "routed"),
    [
        ("/api/patients", "/api", b"/api/patients", "/patients"),  # Starlette >= 0.33, uvicorn >= 0.26: path holds root_path
        ("/api", "/api", b"/api", "/"),
        ("/apix/patients", "/api", b"/apix/patients", "/apix/patients"),  # not below it: routed on the whole path
        ("/patients", "/api", b"/patients", "/patients"),  # a server of the older convention (path without root_path)
        ("/api//patients", "/api/", b"/api//patients", "/patients"),  # --root-path /api/
    ],
)
def test_asgi_route_path_follows_starlette(path: str, root_path: str, raw_path: bytes, routed: str) -> None:
    assert asgi_route_path(path, root_path, raw_path).path == routed


@pytest.mark.parametrize(
    ("route_path", "reading"),
    [
        (asgi_route_path("/patients/x/../../patients", "", None), "/patients"),  # dot segments (clients like httpx resolve them)
        (asgi_route_path("/patients/pat/1", "", b"/patients/pat%2F1"), "/patients/pat%2F1"),  # an encoded slash kept in its segment
        (asgi_route_path("/patients", "/api", None), "/ients"),
        (asgi_route_path("/patients%2Fpat-0001", "", None), "/patients/pat-0001"),  # decoded twice  # path cut blindly after root_path
        (wsgi_route_path("/api", "patients", None), "/patients"),  # a PATH_INFO without its leading slash
        (wsgi_route_path("/api", "/patients/a/b", "/api/patients/a%2fb?x=1"), "/patients/a%2fb"),
    ],
)
def test_loose_readings(route_path: object, reading: str) -> None:
    assert reading in loose_readings(route_path.path, route_path.others)  # type: ignore[attr-defined]
