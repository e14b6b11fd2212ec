"""Alert delivery: from the outbox in the audit database to the sinks (the log, a signed webhook).

The access log writes each alert once, for any sink (``*``), in the same
transaction as the entry that raised it, one per account, reason and window
(audit/outbox.py; the dispatcher closes the windows that are due and queues
their summaries). Alert lines other components log
(``extra={"alert": {"event": …, "account": …}}``, as ``authn/alerts.py``
does for enrolments, revocations and clone suspicion) join the same path
through ``AlertBridge``, from the service and from the command line alike
(``accessguard admin``/``account`` write into the same outbox). A dispatcher (one thread per guard
process; several processes may share the outbox) copies it to each sink it
has configured, then delivers at least once: a failed delivery is retried with
exponential back-off and jitter, forever, and a claimed row is leased so two
processes, on one host or on a fleet's (PostgreSQL: rows claimed ``FOR
UPDATE SKIP LOCKED``), do not send it at the same time. Receivers
deduplicate on ``AccessGuard-Alert-Id``.

Webhook requests are JSON POSTs signed like this::

    AccessGuard-Signature: t=<unix time>,sha256=<hex HMAC-SHA-256(key, "<t>." + body)>
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from accessguard.audit import log_sink
from accessguard.audit.access_log import AccessLog
from accessguard.audit.log_sink import open_log_sink
from accessguard.audit.log_store import LogLocation, is_file, reading, writable
from accessguard.audit.outbox import ANY_SINK, close_windows
from accessguard.audit.settings import AuditSettings
from accessguard.database import Database
from accessguard.errors import AccessGuardError, StoreError

log = logging.getLogger("accessguard.audit")
alert_log = logging.getLogger("accessguard.alerts")

CLAIM_BATCH = 100
LEASE_S = 60.0
POLL_S = 1.0
#: Log-sink batches sent in one pass at most.
STREAM_BATCHES = 20
SIGNATURE_HEADER = "AccessGuard-Signature"
ALERT_ID_HEADER = "AccessGuard-Alert-Id"


class DeliveryFailed(Exception):
    """One delivery attempt failed; the alert stays in the outbox."""


def sign_webhook(key: str, timestamp: int, body: bytes) -> str:
    """The ``AccessGuard-Signature`` header value for a body sent at ``timestamp``."""
    mac = hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},sha256={mac}"


def verify_webhook(key: str, header: str, body: bytes, now: float, tolerance_s: float = 300.0) -> bool:
    """For receivers: the signature is ours and fresh (replays older than ``tolerance_s`` fail)."""
    fields = dict(part.strip().partition("=")[::2] for part in header.split(","))
    timestamp = fields.get("t", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign_webhook(key, int(timestamp), body), header.replace(" ", ""))


class AlertDispatcher:
    """Delivers due alerts to this process's sinks; ``start()`` runs it in a thread.

    ``clock`` times deliveries (retries, leases); ``audit_clock`` is the one the
    access log stamps entries with, on which de-duplication windows close.
    ``on_backlog`` hears after each pass how many alert deliveries wait and
    how many entries the log sink has yet to take (metrics).
    """

    def __init__(
        self,
        location: LogLocation,
        settings: AuditSettings,
        clock: Callable[[], float] = time.time,
        audit_clock: Callable[[], float] | None = None,
        on_backlog: Callable[[int, int], None] | None = None,
    ) -> None:
        self._location = location
        self._database: Database | None = None if is_file(location) else writable(location)
        self.settings = settings
        self.sinks = settings.sinks
        self._clock = clock
        self._audit_clock = audit_clock or clock
        self._on_backlog = on_backlog
        self._log_sink = open_log_sink(settings.log_sink) if settings.log_sink else None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> AlertDispatcher:
        self._thread = threading.Thread(target=self._run, name="accessguard-alerts", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """Deliver now (called after a commit that queued alerts)."""
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if is_file(self._location) and self._database is not None:
            self._database.close()

    def _outbox(self) -> Database:
        """The outbox's database, opened on first use (the access log creates a SQLite file's tables first)."""
        if self._database is None:
            self._database = writable(self._location)
        return self._database

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
                pause = self._next_due_in()
                self._report_backlog()
            except StoreError as exc:
                log.error("alert outbox: %s (retrying)", exc)
                pause = POLL_S
            except Exception:  # the dispatcher outlives any fault: alerts stay in the outbox until delivered
                log.exception("alert outbox: delivery pass failed on an unexpected error (retrying)")
                pause = POLL_S
            self._wake.wait(timeout=pause)
            self._wake.clear()
        if is_file(self._location) and self._database is not None:
            self._database.close()  # this thread's connection to the SQLite file

    def deliver_due(self) -> int:
        """One pass: fan out new alerts, deliver the due ones, stream new entries to the log sink; returns the alerts delivered."""
        db = self._outbox()
        delivered = self._deliver_alerts(db) if self.sinks else 0
        self._stream(db)
        return delivered

    def _stream(self, db: Database) -> None:
        """Send the log sink what it has not taken, batch after batch, until it is level or refuses."""
        sink = self._log_sink
        if sink is None:
            return
        for _ in range(STREAM_BATCHES):  # then alerts get their turn again
            pending = log_sink.claim(db, sink.where, self._clock(), LEASE_S)
            if pending is None:
                return
            try:
                sink.send(pending.records)
            except (log_sink.SinkFailed, OSError) as exc:
                attempts, delay = pending.attempts + 1, self._backoff(pending.attempts + 1)
                error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "log sink %s: entries up to #%d not taken (attempt %d, next in %.1f s): %s",
                    sink.where,
                    pending.last,
                    attempts,
                    delay,
                    error,
                )
                log_sink.refused(db, sink.where, attempts, self._clock() + delay, error)
                return
            log_sink.taken(db, sink.where, pending.last)

    def _deliver_alerts(self, db: Database) -> int:
        self._fan_out(db)
        delivered = 0
        for row_id, alert_id, sink, payload, attempts in self._claim(db):
            try:
                self._deliver(sink, alert_id, payload.encode())
            except DeliveryFailed as exc:
                delay = self._backoff(attempts + 1)
                log.warning("alert %s to %s failed (attempt %d, next in %.1f s): %s", alert_id, sink, attempts + 1, delay, exc)
                db.execute(
                    "UPDATE alerts SET attempts = ?, next_attempt = ?, lease_until = 0, last_error = ? WHERE id = ?",
                    (attempts + 1, self._clock() + delay, str(exc)[:500], row_id),
                )
                continue
            db.execute(
                "UPDATE alerts SET attempts = ?, delivered = ?, lease_until = 0, last_error = NULL WHERE id = ?",
                (attempts + 1, self._clock(), row_id),
            )
            delivered += 1
        return delivered

    def _fan_out(self, db: Database) -> None:
        """Close the due windows, copy each new alert to this process's sinks; a row taken by its delete is copied once."""
        with db.transaction() as tx:
            close_windows(tx, self._audit_clock())
            taken = tx.execute("DELETE FROM alerts WHERE sink = ? RETURNING id, alert_id, payload, created", (ANY_SINK,))
            for _, alert_id, payload, created in sorted(taken, key=lambda row: int(str(row[0]))):  # in the order raised
                tx.executemany(
                    "INSERT INTO alerts (alert_id, sink, payload, created) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [(alert_id, sink, payload, created) for sink in self.sinks],
                )

    def _claim(self, db: Database) -> list[tuple[int, str, str, str, int]]:
        """Lease the due rows: another process skips them until the lease ends (PostgreSQL: skips the rows being claimed too)."""
        now = self._clock()
        marks = ", ".join("?" for _ in self.sinks)
        skip_claimed = " FOR UPDATE SKIP LOCKED" if db.dialect == "postgresql" else ""  # SQLite: the file's write lock serialises claims
        with db.transaction() as tx:
            rows = tx.execute(
                f"SELECT id, alert_id, sink, payload, attempts FROM alerts WHERE delivered IS NULL AND sink IN ({marks})"
                f" AND next_attempt <= ? AND lease_until < ? ORDER BY id LIMIT ?{skip_claimed}",
                (*self.sinks, now, now, CLAIM_BATCH),
            )
            tx.executemany("UPDATE alerts SET lease_until = ? WHERE id = ?", [(now + LEASE_S, row[0]) for row in rows])
        return [(int(str(r[0])), str(r[1]), str(r[2]), str(r[3]), int(str(r[4]))) for r in rows]

    def _next_due_in(self) -> float:
        if not self.sinks:
            return POLL_S
        marks = ", ".join("?" for _ in self.sinks)
        due = self._outbox().execute(
            "SELECT min(CASE WHEN next_attempt > lease_until THEN next_attempt ELSE lease_until END) FROM alerts"
            f" WHERE delivered IS NULL AND sink IN ({marks})",
            self.sinks,
        )[0][0]
        return POLL_S if due is None else max(0.0, min(POLL_S, float(str(due)) - self._clock()))

    def _report_backlog(self) -> None:
        if self._on_backlog is None:
            return
        database = self._outbox()
        lagging = log_sink.lag(database, self._log_sink.where) if self._log_sink is not None else 0
        self._on_backlog(outbox_backlog(database), lagging)

    def _backoff(self, attempts: int) -> float:
        ceiling = min(self.settings.retry_max_s, self.settings.retry_base_s * 2.0 ** min(attempts - 1, 30))
        return ceiling * random.uniform(0.5, 1.0)

    def _deliver(self, sink: str, alert_id: str, body: bytes) -> None:
        if sink == "log":
            document = json.loads(body)
            if not document.get("logged"):  # a bridged alert line is on the service's log already
                alert_log.warning("alert %s", body.decode(), extra={"delivered_alert": document})
            return
        if sink != "webhook" or self.settings.webhook_url is None or self.settings.webhook_key is None:
            raise DeliveryFailed(f"sink {sink!r} is not configured in this process")
        request = urllib.request.Request(
            self.settings.webhook_url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                ALERT_ID_HEADER: alert_id,
                SIGNATURE_HEADER: sign_webhook(self.settings.webhook_key, int(time.time()), body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.settings.webhook_timeout_s) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            raise DeliveryFailed(f"HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DeliveryFailed(str(getattr(exc, "reason", exc))) from None
        if not 200 <= status < 300:
            raise DeliveryFailed(f"HTTP {status}")


class AlertBridge(logging.Filter):
    """Carries alert log lines (``record.alert``) into the access log as events, and so to every sink.

    The guard adds it as a filter on the ``accessguard.alerts`` logger, which
    every alert line is logged on: a filter, not a handler, so the line goes on
    wherever the service routes that logger (logging's last-resort handler on
    stderr if nowhere). It never blocks the code that logs (the event is
    enqueued, not waited for).

    ``on_service_log`` says the line is on the service's log already, so the
    log sink does not repeat it; a command's bridge passes False: its line
    reached only the command's stderr, and the service's log sink shows it.
    """

    def __init__(self, access_log: AccessLog, *, on_service_log: bool = True) -> None:
        super().__init__()
        self._access_log = access_log
        self._on_service_log = on_service_log

    def filter(self, record: logging.LogRecord) -> bool:
        alert = getattr(record, "alert", None)
        if isinstance(alert, dict) and "event" in alert:
            event = str(alert["event"])
            details = json.loads(json.dumps({k: v for k, v in alert.items() if k != "account"}, default=str))
            details["event"] = event
            if self._on_service_log:
                details["logged"] = True
            try:
                self._access_log.event(str(alert.get("account", "")), details, alert=(event,), wait=False)
            except AccessGuardError as exc:
                log.error("alert %s not recorded in the access log: %s", event, exc)
        return True


@dataclass(frozen=True)
class PendingAlert:
    alert_id: str
    sink: str
    attempts: int
    next_attempt: float
    last_error: str | None
    reasons: list[str]


def outbox_backlog(location: LogLocation) -> int:
    """How many alert deliveries are waiting (undelivered rows, one per sink once fanned out); StoreError if unreadable."""
    with reading(location) as db:
        return int(str(db.execute("SELECT count(*) FROM alerts WHERE delivered IS NULL")[0][0]))


def pending_alerts(location: LogLocation) -> list[PendingAlert]:
    """Alerts not yet delivered to some sink (``*``: not yet fanned out by a running guard)."""
    with reading(location) as db:
        rows = db.execute(
            "SELECT alert_id, sink, attempts, next_attempt, last_error, payload FROM alerts WHERE delivered IS NULL ORDER BY id"
        )
    return [
        PendingAlert(str(a), str(s), int(str(n)), float(str(t)), None if e is None else str(e), list(json.loads(str(p)).get("reasons", [])))
        for a, s, n, t, e, p in rows
    ]


@dataclass(frozen=True)
class AlertDelivery:
    """An alert and where it stands with one sink (``*``: not yet copied to the sinks by a running guard)."""

    alert_id: str
    sink: str
    created: float
    subject: str
    reasons: list[str]
    attempts: int
    delivered: float | None
    last_error: str | None


def recent_alerts(location: LogLocation, limit: int = 100) -> list[AlertDelivery]:
    """The latest alerts with their delivery state per sink, newest first (the console's alert list)."""
    with reading(location) as db:
        rows = db.execute(
            "SELECT alert_id, sink, created, payload, attempts, delivered, last_error FROM alerts ORDER BY id DESC LIMIT ?", (limit,)
        )
    deliveries = []
    for alert_id, sink, created, payload, attempts, delivered, last_error in rows:
        document = json.loads(str(payload))
        reasons = [str(r) for r in document.get("reasons", [])]
        deliveries.append(
            AlertDelivery(
                str(alert_id),
                str(sink),
                float(str(created)),
                str(document.get("subject", "")),
                reasons,
                int(str(attempts)),
                None if delivered is None else float(str(delivered)),
                None if last_error is None else str(last_error),
            )
        )
    return deliveries
