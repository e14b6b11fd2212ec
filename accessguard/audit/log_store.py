"""Where the access log lives: ``audit.db`` in a data directory (the default), or the fleet's PostgreSQL.

The chain, the checkpoints and every report are written once, against the
``Database`` interface (accessguard/database): the SQLite module and the
PostgreSQL module differ in storage only. A location is a file path (its
own SQLite database, durable commits) or an open ``Database`` (shared with
the account records, which the caller owns and closes).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from accessguard.database import Database, Transaction
from accessguard.database.migrations import ready
from accessguard.database.sqlite import SQLiteDatabase
from accessguard.errors import StoreError

#: How long an append waits for another process's transaction on a SQLite file before failing (and retrying).
BUSY_TIMEOUT_S = 5.0
#: Serialises appends to the one chain: each batch reads the head and writes the next entries under it.
CHAIN_LOCK = "accessguard.audit.chain"

LogLocation = Path | str | Database


def is_file(location: LogLocation) -> bool:
    return isinstance(location, (Path, str))


def writable(location: LogLocation) -> Database:
    """The database to append to, its schema ready (a SQLite file upgrades itself; PostgreSQL needs `db upgrade`)."""
    database = (
        SQLiteDatabase(location, busy_timeout_s=BUSY_TIMEOUT_S, durable=True, holding="access log")
        if isinstance(location, (Path, str))
        else location
    )
    try:
        ready(database, "audit")
    except BaseException:
        if is_file(location):
            database.close()
        raise
    return database


@contextmanager
def reading(location: LogLocation) -> Iterator[Transaction]:
    """One consistent snapshot for a report; a missing, damaged or foreign file is a StoreError naming it."""
    if isinstance(location, (Path, str)):
        if not Path(location).is_file():
            raise StoreError(f"access log {location}: no such file")
        database = SQLiteDatabase(location, busy_timeout_s=BUSY_TIMEOUT_S, readonly=True, holding="access log")
        try:
            with database.snapshot() as tx:
                yield tx
        finally:
            database.close()
    else:
        with location.snapshot() as tx:
            yield tx


def log_location(data_dir: Path | str, database: Database | None) -> Path | Database:
    """The fleet's PostgreSQL when the records live there, else ``audit.db`` in the data directory (the SQLite default)."""
    return database if database is not None and database.dialect == "postgresql" else Path(data_dir) / "audit.db"
