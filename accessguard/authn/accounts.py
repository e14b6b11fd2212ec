"""The account directory: professionals, their passwords, status and TOTP seeds (SQLite)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from accessguard.authn.passwords import hash_password
from accessguard.authn.sealing import Sealer
from accessguard.authn.state import Subject
from accessguard.errors import StoreError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY, password_hash TEXT NOT NULL, kind TEXT NOT NULL, roles TEXT NOT NULL,
    organisation TEXT NOT NULL, status TEXT NOT NULL, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS totp_credentials (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id), sealed_secret BLOB NOT NULL,
    confirmed INTEGER NOT NULL, created INTEGER NOT NULL);
"""

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

    @property
    def subject(self) -> Subject:
        return Subject(self.id, self.kind, self.roles, self.organisation, self.status)


class Accounts:
    def __init__(self, path: Path | str, sealer: Sealer) -> None:
        self.path = str(path)
        self._sealer = sealer
        self._local = threading.local()
        self._execute_script(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=2.0, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            self._local.db = db
        return db

    def _execute(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        try:
            return self._db().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            self._local.db = None
            raise StoreError(f"account directory {self.path}: {exc}") from None

    def _execute_script(self, sql: str) -> None:
        try:
            self._db().executescript(sql)
        except sqlite3.Error as exc:
            raise StoreError(f"account directory {self.path}: {exc}") from None

    def add(
        self, account_id: str, password: str, *, kind: str = "professional", roles: tuple[str, ...] = (), organisation: str = ""
    ) -> Account:
        account = Account(account_id, hash_password(password), kind, tuple(roles), organisation, "active")
        self._execute(
            "INSERT INTO accounts VALUES (?, ?, ?, ?, ?, ?, ?)",
            (account.id, account.password_hash, kind, json.dumps(list(roles)), organisation, "active", int(time.time())),
        )
        return account

    def provision(self, account_id: str, *, kind: str, roles: tuple[str, ...], organisation: str) -> Account | None:
        """Create, or refresh the profile of, an account an OpenID provider vouches for; its status is kept.

        None when a local account with a password holds that id: a provider must not log into it.
        """
        self._execute(
            "INSERT INTO accounts VALUES (?, ?, ?, ?, ?, 'active', ?) ON CONFLICT (id) DO UPDATE SET kind = excluded.kind,"
            " roles = excluded.roles, organisation = excluded.organisation WHERE accounts.password_hash = excluded.password_hash",
            (account_id, NO_PASSWORD, kind, json.dumps(list(roles)), organisation, int(time.time())),
        )
        account = self.get(account_id)
        return account if account is not None and account.password_hash == NO_PASSWORD else None

    def get(self, account_id: str) -> Account | None:
        rows = self._execute("SELECT id, password_hash, kind, roles, organisation, status FROM accounts WHERE id = ?", (account_id,))
        if not rows:
            return None
        aid, password_hash, kind, roles, organisation, status = (str(v) for v in rows[0])
        return Account(aid, password_hash, kind, tuple(json.loads(roles)), organisation, status)

    def set_status(self, account_id: str, status: str) -> bool:
        return bool(self._execute("UPDATE accounts SET status = ? WHERE id = ? RETURNING id", (status, account_id)))

    def set_totp_secret(self, account_id: str, secret: str, *, confirmed: bool) -> None:
        self._execute(
            "INSERT OR REPLACE INTO totp_credentials VALUES (?, ?, ?, ?)",
            (account_id, self._sealer.seal(secret), int(confirmed), int(time.time())),
        )

    def totp_secret(self, account_id: str) -> str | None:
        """The confirmed TOTP seed of an account, unsealed; None when there is none."""
        rows = self._execute("SELECT sealed_secret FROM totp_credentials WHERE account_id = ? AND confirmed = 1", (account_id,))
        return self._sealer.unseal(rows[0][0]) if rows else None  # type: ignore[arg-type]

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
