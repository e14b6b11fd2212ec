"""Forwarded headers a client could have written are refused, on real servers (issue 11, items 6 and 10); WebSockets on protected paths.

The attack: a professional's stolen session used from Lagos, through the trusted
proxy (127.0.0.1), which writes ``X-Forwarded-For: 203.0.113.30``; the attacker
adds ``X_Forwarded_For: 192.0.2.10`` (Caen) hoping the server merges it in last.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from accessguard.demo.app import build, demo_settings
from accessguard.guard import Guard
from accessguard.middleware.asgi import POLICY_VIOLATION, AccessGuardMiddleware
from tests.conftest import CAEN, LAGOS, Clock, Demo, TestClient, _accounts, _copy_demo
from tests.server_support import gunicorn_server, uvicorn_server, wsgiref_server
from tests.wsgi_directory import build_wsgi

SPOOFED = [("x-forwarded-for", LAGOS), ("x_forwarded_for", CAEN)]  # the proxy's header, then the client's


@pytest.fixture
def data_dir(demo_template: Path, tmp_path: Path) -> Path:
    return _copy_demo(demo_template, tmp_path / "data")


def _reasons(response: httpx.Response) -> list[str]:
    reasons: list[str] = response.json().get("reasons", [])
    return reasons


@pytest.mark.realpart
def test_wsgiref_merges_underscore_names_so_forwarded_requests_are_refused(data_dir: Path) -> None:
    """wsgiref folds X_Forwarded_For into HTTP_X_FORWARDED_FOR unseen: before, the client's Caen hop was believed (200)."""
    clock = Clock()
    app, guard = build_wsgi(data_dir, clock=clock)
    try:
        with wsgiref_server(app) as url:
            client = Demo(guard, clock, _accounts(data_dir), lambda: httpx.Client(base_url=url)).login("dr.martin")
            for headers in (SPOOFED, [("x-forwarded-for", CAEN)]):
                refused = client.get("/patients/pat-0001", headers=headers)
                assert refused.status_code == 400, refused.text
                assert "merges header names with underscores" in refused.json()["detail"]
            assert client.get("/patients/pat-0001").status_code == 200  # no forwarded header: the peer's address
    finally:
        guard.close()


@pytest.mark.realpart
@pytest.mark.slow
def test_gunicorn_drops_underscore_names_and_decides_on_the_proxys_header(data_dir: Path, tmp_path: Path) -> None:
    with gunicorn_server("tests.framework_apps:plain_wsgi_app()", data_dir, tmp_path / "gunicorn.log") as url:
        client = Demo(None, Clock(time.time()), _accounts(data_dir), lambda: httpx.Client(base_url=url)).login("dr.martin")  # type: ignore[arg-type]
        challenged = client.get("/patients/pat-0001", headers=SPOOFED)
        assert challenged.status_code == 401 and _reasons(challenged) == ["country_not_allowed"], challenged.text
        both = client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN, "forwarded": f"for={LAGOS}"})
        assert both.status_code == 400 and "Forwarded header" in both.json()["detail"], both.text
        assert client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN}).status_code == 200


@pytest.mark.realpart
def test_uvicorn_underscore_variant_is_refused_by_name(data_dir: Path) -> None:
    """ASGI keeps raw names: the underscore variant is seen and named (uvicorn's own proxy headers off, so the guard reads them)."""
    clock = Clock()
    app, guard = build(data_dir, clock=clock)
    try:
        with uvicorn_server(app, proxy_headers=False) as url:
            client = Demo(guard, clock, _accounts(data_dir), lambda: httpx.Client(base_url=url)).login("dr.martin")
            refused = client.get("/patients/pat-0001", headers=SPOOFED)
            assert refused.status_code == 400 and "'x_forwarded_for'" in refused.json()["detail"], refused.text
            both = client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN, "forwarded": f"for={CAEN}"})
            assert both.status_code == 400, both.text
            assert client.get("/patients/pat-0001", headers={"x-forwarded-for": "[::ffff:192.0.2.10]:5678"}).status_code == 200
            challenged = client.get("/patients/pat-0001", headers={"x-forwarded-for": f"{LAGOS}:443"})  # a port no longer hides Lagos
            assert challenged.status_code == 401 and "country_not_allowed" in _reasons(challenged), challenged.text
    finally:
        guard.close()


def test_a_websocket_on_a_protected_path_is_closed_before_it_opens(data_dir: Path) -> None:
    """Before, the WebSocket scope went to the app unchecked and streamed the record."""

    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"id": websocket.path_params.get("id"), "first_name": "Thomas"})
        await websocket.close()

    guard = Guard(demo_settings(data_dir, clock=Clock()))
    app = Starlette(routes=[WebSocketRoute("/patients/{id}", stream), WebSocketRoute("/chat", stream)])
    client = TestClient(AccessGuardMiddleware(app, guard), base_url="http://localhost")
    try:
        for path in ("/patients/pat-0001", "/patients//pat-0001/"):
            with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(path) as socket:
                socket.receive_json()
            assert closed.value.code == POLICY_VIOLATION
        with client.websocket_connect("/chat") as socket:  # a path the guard does not protect
            assert socket.receive_json()["first_name"] == "Thomas"
    finally:
        guard.close()
