"""Geo-IP: client address to city, from a MaxMind-format City database.

Private, loopback, link-local, reserved and unknown addresses are
*unresolved*: the policy never denies on that alone.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
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


class GeoLocator:
    """Looks addresses up in an ``.mmdb`` file; reopens it when the file changes."""

    def __init__(self, path: Path | str | None) -> None:
        self.path = Path(path) if path else None
        self._reader: Any = None
        self._mtime = 0.0
        self._lock = threading.Lock()
        if self.path is not None:
            if not self.path.is_file():
                raise ConfigurationError(f"geoip_database: {str(self.path)!r} is not a readable file")
            self._open()

    def _open(self) -> None:
        assert self.path is not None
        try:
            mtime = os.stat(self.path).st_mtime
            reader = maxminddb.open_database(str(self.path))
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            if self._reader is None:
                raise ConfigurationError(f"geoip_database: cannot open {str(self.path)!r}: {exc}") from None
            log.error("geo database %s could not be reloaded, keeping the previous one: %s", self.path, exc)
            return
        self._reader, self._mtime = reader, mtime

    def _current(self) -> Any:
        if self.path is None:
            return None
        try:
            changed = os.stat(self.path).st_mtime != self._mtime
        except OSError:
            changed = False
        if changed:
            with self._lock:
                self._open()
        return self._reader

    def locate(self, address: IPAddress | None) -> Location:
        if address is None or _is_local(address):
            return UNRESOLVED
        reader = self._current()
        if reader is None:
            return UNRESOLVED
        try:
            record = reader.get(str(address))
        except (ValueError, maxminddb.InvalidDatabaseError):
            return UNRESOLVED
        return _location(record)


_LOCAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"))


def _is_local(address: IPAddress) -> bool:
    """Addresses that can never be located: private, loopback, link-local and the like."""
    if address.is_loopback or address.is_link_local or address.is_multicast or address.is_unspecified:
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
