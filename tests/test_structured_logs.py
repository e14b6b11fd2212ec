"""Structured logs: one JSON object per line with the request id; nothing a request sends breaks or colours a line."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from accessguard.logs import JsonFormatter, PlainFormatter
from tests.conftest import CAEN, Demo, _copy_demo
from tests.demo_process import demo_process

HOSTILE = "\r\nWARNING accessguard forged \x1b[31mred\x1b[0m \x9b2J \u2028 end"
RAW_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """accessguard's log lines as the JSON and the plain formatter write them."""
    streams = io.StringIO(), io.StringIO()
    handlers = [logging.StreamHandler(streams[0]), logging.StreamHandler(streams[1])]
    handlers[0].setFormatter(JsonFormatter())
    handlers[1].setFormatter(PlainFormatter())
    logger = logging.getLogger("accessguard")
    level = logger.level
    logger.setLevel(logging.INFO)
    for handler in handlers:
        logger.addHandler(handler)
    yield streams
    for handler in handlers:
        logger.removeHandler(handler)
    logger.setLevel(level)


def _asgi(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> tuple[int, dict[str, str]]:
    """One request straight through the ASGI middleware, with header bytes no HTTP client would send."""
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("localhost", 80),
        "scheme": "http",
        "http_version": "1.1",
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    return start["status"], {k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]}


def _lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().split("\n")[:-1]


def test_hostile_headers_reach_json_and_plain_lines_escaped_and_a_bad_request_id_is_replaced(
    asgi_demo: Demo, captured: tuple[io.StringIO, io.StringIO]
) -> None:
    client = asgi_demo.login("dr.martin")
    cookie = f"accessguard_session={client.cookies['accessguard_session']}".encode()
    app = client.app  # type: ignore[attr-defined]
    hostile = HOSTILE.encode("utf-8")
    status, headers = _asgi(
        app,
        "POST",
        "/login",
        [(b"origin", b"http://evil.example" + hostile), (b"x-request-id", b"id" + hostile), (b"content-type", b"application/json")],
        b"{}",
    )
    assert status == 403  # cross-site, logged with its origin
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])  # the hostile id was replaced, not echoed
    status, headers = _asgi(app, "OPTIONS", "/patients/x", [(b"cookie", cookie), (b"x-request-id", b"trace-42.a:b")])
    assert status == 405 and headers["x-request-id"] == "trace-42.a:b"  # logged: method not declared
    status, headers = _asgi(app, "GET", "/patients/pat-0001", [(b"cookie", cookie), (b"x-forwarded-for", CAEN.encode())])
    assert status == 200 and re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])  # the app's answer carries it too
    decided_id = headers["x-request-id"]

    json_lines, plain_lines = _lines(captured[0]), _lines(captured[1])
    assert len(json_lines) == len(plain_lines) >= 3  # one line per record in both formats: nothing split a line
    for line in json_lines + plain_lines:
        assert not RAW_CONTROLS.search(line), repr(line)
    documents = [json.loads(line) for line in json_lines]
    assert any("evil.example" in d["message"] and "forged" in d["message"] for d in documents)  # logged, escaped
    assert any(d.get("request_id") == "trace-42.a:b" for d in documents)
    decisions = [d for d in documents if "decision" in d]
    assert decisions and decisions[-1]["request_id"] == decided_id
    assert decisions[-1]["decision"]["outcome"] == "allow" and decisions[-1]["decision"]["route"]
    assert "pat-0001" not in json.dumps(decisions) and "dr.martin" not in json.dumps(decisions)  # the access log has them
    assert not any(line.startswith("WARNING accessguard forged") for line in plain_lines)


def test_the_wsgi_adapter_returns_the_request_id(demo: Demo) -> None:
    client = demo.login("dr.martin")
    sent = client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN, "x-request-id": "abc-123"})
    assert sent.status_code == 200 and sent.headers["x-request-id"] == "abc-123"
    too_long = client.get("/patients/pat-0002", headers={"x-forwarded-for": CAEN, "x-request-id": "a" * 129})
    assert re.fullmatch(r"[0-9a-f]{32}", too_long.headers["x-request-id"])
    assert demo.client().post("/login", json={}).headers["x-request-id"]  # the guard's own routes too


@pytest.mark.slow
def test_the_demo_logs_one_json_object_per_line(demo_template: Path, tmp_path: Path) -> None:
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    account = next(a for a in json.loads((data_dir / "demo-accounts.json").read_text()) if a["username"] == "dr.bernard")
    log = tmp_path / "demo.log"
    with demo_process(data_dir, log, "--log-format", "json") as (url, _), httpx.Client(base_url=url) as client:
        assert client.post("/login", json={"username": "dr.bernard", "password": account["password"]}).status_code == 200
        assert client.post("/accessguard/step-up/totp", json={"code": pyotp.TOTP(account["totp_secret"]).now()}).status_code == 200
        read = client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN, "x-request-id": "walk-1"})
        assert read.status_code == 200 and read.headers["x-request-id"] == "walk-1"
    lines = [line for line in log.read_text().splitlines() if line.startswith("{")]
    documents = [json.loads(line) for line in lines]
    assert any(d.get("request_id") == "walk-1" and d.get("decision", {}).get("outcome") == "allow" for d in documents)
