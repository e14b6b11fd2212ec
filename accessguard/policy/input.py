"""The one place that builds the policy input document (version 1).

Its schema is ``input-v1.schema.json`` beside this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accessguard.authn.state import AuthnState, Subject
from accessguard.signals.geo import Location
from accessguard.signals.sources import Place
from accessguard.signals.usage import Usage
from accessguard.signals.velocity import Movement

SCHEMA_PATH = Path(__file__).with_name("input-v1.schema.json")


@dataclass(frozen=True)
class RequestContext:
    """The request, reduced to what the policy decides on."""

    method: str
    route: str
    action: str
    resource_type: str
    requested_count: int
    ip: str | None


def build_input(
    *,
    now: float,
    request: RequestContext,
    subject: Subject,
    authn: AuthnState,
    location: Location,
    place: Place,
    movement: Movement,
    live_sessions: list[dict[str, Any]],
    usage: Usage,
    care_relationship: str,
    emergency_declared_at: float | None = None,
) -> dict[str, Any]:
    """Assemble input v1 from request facts, subject, authentication state and signals.

    ``emergency_declared_at`` is when the subject declared an emergency for
    the patient this request names (break-the-glass), None when they did not.
    """
    return {
        "version": 1,
        "time": int(now),
        "request": {
            "method": request.method,
            "route": request.route,
            "action": request.action,
            "resource": {"type": request.resource_type, "requested_count": request.requested_count},
            "ip": request.ip,
        },
        "subject": {
            "id": subject.id,
            "kind": subject.kind,
            "roles": list(subject.roles),
            "organisation": subject.organisation,
            "status": subject.status,
        },
        "authn": {
            "methods": sorted(authn.factor_times),
            "aal": authn.aal,
            "phishing_resistant": authn.phishing_resistant,
            "phishing_resistant_time": authn.phishing_resistant_time,
            "auth_time": authn.auth_time,
            "factor_times": dict(authn.factor_times),
        },
        "geo": {
            "resolved": location.resolved,
            "country": location.country,
            "city": location.city,
            "lat": location.lat,
            "lon": location.lon,
            "private": place.private,
            "place": place.document(),
            "previous": movement.previous_document(),
            "distance_km": movement.distance_km,
            "elapsed_s": movement.elapsed_s,
            "speed_kmh": movement.speed_kmh,
            "live_sessions": live_sessions,
        },
        "usage": usage.document(),
        "care": {"relationship": care_relationship},
        "emergency": {"declared": False}
        if emergency_declared_at is None
        else {"declared": True, "declared_at": int(emergency_declared_at)},
    }
