"""RequestFacts: what the adapters know about a request, framework-free."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from accessguard.errors import BadRequest

MAX_QUERY_LENGTH = 2048

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class RequestFacts:
    """One request as the guard sees it. Header names are lower case."""

    method: str
    path: str
    query_string: str
    headers: Mapping[str, str]
    peer: str | None

    def query(self) -> dict[str, str]:
        """The query parameters (first value wins); BadRequest when malformed."""
        return {key: values[0] for key, values in self.query_values().items()}

    def query_values(self) -> dict[str, list[str]]:
        """Every value of each query parameter, in order; BadRequest when malformed.

        Frameworks disagree on which of repeated values an app reads (Starlette
        the last, ``parse_qs`` users the first), so the guard must see them all.
        """
        if len(self.query_string) > MAX_QUERY_LENGTH:
            raise BadRequest(f"query string longer than {MAX_QUERY_LENGTH} characters", status=414)
        try:
            pairs = parse_qsl(self.query_string, keep_blank_values=True, strict_parsing=False, errors="strict")
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadRequest(f"query string is not valid UTF-8 form encoding: {exc}") from None
        query: dict[str, list[str]] = {}
        for key, value in pairs:
            query.setdefault(key, []).append(value)
        return query

    def cookie(self, name: str) -> str | None:
        """One cookie's raw value; malformed cookie headers give None."""
        header = self.headers.get("cookie", "")
        for part in header.split(";"):
            key, sep, value = part.strip().partition("=")
            if sep and key == name:
                return value.strip('"')
        return None


def cross_site(facts: RequestFacts) -> bool:
    """True when a browser reports that the request was made by another site (CSRF).

    Browsers send ``Sec-Fetch-Site`` and ``Origin`` with every POST; a request
    whose origin is not this host (or is ``null``) is refused. Together with
    JSON-only bodies (a cross-site page cannot send one without a CORS
    preflight) this protects every state-changing route of the guard.
    """
    if facts.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return True
    origin = facts.headers.get("origin")
    if origin is None:
        return False
    return urlsplit(origin).netloc.lower() != facts.headers.get("host", "").lower() or origin == "null"


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]) -> IPAddress | None:
    """The client's address: the rightmost untrusted hop of X-Forwarded-For.

    The header is believed only when the peer itself is a trusted proxy.
    Garbage in the header never raises: the last hop that parses is used,
    and if none does, the peer.
    """
    address = _parse(peer)
    if address is None or forwarded_for is None or not _is_trusted(address, trusted):
        return address
    for hop in reversed(forwarded_for.split(",")[-32:]):
        parsed = _parse(hop.strip())
        if parsed is None:
            break
        address = parsed
        if not _is_trusted(parsed, trusted):
            break
    return address


def _parse(value: str | None) -> IPAddress | None:
    if not value or len(value) > 64:
        return None
    try:
        return ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return None


def _is_trusted(address: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    return any(address in network for network in trusted if address.version == network.version)
