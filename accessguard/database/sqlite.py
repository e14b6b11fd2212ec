"""The durable records in a SQLite file (the embedded default): WAL, one connection per thread.

Transactions begin IMMEDIATE: writers queue on the file's lock, so
read-then-write is atomic across the processes sharing the file, and a named
lock (``Database.lock``) needs nothing more. ``durable`` (the access log)
syncs every commit to disk (``synchronous=FULL``); ``readonly`` (reports)
never creates or changes the file.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from accessguard.database.base import Dialect, Row, StatementRejected, Transaction
from accessguard.errors import StoreError
from accessguard.sqlite_uri import sqlite_uri
from accessguard.store.sqlite import immediate_transaction

BUSY_TIMEOUT_S = 2.0
#: Errors in what a statement carries, not in reaching the file.
_REJECTED = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError)


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

    def __init__(
        self,
        path: Path | str,
        *,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
        durable: bool = False,
        readonly: bool = False,
        holding: str = "database",
    ) -> None:
        self.path = str(path)
        self._named = f"{holding} {self.path}"  # how messages name it: "access log /srv/…/audit.db"
        self.location = self.path
        self._busy_timeout_s = busy_timeout_s
        self._durable = durable
        self._readonly = readonly
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            try:
                target = sqlite_uri(self.path, "ro") if self._readonly else self.path
                db = sqlite3.connect(
                    target, uri=self._readonly, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False
                )
                if not self._readonly:
                    db.execute("PRAGMA journal_mode=WAL")
                if self._durable:
                    db.execute("PRAGMA synchronous=FULL")
            except sqlite3.Error as exc:
                raise StoreError(f"{self._named}: {exc}") from None
            self._local.db = db
        return db

    def _failed(self, exc: sqlite3.Error) -> StoreError:
        if isinstance(exc, _REJECTED):
            return StatementRejected(f"{self._named}: {exc}")
        self._local.db = None  # reconnect next time: the file may have been replaced or repaired
        return StoreError(f"{self._named}: {exc}")

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

    @contextmanager
    def snapshot(self) -> Iterator[Transaction]:
        """A deferred read transaction: in WAL mode its first read fixes what every later one sees."""
        db = self._connection()
        try:
            db.execute("BEGIN")
            try:
                yield _Statements(db)
            finally:
                db.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise self._failed(exc) from None

    def lock(self, tx: Transaction, name: str) -> None:
        """Nothing to take: an IMMEDIATE transaction already holds the file's write lock."""

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
