"""Geo-IP on City databases the tests write with mmdb-writer: IPv4, IPv6, private, unknown, reload."""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path

import pytest

from accessguard.demo.geodb import write_city_database
from accessguard.errors import ConfigurationError
from accessguard.facts import client_address
from accessguard.signals.geo import UNRESOLVED, GeoLocator, Location
from accessguard.signals.velocity import LastSeen, haversine_km, live_sessions, movement

CITIES = {
    "192.0.2.0/24": ("FR", "Caen", 49.1829, -0.3707),
    "2001:db8:1::/48": ("FR", "Marseille", 43.2965, 5.3698),
    "2001:db8:2::/48": ("NG", "Lagos", 6.5244, 3.3792),
}
CAEN = Location(True, "FR", "Caen", 49.1829, -0.3707)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "cities.mmdb"
    write_city_database(path, CITIES)
    return path


def locate(locator: GeoLocator, address: str) -> Location:
    return locator.locate(ipaddress.ip_address(address))


def test_ipv4_and_ipv6_addresses_resolve_to_their_city(database: Path) -> None:
    locator = GeoLocator(database)
    assert locate(locator, "192.0.2.77") == CAEN
    assert locate(locator, "::ffff:192.0.2.77") == CAEN  # IPv4-mapped, as dual-stack servers report it
    assert locate(locator, "2001:db8:1::42") == Location(True, "FR", "Marseille", 43.2965, 5.3698)
    assert locate(locator, "2001:db8:2:ff::1").city == "Lagos"


@pytest.mark.parametrize(
    "address",
    [
        *("10.1.2.3", "172.16.0.9", "192.168.1.1", "100.64.0.1", "127.0.0.1", "169.254.1.1", "0.0.0.0", "240.0.0.1", "224.0.0.1"),
        *("::1", "fe80::1", "fd12:3456::1", "::", "ff02::1", "::ffff:10.0.0.1"),
    ],
)
def test_private_loopback_link_local_and_reserved_addresses_are_unresolved(database: Path, address: str) -> None:
    assert locate(GeoLocator(database), address) == UNRESOLVED


@pytest.mark.parametrize("address", ["198.51.100.1", "8.8.8.8", "2001:db8:3::1", "2606:4700::1111"])
def test_addresses_missing_from_the_database_are_unresolved(database: Path, address: str) -> None:
    assert locate(GeoLocator(database), address) == UNRESOLVED


def test_no_database_or_no_address_is_unresolved() -> None:
    assert locate(GeoLocator(None), "192.0.2.1") == UNRESOLVED
    assert GeoLocator(None).locate(None) == UNRESOLVED


def test_a_replaced_database_is_picked_up_without_restart(database: Path, tmp_path: Path) -> None:
    locator = GeoLocator(database, check_interval_s=0)
    assert locate(locator, "192.0.2.1").city == "Caen"
    replacement = tmp_path / "new.mmdb"
    write_city_database(replacement, {"192.0.2.0/24": ("FR", "Rouen", 49.4431, 1.0993)})
    os.replace(replacement, database)  # the usual way to ship a new database: rename over the old one
    assert locate(locator, "192.0.2.1").city == "Rouen"
    assert locate(locator, "2001:db8:1::42") == UNRESOLVED


def test_a_broken_replacement_keeps_the_previous_database(database: Path, caplog: pytest.LogCaptureFixture) -> None:
    locator = GeoLocator(database, check_interval_s=0)
    broken = database.with_suffix(".tmp")
    broken.write_bytes(b"not a MaxMind database")
    os.replace(broken, database)
    with caplog.at_level(logging.ERROR):
        assert locate(locator, "192.0.2.1").city == "Caen"
        assert locate(locator, "192.0.2.1").city == "Caen"
    assert caplog.text.count("could not be reloaded") == 1  # logged once, not retried until the file changes again


def test_a_missing_or_unreadable_database_is_a_start_up_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="geoip_database"):
        GeoLocator(tmp_path / "missing.mmdb")
    (tmp_path / "bad.mmdb").write_bytes(b"garbage")
    with pytest.raises(ConfigurationError, match="geoip_database"):
        GeoLocator(tmp_path / "bad.mmdb")


TRUSTED = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("fd00::1", "2001:db8:1::42", "2001:db8:1::42"),  # IPv6 proxy and client (tests/test_facts.py has IPv4)
        ("[fd00::1]", "[2001:db8:1::42], fd00::2", "2001:db8:1::42"),  # bracketed, behind two IPv6 proxies
        ("10.0.0.5", "198.51.100.1, 2001:db8:1::42, fd00::2, 10.0.0.7", "2001:db8:1::42"),  # mixed chain
        ("2001:db8:1::42", "192.0.2.9", "2001:db8:1::42"),  # an untrusted IPv6 peer's header is not believed
    ],
)
def test_ipv6_client_address_behind_trusted_proxies(peer: str, forwarded: str, client: str) -> None:
    assert str(client_address(peer, forwarded, TRUSTED)) == client


def test_movement_and_live_sessions_use_great_circle_distances() -> None:
    lagos = Location(True, "NG", "Lagos", 6.5244, 3.3792)
    # 4756 km by the spherical law of cosines on the same mean Earth radius
    assert round(haversine_km(CAEN.lat or 0, CAEN.lon or 0, lagos.lat or 0, lagos.lon or 0)) == 4756
    moved = movement(LastSeen(CAEN, 1000.0), lagos, 1000.0 + 3600)
    assert moved.distance_km == pytest.approx(4756, abs=1) and moved.speed_kmh == pytest.approx(4756, abs=1)
    assert movement(LastSeen(CAEN, 1000.0), UNRESOLVED, 2000.0).distance_km == 0.0
    others = [LastSeen(lagos, 1900.0), LastSeen(UNRESOLVED, 1990.0)]
    far = {"country": "NG", "city": "Lagos", "distance_km": pytest.approx(4756, abs=1), "elapsed_s": 100.0}
    assert live_sessions(others, CAEN, 2000.0) == [far]
    assert live_sessions(others, UNRESOLVED, 2000.0) == []
