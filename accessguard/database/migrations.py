"""Versioned schemas: each component's tables, step by step, in both dialects.

``schema_versions`` holds each component's version. ``upgrade`` applies the
missing steps in one transaction under a lock, so hosts upgrading together
apply each step once. At start a service calls ``ready``: the embedded SQLite
default upgrades itself (one host owns its files, as before versions
existed); a shared PostgreSQL is upgraded only by ``accessguard db upgrade``,
the operator's step in a rolling upgrade, and a service refuses to start on a
schema older or newer than the one it knows, naming what to run.

Version 1 of a SQLite file also adopts files written before versions existed:
it adds the columns later releases added one by one (``_adopt_accounts``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from accessguard.database.base import Database, Dialect, Transaction
from accessguard.errors import ConfigurationError

Step = str | Callable[[Transaction], None]


@dataclass(frozen=True)
class Migration:
    """One version of a component: what brings the previous version to it, per dialect."""

    version: int
    sqlite: tuple[Step, ...]
    postgresql: tuple[Step, ...]

    def steps(self, dialect: Dialect) -> tuple[Step, ...]:
        return self.sqlite if dialect == "sqlite" else self.postgresql


class SchemaMismatch(ConfigurationError):
    """The database's schema is not the one this release knows: upgrade it, or this host."""


_VERSIONS = "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
_LOCK = "accessguard.schema"

_ACCOUNTS_SQLITE = """
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY, password_hash TEXT NOT NULL, kind TEXT NOT NULL, roles TEXT NOT NULL,
    organisation TEXT NOT NULL, status TEXT NOT NULL, created INTEGER NOT NULL, issuer TEXT, held_password_hash TEXT);
CREATE TABLE IF NOT EXISTS authenticators (
    id TEXT PRIMARY KEY, account_id TEXT NOT NULL, kind TEXT NOT NULL, label TEXT NOT NULL,
    state TEXT NOT NULL, created INTEGER NOT NULL, last_used INTEGER, enrolled_via TEXT NOT NULL,
    sealed_secret BLOB, credential_id BLOB UNIQUE, credential BLOB, sign_count INTEGER,
    aaguid TEXT, user_verifying INTEGER, rp_id TEXT);
CREATE INDEX IF NOT EXISTS authenticators_by_account ON authenticators (account_id, kind);
CREATE TABLE IF NOT EXISTS recovery_codes (
    account_id TEXT NOT NULL, code_hash TEXT NOT NULL, issued INTEGER NOT NULL, used INTEGER,
    PRIMARY KEY (account_id, code_hash));
CREATE TABLE IF NOT EXISTS enrolment_links (
    token_hash TEXT PRIMARY KEY, account_id TEXT NOT NULL, kind TEXT NOT NULL,
    issued INTEGER NOT NULL, expires INTEGER NOT NULL, used INTEGER)
"""

_ACCOUNTS_POSTGRESQL = """
CREATE TABLE accounts (
    id TEXT PRIMARY KEY, password_hash TEXT NOT NULL, kind TEXT NOT NULL, roles TEXT NOT NULL,
    organisation TEXT NOT NULL, status TEXT NOT NULL, created BIGINT NOT NULL, issuer TEXT, held_password_hash TEXT);
CREATE TABLE authenticators (
    id TEXT PRIMARY KEY, account_id TEXT NOT NULL, kind TEXT NOT NULL, label TEXT NOT NULL,
    state TEXT NOT NULL, created BIGINT NOT NULL, last_used BIGINT, enrolled_via TEXT NOT NULL,
    sealed_secret BYTEA, credential_id BYTEA UNIQUE, credential BYTEA, sign_count BIGINT,
    aaguid TEXT, user_verifying INTEGER, rp_id TEXT);
CREATE INDEX authenticators_by_account ON authenticators (account_id, kind);
CREATE TABLE recovery_codes (
    account_id TEXT NOT NULL, code_hash TEXT NOT NULL, issued BIGINT NOT NULL, used BIGINT,
    PRIMARY KEY (account_id, code_hash));
CREATE TABLE enrolment_links (
    token_hash TEXT PRIMARY KEY, account_id TEXT NOT NULL, kind TEXT NOT NULL,
    issued BIGINT NOT NULL, expires BIGINT NOT NULL, used BIGINT)
"""

#: Shared by a fleet only (database/fingerprints.py): one data directory's keys.json is the only copy of its keys.
_KEY_FINGERPRINTS_POSTGRESQL = "CREATE TABLE key_fingerprints (name TEXT PRIMARY KEY, fingerprint TEXT NOT NULL)"

#: Columns added to accounts.db by releases before schema versions, and their declarations.
_LATE_COLUMNS = (("accounts", "issuer", "TEXT"), ("accounts", "held_password_hash", "TEXT"), ("authenticators", "rp_id", "TEXT"))


def _adopt_accounts(tx: Transaction) -> None:
    """A file from before versions: add the columns its tables lack (existing rows get NULL)."""
    for table, column, declaration in _LATE_COLUMNS:
        if column not in {row[1] for row in tx.execute(f"PRAGMA table_info({table})")}:
            tx.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


#: Every component's versions, oldest first. A release only ever appends to these.
COMPONENTS: dict[str, tuple[Migration, ...]] = {
    "accounts": (
        Migration(1, (_ACCOUNTS_SQLITE, _adopt_accounts), (_ACCOUNTS_POSTGRESQL,)),
        Migration(2, (), (_KEY_FINGERPRINTS_POSTGRESQL,)),
    ),
}


def latest(component: str) -> int:
    return COMPONENTS[component][-1].version


def current_version(db: Database, component: str) -> int:
    """The component's version in the database; 0 when it holds none of it."""
    exists = (
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_versions'"
        if db.dialect == "sqlite"
        else "SELECT 1 WHERE to_regclass('schema_versions') IS NOT NULL"
    )
    if not db.execute(exists):
        return 0
    rows = db.execute("SELECT version FROM schema_versions WHERE component = ?", (component,))
    return int(str(rows[0][0])) if rows else 0


def upgrade(db: Database, component: str) -> tuple[int, int]:
    """Bring the component to the latest version this release knows; (version before, version after)."""
    with db.transaction() as tx:
        db.lock(tx, _LOCK)
        tx.execute(_VERSIONS)
        rows = tx.execute("SELECT version FROM schema_versions WHERE component = ?", (component,))
        before = int(str(rows[0][0])) if rows else 0
        _refuse_newer(db, component, before)
        for migration in COMPONENTS[component]:
            if migration.version > before:
                for step in migration.steps(db.dialect):
                    if isinstance(step, str):
                        for statement in filter(str.strip, step.split(";")):
                            tx.execute(statement)
                    else:
                        step(tx)
        after = latest(component)
        if after != before:
            tx.execute(
                "INSERT INTO schema_versions (component, version) VALUES (?, ?)"
                " ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                (component, after),
            )
    return before, after


def ready(db: Database, component: str) -> None:
    """At start: the component's schema is the one this release knows (the SQLite default upgrades itself), else SchemaMismatch."""
    if db.dialect == "sqlite":
        upgrade(db, component)
        return
    version = current_version(db, component)
    _refuse_newer(db, component, version)
    if version < latest(component):
        raise SchemaMismatch(
            f"database {db.location}: the {component} schema is at version {version}, this release needs {latest(component)};"
            f" run `accessguard db upgrade --database URL` first"
        )


def _refuse_newer(db: Database, component: str, version: int) -> None:
    if version > latest(component):
        raise SchemaMismatch(
            f"database {db.location}: the {component} schema is at version {version}, newer than this release knows"
            f" ({latest(component)}): a newer accessguard ran `accessguard db upgrade`; run that release here too"
        )
