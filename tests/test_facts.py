"""Client address behind trusted proxies, and route matching."""

from __future__ import annotations

import ipaddress

import pytest

from accessguard.errors import BadRequest, ConfigurationError
from accessguard.facts import client_address
from accessguard.routes import ProtectedRoute, served_ids

TRUSTED = [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8")]


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("127.0.0.1", "192.0.2.10", "192.0.2.10"),
        ("203.0.113.9", "192.0.2.10", "203.0.113.9"),  # untrusted peer: header ignored
        ("127.0.0.1", "198.51.100.1, 192.0.2.10, 10.1.1.1", "192.0.2.10"),  # rightmost untrusted hop
        ("127.0.0.1", "garbage, 192.0.2.10", "192.0.2.10"),  # a hop left of the client is never read
        ("127.0.0.1", "192.0.2.10:5678", "192.0.2.10"),  # a port is dropped
        ("127.0.0.1", "[2001:db8::1]:443", "2001:db8::1"),
        ("127.0.0.1", "[2001:db8::1]", "2001:db8::1"),
        ("::ffff:127.0.0.1", "192.0.2.10", "192.0.2.10"),  # a proxy reached over IPv4-mapped IPv6 is trusted
        ("127.0.0.1", "::ffff:192.0.2.10", "192.0.2.10"),  # a mapped client is located as IPv4
        ("::ffff:203.0.113.9", "192.0.2.10", "203.0.113.9"),
        ("127.0.0.1", "10.0.0.1, 10.0.0.2", "10.0.0.1"),  # all trusted: the leftmost
        ("127.0.0.1", "2001:db8::1", "2001:db8::1"),
        ("testclient", "192.0.2.10", None),
        (None, None, None),
    ],
)
def test_client_address(peer: str | None, forwarded: str | None, expected: str | None) -> None:
    address = client_address(peer, forwarded, TRUSTED)
    assert (str(address) if address else None) == expected


@pytest.mark.parametrize("forwarded", ["192.0.2.10, garbage", "192.0.2.10,", "192.0.2.10:99999", "1.2.3.4:80:80", "unknown"])
def test_a_malformed_hop_reached_is_refused(forwarded: str, caplog: pytest.LogCaptureFixture) -> None:
    """Before, it silently became the proxy's address: an unresolved place, on which no geo rule fires."""
    with pytest.raises(BadRequest, match="not an IP address"):
        client_address("127.0.0.1", forwarded, TRUSTED)
    assert "forwarded headers refused" in caplog.text


def test_a_malformed_hop_is_logged_escaped(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(BadRequest):
        client_address("127.0.0.1", "x\n2025 forged line", TRUSTED)
    assert [r.getMessage() for r in caplog.records] == [
        "forwarded headers refused: X-Forwarded-For holds a hop that is not an IP address: 'x\\n2025 forged line'"
    ]


def test_route_matching_and_counts() -> None:
    route = ProtectedRoute("/patients/{id}", name="read", served_ids="id")
    assert route.match("/patients/p-1") == {"id": "p-1"}
    assert route.match("/patients/p-1/notes") is None
    assert route.allowed_methods == ("GET", "HEAD")
    assert ProtectedRoute("/x", name="x", methods=("POST",)).allowed_methods == ("POST",)
    search = ProtectedRoute("/patients", name="search", requested_count="limit", served_ids="patients[].id")
    assert search.count_requested({}) == 20
    assert search.count_requested({"limit": ["7"]}) == 7
    with pytest.raises(BadRequest):
        search.count_requested({"limit": ["-1"]})
    with pytest.raises(BadRequest, match="given 2 times"):
        search.count_requested({"limit": ["1", "1000"]})
    with pytest.raises(ConfigurationError):
        ProtectedRoute("patients", name="bad")


def test_served_ids_paths() -> None:
    assert served_ids({"patients": [{"id": "a"}, {"id": 2}, {"x": 1}]}, "patients[].id") == ["a", "2"]
    assert served_ids({"id": "a"}, "id") == ["a"]
    assert served_ids({"patients": "oops"}, "patients[].id") == []
    assert served_ids([1, 2], "id") == []
