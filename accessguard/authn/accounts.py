"""The account directory: professionals, their passwords and status (SQLite, or PostgreSQL for a fleet).

An account is either local (a password, no issuer) or vouched for by an OpenID
provider (no password, the provider's issuer). The two never merge: a provider
subject whose ``sub`` is a local account's id is not that account.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from accessguard.authn.passwords import hash_password
from accessguard.authn.state import Subject
from accessguard.database import Database, Row, open_database
from accessguard.database.migrations import ready
from accessguard.store.base import Store

_COLUMNS = "id, password_hash, kind, roles, organisation, status, issuer"

#: The password hash of an account an OpenID provider vouches for: no password verifies against it.
NO_PASSWORD = "!"
#: The password hash of an account whose password an administrator reset: no password verifies until a new one is set.
RESET_PASSWORD = "!reset"


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
    def password_reset(self) -> bool:
        """The password was taken away (phished) and no new one is set yet."""
        return self.password_hash == RESET_PASSWORD

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin" or "admin" in self.roles


def is_suspended(account: Account, store: Store) -> bool:
    """Suspended in this host's account directory, or by any host sharing the store (a StoreError fails closed)."""
    return account.status != "active" or store.is_suspended(account.id)


def open_accounts(url: str) -> Accounts:
    """The account directory at ``url`` (``Settings.database``), its schema checked (database/migrations.py)."""
    database = open_database(url)
    try:
        ready(database, "accounts")
    except BaseException:
        database.close()
        raise
    return Accounts(database)


class Accounts:
    """Accounts, in the database that also holds their authenticators, recovery codes and links.

    ``held_password_hash`` is the password a reset took away, kept only so that
    ``account resume --keep-password`` can give it back.
    """

    def __init__(self, database: Database) -> None:
        self.database = database

    def add(
        self, account_id: str, password: str, *, kind: str = "professional", roles: tuple[str, ...] = (), organisation: str = ""
    ) -> Account:
        account = Account(account_id, hash_password(password), kind, tuple(roles), organisation, "active")
        self.database.execute(
            "INSERT INTO accounts (id, password_hash, kind, roles, organisation, status, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (account.id, account.password_hash, kind, json.dumps(list(roles)), organisation, "active", int(time.time())),
        )
        return account

    def create(self, account_id: str, *, kind: str, roles: tuple[str, ...], organisation: str) -> Account | None:
        """A new local account with no password yet (``RESET_PASSWORD``: it sets one through a password link); None if the id is taken."""
        rows = self.database.execute(
            "INSERT INTO accounts (id, password_hash, kind, roles, organisation, status, created) VALUES (?, ?, ?, ?, ?, 'active', ?)"
            f" ON CONFLICT (id) DO NOTHING RETURNING {_COLUMNS}",
            (account_id, RESET_PASSWORD, kind, json.dumps(list(roles)), organisation, int(time.time())),
        )
        return _account(rows[0]) if rows else None

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

    def reset_password(self, account_id: str) -> bool:
        """Take the password away at once (no password verifies); False for an unknown account or one without a password."""
        rows = self.database.execute(
            "UPDATE accounts SET held_password_hash = COALESCE(held_password_hash, password_hash), password_hash = ?"
            " WHERE id = ? AND password_hash != ? RETURNING id",
            (RESET_PASSWORD, account_id, NO_PASSWORD),
        )
        return bool(rows)

    def restore_password(self, account_id: str) -> bool:
        """Give back the password a reset took away (an administrator's explicit choice); True when it was restored."""
        rows = self.database.execute(
            "UPDATE accounts SET password_hash = held_password_hash, held_password_hash = NULL"
            " WHERE id = ? AND password_hash = ? AND held_password_hash IS NOT NULL RETURNING id",
            (account_id, RESET_PASSWORD),
        )
        return bool(rows)

    def held_password_hash(self, account_id: str) -> str | None:
        """The hash of the password a reset took away (a new password must differ from it)."""
        rows = self.database.execute("SELECT held_password_hash FROM accounts WHERE id = ?", (account_id,))
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

    def set_password(self, account_id: str, password: str, *, replacing: str | None = None) -> bool:
        """A new password (the caller checked ``new_password_problem``); forgets any password a reset held.

        ``replacing``: only if the account's password hash is still this one (the old password was verified
        against it), so a reset made meanwhile is not overwritten.
        """
        rows = self.database.execute(
            "UPDATE accounts SET password_hash = ?, held_password_hash = NULL"
            " WHERE id = ? AND password_hash != ? AND password_hash = coalesce(?, password_hash) RETURNING id",
            (hash_password(password), account_id, NO_PASSWORD, replacing),
        )
        return bool(rows)

    def set_status(self, account_id: str, status: str) -> bool:
        return bool(self.database.execute("UPDATE accounts SET status = ? WHERE id = ? RETURNING id", (status, account_id)))

    def close(self) -> None:
        self.database.close()


def _account(row: Row) -> Account:
    aid, password_hash, kind, roles, organisation, status = (str(v) for v in row[:6])
    issuer = str(row[6]) if row[6] is not None else None
    return Account(aid, password_hash, kind, tuple(json.loads(roles)), organisation, status, issuer)
