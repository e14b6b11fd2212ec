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
processes do not send it at the same time. Receivers deduplicate on
``AccessGuard-Alert-Id``.

Webhook requests are JSON POSTs signed like this::

    AccessGuard-Signature: t=<unix time>,sha256=<hex HMAC-SHA-256(key, "<t>." + body)>
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from accessguard.audit.access_log import AccessLog, connect, reading
from accessguard.audit.outbox import ANY_SINK, close_windows
from accessguard.audit.settings import AuditSettings
from accessguard.errors import AccessGuardError

log = logging.getLogger("accessguard.audit")
alert_log = logging.getLogger("accessguard.alerts")

CLAIM_BATCH = 100
LEASE_S = 60.0
POLL_S = 1.0
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
    """

    def __init__(
        self,
        path: Path | str,
        settings: AuditSettings,
        clock: Callable[[], float] = time.time,
        audit_clock: Callable[[], float] | None = None,
    ) -> None:
        self.path = Path(path)
        self.settings = settings
        self.sinks = settings.sinks
        self._clock = clock
        self._audit_clock = audit_clock or clock
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

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
                pause = self._next_due_in()
            except sqlite3.Error as exc:
                log.error("alert outbox %s: %s (retrying)", self.path, exc)
                pause = POLL_S
            except Exception:  # the dispatcher outlives any fault: alerts stay in the outbox until delivered
                log.exception("alert outbox %s: delivery pass failed on an unexpected error (retrying)", self.path)
                pause = POLL_S
            self._wake.wait(timeout=pause)
            self._wake.clear()

    def deliver_due(self) -> int:
        """One pass: fan out new alerts, deliver the due ones; returns how many were delivered."""
        if not self.sinks:
            return 0
        db = connect(self.path)
        try:
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
        finally:
            db.close()

    def _fan_out(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            close_windows(db, self._audit_clock())
            for row_id, alert_id, payload, created in db.execute(
                "SELECT id, alert_id, payload, created FROM alerts WHERE sink = ?", (ANY_SINK,)
            ).fetchall():
                db.executemany(
                    "INSERT OR IGNORE INTO alerts (alert_id, sink, payload, created) VALUES (?, ?, ?, ?)",
                    [(alert_id, sink, payload, created) for sink in self.sinks],
                )
                db.execute("DELETE FROM alerts WHERE id = ?", (row_id,))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _claim(self, db: sqlite3.Connection) -> list[tuple[int, str, str, str, int]]:
        now = self._clock()
        marks = ", ".join("?" for _ in self.sinks)
        db.execute("BEGIN IMMEDIATE")
        try:
            rows = db.execute(
                f"SELECT id, alert_id, sink, payload, attempts FROM alerts WHERE delivered IS NULL AND sink IN ({marks})"
                " AND next_attempt <= ? AND lease_until < ? ORDER BY id LIMIT ?",
                (*self.sinks, now, now, CLAIM_BATCH),
            ).fetchall()
            db.executemany("UPDATE alerts SET lease_until = ? WHERE id = ?", [(now + LEASE_S, row[0]) for row in rows])
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return [(int(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4])) for r in rows]

    def _next_due_in(self) -> float:
        if not self.sinks:
            return POLL_S
        db = connect(self.path)
        try:
            marks = ", ".join("?" for _ in self.sinks)
            due: float | None = db.execute(
                f"SELECT min(max(next_attempt, lease_until)) FROM alerts WHERE delivered IS NULL AND sink IN ({marks})", self.sinks
            ).fetchone()[0]
        finally:
            db.close()
        return POLL_S if due is None else max(0.0, min(POLL_S, float(due) - self._clock()))

    def _backoff(self, attempts: int) -> float:
        ceiling = min(self.settings.retry_max_s, self.settings.retry_base_s * 2.0 ** min(attempts - 1, 30))
        return ceiling * random.uniform(0.5, 1.0)

    def _deliver(self, sink: str, alert_id: str, body: bytes) -> None:
        if sink == "log":
            if not json.loads(body).get("logged"):  # a bridged alert line is on the service's log already
                alert_log.warning("alert %s", body.decode())
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


def pending_alerts(path: Path | str) -> list[PendingAlert]:
    """Alerts not yet delivered to some sink (``*``: not yet fanned out by a running guard)."""
    with reading(path) as db:
        rows = db.execute(
            "SELECT alert_id, sink, attempts, next_attempt, last_error, payload FROM alerts WHERE delivered IS NULL ORDER BY id"
        ).fetchall()
    return [PendingAlert(a, s, n, t, e, list(json.loads(p).get("reasons", []))) for a, s, n, t, e, p in rows]


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


def recent_alerts(path: Path | str, limit: int = 100) -> list[AlertDelivery]:
    """The latest alerts with their delivery state per sink, newest first (the console's alert list)."""
    with reading(path) as db:
        rows = db.execute(
            "SELECT alert_id, sink, created, payload, attempts, delivered, last_error FROM alerts ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
    deliveries = []
    for alert_id, sink, created, payload, attempts, delivered, last_error in rows:
        document = json.loads(payload)
        reasons = [str(r) for r in document.get("reasons", [])]
        deliveries.append(
            AlertDelivery(alert_id, sink, created, str(document.get("subject", "")), reasons, attempts, delivered, last_error)
        )
    return deliveries
