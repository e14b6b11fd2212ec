"""Geo-IP: client address to city, from a MaxMind-format City database.

Private, loopback, link-local, reserved and unknown addresses are
*unresolved*: the policy never denies on that alone.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import maxminddb

from accessguard.errors import ConfigurationError
from accessguard.facts import IPAddress

log = logging.getLogger("accessguard.signals")


@dataclass(frozen=True)
class Location:
    resolved: bool
    country: str | None = None
    city: str | None = None
    lat: float | None = None
    lon: float | None = None


UNRESOLVED = Location(resolved=False)


#: How often, at most, the database file is checked for a change, in seconds.
RELOAD_CHECK_S = 1.0


class GeoLocator:
    """Looks addresses up in an ``.mmdb`` file; reopens it when the file changes.

    The file is checked at most every ``check_interval_s`` seconds (one
    ``stat``), so a database replaced in place, or renamed over the old one,
    is picked up without a restart. A replacement that does not open keeps
    the previous database and logs why.
    """

    def __init__(self, path: Path | str | None, check_interval_s: float = RELOAD_CHECK_S, setting: str = "geoip_database") -> None:
        self.path = Path(path) if path else None
        self.setting = setting
        self._reader: Any = None
        self._version: tuple[int, int, int] | None = None
        self._check_interval_s = check_interval_s
        self._next_check = 0.0
        self._lock = threading.Lock()
        if self.path is not None:
            if not self.path.is_file():
                raise ConfigurationError(f"{setting}: {str(self.path)!r} is not a readable file")
            self._open()

    def _open(self) -> None:
        assert self.path is not None
        version = None
        try:
            version = _version(self.path)
            reader = maxminddb.open_database(str(self.path))
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            if self._reader is None:
                raise ConfigurationError(f"{self.setting}: cannot open {str(self.path)!r}: {exc}") from None
            log.error("geo database %s could not be reloaded, keeping the previous one: %s", self.path, exc)
            self._version = version or self._version  # a broken file is not retried until it changes again
            return
        if self._reader is not None:
            log.info("geo database %s reloaded", self.path)
        self._reader, self._version = reader, version

    def _current(self) -> Any:
        if self.path is None:
            return None
        now = time.monotonic()
        if now >= self._next_check:
            with self._lock:
                self._next_check = now + self._check_interval_s
                try:
                    changed = _version(self.path) != self._version
                except OSError:
                    changed = False  # the file is being replaced: keep the current one
                if changed:
                    self._open()
        return self._reader

    def lookup(self, address: IPAddress | None) -> Any:
        """The database's record for a public address; None for a local one, an unknown one, or without a database."""
        address = unmapped(address)
        if address is None or is_local(address):
            return None
        reader = self._current()
        if reader is None:
            return None
        try:
            return reader.get(str(address))
        except (ValueError, maxminddb.InvalidDatabaseError):
            return None

    def locate(self, address: IPAddress | None) -> Location:
        return _location(self.lookup(address))


def unmapped(address: IPAddress | None) -> IPAddress | None:
    """An IPv4-mapped IPv6 address as the IPv4 address it carries."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _version(path: Path) -> tuple[int, int, int]:
    """What changes when the file is rewritten or replaced."""
    stat = os.stat(path)
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


_LOCAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"))


@functools.lru_cache(maxsize=4096)
def is_local(address: IPAddress) -> bool:
    """Addresses that can never be located: private, loopback, link-local and the like (a dozen network tests, kept per address)."""
    if address.is_loopback or address.is_link_local or address.is_multicast or address.is_unspecified or address.is_reserved:
        return True
    return any(address in network for network in _LOCAL_NETWORKS if network.version == address.version)


def _location(record: Any) -> Location:
    if not isinstance(record, dict):
        return UNRESOLVED
    country = (record.get("country") or {}).get("iso_code")
    city = ((record.get("city") or {}).get("names") or {}).get("en")
    coordinates = record.get("location") or {}
    lat, lon = coordinates.get("latitude"), coordinates.get("longitude")
    if country is None or lat is None or lon is None:
        return UNRESOLVED
    return Location(True, str(country), city, float(lat), float(lon))
