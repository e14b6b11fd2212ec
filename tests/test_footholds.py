"""Footholds (issue 12, items 1 and 2): the attacker's credentials replayed after each containment step,
through the real demo over HTTP and the real command line."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest

from accessguard.containment import PasswordNotReset, resume, suspend
from tests.authenticators import assertion, enrolled_key, key_session, link_token, reasons, redeem_link, set_new_password
from tests.conftest import CAEN, ENGLISH, Demo, _copy_demo
from tests.demo_process import ACCESSGUARD, demo_process

AT_CAEN = {"x-forwarded-for": CAEN, **ENGLISH}  # the demo speaks French by default
NEW_PASSWORD = "correct horse battery staple"


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ACCESSGUARD, *argv], capture_output=True, text=True, timeout=60)


def _secrets(data_dir: Path, username: str) -> tuple[str, pyotp.TOTP]:
    account = next(a for a in json.loads((data_dir / "demo-accounts.json").read_text()) if a["username"] == username)
    return account["password"], pyotp.TOTP(account["totp_secret"])


class Codes:
    """TOTP codes of one account, each from a later time step than the last (the guard never accepts an older or
    the same step again; ±1 step of skew): waits for the clock when it must."""

    def __init__(self) -> None:
        self.last: int | None = None

    def __call__(self, app: pyotp.TOTP) -> str:
        now = int(time.time()) // 30
        step = now if self.last is None or self.last < now else self.last + 1
        if step > now + 1:
            time.sleep((step - 1) * 30 - time.time() + 0.5)
        self.last = step
        return app.at(step * 30)


def _client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers=AT_CAEN)


def _logged_in(url: str, username: str, password: str) -> httpx.Client:
    client = _client(url)
    response = client.post("/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return client


def _login_status(url: str, username: str, password: str) -> int:
    return _client(url).post("/login", json={"username": username, "password": password}).status_code


def _token(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def _set_password_through_link(url: str, data_dir: Path, username: str) -> None:
    """The administrator resets the password; the professional opens the link (nothing spent) and sets a new one."""
    done = _cli("account", "reset-password", username, "--base-url", url, "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    link = done.stdout.splitlines()[-1]
    assert link.startswith(f"{url}/accessguard/password/reset?token=")
    for _ in range(2):  # a link preview spends nothing
        page = _client(url).get(link.removeprefix(url))
        assert page.status_code == 200 and f"lets <strong>{username}</strong> set a new password" in page.text
    short = _client(url).post("/accessguard/password/reset", json={"token": _token(link), "password": "short"})
    assert short.status_code == 400  # refused before the link is spent
    assert _client(url).post("/accessguard/password/reset", json={"token": _token(link), "password": NEW_PASSWORD}).status_code == 200
    again = _client(url).post("/accessguard/password/reset", json={"token": _token(link), "password": NEW_PASSWORD + "!"})
    assert again.status_code == 410 and reasons(again) == ["password_link_invalid"]


@pytest.mark.slow
def test_a_relayed_code_sets_up_nothing_and_containment_removes_every_foothold(demo_template: Path, tmp_path: Path) -> None:
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    password, victims_app = _secrets(data_dir, "inf.dubois")
    codes = Codes()
    with demo_process(data_dir, tmp_path / "demo.log") as (url, _):
        # item 1: password + one relayed code (a phishing proxy's session) adds no factor and gets no recovery codes
        relayed = _logged_in(url, "inf.dubois", password)
        assert relayed.post("/accessguard/step-up/totp", json={"code": codes(victims_app)}).status_code == 200
        assert reasons(relayed.post("/accessguard/enroll/totp/begin", json={})) == ["enrolment_not_allowed"]
        assert reasons(relayed.post("/accessguard/enroll/webauthn/begin", json={})) == ["enrolment_not_allowed"]
        assert reasons(relayed.post("/accessguard/recovery-codes", json={})) == ["enrolment_not_allowed"]

        # a foothold gained anyway: an enrolment link talked out of the help desk after the compromise began
        compromise = int(time.time())
        time.sleep(1.1)  # enrolment times are whole seconds
        issued = _cli("admin", "enroll-link", "inf.dubois", "--kind", "totp", "--base-url", url, "--data-dir", str(data_dir))
        assert issued.returncode == 0, issued.stderr
        linked = _client(url)
        assert linked.post("/accessguard/enroll/link", json={"token": _token(issued.stdout.splitlines()[-1])}).status_code == 200
        attackers_app = pyotp.TOTP(linked.post("/accessguard/enroll/totp/begin", json={}).json()["secret"])
        confirmed = linked.post("/accessguard/enroll/totp/confirm", json={"code": codes(attackers_app)})
        assert confirmed.status_code == 200, confirmed.text
        recovery_codes = confirmed.json()["recovery_codes"]
        foothold = _logged_in(url, "inf.dubois", password)
        assert foothold.post("/accessguard/step-up/recovery", json={"code": recovery_codes[0]}).status_code == 200
        assert foothold.get("/patients/pat-0001").status_code == 200
        # the professional's next login says an authenticator app and recovery codes were added
        notices = _client(url).post("/login", json={"username": "inf.dubois", "password": password}).json()["notices"]
        assert sorted(n["kind"] for n in notices) == ["recovery_codes", "totp"]
        assert all("not you?" in n["message"] for n in notices)

        contained = _cli("admin", "contain", "--enrolled-after", str(compromise), "--data-dir", str(data_dir))
        assert contained.returncode == 0, contained.stderr
        assert "inf.dubois: recovery codes issued after that time revoked (9 unused)" in contained.stdout
        assert "Passwords taken away (they may have been phished): inf.dubois." in contained.stdout
        # replay every credential the attacker holds
        assert foothold.get("/patients/pat-0002").status_code == 401  # the old session cookie
        assert _login_status(url, "inf.dubois", password) == 401  # the phished password

        _set_password_through_link(url, data_dir, "inf.dubois")
        assert _login_status(url, "inf.dubois", password) == 401
        # even with the new password, the attacker's other credentials are dead
        worst_case = _logged_in(url, "inf.dubois", NEW_PASSWORD)
        assert reasons(worst_case.post("/accessguard/step-up/recovery", json={"code": recovery_codes[1]})) == ["invalid_code"]
        held = worst_case.post("/accessguard/step-up/totp", json={"code": codes(attackers_app)})
        assert (held.status_code, reasons(held)) == (403, ["authenticator_contained"])  # a code holder cannot re-verify it
        assert worst_case.get("/patients/pat-0002").json()["reasons"] == ["mfa_required"]
        # the professional, with the new password and the app from before the compromise, works again
        assert worst_case.post("/accessguard/step-up/totp", json={"code": codes(victims_app)}).status_code == 200
        assert worst_case.get("/patients/pat-0002").status_code == 200


@pytest.mark.slow
def test_suspension_with_revocation_then_resume_leaves_no_credential(demo_template: Path, tmp_path: Path) -> None:
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    password, app = _secrets(data_dir, "inf.leroy")
    codes = Codes()
    with demo_process(data_dir, tmp_path / "demo.log") as (url, _):
        issued = _cli("admin", "enroll-link", "inf.leroy", "--kind", "totp", "--base-url", url, "--data-dir", str(data_dir))
        linked = _client(url)
        assert linked.post("/accessguard/enroll/link", json={"token": _token(issued.stdout.splitlines()[-1])}).status_code == 200
        second_app = pyotp.TOTP(linked.post("/accessguard/enroll/totp/begin", json={}).json()["secret"])
        recovery_codes = linked.post("/accessguard/enroll/totp/confirm", json={"code": codes(second_app)}).json()["recovery_codes"]
        attacker = _logged_in(url, "inf.leroy", password)  # phished: the password, a recovery code, the seed
        assert attacker.post("/accessguard/step-up/recovery", json={"code": recovery_codes[0]}).status_code == 200
        assert attacker.get("/patients/pat-0001").status_code == 200

        argv = ("--data-dir", str(data_dir))
        suspended = _cli("account", "suspend", "inf.leroy", "--reason", "phished", "--revoke-authenticators", *argv)
        assert suspended.returncode == 0, suspended.stderr
        assert "2 authenticators revoked, 9 recovery codes revoked, password reset" in suspended.stdout
        assert attacker.get("/patients/pat-0002").json()["reasons"] == ["account_suspended"]
        assert _login_status(url, "inf.leroy", password) == 401  # the password no longer even reveals the suspension

        refused = _cli("account", "resume", "inf.leroy", *argv)
        assert refused.returncode == 1 and "password was reset after a compromise" in refused.stderr
        assert "--keep-password" in refused.stderr
        _set_password_through_link(url, data_dir, "inf.leroy")  # works while suspended, so that the account can come back
        assert _cli("account", "resume", "inf.leroy", *argv).returncode == 0

        assert attacker.get("/patients/pat-0002").status_code == 401  # the old session cookie
        assert _login_status(url, "inf.leroy", password) == 401  # the phished password
        worst_case = _logged_in(url, "inf.leroy", NEW_PASSWORD)
        for code in recovery_codes[1:3]:
            assert reasons(worst_case.post("/accessguard/step-up/recovery", json={"code": code})) == ["invalid_code"]
        for seed in (app, second_app):
            assert reasons(worst_case.post("/accessguard/step-up/totp", json={"code": codes(seed)})) == ["invalid_code"]
        assert worst_case.get("/patients/pat-0002").json()["reasons"] == ["mfa_required"]


def test_resume_gives_a_phished_password_back_only_when_told(asgi_demo: Demo) -> None:
    guard = asgi_demo.guard
    password = asgi_demo.accounts["dr.martin"].password
    done = suspend(
        guard.accounts,
        guard.authenticators,
        guard.store,
        guard.access_log,
        "dr.martin",
        "phished",
        operator="soc",
        revoke_authenticators=True,
    )
    assert done.password_reset and done.authenticators_revoked == 1
    with pytest.raises(PasswordNotReset):
        resume(guard.accounts, guard.store, guard.access_log, "dr.martin", operator="soc")
    assert resume(guard.accounts, guard.store, guard.access_log, "dr.martin", operator="soc", keep_password=True) == 0
    assert asgi_demo.client().post("/login", json={"username": "dr.martin", "password": password}).status_code == 200


def test_suspension_without_revocation_keeps_the_password(asgi_demo: Demo) -> None:
    guard = asgi_demo.guard
    suspend(guard.accounts, guard.authenticators, guard.store, guard.access_log, "dr.martin", "lost badge", operator="soc")
    resume(guard.accounts, guard.store, guard.access_log, "dr.martin", operator="soc")
    assert asgi_demo.login("dr.martin").get("/patients/pat-0001", headers=AT_CAEN).status_code == 200


def test_own_password_change_needs_a_security_key_and_ends_every_session(asgi_demo: Demo) -> None:
    old = asgi_demo.accounts["dr.martin"].password
    change = {"old_password": old, "new_password": NEW_PASSWORD}
    relayed = asgi_demo.login("dr.martin")
    refused = relayed.post("/accessguard/password", json=change)
    assert (refused.status_code, reasons(refused)) == (403, ["phishing_resistant_required"])
    client = key_session(asgi_demo, "dr.martin", enrolled_key(asgi_demo, "dr.martin"))
    wrong = client.post("/accessguard/password", json={**change, "old_password": old + "x"})
    assert (wrong.status_code, reasons(wrong)) == (403, ["invalid_credentials"])
    assert client.post("/accessguard/password", json={**change, "new_password": "too short"}).status_code == 400
    assert client.post("/accessguard/password", json={"old_password": old}).status_code == 400
    changed = client.post("/accessguard/password", json=change)
    assert changed.status_code == 200 and changed.json()["sessions_ended"] is True
    assert relayed.get("/patients/pat-0001", headers=AT_CAEN).status_code == 401
    assert asgi_demo.client().post("/login", json={"username": "dr.martin", "password": old}).status_code == 401
    assert asgi_demo.client().post("/login", json={"username": "dr.martin", "password": NEW_PASSWORD}).status_code == 200


def test_additions_are_shown_at_login_and_on_the_step_up_page(asgi_demo: Demo) -> None:
    pro = asgi_demo.accounts["inf.dubois"]
    quiet = asgi_demo.client().post("/login", json={"username": pro.username, "password": pro.password})
    assert "notices" not in quiet.json()  # the demo's own app came from its set-up script, not through the guard
    asgi_demo.clock.now = max(a.created for a in asgi_demo.guard.authenticators.of_account("inf.dubois")) + 3600
    key = enrolled_key(asgi_demo, "inf.dubois")
    client = asgi_demo.client()
    notices = client.post("/login", json={"username": pro.username, "password": pro.password}).json()["notices"]
    assert sorted(n["kind"] for n in notices) == ["recovery_codes", "webauthn"]
    page = client.get("/accessguard/step-up", headers={"accept": "text/html"}).text
    assert "A new security key (“security key”) was added on" in page and "not you? Tell your administrator" in page
    assert assertion(client, key).status_code == 200
    asgi_demo.clock.advance(8 * 24 * 3600)
    later = asgi_demo.client().post("/login", json={"username": pro.username, "password": pro.password})
    assert "notices" not in later.json()


def _account_events(demo: Demo, event: str) -> list[tuple[str, dict[str, object]]]:
    demo.guard.access_log.flush()
    with sqlite3.connect(demo.guard.access_log.log_location) as db:  # type: ignore[arg-type]  # the demo: audit.db
        rows = db.execute("SELECT subject, detail FROM entries WHERE kind = 'event'").fetchall()
    return [(subject, d) for subject, detail in rows if (d := json.loads(detail)).get("event") == event]


def test_links_handed_out_before_a_suspension_open_nothing_after_the_resume(asgi_demo: Demo) -> None:
    """A link an attacker talked out of the helpdesk ("I reported my key lost") must not outlive the containment."""
    admin = key_session(asgi_demo, "admin", enrolled_key(asgi_demo, "admin"))
    enrol = admin.post("/accessguard/admin/enrolment-link", json={"account": "inf.leroy", "kind": "webauthn", "ttl_minutes": 10080})
    password = admin.post("/accessguard/admin/reset-password", json={"account": "inf.leroy"})
    assert enrol.status_code == password.status_code == 200
    contained = {"account": "inf.leroy", "reason": "links given on the phone to an impostor", "revoke_authenticators": True}
    assert admin.post("/accessguard/admin/suspend", json=contained).status_code == 200
    set_new_password(asgi_demo, "inf.leroy")  # a link issued during the suspension, handed over in person
    assert admin.post("/accessguard/admin/resume", json={"account": "inf.leroy"}).status_code == 200
    impostor = asgi_demo.client()
    refused = redeem_link(impostor, enrol.json()["link"])
    assert (refused.status_code, reasons(refused)) == (410, ["enrolment_link_invalid"])
    reset = impostor.post("/accessguard/password/reset", json={"token": link_token(password.json()["link"]), "password": NEW_PASSWORD})
    assert reset.status_code == 410 and "password link is invalid, expired or already used" in reset.json()["detail"]
    asgi_demo.login("inf.leroy", totp=False)  # the owner's new password works; their new factors come through new links
    [(_, suspended)] = _account_events(asgi_demo, "account_suspended")
    assert suspended["links_expired"] == 2
