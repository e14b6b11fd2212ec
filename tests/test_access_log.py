"""The access log: hash chain, signed checkpoints, tampering caught, retention, durability, fail-closed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pyotp
import pytest
from starlette.testclient import TestClient

from accessguard.audit.access_log import AccessLog, AuditUnavailable, DecisionRecord
from accessguard.audit.alerts import alert_log
from accessguard.audit.chain import GENESIS, CheckpointSigner, Entry
from accessguard.audit.settings import AuditSettings
from accessguard.audit.verify import Verification, verify
from accessguard.decision import Decision, Outcome
from accessguard.demo.app import build, demo_settings, demo_witness
from accessguard.errors import ConfigurationError
from accessguard.guard import Guard
from tests.audit_support import LogBackend, run_cli
from tests.conftest import CAEN, Clock, _accounts, _copy_demo

AUDIT_KEY = "a" * 48
PSEUDONYM_KEY = "p" * 48
RETENTION_S = 365 * 86400.0
ENTRIES = 60  # 20 decisions, each followed by 2 served records


def _write_keys(data_dir: Path) -> None:
    (data_dir / "keys.json").write_text(json.dumps({"audit_key": AUDIT_KEY, "pseudonym_key": PSEUDONYM_KEY}))


def _fill(log: AccessLog, clock: Clock, rounds: int, start: int = 0) -> None:
    for n in range(start, start + rounds):
        decision = Decision(Outcome.ALLOW, (), "sha256:test")
        log.write(DecisionRecord(f"d{n}", clock(), "inf.dubois", "patients.search", "192.0.2.10", (), decision, 90))
        log.served(f"d{n}", "inf.dubois", "patients.search", [f"pat-{2 * n:04d}", f"pat-{2 * n + 1:04d}"], clock())
        clock.advance(10)
    log.flush()


@pytest.fixture
def logged(tmp_path: Path) -> Iterator[tuple[Path, Clock]]:
    """A closed access log of 60 entries, checkpoints every 10, written at clock time."""
    clock = Clock()
    log = AccessLog(tmp_path / "audit.db", AuditSettings(key=AUDIT_KEY, checkpoint_every=10), PSEUDONYM_KEY, clock)
    for _ in range(ENTRIES // 3):
        _fill(log, clock, 1)  # one commit per round: a checkpoint every 10 entries or so
    log.close()
    _write_keys(tmp_path)
    yield tmp_path, clock


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.realpart)])
def logged_on(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LogBackend, Clock]]:
    """``logged``, on SQLite (audit.db) and on PostgreSQL (a fleet's one log): the chain and its checks are the same code."""
    backend = LogBackend(tmp_path, request.getfixturevalue("postgres_url") if request.param == "postgresql" else None)
    clock = Clock()
    log = AccessLog(backend.location, AuditSettings(key=AUDIT_KEY, checkpoint_every=10), PSEUDONYM_KEY, clock)
    for _ in range(ENTRIES // 3):
        _fill(log, clock, 1)
    log.close()
    _write_keys(tmp_path)
    yield backend, clock
    backend.close()


def _verify_on(backend: LogBackend, now: float) -> Verification:
    return verify(backend.location, CheckpointSigner(AUDIT_KEY, PSEUDONYM_KEY), now=now, retention_s=RETENTION_S)


def _verify(path: Path, now: float) -> Verification:
    return verify(path / "audit.db", CheckpointSigner(AUDIT_KEY, PSEUDONYM_KEY), now=now, retention_s=RETENTION_S)


def _sql(path: Path, *statements: str) -> None:
    with sqlite3.connect(path / "audit.db") as db:
        for statement in statements:
            db.execute(statement)


def test_untouched_log_verifies(logged_on: tuple[LogBackend, Clock]) -> None:
    backend, clock = logged_on
    result = _verify_on(backend, clock.now)
    assert result.ok, result.problem
    assert (result.entries, result.first_seq, result.last_seq) == (ENTRIES, 1, ENTRIES)
    assert result.checkpoints >= 5
    code, out, _ = backend.cli("audit", "verify")
    assert code == 0 and out.startswith("ok: entries #1..#60")


def _swap(seq_a: int, seq_b: int) -> tuple[str, ...]:
    return (
        f"UPDATE entries SET seq = -1 WHERE seq = {seq_a}",
        f"UPDATE entries SET seq = {seq_a} WHERE seq = {seq_b}",
        f"UPDATE entries SET seq = {seq_b} WHERE seq = -1",
    )


TAMPERING: dict[str, tuple[tuple[str, ...], int, str]] = {
    "edit a subject": (("UPDATE entries SET subject = 'someone.else' WHERE seq = 23",), 23, "altered"),
    "hide a patient": (("UPDATE entries SET patient = 'p_0' WHERE seq = 23",), 23, "altered"),
    "edit a decision": (("UPDATE entries SET detail = replace(detail, 'allow', 'deny') WHERE seq = 22",), 22, "altered"),
    "edit a stored hash": (("UPDATE entries SET hash = zeroblob(32) WHERE seq = 23",), 23, "altered"),
    "delete one entry": (("DELETE FROM entries WHERE seq = 23",), 23, "missing"),
    "delete a range": (("DELETE FROM entries WHERE seq BETWEEN 23 AND 27",), 23, "missing"),
    "reorder two entries": (_swap(23, 24), 23, "altered or moved"),
    "truncate the end": (("DELETE FROM entries WHERE seq > 45",), 46, "truncated"),
    "truncate the end and the head": (("DELETE FROM entries WHERE seq > 45", "DELETE FROM head"), 46, "head is missing"),
    "truncate the start": (("DELETE FROM entries WHERE seq <= 5",), 1, "missing"),
    "delete every entry": (("DELETE FROM entries",), 1, "before their retention period ended"),
    "forge the head": (("UPDATE head SET seq = 61",), 61, "bad signature"),
    "forge a checkpoint": (
        ("UPDATE checkpoints SET time = time + 1 WHERE seq = (SELECT min(seq) FROM checkpoints)",),
        None,
        "bad signature",
    ),
}


@pytest.mark.parametrize("name", TAMPERING)
def test_tampering_is_caught_and_the_first_bad_entry_named(logged_on: tuple[LogBackend, Clock], name: str) -> None:
    backend, clock = logged_on
    statements, bad_entry, words = TAMPERING[name]
    backend.sql(*statements)
    result = _verify_on(backend, clock.now)
    assert not result.ok
    assert words in (result.problem or "")
    if bad_entry is not None:
        assert result.bad_entry == bad_entry, result.problem
    code, out, _ = backend.cli("audit", "verify")
    assert code == 1 and out.startswith("TAMPERED:")


def _checkpoint_seqs(path: Path) -> list[int]:
    with sqlite3.connect(path / "audit.db") as db:
        return [int(r[0]) for r in db.execute("SELECT seq FROM checkpoints ORDER BY seq")]


def test_removing_whole_checkpointed_blocks_within_retention_is_caught(logged: tuple[Path, Clock]) -> None:
    """Cutting the start exactly at a signed checkpoint looks like retention pruning, but the period has not ended."""
    path, clock = logged
    anchor = _checkpoint_seqs(path)[1]
    _sql(path, f"DELETE FROM entries WHERE seq <= {anchor}")
    result = _verify(path, clock.now)
    assert not result.ok and "before their retention period ended" in (result.problem or "")


def _recompute_chain(backend: LogBackend, edit: Callable[[Entry], Entry]) -> None:
    """What an attacker without the audit key can do: edit, then recompute every hash (the signatures stay as they were)."""
    rows = backend.sql("SELECT seq, time, kind, subject, route, patient, decision_id, detail FROM entries ORDER BY seq")
    chain = GENESIS
    updates = []
    for row in rows:
        entry = edit(Entry(*row))  # type: ignore[arg-type]
        chain = entry.chained_to(chain)
        update = "UPDATE entries SET subject = ?, patient = ?, hash = ? WHERE seq = ?"
        updates.append((update, (entry.subject, entry.patient, chain, entry.seq)))
    backend.sql(*updates)


def test_a_rewritten_chain_does_not_match_the_signed_checkpoints(logged_on: tuple[LogBackend, Clock]) -> None:
    backend, clock = logged_on

    def hide(entry: Entry) -> Entry:
        return (
            Entry(entry.seq, entry.time, entry.kind, entry.subject, entry.route, "p_hidden", entry.decision_id, entry.detail)
            if entry.seq == 23
            else entry
        )

    _recompute_chain(backend, hide)
    result = _verify_on(backend, clock.now)
    assert not result.ok
    assert "rewritten" in (result.problem or "")
    before = max(int(str(seq)) for (seq,) in backend.sql("SELECT seq FROM checkpoints") if int(str(seq)) < 23)
    assert result.bad_entry == before + 1  # the first entry after the last checkpoint that still holds


def _log_with_an_old_head(tmp_path: Path, clock: Clock) -> tuple[object, ...]:
    """Ten entries in ``tmp_path/audit.db``; returns the head row as it was after the fourth."""
    log = AccessLog(tmp_path / "audit.db", AuditSettings(key=AUDIT_KEY, checkpoint_every=10), PSEUDONYM_KEY, clock)
    _fill(log, clock, 4)
    with sqlite3.connect(tmp_path / "audit.db") as db:
        old_head: tuple[object, ...] = db.execute("SELECT seq, time, hash, signature FROM head").fetchone()
    _fill(log, clock, 6, start=4)
    log.close()
    return old_head


def test_replaying_an_old_head_after_truncation_is_caught(tmp_path: Path) -> None:
    clock = Clock()
    old_head = _log_with_an_old_head(tmp_path, clock)
    _sql(tmp_path, f"DELETE FROM entries WHERE seq > {old_head[0]}", "DELETE FROM head")
    with sqlite3.connect(tmp_path / "audit.db") as db:
        db.execute("INSERT INTO head VALUES (1, ?, ?, ?, ?)", old_head)
    result = _verify(tmp_path, clock.now)
    assert not result.ok and "truncated" in (result.problem or "")


def test_an_external_checkpoint_catches_what_the_file_alone_cannot(tmp_path: Path) -> None:
    """Cutting the end together with its checkpoints and re-planting an older head leaves a consistent, shorter file."""
    clock = Clock()
    old_head = _log_with_an_old_head(tmp_path, clock)
    _write_keys(tmp_path)
    with sqlite3.connect(tmp_path / "audit.db") as db:
        seq, digest = db.execute("SELECT seq, hash FROM head").fetchone()  # e.g. from the application log
    expect = f"{seq}:{bytes(digest).hex()}"
    assert run_cli("audit", "verify", "--data-dir", str(tmp_path), "--expect", expect)[0] == 0
    _sql(
        tmp_path, f"DELETE FROM entries WHERE seq > {old_head[0]}", f"DELETE FROM checkpoints WHERE seq > {old_head[0]}", "DELETE FROM head"
    )
    with sqlite3.connect(tmp_path / "audit.db") as db:
        db.execute("INSERT INTO head VALUES (1, ?, ?, ?, ?)", old_head)
    assert run_cli("audit", "verify", "--data-dir", str(tmp_path))[0] == 0  # the documented limit of a file on its own
    code, out, _ = run_cli("audit", "verify", "--data-dir", str(tmp_path), "--expect", expect)
    assert code == 1 and "external checkpoint" in out


def test_retention_prunes_to_a_signed_anchor_and_the_rest_still_verifies(tmp_path: Path) -> None:
    clock = Clock()
    settings = AuditSettings(key=AUDIT_KEY, checkpoint_every=1, retention_days=365)
    log = AccessLog(tmp_path / "audit.db", settings, PSEUDONYM_KEY, clock)
    _fill(log, clock, 10)  # 30 entries, a year and more ago, ending on a checkpoint
    log.close()
    clock.advance(400 * 86400)
    log = AccessLog(tmp_path / "audit.db", settings, PSEUDONYM_KEY, clock)
    _fill(log, clock, 3, start=10)
    log.close()  # the writer prunes after its first commit
    result = _verify(tmp_path, clock.now)
    assert result.ok, result.problem
    assert result.first_seq == 31 and result.last_seq == 39
    with sqlite3.connect(tmp_path / "audit.db") as db:
        assert db.execute("SELECT count(*) FROM patients").fetchone()[0] == 6  # the old patients' sealed ids are gone too


def test_emptying_the_log_is_caught_unless_retention_did_it(tmp_path: Path) -> None:
    """Every entry deleted, the head and the checkpoint it ends on left in place: only retention may do that."""
    clock = Clock()
    log = AccessLog(tmp_path / "audit.db", AuditSettings(key=AUDIT_KEY, checkpoint_every=3), PSEUDONYM_KEY, clock)
    _fill(log, clock, 4)  # one commit of 12 entries, ending on a checkpoint at the head
    log.close()
    _write_keys(tmp_path)
    assert _checkpoint_seqs(tmp_path)[-1] == 12
    _sql(tmp_path, "DELETE FROM entries")
    result = _verify(tmp_path, clock.now)
    assert not result.ok and result.bad_entry == 1, result.problem
    assert "retention" in (result.problem or "")
    code, out, _ = run_cli("audit", "verify", "--data-dir", str(tmp_path))
    assert code == 1 and out.startswith("TAMPERED: entries #1..#12")
    assert _verify(tmp_path, clock.now + RETENTION_S + 60).ok  # the same file, once the retention period is over


def test_no_clear_patient_id_is_stored_anywhere_in_the_files(logged: tuple[Path, Clock]) -> None:
    path, _ = logged
    raw = b"".join(p.read_bytes() for p in path.glob("audit.db*"))
    assert b"pat-00" not in raw


def test_a_full_backlog_refuses_and_loses_nothing(tmp_path: Path) -> None:
    clock = Clock()
    log = AccessLog(tmp_path / "audit.db", AuditSettings(key=AUDIT_KEY, max_backlog=3), PSEUDONYM_KEY, clock)
    blocker = sqlite3.connect(tmp_path / "audit.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # the disk is stuck: the writer cannot commit
    decision = Decision(Outcome.ALLOW, (), "sha256:test")
    for n in range(3):
        log.write(DecisionRecord(f"d{n}", clock(), "inf.dubois", "patients.read", None, (), decision, 90))
    with pytest.raises(AuditUnavailable):
        log.write(DecisionRecord("d9", clock(), "inf.dubois", "patients.read", None, (), decision, 90))
    log.served("d2", "inf.dubois", "patients.read", ["pat-0002"], clock())  # the records of an admitted request are out: never refused
    blocker.execute("ROLLBACK")
    blocker.close()
    log.flush(timeout=30)
    log.close()
    with sqlite3.connect(tmp_path / "audit.db") as db:
        assert [k for (k,) in db.execute("SELECT kind FROM entries ORDER BY seq")] == ["decision"] * 3 + ["served"]


_WRITER = textwrap.dedent(
    """
    import sys, time
    from accessguard.audit.access_log import AccessLog
    from accessguard.audit.settings import AuditSettings
    path, name, audit_key, pseudonym_key = sys.argv[1:5]
    log = AccessLog(path, AuditSettings(key=audit_key, checkpoint_every=100), pseudonym_key)
    n = 0
    while True:
        for _ in range(25):
            log.served(None, name, "patients.read", [f"{name}-{n}"], time.time())
            n += 1
        log.flush()
        print(n, flush=True)  # everything up to n is acknowledged
    """
)


@pytest.mark.slow
def test_no_acknowledged_entry_is_lost_when_writers_are_killed(tmp_path: Path) -> None:
    """Two processes append to one log; each is killed with SIGKILL mid-stream."""
    path = tmp_path / "audit.db"
    AccessLog(path, AuditSettings(key=AUDIT_KEY), PSEUDONYM_KEY).close()  # create it before the race
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    writers = {
        name: subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), name, AUDIT_KEY, PSEUDONYM_KEY], stdout=subprocess.PIPE, text=True, env=env
        )
        for name in ("alpha", "beta")
    }
    acknowledged = {}
    for target, name in ((1000, "alpha"), (2000, "beta")):
        process = writers[name]
        assert process.stdout is not None
        count = 0
        while count < target:
            line = process.stdout.readline()
            assert line, f"writer {name} died"
            count = int(line)
        process.send_signal(signal.SIGKILL)
        process.wait()
        rest = process.stdout.read().split()
        acknowledged[name] = int(rest[-1]) if rest else count
    with sqlite3.connect(path) as db:
        for name, count in acknowledged.items():
            stored = db.execute("SELECT count(*) FROM entries WHERE subject = ?", (name,)).fetchone()[0]
            assert stored >= count, f"{name}: {count} acknowledged, {stored} stored"
    result = verify(path, CheckpointSigner(AUDIT_KEY, PSEUDONYM_KEY), now=0, retention_s=RETENTION_S)
    assert result.ok, result.problem


def test_the_guard_refuses_rather_than_serve_unlogged(demo_template: Path, tmp_path: Path) -> None:
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    clock = Clock()
    app, guard = build(data_dir, clock=clock, audit=AuditSettings(max_backlog=2))
    try:
        client = TestClient(app, client=("127.0.0.1", 40000), base_url="http://localhost")
        doctor = _accounts(data_dir)["dr.martin"]
        assert client.post("/login", json={"username": "dr.martin", "password": doctor.password}).status_code == 200
        assert client.post("/accessguard/step-up/totp", json={"code": pyotp.TOTP(doctor.totp_secret).at(int(clock.now))}).status_code == 200
        blocker = sqlite3.connect(data_dir / "audit.db", isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")  # the access log cannot commit
        assert client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN}).status_code == 200  # decision + served queued
        refused = client.get("/patients/pat-0002", headers={"x-forwarded-for": CAEN})
        assert refused.status_code == 503 and refused.headers["content-type"] == "application/problem+json"
        blocker.execute("ROLLBACK")
        blocker.close()
        guard.access_log.flush(timeout=30)
    finally:
        guard.close()
    with sqlite3.connect(data_dir / "audit.db") as db:
        kinds = [kind for (kind,) in db.execute("SELECT kind FROM entries ORDER BY seq")]
    assert kinds == ["event", "event", "decision", "served"]  # the sign-ins (password, code), then the one request served


def test_a_guard_restarted_with_another_audit_key_stops_at_start_and_writes_nothing(demo_template: Path, tmp_path: Path) -> None:
    """Appending under another key would sign a head that verifies under neither key: tampering reported for good."""
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    guard = Guard(demo_settings(data_dir))
    guard.access_log.event("soc", {"event": "shift_started"})  # a head, signed with the service's audit key
    guard.close()
    with sqlite3.connect(data_dir / "audit.db") as db:
        before = db.execute("SELECT * FROM head").fetchall() + db.execute("SELECT count(*) FROM entries").fetchall()
    other_key = "o" * 48
    with pytest.raises(ConfigurationError) as refused:
        Guard(demo_settings(data_dir, audit=AuditSettings(key=other_key)))
    message = str(refused.value)
    assert str(data_dir / "audit.db") in message and "audit key" in message and "does not verify" in message
    assert other_key not in message and json.loads((data_dir / "keys.json").read_text())["audit_key"] not in message
    with sqlite3.connect(data_dir / "audit.db") as db:
        assert db.execute("SELECT * FROM head").fetchall() + db.execute("SELECT count(*) FROM entries").fetchall() == before
    code, out, _ = run_cli("audit", "verify", "--data-dir", str(data_dir))
    assert code == 0, out
    Guard(demo_settings(data_dir)).close()  # the key that wrote it still starts


def test_a_start_up_error_after_the_log_opened_leaves_nothing_running(
    demo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Guard that fails half-built closes what it opened: no writer thread, no alert filter, a log that verifies."""
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    filters = list(alert_log.filters)

    def broken(*args: object, **kwargs: object) -> None:
        raise ConfigurationError("a later start-up step failed")

    monkeypatch.setattr("accessguard.guard.Ceremonies", broken)  # a fault injected after the access log started
    with pytest.raises(ConfigurationError, match="later start-up step"):
        Guard(demo_settings(data_dir))
    running = {thread.name for thread in threading.enumerate()}
    assert not running & {"accessguard-access-log", "accessguard-alerts", "accessguard-witness"}
    assert alert_log.filters == filters
    monkeypatch.undo()
    Guard(demo_settings(data_dir)).close()  # the data directory is left usable
    assert run_cli("audit", "verify", "--data-dir", str(data_dir), "--witness", str(demo_witness(data_dir)))[0] == 0  # empty, as witnessed


def test_a_clock_giving_whole_seconds_still_signs_what_verifies(tmp_path: Path) -> None:
    """Checkpoints and the head are signed over the time as stored (a REAL): an int from the clock must not change it."""
    whole_seconds = Clock(1_790_000_000)  # an int, as `created + 3600` of an authenticator gives
    log = AccessLog(tmp_path / "audit.db", AuditSettings(key=AUDIT_KEY, checkpoint_every=3), PSEUDONYM_KEY, whole_seconds)
    _fill(log, whole_seconds, 2)
    log.close()
    result = _verify(tmp_path, whole_seconds.now)
    assert result.ok and result.checkpoints >= 1, result.problem
