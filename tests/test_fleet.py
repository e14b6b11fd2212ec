"""A fleet: two demo processes ("hosts") with their own data directories sharing PostgreSQL and Redis, and the command line as a third."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.authenticators import BULK_PAGE, assertion, link_token, register
from tests.conftest import CAEN, _accounts
from tests.demo_process import ACCESSGUARD, demo_process, wait_for
from tests.softkey import SoftKey
from tests.store_support import store_url
from tests.test_demo_processes import log_in

PATIENT = "/patients/pat-0001"


def command(*args: str) -> str:
    """Run the command line (the third host); its output."""
    done = subprocess.run([ACCESSGUARD, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def host_dir(path: Path, keys_from: Path | None) -> Path:
    """A host's own data directory; every host but the first gets the first's keys (one fleet, one set of keys)."""
    path.mkdir()
    if keys_from is not None:
        shutil.copy(keys_from / "keys.json", path / "keys.json")
    return path


def origin(url: str) -> str:
    return url.replace("127.0.0.1", "localhost")  # the demo's public URL on loopback: where security keys are bound


@pytest.mark.realpart
@pytest.mark.slow
def test_two_hosts_share_accounts_keys_and_links_and_fail_closed_without_postgresql(
    postgres_server: Any, redis_server: Any, tmp_path: Path
) -> None:
    postgres_server.reset()
    database, store = postgres_server.url, store_url("redis", tmp_path, redis_server)
    shared = ("--database", database, "--store", store)
    command("db", "upgrade", "--database", database)
    dir_a = host_dir(tmp_path / "host-a", None)
    with demo_process(dir_a, tmp_path / "a.log", *shared) as (url_a, _):
        dir_b, dir_cli = host_dir(tmp_path / "host-b", dir_a), host_dir(tmp_path / "cli", dir_a)
        with demo_process(dir_b, tmp_path / "b.log", *shared) as (url_b, _), httpx.Client(base_url=url_a) as on_a:
            # an administrator's link from the command line enrols a security key through host A
            link = command("admin", "enroll-link", "dr.martin", "--base-url", origin(url_a), "--data-dir", str(dir_cli), *shared)
            token = link.strip().splitlines()[-1]
            assert on_a.post("/accessguard/enroll/link", json={"token": link_token(token)}).status_code == 200
            key = SoftKey()
            assert register(on_a, key, origin=origin(url_a)).status_code == 200

            # the key steps up on host B; its password is the one host A made
            martin = _accounts(dir_a)["dr.martin"]
            with httpx.Client(base_url=url_b) as on_b:
                assert on_b.post("/login", json={"username": "dr.martin", "password": martin.password}).status_code == 200
                assert assertion(on_b, key, origin=origin(url_b)).status_code == 200
                assert on_b.get(BULK_PAGE).status_code == 200

                # a session opened on host A works on host B
                bernard = {"cookie": log_in(url_a, dir_a, "dr.bernard")}
                assert httpx.get(url_b + PATIENT, headers=bernard).status_code == 200

                # suspended from the command line: refused on both hosts at the next request
                command("account", "suspend", "dr.martin", "--reason", "phished", "--data-dir", str(dir_cli), *shared)
                assert on_b.get(PATIENT).status_code == 403
                assert httpx.get(url_a + PATIENT, headers=_cookie(on_b)).status_code == 403

            # PostgreSQL down: both hosts fail closed; back by themselves when it returns
            postgres_server.stop()
            try:
                for url in (url_a, url_b):
                    assert httpx.get(url + PATIENT, headers=bernard, timeout=30).status_code == 503
                    login = httpx.post(url + "/login", json={"username": "dr.bernard", "password": "whatever it is"}, timeout=30)
                    assert login.status_code == 503, login.text  # the guard's pages say the service is unavailable
            finally:
                postgres_server.start()
            for url in (url_a, url_b):
                wait_for(lambda url=url: httpx.get(url + PATIENT, headers=bernard, timeout=30).status_code == 200, "recovery", 30)


def _cookie(client: httpx.Client) -> dict[str, str]:
    """The client's session cookie, to present to another host."""
    return {"cookie": next(f"{c.name}={c.value}" for c in client.cookies.jar if c.name == "accessguard_session")}


#: A process appending to the fleet's access log as fast as it can (a fourth host, say); prints what is acknowledged.
_APPENDER = textwrap.dedent(
    """
    import sys, time
    from accessguard.audit.access_log import AccessLog, AuditUnavailable
    from accessguard.audit.settings import AuditSettings
    from accessguard.database import open_database
    url, name, audit_key, pseudonym_key = sys.argv[1:5]
    log = AccessLog(open_database(url), AuditSettings(key=audit_key), pseudonym_key, prune=False)
    n = 0
    while True:
        for _ in range(20):
            log.served(None, name, "patients.read", [f"{name}-{n}"], time.time())
            n += 1
        try:
            log.flush(timeout=60)
        except AuditUnavailable:
            continue  # PostgreSQL away: the entries stay queued, and are never reported acknowledged before they are
        print(n, flush=True)  # everything up to n is acknowledged
    """
)


def _appender(database: str, name: str, keys: dict[str, str]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    argv = [sys.executable, "-c", _APPENDER, database, name, keys["audit_key"], keys["pseudonym_key"]]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)


def _acknowledged(process: subprocess.Popen[str], at_least: int) -> int:
    """Read the appender's reports until it has acknowledged ``at_least`` entries; the last count."""
    assert process.stdout is not None
    count = 0
    while count < at_least:
        line = process.stdout.readline()
        assert line, "an appender died"
        count = int(line)
    return count


@pytest.mark.realpart
@pytest.mark.slow
def test_four_processes_append_to_one_chain_through_an_outage_and_one_scope_sees_both_hosts(
    postgres_server: Any, redis_server: Any, tmp_path: Path
) -> None:
    postgres_server.reset()
    database, store = postgres_server.url, store_url("redis", tmp_path, redis_server)
    shared = ("--database", database, "--store", store)
    command("db", "upgrade", "--database", database)
    dir_a = host_dir(tmp_path / "host-a", None)
    with demo_process(dir_a, tmp_path / "a.log", *shared) as (url_a, _):
        dir_b, dir_cli = host_dir(tmp_path / "host-b", dir_a), host_dir(tmp_path / "cli", dir_a)
        keys = json.loads((dir_a / "keys.json").read_text())
        with demo_process(dir_b, tmp_path / "b.log", *shared) as (url_b, _):
            appenders = {name: _appender(database, name, keys) for name in ("alpha", "beta")}
            try:
                headers = {"cookie": log_in(url_a, dir_a, "dr.bernard"), "x-forwarded-for": CAEN}
                served: set[int] = set()

                def read(n: int) -> int:
                    status = httpx.get(f"{(url_a, url_b)[n % 2]}/patients/pat-{n:04d}", headers=headers, timeout=30).status_code
                    if status == 200:
                        served.add(n)
                    return status

                with ThreadPoolExecutor(max_workers=4) as pool:  # both hosts read while both appenders append
                    assert list(pool.map(read, range(1, 9))) == [200] * 8
                for process in appenders.values():
                    _acknowledged(process, 200)

                # PostgreSQL stops mid-run: both hosts refuse; the appenders' queued entries wait; back without a restart
                postgres_server.stop()
                try:
                    assert read(9) == 503 and read(10) == 503
                    time.sleep(2)  # the writers retry meanwhile
                finally:
                    postgres_server.start()
                for n in (11, 12):
                    wait_for(lambda n=n: read(n) == 200, f"host {'AB'[n % 2]} to serve again", 30)
                acknowledged = {name: _acknowledged(process, 400) for name, process in appenders.items()}

                # each host caches the account; a change in PostgreSQL alone (no store) reaches both within a request or so
                with psycopg.connect(database, autocommit=True) as db:
                    for status, expected in (("suspended", 403), ("active", 200)):
                        db.execute("UPDATE accounts SET status = %s WHERE id = 'dr.bernard'", (status,))
                        for n in (13, 14):
                            wait_for(lambda n=n, expected=expected: read(n) == expected, f"host {'AB'[n % 2]} to see {status}", 2)
            finally:
                for process in appenders.values():
                    process.send_signal(signal.SIGKILL)
                    process.wait()
                    assert process.stdout is not None
                    process.stdout.close()

            # one scope over both hosts: every read either served is there, whichever host logged it, outage or not
            def scoped() -> set[int]:
                found = json.loads(
                    command(
                        "audit",
                        "scope",
                        "--subject",
                        "dr.bernard",
                        "--since",
                        "1h",
                        "--format",
                        "json",
                        "--data-dir",
                        str(dir_cli),
                        "--database",
                        database,
                    )
                )
                return {int(record["patient"].removeprefix("pat-")) for record in found}

            wait_for(lambda: scoped() == served, "every served read in the fleet's log", 30)
            assert {n % 2 for n in served} == {0, 1}  # through both hosts

    # one chain: four processes appended to it concurrently, and it verifies; no acknowledged entry is missing
    with psycopg.connect(database) as db:
        for name, count in acknowledged.items():
            stored = db.execute("SELECT count(*) FROM entries WHERE subject = %s", (name,)).fetchone()
            assert stored is not None and stored[0] >= count, f"{name}: {count} acknowledged, {stored} stored"
    verified = command("audit", "verify", "--new", "--data-dir", str(dir_cli), "--database", database)
    assert verified.startswith("ok: entries #1..#"), verified
