"""``accessguard admin``: listing, revocation, enrolment links and containment on a demo data directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from accessguard.cli import main
from tests.authenticators import ORIGIN, assertion, enrolled_key, key_session, reasons, redeem_link, set_new_password
from tests.conftest import Demo


def _admin(demo: Demo, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["admin", *args, "--data-dir", str(demo.guard.settings.data_dir)])
    out, err = capsys.readouterr()
    return code, out, err


def test_users_list_is_a_table(asgi_demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    enrolled_key(asgi_demo, "dr.martin")
    code, out, _ = _admin(asgi_demo, capsys, "users", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["USER", "KIND", "ROLES", "ORGANISATION", "STATUS", "AUTHENTICATORS"]
    martin = next(line for line in lines if line.startswith("dr.martin "))
    assert martin.split()[1:5] == ["professional", "doctor", "chu-caen", "active"]
    assert martin.endswith("1 totp, 1 webauthn")
    assert len(lines) == 1 + 7


def test_authenticators_list_and_revoke_one(asgi_demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    enrolled_key(asgi_demo, "dr.martin")
    code, out, _ = _admin(asgi_demo, capsys, "authenticators", "list", "dr.martin")
    assert code == 0
    rows = [line.split() for line in out.splitlines()[1:]]
    assert sorted(r[1] for r in rows) == ["totp", "webauthn"]
    key_id = next(r[0] for r in rows if r[1] == "webauthn")
    before = asgi_demo.login("dr.martin", totp=False)
    code, out, _ = _admin(asgi_demo, capsys, "authenticators", "revoke", "dr.martin", key_id)
    assert code == 0
    assert "revoked 1 authenticator(s)" in out and "ended 1 session(s) of dr.martin" in out
    assert reasons(before.post("/accessguard/step-up/webauthn/begin", json={})) == ["authentication_required"]
    client = asgi_demo.login("dr.martin", totp=False)
    assert reasons(client.post("/accessguard/step-up/webauthn/begin", json={})) == ["authenticator_unknown"]
    assert client.post("/accessguard/step-up/totp", json={"code": asgi_demo.code("dr.martin")}).status_code == 200
    code, _, err = _admin(asgi_demo, capsys, "authenticators", "revoke", "dr.martin", key_id)
    assert code == 1
    assert "no live authenticator" in err


def test_revoke_all(asgi_demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    enrolled_key(asgi_demo, "dr.martin")
    code, out, _ = _admin(asgi_demo, capsys, "authenticators", "revoke", "dr.martin", "--all")
    assert code == 0
    assert "revoked 2 authenticator(s)" in out
    client = asgi_demo.login("dr.martin", totp=False)
    assert reasons(client.post("/accessguard/step-up/totp", json={"code": asgi_demo.code("dr.martin")})) == ["invalid_code"]
    assert reasons(client.post("/accessguard/step-up/webauthn/begin", json={})) == ["authenticator_unknown"]


def test_unknown_user_and_bad_usage(asgi_demo: Demo, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert _admin(asgi_demo, capsys, "authenticators", "list", "nobody")[0:1] == (1,)
    assert "no user 'nobody'" in _admin(asgi_demo, capsys, "enroll-link", "nobody")[2]
    with pytest.raises(SystemExit) as exited:
        main(["admin", "authenticators", "revoke", "dr.martin", "--data-dir", str(tmp_path)])  # neither ID nor --all
    assert exited.value.code == 2
    capsys.readouterr()
    assert main(["admin", "users", "list", "--data-dir", str(tmp_path / "missing")]) == 2
    assert "no account directory" in capsys.readouterr().err
    for not_a_time in ("last tuesday", "99999999999999999999", "9999999999999d"):  # the last two are beyond the calendar
        code, _, err = _admin(asgi_demo, capsys, "contain", "--enrolled-after", not_a_time)
        assert code == 2
        assert err.startswith(f"accessguard: --enrolled-after: {not_a_time!r} is not a time (ISO 8601")


def test_enroll_link_prints_the_link_last_and_it_works(asgi_demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _admin(asgi_demo, capsys, "enroll-link", "inf.dubois", "--kind", "webauthn", "--ttl", "30", "--base-url", ORIGIN)
    assert code == 0
    url = out.splitlines()[-1]
    assert url.startswith(f"{ORIGIN}/accessguard/enroll?token=")
    client = asgi_demo.client()
    assert client.get(url.removeprefix(ORIGIN), follow_redirects=False).status_code == 200
    assert redeem_link(client, url).status_code == 200
    assert client.post("/accessguard/enroll/webauthn/begin", json={}).status_code == 200


def test_no_enrolment_link_for_a_suspended_account(asgi_demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    asgi_demo.guard.accounts.set_status("inf.dubois", "suspended")
    code, out, err = _admin(asgi_demo, capsys, "enroll-link", "inf.dubois")
    assert (code, out) == (1, "")
    assert err.endswith("inf.dubois is suspended; resume the account first\n")
    assert asgi_demo.guard.accounts.database.execute("SELECT count(*) FROM enrolment_links")[0][0] == 0


def test_contain_ends_sessions_and_holds_back_keys(asgi_demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    asgi_demo.clock.now = max(a.created for a in asgi_demo.guard.authenticators.of_account("dr.martin")) + 3600
    compromise = int(asgi_demo.clock.now)
    asgi_demo.clock.advance(60)
    key = enrolled_key(asgi_demo, "dr.martin")
    live = key_session(asgi_demo, "dr.martin", key)
    code, out, _ = _admin(asgi_demo, capsys, "contain", "--enrolled-after", str(compromise))
    assert code == 0
    assert "contained 1 authenticator(s) of 1 user(s)" in out
    assert "dr.martin: recovery codes issued after that time revoked (10 unused)" in out
    assert "Passwords taken away (they may have been phished): dr.martin." in out
    assert live.get("/patients/pat-0001").status_code == 401
    set_new_password(asgi_demo, "dr.martin")
    assert reasons(assertion(asgi_demo.login("dr.martin", totp=False), key)) == ["authenticator_contained"]
    users = _admin(asgi_demo, capsys, "users", "list")[1].splitlines()
    assert next(line for line in users if line.startswith("dr.martin ")).endswith("1 totp, 1 webauthn (1 contained)")
    assert next(line for line in users if line.startswith("inf.dubois ")).endswith("1 totp")  # enrolled before: not contained
    code, out, _ = _admin(asgi_demo, capsys, "contain", "--enrolled-after", "2999-01-01T00:00Z")
    assert (code, out.startswith("no active authenticator was enrolled, and no recovery code issued")) == (0, True)


def test_installed_command_runs(asgi_demo: Demo) -> None:
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("accessguard")),
            "admin",
            "users",
            "list",
            "--data-dir",
            str(asgi_demo.guard.settings.data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "dr.martin" in done.stdout


def test_cli_revocations_and_links_reach_the_access_log_and_the_outbox(asgi_demo: Demo) -> None:
    import json
    import sqlite3

    enrolled_key(asgi_demo, "dr.martin")
    audit_db = Path(asgi_demo.guard.settings.data_dir) / "audit.db"
    asgi_demo.guard.access_log.flush()

    def logged() -> tuple[list[str], int]:
        with sqlite3.connect(audit_db) as db:
            events = [json.loads(d)["event"] for (d,) in db.execute("SELECT detail FROM entries WHERE kind = 'event' ORDER BY seq")]
            return events, db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]

    def counted(reason: str) -> int:
        with sqlite3.connect(audit_db) as db:
            return int(
                db.execute("SELECT sum(count) FROM alert_windows WHERE account = 'dr.martin' AND reason = ?", (reason,)).fetchone()[0]
            )

    def admin(*args: str) -> None:  # its own process, as an operator runs it beside the service
        command = [str(Path(sys.executable).with_name("accessguard")), "admin", *args, "--data-dir", str(audit_db.parent)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr

    events_before, outbox_before = logged()
    admin("authenticators", "revoke", "dr.martin", "--all")
    admin("enroll-link", "inf.dubois", "--kind", "totp")
    events, outbox = logged()
    added = events[len(events_before) :]
    assert sorted(added) == ["authenticator_revoked", "authenticator_revoked", "enrolment_link_issued"]
    assert outbox >= outbox_before + 2  # one alert per account and reason in a window: the second revocation is counted
    assert counted("authenticator_revoked") == 2


@pytest.mark.realpart
def test_an_account_suspended_by_another_host_gets_no_link_and_no_admin_page(two_hosts: tuple[Demo, Demo]) -> None:
    """A suspension recorded in the shared store only (by another host) counts for enroll-link and the admin page."""
    host_a, host_b = two_hosts
    store = host_a.guard.settings.store_location
    now = int(host_b.clock.now)
    session, cookie = host_b.guard.sessions.start("admin", "pwd", now)
    host_b.guard.store.record_factor(session.id, "webauthn", now)  # a fresh security key, as the page demands
    admin = host_b.client()
    admin.cookies.set("accessguard_session", cookie)
    assert admin.get("/accessguard/admin", headers={"accept": "text/html"}).status_code == 200

    host_a.guard.store.set_suspended("admin", True)
    host_a.guard.store.set_suspended("dr.martin", True)
    assert host_b.guard.accounts.get("dr.martin").status == "active"  # type: ignore[union-attr]  # host B's directory never heard of it
    assert admin.get("/accessguard/admin", headers={"accept": "text/html"}).status_code == 403
    data_dir = str(host_b.guard.settings.data_dir)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("accessguard")), "admin", "enroll-link", "dr.martin", "--data-dir", data_dir, "--store", store],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "dr.martin is suspended" in done.stderr and "enroll?token=" not in done.stdout
