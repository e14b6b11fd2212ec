"""Sources: where identity reads come from, counted across professionals.

Several stolen accounts used from one place each stay under their own
limits; counted per source they add up. A request's sources are its client
address, that address's network (/24 for IPv4, /48 for IPv6) and, when an
ASN database (GeoLite2-ASN format) is configured, its autonomous system.
Keys are ``kind:value``; the kind is what the policy input names.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from accessguard.facts import IPAddress
from accessguard.signals.geo import GeoLocator, Location, is_local, unmapped

if TYPE_CHECKING:
    from accessguard.store.base import Reservation

#: Prefix lengths of the network an address is counted in.
NETWORK_PREFIX = {4: 24, 6: 48}


@functools.lru_cache(maxsize=4096)
def network_of(address: IPAddress) -> str:
    """The address's network (/24 or /48), as text: worked out once per address and process (the same clients come back)."""
    return str(ipaddress.ip_network(f"{address}/{NETWORK_PREFIX[address.version]}", strict=False))


def autonomous_system(asn: GeoLocator | None, address: IPAddress) -> int | None:
    """The autonomous system number of a public address, from a GeoLite2-ASN-format database."""
    record = asn.lookup(address) if asn is not None else None
    number = record.get("autonomous_system_number") if isinstance(record, dict) else None
    return number if isinstance(number, int) else None


def sources_of(address: IPAddress | None, asn: GeoLocator | None) -> tuple[str, ...]:
    """The sources a request's identity reads are counted in (none without a client address)."""
    address = unmapped(address)
    if address is None:
        return ()
    found = [f"address:{address}", f"network:{network_of(address)}"]
    number = autonomous_system(asn, address)
    if number is not None:
        found.append(f"asn:{number}")
    return tuple(found)


def places_of(address: IPAddress | None, location: Location) -> tuple[str, ...]:
    """The places a request comes from, as a professional's history keeps them: its city and its network."""
    address = unmapped(address)
    return (*([_city(location)] if location.resolved else []), *([_network(address)] if address is not None else []))


def _city(location: Location) -> str:
    return f"city:{location.country}/{location.city or ''}"


def _network(address: IPAddress) -> str:
    return f"network:{network_of(address)}"


@dataclass(frozen=True)
class Place:
    """Where a request comes from, against the professional's history of places.

    ``private``: no address, or one that no database can locate (private,
    loopback…): unresolved by nature, never a reason on its own. ``known``:
    how many places (cities, networks) the history holds; 0 for requests
    that read no identity records (their places are not looked up).
    """

    private: bool
    city_seen: bool = False
    network_seen: bool = False
    known: int = 0

    def document(self) -> dict[str, Any]:
        return {"city_seen": self.city_seen, "network_seen": self.network_seen, "known": self.known}


def place_of(address: IPAddress | None, location: Location, reservation: Reservation | None) -> Place:
    address = unmapped(address)
    private = address is None or is_local(address)
    if reservation is None or not reservation.request.places:
        return Place(private)
    seen = reservation.places_seen
    city_seen = location.resolved and _city(location) in seen
    return Place(private, city_seen, address is not None and _network(address) in seen, reservation.places_known)
