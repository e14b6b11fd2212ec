"""The access log's copy outside the host: every entry and checkpoint to a real rsyslog or a JSON-lines file, at least once."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from accessguard.audit.settings import AuditSettings
from accessguard.errors import ConfigurationError
from accessguard.health import READY_PATH
from tests.conftest import CAEN, Demo, _copy_demo, make_demo, require_part
from tests.rsyslog_server import RSYSLOGD, RsyslogServer


def _until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _stored(data_dir: Path) -> tuple[dict[int, str], dict[int, str]]:
    """The chain hash of every entry and the signature of every checkpoint, by number."""
    with sqlite3.connect(data_dir / "audit.db") as db:
        entries = {seq: bytes(h).hex() for seq, h in db.execute("SELECT seq, hash FROM entries")}
        checkpoints = dict(db.execute("SELECT seq, signature FROM checkpoints"))
    return entries, checkpoints


def _audit(sink: str) -> AuditSettings:
    return AuditSettings(log_sink=sink, checkpoint_every=4, retry_base_s=0.1, retry_max_s=0.5)


@pytest.fixture
def rsyslog(tmp_path: Path) -> Iterator[RsyslogServer]:
    require_part(RSYSLOGD is not None, "rsyslogd (Debian's rsyslog package)")
    server = RsyslogServer(tmp_path / "rsyslog").start()
    yield server
    server.stop()


def _read(demo: Demo, client: Any, n: int) -> int:
    status: int = client.get(f"/patients/pat-{n:04d}", headers={"x-forwarded-for": CAEN}).status_code
    return status


def _delivered(data_dir: Path, received: Callable[[], list[dict[str, Any]]]) -> Callable[[], bool]:
    def check() -> bool:
        entries, checkpoints = _stored(data_dir)
        got = received()
        return {d["seq"] for d in got if d["type"] == "entry"} == set(entries) and {
            d["seq"] for d in got if d["type"] == "checkpoint"
        } == set(checkpoints)

    return check


def _assert_copies(data_dir: Path, received: list[dict[str, Any]]) -> None:
    entries, checkpoints = _stored(data_dir)
    for document in received:
        if document["type"] == "entry":
            assert document["hash"] == entries[document["seq"]]
        else:
            assert document["signature"] == checkpoints[document["seq"]]
    assert "pat-" not in json.dumps(received)  # patients as stored: pseudonyms
    assert any(d["type"] == "entry" and d["kind"] == "served" and d["patient"] for d in received)


@pytest.mark.realpart
@pytest.mark.slow
def test_rsyslog_gets_every_entry_and_checkpoint_and_its_outage_stops_no_decision(
    demo_template: Path, tmp_path: Path, rsyslog: RsyslogServer
) -> None:
    demo = make_demo("asgi", _copy_demo(demo_template, tmp_path / "data"), audit=_audit(rsyslog.url))
    data_dir = Path(demo.guard.settings.data_dir)
    try:
        client = demo.login("dr.martin")
        assert [_read(demo, client, n) for n in range(1, 4)] == [200] * 3
        demo.guard.access_log.flush()
        _until(_delivered(data_dir, lambda: [d for _, _, d in rsyslog.received()]), "rsyslog to hold every entry")
        messages = rsyslog.received()
        assert all(msgid == d["type"] and structured == f'[accessguard@32473 seq="{d["seq"]}"]' for msgid, structured, d in messages)

        rsyslog.stop()
        assert [_read(demo, client, n) for n in range(4, 10)] == [200] * 6  # the sink's outage stops no decision
        assert client.get(READY_PATH).status_code == 200
        demo.guard.access_log.flush()
        _until(lambda: demo.guard.metrics.log_sink_backlog._value.get() > 0, "the sink backlog to show")
        rsyslog.start()
        _until(_delivered(data_dir, lambda: [d for _, _, d in rsyslog.received()]), "the entries kept meanwhile to reach rsyslog")
        _assert_copies(data_dir, [d for _, _, d in rsyslog.received()])
        _until(lambda: demo.guard.metrics.log_sink_backlog._value.get() == 0, "the sink backlog to clear")
    finally:
        demo.guard.close()


def test_a_json_lines_file_gets_every_entry_and_checkpoint(demo_template: Path, tmp_path: Path) -> None:
    copy = tmp_path / "siem" / "accessguard.jsonl"
    copy.parent.mkdir()
    demo = make_demo("wsgi", _copy_demo(demo_template, tmp_path / "data"), audit=_audit(f"file://{copy}"))
    data_dir = Path(demo.guard.settings.data_dir)
    try:
        client = demo.login("dr.martin")
        assert [_read(demo, client, n) for n in range(1, 6)] == [200] * 5
        demo.guard.access_log.flush()

        def received() -> list[dict[str, Any]]:
            return [json.loads(line) for line in copy.read_text().splitlines()] if copy.exists() else []

        _until(_delivered(data_dir, received), "the file to hold every entry")
        _assert_copies(data_dir, received())
    finally:
        demo.guard.close()


@pytest.mark.parametrize("sink", ["syslog+tcp://host", "syslog://host:514", "file:relative.jsonl", "https://siem.example/"])
def test_a_log_sink_that_names_no_sink_stops_the_start(sink: str) -> None:
    with pytest.raises(ConfigurationError, match=r"audit\.log_sink"):
        AuditSettings(log_sink=sink).validate()
