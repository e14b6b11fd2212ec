"""Keys that agree across a fleet: the shared database records each key's fingerprint, never the key.

Hosts sharing a database must sign cookies, key pseudonyms, seal TOTP seeds
and sign the access log with the same keys: a host with another session key
rejects every cookie the others set, one with another pseudonym key splits
each patient in two in the access log, one with another encryption key cannot
unseal any seed. The first host to start records a fingerprint of each key;
a host whose key has another fingerprint refuses to start, naming the key.

A fingerprint is an HMAC of a fixed label under the key: it shows whether two
keys are equal and nothing of either.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from accessguard.database.base import Database
from accessguard.errors import ConfigurationError

_LABEL = b"accessguard key fingerprint v1"


class KeyMismatch(ConfigurationError):
    """This host's key differs from the one the fleet's database recorded."""


def fingerprint(key: str) -> str:
    return hmac.new(key.encode(), _LABEL, hashlib.sha256).hexdigest()[:32]


def agree_on_keys(database: Database, keys: Mapping[str, str]) -> None:
    """Record each key's fingerprint if none is recorded yet, else KeyMismatch naming every key that differs."""
    mine = {name: fingerprint(key) for name, key in keys.items()}
    with database.transaction() as tx:
        tx.executemany("INSERT INTO key_fingerprints (name, fingerprint) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", list(mine.items()))
        recorded = {str(name): str(value) for name, value in tx.execute("SELECT name, fingerprint FROM key_fingerprints")}
    differing = sorted(name for name, value in mine.items() if recorded.get(name) != value)
    if differing:
        raise KeyMismatch(
            f"database {database.location}: {', '.join(differing)} differ{'s' if len(differing) == 1 else ''} from the key the other"
            " hosts sharing it use (its fingerprint is recorded there); give every host the same keys from your secret store"
        )
