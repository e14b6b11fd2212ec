"""Baseline: how many distinct patients a professional reads on a usual day, and their peers.

The store keeps per-day counters (distinct patients per professional per
UTC day, counted when reads are settled); this module turns them into the
figures the policy compares with: the professional's own median over the
last ``HISTORY_DAYS`` days they worked, and the 99th percentile of their
peer group's days (same organisation and role). Medians and percentiles are
computed here, never in Rego (rego-cpp orders integers as text in sort).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from accessguard.authn.state import Subject

#: Days of history a baseline looks back over (today excluded).
HISTORY_DAYS = 30
#: The percentile of the peer group's days the policy compares with.
PEER_PERCENTILE = 99


@dataclass(frozen=True)
class PeerDays:
    """The summary of a peer group's days before ``day``: the percentile of their
    daily distinct patients, over how many professionals and days."""

    day: int
    percentile: float
    professionals: int
    days: int


NO_PEERS = PeerDays(0, 0.0, 0, 0)


def peer_days(day: int, counts: Iterable[tuple[str, int]]) -> PeerDays:
    """Summarise (professional, patients that day) rows of the days before ``day``; days without reads are left out."""
    rows = [(pro, n) for pro, n in counts if n > 0]
    return PeerDays(day, percentile([n for _, n in rows], PEER_PERCENTILE), len({pro for pro, _ in rows}), len(rows))


def percentile(values: list[int], rank: int) -> float:
    """The nearest-rank percentile (0.0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[max(0, math.ceil(rank / 100 * len(ordered)) - 1)])


def median(values: list[int]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if not ordered:
        return 0.0
    return float(ordered[middle]) if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


@dataclass(frozen=True)
class Baseline:
    """The last 24 hours' distinct patients (reads held by requests in flight included) against the usual figures.

    A sliding day, not the calendar day: a drip gains nothing by waiting for midnight.
    """

    today: int
    own_median: float
    own_days: int
    peers: PeerDays

    def document(self) -> dict[str, Any]:
        return {
            "today": self.today,
            "own_median": self.own_median,
            "own_days": self.own_days,
            "peers_p99": self.peers.percentile,
            "peers": self.peers.professionals,
        }


def baseline_of(daily: Mapping[int, int], today: int, last_24h: int, peers: PeerDays) -> Baseline:
    """From a professional's per-day counters (day number → distinct patients that day) and the last 24 hours' reads."""
    worked = [n for day, n in daily.items() if today - HISTORY_DAYS <= day < today and n > 0]
    return Baseline(last_24h, median(worked), len(worked), peers)


def peer_group(subject: Subject) -> str:
    """Whose days a professional's are compared with: same organisation and roles ("" without an organisation)."""
    return f"{subject.organisation}/{'+'.join(sorted(subject.roles))}" if subject.organisation else ""
