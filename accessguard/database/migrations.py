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

#: The access log (audit/access_log.py) and its alert outbox (audit/outbox.py). On SQLite, in ``audit.db``
#: of the data directory; ``IF NOT EXISTS`` adopts a file from before versions, which held these tables already.
_AUDIT_SQLITE = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY, time REAL NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL,
    route TEXT, patient TEXT, decision_id TEXT, detail TEXT, hash BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS entries_served ON entries (subject, time, patient) WHERE kind = 'served';
CREATE TABLE IF NOT EXISTS checkpoints (seq INTEGER PRIMARY KEY, time REAL NOT NULL, hash BLOB NOT NULL, signature TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS head (
    id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, time REAL NOT NULL, hash BLOB NOT NULL, signature TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS patients (pseudonym TEXT PRIMARY KEY, sealed BLOB NOT NULL, last_served REAL NOT NULL);
CREATE TABLE IF NOT EXISTS emergencies (
    id TEXT PRIMARY KEY, subject TEXT NOT NULL, patient TEXT NOT NULL, reason TEXT NOT NULL, declared_at REAL NOT NULL,
    accesses INTEGER NOT NULL DEFAULT 0, last_access REAL, closed_at REAL, closed_by TEXT, note TEXT);
CREATE INDEX IF NOT EXISTS emergencies_by_subject ON emergencies (subject, patient, declared_at);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY, alert_id TEXT NOT NULL, sink TEXT NOT NULL, payload TEXT NOT NULL, created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt REAL NOT NULL DEFAULT 0, lease_until REAL NOT NULL DEFAULT 0,
    delivered REAL, last_error TEXT, UNIQUE (alert_id, sink));
CREATE INDEX IF NOT EXISTS alerts_due ON alerts (sink, next_attempt) WHERE delivered IS NULL;
CREATE TABLE IF NOT EXISTS alert_windows (
    account TEXT NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL, opened REAL NOT NULL, closes REAL NOT NULL,
    count INTEGER NOT NULL, last REAL NOT NULL, alert_id TEXT NOT NULL, PRIMARY KEY (account, kind, reason, opened));
CREATE INDEX IF NOT EXISTS alert_windows_due ON alert_windows (closes);
CREATE TABLE IF NOT EXISTS log_sink (
    sink TEXT PRIMARY KEY, seq INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0, lease_until REAL NOT NULL DEFAULT 0, last_error TEXT)
"""

#: The same tables shared by a fleet: one chain for every host (times as float8, which keeps a Python float exactly).
_AUDIT_POSTGRESQL = """
CREATE TABLE entries (
    seq BIGINT PRIMARY KEY, time DOUBLE PRECISION NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL,
    route TEXT, patient TEXT, decision_id TEXT, detail TEXT, hash BYTEA NOT NULL);
CREATE INDEX entries_served ON entries (subject, time, patient) WHERE kind = 'served';
CREATE TABLE checkpoints (seq BIGINT PRIMARY KEY, time DOUBLE PRECISION NOT NULL, hash BYTEA NOT NULL, signature TEXT NOT NULL);
CREATE TABLE head (
    id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, time DOUBLE PRECISION NOT NULL, hash BYTEA NOT NULL,
    signature TEXT NOT NULL);
CREATE TABLE patients (pseudonym TEXT PRIMARY KEY, sealed BYTEA NOT NULL, last_served DOUBLE PRECISION NOT NULL);
CREATE TABLE emergencies (
    id TEXT PRIMARY KEY, subject TEXT NOT NULL, patient TEXT NOT NULL, reason TEXT NOT NULL, declared_at DOUBLE PRECISION NOT NULL,
    accesses BIGINT NOT NULL DEFAULT 0, last_access DOUBLE PRECISION, closed_at DOUBLE PRECISION, closed_by TEXT, note TEXT);
CREATE INDEX emergencies_by_subject ON emergencies (subject, patient, declared_at);
CREATE TABLE alerts (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, alert_id TEXT NOT NULL, sink TEXT NOT NULL, payload TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL, attempts BIGINT NOT NULL DEFAULT 0, next_attempt DOUBLE PRECISION NOT NULL DEFAULT 0,
    lease_until DOUBLE PRECISION NOT NULL DEFAULT 0, delivered DOUBLE PRECISION, last_error TEXT, UNIQUE (alert_id, sink));
CREATE INDEX alerts_due ON alerts (sink, next_attempt) WHERE delivered IS NULL;
CREATE TABLE alert_windows (
    account TEXT NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL, opened DOUBLE PRECISION NOT NULL,
    closes DOUBLE PRECISION NOT NULL, count BIGINT NOT NULL, last DOUBLE PRECISION NOT NULL, alert_id TEXT NOT NULL,
    PRIMARY KEY (account, kind, reason, opened));
CREATE INDEX alert_windows_due ON alert_windows (closes);
CREATE TABLE log_sink (
    sink TEXT PRIMARY KEY, seq BIGINT NOT NULL, attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt DOUBLE PRECISION NOT NULL DEFAULT 0, lease_until DOUBLE PRECISION NOT NULL DEFAULT 0, last_error TEXT)
"""

_RECORD_CHANGED = """
CREATE OR REPLACE FUNCTION accessguard_record_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE changed jsonb;
BEGIN
    IF TG_OP = 'DELETE' THEN changed := to_jsonb(OLD); ELSE changed := to_jsonb(NEW); END IF;
    PERFORM pg_notify('accessguard_records', TG_TABLE_NAME || ':' || coalesce(changed ->> TG_ARGV[0], ''));
    RETURN NULL;
END $$"""


def _notify_changes(table: str, key: str) -> Step:
    """A trigger telling every host's record cache that a row of ``table`` changed (database/changes.py), by ``key``."""

    def step(tx: Transaction) -> None:
        tx.execute(_RECORD_CHANGED)  # one statement: its body holds semicolons
        tx.execute(
            f"CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION accessguard_record_changed('{key}')"
        )

    return step


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
        Migration(3, (), (_notify_changes("accounts", "id"),)),
    ),
    "audit": (
        Migration(1, (_AUDIT_SQLITE,), (_AUDIT_POSTGRESQL,)),
        Migration(2, (), (_notify_changes("emergencies", "subject"),)),
    ),
}

#: Where each component lives when the records are SQLite files in a data directory (PostgreSQL holds them all).
SQLITE_FILES = {"accounts": "accounts.db", "audit": "audit.db"}


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
