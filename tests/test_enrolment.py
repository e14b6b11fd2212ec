"""Enrolment that resists takeover: fresh-enough factors, one-time links, containment."""

from __future__ import annotations

import logging

import pyotp
import pytest

from tests.authenticators import (
    ORIGIN,
    assertion,
    enrolled_key,
    key_session,
    link_token,
    link_url,
    open_link,
    reasons,
    redeem_link,
    register,
    set_new_password,
)
from tests.conftest import Demo
from tests.softkey import SoftKey


def test_relayed_password_and_totp_cannot_add_a_security_key(demo: Demo) -> None:
    phished = demo.login("dr.martin")  # what a real-time phishing proxy holds
    response = phished.post("/accessguard/enroll/webauthn/begin", json={})
    assert response.status_code == 403
    assert reasons(response) == ["enrolment_not_allowed"]
    assert "security key" in response.json()["detail"]


def test_relayed_password_and_code_cannot_add_an_app_or_get_recovery_codes(demo: Demo) -> None:
    """The replay of September 2025: a relayed TOTP code (or recovery code) set up no lasting access."""
    phished = demo.login("dr.martin")
    assert reasons(phished.post("/accessguard/enroll/totp/begin", json={})) == ["enrolment_not_allowed"]
    assert reasons(phished.post("/accessguard/enroll/totp/confirm", json={"code": "123456"})) == ["enrolment_not_allowed"]
    refused = phished.post("/accessguard/recovery-codes", json={})
    assert (refused.status_code, reasons(refused)) == (403, ["enrolment_not_allowed"])
    assert "security key" in refused.json()["detail"]
    enrolled_key(demo, "dr.martin")  # the professional's own key and codes, through an administrator's link
    assert reasons(phished.post("/accessguard/enroll/totp/begin", json={})) == ["enrolment_not_allowed"]
    assert reasons(phished.post("/accessguard/recovery-codes", json={})) == ["enrolment_not_allowed"]
    assert len(demo.guard.authenticators.of_account("dr.martin", "totp", ("pending", "active"))) == 1  # the demo's own app only


def test_password_alone_cannot_add_anything(asgi_demo: Demo) -> None:
    client = asgi_demo.login("dr.martin", totp=False)
    for kind in ("totp", "webauthn"):
        assert reasons(client.post(f"/accessguard/enroll/{kind}/begin", json={})) == ["enrolment_not_allowed"]


def test_key_older_than_15_minutes_does_not_count(asgi_demo: Demo) -> None:
    client = key_session(asgi_demo, "dr.martin", enrolled_key(asgi_demo, "dr.martin"))
    assert client.post("/accessguard/enroll/totp/begin", json={}).status_code == 200
    asgi_demo.clock.advance(15 * 60 + 1)
    for refused in (client.post("/accessguard/enroll/totp/begin", json={}), client.post("/accessguard/recovery-codes", json={})):
        assert reasons(refused) == ["enrolment_not_allowed"]


def test_key_without_user_verification_cannot_add_a_key(asgi_demo: Demo) -> None:
    key = enrolled_key(asgi_demo, "dr.martin")
    client = asgi_demo.login("dr.martin", totp=False)
    assert assertion(client, key, uv=False).status_code == 200
    for kind in ("webauthn", "totp"):  # without user verification a stolen key proves possession only
        assert reasons(client.post(f"/accessguard/enroll/{kind}/begin", json={})) == ["enrolment_not_allowed"]


def test_key_with_user_verification_can_add_a_key(asgi_demo: Demo) -> None:
    key = enrolled_key(asgi_demo, "dr.martin")
    client = key_session(asgi_demo, "dr.martin", key)
    response = register(client, SoftKey())
    assert response.status_code == 200
    assert response.json()["authenticator"]["enrolled_via"] == "session:webauthn"


def test_link_session_grants_no_patient_access_and_enrols_once(demo: Demo) -> None:
    client = open_link(demo, "dr.martin")
    response = client.get("/patients/pat-0001")
    assert response.status_code == 401
    assert reasons(response) == ["authentication_required"]
    assert reasons(client.post("/accessguard/step-up/totp", json={"code": demo.code("dr.martin")})) == ["enrolment_only_session"]
    assert reasons(client.post("/accessguard/enroll/totp/begin", json={})) == ["enrolment_not_allowed"]  # a key link
    first = register(client, SoftKey())
    assert first.status_code == 200
    assert first.json()["session_ended"] is True
    assert first.json()["authenticator"]["enrolled_via"] == "link"
    assert client.post("/accessguard/enroll/webauthn/begin", json={}).status_code == 401


def test_opening_a_link_spends_nothing_and_its_button_works_once(asgi_demo: Demo) -> None:
    """Link previews and mail scanners fetch the link; only the confirmation page's POST spends it."""
    url = link_url(asgi_demo, "dr.martin")
    for _ in range(3):
        opened = asgi_demo.client().get(url.removeprefix(ORIGIN), follow_redirects=False)
        assert opened.status_code == 200
        assert "set-cookie" not in opened.headers
        assert f'name="token" value="{link_token(url)}"' in opened.text
    client = asgi_demo.client()
    first = redeem_link(client, url)
    assert first.status_code == 200
    assert client.post("/accessguard/enroll/webauthn/begin", json={}).status_code == 200  # the enrolment-only session
    second = redeem_link(asgi_demo.client(), url)
    assert second.status_code == 410
    assert reasons(second) == ["enrolment_link_invalid"]
    assert "set-cookie" not in second.headers
    assert asgi_demo.client().get(url.removeprefix(ORIGIN), follow_redirects=False).status_code == 410


def test_link_works_once_and_expires(asgi_demo: Demo) -> None:
    url = link_url(asgi_demo, "dr.martin", ttl_s=600)
    assert redeem_link(asgi_demo.client(), url).status_code == 200
    again = asgi_demo.client().get(url.removeprefix(ORIGIN), follow_redirects=False)
    assert again.status_code == 410
    assert "already used" in again.text
    expiring = link_url(asgi_demo, "dr.martin", ttl_s=600)
    asgi_demo.clock.advance(601)
    assert asgi_demo.client().get(expiring.removeprefix(ORIGIN), follow_redirects=False).status_code == 410
    assert redeem_link(asgi_demo.client(), expiring).status_code == 410
    assert asgi_demo.client().get("/accessguard/enroll?token=guessed-token-value", follow_redirects=False).status_code == 410
    guessed = asgi_demo.client().post("/accessguard/enroll/link", json={"token": "guessed-token-value"})
    assert (guessed.status_code, reasons(guessed)) == (410, ["enrolment_link_invalid"])


def test_link_for_a_suspended_account_opens_nothing(asgi_demo: Demo) -> None:
    url = link_url(asgi_demo, "dr.martin")
    asgi_demo.guard.accounts.set_status("dr.martin", "suspended")
    assert asgi_demo.client().get(url.removeprefix(ORIGIN), follow_redirects=False).status_code == 410
    assert redeem_link(asgi_demo.client(), url).status_code == 410
    asgi_demo.guard.accounts.set_status("dr.martin", "active")
    assert redeem_link(asgi_demo.client(), url).status_code == 200  # refused while suspended, not spent


def test_totp_link_enrols_an_app(asgi_demo: Demo) -> None:
    client = open_link(asgi_demo, "inf.dubois", "totp")
    assert reasons(client.post("/accessguard/enroll/webauthn/begin", json={})) == ["enrolment_not_allowed"]
    setup = client.post("/accessguard/enroll/totp/begin", json={}).json()
    confirmed = client.post("/accessguard/enroll/totp/confirm", json={"code": pyotp.TOTP(setup["secret"]).at(asgi_demo.clock.now)})
    assert confirmed.status_code == 200
    assert confirmed.json()["session_ended"] is True


def test_every_enrolment_raises_an_alert(asgi_demo: Demo, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="accessguard.alerts"):
        enrolled_key(asgi_demo, "dr.martin")
    events = [r.alert for r in caplog.records if hasattr(r, "alert")]  # type: ignore[attr-defined]
    assert [e["event"] for e in events] == [
        "enrolment_link_issued",
        "enrolment_link_redeemed",
        "authenticator_enrolled",
        "recovery_codes_issued",
    ]
    assert events[2]["account"] == "dr.martin" and events[2]["authenticator_kind"] == "webauthn" and events[2]["via"] == "link"


def _after_demo_seeds(demo: Demo) -> None:
    """Move the clock past the demo's own TOTP seeds, which were made at the real time."""
    demo.clock.now = max(a.created for a in demo.guard.authenticators.of_account("dr.martin")) + 3600


def _contain(demo: Demo, after: float) -> list[str]:
    """Contain, then let the professional set a new password (containment took the old one away)."""
    from accessguard.admin.actions import contain

    done = contain(demo.guard.accounts, demo.guard.authenticators, demo.guard.store, after, by="test")
    for account in done.passwords_reset:
        assert demo.client().post("/login", json={"username": account, "password": demo.accounts[account].password}).status_code == 401
        set_new_password(demo, account)
    return [a.id for a in done.authenticators]


def test_containment_holds_back_later_enrolments_until_reverified(asgi_demo: Demo) -> None:
    _after_demo_seeds(asgi_demo)
    compromise = asgi_demo.clock.now
    asgi_demo.clock.advance(60)
    thiefs_key = enrolled_key(asgi_demo, "dr.martin")
    live = key_session(asgi_demo, "dr.martin", thiefs_key)
    [contained] = _contain(asgi_demo, compromise)
    assert live.get("/patients/pat-0001").status_code == 401  # the sessions of contained accounts end
    client = asgi_demo.login("dr.martin", totp=False)
    held = assertion(client, thiefs_key)
    assert held.status_code == 403
    assert reasons(held) == ["authenticator_contained"]
    # the professional proves it is theirs from a session that passed an older key: with only a TOTP app from before
    # the compromise, that takes an administrator's link
    assert client.post("/accessguard/step-up/totp", json={"code": asgi_demo.code("dr.martin")}).status_code == 200
    assert reasons(assertion(client, thiefs_key)) == ["authenticator_contained"]
    assert asgi_demo.guard.authenticators.get(contained).state == "contained"  # type: ignore[union-attr]


def test_contained_totp_is_reverified_only_after_an_older_key(asgi_demo: Demo) -> None:
    _after_demo_seeds(asgi_demo)
    older_key = enrolled_key(asgi_demo, "dr.martin")
    asgi_demo.clock.advance(60)
    compromise = asgi_demo.clock.now
    asgi_demo.clock.advance(60)
    client = open_link(asgi_demo, "dr.martin", "totp")  # a link talked out of the help desk
    setup = client.post("/accessguard/enroll/totp/begin", json={}).json()
    new_app = pyotp.TOTP(setup["secret"])
    assert client.post("/accessguard/enroll/totp/confirm", json={"code": new_app.at(asgi_demo.clock.now)}).status_code == 200
    [contained] = _contain(asgi_demo, compromise)
    asgi_demo.clock.advance(30)
    client = asgi_demo.login("dr.martin", totp=False)
    assert reasons(client.post("/accessguard/step-up/totp", json={"code": new_app.at(asgi_demo.clock.now)})) == ["authenticator_contained"]
    asgi_demo.clock.advance(30)
    assert client.post("/accessguard/step-up/totp", json={"code": asgi_demo.code("dr.martin")}).status_code == 200  # older app
    asgi_demo.clock.advance(30)
    # the holder of a code (the older app's, or the new one's) cannot re-verify it
    assert reasons(client.post("/accessguard/step-up/totp", json={"code": new_app.at(asgi_demo.clock.now)})) == ["authenticator_contained"]
    assert assertion(client, older_key).status_code == 200
    asgi_demo.clock.advance(30)
    assert client.post("/accessguard/step-up/totp", json={"code": new_app.at(asgi_demo.clock.now)}).status_code == 200
    assert asgi_demo.guard.authenticators.get(contained).state == "active"  # type: ignore[union-attr]


def test_containment_leaves_earlier_enrolments_alone(asgi_demo: Demo) -> None:
    _after_demo_seeds(asgi_demo)
    key = enrolled_key(asgi_demo, "dr.martin")
    asgi_demo.clock.advance(60)
    assert _contain(asgi_demo, asgi_demo.clock.now) == []
    assert key_session(asgi_demo, "dr.martin", key).get("/patients/pat-0001").status_code == 200


def test_contained_key_is_reverified_after_an_older_key(asgi_demo: Demo) -> None:
    _after_demo_seeds(asgi_demo)
    older = enrolled_key(asgi_demo, "dr.martin")
    asgi_demo.clock.advance(3600)
    compromise = asgi_demo.clock.now
    asgi_demo.clock.advance(60)
    client = key_session(asgi_demo, "dr.martin", older)
    newer = SoftKey()
    assert register(client, newer).status_code == 200
    assert len(_contain(asgi_demo, compromise)) == 1
    client = asgi_demo.login("dr.martin", totp=False)
    assert reasons(assertion(client, newer)) == ["authenticator_contained"]
    assert assertion(client, older).status_code == 200
    reverified = assertion(client, newer)
    assert reverified.status_code == 200
    assert reverified.json()["phishing_resistant"] is True
