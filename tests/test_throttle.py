"""Guess throttling: password logins per username, one-time codes per account, shared by every host on one store."""

from __future__ import annotations

import httpx
import pytest

from accessguard import endpoints
from accessguard.authn.throttle import CODES, LOGINS
from tests.authenticators import reasons, wrong_code
from tests.conftest import Demo


def _login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post("/login", json={"username": username, "password": password})


def _fail_until_locked(client: httpx.Client, username: str) -> None:
    for _ in range(LOGINS.max_attempts):
        assert _login(client, username, "not-the-password").status_code == 401


def test_the_attempt_after_the_last_free_one_is_refused_even_with_the_right_password(demo: Demo, caplog: pytest.LogCaptureFixture) -> None:
    client, martin = demo.client(), demo.accounts["dr.martin"]
    _fail_until_locked(client, "dr.martin")
    locked = _login(client, "dr.martin", martin.password)
    assert locked.status_code == 429
    assert locked.headers["content-type"] == "application/problem+json"
    assert locked.headers["retry-after"] == str(LOGINS.first_lock_s)
    assert reasons(locked) == ["login_attempts_locked"]
    assert locked.json()["type"] == "urn:accessguard:problem:login-attempts-locked"
    assert "accessguard_session" not in locked.headers.get("set-cookie", "")
    assert "login attempt for 'dr.martin' refused: locked for 30 s more" in caplog.text
    bernard = demo.accounts["dr.bernard"]
    assert _login(client, "dr.bernard", bernard.password).status_code == 200  # another username is not locked

    demo.clock.advance(LOGINS.first_lock_s - 1)
    assert _login(client, "dr.martin", martin.password).status_code == 429
    demo.clock.advance(1)
    assert _login(client, "dr.martin", martin.password).status_code == 200  # the lock ended; the right password clears
    assert _login(client, "dr.martin", "not-the-password").status_code == 401  # the count started again


def test_locking_a_professionals_login_raises_an_alert_and_an_unknown_username_does_not(
    asgi_demo: Demo, caplog: pytest.LogCaptureFixture
) -> None:
    client = asgi_demo.client()
    _fail_until_locked(client, "dr.martin")
    _fail_until_locked(client, "no.such.user")
    alerts = [r.alert for r in caplog.records if hasattr(r, "alert")]  # type: ignore[attr-defined]
    assert alerts == [{"event": "login_attempts_locked", "account": "dr.martin", "attempts": LOGINS.max_attempts}]
    assert "login locked for 'no.such.user': 10 failed logins in a row" in caplog.text


def test_a_right_password_resets_the_count(asgi_demo: Demo) -> None:
    client, martin = asgi_demo.client(), asgi_demo.accounts["dr.martin"]
    for _ in range(LOGINS.max_attempts - 1):
        assert _login(client, "dr.martin", "not-the-password").status_code == 401
    assert _login(client, "dr.martin", martin.password).status_code == 200
    for _ in range(LOGINS.max_attempts - 1):
        assert _login(client, "dr.martin", "not-the-password").status_code == 401
    assert _login(client, "dr.martin", martin.password).status_code == 200


def test_unknown_usernames_are_throttled_the_same(demo: Demo) -> None:
    """Nothing in the answers tells an existing username from an unknown one."""
    client = demo.client()
    answers = {}
    for username in ("dr.martin", "dr.nobody"):
        _fail_until_locked(client, username)
        locked = _login(client, username, "not-the-password")
        answers[username] = (locked.status_code, locked.headers["retry-after"], locked.json())
    assert answers["dr.martin"] == answers["dr.nobody"]
    assert answers["dr.nobody"][0] == 429


def test_a_locked_login_hashes_no_password(asgi_demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    client = asgi_demo.client()
    _fail_until_locked(client, "dr.nobody")
    verified: list[str] = []
    real = endpoints.verify_password

    def counted(password_hash: str | None, password: str) -> bool:
        verified.append(password)
        return real(password_hash, password)

    monkeypatch.setattr(endpoints, "verify_password", counted)
    for _ in range(3):
        assert _login(client, "dr.nobody", "not-the-password").status_code == 429
    assert verified == []


@pytest.mark.realpart
def test_hosts_sharing_a_redis_share_one_code_throttle(two_hosts: tuple[Demo, Demo]) -> None:
    host_a, host_b = two_hosts
    cookie = {"cookie": "accessguard_session=" + host_a.login("dr.martin", totp=False).cookies["accessguard_session"]}
    wrong = wrong_code(host_a.code("dr.martin"))
    for attempt in range(CODES.max_attempts):
        host = (host_a, host_b)[attempt % 2]
        assert host.client().post("/accessguard/step-up/totp", json={"code": wrong}, headers=cookie).status_code == 401
    for host in (host_a, host_b):
        locked = host.client().post("/accessguard/step-up/totp", json={"code": host.code("dr.martin")}, headers=cookie)
        assert locked.status_code == 429
        assert reasons(locked) == ["code_attempts_locked"]
    host_b.clock.advance(CODES.first_lock_s)
    assert host_b.client().post("/accessguard/step-up/totp", json={"code": host_b.code("dr.martin")}, headers=cookie).status_code == 200


@pytest.mark.realpart
def test_hosts_sharing_a_redis_share_one_login_throttle(two_hosts: tuple[Demo, Demo]) -> None:
    host_a, host_b = two_hosts
    for attempt in range(LOGINS.max_attempts):
        host = (host_a, host_b)[attempt % 2]
        assert _login(host.client(), "dr.martin", "not-the-password").status_code == 401
    assert _login(host_a.client(), "dr.martin", host_a.accounts["dr.martin"].password).status_code == 429
    assert _login(host_b.client(), "dr.martin", host_b.accounts["dr.martin"].password).status_code == 429
