"""WebAuthn ceremonies (Level 3 JSON) over python-fido2's ``Fido2Server``.

Each ceremony is two steps: ``begin_*`` answers the options a browser passes to
``PublicKeyCredential.parse*OptionsFromJSON`` and keeps the state in the store
under the session; ``complete_*`` takes what ``PublicKeyCredential.toJSON()``
produced, spends the state (a challenge is good once) and verifies. Every
refusal is a ``Refused`` naming its reason with a stable code.

User verification is asked for ("preferred") and reported, never assumed: an
assertion without the UV flag is an aal2 factor, never a phishing-resistant one.

The relying-party id and the exact origins (scheme, host, port) the guard's
pages run on are configuration, never taken from a request: the Host header is
the client's to choose, so a request naming ``evil.example`` would otherwise
get a ceremony for evil.example. Each credential keeps the RP id it was
registered for; an assertion for another is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from fido2.attestation.base import AttestationResult, AttestationVerifier, UnsupportedType, UntrustedAttestation
from fido2.server import Fido2Server
from fido2.webauthn import (
    AttestationConveyancePreference,
    AttestedCredentialData,
    AuthenticationResponse,
    AuthenticatorData,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialUserEntity,
    RegistrationResponse,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from accessguard.authn.alerts import alert
from accessguard.authn.authenticators import HELD_STATES, WEBAUTHN, Authenticator, Authenticators
from accessguard.errors import AccessGuardError, ConfigurationError, Refused
from accessguard.store.base import Store

log = logging.getLogger("accessguard.authn")

CEREMONY_TTL_S = 300
_HOST_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


@dataclass(frozen=True)
class Assertion:
    authenticator: Authenticator
    user_verified: bool

    @property
    def factor(self) -> str:
        """The session factor this assertion proves."""
        return "webauthn" if self.user_verified else "webauthn_no_uv"


def relying_party(rp_id: str | None, origins: Sequence[str]) -> tuple[str, frozenset[str]]:
    """The configured RP id and the allowed origins in their serialised form; ConfigurationError naming the bad setting.

    An origin is ``scheme://host[:port]`` (the default port left out, as browsers
    send it): https, or http on localhost only (the one insecure origin browsers
    run WebAuthn on); its host must be the RP id or below it.
    """
    name = (rp_id or "").strip().lower()
    if not name:
        raise ConfigurationError("webauthn_rp_id: required; the domain security keys are bound to (e.g. annuaire.example.fr)")
    if not _HOST_NAME.match(name) or name.replace(".", "").isdigit():
        raise ConfigurationError(f"webauthn_rp_id: {rp_id!r} must be a host name, not an address or URL")
    if not origins or isinstance(origins, str):
        raise ConfigurationError("webauthn_origins: required; the exact origins of the guard's pages (e.g. https://annuaire.example.fr)")
    return name, frozenset(_origin(origin, name) for origin in origins)


def _origin(raw: str, rp_id: str) -> str:
    bad = f"webauthn_origins: {raw!r} must be scheme://host[:port] (https, or http on localhost) under {rp_id}"
    try:
        url = urlsplit(raw)
        port = url.port
    except ValueError:
        raise ConfigurationError(bad) from None
    host = (url.hostname or "").lower()
    if url.scheme not in ("https", "http") or url.path not in ("", "/") or url.query or url.fragment or url.username is not None:
        raise ConfigurationError(bad)
    if not (host == rp_id or host.endswith("." + rp_id)) or (url.scheme == "http" and host != "localhost"):
        raise ConfigurationError(bad)
    default = {"https": 443, "http": 80}[url.scheme]
    return f"{url.scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def user_handle(account_id: str) -> bytes:
    """The WebAuthn user id: a digest, so the authenticator stores no account name in it."""
    return hashlib.sha256(b"accessguard-user:" + account_id.encode()).digest()


class _TrustedRoots(AttestationVerifier):
    """Attestation is trusted when its chain ends at one of the configured roots."""

    def __init__(self, roots: Sequence[x509.Certificate]) -> None:
        super().__init__()
        self._roots = roots

    def ca_lookup(self, attestation_result: AttestationResult, auth_data: AuthenticatorData) -> bytes | None:
        if not attestation_result.trust_path:
            return None  # self attestation proves nothing about the hardware
        issuer = x509.load_der_x509_certificate(attestation_result.trust_path[-1]).issuer
        return next((root.public_bytes(Encoding.DER) for root in self._roots if root.subject == issuer), None)


def load_roots(paths: Sequence[Path]) -> list[x509.Certificate]:
    roots: list[x509.Certificate] = []
    for path in paths:
        try:
            roots.extend(x509.load_pem_x509_certificates(Path(path).read_bytes()))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"webauthn_attestation_roots: cannot read {str(path)!r}: {exc}") from None
    return roots


class WebAuthn:
    """Registration and assertion for the accounts' WebAuthn credentials.

    ``rp_id`` and ``origins`` are the configured relying party (see ``relying_party``).
    ``allowed_aaguids`` (optional) limits registration to these authenticator
    models, proven by attestation chaining to ``attestation_roots``.
    """

    def __init__(
        self,
        authenticators: Authenticators,
        store: Store,
        *,
        rp_id: str | None,
        origins: Sequence[str],
        rp_name: str,
        allowed_aaguids: Sequence[str] = (),
        attestation_roots: Sequence[Path] = (),
    ) -> None:
        self._authenticators = authenticators
        self._store = store
        self.rp_id, self._origins = relying_party(rp_id, origins)
        self._allowed_aaguids = frozenset(a.lower() for a in allowed_aaguids)
        self._verifier = _TrustedRoots(load_roots(attestation_roots)) if self._allowed_aaguids else None
        self._server = Fido2Server(
            PublicKeyCredentialRpEntity(id=self.rp_id, name=rp_name),
            attestation=AttestationConveyancePreference.DIRECT if self._verifier else AttestationConveyancePreference.NONE,
            verify_origin=self._origins.__contains__,  # exactly these: fido2's default admits any port and any subdomain
            verify_attestation=self._verifier,
        )
        self._server.timeout = CEREMONY_TTL_S * 1000  # type: ignore[assignment]  # fido2 declares it None only

    def _save(self, key: str, state: Mapping[str, Any], now: float) -> None:
        self._store.put_ephemeral(key, json.dumps(state), now, CEREMONY_TTL_S)

    def _spend(self, key: str, account_id: str, now: float) -> dict[str, Any]:
        raw = self._store.pop_ephemeral(key, now)
        state: dict[str, Any] = json.loads(raw) if raw else {}
        if not state:
            raise Refused(
                "webauthn_no_ceremony", "no security-key ceremony is in progress here (expired or already used); start again", 400
            )
        if state.get("rp_id") != self.rp_id or state.get("account") != account_id:
            raise Refused("webauthn_invalid", "this response belongs to another ceremony; start again", 400)
        return state

    # registration

    def begin_registration(self, *, account_id: str, ceremony: str, label: str, now: float) -> dict[str, Any]:
        """Creation options (``PublicKeyCredentialCreationOptionsJSON``); already registered keys are excluded."""
        registered = [
            AttestedCredentialData(a.credential)
            for a in self._authenticators.of_account(account_id, WEBAUTHN)
            if a.state != "revoked" and a.credential
        ]
        options, state = self._server.register_begin(
            PublicKeyCredentialUserEntity(id=user_handle(account_id), name=account_id, display_name=account_id),
            credentials=registered,
            resident_key_requirement=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        self._save(f"webauthn:register:{ceremony}", {**state, "rp_id": self.rp_id, "account": account_id, "label": label}, now)
        public_key: dict[str, Any] = dict(options)["publicKey"]
        return public_key

    def complete_registration(
        self, *, account_id: str, ceremony: str, response: Mapping[str, Any], enrolled_via: str, now: float
    ) -> Authenticator:
        state = self._spend(f"webauthn:register:{ceremony}", account_id, now)
        try:
            registration = RegistrationResponse.from_dict(response)
            _refuse_cross_origin(registration.response.client_data.cross_origin)
            auth_data = self._server.register_complete(state, registration)
        except (UnsupportedType, UntrustedAttestation) as exc:
            raise Refused(
                "authenticator_not_allowed", "this security key's attestation is not trusted: {problem}", 403, problem=str(exc)
            ) from None
        except AccessGuardError:
            raise
        except Exception as exc:  # fido2 raises assorted types (ValueError, KeyError, struct.error, ...) on bad input
            raise Refused("webauthn_invalid", "the security key's registration was refused: {problem}", 400, problem=str(exc)) from None
        credential = auth_data.credential_data
        assert credential is not None  # register_complete guarantees attested credential data
        aaguid = str(credential.aaguid)
        if self._allowed_aaguids and aaguid not in self._allowed_aaguids:
            raise Refused("authenticator_not_allowed", "security keys of model {model} are not on the allow-list", 403, model=aaguid)
        added = self._authenticators.add_webauthn(
            account_id,
            credential_id=credential.credential_id,
            credential=bytes(credential),
            rp_id=self.rp_id,
            sign_count=auth_data.counter,
            aaguid=aaguid,
            user_verifying=auth_data.is_user_verified(),
            label=str(state.get("label") or "security key"),
            enrolled_via=enrolled_via,
            now=now,
        )
        if added is None:
            raise Refused("credential_already_registered", "this security key is already registered", 409)
        return added

    # assertion

    def begin_assertion(self, *, account_id: str, ceremony: str, now: float) -> dict[str, Any]:
        """Request options (``PublicKeyCredentialRequestOptionsJSON``) for the account's usable keys of this relying party."""
        usable = [
            AttestedCredentialData(a.credential)
            for a in self._authenticators.of_account(account_id, WEBAUTHN, HELD_STATES)
            if a.credential and self._ours(a)
        ]
        if not usable:
            raise Refused("authenticator_unknown", "this account has no security key; enrol one first", 409)
        options, state = self._server.authenticate_begin(usable, user_verification=UserVerificationRequirement.PREFERRED)
        self._save(f"webauthn:assert:{ceremony}", {**state, "rp_id": self.rp_id, "account": account_id}, now)
        public_key: dict[str, Any] = dict(options)["publicKey"]
        return public_key

    def complete_assertion(self, *, account_id: str, ceremony: str, response: Mapping[str, Any], now: float) -> Assertion:
        state = self._spend(f"webauthn:assert:{ceremony}", account_id, now)
        try:
            assertion = AuthenticationResponse.from_dict(response)
        except Exception as exc:  # malformed JSON of any shape
            raise Refused("webauthn_invalid", "the security key's answer is malformed: {problem}", 400, problem=str(exc)) from None
        found = self._authenticators.by_credential_id(account_id, assertion.raw_id)
        if found is None:
            raise Refused("authenticator_unknown", "this security key is not registered to the account", 401)
        if found.state == "revoked":
            raise Refused("authenticator_revoked", "this security key was revoked", 401)
        if found.state == "clone_suspected":
            raise Refused("authenticator_clone_suspected", "this security key is blocked: it may have been cloned", 403)
        if found.state not in HELD_STATES or found.credential is None:
            raise Refused("authenticator_unknown", "this security key is not usable", 401)
        if not self._ours(found):
            raise Refused(
                "authenticator_other_rp",
                "this security key was registered for {theirs}, not {ours}",
                401,
                theirs=found.rp_id,
                ours=self.rp_id,
            )
        try:
            _refuse_cross_origin(assertion.response.client_data.cross_origin)
            self._server.authenticate_complete(state, [AttestedCredentialData(found.credential)], assertion)
        except AccessGuardError:
            raise
        except Exception as exc:  # fido2 raises ValueError for each failed check, other types on bad input
            raise Refused("webauthn_invalid", "the security key's answer was refused: {problem}", 401, problem=str(exc)) from None
        auth_data = assertion.response.authenticator_data
        if not self._authenticators.advance_sign_count(found.id, auth_data.counter, self.rp_id, now):
            self._authenticators.move(found.id, found.state, "clone_suspected")
            alert("authenticator_clone_suspected", account_id, authenticator=found.id, stored=found.sign_count, presented=auth_data.counter)
            raise Refused(
                "authenticator_clone_suspected", "this security key's signature counter went backwards: it may have been cloned", 403
            )
        return Assertion(found, auth_data.is_user_verified())

    def _ours(self, authenticator: Authenticator) -> bool:
        """Registered for this RP id; a credential from before RP ids were stored (None) proves it by its signature."""
        return authenticator.rp_id in (None, self.rp_id)


def _refuse_cross_origin(cross_origin: bool) -> None:
    if cross_origin:
        raise ValueError("the ceremony ran in a cross-origin frame")
