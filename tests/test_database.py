"""The durable records on both backends (SQLite default, PostgreSQL), and their versioned schema."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from accessguard.audit.access_log import AccessLog
from accessguard.audit.alerts import AlertDispatcher, pending_alerts
from accessguard.audit.reviews import declare_emergency
from accessguard.audit.settings import AuditSettings
from accessguard.authn.accounts import Accounts, open_accounts
from accessguard.authn.authenticators import Authenticators
from accessguard.authn.enrolment import EnrolmentLinks
from accessguard.authn.recovery import RecoveryCodes
from accessguard.cli import main
from accessguard.database import open_database
from accessguard.database.fingerprints import KeyMismatch
from accessguard.database.migrations import SchemaMismatch, current_version, latest
from accessguard.database.postgres import redacted
from accessguard.errors import StoreError
from tests.audit_support import LogBackend
from tests.conftest import CAEN, _copy_demo, make_demo
from tests.demo_process import wait_for

NOW = 1_790_000_000.0
#: How soon a change made by another connection reaches a host's record cache (LISTEN/NOTIFY: milliseconds; bounded for slow CI).
CHANGE_HEARD_S = 0.5


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.realpart)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'accounts.db'}"
    url: str = request.getfixturevalue("postgres_url")
    assert main(["db", "upgrade", "--database", url]) == 0
    return url


@pytest.fixture
def accounts(database_url: str) -> Iterator[Accounts]:
    opened = open_accounts(database_url)
    yield opened
    opened.close()


def test_accounts_and_their_factors_behave_alike_on_both_backends(accounts: Accounts) -> None:
    accounts.add("dr.martin", "correct horse battery", roles=("doctor",), organisation="chu-caen")
    with pytest.raises(StoreError):  # one id, one account
        accounts.add("dr.martin", "another password here")
    assert accounts.provision("dr.martin", issuer="https://idp.example", kind="professional", roles=(), organisation="x") is None
    provided = accounts.provision("oidc-1", issuer="https://idp.example", kind="professional", roles=("nurse",), organisation="chu")
    assert provided is not None and provided.issuer == "https://idp.example"
    assert accounts.reset_password("dr.martin") and accounts.get("dr.martin").password_reset  # type: ignore[union-attr]
    assert accounts.restore_password("dr.martin") and not accounts.restore_password("dr.martin")
    assert accounts.set_status("dr.martin", "suspended") and accounts.get("dr.martin").status == "suspended"  # type: ignore[union-attr]

    authenticators = Authenticators(accounts.database)
    key = dict(credential_id=b"\x00cred", credential=b"\x01\x02", rp_id="localhost", sign_count=5, aaguid="a", user_verifying=True)
    added = authenticators.add_webauthn("dr.martin", **key, label="key", enrolled_via="link", now=NOW)  # type: ignore[arg-type]
    assert added is not None and added.credential == b"\x01\x02"
    assert authenticators.add_webauthn("dr.bernard", **key, label="key", enrolled_via="link", now=NOW) is None  # type: ignore[arg-type]
    assert authenticators.advance_sign_count(added.id, 6, "localhost", NOW) and not authenticators.advance_sign_count(added.id, 6, "x", NOW)
    assert [a.id for a in authenticators.contain(NOW - 1)] == [added.id]
    assert [a.id for a in authenticators.revoke("dr.martin")] == [added.id]

    recovery = RecoveryCodes(accounts.database)
    codes = recovery.issue("dr.martin", NOW)
    assert recovery.use("dr.martin", codes[0], NOW) and not recovery.use("dr.martin", codes[0], NOW)
    assert recovery.remaining("dr.martin") == len(codes) - 1 and recovery.issued_since("dr.martin", NOW) == int(NOW)
    assert recovery.revoke_issued_after(NOW - 1) == {"dr.martin": len(codes) - 1}

    links = EnrolmentLinks(accounts.database)
    token = links.issue("dr.martin", "webauthn", 60, NOW)
    assert links.peek(token, NOW) == ("dr.martin", "webauthn")
    assert links.redeem(token, NOW) == ("dr.martin", "webauthn") and links.redeem(token, NOW) is None
    assert links.redeem(links.issue("dr.martin", "webauthn", 60, NOW), NOW + 61) is None  # expired


@pytest.mark.realpart
def test_a_service_refuses_a_postgresql_schema_it_does_not_know_and_names_the_command(
    postgres_url: str, demo_template: Path, tmp_path: Path
) -> None:
    with pytest.raises(SchemaMismatch, match=r"accessguard db upgrade"):
        open_accounts(postgres_url)  # an empty database: never upgraded behind the operator's back
    assert main(["db", "upgrade", "--database", postgres_url]) == 0
    assert main(["db", "upgrade", "--database", postgres_url]) == 0  # twice changes nothing
    database = open_database(postgres_url)
    try:
        assert current_version(database, "accounts") == latest("accounts")
        database.execute("UPDATE schema_versions SET version = version + 1")
    finally:
        database.close()
    with pytest.raises(SchemaMismatch, match=r"newer than this release knows"):
        make_demo("asgi", tmp_path / "data", database=postgres_url)


def test_the_sqlite_default_upgrades_a_file_from_before_versions(tmp_path: Path) -> None:
    path = tmp_path / "accounts.db"
    with closing(sqlite3.connect(path)) as db:  # an accounts.db as the first releases wrote it
        db.executescript(
            "CREATE TABLE accounts (id TEXT PRIMARY KEY, password_hash TEXT NOT NULL, kind TEXT NOT NULL, roles TEXT NOT NULL,"
            " organisation TEXT NOT NULL, status TEXT NOT NULL, created INTEGER NOT NULL);"
            "INSERT INTO accounts VALUES ('dr.martin', '!', 'professional', '[]', 'chu', 'active', 1);"
        )
    accounts = open_accounts(f"sqlite:///{path}")
    try:
        assert accounts.get("dr.martin") is not None and accounts.get("dr.martin").issuer is None  # type: ignore[union-attr]
        assert current_version(accounts.database, "accounts") == latest("accounts")
    finally:
        accounts.close()


@pytest.mark.realpart
def test_a_guard_on_postgresql_serves_and_fails_closed_while_it_is_down(postgres_server: Any, demo_template: Path, tmp_path: Path) -> None:
    postgres_server.reset()
    assert main(["db", "upgrade", "--database", postgres_server.url]) == 0
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    demo = make_demo("asgi", data_dir, database=postgres_server.url)
    try:
        client = demo.login("dr.martin")
        assert client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN}).status_code == 200
        postgres_server.stop()
        try:
            refused = client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN})
            assert refused.status_code == 503, refused.text
        finally:
            postgres_server.start()
        for _ in range(50):  # back by itself: no restart of the guard
            if client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN}).status_code == 200:
                break
        else:
            pytest.fail("the guard did not recover after PostgreSQL came back")
    finally:
        demo.guard.close()


@pytest.mark.realpart
def test_a_host_with_other_keys_than_the_fleets_refuses_to_start_naming_them(postgres_url: str, tmp_path: Path) -> None:
    assert main(["db", "upgrade", "--database", postgres_url]) == 0
    first_dir, second_dir = tmp_path / "host-a", tmp_path / "host-b"
    first = make_demo("asgi", first_dir, database=postgres_url)
    try:
        second_dir.mkdir()
        keys = json.loads((first_dir / "keys.json").read_text())
        (second_dir / "keys.json").write_text(json.dumps(keys | {"session_key": "s" * 48}))
        with pytest.raises(KeyMismatch, match=r"^database \S+: session_key differs") as refused:
            make_demo("asgi", second_dir, database=postgres_url)
        assert "s" * 48 not in str(refused.value) and keys["session_key"] not in str(refused.value)
        (second_dir / "keys.json").write_text(json.dumps(keys))
        make_demo("asgi", second_dir, database=postgres_url).guard.close()  # the fleet's keys: it starts
        fingerprints = first.guard.accounts.database.execute("SELECT fingerprint FROM key_fingerprints")
        assert len(fingerprints) == 4 and not any(keys[name] in str(fingerprints) for name in keys)
    finally:
        first.guard.close()


@pytest.mark.realpart
def test_migrate_copies_a_data_directory_once_and_its_professionals_log_in_on_postgresql(
    postgres_url: str, demo_template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    assert main(["db", "upgrade", "--database", postgres_url]) == 0
    assert main(["db", "migrate", "--from", str(data_dir), "--to", postgres_url]) == 0
    assert "accounts: 7 of 7 copied" in capsys.readouterr().out
    assert main(["db", "migrate", "--from", str(data_dir), "--to", postgres_url]) == 0
    assert "accounts: 0 of 7 copied (7 already there)" in capsys.readouterr().out
    (data_dir / "accounts.db").unlink()  # from now on the records are in PostgreSQL only
    demo = make_demo("asgi", data_dir, database=postgres_url)
    try:  # the password hash and the sealed TOTP seed came across intact
        assert demo.login("dr.martin").get("/patients/pat-0001", headers={"x-forwarded-for": CAEN}).status_code == 200
    finally:
        demo.guard.close()


def test_a_command_on_an_unreachable_database_fails_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.redis_server import free_port

    nowhere = f"postgresql://accessguard:secret@127.0.0.1:{free_port()}/accessguard"
    assert main(["admin", "users", "list", "--data-dir", str(tmp_path), "--database", nowhere]) == 2
    error = capsys.readouterr().err
    assert error.startswith("accessguard: database postgresql://accessguard:***@127.0.0.1:") and "secret" not in error
    assert "Traceback" not in error


def _log_with_an_emergency(data_dir: Path) -> None:
    """The data directory's own access log: reads, and an emergency declaration with its open review."""
    keys = json.loads((data_dir / "keys.json").read_text())
    log = AccessLog(data_dir / "audit.db", AuditSettings(key=keys.get("audit_key"), checkpoint_every=5), keys["pseudonym_key"])
    try:
        for n in range(12):
            log.served(None, "dr.martin", "patients.read", [f"pat-{n:04d}"], NOW + n)
        declare_emergency(log, "dr.martin", "pat-0003", "unconscious, no relative reachable", None)
    finally:
        log.close()


@pytest.mark.realpart
def test_migrate_copies_the_access_log_and_emergencies_once_and_the_chain_verifies_in_postgresql(
    postgres_url: str, demo_template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    _log_with_an_emergency(data_dir)
    with closing(sqlite3.connect(data_dir / "audit.db")) as db:
        held = db.execute("SELECT count(*) FROM entries").fetchone()[0]
    assert main(["db", "upgrade", "--database", postgres_url]) == 0
    assert main(["db", "migrate", "--from", str(data_dir), "--to", postgres_url]) == 0
    out = capsys.readouterr().out
    assert f"entries: {held} of {held} copied" in out and "emergencies: 1 of 1 copied" in out
    assert f"access log in {redacted(postgres_url)}: ok: entries #1..#{held}" in out
    assert main(["db", "migrate", "--from", str(data_dir), "--to", postgres_url]) == 0  # twice: nothing twice
    out = capsys.readouterr().out
    assert f"entries: 0 of {held} copied ({held} already there)" in out and "emergencies: 0 of 1 copied" in out
    assert f"ok: entries #1..#{held}" in out

    # the fleet's log is the data directory's chain, and its open review is the fleet's
    assert main(["audit", "verify", "--data-dir", str(data_dir), "--database", postgres_url]) == 0
    assert main(["audit", "reviews", "list", "--format", "json", "--data-dir", str(data_dir), "--database", postgres_url]) == 0
    [review] = json.loads(capsys.readouterr().out.split("\n", 1)[1])  # after verify's line
    assert (review["subject"], review["patient"], review["closed_at"]) == ("dr.martin", "pat-0003", None)

    # another directory's chain cannot join it: refused, naming both, and nothing of it copied
    other = _copy_demo(demo_template, tmp_path / "other")
    (other / "keys.json").write_text((data_dir / "keys.json").read_text())
    _log_with_an_emergency(other)
    assert main(["db", "migrate", "--from", str(other), "--to", postgres_url]) == 2
    err = capsys.readouterr().err
    assert "already holds another access log" in err and str(other / "audit.db") in err
    with closing(psycopg.connect(postgres_url)) as db:
        assert db.execute("SELECT count(*) FROM entries").fetchone() == (held,)


def _read_only(url: str, on: bool) -> None:
    """A failover in progress: the server takes reads and refuses every write (sessions already open included)."""
    with closing(psycopg.connect(url, autocommit=True)) as db:
        db.execute("ALTER SYSTEM SET default_transaction_read_only = on" if on else "ALTER SYSTEM RESET default_transaction_read_only")
        db.execute("SELECT pg_reload_conf()")


@pytest.mark.realpart
def test_a_read_only_postgresql_makes_the_guard_refuse_until_the_log_commits_again_and_nothing_served_is_unlogged(
    postgres_server: Any, tmp_path: Path
) -> None:
    """Accounts still read, but the access log cannot commit: the guard refuses rather than serve unlogged, as on SQLite."""
    postgres_server.reset()
    url = postgres_server.url
    assert main(["db", "upgrade", "--database", url]) == 0
    demo = make_demo("asgi", tmp_path / "data", database=url)
    headers = {"x-forwarded-for": CAEN}
    try:
        client = demo.login("dr.martin")
        served = [n for n in (1, 2) if client.get(f"/patients/pat-{n:04d}", headers=headers).status_code == 200]
        demo.guard.access_log.flush()
        _read_only(url, True)
        try:
            n = 3
            while (response := client.get(f"/patients/pat-{n:04d}", headers=headers)).status_code == 200:
                served.append(n)  # admitted before the writer's first failed commit: served, and queued
                n += 1
                assert n < 200, "the guard kept serving while its access log could not commit"
            assert response.status_code == 503 and response.json()["type"].endswith("access-log-unavailable"), response.text
        finally:
            _read_only(url, False)
        for _ in range(50):  # back by itself once a commit succeeds
            if client.get("/patients/pat-0100", headers=headers).status_code == 200:
                served.append(100)
                break
            time.sleep(0.2)
        else:
            pytest.fail("the guard did not recover once PostgreSQL took writes again")
        demo.guard.access_log.flush()
        with closing(psycopg.connect(url)) as db:
            logged = {str(p) for (p,) in db.execute("SELECT patient FROM entries WHERE kind = 'served'")}
        assert logged == {demo.guard.access_log.pseudonymise(f"pat-{n:04d}") for n in served}
        assert main(["audit", "verify", "--new", "--data-dir", str(tmp_path / "data"), "--database", url]) == 0
    finally:
        demo.guard.close()


def _statements(server: Any, since: int, table: str) -> int:
    """Statements the server logged since byte ``since`` of its log that read ``table``."""
    with (server.directory / "server.log").open("rb") as log:
        log.seek(since)
        return sum(f"FROM {table} ".encode() in line for line in log)


@pytest.mark.realpart
def test_a_protected_request_on_postgresql_reads_no_record_there_until_one_changes(postgres_server: Any, tmp_path: Path) -> None:
    """The account and the open emergencies are cached per process; a change anywhere (here: SQL) reaches the cache at once."""
    postgres_server.reset()
    url = postgres_server.url
    assert main(["db", "upgrade", "--database", url]) == 0
    demo = make_demo("asgi", tmp_path / "data", database=url)
    headers = {"x-forwarded-for": CAEN}
    try:
        client = demo.login("dr.martin")
        assert client.get("/patients/pat-0001", headers=headers).status_code == 200  # loads the cache
        with closing(psycopg.connect(url, autocommit=True)) as db:
            db.execute("ALTER SYSTEM SET log_statement = 'all'")
            db.execute("SELECT pg_reload_conf()")
            time.sleep(0.5)
            since = (postgres_server.directory / "server.log").stat().st_size
            for n in range(2, 7):
                assert client.get(f"/patients/pat-{n:04d}", headers=headers).status_code == 200
            assert _statements(postgres_server, since, "accounts") == 0
            assert _statements(postgres_server, since, "emergencies") == 0

            for status, expected in (("suspended", 403), ("active", 200)):  # changed as any host or command would
                db.execute("UPDATE accounts SET status = %s WHERE id = 'dr.martin'", (status,))
                changed = time.monotonic()
                wait_for(lambda expected=expected: client.get("/patients/pat-0007", headers=headers).status_code == expected, status, 5)
                assert time.monotonic() - changed < CHANGE_HEARD_S, (
                    f"{status}: the cache heard of it only after {time.monotonic() - changed:.3f} s"
                )
            assert _statements(postgres_server, since, "accounts") <= 4  # a load after each change (and one a race may add), no more
            db.execute("ALTER SYSTEM RESET log_statement")
            db.execute("SELECT pg_reload_conf()")
    finally:
        demo.guard.close()


@pytest.mark.realpart
def test_two_hosts_dispatching_one_postgresql_outbox_deliver_each_alert_once(
    postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Hosts fan out, claim (FOR UPDATE SKIP LOCKED) and lease the same rows at the same time; every alert reaches the sink once."""
    backend = LogBackend(tmp_path, postgres_url)
    log = AccessLog(backend.location, AuditSettings(key="a" * 48), "p" * 48)
    try:
        for n in range(60):  # one account each: 60 windows opened, 60 alerts queued
            log.event(f"dr.{n}", {"event": "authenticator_revoked"}, alert=("authenticator_revoked",), wait=False)
        log.flush()
    finally:
        log.close()
    hosts = [open_database(postgres_url) for _ in range(2)]
    dispatchers = [AlertDispatcher(host, AuditSettings()) for host in hosts]
    try:
        with caplog.at_level("WARNING", logger="accessguard.alerts"), ThreadPoolExecutor(max_workers=2) as pool:
            for _ in range(5):  # passes racing each other
                list(pool.map(lambda dispatcher: dispatcher.deliver_due(), dispatchers))
        delivered = [
            json.loads(r.getMessage().removeprefix("alert "))["alert_id"] for r in caplog.records if r.name == "accessguard.alerts"
        ]
        assert len(delivered) == 60 and len(set(delivered)) == 60
        assert pending_alerts(backend.location) == []
    finally:
        for host in hosts:
            host.close()
        backend.close()
