"""Keyed pseudonyms for patient identifiers (HMAC-SHA-256): never a clear id in a log."""

from __future__ import annotations

import functools
import hashlib
import hmac

#: Pseudonyms kept per process: a request names its patient three times (decision, emergency, settlement).
CACHED_PSEUDONYMS = 4096


class Pseudonymiser:
    def __init__(self, key: str) -> None:
        self._key = key.encode()
        self._cached = functools.lru_cache(maxsize=CACHED_PSEUDONYMS)(self._pseudonym)

    def __call__(self, patient_id: str) -> str:
        return self._cached(patient_id)

    def _pseudonym(self, patient_id: str) -> str:
        return "p_" + hmac.new(self._key, patient_id.encode(), hashlib.sha256).hexdigest()[:32]
