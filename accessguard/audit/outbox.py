"""What goes into the alert outbox: one alert per account, reason and window, with a count that is never lost.

Under a scraping burst every refused request carries the same reasons; an
alert for each would bury the channel. So the first occurrence of a reason
for an account opens a window (``AuditSettings.alert_window_s``) and is
queued at once, as an alert of its own; each later occurrence within the
window only adds one to the window's count. When the window closes, a
summary alert (``"kind": "summary"``) carries the total count, the first and
last times and the first alert's id; a window that saw one occurrence
closes silently. Decisions and events are windowed apart (a suspension and
the refused requests of the suspended account are two things to tell).

Counting happens in the transaction that writes the entry raising the alert,
and a window closes (its summary queued, its row deleted) in one
transaction too: an acknowledged entry is always counted, and a count always
reaches the sinks. A window closes when the dispatcher finds it due on the
access log's clock, or earlier when a later occurrence of the same reason
opens the next window. Hosts sharing the outbox may close one window at
once: each deletes the window's row first (``DELETE … RETURNING``) and only
the one whose delete took it queues the summary.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from accessguard.database import Transaction

#: Fan-out marker: an alert row waiting to be copied to every sink of the dispatching process.
ANY_SINK = "*"


@dataclass(frozen=True)
class RaisedAlert:
    """Reasons to alert on, raised at ``time`` by an entry; ``document`` names the entry (``kind``, ``subject``, …)."""

    reasons: tuple[str, ...]
    time: float
    document: dict[str, Any]


def queue_alerts(db: Transaction, raised: list[RaisedAlert], window_s: float) -> int:
    """Count each reason in its window, queue an alert for the reasons that open one; returns the alerts queued.

    Call inside the transaction that writes the entries raising them.
    """
    queued = 0
    for alert in raised:
        account, kind = str(alert.document.get("subject", "")), str(alert.document.get("kind", ""))
        opening = [reason for reason in dict.fromkeys(alert.reasons) if not _counted(db, account, kind, reason, alert.time)]
        if not opening:
            continue
        alert_id = uuid.uuid4().hex
        for reason in opening:
            _close(db, account, kind, reason, alert.time)  # a window this occurrence is past: its summary goes first
            db.execute(
                "INSERT INTO alert_windows (account, kind, reason, opened, closes, count, last, alert_id) VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
                (account, kind, reason, alert.time, alert.time + window_s, alert.time, alert_id),
            )
        window = {"closes": alert.time + window_s, "count": 1}
        _enqueue(db, alert_id, alert.time, {**alert.document, "reasons": opening, "window": window})
        queued += 1
    return queued


def close_windows(db: Transaction, now: float) -> int:
    """Close every window due at ``now``: queue the summaries of those that counted more than one; returns the summaries queued."""
    due = db.execute("SELECT DISTINCT account, kind, reason FROM alert_windows WHERE closes <= ?", (now,))
    return sum(_close(db, str(account), str(kind), str(reason), now) for account, kind, reason in due)


def _counted(db: Transaction, account: str, kind: str, reason: str, at: float) -> bool:
    """Add one to the open window of (account, kind, reason) at ``at``; False when there is none."""
    return bool(
        db.execute(
            "UPDATE alert_windows SET count = count + 1, last = CASE WHEN last > ? THEN last ELSE ? END"
            " WHERE account = ? AND kind = ? AND reason = ? AND closes > ? RETURNING 1",
            (at, at, account, kind, reason, at),
        )
    )


def _close(db: Transaction, account: str, kind: str, reason: str, now: float) -> int:
    rows = db.execute(
        "DELETE FROM alert_windows WHERE account = ? AND kind = ? AND reason = ? AND closes <= ?"
        " RETURNING opened, closes, count, last, alert_id",
        (account, kind, reason, now),
    )
    summaries = 0
    windows = sorted((float(str(o)), float(str(c)), int(str(n)), float(str(t)), str(a)) for o, c, n, t, a in rows)
    for opened, closes, count, last, first_alert in windows:
        if count > 1:
            summary = {
                "reasons": [reason],
                "kind": "summary",
                "of": kind,
                "subject": account,
                "count": count,
                "first": opened,
                "last": last,
                "window": {"opened": opened, "closes": closes},
                "first_alert_id": first_alert,
            }
            _enqueue(db, uuid.uuid4().hex, closes, summary)
            summaries += 1
    return summaries


def _enqueue(db: Transaction, alert_id: str, at: float, document: dict[str, Any]) -> None:
    payload = {**document, "alert_id": alert_id, "time": at}  # an event's detail never overwrites the envelope
    db.execute(
        "INSERT INTO alerts (alert_id, sink, payload, created) VALUES (?, ?, ?, ?)",
        (alert_id, ANY_SINK, json.dumps(payload, separators=(",", ":")), at),
    )
