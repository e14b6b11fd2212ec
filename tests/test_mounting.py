"""The guard decides on the path the application routes on, however the application is mounted (issue 11, item 1).

Each mounting style runs on the real framework: Starlette ``Mount``, a FastAPI
sub-application, ``uvicorn --root-path`` (a real server), Flask under Werkzeug's
``DispatcherMiddleware``, Django under gunicorn with ``SCRIPT_NAME``.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from html import unescape
from pathlib import Path
from urllib.parse import urlencode

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
from tests.conftest import CAEN, ENGLISH, Clock, Demo, TestClient, _accounts, _copy_demo
from tests.demo_process import wait_for
from tests.framework_apps import fastapi_directory, flask_directory
from tests.server_support import gunicorn_server, uvicorn_server
from tests.test_pages import _page


def entries(data_dir: Path) -> list[tuple[str, str, str | None]]:
    """(kind, subject, route) of every access-log entry committed so far."""
    with closing(sqlite3.connect(data_dir / "audit.db")) as db:
        return list(db.execute("SELECT kind, subject, route FROM entries ORDER BY seq"))


def asgi_client(app: object, base_url: str) -> Callable[[], httpx.Client]:
    return lambda: TestClient(app, client=("127.0.0.1", 40000), base_url=base_url, headers=ENGLISH)  # type: ignore[arg-type]


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
            return httpx.Client(transport=transport, base_url="http://localhost/api", headers=ENGLISH)

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


def _attribute(html: str, element: str, name: str) -> str:
    """The value of attribute ``name`` of the first element whose opening tag contains ``element``."""
    found = re.search(rf"<[^>]*{re.escape(element)}[^>]*\s{name}=\"([^\"]*)\"", html)
    assert found is not None, (element, name, html[:2000])
    return unescape(found.group(1))


def _follow(client: httpx.Client, location: str) -> httpx.Response:
    """A browser following a redirect: the location is a path on this origin, asked for as a page."""
    assert location.startswith("/api/"), location  # below the mount, never outside it
    return _page(client, str(client.base_url.copy_with(raw_path=location.encode())))


@pytest.mark.parametrize("mounted", ["starlette-mount", "flask-dispatcher"], indirect=True)
def test_a_browser_logs_in_and_steps_up_below_the_mount(mounted: Demo) -> None:
    """Every redirect, link, form action and cookie path the guard emits stays below /api (issue 11 item 1, the pages)."""
    client, professional = mounted.client(), mounted.accounts["dr.martin"]
    origin = {"origin": "http://localhost", "x-forwarded-for": CAEN}
    record = _page(client, "/patients/pat-0001")
    assert record.status_code == 303
    assert record.headers["location"] == "/api/login?next=%2Fpatients%2Fpat-0001"  # next stays app-relative
    login_page = _follow(client, record.headers["location"])
    assert login_page.status_code == 200
    assert _attribute(login_page.text, 'rel="stylesheet"', "href") == "/api/accessguard/assets/accessguard.css"
    assert client.get(_attribute(login_page.text, "script", "src").removeprefix("/api")).status_code == 200
    assert _attribute(login_page.text, "body", "data-next") == "/api/patients/pat-0001"
    post = _attribute(login_page.text, 'id="login"', "data-post")
    assert post == "/api/login"
    logged_in = client.post(post.removeprefix("/api"), json={"username": "dr.martin", "password": professional.password}, headers=origin)
    assert logged_in.status_code == 200, logged_in.text
    assert "Path=/api;" in logged_in.headers["set-cookie"]
    record = _page(client, _attribute(login_page.text, "body", "data-next").removeprefix("/api"))
    assert record.status_code == 303
    assert record.headers["location"] == "/api/accessguard/step-up?next=%2Fpatients%2Fpat-0001&methods=otp%20webauthn"
    step_up_page = _follow(client, record.headers["location"])
    assert step_up_page.status_code == 200
    assert _attribute(step_up_page.text, 'class="link"', "data-logout") == "/api/accessguard/logout"
    assert '<a href="/api/accessguard/enroll">Manage your authenticators</a>' in step_up_page.text
    post = _attribute(step_up_page.text, 'id="totp"', "data-post")
    assert post == "/api/accessguard/step-up/totp"
    stepped_up = client.post(post.removeprefix("/api"), json={"code": mounted.code("dr.martin")}, headers=origin)
    assert stepped_up.status_code == 200, stepped_up.text
    cookie_paths = sorted(re.findall(r"Path=([^;]*)", ";".join(stepped_up.headers.get_list("set-cookie"))))
    assert cookie_paths == ["/api", "/api/accessguard/", "/api/login"]  # the session; the device cookie for code and login routes
    read = client.get(_attribute(step_up_page.text, "body", "data-next").removeprefix("/api"), headers={"x-forwarded-for": CAEN})
    assert read.status_code == 200, read.text
    assert read.json()["id"] == "pat-0001"


@pytest.mark.parametrize("mounted", ["starlette-mount", "flask-dispatcher"], indirect=True)
def test_problem_documents_name_the_login_below_the_mount(mounted: Demo) -> None:
    refused = mounted.client().get("/patients/pat-0001", headers={"x-forwarded-for": CAEN})
    assert refused.status_code == 401
    assert refused.json()["login"] == "/api/login"
    assert refused.json()["detail"] == "log in at /api/login"
    step_up = mounted.login("dr.martin", totp=False).get("/patients/pat-0001", headers={"x-forwarded-for": CAEN})
    assert step_up.status_code == 401
    assert step_up.json()["step_up"]["url"] == "/api/accessguard/step-up"


@pytest.mark.parametrize("mounted", ["starlette-mount"], indirect=True)
@pytest.mark.parametrize("hostile", ["/../other-app/", "/%2e%2e/other-app/", "/x/./../../y", "//evil.example/", "https://evil.example/"])
def test_next_cannot_leave_the_mount(mounted: Demo, hostile: str) -> None:
    """A ``next`` is app-relative; the page puts it below the mount, so a dot segment would climb out of it."""
    page = _page(mounted.client(), f"/login?{urlencode({'next': hostile})}")
    assert _attribute(page.text, "body", "data-next") == "/api/"


@pytest.mark.parametrize("mounted", ["starlette-mount", "fastapi-mount", "flask-dispatcher"], indirect=True)
@pytest.mark.parametrize("path", ["//patients", "/patients/", "/Patients", "/patients/pat-0001/", "/x/..%2Fpatients"])
def test_a_path_some_router_reads_as_protected_is_refused(mounted: Demo, path: str) -> None:
    """Werkzeug routes ``//patients`` as ``/patients``: before, that served the directory undecided."""
    client = mounted.login("dr.martin")
    refused = client.get(str(client.base_url).rstrip("/") + path, headers={"x-forwarded-for": CAEN})  # "//x" alone names a host
    assert refused.status_code == 400, (path, refused.status_code, refused.text[:200])
    assert refused.json()["type"].endswith("ambiguous-path")


class PathStrippingProxy(httpx.HTTPTransport):
    """What sits in front of ``uvicorn --root-path``: the client asks for /api/..., the server receives /... ."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self._prefix = prefix

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.removeprefix(self._prefix.encode()) or b"/"
        request.url = request.url.copy_with(raw_path=path)
        return super().handle_request(request)


@pytest.mark.realpart
def test_uvicorn_root_path_behind_a_path_stripping_proxy(data_dir: Path) -> None:
    """``uvicorn --root-path /api``: the proxy sends /patients, uvicorn's scope path is /api/patients, Starlette routes /patients.

    The client (a browser) asks for /api/...: the session cookie's path is /api.
    """
    clock = Clock()
    app, guard = build(data_dir, clock=clock)
    try:
        with uvicorn_server(app, root_path="/api") as url:
            proxy = PathStrippingProxy("/api")
            demo = Demo(guard, clock, _accounts(data_dir), lambda: httpx.Client(base_url=f"{url}/api", transport=proxy, headers=ENGLISH))
            assert_guarded_under_prefix(demo, data_dir)
    finally:
        guard.close()


@pytest.mark.realpart
@pytest.mark.slow
def test_django_under_gunicorn_with_a_script_name(data_dir: Path, tmp_path: Path) -> None:
    with gunicorn_server("tests.framework_apps:django_app()", data_dir, tmp_path / "gunicorn.log", "--env", "SCRIPT_NAME=/api") as url:
        demo = Demo(None, Clock(time.time()), _accounts(data_dir), lambda: httpx.Client(base_url=f"{url}/api", headers=ENGLISH))  # type: ignore[arg-type]
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
