"""Sign-ins in the access log: each password login and each second factor verified, with where it came from.

They are access-log events (``signed_in``), chained and kept like every decision and shared by a
fleet's hosts, so a professional's own page can list them ("not you?") whichever host they used.
The place is the city the guard's geo-IP database gives for the client address (none for private
or unknown addresses), written at the time: a later database update does not move old sign-ins.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from accessguard.audit.access_log import AccessLog
from accessguard.audit.activity import first_seq_at
from accessguard.audit.log_store import LogLocation, reading
from accessguard.facts import IPAddress
from accessguard.i18n import N_
from accessguard.signals.geo import Location

SIGNED_IN = "signed_in"
#: The session factors a sign-in records, as a professional reads them.
FACTOR_NAMES = {"pwd": N_("password"), "otp": N_("authenticator app"), "webauthn": N_("security key"), "recovery": N_("recovery code")}
#: A professional's page lists the sign-ins of this period, newest first, at most ``SHOWN``.
RECENT_S = 30 * 86400
SHOWN = 20


@dataclass(frozen=True)
class SignIn:
    seq: int  # the access-log entry, which names the sign-in ("not you?")
    time: float
    factor: str
    ip: str | None
    place: str | None


def place_name(location: Location) -> str | None:
    """ "City, country" of a resolved location; None when the address was not resolved."""
    if not location.resolved:
        return None
    return ", ".join(part for part in (location.city, location.country) if part) or None


def record_sign_in(access_log: AccessLog, account_id: str, factor: str, address: IPAddress | None, location: Location) -> None:
    """Append the sign-in and wait until it is acknowledged: no session cookie is handed out without its record
    (a log that cannot take it refuses the login, as it refuses every protected request)."""
    detail = {"event": SIGNED_IN, "factor": factor, "ip": str(address) if address else None, "place": place_name(location)}
    access_log.event(account_id, detail)


def recent_sign_ins(location: LogLocation, account_id: str, since: float, limit: int = SHOWN) -> list[SignIn]:
    """The account's sign-ins since ``since``, newest first; reads only the period's part of the log."""
    with reading(location) as db:
        rows = db.execute(
            "SELECT seq, time, detail FROM entries WHERE seq >= ? AND kind = 'event' AND subject = ? ORDER BY seq DESC",
            (first_seq_at(db, since), account_id),
        )
    return [s for s in map(_sign_in, rows) if s is not None][:limit]


def places_by_professional(location: LogLocation, since: float) -> Counter[tuple[str, str]]:
    """How many sign-ins each professional made from each place since ``since`` (unresolved addresses: "unknown place")."""
    with reading(location) as db:
        rows = db.execute("SELECT seq, time, detail, subject FROM entries WHERE seq >= ? AND kind = 'event'", (first_seq_at(db, since),))
    counted: Counter[tuple[str, str]] = Counter()
    for row in rows:
        found = _sign_in(row[:3])
        if found is not None and found.time >= since:
            counted[(str(row[3]), found.place or "unknown place")] += 1
    return counted


def sign_in_of(location: LogLocation, account_id: str, seq: int) -> SignIn | None:
    """Entry ``seq`` if it is a sign-in of this account."""
    with reading(location) as db:
        rows = db.execute("SELECT seq, time, detail FROM entries WHERE seq = ? AND kind = 'event' AND subject = ?", (seq, account_id))
    return _sign_in(rows[0]) if rows else None


def _sign_in(row: tuple[object, ...]) -> SignIn | None:
    number, at, detail = row
    document = json.loads(str(detail))
    if document.get("event") != SIGNED_IN:
        return None
    ip, place = document.get("ip"), document.get("place")
    return SignIn(int(str(number)), float(str(at)), str(document.get("factor")), str(ip) if ip else None, str(place) if place else None)
