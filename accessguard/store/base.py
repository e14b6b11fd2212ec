"""The Store protocol and the values it exchanges.

Every method is atomic across processes. A store fault raises StoreError,
which the guard turns into a fail-closed 503.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from accessguard.signals.geo import Location
from accessguard.signals.velocity import LastSeen

#: Sliding windows over which identity reads are counted, in seconds.
WINDOWS: dict[str, int] = {"1m": 60, "1h": 3600, "24h": 86400}
#: A reservation not settled within this time (crashed worker) stops counting.
RESERVATION_TTL_S = 120


@dataclass
class Session:
    id: str
    professional_id: str
    created: int
    expires: int
    factors: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Reservation:
    """A snapshot of a professional's signals, with ``requested`` reads held.

    ``identity_reads`` counts distinct patients per window plus reads held
    by other requests in flight, *not* this request's own ``requested``.
    """

    id: str | None
    professional_id: str
    requested: int
    previous: LastSeen | None
    identity_reads: dict[str, int]
    distinct_patients_24h: int


class Store(Protocol):
    def create_session(self, session: Session) -> None: ...

    def get_session(self, session_id: str) -> Session | None: ...

    def record_factor(self, session_id: str, factor: str, at: int) -> None: ...

    def delete_session(self, session_id: str) -> None: ...

    def revoke_sessions(self, professional_id: str) -> int: ...

    def claim_totp_step(self, professional_id: str, step: int) -> bool:
        """True once per (professional, step) and only for steps after the last claimed one."""
        ...

    def put_ephemeral(self, key: str, value: str, now: float, ttl_s: int) -> None:
        """Keep a short-lived value (a WebAuthn ceremony's state) for ``ttl_s``; replaces any value under ``key``."""
        ...

    def pop_ephemeral(self, key: str, now: float) -> str | None:
        """Take a value out: each value is returned at most once, and never after it expired."""
        ...

    def reserve_reads(self, professional_id: str, requested: int, now: float) -> Reservation:
        """Read the signals and hold ``requested`` reads, in one atomic step."""
        ...

    def settle_reads(self, reservation: Reservation, patients: list[str], location: Location | None, now: float) -> None:
        """Replace the hold with the patients actually served; remember where the professional was."""
        ...

    def release_reads(self, reservation: Reservation) -> None: ...

    def close(self) -> None: ...
