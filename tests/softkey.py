"""A software WebAuthn authenticator built from python-fido2 and cryptography.

It answers the Level 3 JSON options the guard sends with the Level 3 JSON a
browser's ``PublicKeyCredential.toJSON()`` produces, and lets tests play the
attacker: no user verification, another origin or RP ID, a cloned counter.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from fido2.cose import ES256
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import Aaguid, AttestationObject, AttestedCredentialData, AuthenticatorData, CollectedClientData

FLAG = AuthenticatorData.FLAG
OID_FIDO_AAGUID = x509.ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4")


@dataclass
class AttestationCA:
    """A test vendor: a root certificate and the key that signs its models' attestation certificates."""

    key: ec.EllipticCurvePrivateKey
    root: x509.Certificate

    @classmethod
    def create(cls, name: str = "Test Key Vendor Root") -> AttestationCA:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        root = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key, root)

    def model_certificate(self, aaguid: Aaguid) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """An attestation key and certificate for one authenticator model (packed attestation rules)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test Key Vendor"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Authenticator Attestation"),
                x509.NameAttribute(NameOID.COMMON_NAME, "Test Key Model"),
            ]
        )
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.root.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.UnrecognizedExtension(OID_FIDO_AAGUID, b"\x04\x10" + bytes(aaguid)), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return key, certificate


@dataclass
class Credential:
    rp_id: str
    key: ec.EllipticCurvePrivateKey
    sign_count: int = 0


@dataclass
class SoftKey:
    """One authenticator. ``attestation`` (key, certificate) makes it send packed attestation."""

    aaguid: Aaguid = field(default_factory=lambda: Aaguid(uuid.uuid4().bytes))
    attestation: tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None = None
    credentials: dict[bytes, Credential] = field(default_factory=dict)

    def create(self, options: dict[str, Any], origin: str, *, uv: bool = True, rp_id: str | None = None) -> dict[str, Any]:
        """``navigator.credentials.create`` then ``toJSON()``."""
        rp_id = rp_id or options["rp"]["id"]
        for excluded in options.get("excludeCredentials", []):
            if websafe_decode(excluded["id"]) in self.credentials:
                raise ValueError("InvalidStateError: this authenticator is already registered")
        client_data = CollectedClientData.create("webauthn.create", options["challenge"], origin)
        key = ec.generate_private_key(ec.SECP256R1())
        credential_id = os.urandom(32)
        self.credentials[credential_id] = Credential(rp_id, key)
        auth_data = AuthenticatorData.create(
            hashlib.sha256(rp_id.encode()).digest(),
            FLAG.UP | FLAG.AT | (FLAG.UV if uv else 0),
            0,
            AttestedCredentialData.create(self.aaguid, credential_id, ES256.from_cryptography_key(key.public_key())),
        )
        if self.attestation is None:
            attestation = AttestationObject.create("none", auth_data, {})
        else:
            attestation_key, certificate = self.attestation
            signature = attestation_key.sign(bytes(auth_data) + client_data.hash, ec.ECDSA(hashes.SHA256()))
            attestation = AttestationObject.create(
                "packed", auth_data, {"alg": -7, "sig": signature, "x5c": [certificate.public_bytes(Encoding.DER)]}
            )
        return _public_key_credential(
            credential_id,
            {
                "clientDataJSON": websafe_encode(client_data),
                "attestationObject": websafe_encode(attestation),
                "transports": ["usb"],
            },
        )

    def get(
        self,
        options: dict[str, Any],
        origin: str,
        *,
        uv: bool = True,
        rp_id: str | None = None,
        sign_count: int | None = None,
    ) -> dict[str, Any]:
        """``navigator.credentials.get`` then ``toJSON()``; ``sign_count`` forces the counter (a clone)."""
        allowed = [websafe_decode(c["id"]) for c in options.get("allowCredentials", [])]
        credential_id = next(c for c in allowed if c in self.credentials)
        credential = self.credentials[credential_id]
        rp_id = rp_id or options.get("rpId") or credential.rp_id
        credential.sign_count = credential.sign_count + 1 if sign_count is None else sign_count
        client_data = CollectedClientData.create("webauthn.get", options["challenge"], origin)
        auth_data = AuthenticatorData.create(
            hashlib.sha256(rp_id.encode()).digest(), FLAG.UP | (FLAG.UV if uv else 0), credential.sign_count
        )
        signature = credential.key.sign(bytes(auth_data) + client_data.hash, ec.ECDSA(hashes.SHA256()))
        return _public_key_credential(
            credential_id,
            {
                "clientDataJSON": websafe_encode(client_data),
                "authenticatorData": websafe_encode(auth_data),
                "signature": websafe_encode(signature),
            },
        )


def _public_key_credential(credential_id: bytes, response: dict[str, Any]) -> dict[str, Any]:
    """A PublicKeyCredential as ``toJSON()`` gives it (WebAuthn Level 3)."""
    encoded_id = websafe_encode(credential_id)
    return {
        "id": encoded_id,
        "rawId": encoded_id,
        "type": "public-key",
        "authenticatorAttachment": "cross-platform",
        "clientExtensionResults": {},
        "response": response,
    }
