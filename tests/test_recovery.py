"""Recovery codes: shown once, stored hashed, single use, aal2 only, regenerable, logged, throttled."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import httpx
import pytest

from accessguard.authn.throttle import CODES
from tests.authenticators import BULK_PAGE, key_session, open_link, reasons, register
from tests.conftest import Demo
from tests.softkey import SoftKey


def _codes(demo: Demo, username: str = "dr.martin") -> tuple[SoftKey, list[str]]:
    key = SoftKey()
    response = register(open_link(demo, username), key)
    assert response.status_code == 200, response.text
    codes: list[str] = response.json()["recovery_codes"]
    return key, codes


def _use(client: httpx.Client, code: str) -> httpx.Response:
    return client.post("/accessguard/step-up/recovery", json={"code": code})


def test_ten_distinct_codes_with_the_first_enrolment_only(asgi_demo: Demo) -> None:
    key, codes = _codes(asgi_demo)
    assert len(set(codes)) == 10
    second = register(key_session(asgi_demo, "dr.martin", key), SoftKey())
    assert "recovery_codes" not in second.json()


def test_code_gives_aal2_never_phishing_resistant(demo: Demo) -> None:
    _, codes = _codes(demo)
    client = demo.login("dr.martin", totp=False)
    response = _use(client, codes[0].upper().replace("-", " "))  # typed loosely
    assert response.status_code == 200
    assert response.json() == {"subject": "dr.martin", "aal": 2, "factor": "recovery", "phishing_resistant": False}
    assert client.get("/patients/pat-0001").status_code == 200
    assert client.get(BULK_PAGE).json()["step_up"]["methods"] == ["webauthn"]


def test_each_code_works_once(asgi_demo: Demo) -> None:
    _, codes = _codes(asgi_demo)
    client = asgi_demo.login("dr.martin", totp=False)
    assert _use(client, codes[3]).status_code == 200
    assert reasons(_use(client, codes[3])) == ["invalid_code"]
    assert asgi_demo.guard.ceremonies.recovery.remaining("dr.martin") == 9


def test_one_code_spent_twice_at_once_works_once(asgi_demo: Demo) -> None:
    _, codes = _codes(asgi_demo)
    clients = [asgi_demo.login("dr.martin", totp=False) for _ in range(4)]
    statuses: list[int] = []
    barrier = threading.Barrier(len(clients))

    def spend(client: httpx.Client) -> None:
        barrier.wait()
        statuses.append(_use(client, codes[0]).status_code)

    threads = [threading.Thread(target=spend, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 401, 401, 401]


def test_codes_are_stored_hashed(asgi_demo: Demo) -> None:
    _, codes = _codes(asgi_demo)
    asgi_demo.guard.close()
    stored = b"".join(p.read_bytes() for p in Path(asgi_demo.guard.settings.data_dir).glob("accounts.db*"))
    for code in codes:
        assert code.encode() not in stored
        assert code.replace("-", "").upper().encode() not in stored


def test_every_use_is_logged(asgi_demo: Demo, caplog: pytest.LogCaptureFixture) -> None:
    _, codes = _codes(asgi_demo)
    client = asgi_demo.login("dr.martin", totp=False)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="accessguard.alerts"):
        _use(client, codes[0])
        _use(client, codes[1])
    used = [r.alert for r in caplog.records if hasattr(r, "alert")]  # type: ignore[attr-defined]
    assert used == [
        {"event": "recovery_code_used", "account": "dr.martin", "remaining": 9},
        {"event": "recovery_code_used", "account": "dr.martin", "remaining": 8},
    ]
    assert all(code not in caplog.text for code in codes)


def test_regenerating_replaces_the_codes(asgi_demo: Demo) -> None:
    key, old = _codes(asgi_demo)
    client = key_session(asgi_demo, "dr.martin", key)
    response = client.post("/accessguard/recovery-codes", json={})
    assert response.status_code == 200
    new = response.json()["recovery_codes"]
    assert len(new) == 10 and not set(new) & set(old)
    other = asgi_demo.login("dr.martin", totp=False)
    assert reasons(_use(other, old[0])) == ["invalid_code"]
    assert _use(other, new[0]).status_code == 200


def test_regenerating_needs_a_fresh_second_factor(asgi_demo: Demo) -> None:
    _codes(asgi_demo)
    password_only = asgi_demo.login("dr.martin", totp=False)
    assert reasons(password_only.post("/accessguard/recovery-codes", json={})) == ["enrolment_not_allowed"]
    link_session = open_link(asgi_demo, "dr.martin", "totp")
    assert reasons(link_session.post("/accessguard/recovery-codes", json={})) == ["enrolment_only_session"]


def test_guessing_codes_is_throttled_with_totp(asgi_demo: Demo) -> None:
    _, codes = _codes(asgi_demo)
    client = asgi_demo.login("dr.martin", totp=False)
    for _ in range(CODES.max_attempts):
        assert _use(client, "aaaa-bbbb-cccc-dddd").status_code == 401
    assert _use(client, codes[0]).status_code == 429
    assert client.post("/accessguard/step-up/totp", json={"code": asgi_demo.code("dr.martin")}).status_code == 429
