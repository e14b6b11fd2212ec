"""Keyed pseudonyms for patient identifiers (HMAC-SHA-256): never a clear id in a log."""

from __future__ import annotations

import hashlib
import hmac


class Pseudonymiser:
    def __init__(self, key: str) -> None:
        self._key = key.encode()

    def __call__(self, patient_id: str) -> str:
        return "p_" + hmac.new(self._key, patient_id.encode(), hashlib.sha256).hexdigest()[:32]
