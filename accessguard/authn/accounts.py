"""The account directory: professionals, their passwords and status (SQLite).

An account is either local (a password, no issuer) or vouched for by an OpenID
provider (no password, the provider's issuer). The two never merge: a provider
subject whose ``sub`` is a local account's id is not that account.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from accessguard.authn.database import Database, Row
from accessguard.authn.passwords import hash_password
from accessguard.authn.state import Subject
from accessguard.store.base import Store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY, password_hash TEXT NOT NULL, kind TEXT NOT NULL, roles TEXT NOT NULL,
    organisation TEXT NOT NULL, status TEXT NOT NULL, created INTEGER NOT NULL);
"""
_COLUMNS = "id, password_hash, kind, roles, organisation, status, issuer"

#: The password hash of an account an OpenID provider vouches for: no password verifies against it.
NO_PASSWORD = "!"


@dataclass(frozen=True)
class Account:
    id: str
    password_hash: str
    kind: str
    roles: tuple[str, ...]
    organisation: str
    status: str
    issuer: str | None = None  # the OpenID provider that vouches for it; None for a local account

    @property
    def subject(self) -> Subject:
        return Subject(self.id, self.kind, self.roles, self.organisation, self.status)

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin" or "admin" in self.roles


def is_suspended(account: Account, store: Store) -> bool:
    """Suspended in this host's account directory, or by any host sharing the store (a StoreError fails closed)."""
    return account.status != "active" or store.is_suspended(account.id)


class Accounts:
    def __init__(self, path: Path | str) -> None:
        self.database = Database(path)
        self.database.create(_SCHEMA)
        self.database.add_column("accounts", "issuer", "TEXT")

    def add(
        self, account_id: str, password: str, *, kind: str = "professional", roles: tuple[str, ...] = (), organisation: str = ""
    ) -> Account:
        account = Account(account_id, hash_password(password), kind, tuple(roles), organisation, "active")
        self.database.execute(
            "INSERT INTO accounts (id, password_hash, kind, roles, organisation, status, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (account.id, account.password_hash, kind, json.dumps(list(roles)), organisation, "active", int(time.time())),
        )
        return account

    def provision(self, account_id: str, *, issuer: str, kind: str, roles: tuple[str, ...], organisation: str) -> Account | None:
        """The account of subject ``account_id`` of the provider ``issuer``: created, or its profile refreshed; its status is kept.

        None when that id is held by a local account (a password) or by another
        provider's subject: a provider must not log into either. An account
        provisioned before issuers were recorded is taken by the provider it came from.
        """
        current = self.get(account_id)
        if current is not None and (current.password_hash, current.issuer, current.kind, current.roles, current.organisation) == (
            NO_PASSWORD,
            issuer,
            kind,
            roles,
            organisation,
        ):
            return current  # nothing to refresh: no write for each bearer request
        self.database.execute(
            "INSERT INTO accounts (id, password_hash, kind, roles, organisation, status, created, issuer)"
            " VALUES (?, ?, ?, ?, ?, 'active', ?, ?) ON CONFLICT (id) DO UPDATE SET kind = excluded.kind,"
            " roles = excluded.roles, organisation = excluded.organisation, issuer = excluded.issuer"
            " WHERE accounts.password_hash = excluded.password_hash AND coalesce(accounts.issuer, excluded.issuer) = excluded.issuer",
            (account_id, NO_PASSWORD, kind, json.dumps(list(roles)), organisation, int(time.time()), issuer),
        )
        account = self.get(account_id)
        return account if account is not None and account.password_hash == NO_PASSWORD and account.issuer == issuer else None

    def get(self, account_id: str) -> Account | None:
        rows = self.database.execute(f"SELECT {_COLUMNS} FROM accounts WHERE id = ?", (account_id,))
        return _account(rows[0]) if rows else None

    def all(self) -> list[Account]:
        return [_account(row) for row in self.database.execute(f"SELECT {_COLUMNS} FROM accounts ORDER BY id")]

    def set_status(self, account_id: str, status: str) -> bool:
        return bool(self.database.execute("UPDATE accounts SET status = ? WHERE id = ? RETURNING id", (status, account_id)))

    def close(self) -> None:
        self.database.close()


def _account(row: Row) -> Account:
    aid, password_hash, kind, roles, organisation, status = (str(v) for v in row[:6])
    issuer = str(row[6]) if row[6] is not None else None
    return Account(aid, password_hash, kind, tuple(json.loads(roles)), organisation, status, issuer)
