"""Write MaxMind-format City and ASN databases (demo database, and test fixtures).

``python -m accessguard.demo.geodb`` regenerates the demo's database; it
needs ``mmdb-writer`` (a test dependency).
"""

from __future__ import annotations

from pathlib import Path

DEMO_DATABASE = Path(__file__).with_name("demo-cities.mmdb")

#: RFC 5737 documentation ranges mapped to cities, for the demo's impossible-travel story.
DEMO_CITIES: dict[str, tuple[str, str, float, float]] = {
    "192.0.2.0/24": ("FR", "Caen", 49.1829, -0.3707),
    "198.51.100.0/24": ("FR", "Lille", 50.6292, 3.0573),
    "203.0.113.0/24": ("NG", "Lagos", 6.5244, 3.3792),
}


def write_city_database(path: Path | str, cities: dict[str, tuple[str, str, float, float]]) -> None:
    """Write a City database: CIDR → (ISO country, city, latitude, longitude); IPv4 and IPv6."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, database_type="GeoIP2-City", languages=["en"], ipv4_compatible=True)
    for cidr, (country, city, lat, lon) in cities.items():
        writer.insert_network(
            IPSet([cidr]),
            {
                "country": {"iso_code": country},
                "city": {"names": {"en": city}},
                "location": {"latitude": lat, "longitude": lon},
            },
        )
    writer.to_db_file(str(path))


def write_asn_database(path: Path | str, systems: dict[str, tuple[int, str]]) -> None:
    """Write a GeoLite2-ASN-format database: CIDR → (autonomous system number, organisation); IPv4 and IPv6."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, database_type="GeoLite2-ASN", ipv4_compatible=True)
    for cidr, (number, organisation) in systems.items():
        writer.insert_network(IPSet([cidr]), {"autonomous_system_number": number, "autonomous_system_organization": organisation})
    writer.to_db_file(str(path))


if __name__ == "__main__":
    write_city_database(DEMO_DATABASE, DEMO_CITIES)
    print(DEMO_DATABASE)
