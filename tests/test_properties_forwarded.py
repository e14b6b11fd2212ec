"""The client address is never chosen by an untrusted party, whatever forwarded headers arrive.

- A peer that is not a trusted proxy is the client, whatever it writes.
- Behind trusted proxies, the client is the rightmost hop no trusted proxy
  wrote: anything the client puts to its left (addresses, garbage, ports),
  and any other header it adds, either changes nothing or gets the request
  refused, never another address. Checked on ``forwarded_client`` and through
  the real ASGI middleware, on the address the policy decides on.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from accessguard.demo.app import build
from accessguard.errors import BadRequest
from accessguard.facts import IPAddress, RequestFacts, forwarded_client
from tests.conftest import _copy_demo
from tests.property_support import budget, call_asgi
from tests.store_support import start_session
from tests.test_properties_request_path import RecordingEngine

TRUSTED = [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8:f::/48")]
PROXIES = st.sampled_from(["127.0.0.1", "10.1.2.3", "10.200.0.1", "2001:db8:f::1", "[2001:db8:f::2]:443", "10.0.0.9:8080"])
PEERS = st.sampled_from(["127.0.0.1", "10.1.2.3", "2001:db8:f::1"])  # what the server saw: an address without a port
ADDRESSES = st.ip_addresses().map(str) | st.sampled_from(["192.0.2.10", "198.51.100.20", "203.0.113.30", "::ffff:203.0.113.30"])
HOPS = ADDRESSES | PROXIES | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters=","), max_size=20)
FORGED = st.lists(
    st.tuples(st.sampled_from(["x_forwarded_for", "forwarded", "x-real-ip", "x-forwarded-host", "true-client-ip"]), HOPS), max_size=2
)


def _address(value: str) -> IPAddress:
    address = ipaddress.ip_address(value)
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return mapped or address


def _trusted(value: str) -> bool:
    address = _address(value)
    return any(address in network for network in TRUSTED if network.version == address.version)


@budget(300)
@given(peer=ADDRESSES, forwarded=st.lists(HOPS, max_size=4), forged=FORGED, folded=st.booleans())
def test_an_untrusted_peer_is_the_client_whatever_it_writes(peer: str, forwarded: list[str], forged: list[Any], folded: bool) -> None:
    assume(not _trusted(peer))
    headers = {"x-forwarded-for": ", ".join(forwarded), **dict(forged)}
    assert forwarded_client(RequestFacts("GET", "/", "", headers, peer, header_names_folded=folded), TRUSTED) == _address(peer)


@budget(300)
@given(client=ADDRESSES, prefix=st.lists(HOPS, max_size=4), proxies=st.lists(PROXIES, max_size=3), peer=PEERS, forged=FORGED)
def test_behind_trusted_proxies_the_client_cannot_choose_its_address(
    client: str, prefix: list[str], proxies: list[str], peer: str, forged: list[Any]
) -> None:
    assume(not _trusted(client))
    headers = {"x-forwarded-for": ", ".join([*prefix, client, *proxies]), **dict(forged)}
    try:
        chosen = forwarded_client(RequestFacts("GET", "/", "", headers, peer), TRUSTED)
    except BadRequest:
        assert forged, "only headers a client added may put the address in doubt"
        return
    assert chosen == _address(client)


# -- through the middleware: the address the policy decides on ------------------------------------------


@pytest.fixture(scope="module")
def demo(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, RecordingEngine, str]]:
    app, guard = build(_copy_demo(demo_template, tmp_path_factory.mktemp("forwarded") / "data"))
    engine = guard.engine = RecordingEngine(guard.engine)
    yield app, engine, start_session(guard, "dr.martin", int(guard.settings.clock()))
    guard.close()


@pytest.mark.slow
@budget(150)
@given(client=ADDRESSES, prefix=st.lists(HOPS, max_size=3), forged=FORGED)
def test_the_policy_decides_on_the_address_the_proxy_saw(
    demo: tuple[Any, RecordingEngine, str], client: str, prefix: list[str], forged: Any
) -> None:
    app, engine, cookie = demo
    assume(not _trusted(client))
    engine.inputs.clear()
    headers = [("cookie", f"accessguard_session={cookie}"), *forged, ("x-forwarded-for", ", ".join([*prefix, client]))]
    answer = call_asgi(app, {"path": "/patients/pat-0001", "headers": [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]})
    if not engine.inputs:
        assert answer.status == 400 and forged, answer
        return
    assert engine.inputs[0]["request"]["ip"] == str(_address(client))
