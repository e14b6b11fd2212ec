"""The demo as a newcomer meets it: its data directory, and `accessguard demo` walked over real HTTP."""

from __future__ import annotations

import json
import re
import sqlite3
import stat
from collections import Counter
from contextlib import closing
from pathlib import Path

import httpx
import pyotp
import pytest

from accessguard.demo.app import build
from tests.conftest import CAEN, LAGOS, _copy_demo
from tests.demo_process import demo_process, wait_for


def test_the_data_directory_holds_a_french_patient_directory(demo_template: Path) -> None:
    with closing(sqlite3.connect(demo_template / "patients.db")) as db:
        db.row_factory = sqlite3.Row
        patients = [dict(row) for row in db.execute("SELECT * FROM patients")]
    assert 900 <= len(patients) <= 1100
    assert len({p["id"] for p in patients}) == len({p["ins"] for p in patients}) == len(patients)
    for patient in patients:
        ins, birth = patient["ins"], patient["birth_date"]
        assert re.fullmatch(r"[12]\d{14}", ins), patient
        assert int(ins[13:]) == 97 - int(ins[:13]) % 97, patient  # the NIR control key
        assert (ins[1:3], ins[3:5]) == (birth[2:4], birth[5:7]), patient  # year and month of birth
        assert re.fullmatch(r"\+33 \d( \d\d){4}", patient["phone"]) and patient["email"].endswith("@example.fr"), patient
        assert patient["first_name"] and patient["last_name"], patient


def test_the_accounts_file_lists_professionals_and_an_admin(demo_template: Path) -> None:
    path = demo_template / "demo-accounts.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # passwords and TOTP secrets
    accounts = json.loads(path.read_text())
    assert all(set(a) == {"username", "password", "role", "totp_secret"} for a in accounts)
    roles = Counter(a["role"] for a in accounts)
    assert roles.pop("admin") == 1
    assert sum(roles.values()) >= 6 and len(roles) >= 2 and max(roles.values()) >= 2
    for account in accounts:
        pyotp.TOTP(account["totp_secret"]).now()  # a valid base32 seed


def test_passwords_are_stored_as_memory_hard_argon2id_hashes(demo_template: Path) -> None:
    accounts = json.loads((demo_template / "demo-accounts.json").read_text())
    with closing(sqlite3.connect(demo_template / "accounts.db")) as db:
        hashes = dict(db.execute("SELECT id, password_hash FROM accounts").fetchall())
    for account in accounts:
        stored = hashes[account["username"]]
        parameters = dict(p.split("=") for p in stored.split("$")[3].split(","))
        assert stored.startswith("$argon2id$") and int(parameters["m"]) >= 19 * 1024, stored  # KiB: OWASP's floor
        assert account["password"] not in stored


def test_a_later_start_reuses_the_data_directory(demo_template: Path, tmp_path: Path) -> None:
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    before = {name: (data_dir / name).read_bytes() for name in ("demo-accounts.json", "keys.json")}
    _, guard = build(data_dir)
    guard.close()
    assert {name: (data_dir / name).read_bytes() for name in before} == before
    with closing(sqlite3.connect(data_dir / "patients.db")) as db:
        assert db.execute("SELECT count(*) FROM patients").fetchone()[0] == 1000


def _ip_of_read_decision(data_dir: Path, number: int) -> str | None:
    """The client address logged with the ``number``-th decision on ``patients.read`` (1-based)."""

    def read_decisions() -> list[str]:
        with closing(sqlite3.connect(data_dir / "audit.db")) as db:
            rows = db.execute("SELECT detail FROM entries WHERE kind = 'decision' AND route = 'patients.read' ORDER BY seq").fetchall()
        return [row[0] for row in rows]

    wait_for(lambda: len(read_decisions()) >= number, f"{number} read decisions in the access log")
    ip: str | None = json.loads(read_decisions()[number - 1])["ip"]
    return ip


@pytest.mark.slow
def test_the_newcomer_walk_through_the_demo_command(demo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """README's walk on `accessguard demo`: log in, challenged, TOTP, read, Lagos seconds after Caen, paging stopped.

    The server is told to believe X-Forwarded-For from anyone (``FORWARDED_ALLOW_IPS``):
    the demo must still trust it from 127.0.0.1 only, as the guard's settings say.
    """
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    account = next(a for a in json.loads((data_dir / "demo-accounts.json").read_text()) if a["username"] == "dr.bernard")
    log = tmp_path / "demo.log"
    with demo_process(data_dir, log) as (url, _), httpx.Client(base_url=url) as client:
        assert re.match(rf"accessguard demo: http://localhost:{url.rsplit(':', 1)[1]} ", log.read_text())
        assert client.post("/login", json={"username": "dr.bernard", "password": account["password"]}).status_code == 200
        challenged = client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN})
        assert challenged.status_code == 401 and challenged.json()["reasons"] == ["mfa_required"]
        assert 'error="insufficient_user_authentication"' in challenged.headers["www-authenticate"]
        code = pyotp.TOTP(account["totp_secret"]).now()
        assert client.post("/accessguard/step-up/totp", json={"code": code}).status_code == 200
        assert client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN}).status_code == 200
        lagos = client.get("/patients/pat-0002", headers={"x-forwarded-for": LAGOS})
        assert lagos.status_code == 401 and "impossible_travel" in lagos.json()["reasons"]

        with httpx.Client(base_url=url, cookies=client.cookies, transport=httpx.HTTPTransport(local_address="127.0.0.5")) as spoofer:
            spoofed = spoofer.get("/patients/pat-0003", headers={"x-forwarded-for": CAEN})
        assert spoofed.status_code == 200  # a loopback address resolves nowhere
        assert _ip_of_read_decision(data_dir, 4) == "127.0.0.5"  # not the header of a peer that is no trusted proxy

        served = 2
        for offset in range(0, 1000, 20):
            page = client.get("/patients", params={"limit": 20, "offset": offset}, headers={"x-forwarded-for": CAEN})
            if page.status_code != 200:
                break
            served += len(page.json()["patients"])
        assert page.status_code == 401 and page.json()["reasons"] == ["bulk_read_soft_limit"]
        assert served <= 60  # a doctor's soft limit is 50 distinct patients an hour
