"""RequestFacts: what the adapters know about a request, framework-free."""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit

from accessguard.errors import BadRequest

MAX_QUERY_LENGTH = 2048

#: The headers through which a proxy names the client. The guard reads X-Forwarded-For only.
FORWARDED_HEADERS = ("x-forwarded-for", "forwarded")

#: A hop with a port: ``192.0.2.1:5678``, ``[2001:db8::1]:5678`` (or bracketed without one).
_HOP_WITH_PORT = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<v4>[0-9]{1,3}(?:\.[0-9]{1,3}){3}))(?::(?P<port>[0-9]{1,5}))?$")

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class RequestFacts:
    """One request as the guard sees it. Header names are lower case.

    ``path`` is the path the application routes on, below ``mount`` (see
    mounting.py); ``other_paths`` are other readings a router could make of the
    request. ``header_names_folded`` says that the server may have merged a header
    whose name has an underscore into the dashed one (wsgiref does), so forwarded
    headers cannot be told from a client's.
    """

    method: str
    path: str
    query_string: str
    headers: Mapping[str, str]
    peer: str | None
    mount: str = ""
    other_paths: tuple[str, ...] = ()
    header_names_folded: bool = False

    def query(self) -> dict[str, str]:
        """The query parameters (first value wins); BadRequest when malformed."""
        return {key: values[0] for key, values in self.query_values().items()}

    def query_values(self) -> dict[str, list[str]]:
        """Every value of each query parameter, in order; BadRequest when malformed.

        Frameworks disagree on which of repeated values an app reads (Starlette
        the last, ``parse_qs`` users the first), so the guard must see them all.
        """
        if len(self.query_string) > MAX_QUERY_LENGTH:
            raise BadRequest("query string longer than {length} characters", status=414, length=MAX_QUERY_LENGTH)
        try:
            pairs = parse_qsl(self.query_string, keep_blank_values=True, strict_parsing=False, errors="strict")
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadRequest("query string is not valid UTF-8 form encoding: {problem}", problem=str(exc)) from None
        query: dict[str, list[str]] = {}
        for key, value in pairs:
            query.setdefault(key, []).append(value)
        return query

    def target(self) -> str:
        """The request's path and query as the application sees them (app-relative): where a ``next`` leads back to."""
        return self.path + (f"?{self.query_string}" if self.query_string else "")

    def public_path(self, path: str) -> str:
        """Where a browser finds the app-relative ``path`` (a guard route, a ``next``): below the mount prefix.

        The one place every URL the guard emits (redirects, page links, problem
        members, cookie paths) is made mount-aware; ``path`` keeps its own query.
        """
        return quote(self.mount.rstrip("/"), safe="/:@!$&'()*+,;=~") + path

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
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:  # "http://[": no origin this host serves, so another site's
        return True
    return netloc.lower() != facts.headers.get("host", "").lower() or origin == "null"


def forwarded_client(facts: RequestFacts, trusted: Sequence[IPNetwork]) -> IPAddress | None:
    """The client's address; BadRequest when a trusted proxy's forwarded headers cannot be read without doubt.

    Doubt is: a header whose name reads as a forwarded one only with an
    underscore (``X_Forwarded_For``, merged by some servers into the proxy's
    header); a server that merges such names unseen (``header_names_folded``);
    a ``Forwarded`` header (the guard reads X-Forwarded-For, so which one did the
    proxy write?); a malformed hop. Deciding on the proxy's own address instead
    would leave the place unresolved, and no geo rule fires on an unresolved
    place: that is the evasion itself, so the request is refused.
    """
    peer = _parse(facts.peer)
    if peer is None or not _is_trusted(peer, trusted):
        return peer
    for name in facts.headers:
        if name.replace("_", "-") in FORWARDED_HEADERS and "_" in name:
            raise _doubt(f"header {name!a} reads as {name.replace('_', '-')} only once its underscores are dashes")
    forwarded_for = facts.headers.get("x-forwarded-for")
    if "forwarded" in facts.headers:
        raise _doubt("a Forwarded header came from a trusted proxy, but the client address is read from X-Forwarded-For only")
    if forwarded_for is not None and facts.header_names_folded:
        raise _doubt("this server merges header names with underscores into X-Forwarded-For, so a client could have written it")
    return client_address(facts.peer, forwarded_for, trusted)


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]) -> IPAddress | None:
    """The client's address: the rightmost untrusted hop of X-Forwarded-For.

    The header is believed only when the peer itself is a trusted proxy. A hop
    may carry a port (``192.0.2.1:5678``, ``[2001:db8::1]:5678``), which is
    dropped; IPv4-mapped IPv6 addresses are read as IPv4. A hop reached that is
    not an address is a BadRequest (logged): stopping at the trusted hop before it
    would hide the client's place.
    """
    address = _parse(peer)
    if address is None or forwarded_for is None or not _is_trusted(address, trusted):
        return address
    for hop in reversed(forwarded_for.split(",")[-32:]):
        parsed = _parse(hop.strip())
        if parsed is None:
            raise _doubt(f"X-Forwarded-For holds a hop that is not an IP address: {hop.strip()[:64]!a}")
        address = parsed
        if not _is_trusted(parsed, trusted):
            break
    return address


def _doubt(detail: str) -> BadRequest:
    log.warning("forwarded headers refused: %s", detail)
    return BadRequest("the client address is in doubt: {problem}", problem=detail)


def _parse(value: str | None) -> IPAddress | None:
    if not value or len(value) > 64:
        return None
    return _parse_hop(value)


@functools.lru_cache(maxsize=4096)
def _parse_hop(value: str) -> IPAddress | None:
    """A hop's address, parsed once per process: the same peers and proxies come back on every request."""
    found = _HOP_WITH_PORT.match(value)
    if found and int(found.group("port") or 0) > 65535:
        return None
    try:
        address = ipaddress.ip_address(found.group("v6") or found.group("v4") if found else value)
    except ValueError:
        return None
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return mapped or address


def _is_trusted(address: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    return any(address in network for network in trusted if address.version == network.version)
