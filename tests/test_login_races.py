"""A login racing a containment: whatever was checked before the session started must still hold once it exists.

A containment changes the account first (status, password) and revokes its
sessions next. A password login verifies the password (Argon2, on purpose slow)
before it starts its session, so without a second look a login that verified the
old password could start its session just after the revocation and keep it. Each
test runs the containment at the worst moment through a seam: a guard function
wrapped so that, once it has run for real, the containment happens (no sleeps).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from accessguard.admin import actions
from accessguard.containment import suspend
from tests.authenticators import link_token, link_url
from tests.conftest import CAEN, Demo

AT_CAEN = {"x-forwarded-for": CAEN}
NEW_PASSWORD = "a brand new passphrase 42"


def contain_after_call(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, containment: Callable[[], None], call: int = 1) -> None:
    """Run ``containment`` right after the ``call``-th call of ``owner.name`` returned (``owner``: a module or an object)."""
    real = getattr(owner, name)
    calls = 0

    def racing(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        result = real(*args, **kwargs)
        calls += 1
        if calls == call:
            containment()
        return result

    monkeypatch.setattr(owner, name, racing)


def containments(demo: Demo) -> dict[str, Callable[[], None]]:
    guard = demo.guard
    return {
        "reset-password": lambda: actions.take_password(guard.accounts, guard.store, "dr.martin", by="test"),
        "contain": lambda: actions.contain(guard.accounts, guard.authenticators, guard.store, 0, by="test"),
        "suspend": lambda: suspend(
            guard.accounts, guard.authenticators, guard.store, guard.access_log, "dr.martin", "test", operator="test"
        ),
        "suspend-revoking": lambda: suspend(
            guard.accounts,
            guard.authenticators,
            guard.store,
            guard.access_log,
            "dr.martin",
            "test",
            operator="test",
            revoke_authenticators=True,
        ),
    }


def assert_no_session(demo: Demo, client: Any) -> None:
    """Nothing the login answered opens a session: no step-up, no record."""
    assert client.post("/accessguard/step-up/totp", json={"code": demo.code("dr.martin")}).status_code == 401
    read = client.get("/patients/pat-0001", headers=AT_CAEN)
    assert read.status_code in (401, 403), read.text
    assert "first_name" not in read.text


@pytest.mark.parametrize("containment", ["reset-password", "contain", "suspend-revoking"])
def test_a_password_verified_while_it_is_taken_away_starts_no_session(
    asgi_demo: Demo, monkeypatch: pytest.MonkeyPatch, containment: str
) -> None:
    """The containment lands while the password is being hashed: before, the login started a session after the revocation."""
    import accessguard.endpoints

    contain_after_call(monkeypatch, accessguard.endpoints, "verify_password", containments(asgi_demo)[containment])
    client = asgi_demo.client()
    login = client.post("/login", json={"username": "dr.martin", "password": asgi_demo.accounts["dr.martin"].password})
    assert login.status_code in (401, 403), login.text  # 403: the suspension was already seen by the status check
    assert "set-cookie" not in login.headers
    assert_no_session(asgi_demo, client)


@pytest.mark.parametrize("containment", ["suspend", "reset-password"])
def test_a_containment_after_the_status_check_ends_the_new_session(
    asgi_demo: Demo, monkeypatch: pytest.MonkeyPatch, containment: str
) -> None:
    """The containment lands after the login checked the account's status, before its session starts."""
    import accessguard.endpoints

    contain_after_call(monkeypatch, accessguard.endpoints, "is_suspended", containments(asgi_demo)[containment])
    client = asgi_demo.client()
    login = client.post("/login", json={"username": "dr.martin", "password": asgi_demo.accounts["dr.martin"].password})
    assert login.status_code == 401, login.text
    assert "set-cookie" not in login.headers
    assert_no_session(asgi_demo, client)
    assert asgi_demo.guard.store.revoke_sessions("dr.martin", "test") == 0  # no live session was left behind either


def test_a_login_without_a_race_still_works(asgi_demo: Demo) -> None:
    client = asgi_demo.login("dr.martin")
    assert client.get("/patients/pat-0001", headers=AT_CAEN).status_code == 200


def test_a_code_step_up_racing_a_suspension_gets_no_session(asgi_demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    """The suspension lands after the code was checked: the move to a new session id finds the session revoked."""
    client = asgi_demo.login("dr.martin", totp=False)
    contain_after_call(monkeypatch, asgi_demo.guard.store, "claim_totp_step", containments(asgi_demo)["suspend"])
    stepped_up = client.post("/accessguard/step-up/totp", json={"code": asgi_demo.code("dr.martin")})
    assert stepped_up.status_code == 401, stepped_up.text
    assert "set-cookie" not in stepped_up.headers
    assert_no_session(asgi_demo, client)


def test_an_enrolment_link_spent_while_the_account_is_suspended_opens_no_session(asgi_demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    """The suspension lands after the link was spent and its account checked, before the enrolment session starts."""
    url = link_url(asgi_demo, "dr.martin", "totp")
    ceremonies = asgi_demo.guard.ceremonies
    contain_after_call(monkeypatch, ceremonies, "_usable", containments(asgi_demo)["suspend"], call=2)  # 1: peek, 2: spent
    client = asgi_demo.client()
    redeemed = client.post("/accessguard/enroll/link", json={"token": link_token(url)})
    assert redeemed.status_code == 410, redeemed.text
    assert "set-cookie" not in redeemed.headers
    assert client.post("/accessguard/enroll/totp/begin", json={}).status_code == 401
    assert asgi_demo.guard.store.revoke_sessions("dr.martin", "test") == 0


def test_an_own_password_change_racing_a_reset_does_not_undo_it(asgi_demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reset lands while the old password is verified: before, the change overwrote it with a password the caller chose."""
    import accessguard.authn.password_change

    guard = asgi_demo.guard
    client = asgi_demo.session_client("dr.martin", ("pwd", "webauthn"))
    contain_after_call(monkeypatch, accessguard.authn.password_change, "verify_password", containments(asgi_demo)["reset-password"])
    changed = client.post(
        "/accessguard/password", json={"old_password": asgi_demo.accounts["dr.martin"].password, "new_password": NEW_PASSWORD}
    )
    assert changed.status_code == 409, changed.text
    assert changed.json()["reasons"] == ["password_changed_meanwhile"]
    account = guard.accounts.get("dr.martin")
    assert account is not None and account.password_reset
    assert asgi_demo.client().post("/login", json={"username": "dr.martin", "password": NEW_PASSWORD}).status_code == 401
