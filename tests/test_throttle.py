"""Guess throttling: password logins per username, address and network, one-time codes per account, shared by every
host on one store; a browser that completed a full login before keeps its own count (device cookies)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from accessguard import endpoints
from accessguard.authn.throttle import CODES, LOGINS, NETWORKS, SOURCES
from tests.authenticators import reasons, wrong_code
from tests.conftest import CAEN, LAGOS, Demo, _copy_demo, make_demo
from tests.store_support import store_url

ATTACKER = LAGOS  # 203.0.113.30
DEVICE_COOKIE = "accessguard_device_"


def _login(client: httpx.Client, username: str, password: str, address: str | None = None) -> httpx.Response:
    """A login from ``address`` (through the demo's trusted proxy), or from the test client's own address."""
    headers = {"x-forwarded-for": address} if address else {}
    return client.post("/login", json={"username": username, "password": password}, headers=headers)


def _fail_until_locked(client: httpx.Client, username: str, address: str | None = None) -> None:
    for _ in range(LOGINS.max_attempts):
        assert _login(client, username, "not-the-password", address).status_code == 401


def _alerts(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.alert for r in caplog.records if hasattr(r, "alert")]  # type: ignore[attr-defined]


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.realpart)])
def store_demo(request: pytest.FixtureRequest, demo_template: Path, tmp_path: Path) -> Iterator[Demo]:
    """The ASGI demo on each store: SQLite, and a real Redis."""
    server = request.getfixturevalue("redis_server") if request.param == "redis" else None
    demo = make_demo("asgi", _copy_demo(demo_template, tmp_path / "data"), store_url=store_url(request.param, tmp_path, server))
    yield demo
    demo.guard.close()


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
    alerts = _alerts(caplog)
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


# per source (issue 11 item 5)


@pytest.mark.slow
def test_spraying_many_usernames_from_one_address_is_locked_long_before_88_guesses(
    store_demo: Demo, caplog: pytest.LogCaptureFixture
) -> None:
    client = store_demo.client()
    answers = [_login(client, f"user.{n:02d}", "not-the-password", ATTACKER) for n in range(44) for _ in range(2)]
    statuses = [answer.status_code for answer in answers]
    assert statuses[: SOURCES.max_attempts] == [401] * SOURCES.max_attempts
    assert set(statuses[SOURCES.max_attempts :]) == {429}  # 30 guesses, then every one refused
    locked = answers[SOURCES.max_attempts]
    assert reasons(locked) == ["login_attempts_locked"]
    assert locked.headers["retry-after"] == str(SOURCES.first_lock_s)
    assert "too many failed logins from this address" in locked.json()["detail"]
    assert {"event": "login_source_locked", "account": "", "source": f"address {ATTACKER}", "attempts": SOURCES.max_attempts} in _alerts(
        caplog
    )
    martin = store_demo.accounts["dr.martin"]
    assert _login(client, "dr.martin", martin.password, ATTACKER).status_code == 429  # even a right password, no Argon2 work

    # another address is not slowed, not even a neighbour in the same /24
    assert _login(store_demo.client(), "dr.martin", martin.password, CAEN).status_code == 200
    assert _login(store_demo.client(), "user.00", "not-the-password", "203.0.113.31").status_code == 401


@pytest.mark.slow
@pytest.mark.parametrize("addresses", [[f"203.0.113.{n}" for n in range(1, 111)], [f"2001:db8:1:{n:x}::1" for n in range(1, 111)]])
def test_spraying_from_many_addresses_of_one_network_is_locked(asgi_demo: Demo, addresses: list[str]) -> None:
    """Each address stays under its own limit; their /24 (IPv4) or /48 (IPv6) adds them up (one store: test_store holds both alike)."""
    client = asgi_demo.client()
    statuses = [_login(client, f"user.{n:03d}", "not-the-password", address).status_code for n, address in enumerate(addresses)]
    assert statuses[: NETWORKS.max_attempts] == [401] * NETWORKS.max_attempts
    assert set(statuses[NETWORKS.max_attempts :]) == {429}
    refused = _login(client, "user.999", "not-the-password", addresses[0])
    assert "from this network" in refused.json()["detail"]
    assert _login(client, "user.999", "not-the-password", CAEN if ":" not in addresses[0] else "2001:db8:2::1").status_code == 401


def test_a_professionals_right_password_does_not_wipe_the_failures_of_their_address(store_demo: Demo) -> None:
    """An attacker's own valid account cannot reset the count of the address they spray from."""
    client, martin = store_demo.client(), store_demo.accounts["dr.martin"]
    for n in range(SOURCES.max_attempts):
        assert _login(client, f"user.{n:02d}", "not-the-password", ATTACKER).status_code == 401
        if n % 10 == 0:
            assert _login(client, "dr.martin", martin.password, ATTACKER).status_code == 200
    assert _login(client, "user.99", "not-the-password", ATTACKER).status_code == 429


# device cookies (OWASP): the owner's browser is not locked out by strangers


def test_an_attacker_locking_a_username_does_not_lock_out_its_owners_trusted_device(
    store_demo: Demo, caplog: pytest.LogCaptureFixture
) -> None:
    owner, martin = store_demo.login("dr.martin"), store_demo.accounts["dr.martin"]  # password and code: a full login
    attacker = store_demo.client()
    _fail_until_locked(attacker, "dr.martin", ATTACKER)
    assert _login(attacker, "dr.martin", martin.password, ATTACKER).status_code == 429
    assert _login(store_demo.client(), "dr.martin", martin.password, CAEN).status_code == 429  # any untrusted browser

    assert _login(owner, "dr.martin", martin.password, CAEN).status_code == 200  # the owner's own browser is let in
    # its own small lockout: the owner's mistypes count on the device alone, and its success cleared them
    for _ in range(LOGINS.max_attempts):
        assert _login(owner, "dr.martin", "not-the-password", CAEN).status_code == 401
    refused = _login(owner, "dr.martin", martin.password, CAEN)
    assert refused.status_code == 429
    assert "on this device" in refused.json()["detail"]
    assert {"event": "login_attempts_locked", "account": "dr.martin", "attempts": 10, "trusted_device": True} in _alerts(caplog)


def test_a_forged_or_borrowed_device_cookie_counts_as_an_untrusted_browser(store_demo: Demo) -> None:
    owner, martin = store_demo.login("dr.martin"), store_demo.accounts["dr.martin"]
    (cookie,) = [c for c in owner.cookies.jar if c.name.startswith(DEVICE_COOKIE) and c.path == "/login"]
    _fail_until_locked(store_demo.client(), "dr.martin", ATTACKER)
    forged = store_demo.client()
    forged.cookies.set(cookie.name, cookie.value[:-2] + ("AA" if not cookie.value.endswith("AA") else "BB"), path="/login")
    assert _login(forged, "dr.martin", martin.password, ATTACKER).status_code == 429
    store_demo.clock.advance(91 * 86400)  # the cookie expired (90 days)
    _fail_until_locked(store_demo.client(), "dr.martin", CAEN)
    assert _login(owner, "dr.martin", martin.password, CAEN).status_code == 429


def test_a_full_login_sets_a_strict_httponly_device_cookie_for_the_guards_routes_only(demo: Demo) -> None:
    client = demo.login("dr.martin", totp=False)
    step_up = client.post("/accessguard/step-up/totp", json={"code": demo.code("dr.martin")})
    assert step_up.status_code == 200
    device = [c for c in step_up.headers.get_list("set-cookie") if c.startswith(DEVICE_COOKIE)]
    assert sorted(c.rsplit("; Path=", 1)[1] for c in device) == ["/accessguard/", "/login"]
    for cookie in device:
        assert "; HttpOnly" in cookie and "; SameSite=Strict" in cookie and f"; Max-Age={90 * 86400}" in cookie
    assert "Secure" not in device[0]  # the demo runs on plain HTTP (cookie_secure=False)
    # a password alone trusts nothing
    assert not any(
        c.startswith(DEVICE_COOKIE)
        for c in _login(demo.client(), "dr.bernard", demo.accounts["dr.bernard"].password).headers.get_list("set-cookie")
    )


def test_an_attackers_wrong_codes_do_not_lock_the_owners_device_out_of_code_entry(
    store_demo: Demo, caplog: pytest.LogCaptureFixture
) -> None:
    owner, martin = store_demo.login("dr.martin"), store_demo.accounts["dr.martin"]
    attacker = store_demo.login("dr.martin", totp=False)  # a phished password: a session, no device cookie
    wrong = wrong_code(store_demo.code("dr.martin"))
    for _ in range(CODES.max_attempts):
        assert attacker.post("/accessguard/step-up/totp", json={"code": wrong}).status_code == 401
    locked = attacker.post("/accessguard/step-up/totp", json={"code": store_demo.code("dr.martin")})
    assert locked.status_code == 429
    assert reasons(locked) == ["code_attempts_locked"]
    assert {"event": "code_attempts_locked", "account": "dr.martin", "attempts": CODES.max_attempts} in _alerts(caplog)

    assert _login(owner, "dr.martin", martin.password, CAEN).status_code == 200
    assert owner.post("/accessguard/step-up/totp", json={"code": store_demo.code("dr.martin")}).status_code == 200
    assert attacker.post("/accessguard/step-up/totp", json={"code": store_demo.code("dr.martin")}).status_code == 429
