"""Containment: ``accessguard account suspend|resume``, effective on the next request in every process."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, closing
from pathlib import Path

import httpx
import pyotp
import pytest

from accessguard.admin import actions
from accessguard.audit.alerts import pending_alerts
from accessguard.containment import resume, suspend
from tests.audit_support import run_cli
from tests.conftest import CAEN, Demo, _copy_demo
from tests.demo_process import ACCESSGUARD, demo_process, wait_for
from tests.store_support import store_url


def _accessguard(*argv: str, store: str | None = None) -> subprocess.CompletedProcess[str]:
    """The command line in a process of its own."""
    return subprocess.run([ACCESSGUARD, *argv, *(["--store", store] if store else [])], capture_output=True, text=True, timeout=60)


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.realpart)])
def two_servers(request: pytest.FixtureRequest, demo_template: Path, tmp_path: Path) -> Iterator[tuple[Path, str | None, list[str]]]:
    """Two demo server processes sharing one data directory and one store (SQLite there, or Redis)."""
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    store = None if request.param == "sqlite" else store_url("redis", tmp_path, request.getfixturevalue("redis_server"))
    options = ["--store", store] if store else []
    with ExitStack() as running:
        urls = [running.enter_context(demo_process(data_dir, tmp_path / f"demo-{n}.log", *options))[0] for n in (1, 2)]
        yield data_dir, store, urls


AT_CAEN = {"x-forwarded-for": CAEN}


def _account(data_dir: Path, username: str) -> dict[str, str]:
    return dict(next(a for a in json.loads((data_dir / "demo-accounts.json").read_text()) if a["username"] == username))


def _wait_for_decision(data_dir: Path, decision_id: str, subject: str, reasons: list[str]) -> None:
    """Wait until the access log holds that decision, and check it is the one the client was answered."""

    def logged() -> list[tuple[str, str]]:
        with closing(sqlite3.connect(data_dir / "audit.db")) as db:
            return db.execute("SELECT subject, detail FROM entries WHERE kind = 'decision' AND decision_id = ?", (decision_id,)).fetchall()

    wait_for(lambda: bool(logged()), f"decision {decision_id} in the access log")
    [(logged_subject, detail)] = logged()
    assert logged_subject == subject and json.loads(detail)["reasons"] == reasons and json.loads(detail)["outcome"] == "deny"


def _login(url: str, data_dir: Path, username: str) -> httpx.Client:
    account = _account(data_dir, username)
    client = httpx.Client(base_url=url, headers={"x-forwarded-for": CAEN})
    assert client.post("/login", json={"username": username, "password": account["password"]}).status_code == 200
    response = client.post("/accessguard/step-up/totp", json={"code": pyotp.TOTP(account["totp_secret"]).now()})
    assert response.status_code == 200, response.text
    return client


@pytest.mark.slow
def test_suspension_is_effective_on_the_next_request_in_every_process(two_servers: tuple[Path, str | None, list[str]]) -> None:
    data_dir, store, (server_a, server_b) = two_servers
    doctor = _login(server_a, data_dir, "dr.martin")
    nurse = _login(server_b, data_dir, "inf.dubois")
    cookie = {"accessguard_session": doctor.cookies["accessguard_session"]}
    assert doctor.get("/patients/pat-0001").status_code == 200
    assert httpx.get(server_b + "/patients/pat-0002", cookies=cookie, headers={"x-forwarded-for": CAEN}).status_code == 200

    done = _accessguard(
        "account",
        "suspend",
        "dr.martin",
        "--reason",
        "credentials phished (ticket 4711)",
        "--revoke-authenticators",
        "--data-dir",
        str(data_dir),
        store=store,
    )
    assert done.returncode == 0, done.stderr
    assert "1 sessions revoked, 1 authenticators revoked, 0 recovery codes revoked, password reset" in done.stdout

    # the live session's next request, in either process: denied by the policy, and logged like any decision
    for refused in (doctor.get("/patients/pat-0003"), httpx.get(server_b + "/patients/pat-0003", cookies=cookie, headers=AT_CAEN)):
        assert refused.status_code == 403, refused.text
        assert refused.json()["reasons"] == ["account_suspended"]
        _wait_for_decision(data_dir, refused.json()["decision_id"], "dr.martin", ["account_suspended"])
    assert nurse.get("/patients/pat-0004").status_code == 200  # containment is targeted
    password = _account(data_dir, "dr.martin")["password"]
    again = httpx.post(server_b + "/login", json={"username": "dr.martin", "password": password})
    assert again.status_code == 401  # the phished password was taken away with the authenticators: it reveals nothing

    wait_for(lambda: not pending_alerts(data_dir / "audit.db"), "a running server to deliver the suspension alert")

    refused = _accessguard("account", "resume", "dr.martin", "--data-dir", str(data_dir), store=store)
    assert refused.returncode == 1 and "password was reset" in refused.stderr  # --revoke-authenticators took the password
    resumed = _accessguard("account", "resume", "dr.martin", "--keep-password", "--data-dir", str(data_dir), store=store)
    assert resumed.returncode == 0, resumed.stderr
    # the old session stays refused in both processes, and cannot be stepped up back to life
    for old in (doctor.get("/patients/pat-0005"), httpx.get(server_b + "/patients/pat-0005", cookies=cookie, headers=AT_CAEN)):
        assert old.status_code == 401 and old.json()["type"] == "urn:accessguard:problem:invalid-session"
        assert old.json()["detail"] == "the session was revoked; log in again"
    code = pyotp.TOTP(_account(data_dir, "dr.martin")["totp_secret"]).now()
    revived = httpx.post(server_b + "/accessguard/step-up/totp", json={"code": code}, cookies=cookie, headers=AT_CAEN)
    assert revived.status_code == 401 and revived.json()["reasons"] == ["authentication_required"]
    back = httpx.Client(base_url=server_a, headers={"x-forwarded-for": CAEN})
    assert back.post("/login", json={"username": "dr.martin", "password": password}).status_code == 200
    secret = _account(data_dir, "dr.martin")["totp_secret"]
    assert back.post("/accessguard/step-up/totp", json={"code": pyotp.TOTP(secret).now()}).status_code == 401  # revoked authenticator
    assert back.get("/patients/pat-0005").json()["reasons"] == ["mfa_required"]  # a fresh session, alive
    assert doctor.get("/patients/pat-0005").status_code == 401  # the old one still is not

    verified = _accessguard("audit", "verify", "--data-dir", str(data_dir))
    assert verified.returncode == 0, verified.stdout


def test_a_session_born_during_suspension_is_refused_and_never_revived(asgi_demo: Demo) -> None:
    guard = asgi_demo.guard
    doctor = asgi_demo.login("dr.martin")
    assert doctor.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN}).status_code == 200
    suspension = suspend(guard.accounts, guard.authenticators, guard.store, guard.access_log, "dr.martin", "phished", operator="soc")
    assert suspension.sessions_revoked == 1 and suspension.authenticators_revoked == 0
    # a login that passed its status check just before the suspension creates its session just after it
    late = asgi_demo.session_client("dr.martin")
    response = late.get("/patients/pat-0002", headers={"x-forwarded-for": CAEN})
    assert response.status_code == 403 and response.json()["reasons"] == ["account_suspended"]
    assert resume(guard.accounts, guard.store, guard.access_log, "dr.martin", operator="soc") == 1
    for session in (late, doctor):
        old = session.get("/patients/pat-0002", headers={"x-forwarded-for": CAEN})
        assert old.status_code == 401 and old.json()["type"] == "urn:accessguard:problem:invalid-session"
    assert [a.state for a in guard.authenticators.of_account("dr.martin")] == ["active"]  # authenticators stay unless asked


INVALID_SESSION = "urn:accessguard:problem:invalid-session"


def test_a_suspended_accounts_live_session_is_denied_by_the_policy_then_stays_revoked(demo: Demo) -> None:
    guard = demo.guard
    doctor = demo.login("dr.martin")
    assert doctor.get("/patients/pat-0001", headers=AT_CAEN).status_code == 200
    suspend(guard.accounts, guard.authenticators, guard.store, guard.access_log, "dr.martin", "phished", operator="soc")
    denied = doctor.get("/patients/pat-0002", headers=AT_CAEN)
    assert denied.status_code == 403 and denied.json()["reasons"] == ["account_suspended"]
    guard.access_log.flush()
    _wait_for_decision(Path(guard.settings.data_dir), denied.json()["decision_id"], "dr.martin", ["account_suspended"])
    resume(guard.accounts, guard.store, guard.access_log, "dr.martin", operator="soc")
    for _ in range(2):
        refused = doctor.get("/patients/pat-0002", headers=AT_CAEN)
        assert refused.status_code == 401, refused.text
        assert refused.json()["type"] == INVALID_SESSION and refused.json()["detail"] == "the session was revoked; log in again"
        assert refused.headers["www-authenticate"] == 'Bearer realm="accessguard"'
        # a valid code on the revoked session is a step-up without a session: it revives nothing
        step_up = doctor.post("/accessguard/step-up/totp", json={"code": demo.code("dr.martin")})
        assert step_up.status_code == 401 and step_up.json()["reasons"] == ["authentication_required"]
        enrol = doctor.post("/accessguard/enroll/totp/begin", json={"label": "new phone"})
        assert enrol.status_code == 401 and enrol.json()["reasons"] == ["authentication_required"]
    assert demo.login("dr.martin").get("/patients/pat-0002", headers=AT_CAEN).status_code == 200  # a fresh login works


def test_sessions_revoked_by_containment_are_refused_not_unknown(demo: Demo) -> None:
    guard = demo.guard
    nurse = demo.login("inf.dubois")
    contained = actions.contain(guard.accounts, guard.authenticators, guard.store, 0, by="soc")
    assert "inf.dubois" in contained.accounts and "inf.dubois" in contained.passwords_reset
    refused = nurse.get("/patients/pat-0001", headers=AT_CAEN)
    assert refused.status_code == 401 and refused.json()["type"] == INVALID_SESSION and "revoked" in refused.json()["detail"]


def test_session_failures_have_their_own_problem_type_and_say_no_more(demo: Demo) -> None:
    doctor = demo.login("dr.martin")
    value = doctor.cookies["accessguard_session"]
    demo.clock.advance(demo.guard.settings.session_ttl_s + 1)
    expired = demo.client().get("/patients/pat-0001", headers={"cookie": f"accessguard_session={value}"})
    forged = demo.client().get("/patients/pat-0001", headers={"cookie": "accessguard_session=abc.def"})
    for refused in (expired, forged):
        assert refused.status_code == 401 and refused.json()["type"] == INVALID_SESSION
        assert set(refused.json()) == {"type", "title", "status", "detail", "login"}
    assert expired.json()["detail"] == "the session has expired or ended; log in again"
    assert forged.json()["detail"] == "the session cookie is invalid; log in again"


def test_a_suspended_account_learns_its_status_only_with_its_password(demo: Demo) -> None:
    guard = demo.guard
    guard.accounts.set_status("dr.martin", "suspended")
    password = demo.accounts["dr.martin"].password
    wrong = demo.client().post("/login", json={"username": "dr.martin", "password": password + "x"})
    unknown = demo.client().post("/login", json={"username": "dr.nobody", "password": password})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    right = demo.client().post("/login", json={"username": "dr.martin", "password": password})
    assert right.status_code == 403 and right.json()["reasons"] == ["account_suspended"]
    assert "set-cookie" not in right.headers
    assert guard.store.revoke_sessions("dr.martin", "test") == 0  # no session was created


def test_suspension_is_logged_and_alerted(asgi_demo: Demo) -> None:
    data_dir = str(asgi_demo.guard.settings.data_dir)
    code, _, err = run_cli("account", "suspend", "inf.leroy", "--reason", "lost badge", "--data-dir", data_dir)
    assert code == 0, err
    asgi_demo.guard.alerts.wake()
    wait_for(lambda: not pending_alerts(asgi_demo.guard.access_log.location), "the alert to reach the log sink")
    with sqlite3.connect(asgi_demo.guard.access_log.location) as db:
        [(detail,)] = db.execute("SELECT detail FROM entries WHERE kind = 'event'").fetchall()
        [(payload,)] = db.execute("SELECT payload FROM alerts WHERE sink = 'log'").fetchall()
    assert json.loads(detail)["event"] == "account_suspended" and json.loads(detail)["reason"] == "lost badge"
    assert json.loads(payload)["reasons"] == ["account_suspended"] and json.loads(payload)["subject"] == "inf.leroy"


def test_unknown_accounts_and_missing_data_are_clear_errors(asgi_demo: Demo, tmp_path: Path) -> None:
    code, _, err = run_cli("account", "suspend", "nobody", "--reason", "x", "--data-dir", str(asgi_demo.guard.settings.data_dir))
    assert code == 1 and "no account 'nobody'" in err
    code, _, err = run_cli("account", "resume", "dr.martin", "--data-dir", str(tmp_path / "empty"))
    assert code == 2 and "no account directory" in err


def test_without_the_services_audit_key_a_command_stops_before_changing_anything(asgi_demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    """Appending under another audit key would sign checkpoints that never verify: a false tampering, for good."""
    guard = asgi_demo.guard
    data_dir = guard.settings.data_dir
    assert asgi_demo.login("inf.leroy").get("/patients/pat-0001", headers=AT_CAEN).status_code == 200
    guard.access_log.flush()  # the log has a head, signed with the service's audit key
    keys_file = data_dir / "keys.json"
    keys = json.loads(keys_file.read_text())
    audit_key = keys.pop("audit_key")
    keys_file.write_text(json.dumps(keys))  # the operator has the pseudonym key only
    code, _, err = run_cli("account", "suspend", "inf.leroy", "--reason", "lost badge", "--data-dir", str(data_dir))
    assert code == 2 and "does not verify with this audit key" in err and "ACCESSGUARD_AUDIT_KEY" in err
    account = guard.accounts.get("inf.leroy")
    assert account is not None and account.status == "active"
    monkeypatch.setenv("ACCESSGUARD_AUDIT_KEY", audit_key)
    assert run_cli("account", "suspend", "inf.leroy", "--reason", "lost badge", "--data-dir", str(data_dir))[0] == 0
    code, out, _ = run_cli("audit", "verify", "--data-dir", str(data_dir))
    assert code == 0, out


@pytest.mark.realpart
def test_a_suspension_on_one_host_holds_on_every_host_sharing_the_store(two_hosts: tuple[Demo, Demo]) -> None:
    """Hosts with their own account directories learn a suspension from the Redis store they share."""
    host_a, host_b = two_hosts
    doctor = host_b.login("dr.martin")
    assert doctor.get("/patients/pat-0001", headers=AT_CAEN).status_code == 200
    guard = host_a.guard
    suspend(guard.accounts, guard.authenticators, guard.store, guard.access_log, "dr.martin", "phished", operator="soc")
    assert host_b.guard.accounts.get("dr.martin").status == "active"  # type: ignore[union-attr]  # host B's directory never heard of it

    denied = doctor.get("/patients/pat-0002", headers=AT_CAEN)  # its session, revoked: denied by the policy, not a 401
    assert denied.status_code == 403 and denied.json()["reasons"] == ["account_suspended"]
    password = host_b.accounts["dr.martin"].password
    again = host_b.client().post("/login", json={"username": "dr.martin", "password": password})
    assert again.status_code == 403 and again.json()["reasons"] == ["account_suspended"] and "set-cookie" not in again.headers
    # a login on host B already past its check when the suspension began: its session sees the suspension in its reservation
    late = host_b.session_client("dr.martin")
    refused = late.get("/patients/pat-0003", headers=AT_CAEN)
    assert refused.status_code == 403 and refused.json()["reasons"] == ["account_suspended"]
    step_up = late.post("/accessguard/step-up/totp", json={"code": host_b.code("dr.martin")})
    assert step_up.status_code == 403 and step_up.json()["reasons"] == ["account_suspended"]

    assert resume(guard.accounts, guard.store, guard.access_log, "dr.martin", operator="soc") == 1  # the late session
    for old in (doctor, late):
        assert old.get("/patients/pat-0003", headers=AT_CAEN).status_code == 401  # revoked sessions stay refused
    assert host_b.login("dr.martin").get("/patients/pat-0003", headers=AT_CAEN).status_code == 200


@pytest.mark.realpart
def test_account_commands_reach_the_services_redis_store(two_hosts: tuple[Demo, Demo]) -> None:
    host_a, host_b = two_hosts
    store = host_a.guard.settings.store_location
    data_dir = str(host_a.guard.settings.data_dir)
    nurse = host_b.login("inf.dubois")
    code, _, err = run_cli("account", "suspend", "inf.dubois", "--reason", "phished", "--data-dir", data_dir, "--store", store)
    assert code == 0, err
    assert nurse.get("/patients/pat-0001", headers=AT_CAEN).json()["reasons"] == ["account_suspended"]
    code, _, err = run_cli("account", "resume", "inf.dubois", "--data-dir", data_dir, "--store", store)
    assert code == 0, err
    assert host_b.login("inf.dubois").get("/patients/pat-0001", headers=AT_CAEN).status_code == 200


@pytest.mark.realpart
def test_an_account_only_another_host_knows_is_suspended_through_the_store(two_hosts: tuple[Demo, Demo]) -> None:
    """An account made by an OpenID Connect login on host B is unknown to host A's directory, not to the shared store."""
    host_a, host_b = two_hosts
    provisioned = host_b.guard.accounts.provision(
        "psc-810000000001", issuer="https://psc.example", kind="oidc", roles=("doctor",), organisation="chu-caen"
    )
    assert provisioned is not None
    assert host_a.guard.accounts.get("psc-810000000001") is None

    def session_on_b() -> httpx.Client:
        return host_b.session_client("psc-810000000001", factors=("oidc", "otp"))

    doctor = session_on_b()
    assert doctor.get("/patients/pat-0001", headers=AT_CAEN).status_code == 200
    store, data_dir = host_a.guard.settings.store_location, str(host_a.guard.settings.data_dir)
    argv = ("psc-810000000001", "--data-dir", data_dir, "--store", store)
    code, _, err = run_cli("account", "suspend", *argv, "--reason", "phished")
    assert code == 1 and "no account 'psc-810000000001'" in err and "--known-elsewhere" in err
    assert doctor.get("/patients/pat-0002", headers=AT_CAEN).status_code == 200  # nothing changed

    code, _, err = run_cli("account", "suspend", *argv, "--reason", "phished", "--known-elsewhere")
    assert code == 0, err
    denied = doctor.get("/patients/pat-0002", headers=AT_CAEN)
    assert denied.status_code == 403 and denied.json()["reasons"] == ["account_suspended"]
    assert session_on_b().get("/patients/pat-0002", headers=AT_CAEN).json()["reasons"] == ["account_suspended"]

    code, _, err = run_cli("account", "resume", *argv, "--known-elsewhere")
    assert code == 0, err
    assert session_on_b().get("/patients/pat-0003", headers=AT_CAEN).status_code == 200
    code, _, err = run_cli("account", "resume", "psc-810000000001", "--data-dir", data_dir, "--known-elsewhere")
    assert code == 2 and "--known-elsewhere needs --store" in err
