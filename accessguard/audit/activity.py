"""What the access log says about recent activity, for the dashboard: decisions over time by outcome,
refusals by reason, alerts per day, and who reads the most identity records against their own usual volume.

Reads only the part of the log since the period's start: entries are appended in time order, so
the first entry of the period is found by bisecting on ``seq`` (the primary key), not by scanning.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from accessguard.audit.log_store import LogLocation, is_file, reading
from accessguard.database.base import Transaction

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


#: The decision's outcome and its reasons out of an entry's JSON detail, per dialect.
_OUTCOME = {True: "json_extract(detail, '$.outcome')", False: "(detail::jsonb ->> 'outcome')"}
#: An entry's bucket number (times are at or after the start: SQLite's CAST truncates, PostgreSQL's rounds).
_BUCKET = {True: "CAST((time - ?) / ? AS INTEGER)", False: "CAST(floor((time - ?) / ?) AS INTEGER)"}
_REASONS = {
    True: "SELECT reason.value, count(*) FROM entries, json_each(entries.detail, '$.reasons') AS reason",
    False: "SELECT reason, count(*) FROM entries, jsonb_array_elements_text(entries.detail::jsonb -> 'reasons') AS reason",
}


def first_seq_at(db: Transaction, since: float) -> int:
    """The first entry's ``seq`` at or after ``since`` (entries are in time order); one past the last when none is."""
    bounds = db.execute("SELECT min(seq), max(seq) FROM entries")[0]
    if bounds[0] is None:
        return 0
    low, high = int(str(bounds[0])), int(str(bounds[1])) + 1
    while low < high:
        middle = (low + high) // 2
        rows = db.execute("SELECT seq, time FROM entries WHERE seq >= ? ORDER BY seq LIMIT 1", (middle,))
        if not rows or float(str(rows[0][1])) >= since:
            high = middle
        else:
            low = int(str(rows[0][0])) + 1
    return low


def decisions_over_time(location: LogLocation, since: float, until: float, width_s: float) -> list[Bucket]:
    """Decisions by outcome in consecutive buckets of ``width_s`` from ``since`` to ``until`` (empty buckets included)."""
    buckets = [Bucket(since + i * width_s, dict.fromkeys(OUTCOMES, 0)) for i in range(int((until - since) // width_s))]
    with reading(location) as db:
        rows = db.execute(
            f"SELECT {_BUCKET[is_file(location)]}, {_OUTCOME[is_file(location)]}, count(*) FROM entries"
            " WHERE seq >= ? AND kind = 'decision' AND time >= ? AND time < ? GROUP BY 1, 2",
            (since, width_s, first_seq_at(db, since), since, until),
        )
    for index, outcome, count in rows:
        slot = int(str(index))
        if 0 <= slot < len(buckets) and outcome in OUTCOMES:
            buckets[slot].counts[str(outcome)] += int(str(count))
    return buckets


def refusals_by_reason(location: LogLocation, since: float, until: float) -> Counter[str]:
    """How often each reason code came with a refusal (deny or step-up) in the period."""
    sqlite = is_file(location)
    with reading(location) as db:
        rows = db.execute(
            f"{_REASONS[sqlite]} WHERE seq >= ? AND kind = 'decision' AND time >= ? AND time < ?"
            f" AND {_OUTCOME[sqlite]} IN ('deny', 'step_up') GROUP BY 1",
            (first_seq_at(db, since), since, until),
        )
    return Counter({str(reason): int(str(count)) for reason, count in rows})


def top_readers(location: LogLocation, now: float, *, usual_days: int = 7, limit: int = 10) -> list[Reader]:
    """The professionals served the most identity records in the last day (up to ``now`` included), each with their
    daily average over the ``usual_days`` before it (a burst stands out against the reader's own habit, not against colleagues')."""
    since = now - (usual_days + 1) * DAY_S
    with reading(location) as db:
        rows = db.execute(
            "SELECT subject, sum(CASE WHEN time > ? THEN 1 ELSE 0 END), sum(CASE WHEN time <= ? THEN 1 ELSE 0 END) FROM entries"
            " WHERE seq >= ? AND kind = 'served' AND time > ? AND time <= ? GROUP BY subject",
            (now - DAY_S, now - DAY_S, first_seq_at(db, since), since, now),
        )
    readers = [Reader(str(subject), int(str(last)), int(str(before)) / usual_days) for subject, last, before in rows if int(str(last))]
    return sorted(readers, key=lambda r: (-r.last_day, r.subject))[:limit]


def alerts_per_day(location: LogLocation, since: float, days: int) -> list[tuple[float, int]]:
    """Alerts raised per day from ``since`` (each once, whatever the number of sinks it goes to), empty days included."""
    day_of = _BUCKET[is_file(location)].replace("time", "created")  # the outbox's time column
    with reading(location) as db:
        rows = db.execute(
            f"SELECT {day_of}, count(DISTINCT alert_id) FROM alerts WHERE created >= ? AND created < ? GROUP BY 1",
            (since, DAY_S, since, since + days * DAY_S),
        )
    counts = {int(str(day)): int(str(n)) for day, n in rows}
    return [(since + d * DAY_S, counts.get(d, 0)) for d in range(days)]
