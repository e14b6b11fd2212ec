"""The access log's witness: a rollback or a wipe of ``audit.db`` fails ``audit verify``; publication failing fails closed."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from accessguard.audit.chain import Checkpoint
from accessguard.audit.settings import AuditSettings
from accessguard.audit.witness_file import FileWitness, read_witness_file
from accessguard.demo.app import demo_settings, demo_witness
from accessguard.errors import ConfigurationError
from accessguard.guard import Guard
from tests.audit_support import run_cli
from tests.conftest import CAEN, Demo, _copy_demo, make_demo


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Iterator[Demo]:
    """The ASGI demo; tests close its guard early, to tamper with a log at rest (closing twice is harmless)."""
    demo = make_demo("asgi", _copy_demo(demo_template, tmp_path / "data"))
    yield demo
    demo.guard.close()


def _read(client: httpx.Client, count: int) -> None:
    """``count`` patient reads: a decision and a served record each."""
    for n in range(count):
        assert client.get(f"/patients/pat-{n + 1:04d}", headers={"x-forwarded-for": CAEN}).status_code == 200


def _verify(data_dir: Path, *options: str) -> tuple[int, str, str]:
    return run_cli("audit", "verify", "--data-dir", str(data_dir), *options)


def _witness(data_dir: Path) -> tuple[str, str]:
    return ("--witness", str(demo_witness(data_dir)))


def _head(data_dir: Path) -> tuple[int, float, bytes, str]:
    with sqlite3.connect(data_dir / "audit.db") as db:
        row: tuple[int, float, bytes, str] = db.execute("SELECT seq, time, hash, signature FROM head").fetchone()
    return row


def _sql(data_dir: Path, statement: str, *args: object) -> None:
    with sqlite3.connect(data_dir / "audit.db") as db:
        db.execute(statement, args)


def test_a_normal_log_reaches_and_matches_its_witness(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = demo.guard.settings.data_dir
    _read(demo.login("inf.dubois"), 5)
    demo.guard.close()
    last = _head(data_dir)[0]
    lines = [json.loads(line) for line in demo_witness(data_dir).read_text().splitlines()]
    assert lines[-1]["label"] == "head" and lines[-1]["seq"] == last  # the last head is witnessed at close
    code, out, err = _verify(data_dir, *_witness(data_dir))
    assert code == 0 and out.startswith(f"ok: entries #1..#{last}") and "witnessed points reached and matched" in out, out
    assert "UNPROVEN" not in err
    monkeypatch.setenv("ACCESSGUARD_AUDIT_WITNESS", str(demo_witness(data_dir)))
    assert _verify(data_dir) == (code, out, err)  # the same witness, named by the environment
    monkeypatch.delenv("ACCESSGUARD_AUDIT_WITNESS")
    code, out, err = _verify(data_dir)
    assert code == 0 and "witnessed" not in out
    assert "WARNING: no witness given" in err and "freshness is UNPROVEN" in err  # loud, on stderr


def test_a_rollback_to_an_older_head_fails_naming_the_entries_gone(demo: Demo) -> None:
    """Save the head row, read six patients (12 entries), put the old head back and delete what followed."""
    data_dir = demo.guard.settings.data_dir
    client = demo.login("inf.dubois")
    _read(client, 2)
    demo.guard.access_log.flush()
    old_head = _head(data_dir)
    _read(client, 6)
    demo.guard.close()
    assert _head(data_dir)[0] == old_head[0] + 12
    assert _verify(data_dir, *_witness(data_dir))[0] == 0
    _sql(data_dir, "DELETE FROM entries WHERE seq > ?", old_head[0])
    _sql(data_dir, "DELETE FROM checkpoints WHERE seq > ?", old_head[0])
    _sql(data_dir, "DELETE FROM head")
    _sql(data_dir, "INSERT INTO head VALUES (1, ?, ?, ?, ?)", *old_head)
    assert _verify(data_dir)[0] == 0  # the file alone: a shorter log, consistent and signed
    code, out, _ = _verify(data_dir, *_witness(data_dir))
    assert code == 1 and out.startswith(f"TAMPERED: rolled back: the log ends at #{old_head[0]}, but {demo_witness(data_dir)}:"), out
    assert f"the newest 12 entries (#{old_head[0] + 1}..#{old_head[0] + 12}) are gone" in out
    with pytest.raises(ConfigurationError, match=f"ends at #{old_head[0]} but its witness .* holds #{old_head[0] + 12}"):
        Guard(demo_settings(data_dir))  # nor does the guard append to it, forking the chain the witness holds


def test_a_wiped_log_fails_against_its_witness_and_is_unproven_without(demo: Demo) -> None:
    data_dir = demo.guard.settings.data_dir
    _read(demo.login("inf.dubois"), 3)
    demo.guard.close()
    last = _head(data_dir)[0]
    for table in ("entries", "head", "checkpoints"):
        _sql(data_dir, f"DELETE FROM {table}")
    code, out, _ = _verify(data_dir, *_witness(data_dir))
    assert code == 1 and "rolled back: the log is empty" in out and f"the newest {last} entries (#1..#{last}) are gone" in out, out
    assert _verify(data_dir, *_witness(data_dir), "--new")[0] == 1  # the witness outweighs the operator's word
    with pytest.raises(ConfigurationError, match=f"ends at #0 but its witness .* holds #{last}"):
        Guard(demo_settings(data_dir))
    code, out, err = _verify(data_dir)
    assert code == 1 and out.startswith("UNPROVEN: the log is empty") and "freshness is UNPROVEN" in err, out


def test_a_new_empty_log_verifies_when_said_new_or_when_its_witness_is_empty(demo: Demo) -> None:
    data_dir = demo.guard.settings.data_dir
    demo.guard.close()
    assert demo_witness(data_dir).read_text() == ""  # created at start-up, nothing to witness yet
    code, out, err = _verify(data_dir, "--new")
    assert code == 0 and out.startswith("ok: no entries (0)") and "freshness is UNPROVEN" in err
    assert _verify(data_dir)[0] == 1
    code, out, err = _verify(data_dir, *_witness(data_dir))
    assert code == 0 and "0 witnessed points" in out and not err


def test_a_forged_or_damaged_witness_line_fails(demo: Demo) -> None:
    data_dir = demo.guard.settings.data_dir
    _read(demo.login("inf.dubois"), 1)
    demo.guard.close()
    witness = demo_witness(data_dir)
    line = json.loads(witness.read_text().splitlines()[-1])
    with witness.open("a") as file:
        file.write(json.dumps({**line, "seq": line["seq"] + 40}) + "\n")  # a head no audit key signed
    code, out, _ = _verify(data_dir, *_witness(data_dir))
    assert code == 1 and f"the witnessed head at #{line['seq'] + 40} has a bad signature" in out, out
    with witness.open("a") as file:
        file.write("{not json\n")
    code, out, _ = _verify(data_dir, *_witness(data_dir))
    assert code == 1 and "not a witnessed checkpoint" in out and f"{witness}:" in out, out
    witness.unlink()
    code, out, _ = _verify(data_dir, *_witness(data_dir))
    assert code == 1 and "no such file" in out


def test_a_witness_that_refuses_makes_the_guard_refuse_then_recovers(
    demo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unpublished heads could be rolled back unseen: past the grace period, protected requests get 503."""
    monkeypatch.setattr("accessguard.audit.witness.WITNESS_GRACE_S", 0.5)
    demo = make_demo("asgi", _copy_demo(demo_template, tmp_path / "data"), audit=AuditSettings(witness_interval_s=0.05))
    witness = demo_witness(demo.guard.settings.data_dir)
    try:
        client = demo.login("inf.dubois")
        _read(client, 1)
        witness.unlink()
        witness.mkdir()  # not appendable, whoever runs the tests
        deadline = time.monotonic() + 10
        while (status := client.get("/patients/pat-0002", headers={"x-forwarded-for": CAEN}).status_code) == 200:
            assert time.monotonic() < deadline, "requests still served while the witness refuses"
            time.sleep(0.1)
        assert status == 503
        witness.rmdir()  # the witness is back: the next publication succeeds and requests are served again
        deadline = time.monotonic() + 10
        while client.get("/patients/pat-0002", headers={"x-forwarded-for": CAEN}).status_code != 200:
            assert time.monotonic() < deadline, "the guard did not recover with its witness"
            time.sleep(0.1)
    finally:
        demo.guard.close()
    code, out, _ = _verify(demo.guard.settings.data_dir, "--witness", str(witness))
    assert code == 0, out


def test_a_witness_inside_the_data_dir_or_not_appendable_stops_start_up(demo_template: Path, tmp_path: Path) -> None:
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    with pytest.raises(ConfigurationError, match=r"audit\.witness: .* is inside data_dir"):
        Guard(demo_settings(data_dir, audit=AuditSettings(witness=data_dir / "witness.jsonl")))
    with pytest.raises(ConfigurationError, match=r"audit\.witness: cannot append to"):
        Guard(demo_settings(data_dir, audit=AuditSettings(witness=tmp_path)))  # a directory: nothing can append to it


def test_a_witness_volume_filling_up_mid_line_leaves_no_torn_line(tmp_path: Path) -> None:
    """Found by the soak (bench/soak.py): a short write on a full volume left half a line, fused with the next one.

    The volume is a real file-size limit (``RLIMIT_FSIZE``) in a child process, so the kernel writes part of the line.
    """
    witness = tmp_path / "witness.jsonl"
    point = Checkpoint(1, 1.0, bytes(32), "signature")
    FileWitness(witness).publish("head", point)
    limit = witness.stat().st_size + 40  # the next line stops 40 bytes in
    publish = (
        "import resource, sys; from pathlib import Path; from accessguard.audit.chain import Checkpoint;"
        " from accessguard.audit.witness_file import FileWitness;"
        f" resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, resource.getrlimit(resource.RLIMIT_FSIZE)[1]));"
        f" FileWitness(Path({str(witness)!r})).publish('head', Checkpoint(2, 2.0, bytes(32), 'signature'))"
    )
    done = subprocess.run([sys.executable, "-c", publish], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "short write" in done.stderr, done.stderr  # refused: the publisher retries it
    assert witness.stat().st_size == limit - 40  # the torn part taken back
    FileWitness(witness).publish("head", replace(point, seq=3))  # room again
    assert [w.point.seq for w in read_witness_file(witness)] == [1, 3]
    latest = FileWitness(witness).latest()
    assert latest is not None and latest.point.seq == 3
