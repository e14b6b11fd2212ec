"""The dashboard's figures and charts: decisions per hour by outcome (24 h, 7 days), refusals by reason,
alerts per day, the professionals reading the most identity records against their own usual volume, and
where each professional signed in from lately.

The figures come from ``audit/activity.py``; the charts from ``admin/charts.py``; each chart's
figures are also given as a table (for screen readers, and to copy).
"""

from __future__ import annotations

import datetime
import html

from accessguard.admin import charts
from accessguard.audit.activity import OUTCOMES, Bucket, alerts_per_day, decisions_over_time, refusals_by_reason, top_readers
from accessguard.audit.log_store import LogLocation
from accessguard.audit.sign_ins import places_by_professional
from accessguard.i18n import N_, Language

HOUR_S = 3600.0
DAY_S = 86400.0
#: How each outcome reads on a chart (the outcome itself is a stable identifier).
OUTCOME_NAMES = {"allow": N_("allowed"), "step_up": N_("step-up asked"), "deny": N_("denied")}


def _local(language: Language, start: float, pattern: str) -> str:
    """``start`` in the configured time zone (hour buckets stay whole hours in every zone with whole-hour offsets)."""
    return datetime.datetime.fromtimestamp(start, language.zone).strftime(pattern)


def _named(language: Language, title: str, figures: list[str]) -> str:
    """A chart's accessible name: its title, then its figures (French puts a space before the colon)."""
    return language.gettext("{title}: {figures}").format(title=title, figures=", ".join(figures))


def _table(language: Language, headings: list[str], rows: list[list[object]]) -> str:
    head = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in headings)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    summary = html.escape(language.gettext("The figures"))
    return f"<details><summary>{summary}</summary><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></details>"


def _decisions(language: Language, prefix: str, buckets: list[Bucket], label_format: str, label_every: int, title: str) -> str:
    _ = language.gettext
    names = {o: _(OUTCOME_NAMES[o]) for o in OUTCOMES}
    columns = [(_local(language, b.start, label_format), b.counts) for b in buckets]
    totals = {o: sum(b.counts[o] for b in buckets) for o in OUTCOMES}
    label = _named(language, title, [f"{totals[o]} {names[o]}" for o in OUTCOMES])
    rows: list[list[object]] = [[_local(language, b.start, "%Y-%m-%d %H:00"), *(b.counts[o] for o in OUTCOMES)] for b in buckets]
    hour = _("hour ({zone})").format(zone=language.zone.key)
    return (
        charts.stacked_bars(prefix, label, columns, OUTCOMES, label_every=label_every)
        + charts.legend(prefix, names)
        + _table(language, [hour, *names.values()], [r for r in rows if any(r[1:])])
    )


def dashboard(location: LogLocation, now: float, language: Language) -> dict[str, str]:
    """The dashboard's sections as HTML, by template field, in ``language`` and its time zone."""
    _ = language.gettext
    hour = now - now % HOUR_S + HOUR_S  # up to the end of the current hour
    day = decisions_over_time(location, hour - 24 * HOUR_S, hour, HOUR_S)
    week = decisions_over_time(location, hour - 7 * 24 * HOUR_S, hour, HOUR_S)
    reasons = refusals_by_reason(location, hour - 7 * 24 * HOUR_S, hour).most_common(12)
    readers = top_readers(location, now)
    today = now - now % DAY_S
    alerts = [(_local(language, d, "%Y-%m-%d"), n) for d, n in alerts_per_day(location, today - 6 * DAY_S, 7)]
    places = sorted(places_by_professional(location, now - 7 * DAY_S).items(), key=lambda item: (item[0][0], -item[1], item[0][1]))[:30]
    day_heading = _("day ({zone})").format(zone=language.zone.key)
    usually = _("{who} {now} (usually {usual})")
    signed_in = _("{who} from {place} {count}")
    return {
        "alerts": (
            charts.horizontal_bars(_named(language, _("Alerts raised per day, last 7 days"), [f"{d} {n}" for d, n in alerts]), alerts)
            + _table(language, [day_heading, _("alerts")], [[d, n] for d, n in alerts])
        ),
        "places": (
            charts.horizontal_bars(
                _named(
                    language,
                    _("Sign-ins per professional and place, last 7 days"),
                    [signed_in.format(who=w, place=p, count=n) for (w, p), n in places],
                ),
                [(f"{who} · {where}", n) for (who, where), n in places],
            )
            + _table(language, [_("professional"), _("place"), _("sign-ins")], [[who, where, n] for (who, where), n in places])
            if places
            else f"<p>{html.escape(_('No sign-in in the last 7 days.'))}</p>"
        ),
        "day": _decisions(language, "day", day, "%H:00", 3, _("Decisions per hour, last 24 hours")),
        "week": _decisions(language, "week", week, "%m-%d %H:00", 24, _("Decisions per hour, last 7 days")),
        "reasons": (
            charts.horizontal_bars(_named(language, _("Refusals by reason, last 7 days"), [f"{r} {n}" for r, n in reasons]), reasons)
            + _table(language, [_("reason"), _("refusals")], [[r, n] for r, n in reasons])
            if reasons
            else f"<p>{html.escape(_('No refusal in the last 7 days.'))}</p>"
        ),
        "readers": (
            charts.paired_bars(
                _named(
                    language,
                    _("Identity records served in the last 24 hours against the usual day"),
                    [usually.format(who=r.subject, now=r.last_day, usual=f"{r.usual_per_day:.1f}") for r in readers],
                ),
                [(r.subject, r.last_day, r.usual_per_day) for r in readers],
                now_label=_("last 24 h"),
                usual_label=_("usual a day"),
            )
            + _table(
                language,
                [_("professional"), _("last 24 h"), _("usual a day (7 days before)")],
                [[r.subject, r.last_day, f"{r.usual_per_day:.1f}"] for r in readers],
            )
            if readers
            else f"<p>{html.escape(_('No identity record served in the last 24 hours.'))}</p>"
        ),
    }
