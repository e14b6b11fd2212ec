"""The durable records (accounts, authenticators, recovery codes, links): SQLite by default, PostgreSQL for a fleet."""

from __future__ import annotations

from pathlib import Path

from accessguard.database.base import Database, Dialect, Row, StatementRejected, Transaction
from accessguard.errors import ConfigurationError

__all__ = ["Database", "Dialect", "Row", "StatementRejected", "Transaction", "default_database_url", "open_database"]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def default_database_url(data_dir: Path | str) -> str:
    """The records when no database is configured: ``accounts.db`` in the data directory."""
    return f"sqlite:///{Path(data_dir) / 'accounts.db'}"


def open_database(url: str) -> Database:
    """``sqlite:///PATH`` or ``postgresql://USER@HOST:PORT/DB`` (psycopg connection URL)."""
    if url.startswith("sqlite:///"):
        from accessguard.database.sqlite import SQLiteDatabase

        return SQLiteDatabase(url.removeprefix("sqlite:///"))
    if url.startswith(POSTGRES_SCHEMES):
        from accessguard.database.postgres import PostgresDatabase

        return PostgresDatabase(url)
    raise ConfigurationError(f"database: unsupported URL {url!r} (expected sqlite:///PATH or postgresql://USER@HOST:PORT/DB)")
