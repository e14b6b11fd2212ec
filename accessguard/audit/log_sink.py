"""The access log's copy outside the host: every entry (as stored, patients pseudonymised) and every signed checkpoint.

So a security team's SIEM holds a copy the application's hosts cannot
rewrite. ``AuditSettings.log_sink`` names it: ``syslog+tcp://HOST:PORT``
(RFC 5424 messages, octet-counted as RFC 6587 frames them; rsyslog's
``imtcp`` takes them as they are) or ``file:///PATH`` (JSON lines appended
and fsynced, for a file a log shipper owns).

Delivery rides on the alert dispatcher's thread and back-off
(audit/alerts.py): a cursor beside the log (``log_sink``, in ``audit.db`` or the fleet's PostgreSQL) remembers the
last entry each sink took, and moves only after a batch was taken, so
delivery is at least once (a receiver deduplicates on ``seq``). A syslog batch
counts as taken when the receiver, told the batch is complete (TCP
half-close), has read it to the end and closed its side. Nothing here is on
the request path: a sink's outage only delays the copy.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from accessguard.database import Database
from accessguard.errors import ConfigurationError

#: Entries per delivery at most.
BATCH = 500
#: RFC 5424 PRI: facility local0; severity informational for entries, notice for checkpoints.
_PRI = {"entry": 16 * 8 + 6, "checkpoint": 16 * 8 + 5}
SYSLOG_TIMEOUT_S = 10.0


class SinkFailed(Exception):
    """A batch was not taken; the cursor stays and the batch is sent again later."""


class LogSink(Protocol):
    where: str

    def send(self, records: list[dict[str, Any]]) -> None:
        """Deliver the records (``type`` ``entry`` or ``checkpoint``), in order; SinkFailed or OSError when not taken."""


def open_log_sink(url: str) -> LogSink:
    """The sink ``AuditSettings.log_sink`` names; ConfigurationError naming the setting otherwise."""
    parts = urlsplit(url)
    if parts.scheme == "syslog+tcp":
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or port is None:
            raise ConfigurationError(f"audit.log_sink: {url!r} needs a host and a port (syslog+tcp://HOST:PORT)")
        return SyslogSink(parts.hostname, port)
    if parts.scheme == "file" and parts.path.startswith("/") and not parts.netloc:
        return JsonLinesSink(Path(unquote(parts.path)))
    raise ConfigurationError(f"audit.log_sink: {url!r} is neither syslog+tcp://HOST:PORT nor file:///PATH")


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), sort_keys=True, ensure_ascii=True)


class JsonLinesSink:
    """One JSON object per line, appended (``O_APPEND``) and fsynced before the cursor moves."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = f"file://{path}"

    def send(self, records: list[dict[str, Any]]) -> None:
        data = "".join(_line(record) + "\n" for record in records).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            if os.write(fd, data) != len(data):
                raise SinkFailed(f"{self.path}: short write (disk full?)")
            os.fsync(fd)
        finally:
            os.close(fd)


class SyslogSink:
    """RFC 5424 over TCP, one connection per batch, octet-counting framing (RFC 6587 §3.4.1)."""

    def __init__(self, host: str, port: int, app_name: str = "accessguard") -> None:
        self.host, self.port = host, port
        self.where = f"syslog+tcp://{host}:{port}"
        self._app_name = app_name
        self._hostname = (socket.gethostname() or "-")[:255]
        self._procid = str(os.getpid())

    def message(self, record: dict[str, Any]) -> bytes:
        """One RFC 5424 message: the record's JSON as MSG, its kind as MSGID, its number as structured data."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record["time"])) + f".{int(record['time'] * 1e6) % 1_000_000:06d}Z"
        kind = record["type"]
        header = f"<{_PRI[kind]}>1 {stamp} {self._hostname} {self._app_name} {self._procid} {kind}"
        structured = f'[accessguard@32473 seq="{int(record["seq"])}"]'  # 32473: RFC 5612's example enterprise number
        frame = f"{header} {structured} {_line(record)}".encode()
        return f"{len(frame)} ".encode() + frame

    def send(self, records: list[dict[str, Any]]) -> None:
        data = b"".join(self.message(record) for record in records)
        with socket.create_connection((self.host, self.port), timeout=SYSLOG_TIMEOUT_S) as connection:
            connection.sendall(data)
            connection.shutdown(socket.SHUT_WR)  # the batch is complete: the receiver reads to here, then closes
            while connection.recv(4096):
                pass


@dataclass(frozen=True)
class Pending:
    """A batch claimed for a sink: the records, and the cursor after them."""

    records: list[dict[str, Any]]
    last: int
    attempts: int


def claim(db: Database, sink: str, now: float, lease_s: float) -> Pending | None:
    """The next batch for ``sink`` if one is due and no other process holds it (leased), else None.

    The cursor's row is locked while the batch is claimed (SQLite: the file's write lock; PostgreSQL: ``FOR UPDATE``),
    so hosts sharing the log claim it one at a time.
    """
    lock = " FOR UPDATE" if db.dialect == "postgresql" else ""
    with db.transaction() as tx:
        tx.execute("INSERT INTO log_sink (sink, seq) VALUES (?, 0) ON CONFLICT (sink) DO NOTHING", (sink,))
        row = tx.execute(f"SELECT seq, attempts, next_attempt, lease_until FROM log_sink WHERE sink = ?{lock}", (sink,))[0]
        cursor, attempts, next_attempt, lease_until = (int(str(row[0])), int(str(row[1])), float(str(row[2])), float(str(row[3])))
        if next_attempt > now or lease_until >= now:
            return None
        entries = tx.execute(
            "SELECT seq, time, kind, subject, route, patient, decision_id, detail, hash FROM entries WHERE seq > ? ORDER BY seq LIMIT ?",
            (cursor, BATCH),
        )
        if not entries:
            return None
        last = int(str(entries[-1][0]))
        checkpoints = tx.execute(
            "SELECT seq, time, hash, signature FROM checkpoints WHERE seq > ? AND seq <= ? ORDER BY seq", (cursor, last)
        )
        tx.execute("UPDATE log_sink SET lease_until = ? WHERE sink = ?", (now + lease_s, sink))
    return Pending(_in_order(entries, checkpoints), last, attempts)


def _in_order(entries: list[tuple[Any, ...]], checkpoints: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Entries as stored, each checkpoint right after the entry it covers."""
    signed = {int(seq): (float(at), bytes(digest).hex(), str(signature)) for seq, at, digest, signature in checkpoints}
    records: list[dict[str, Any]] = []
    for seq, at, kind, subject, route, patient, decision_id, detail, digest in entries:
        records.append(
            {
                "type": "entry",
                "seq": int(seq),
                "time": float(at),
                "kind": kind,
                "subject": subject,
                "route": route,
                "patient": patient,
                "decision_id": decision_id,
                "detail": json.loads(detail) if detail else None,
                "hash": bytes(digest).hex(),
            }
        )
        if int(seq) in signed:
            at_checkpoint, chain, signature = signed[int(seq)]
            records.append({"type": "checkpoint", "seq": int(seq), "time": at_checkpoint, "hash": chain, "signature": signature})
    return records


def taken(db: Database, sink: str, last: int) -> None:
    db.execute(
        "UPDATE log_sink SET seq = ?, attempts = 0, next_attempt = 0, lease_until = 0, last_error = NULL WHERE sink = ?", (last, sink)
    )


def refused(db: Database, sink: str, attempts: int, next_attempt: float, error: str) -> None:
    db.execute(
        "UPDATE log_sink SET attempts = ?, next_attempt = ?, lease_until = 0, last_error = ? WHERE sink = ?",
        (attempts, next_attempt, error[:500], sink),
    )


def lag(db: Database, sink: str) -> int:
    """Entries the sink has yet to take."""
    head = db.execute("SELECT seq FROM head WHERE id = 1")
    cursor = db.execute("SELECT seq FROM log_sink WHERE sink = ?", (sink,))
    return max(0, (int(str(head[0][0])) if head else 0) - (int(str(cursor[0][0])) if cursor else 0))
