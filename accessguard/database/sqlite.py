"""The durable records in a SQLite file (the embedded default): WAL, one connection per thread.

Transactions begin IMMEDIATE: writers queue on the file's lock, so
read-then-write is atomic across the processes sharing the file, and a named
lock (``Database.lock``) needs nothing more.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from accessguard.database.base import Dialect, Row, Transaction
from accessguard.errors import StoreError
from accessguard.store.sqlite import immediate_transaction

BUSY_TIMEOUT_S = 2.0


class _Statements:
    """A transaction on a connection, as the Transaction protocol (lists of tuples)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        return self._db.execute(sql, tuple(args)).fetchall()

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        self._db.executemany(sql, [tuple(row) for row in rows])


class SQLiteDatabase:
    dialect: Dialect = "sqlite"

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self.location = self.path
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            try:
                db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
            except sqlite3.Error as exc:
                raise StoreError(f"database {self.path}: {exc}") from None
            self._local.db = db
        return db

    def _failed(self, exc: sqlite3.Error) -> StoreError:
        self._local.db = None  # reconnect next time: the file may have been replaced or repaired
        return StoreError(f"database {self.path}: {exc}")

    def execute(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        try:
            return self._connection().execute(sql, tuple(args)).fetchall()
        except sqlite3.Error as exc:
            raise self._failed(exc) from None

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        try:
            with immediate_transaction(self._connection()) as db:
                yield _Statements(db)
        except sqlite3.Error as exc:
            raise self._failed(exc) from None

    def lock(self, tx: Transaction, name: str) -> None:
        """Nothing to take: an IMMEDIATE transaction already holds the file's write lock."""

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
