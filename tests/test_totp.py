"""TOTP: enrolment with a QR code, sealed seeds, throttling across sessions and processes, single use."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest

from accessguard.authn.throttle import CODES
from accessguard.errors import ConfigurationError
from accessguard.settings import local_keys
from tests.authenticators import open_link, reasons, wrong_code
from tests.conftest import Demo


def _begin(client: httpx.Client) -> dict[str, str]:
    response = client.post("/accessguard/enroll/totp/begin", json={"label": "work phone"})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    setup: dict[str, str] = response.json()
    return setup


def test_enrolment_gives_otpauth_uri_and_inline_svg_qr(demo: Demo) -> None:
    client = open_link(demo, "dr.martin", "totp")  # an administrator's link: a code session may not enrol
    setup = _begin(client)
    uri = urlsplit(setup["otpauth_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert parse_qs(uri.query)["secret"] == [setup["secret"]]
    assert parse_qs(uri.query)["issuer"] == ["accessguard"]
    svg = ET.fromstring(setup["qr_svg"])
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert "http" not in setup["qr_svg"].replace("http://www.w3.org/2000/svg", "")  # nothing from other hosts


def test_seed_counts_only_once_confirmed(demo: Demo) -> None:
    client = open_link(demo, "dr.martin", "totp")  # an administrator's link: a code session may not enrol
    setup = _begin(client)
    new_app = pyotp.TOTP(setup["secret"])
    other = demo.login("dr.martin", totp=False)
    assert other.post("/accessguard/step-up/totp", json={"code": new_app.at(demo.clock.now)}).status_code == 401
    demo.clock.advance(30)
    confirmed = client.post("/accessguard/enroll/totp/confirm", json={"code": new_app.at(demo.clock.now)})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["authenticator"]["label"] == "work phone"
    assert confirmed.json()["obligations"] == {"alert": ["authenticator_enrolled"]}
    assert len(confirmed.json()["recovery_codes"]) == 10
    demo.clock.advance(30)
    assert other.post("/accessguard/step-up/totp", json={"code": new_app.at(demo.clock.now)}).status_code == 200


def test_wrong_confirmation_code_keeps_it_pending(asgi_demo: Demo) -> None:
    client = open_link(asgi_demo, "dr.martin", "totp")  # an administrator's link: a code session may not enrol
    setup = _begin(client)
    code = pyotp.TOTP(setup["secret"]).at(asgi_demo.clock.now)
    assert client.post("/accessguard/enroll/totp/confirm", json={"code": wrong_code(code)}).status_code == 401
    assert client.post("/accessguard/enroll/totp/confirm", json={"code": code}).status_code == 200


def test_unconfirmed_seed_expires(asgi_demo: Demo) -> None:
    client = open_link(asgi_demo, "dr.martin", "totp")  # an administrator's link: a code session may not enrol
    setup = _begin(client)
    asgi_demo.clock.advance(601)
    response = client.post("/accessguard/enroll/totp/confirm", json={"code": pyotp.TOTP(setup["secret"]).at(asgi_demo.clock.now)})
    assert reasons(response) == ["no_pending_enrolment"]


def test_seeds_are_sealed_at_rest(asgi_demo: Demo) -> None:
    client = open_link(asgi_demo, "dr.martin", "totp")  # an administrator's link: a code session may not enrol
    secret = _begin(client)["secret"]
    asgi_demo.guard.close()
    data_dir = Path(asgi_demo.guard.settings.data_dir)
    stored = b"".join(p.read_bytes() for p in data_dir.glob("accounts.db*"))
    assert secret.encode() not in stored
    assert asgi_demo.accounts["dr.martin"].totp_secret.encode() not in stored


def test_wrong_encryption_key_fails_closed(asgi_demo: Demo) -> None:
    from cryptography.fernet import Fernet
    from starlette.testclient import TestClient

    from accessguard.guard import Guard
    from accessguard.middleware.asgi import AccessGuardMiddleware

    settings = replace(asgi_demo.guard.settings, encryption_key=Fernet.generate_key().decode())
    guard = Guard(settings)
    client = TestClient(AccessGuardMiddleware(lambda scope, receive, send: None, guard), base_url="http://localhost")  # type: ignore[arg-type]
    pro = asgi_demo.accounts["dr.martin"]
    assert client.post("/login", json={"username": pro.username, "password": pro.password}).status_code == 200
    response = client.post("/accessguard/step-up/totp", json={"code": asgi_demo.code("dr.martin")})
    assert response.status_code == 503
    assert pro.totp_secret not in response.text
    guard.close()


@pytest.mark.parametrize("key", ["", "not-a-fernet-key"])
def test_missing_or_bad_encryption_key_is_a_start_up_error(tmp_path: Path, key: str) -> None:
    from accessguard.demo.app import demo_settings
    from accessguard.guard import Guard

    local_keys(tmp_path)
    with pytest.raises(ConfigurationError, match="encryption_key"):
        Guard(replace(demo_settings(tmp_path), encryption_key=key))


def test_failed_codes_lock_the_account_across_sessions(demo: Demo) -> None:
    first, second = demo.login("dr.martin", totp=False), demo.login("dr.martin", totp=False)
    wrong = wrong_code(demo.code("dr.martin"))
    for attempt in range(CODES.max_attempts):
        client = first if attempt % 2 else second
        assert client.post("/accessguard/step-up/totp", json={"code": wrong}).status_code == 401
    locked = second.post("/accessguard/step-up/totp", json={"code": demo.code("dr.martin")})
    assert locked.status_code == 429
    assert reasons(locked) == ["code_attempts_locked"]
    assert int(locked.headers["retry-after"]) == CODES.first_lock_s
    demo.clock.advance(CODES.first_lock_s + 1)
    assert second.post("/accessguard/step-up/totp", json={"code": demo.code("dr.martin")}).status_code == 200
    demo.clock.advance(30)
    assert first.post("/accessguard/step-up/totp", json={"code": wrong_code(demo.code("dr.martin"))}).status_code == 401  # count restarted


def test_back_off_grows(asgi_demo: Demo) -> None:
    client = asgi_demo.login("dr.martin", totp=False)
    waits = []
    for _ in range(CODES.max_attempts + 2):
        response = client.post("/accessguard/step-up/totp", json={"code": wrong_code(asgi_demo.code("dr.martin"))})
        if response.status_code == 429:
            waits.append(int(response.headers["retry-after"]))
            asgi_demo.clock.advance(waits[-1])
            client.post("/accessguard/step-up/totp", json={"code": wrong_code(asgi_demo.code("dr.martin"))})
    locked = client.post("/accessguard/step-up/totp", json={"code": asgi_demo.code("dr.martin")})
    waits.append(int(locked.headers["retry-after"]))
    assert waits == [CODES.first_lock_s, 2 * CODES.first_lock_s, 4 * CODES.first_lock_s]


def test_lock_out_raises_an_alert(asgi_demo: Demo, caplog: pytest.LogCaptureFixture) -> None:
    client = asgi_demo.login("dr.martin", totp=False)
    for _ in range(CODES.max_attempts):
        client.post("/accessguard/step-up/totp", json={"code": wrong_code(asgi_demo.code("dr.martin"))})
    assert [r.alert["event"] for r in caplog.records if hasattr(r, "alert")] == ["code_attempts_locked"]  # type: ignore[attr-defined]


def test_confirmation_codes_are_throttled_too(asgi_demo: Demo) -> None:
    client = open_link(asgi_demo, "dr.martin", "totp")  # an administrator's link: a code session may not enrol
    setup = _begin(client)
    code = pyotp.TOTP(setup["secret"]).at(asgi_demo.clock.now)
    for _ in range(CODES.max_attempts):
        client.post("/accessguard/enroll/totp/confirm", json={"code": wrong_code(code)})
    assert client.post("/accessguard/enroll/totp/confirm", json={"code": code}).status_code == 429


def test_same_valid_code_twice_at_once_succeeds_once(demo: Demo) -> None:
    clients = [demo.login("dr.martin", totp=False) for _ in range(2)]
    code = demo.code("dr.martin")
    statuses: list[int] = []
    barrier = threading.Barrier(len(clients))

    def submit(client: httpx.Client) -> None:
        barrier.wait()
        statuses.append(client.post("/accessguard/step-up/totp", json={"code": code}).status_code)

    threads = [threading.Thread(target=submit, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 401]


def test_same_confirmation_code_twice_at_once_enrols_once(asgi_demo: Demo) -> None:
    client = open_link(asgi_demo, "dr.martin", "totp")  # an administrator's link: a code session may not enrol
    setup = _begin(client)
    code = pyotp.TOTP(setup["secret"]).at(asgi_demo.clock.now)
    statuses: list[int] = []
    barrier = threading.Barrier(2)

    def confirm() -> None:
        barrier.wait()
        statuses.append(client.post("/accessguard/enroll/totp/confirm", json={"code": code}).status_code)

    threads = [threading.Thread(target=confirm) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses)[0] == 200 and sorted(statuses)[1] in (401, 409)
    assert len(asgi_demo.guard.authenticators.of_account("dr.martin", "totp", ("active",))) == 2
