"""The durable records in PostgreSQL (a fleet of hosts): psycopg 3 and its connection pool.

Connections are in autocommit mode, so a lone statement is one round trip; a
``transaction()`` adds BEGIN and COMMIT. Statements arrive with ``?``
placeholders (the SQL both backends share) and are sent with psycopg's
``%s``. Waiting for a connection is bounded (``POOL_TIMEOUT_S``): with the
server down or failing over, callers get a StoreError and fail closed;
connections the outage broke are dropped by the pool, so service resumes
by itself once the server answers again.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg_pool import ConnectionPool

from accessguard.database.base import Dialect, Row, StatementRejected, Transaction
from accessguard.errors import StoreError

#: How long a statement waits for a pooled connection (or a new one) before failing closed.
POOL_TIMEOUT_S = 2.0
CONNECT_TIMEOUT_S = 2
POOL_MAX = 10
#: Errors in what a statement carries (a NUL in a text, a constraint), not in reaching the server.
_REJECTED = (psycopg.DataError, psycopg.IntegrityError)


@functools.lru_cache(maxsize=512)
def _placeholders(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _rows(cursor: psycopg.Cursor[tuple[object, ...]]) -> list[Row]:
    return cursor.fetchall() if cursor.description is not None else []


class _Statements:
    def __init__(self, connection: psycopg.Connection[tuple[object, ...]]) -> None:
        self._connection = connection

    def execute(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        return _rows(self._connection.execute(_placeholders(sql), tuple(args)))

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        if rows:
            self._connection.cursor().executemany(_placeholders(sql), [tuple(row) for row in rows])


class PostgresDatabase:
    dialect: Dialect = "postgresql"

    def __init__(self, url: str, *, max_connections: int = POOL_MAX) -> None:
        self.location = redacted(url)
        self._checking = threading.Lock()
        self._pool: ConnectionPool[psycopg.Connection[tuple[object, ...]]] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            timeout=POOL_TIMEOUT_S,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S, "application_name": "accessguard"},
            name="accessguard",
            open=True,
        )

    def _failed(self, exc: psycopg.Error) -> StoreError:
        if isinstance(exc, psycopg.OperationalError) and self._checking.acquire(blocking=False):
            try:  # the server went away: drop every idle connection it broke, not one per failed request
                self._pool.check()
            except psycopg.Error:
                pass
            finally:
                self._checking.release()
        message = f"database {self.location}: {str(exc).strip() or type(exc).__name__}"
        return StatementRejected(message) if isinstance(exc, _REJECTED) else StoreError(message)

    def execute(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        try:
            with self._pool.connection() as connection:
                return _Statements(connection).execute(sql, args)
        except psycopg.Error as exc:
            raise self._failed(exc) from None

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        try:
            with self._pool.connection() as connection, connection.transaction():
                yield _Statements(connection)
        except psycopg.Error as exc:
            raise self._failed(exc) from None

    @contextmanager
    def snapshot(self) -> Iterator[Transaction]:
        """A REPEATABLE READ, READ ONLY transaction: every statement sees the state of its first."""
        try:
            with self._pool.connection() as connection, connection.transaction():
                connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield _Statements(connection)
        except psycopg.Error as exc:
            raise self._failed(exc) from None

    def lock(self, tx: Transaction, name: str) -> None:
        """A transaction-scoped advisory lock: released by COMMIT or ROLLBACK, never left behind by a crash."""
        tx.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (name,))

    def close(self) -> None:
        self._pool.close()
