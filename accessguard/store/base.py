"""The Store protocol and the values it exchanges.

Every method is atomic across processes. A store fault raises StoreError,
which the guard turns into a fail-closed 503.

Identity reads are counted in *scopes*: the professional, the
professional's reads of patients without a care relationship, the
professional's organisation, and each *source* the request comes from
(client address, its network, its autonomous system). Each scope keeps, per
patient, the time of the latest read, so "distinct patients read since T" is
one range count. A source also keeps which professionals read from it.

Longer windows (7 and 30 days) and the baseline come from per-day counters:
each professional's distinct patients per UTC day, counted when reads are
settled, and a per-day summary of the peer group's days (organisation and
role) refreshed at most once a day. No request scans a history.

Places (city, network) where a professional was allowed to read are kept
for ``PLACE_HISTORY_S``; the reservation says which of this request's were seen.

A professional suspended by any host is suspended in the store too: hosts
with their own account directories share one store, and every protected
request's reservation reports the suspension.

Attempts (one-time codes, password logins) are counted per key and charged
*before* what was submitted is checked: one attempt charges several keys at
once (a username, an address, a network), all or none. The back-off schedule
is a ``Backoff`` here; SQLite applies it through ``charge``, Redis through the
same arithmetic in one Lua script (one round trip), and one test suite holds
both to the same outcomes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from accessguard.signals.baseline import PeerDays, baseline_of
from accessguard.signals.geo import Location
from accessguard.signals.usage import Usage
from accessguard.signals.velocity import LastSeen

#: Sliding windows over which identity reads are counted, in seconds.
WINDOWS: dict[str, int] = {"1m": 60, "1h": 3600, "24h": 86400}
#: Windows over which reads from one source (address, network, autonomous system) are counted.
SOURCE_WINDOWS: dict[str, int] = {"1m": 60, "1h": 3600}
#: The window over which the professionals reading from one source are counted.
SOURCE_PROFESSIONALS_WINDOW = ("1h", 3600)
#: Longer windows, in days, summed from the per-day counters (patients read per day, summed over days).
DAY_WINDOWS: dict[str, int] = {"7d": 7, "30d": 30}
#: Places where a professional was allowed to read identity records are remembered this long.
PLACE_HISTORY_S = 30 * 86400
DAY_S = 86400
#: A reservation not settled within this time (crashed worker) stops counting.
RESERVATION_TTL_S = 120
#: Other sessions of a professional seen within this time are reported as live.
LIVE_SESSION_S = 3600
#: At most this many other live sessions are reported.
MAX_LIVE_SESSIONS = 10
#: A key's attempt count is forgotten after this long without an attempt or a lock.
ATTEMPTS_FORGOTTEN_S = 86400


@dataclass
class Session:
    """A server-side session; ``revoked`` names why it was revoked (None: live).

    A revoked session is kept until it would have expired, without its
    factors, so the guard can tell "revoked" from "unknown" and refuse it
    for what it is; nothing brings it back to life.
    """

    id: str
    professional_id: str
    created: int
    expires: int
    factors: dict[str, int] = field(default_factory=dict)
    revoked: str | None = None


@dataclass(frozen=True)
class ReadRequest:
    """Who asks for how many patient identity records, from where, before the decision.

    ``without_care`` is true when the app said the professional has no care
    relationship with the patients: those reads also count in that scope.
    ``organisation`` empty means the professional belongs to none (no
    organisation totals). ``session_id`` None: a bearer token, no session.
    ``peer_group`` (organisation and role) is whose days the baseline compares
    with; ``sources`` (``signals/sources.py``) are counted for identity reads;
    ``places`` (a city, a network) are looked up in the professional's history
    and, once the request is allowed and settled, added to it.
    A resolved ``location`` becomes the session's "seen" place whatever the
    decision, so a challenged request still shows where that session is.
    """

    professional_id: str
    organisation: str
    session_id: str | None
    requested: int
    without_care: bool = False
    location: Location | None = None
    peer_group: str = ""
    sources: tuple[str, ...] = ()
    places: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reservation:
    """A snapshot of a professional's signals, taken while holding ``request.requested`` reads.

    ``usage`` counts distinct patients per window plus reads held by other
    requests in flight, *not* this request's own hold. ``live_sessions`` are
    the professional's other live sessions and where each was last seen.
    ``suspended``: the professional is suspended in the store (by any host).
    ``places_seen`` are those of ``request.places`` in the professional's
    history, ``places_known`` how many places that history holds.
    """

    id: str | None
    request: ReadRequest
    previous: LastSeen | None
    live_sessions: tuple[LastSeen, ...]
    usage: Usage
    suspended: bool
    places_seen: frozenset[str] = frozenset()
    places_known: int = 0


@dataclass(frozen=True)
class Backoff:
    """A back-off schedule: from the ``max_attempts``-th consecutive attempt on, each
    attempt also locks the key, first for ``first_lock_s``, doubling up to ``max_lock_s``.
    A count is forgotten ``forget_after_s`` after its last attempt or the end of its lock."""

    max_attempts: int
    first_lock_s: int
    max_lock_s: int
    forget_after_s: int = ATTEMPTS_FORGOTTEN_S

    def lock_seconds(self, attempts: int) -> int:
        """The lock after ``attempts`` consecutive attempts (0 below the threshold)."""
        if attempts < self.max_attempts:
            return 0
        return int(min(self.first_lock_s * 2 ** min(attempts - self.max_attempts, 16), self.max_lock_s))


@dataclass(frozen=True)
class Attempt:
    """The outcome of charging one attempt: admitted, or refused until ``locked_until``.

    ``attempts`` counts the consecutive attempts charged so far, this one included.
    """

    admitted: bool
    locked_until: float
    attempts: int


class Store(Protocol):
    def create_session(self, session: Session) -> None: ...

    def get_session(self, session_id: str) -> Session | None:
        """The session, live or revoked; None when unknown (never created, logged out, or gone after it expired)."""
        ...

    def record_factor(self, session_id: str, factor: str, at: int) -> None:
        """Add a verified factor to a live session; a revoked or unknown session is left as it is."""
        ...

    def rotate_session(self, session_id: str, new_id: str, factor: str, at: int) -> Session | None:
        """Move a live session to ``new_id`` with one more verified factor, in one atomic step; the old id ends.

        None, and nothing changed, when the session is not live (revoked, unknown or gone):
        a step-up never brings a revoked session back.
        """
        ...

    def delete_session(self, session_id: str) -> None: ...

    def revoke_sessions(self, professional_id: str, reason: str) -> int:
        """Revoke every live session of a professional, in one atomic step; returns how many.

        Each stops being live at once (no factors, no place among the live
        sessions) and is kept, marked with ``reason``, until it would have expired.
        """
        ...

    def set_suspended(self, professional_id: str, suspended: bool) -> None:
        """Suspend a professional in every host sharing this store (True), or lift the suspension (False)."""
        ...

    def is_suspended(self, professional_id: str) -> bool:
        """Whether the professional is suspended in this store.

        Logins ask, and so does the guard for a revoked session; every other
        request learns it from its reservation, at no extra cost.
        """
        ...

    def claim_totp_step(self, professional_id: str, step: int) -> bool:
        """True once per (professional, step) and only for steps after the last claimed one."""
        ...

    def put_ephemeral(self, key: str, value: str, now: float, ttl_s: int) -> None:
        """Keep a short-lived value (a WebAuthn ceremony's state) for ``ttl_s``; replaces any value under ``key``."""
        ...

    def pop_ephemeral(self, key: str, now: float) -> str | None:
        """Take a value out: each value is returned at most once, and never after it expired."""
        ...

    def reserve_reads(self, request: ReadRequest, now: float) -> Reservation:
        """Read every signal (the suspension included) and hold ``request.requested`` reads, in one atomic step."""
        ...

    def settle_reads(self, reservation: Reservation, patients: list[str], location: Location | None, now: float) -> None:
        """Replace the hold with the patients actually served; remember where the professional was last allowed from."""
        ...

    def release_reads(self, reservation: Reservation) -> None: ...

    def charge_attempts(self, charges: Sequence[tuple[str, Backoff]], now: float) -> list[Attempt]:
        """Count one attempt against every key, in one atomic step, unless one of them is locked.

        Then nothing is counted: every outcome is refused and carries its key's
        count and lock (a key that is not locked has ``locked_until <= now``).
        Outcomes come in the order of ``charges`` (see ``charge``).
        """
        ...

    def settle_attempts(self, cleared: Sequence[str], refunded: Sequence[str]) -> None:
        """A success, in one atomic step: each ``cleared`` key starts again from zero and its lock is
        lifted; each ``refunded`` key takes back the one attempt this success was charged, its lock kept."""
        ...

    def ping(self) -> None:
        """Answer once, or raise StoreError: the readiness check (``/accessguard/health/ready``)."""
        ...

    def close(self) -> None: ...


def read_scopes(request: ReadRequest) -> tuple[str, str, str | None]:
    """The scopes a professional's reads are counted in: own, without care relationship, organisation."""
    pid = request.professional_id
    return f"pro:{pid}", f"care:{pid}", f"org:{request.organisation}" if request.organisation else None


def source_scopes(request: ReadRequest) -> list[str]:
    """The scopes of the patients read from each source."""
    return [f"src:{source}" for source in request.sources]


def professional_scopes(request: ReadRequest) -> list[str]:
    """The scopes of the professionals reading from each source (members are professional ids)."""
    return [f"who:{source}" for source in request.sources]


def count_windows(request: ReadRequest) -> list[tuple[str, str, int]]:
    """Every (scope, window, seconds) a reservation counts, in a fixed order."""
    found = [(scope, w, s) for scope in read_scopes(request) if scope for w, s in WINDOWS.items()]
    found += [(scope, w, s) for scope in source_scopes(request) for w, s in SOURCE_WINDOWS.items()]
    window, seconds = SOURCE_PROFESSIONALS_WINDOW
    found += [(scope, window, seconds) for scope in professional_scopes(request)]
    return found


def retention_s(scope: str) -> int:
    """How long a scope's reads are kept: its longest window."""
    if scope.startswith("src:"):
        return max(SOURCE_WINDOWS.values())
    if scope.startswith("who:"):
        return SOURCE_PROFESSIONALS_WINDOW[1]
    return max(WINDOWS.values())


def counted_scopes(request: ReadRequest) -> list[str]:
    """Every scope whose reads (and holds) a reservation counts."""
    return [*(scope for scope in read_scopes(request) if scope), *source_scopes(request)]


def hold_scopes(request: ReadRequest) -> list[str]:
    """The scopes this request's reads are held and then recorded in; the professional's own comes first."""
    pro, care, organisation = read_scopes(request)
    return [pro, *([care] if request.without_care else []), *([organisation] if organisation else []), *source_scopes(request)]


def day_of(now: float) -> int:
    """The UTC day number of a time: the per-day counters' key."""
    return int(now // DAY_S)


def usage_of(
    request: ReadRequest,
    counts: dict[str, dict[str, int]],
    held: dict[str, int],
    daily: dict[int, int],
    peers: PeerDays,
    now: float,
) -> Usage:
    """Usage from distinct-patient counts per scope and window, the reads held per scope,
    the professional's per-day counters and the peer group's summary."""
    pro, care, organisation = read_scopes(request)

    def windows(scope: str | None, names: Iterable[str] = WINDOWS) -> dict[str, int]:
        found = counts.get(scope, {}) if scope else {}
        return {window: found.get(window, 0) + held.get(scope, 0) if scope else 0 for window in names}

    today = day_of(now)
    own = windows(pro) | {
        name: sum(n for day, n in daily.items() if day > today - days) + held.get(pro, 0) for name, days in DAY_WINDOWS.items()
    }
    who_window = SOURCE_PROFESSIONALS_WINDOW[0]
    sources = {
        source: {
            "identity_reads": windows(f"src:{source}", SOURCE_WINDOWS),
            "professionals": {who_window: counts.get(f"who:{source}", {}).get(who_window, 0)},
        }
        for source in request.sources
    }
    return Usage(
        own,
        counts.get(pro, {}).get("24h", 0),
        windows(care),
        windows(organisation),
        baseline_of(daily, today, own["24h"], peers),
        sources,
    )


def charge(recorded: Sequence[tuple[int, float]], backoffs: Sequence[Backoff], now: float) -> list[tuple[Attempt, float]]:
    """Charge one attempt on top of each key's recorded count and lock (0, 0.0 when none or forgotten).

    Returns, per key, the outcome and until when the count must be kept:
    ``forget_after_s`` after this attempt or the end of its lock. While any
    key is locked every outcome is refused and nothing changes.
    """
    refused = any(locked_until > now for _, locked_until in recorded)
    outcomes = []
    for (attempts, locked_until), backoff in zip(recorded, backoffs, strict=True):
        if refused:
            attempt = Attempt(False, locked_until, attempts)
        else:
            lock = backoff.lock_seconds(attempts + 1)
            attempt = Attempt(True, now + lock if lock else locked_until, attempts + 1)
        outcomes.append((attempt, max(now, attempt.locked_until) + backoff.forget_after_s))
    return outcomes
