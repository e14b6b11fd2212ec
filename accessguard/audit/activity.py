"""What the access log says about recent activity, for the dashboard: decisions over time by outcome,
refusals by reason, and who reads the most identity records against their own usual volume.

Reads only the part of the log since the period's start: entries are appended in time order, so
the first entry of the period is found by bisecting on ``seq`` (the primary key), not by scanning.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from accessguard.audit.access_log import reading

OUTCOMES = ("allow", "step_up", "deny")
DAY_S = 86400


@dataclass(frozen=True)
class Bucket:
    """Decisions in ``[start, start + width)`` by outcome."""

    start: float
    counts: dict[str, int]


@dataclass(frozen=True)
class Reader:
    """A professional's identity records served in the last day, against their daily average over the days before."""

    subject: str
    last_day: int
    usual_per_day: float


def _first_seq_at(db: sqlite3.Connection, since: float) -> int:
    """The first entry's ``seq`` at or after ``since`` (entries are in time order); one past the last when none is."""
    low_row = db.execute("SELECT min(seq), max(seq) FROM entries").fetchone()
    if low_row[0] is None:
        return 0
    low, high = int(low_row[0]), int(low_row[1]) + 1
    while low < high:
        middle = (low + high) // 2
        row = db.execute("SELECT seq, time FROM entries WHERE seq >= ? ORDER BY seq LIMIT 1", (middle,)).fetchone()
        if row is None or row[1] >= since:
            high = middle
        else:
            low = int(row[0]) + 1
    return low


def decisions_over_time(path: Path | str, since: float, until: float, width_s: float) -> list[Bucket]:
    """Decisions by outcome in consecutive buckets of ``width_s`` from ``since`` to ``until`` (empty buckets included)."""
    buckets = [Bucket(since + i * width_s, dict.fromkeys(OUTCOMES, 0)) for i in range(int((until - since) // width_s))]
    with reading(path) as db:
        db.execute("BEGIN")
        rows = db.execute(
            "SELECT CAST((time - ?) / ? AS INTEGER), json_extract(detail, '$.outcome'), count(*) FROM entries"
            " WHERE seq >= ? AND kind = 'decision' AND time >= ? AND time < ? GROUP BY 1, 2",
            (since, width_s, _first_seq_at(db, since), since, until),
        ).fetchall()
    for index, outcome, count in rows:
        if 0 <= index < len(buckets) and outcome in OUTCOMES:
            buckets[index].counts[outcome] += int(count)
    return buckets


def refusals_by_reason(path: Path | str, since: float, until: float) -> Counter[str]:
    """How often each reason code came with a refusal (deny or step-up) in the period."""
    with reading(path) as db:
        db.execute("BEGIN")
        rows = db.execute(
            "SELECT reason.value, count(*) FROM entries, json_each(entries.detail, '$.reasons') AS reason"
            " WHERE seq >= ? AND kind = 'decision' AND time >= ? AND time < ?"
            " AND json_extract(detail, '$.outcome') IN ('deny', 'step_up') GROUP BY 1",
            (_first_seq_at(db, since), since, until),
        ).fetchall()
    return Counter({str(reason): int(count) for reason, count in rows})


def top_readers(path: Path | str, now: float, *, usual_days: int = 7, limit: int = 10) -> list[Reader]:
    """The professionals served the most identity records in the last day (up to ``now`` included), each with their
    daily average over the ``usual_days`` before it (a burst stands out against the reader's own habit, not against colleagues')."""
    since = now - (usual_days + 1) * DAY_S
    with reading(path) as db:
        db.execute("BEGIN")
        rows = db.execute(
            "SELECT subject, sum(time > ?), sum(time <= ?) FROM entries"
            " WHERE seq >= ? AND kind = 'served' AND time > ? AND time <= ? GROUP BY subject",
            (now - DAY_S, now - DAY_S, _first_seq_at(db, since), since, now),
        ).fetchall()
    readers = [Reader(str(subject), int(last), int(before) / usual_days) for subject, last, before in rows if last]
    return sorted(readers, key=lambda r: (-r.last_day, r.subject))[:limit]
