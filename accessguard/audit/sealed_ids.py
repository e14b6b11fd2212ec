"""Patient ids sealed beside their pseudonyms, so the data-protection officer can resolve a breach scope.

Pseudonyms are one-way (HMAC). The access log therefore also keeps, once per
patient, the clear id sealed with AES-256-GCM under a key derived from the
pseudonym key, with the pseudonym as associated data: a sealed id moved to
another pseudonym does not open, and an opened id must pseudonymise back to
its pseudonym. Holding the pseudonym key is what it takes to resolve.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from accessguard.audit.chain import derive_key
from accessguard.audit.pseudonym import Pseudonymiser
from accessguard.errors import AccessGuardError

NONCE_BYTES = 12


class UnresolvablePseudonym(AccessGuardError):
    """A sealed patient id does not open: wrong pseudonym key, or a tampered row."""


class PatientIdSealer:
    def __init__(self, pseudonym_key: str) -> None:
        self.pseudonymise = Pseudonymiser(pseudonym_key)
        self._aead = AESGCM(derive_key(pseudonym_key, "patient-ids"))

    def seal(self, pseudonym: str, patient_id: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, patient_id.encode(), pseudonym.encode())

    def unseal(self, pseudonym: str, sealed: bytes) -> str:
        """The clear patient id; UnresolvablePseudonym when it does not open or does not match."""
        try:
            patient_id = self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], pseudonym.encode()).decode()
        except (InvalidTag, ValueError, UnicodeDecodeError):
            raise UnresolvablePseudonym(f"{pseudonym}: the sealed patient id does not open (wrong pseudonym key or tampered row)") from None
        if self.pseudonymise(patient_id) != pseudonym:
            raise UnresolvablePseudonym(f"{pseudonym}: the sealed patient id does not match its pseudonym")
        return patient_id

    def resolve(self, pseudonym: str, sealed: bytes | None) -> str | None:
        """The clear id, or None when there is no sealed id or it does not open."""
        try:
            return self.unseal(pseudonym, sealed) if sealed is not None else None
        except UnresolvablePseudonym:
            return None
