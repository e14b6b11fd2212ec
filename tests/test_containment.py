"""Containment: ``accessguard account suspend|resume``, effective on the next request in every process."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pyotp
import pytest

from accessguard.audit.alerts import pending_alerts
from accessguard.containment import resume, suspend
from tests.audit_support import run_cli
from tests.conftest import CAEN, Demo, _copy_demo
from tests.demo_process import ACCESSGUARD, demo_process, wait_for
from tests.test_store import store_url


def _accessguard(*argv: str, store: str | None = None) -> subprocess.CompletedProcess[str]:
    """The command line in a process of its own."""
    return subprocess.run([ACCESSGUARD, *argv, *(["--store", store] if store else [])], capture_output=True, text=True, timeout=60)


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.realpart)])
def two_servers(request: pytest.FixtureRequest, demo_template: Path, tmp_path: Path) -> Iterator[tuple[Path, str | None, list[str]]]:
    """Two demo server processes sharing one data directory and one store (SQLite there, or Redis)."""
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    store = None if request.param == "sqlite" else store_url("redis", tmp_path, request.getfixturevalue("redis_server"))
    options = ["--store", store] if store else []
    with ExitStack() as running:
        urls = [running.enter_context(demo_process(data_dir, tmp_path / f"demo-{n}.log", *options))[0] for n in (1, 2)]
        yield data_dir, store, urls


def _login(url: str, data_dir: Path, username: str) -> httpx.Client:
    account = next(a for a in json.loads((data_dir / "demo-accounts.json").read_text()) if a["username"] == username)
    client = httpx.Client(base_url=url, headers={"x-forwarded-for": CAEN})
    assert client.post("/login", json={"username": username, "password": account["password"]}).status_code == 200
    response = client.post("/accessguard/step-up/totp", json={"code": pyotp.TOTP(account["totp_secret"]).now()})
    assert response.status_code == 200, response.text
    return client


@pytest.mark.slow
def test_suspension_is_effective_on_the_next_request_in_every_process(two_servers: tuple[Path, str | None, list[str]]) -> None:
    data_dir, store, (server_a, server_b) = two_servers
    doctor = _login(server_a, data_dir, "dr.martin")
    nurse = _login(server_b, data_dir, "inf.dubois")
    cookie = {"accessguard_session": doctor.cookies["accessguard_session"]}
    assert doctor.get("/patients/pat-0001").status_code == 200
    assert httpx.get(server_b + "/patients/pat-0002", cookies=cookie, headers={"x-forwarded-for": CAEN}).status_code == 200

    done = _accessguard(
        "account",
        "suspend",
        "dr.martin",
        "--reason",
        "credentials phished (ticket 4711)",
        "--revoke-authenticators",
        "--data-dir",
        str(data_dir),
        store=store,
    )
    assert done.returncode == 0, done.stderr
    assert "1 sessions revoked, 1 authenticators revoked" in done.stdout

    assert doctor.get("/patients/pat-0003").status_code == 401  # server A: the session is gone
    assert httpx.get(server_b + "/patients/pat-0003", cookies=cookie, headers={"x-forwarded-for": CAEN}).status_code == 401
    assert nurse.get("/patients/pat-0004").status_code == 200  # containment is targeted
    password = next(a["password"] for a in json.loads((data_dir / "demo-accounts.json").read_text()) if a["username"] == "dr.martin")
    again = httpx.post(server_b + "/login", json={"username": "dr.martin", "password": password})
    assert again.status_code == 403 and again.json()["reasons"] == ["account_suspended"]

    wait_for(lambda: not pending_alerts(data_dir / "audit.db"), "a running server to deliver the suspension alert")

    assert _accessguard("account", "resume", "dr.martin", "--data-dir", str(data_dir), store=store).returncode == 0
    back = httpx.Client(base_url=server_a, headers={"x-forwarded-for": CAEN})
    assert back.post("/login", json={"username": "dr.martin", "password": password}).status_code == 200
    secret = next(a["totp_secret"] for a in json.loads((data_dir / "demo-accounts.json").read_text()) if a["username"] == "dr.martin")
    assert back.post("/accessguard/step-up/totp", json={"code": pyotp.TOTP(secret).now()}).status_code == 401  # revoked authenticator
    assert back.get("/patients/pat-0005").json()["reasons"] == ["mfa_required"]

    verified = _accessguard("audit", "verify", "--data-dir", str(data_dir))
    assert verified.returncode == 0, verified.stdout


def test_a_session_born_during_suspension_is_refused_and_never_revived(asgi_demo: Demo) -> None:
    guard = asgi_demo.guard
    doctor = asgi_demo.login("dr.martin")
    assert doctor.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN}).status_code == 200
    suspension = suspend(guard.accounts, guard.authenticators, guard.store, guard.access_log, "dr.martin", "phished", operator="soc")
    assert suspension.sessions_revoked == 1 and suspension.authenticators_revoked == 0
    # a login that passed its status check just before the suspension creates its session just after it
    session, cookie = guard.sessions.start("dr.martin", "pwd", int(asgi_demo.clock.now))
    guard.store.record_factor(session.id, "otp", int(asgi_demo.clock.now))
    late = asgi_demo.client()
    late.cookies.set("accessguard_session", cookie)
    response = late.get("/patients/pat-0002", headers={"x-forwarded-for": CAEN})
    assert response.status_code == 403 and response.json()["reasons"] == ["account_suspended"]
    assert resume(guard.accounts, guard.store, guard.access_log, "dr.martin", operator="soc") == 1
    assert late.get("/patients/pat-0002", headers={"x-forwarded-for": CAEN}).status_code == 401
    assert [a.state for a in guard.authenticators.of_account("dr.martin")] == ["active"]  # authenticators stay unless asked


def test_suspension_is_logged_and_alerted(asgi_demo: Demo) -> None:
    data_dir = str(asgi_demo.guard.settings.data_dir)
    code, _, err = run_cli("account", "suspend", "inf.leroy", "--reason", "lost badge", "--data-dir", data_dir)
    assert code == 0, err
    asgi_demo.guard.alerts.wake()
    wait_for(lambda: not pending_alerts(asgi_demo.guard.access_log.path), "the alert to reach the log sink")
    with sqlite3.connect(asgi_demo.guard.access_log.path) as db:
        [(detail,)] = db.execute("SELECT detail FROM entries WHERE kind = 'event'").fetchall()
        [(payload,)] = db.execute("SELECT payload FROM alerts WHERE sink = 'log'").fetchall()
    assert json.loads(detail)["event"] == "account_suspended" and json.loads(detail)["reason"] == "lost badge"
    assert json.loads(payload)["reasons"] == ["account_suspended"] and json.loads(payload)["subject"] == "inf.leroy"


def test_unknown_accounts_and_missing_data_are_clear_errors(asgi_demo: Demo, tmp_path: Path) -> None:
    code, _, err = run_cli("account", "suspend", "nobody", "--reason", "x", "--data-dir", str(asgi_demo.guard.settings.data_dir))
    assert code == 2 and "no account 'nobody'" in err
    code, _, err = run_cli("account", "resume", "dr.martin", "--data-dir", str(tmp_path / "empty"))
    assert code == 2 and "no account directory" in err
