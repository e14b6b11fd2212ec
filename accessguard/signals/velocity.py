"""Velocity: how far and how fast a professional moved since last seen,
and how far away the professional's other live sessions are.

Rego has no trigonometry, so distances are computed here; the policy only
compares them with its thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from accessguard.signals.geo import Location

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class LastSeen:
    """Where a professional was last allowed from, and when."""

    location: Location
    time: float


@dataclass(frozen=True)
class Movement:
    previous: LastSeen | None
    distance_km: float = 0.0
    elapsed_s: float = 0.0
    speed_kmh: float = 0.0

    def previous_document(self) -> dict[str, Any] | None:
        if self.previous is None:
            return None
        where = self.previous.location
        return {"country": where.country, "city": where.city, "time": int(self.previous.time)}


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def movement(previous: LastSeen | None, current: Location, now: float) -> Movement:
    """Distance, elapsed time and speed between the previous and the current location.

    Unresolved locations give no movement. Elapsed time is at least one
    second so that two requests in the same second still give a finite speed.
    """
    if previous is None or not previous.location.resolved or not current.resolved:
        return Movement(previous)
    before = previous.location
    assert before.lat is not None and before.lon is not None and current.lat is not None and current.lon is not None
    distance = haversine_km(before.lat, before.lon, current.lat, current.lon)
    elapsed = max(1.0, now - previous.time)
    return Movement(previous, round(distance, 1), round(elapsed, 1), round(distance / (elapsed / 3600.0), 1))


def live_sessions(others: Sequence[LastSeen], current: Location, now: float) -> list[dict[str, Any]]:
    """The professional's other live sessions seen from a resolved place: where, how far from here, how long ago.

    Unresolved places (here or there) give nothing to compare, never a reason.
    """
    if not current.resolved:
        return []
    assert current.lat is not None and current.lon is not None
    found = []
    for other in others:
        where = other.location
        if where.resolved and where.lat is not None and where.lon is not None:
            found.append(
                {
                    "country": where.country,
                    "city": where.city,
                    "distance_km": round(haversine_km(where.lat, where.lon, current.lat, current.lon), 1),
                    "elapsed_s": round(max(0.0, now - other.time), 1),
                }
            )
    return found
