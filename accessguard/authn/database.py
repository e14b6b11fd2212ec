"""accounts.db: the account directory's SQLite file, shared by every process (WAL).

Accounts, authenticators, recovery codes and enrolment links each keep their
tables here and share one connection per thread. Tables are created if missing;
a column added by a later version is added to older files when they are opened. (Attempt counts live in the
shared store; a ``code_attempts`` table from earlier versions is left unused.)
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from accessguard.errors import StoreError
from accessguard.store.sqlite import immediate_transaction

BUSY_TIMEOUT_S = 2.0

Row = tuple[object, ...]


class Database:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            try:
                db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
            except sqlite3.Error as exc:
                raise StoreError(f"account directory {self.path}: {exc}") from None
            self._local.db = db
        return db

    def _failed(self, exc: sqlite3.Error) -> StoreError:
        self._local.db = None  # reconnect next time: the file may have been replaced or repaired
        return StoreError(f"account directory {self.path}: {exc}")

    def create(self, schema: str) -> None:
        """Create tables and indexes (``CREATE ... IF NOT EXISTS`` statements)."""
        try:
            self._connection().executescript(schema)
        except sqlite3.Error as exc:
            raise self._failed(exc) from None

    def add_column(self, table: str, column: str, declaration: str) -> None:
        """Upgrade a file written by an earlier version: add a column its table lacks (existing rows get NULL)."""
        with self.transaction() as db:  # processes starting together add it once
            if column not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

    def execute(self, sql: str, args: tuple[object, ...] = ()) -> list[Row]:
        """One statement in its own transaction; its rows."""
        try:
            return self._connection().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise self._failed(exc) from None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: writers queue here, so read-then-write is atomic across processes."""
        try:
            with immediate_transaction(self._connection()) as db:
                yield db
        except sqlite3.Error as exc:
            raise self._failed(exc) from None

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
