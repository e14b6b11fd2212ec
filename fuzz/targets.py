"""Fuzz targets: one function per parser of outside bytes, each taking the fuzzer's bytes.

A target returns normally for accepted input and for a ``BadRequest`` (the
guard's 4xx); anything else escapes and is a crash. State a target needs
(a store, a registered security key) is made once, on first use, in a
temporary directory.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import ipaddress
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import atheris

with atheris.instrument_imports(include=["accessguard", "fido2", "joserfc"]):  # the parsers, not every library they import
    from accessguard.authn.accounts import open_accounts
    from accessguard.authn.authenticators import Authenticators
    from accessguard.authn.devices import DeviceCookies
    from accessguard.authn.sealing import Sealer
    from accessguard.authn.sessions import Sessions
    from accessguard.authn.webauthn import WebAuthn
    from accessguard.endpoints import parse_json_body
    from accessguard.errors import BadRequest
    from accessguard.facts import IPAddress, RequestFacts, client_address, cross_site, forwarded_client
    from accessguard.oidc.jwt_bearer import JWTValidator, bearer_credentials
    from accessguard.store import open_store
    from accessguard.untrusted import parse_json_object

Target = Callable[[bytes], None]
TARGETS: dict[str, Target] = {}
TRUSTED = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8:f::/48")]
ORIGIN, RP_ID = "http://localhost", "localhost"


def target(function: Target) -> Target:
    """Register a target under its name; BadRequest is the expected refusal."""

    @functools.wraps(function)
    def run(data: bytes) -> None:
        with contextlib.suppress(BadRequest):
            function(data)

    TARGETS[function.__name__] = run
    return run


def _text(provider: atheris.FuzzedDataProvider, limit: int = 256) -> str:
    """A string as a server hands a header over: bytes decoded as latin-1."""
    return _bytes(provider, limit).decode("latin-1")


def _bytes(provider: atheris.FuzzedDataProvider, limit: int) -> bytes:
    """Up to ``limit`` of the fuzzer's bytes."""
    data: bytes = provider.ConsumeBytes(provider.ConsumeIntInRange(0, limit))
    return data


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@target
def body_json(data: bytes) -> None:
    """Every guard route's body parser: what it accepts is a JSON object of storable text (UTF-8 encodable, no NUL)."""
    document = parse_json_body("application/json", data)
    assert document == parse_json_object(data)
    text = json.dumps(document, ensure_ascii=False)
    text.encode("utf-8")  # a lone surrogate raises here: the log writer's failure of issue 11
    assert "\\u0000" not in json.dumps(document), "a NUL passed the boundary"


@functools.cache
def _sessions() -> tuple[Sessions, DeviceCookies]:
    directory = Path(tempfile.mkdtemp(prefix="accessguard-fuzz-"))
    store = open_store(f"sqlite:///{directory / 'store.db'}")
    return Sessions(store, "fuzz-session-key", 3600), DeviceCookies("fuzz-session-key", login_path="/login", secure=False)


@target
def cookies(data: bytes) -> None:
    """A Cookie header: the session cookie it names (signed ``<id>.<HMAC>``) and a device cookie."""
    provider = atheris.FuzzedDataProvider(data)
    sessions, devices = _sessions()
    username = _text(provider, 32) or "dr.martin"
    facts = RequestFacts("POST", "/login", "", {"cookie": _text(provider, 4096)}, "127.0.0.1")
    value = facts.cookie("accessguard_session")
    if value:
        sessions.resume(value, 1_790_000_000.0)  # no session was ever started: every cookie is refused
        raise AssertionError(f"a cookie opened a session that was never started: {value!r}")
    assert devices.device(facts, username, 1_790_000_000.0) is None, "a device cookie never issued was trusted"


@target
def forwarded_headers(data: bytes) -> None:
    """The client address from a peer and its forwarded headers: an address, or a BadRequest; never a hop a trusted proxy wrote."""
    provider = atheris.FuzzedDataProvider(data)
    peer = provider.PickValueInList(["127.0.0.1", "10.1.2.3", "192.0.2.10", "2001:db8:f::1", "::ffff:127.0.0.1", "garbage"])
    headers = {}
    for _ in range(provider.ConsumeIntInRange(0, 3)):
        name = provider.PickValueInList(["x-forwarded-for", "forwarded", "x_forwarded_for", "x-forwarded_for", "x-real-ip"])
        headers[name] = _text(provider)
    facts = RequestFacts("GET", "/patients", "", headers, peer, header_names_folded=provider.ConsumeBool())
    address = forwarded_client(facts, TRUSTED)
    if address is not None and _trusted(address) and "x-forwarded-for" in headers and _trusted(client_address(peer, None, TRUSTED)):
        hops = [client_address(hop.strip(), None, TRUSTED) for hop in headers["x-forwarded-for"].split(",")]
        assert all(_trusted(hop) for hop in hops), f"a trusted proxy's address {address} was taken for the client's"


def _trusted(address: IPAddress | None) -> bool:
    """Only when every hop is a trusted proxy may the client's address be one (the leftmost)."""
    return address is not None and any(address in network for network in TRUSTED if network.version == address.version)


@target
def origin_header(data: bytes) -> None:
    """The CSRF check on a guard route's Origin header: True or False for any value, never an exception."""
    headers = {"origin": data.decode("latin-1"), "host": "localhost"}
    assert isinstance(cross_site(RequestFacts("POST", "/login", "", headers, "127.0.0.1")), bool)


@dataclass(frozen=True)
class _Issuer:
    validator: JWTValidator
    token: str


@functools.cache
def _issuer() -> _Issuer:
    from joserfc import jwt
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256")
    claims = {"iss": "https://id.example", "aud": "urn:fuzz", "sub": "s", "exp": 1_790_000_600, "iat": 1_790_000_000}
    token = jwt.encode({"alg": "ES256", "kid": "k"}, claims, key)
    validator = JWTValidator("https://id.example", ["ES256", "RS256"], 30, lambda kid, alg: key, lambda: 1_790_000_000.0)
    return _Issuer(validator, token)


@target
def bearer_token(data: bytes) -> None:
    """An Authorization header carrying a JWT: only the issuer's own signed token is accepted."""
    provider = atheris.FuzzedDataProvider(data)
    issuer = _issuer()
    mode = provider.ConsumeIntInRange(0, 2)
    if mode == 0:  # the whole header
        header = _text(provider, 2048)
    elif mode == 1:  # three parts whose header and claims are JSON the fuzzer shapes
        parts = [_bytes(provider, 200) for _ in range(3)]
        header = "Bearer " + ".".join(_b64(part) for part in parts)
    else:  # the valid token with one byte changed
        changed = bytearray(issuer.token.encode())
        changed[provider.ConsumeIntInRange(0, len(changed) - 1)] = provider.ConsumeInt(1) % 256
        header = "Bearer " + changed.decode("latin-1")
    token = bearer_credentials(header)
    if token is None:
        return
    claims = issuer.validator.claims(token, "urn:fuzz")
    assert token == issuer.token, f"a token the issuer never signed was accepted: {token!r} ({claims})"


@dataclass
class _Ceremonies:
    webauthn: WebAuthn
    credential_id: str
    now: float = 1_790_000_000.0


@functools.cache
def _ceremonies() -> _Ceremonies:
    from tests.softkey import SoftKey

    directory = Path(tempfile.mkdtemp(prefix="accessguard-fuzz-"))
    accounts = open_accounts(f"sqlite:///{directory / 'accounts.db'}")
    accounts.add("dr.martin", "fuzz-password-not-secret")
    from cryptography.fernet import Fernet

    authenticators = Authenticators(accounts.database, Sealer(Fernet.generate_key().decode()))
    store = open_store(f"sqlite:///{directory / 'store.db'}")
    webauthn = WebAuthn(authenticators, store, rp_id=RP_ID, origins=[ORIGIN], rp_name="fuzz")
    key = SoftKey()
    options = webauthn.begin_registration(account_id="dr.martin", ceremony="setup", label="key", now=1_790_000_000.0)
    created = key.create(options, ORIGIN)
    webauthn.complete_registration(account_id="dr.martin", ceremony="setup", response=created, enrolled_via="fuzz", now=1_790_000_000.0)
    return _Ceremonies(webauthn, created["id"])


def _client_data(provider: atheris.FuzzedDataProvider, kind: str, challenge: str) -> bytes:
    """Client data JSON: raw bytes, or a document with the real challenge and fuzzed fields."""
    if provider.ConsumeBool():
        return _bytes(provider, 300)
    document: dict[str, Any] = {
        "type": kind if provider.ConsumeBool() else _text(provider, 20),
        "challenge": challenge if provider.ConsumeBool() else _text(provider, 60),
        "origin": ORIGIN if provider.ConsumeBool() else _text(provider, 40),
    }
    if provider.ConsumeBool():
        document["crossOrigin"] = provider.PickValueInList([True, False, None, 0, 1, "true", [], {}])
    if provider.ConsumeBool():
        document[_text(provider, 10)] = _text(provider, 20)
    return json.dumps(document).encode()


def _authenticator_data(provider: atheris.FuzzedDataProvider) -> bytes:
    """Authenticator data: raw bytes, or the RP id's hash with fuzzed flags, counter and tail."""
    import hashlib

    if provider.ConsumeBool():
        return _bytes(provider, 300)
    head = hashlib.sha256(RP_ID.encode()).digest() if provider.ConsumeBool() else _bytes(provider, 32)
    return head + _bytes(provider, 5) + _bytes(provider, 200)


@target
def webauthn_assertion(data: bytes) -> None:
    """A security key's assertion (client data, authenticator data, signature) for a live ceremony: refused unless signed."""
    provider = atheris.FuzzedDataProvider(data)
    rig = _ceremonies()
    options = rig.webauthn.begin_assertion(account_id="dr.martin", ceremony="fuzz", now=rig.now)
    response = {
        "clientDataJSON": _b64(_client_data(provider, "webauthn.get", options["challenge"])),
        "authenticatorData": _b64(_authenticator_data(provider)),
        "signature": _b64(_bytes(provider, 80)),
    }
    if provider.ConsumeBool():
        response["userHandle"] = _b64(provider.ConsumeBytes(40))
    credential_id = rig.credential_id if provider.ConsumeBool() else _text(provider, 60)
    document: Any = {"id": credential_id, "rawId": credential_id, "type": "public-key", "response": response}
    if provider.ConsumeBool():  # or any JSON at all in its place
        try:
            document = json.loads(provider.ConsumeBytes(400))
        except ValueError:
            return
    rig.webauthn.complete_assertion(account_id="dr.martin", ceremony="fuzz", response=document, now=rig.now)
    raise AssertionError("an assertion no security key signed was accepted")


@target
def webauthn_registration(data: bytes) -> None:
    """A new security key's attestation (client data, CBOR attestation object): parsed and refused, never a crash."""
    provider = atheris.FuzzedDataProvider(data)
    rig = _ceremonies()
    options = rig.webauthn.begin_registration(account_id="dr.martin", ceremony="fuzz-r", label="key", now=rig.now)
    if provider.ConsumeBool():
        attestation = _bytes(provider, 400)
    else:  # a CBOR map {"fmt": ..., "attStmt": {}, "authData": ...} around fuzzed authenticator data
        from fido2 import cbor

        attestation = cbor.encode({"fmt": _text(provider, 10) or "none", "attStmt": {}, "authData": _authenticator_data(provider)})
    response = {
        "clientDataJSON": _b64(_client_data(provider, "webauthn.create", options["challenge"])),
        "attestationObject": _b64(attestation),
    }
    credential_id = _b64(provider.ConsumeBytes(32))
    document = {"id": credential_id, "rawId": credential_id, "type": "public-key", "response": response}
    rig.webauthn.complete_registration(account_id="dr.martin", ceremony="fuzz-r", response=document, enrolled_via="fuzz", now=rig.now)
