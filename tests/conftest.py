"""Shared fixtures: a demo service (ASGI and WSGI) on a controllable clock."""

from __future__ import annotations

import json
import os
import sqlite3
import warnings
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from accessguard.demo.app import build
from accessguard.guard import Guard
from tests.store_support import start_session, store_url

warnings.filterwarnings("ignore", message=".*httpx.*starlette.testclient.*")
from starlette.testclient import TestClient  # noqa: E402

IN_CI = os.environ.get("CI") == "true"
#: Where the demo fixtures keep their durable records: ``sqlite`` (the default, the quick path) or ``postgresql``
#: (``ACCESSGUARD_TEST_DATABASE=postgresql``: scripts/test.sh runs the guard's scenario modules so, see docs/deployment.md).
TEST_DATABASE = os.environ.get("ACCESSGUARD_TEST_DATABASE", "sqlite")
CAEN, LILLE, LAGOS = "192.0.2.10", "198.51.100.20", "203.0.113.30"


def require_part(available: bool, what: str) -> None:
    """Skip when a real part is missing locally; fail under CI=true."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but is missing")
    pytest.skip(f"{what} is not available here")


class Clock:
    """A settable clock for Settings.clock."""

    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


#: What the demo's test clients send: the demo answers in French by default, the tests read its English (tests/test_i18n.py its French).
ENGLISH = {"accept-language": "en"}


@dataclass
class Professional:
    username: str
    password: str
    role: str
    totp_secret: str


@dataclass
class Demo:
    guard: Guard
    clock: Clock
    accounts: dict[str, Professional]
    client_factory: Any

    def client(self) -> httpx.Client:
        client: httpx.Client = self.client_factory()
        return client

    def code(self, username: str) -> str:
        """The TOTP code of the professional at the demo clock's time."""
        return pyotp.TOTP(self.accounts[username].totp_secret).at(int(self.clock.now))

    def login(self, username: str, *, totp: bool = True) -> httpx.Client:
        client = self.client()
        pro = self.accounts[username]
        response = client.post("/login", json={"username": pro.username, "password": pro.password})
        assert response.status_code == 200, response.text
        if totp:
            response = client.post("/accessguard/step-up/totp", json={"code": self.code(username)})
            assert response.status_code == 200, response.text
            self.clock.advance(30)  # the next code is a new time step
        return client

    def session_client(self, professional: str, factors: Sequence[str] = ("pwd", "otp")) -> httpx.Client:
        """A client holding a session started straight in the store: one a login could not start now (a race, no account here)."""
        client = self.client()
        host = client.base_url.host  # the jar's own domain for it, so a step-up's new cookie replaces this one
        domain = host if "." in host else f"{host}.local"
        client.cookies.set("accessguard_session", start_session(self.guard, professional, int(self.clock.now), factors), domain=domain)
        return client


@pytest.fixture(scope="session")
def opa_binary() -> str:
    """The OPA binary built from source (scripts/install-opa.sh)."""
    from tests.opa_server import find_opa_binary

    binary = find_opa_binary()
    require_part(binary is not None, "the OPA binary (scripts/install-opa.sh)")
    assert binary is not None
    return binary


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo data directory initialised once (password hashing is slow on purpose)."""
    path = tmp_path_factory.mktemp("demo-template")
    _, guard = build(path)
    guard.close()
    return path


def _copy_demo(template: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in ("accounts.db", "patients.db"):  # the backup API includes what is still in the write-ahead log
        with closing(sqlite3.connect(template / name)) as source, closing(sqlite3.connect(target / name)) as copy:
            source.backup(copy)
    for name in ("keys.json", "demo-accounts.json"):
        (target / name).write_bytes((template / name).read_bytes())
    return target


def _accounts(path: Path) -> dict[str, Professional]:
    return {a["username"]: Professional(**a) for a in json.loads((path / "demo-accounts.json").read_text())}


@pytest.fixture(scope="session")
def records_server(request: pytest.FixtureRequest) -> Any:
    """The PostgreSQL cluster the demo fixtures keep their records in under ``ACCESSGUARD_TEST_DATABASE=postgresql``, else None."""
    assert TEST_DATABASE in ("sqlite", "postgresql"), f"ACCESSGUARD_TEST_DATABASE={TEST_DATABASE!r}: sqlite or postgresql"
    return request.getfixturevalue("postgres_server") if TEST_DATABASE == "postgresql" else None


def _records(server: Any, data_dir: Path) -> dict[str, str]:
    """The ``database`` override that moves a demo copy's records to an empty PostgreSQL database (none for SQLite)."""
    if server is None:
        return {}
    from accessguard.cli import main

    server.reset()
    assert main(["db", "upgrade", "--database", server.url]) == 0
    assert main(["db", "migrate", "--from", str(data_dir), "--to", server.url]) == 0
    return {"database": server.url}


@pytest.fixture(params=["asgi", "wsgi"])
def demo(request: pytest.FixtureRequest, demo_template: Path, tmp_path: Path, records_server: Any) -> Iterator[Demo]:
    """The demo service behind the ASGI middleware and behind the WSGI middleware."""
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    demo = make_demo(request.param, data_dir, **_records(records_server, data_dir))
    yield demo
    demo.guard.close()


def make_demo(adapter: str, data_dir: Path, *, clock: Clock | None = None, follow_redirects: bool = True, **overrides: Any) -> Demo:
    """The demo on ``data_dir`` behind the ``asgi`` or ``wsgi`` middleware; ``overrides`` go to its Settings.

    Demos given one ``clock`` share it. ``follow_redirects`` is the ASGI test client's (the WSGI client never follows).
    """
    from tests.wsgi_directory import build_wsgi

    clock = Clock() if clock is None else clock
    if adapter == "asgi":
        app, guard = build(data_dir, clock=clock, **overrides)

        def factory() -> httpx.Client:
            return TestClient(
                app, client=("127.0.0.1", 40000), base_url="http://localhost", follow_redirects=follow_redirects, headers=ENGLISH
            )

    else:
        wsgi_app, guard = build_wsgi(data_dir, clock=clock, **overrides)

        def factory() -> httpx.Client:
            transport = httpx.WSGITransport(app=wsgi_app, remote_addr="127.0.0.1")
            return httpx.Client(transport=transport, base_url="http://localhost", headers=ENGLISH)

    return Demo(guard, clock, _accounts(data_dir), factory)


@pytest.fixture
def asgi_demo(demo_template: Path, tmp_path: Path, records_server: Any) -> Iterator[Demo]:
    """The ASGI demo only, for tests about the guard rather than the adapters."""
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    demo = make_demo("asgi", data_dir, **_records(records_server, data_dir))
    yield demo
    demo.guard.close()


@pytest.fixture
def two_hosts(demo_template: Path, tmp_path: Path, redis_server: Any) -> Iterator[tuple[Demo, Demo]]:
    """Two guards, each on its own data directory (its own accounts.db), sharing one Redis and one clock."""
    url, clock = store_url("redis", tmp_path, redis_server), Clock()

    def host(name: str) -> Demo:
        return make_demo("asgi", _copy_demo(demo_template, tmp_path / name), clock=clock, store_url=url)

    host_a, host_b = host("host-a"), host("host-b")
    yield host_a, host_b
    host_a.guard.close()
    host_b.guard.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One redis-server for the session (Debian's, on a free loopback port); tests flush it as they need."""
    from tests.redis_server import REDIS_SERVER, RedisServer

    require_part(REDIS_SERVER is not None, "redis-server")
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """One PostgreSQL cluster for the session (Debian's, on a free loopback port), removed after."""
    from tests.postgres_server import BIN_DIR, PostgresServer

    require_part(BIN_DIR is not None, "PostgreSQL (Debian's postgresql package: initdb, pg_ctl)")
    server = PostgresServer().start()
    yield server
    server.remove()


@pytest.fixture
def postgres_url(postgres_server: Any) -> str:
    """The URL of an empty PostgreSQL database for this test."""
    postgres_server.reset()
    url: str = postgres_server.url
    return url
