"""Store faults: the request fails closed (503, a clear log line), nothing hangs, and the guard recovers by itself."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from accessguard.demo.app import demo_settings
from accessguard.facts import RequestFacts
from accessguard.guard import Guard
from tests.conftest import CAEN, Clock, Demo, _copy_demo, make_demo, require_part
from tests.redis_server import REDIS_SERVER, RedisServer
from tests.store_support import start_session


def read(client: httpx.Client, patient: str = "pat-0001") -> httpx.Response:
    return client.get(f"/patients/{patient}", headers={"x-forwarded-for": CAEN})


def assert_failed_closed(response: httpx.Response, caplog: pytest.LogCaptureFixture, cause: str) -> None:
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:accessguard:problem:unavailable"
    assert any("failed closed" in r.getMessage() and cause in r.getMessage() for r in caplog.records), caplog.text
    caplog.clear()


@pytest.fixture
def redis_demo(demo_template: Path, tmp_path: Path) -> Iterator[tuple[Demo, RedisServer]]:
    """The ASGI demo on its own redis-server, which the test may stop, pause and restart."""
    require_part(REDIS_SERVER is not None, "redis-server")
    server = RedisServer(tmp_path / "redis").start()
    demo = make_demo("asgi", _copy_demo(demo_template, tmp_path / "data"), store_url=server.url)
    yield demo, server
    demo.guard.close()
    server.stop()


@pytest.mark.realpart
def test_redis_stopped_mid_run_fails_closed_then_recovers(redis_demo: tuple[Demo, RedisServer], caplog: pytest.LogCaptureFixture) -> None:
    demo, server = redis_demo
    client = demo.login("dr.martin")
    assert read(client).status_code == 200

    server.stop()
    caplog.set_level(logging.ERROR, logger="accessguard")
    assert_failed_closed(read(client, "pat-0002"), caplog, "Connection refused")
    login = demo.client().post("/login", json={"username": "dr.bernard", "password": demo.accounts["dr.bernard"].password})
    assert_failed_closed(login, caplog, "redis store")

    server.start()  # same port, same append-only file: the session survived
    assert read(client, "pat-0002").status_code == 200
    assert demo.login("dr.bernard") is not None


@pytest.mark.realpart
def test_redis_that_stops_answering_times_out_closed(redis_demo: tuple[Demo, RedisServer], caplog: pytest.LogCaptureFixture) -> None:
    """A Redis that accepts the connection but never answers: the socket timeout, not a hang, ends the request."""
    demo, server = redis_demo
    client = demo.login("dr.martin")
    server.freeze()  # until thawed: an answer can only come from the guard's own timeout
    try:
        caplog.set_level(logging.ERROR, logger="accessguard")
        assert_failed_closed(read(client), caplog, "TimeoutError")
        login = demo.client().post("/login", json={"username": "dr.bernard", "password": demo.accounts["dr.bernard"].password})
        assert_failed_closed(login, caplog, "TimeoutError")
    finally:
        server.thaw()
    assert read(client).status_code == 200


@pytest.fixture
def sqlite_guard(demo_template: Path, tmp_path: Path) -> Iterator[tuple[Guard, str, Path]]:
    """A guard on the default SQLite store, called directly from this thread, and a live session's cookie."""
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    clock = Clock()
    guard = Guard(demo_settings(data_dir, clock=clock))
    yield guard, start_session(guard, "dr.martin", int(clock.now)), data_dir / "accessguard.db"
    guard.close()


def check(guard: Guard, cookie: str) -> int:
    facts = RequestFacts("GET", "/patients/pat-0001", "", {"cookie": f"accessguard_session={cookie}", "x-forwarded-for": CAEN}, "127.0.0.1")
    verdict = guard.check(facts)
    if verdict.response is not None:
        return verdict.response.status
    guard.settle(verdict, 200, b'{"id": "pat-0001"}')
    return 200


def test_sqlite_locked_by_another_process_fails_closed_then_recovers(
    sqlite_guard: tuple[Guard, str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    guard, cookie, path = sqlite_guard
    assert check(guard, cookie) == 200
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # held past the store's busy timeout
    try:
        caplog.set_level(logging.ERROR, logger="accessguard")
        assert check(guard, cookie) == 503
        assert "failed closed" in caplog.text and "database is locked" in caplog.text
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert check(guard, cookie) == 200


def test_sqlite_corrupt_file_fails_closed_then_recovers_when_restored(
    sqlite_guard: tuple[Guard, str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    guard, cookie, path = sqlite_guard
    assert check(guard, cookie) == 200
    guard.store.close()  # the last connection checkpoints the WAL into the file
    good = path.read_bytes()
    path.write_bytes(b"this is not an SQLite database " * 512)
    caplog.set_level(logging.ERROR, logger="accessguard")
    assert check(guard, cookie) == 503
    assert check(guard, cookie) == 503  # still broken: still closed, still no crash
    assert "failed closed" in caplog.text and "not a database" in caplog.text
    path.write_bytes(good)  # the operator restores the file; no restart
    assert check(guard, cookie) == 200
