"""The hash chain of the access log and its signed checkpoints.

Each entry stores ``hash = SHA-256(previous entry's hash ‖ canonical entry)``,
so every entry carries the whole history before it; the first entry chains to
``GENESIS``. A checkpoint is ``(seq, time, hash)`` signed with HMAC-SHA-256
under the audit key: whoever lacks the key cannot rewrite the chain and
re-sign it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

GENESIS = bytes(32)


@dataclass(frozen=True)
class Entry:
    """One access-log entry as stored; ``detail`` is a JSON text or None."""

    seq: int
    time: float
    kind: str  # "decision" | "served" | "event"
    subject: str
    route: str | None
    patient: str | None
    decision_id: str | None
    detail: str | None

    def chained_to(self, previous: bytes) -> bytes:
        """This entry's hash when it follows an entry whose hash is ``previous``."""
        canonical = json.dumps(
            [self.seq, self.time, self.kind, self.subject, self.route, self.patient, self.decision_id, self.detail],
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(previous + canonical.encode()).digest()


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    time: float
    hash: bytes
    signature: str


def derive_key(secret: str, purpose: str) -> bytes:
    """A 32-byte key for one purpose, derived with HKDF-SHA-256 (key separation)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"accessguard/audit/{purpose}".encode()).derive(secret.encode())


class CheckpointSigner:
    """Signs and checks checkpoints; ``label`` separates periodic checkpoints from the head."""

    def __init__(self, audit_key: str | None, pseudonym_key: str) -> None:
        self._key = audit_key.encode() if audit_key is not None else derive_key(pseudonym_key, "checkpoints")

    def sign(self, label: str, seq: int, time: float, chain_hash: bytes) -> str:
        # as SQLite gives the time back (a REAL): a clock's int 5 must sign as 5.0
        message = f"accessguard-{label}-v1|{seq}|{float(time)!r}|{chain_hash.hex()}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def checkpoint(self, label: str, seq: int, time: float, chain_hash: bytes) -> Checkpoint:
        return Checkpoint(seq, time, chain_hash, self.sign(label, seq, time, chain_hash))

    def valid(self, label: str, checkpoint: Checkpoint) -> bool:
        expected = self.sign(label, checkpoint.seq, checkpoint.time, checkpoint.hash)
        return hmac.compare_digest(expected, checkpoint.signature)
