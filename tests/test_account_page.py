"""A professional's own page through the real middleware: sign-ins recorded with their place, revocation only after a
security key (a phished password-and-code session cannot strip the key), "not you?", reporting a lost authenticator."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from typing import Any

import httpx
import pytest

from tests.authenticators import enrolled_key, key_session, reasons
from tests.conftest import CAEN, Demo

HTML = {"accept": "text/html"}
ACTIONS = {
    "/accessguard/account/revoke": {"authenticator": "x"},
    "/accessguard/account/report-lost": {"authenticator": "x"},
    "/accessguard/account/not-me": {"sign_in": 1},
}


def _events(demo: Demo, event: str) -> list[tuple[str, dict[str, Any]]]:
    """(subject, detail) of the access log's events named ``event``."""
    demo.guard.access_log.flush()
    with closing(sqlite3.connect(demo.guard.access_log.log_location)) as db:  # type: ignore[arg-type]  # the demo: audit.db
        rows = db.execute("SELECT seq, subject, detail FROM entries WHERE kind = 'event'").fetchall()
    return [(subject, {**d, "seq": seq}) for seq, subject, detail in rows if (d := json.loads(detail)).get("event") == event]


def _from_caen(demo: Demo, username: str) -> httpx.Client:
    """Password then authenticator-app code, both from Caen: what a real-time phishing proxy can relay."""
    client = demo.client()
    client.headers["x-forwarded-for"] = CAEN
    pro = demo.accounts[username]
    assert client.post("/login", json={"username": pro.username, "password": pro.password}).status_code == 200
    assert client.post("/accessguard/step-up/totp", json={"code": demo.code(username)}).status_code == 200
    demo.clock.advance(30)
    return client


def _app_id(demo: Demo, username: str) -> str:
    return demo.guard.authenticators.of_account(username, "totp", ("active",))[0].id


def test_the_page_lists_authenticators_and_sign_ins_with_their_place(asgi_demo: Demo) -> None:
    assert (
        asgi_demo.client().get("/accessguard/account", headers=HTML, follow_redirects=False).headers["location"].startswith("/login?next=")
    )
    nurse = _from_caen(asgi_demo, "inf.dubois")
    signed = [(s, d["factor"], d["place"], d["ip"]) for s, d in _events(asgi_demo, "signed_in")]
    assert signed == [("inf.dubois", "pwd", "Caen, FR", CAEN), ("inf.dubois", "otp", "Caen, FR", CAEN)]
    page = nurse.get("/accessguard/account", headers=HTML)
    assert page.status_code == 200
    assert "<td>authenticator app</td>" in page.text and "demo authenticator app" in page.text
    assert page.text.count('aria-label="Not you: the sign-in with') == 2 and "Caen, FR" in page.text
    assert "Confirm with your security key" in page.text  # no key verified lately: revoking needs one, the page says how
    assert 'aria-label="Revoke your authenticator app “demo authenticator app”' in page.text


def test_a_phished_password_and_code_session_cannot_revoke_a_security_key(asgi_demo: Demo) -> None:
    key = enrolled_key(asgi_demo, "dr.martin")
    [held] = asgi_demo.guard.authenticators.of_account("dr.martin", "webauthn", ("active",))
    phished = _from_caen(asgi_demo, "dr.martin")  # password and code relayed by a proxy
    for authenticator in (held.id, _app_id(asgi_demo, "dr.martin")):
        refused = phished.post("/accessguard/account/revoke", json={"authenticator": authenticator})
        assert (refused.status_code, reasons(refused)) == (403, ["phishing_resistant_required"])
    assert asgi_demo.guard.authenticators.of_account("dr.martin", "webauthn", ("active",)) == [held]
    owner = key_session(asgi_demo, "dr.martin", key)
    other = owner.post("/accessguard/account/revoke", json={"account": "inf.dubois", "authenticator": _app_id(asgi_demo, "inf.dubois")})
    assert (other.status_code, reasons(other)) == (403, ["own_account_only"])
    app = _app_id(asgi_demo, "dr.martin")
    done = owner.post("/accessguard/account/revoke", json={"account": "dr.martin", "authenticator": app})
    assert done.status_code == 200 and done.json()["revoked"] == [app]
    assert not asgi_demo.guard.authenticators.of_account("dr.martin", "totp", ("active",))
    again = owner.post("/accessguard/account/revoke", json={"authenticator": app})
    assert (again.status_code, reasons(again)) == (404, ["unknown_authenticator"])
    [(_, revoked)] = _events(asgi_demo, "authenticator_revoked")[-1:]
    assert (revoked["authenticator"], revoked["by"]) == (app, "dr.martin")
    assert "until" in owner.get("/accessguard/account", headers=HTML).text  # the page says the key was verified lately


def test_not_you_ends_every_session_alerts_and_suspends_nothing(asgi_demo: Demo) -> None:
    stranger = _from_caen(asgi_demo, "inf.dubois")
    owner = asgi_demo.login("inf.dubois")
    [first, *_] = _events(asgi_demo, "signed_in")
    assert stranger.get("/patients/pat-0001").status_code == 200
    done = owner.post("/accessguard/account/not-me", json={"sign_in": str(first[1]["seq"])})
    assert done.status_code == 200, done.text
    assert "Log in again and change your password" in done.json()["message"]
    assert done.json()["sessions_ended"] == 2
    assert stranger.get("/patients/pat-0001").status_code in (401, 403)
    [(subject, disowned)] = _events(asgi_demo, "sign_in_disowned")
    assert (subject, disowned["place"], disowned["factor"], disowned["sessions_revoked"]) == ("inf.dubois", "Caen, FR", "pwd", 2)
    with closing(sqlite3.connect(asgi_demo.guard.access_log.log_location)) as db:  # type: ignore[arg-type]
        alerts = [json.loads(p) for (p,) in db.execute("SELECT payload FROM alerts")]
    assert any("sign_in_disowned" in a["reasons"] and a["subject"] == "inf.dubois" for a in alerts)
    assert asgi_demo.login("inf.dubois").get("/patients/pat-0001", headers={"x-forwarded-for": CAEN}).status_code == 200


def test_not_you_names_only_the_professionals_own_sign_ins(asgi_demo: Demo) -> None:
    _from_caen(asgi_demo, "dr.martin")
    [(_, theirs), *_] = _events(asgi_demo, "signed_in")
    nurse = asgi_demo.login("inf.dubois")
    refusals = (({"sign_in": theirs["seq"]}, 404), ({"sign_in": 10**9}, 404), ({"sign_in": "first"}, 400), ({"sign_in": True}, 400))
    for body, status in refusals:
        assert nurse.post("/accessguard/account/not-me", json=body).status_code == status, body
    assert asgi_demo.client().post("/accessguard/account/not-me", json={"sign_in": theirs["seq"]}).status_code == 401
    assert not _events(asgi_demo, "sign_in_disowned")


def test_a_lost_authenticator_is_reported_to_the_administrators_from_any_session(asgi_demo: Demo) -> None:
    nurse = asgi_demo.login("inf.dubois")
    app = _app_id(asgi_demo, "inf.dubois")
    reported = nurse.post("/accessguard/account/report-lost", json={"authenticator": app})
    assert reported.status_code == 200 and "administrators are told" in reported.json()["message"]
    [(subject, detail)] = _events(asgi_demo, "authenticator_reported_lost")
    assert (subject, detail["authenticator"]) == ("inf.dubois", app)
    assert asgi_demo.guard.authenticators.of_account("inf.dubois", "totp", ("active",))  # reporting revokes nothing
    foreign = nurse.post("/accessguard/account/report-lost", json={"authenticator": _app_id(asgi_demo, "dr.martin")})
    assert (foreign.status_code, reasons(foreign)) == (404, ["unknown_authenticator"])


def test_the_login_tells_of_an_authenticator_added_lately(asgi_demo: Demo) -> None:
    enrolled_key(asgi_demo, "sec.moreau")
    pro = asgi_demo.accounts["sec.moreau"]
    login = asgi_demo.client().post("/login", json={"username": pro.username, "password": pro.password})
    assert "not you?" in login.json()["notices"][0]["message"]


@pytest.mark.parametrize("path", sorted(ACTIONS))
def test_own_account_actions_refuse_cross_site_posts(asgi_demo: Demo, path: str) -> None:
    nurse = asgi_demo.login("inf.dubois")
    response = nurse.post(path, json=ACTIONS[path], headers={"origin": "https://evil.example"})
    assert (response.status_code, reasons(response)) == (403, ["cross_site_request"])


def test_a_phished_session_repeating_what_any_session_may_do_alerts_once_per_window(asgi_demo: Demo) -> None:
    """ "Report lost", "ask for an enrolment link" and "Not you?" need no security key: repeated, they are counted, not sent each time."""
    phished = _from_caen(asgi_demo, "inf.dubois")
    app = _app_id(asgi_demo, "inf.dubois")
    for _ in range(30):
        assert phished.post("/accessguard/account/report-lost", json={"authenticator": app}).status_code == 200
        assert phished.post("/accessguard/enroll/request", json={"kind": "webauthn"}).status_code == 200
    [(_, first), *_] = _events(asgi_demo, "signed_in")
    for _ in range(10):  # each "Not you?" ends the session: the password alone logs in again
        again = asgi_demo.login("inf.dubois", totp=False)
        assert again.post("/accessguard/account/not-me", json={"sign_in": first["seq"]}).status_code == 200
    asgi_demo.guard.access_log.flush()
    with closing(sqlite3.connect(asgi_demo.guard.access_log.log_location)) as db:  # type: ignore[arg-type]
        queued = [
            r
            for (p,) in db.execute("SELECT payload FROM alerts")
            for r in json.loads(p)["reasons"]
            if json.loads(p)["subject"] == "inf.dubois"
        ]
        counted = dict(db.execute("SELECT reason, sum(count) FROM alert_windows WHERE account = 'inf.dubois' GROUP BY reason").fetchall())
    flooded = {"authenticator_reported_lost": 30, "enrolment_link_requested": 30, "sign_in_disowned": 10}
    assert {reason: queued.count(reason) for reason in flooded} == dict.fromkeys(flooded, 1)  # the administrators hear once...
    assert {reason: counted[reason] for reason in flooded} == flooded  # ...and the window's summary will say how often
