"""The dashboard's figures and charts: decisions per hour by outcome (24 h, 7 days), refusals by reason,
alerts per day, the professionals reading the most identity records against their own usual volume, and
where each professional signed in from lately.

The figures come from ``audit/activity.py``; the charts from ``admin/charts.py``; each chart's
figures are also given as a table (for screen readers, and to copy).
"""

from __future__ import annotations

import html
import time

from accessguard.admin import charts
from accessguard.audit.activity import OUTCOMES, Bucket, alerts_per_day, decisions_over_time, refusals_by_reason, top_readers
from accessguard.audit.log_store import LogLocation
from accessguard.audit.sign_ins import places_by_professional

HOUR_S = 3600.0
DAY_S = 86400.0


def _day(start: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(start))


def _table(headings: list[str], rows: list[list[object]]) -> str:
    head = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in headings)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<details><summary>The figures</summary><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></details>"


def _decisions(prefix: str, buckets: list[Bucket], label_format: str, label_every: int, title: str) -> str:
    columns = [(time.strftime(label_format, time.gmtime(b.start)), b.counts) for b in buckets]
    totals = {o: sum(b.counts[o] for b in buckets) for o in OUTCOMES}
    label = f"{title}: " + ", ".join(f"{totals[o]} {charts.LABELS[o]}" for o in OUTCOMES)
    rows: list[list[object]] = [[time.strftime("%Y-%m-%d %H:00", time.gmtime(b.start)), *(b.counts[o] for o in OUTCOMES)] for b in buckets]
    return (
        charts.stacked_bars(prefix, label, columns, OUTCOMES, label_every=label_every)
        + charts.legend(prefix, OUTCOMES)
        + _table(["hour (UTC)", *(charts.LABELS[o] for o in OUTCOMES)], [r for r in rows if any(r[1:])])
    )


def dashboard(location: LogLocation, now: float) -> dict[str, str]:
    """The dashboard's sections as HTML, by template field."""
    hour = now - now % HOUR_S + HOUR_S  # up to the end of the current hour
    day = decisions_over_time(location, hour - 24 * HOUR_S, hour, HOUR_S)
    week = decisions_over_time(location, hour - 7 * 24 * HOUR_S, hour, HOUR_S)
    reasons = refusals_by_reason(location, hour - 7 * 24 * HOUR_S, hour).most_common(12)
    readers = top_readers(location, now)
    today = now - now % DAY_S
    alerts = alerts_per_day(location, today - 6 * DAY_S, 7)
    places = sorted(places_by_professional(location, now - 7 * DAY_S).items(), key=lambda item: (item[0][0], -item[1], item[0][1]))[:30]
    return {
        "alerts": (
            charts.horizontal_bars(
                "Alerts raised per day, last 7 days: " + ", ".join(f"{_day(d)} {n}" for d, n in alerts), [(_day(d), n) for d, n in alerts]
            )
            + _table(["day (UTC)", "alerts"], [[_day(d), n] for d, n in alerts])
        ),
        "places": (
            charts.horizontal_bars(
                "Sign-ins per professional and place, last 7 days: " + ", ".join(f"{who} from {where} {n}" for (who, where), n in places),
                [(f"{who} · {where}", n) for (who, where), n in places],
            )
            + _table(["professional", "place", "sign-ins"], [[who, where, n] for (who, where), n in places])
            if places
            else "<p>No sign-in in the last 7 days.</p>"
        ),
        "day": _decisions("day", day, "%H:00", 3, "Decisions per hour, last 24 hours"),
        "week": _decisions("week", week, "%m-%d %H:00", 24, "Decisions per hour, last 7 days"),
        "reasons": (
            charts.horizontal_bars("Refusals by reason, last 7 days: " + ", ".join(f"{r} {n}" for r, n in reasons), reasons)
            + _table(["reason", "refusals"], [[r, n] for r, n in reasons])
            if reasons
            else "<p>No refusal in the last 7 days.</p>"
        ),
        "readers": (
            charts.paired_bars(
                "Identity records served in the last 24 hours against the usual day: "
                + ", ".join(f"{r.subject} {r.last_day} (usually {r.usual_per_day:.1f})" for r in readers),
                [(r.subject, r.last_day, r.usual_per_day) for r in readers],
            )
            + _table(
                ["professional", "last 24 h", "usual a day (7 days before)"],
                [[r.subject, r.last_day, f"{r.usual_per_day:.1f}"] for r in readers],
            )
            if readers
            else "<p>No identity record served in the last 24 hours.</p>"
        ),
    }
