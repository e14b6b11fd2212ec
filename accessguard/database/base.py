"""The durable records' database, whichever engine holds it: one interface, one module per backend.

Statements are written once, with ``?`` placeholders and the SQL both engines
share (``ON CONFLICT``, ``RETURNING``); only the schema differs per dialect
(``database/migrations.py``). A backend turns every driver error into a
StoreError naming the database, so callers fail closed; an error in the
data a statement carries (not in reaching the database) is a
StatementRejected, so a writer can tell a bad entry from an outage.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Literal, Protocol

from accessguard.errors import StoreError

Row = tuple[object, ...]
Dialect = Literal["sqlite", "postgresql"]


class StatementRejected(StoreError):
    """The database refused what a statement carries (a value it cannot store, a constraint): sent again unchanged, it fails again."""


class Transaction(Protocol):
    """Statements inside one transaction (``Database.transaction``)."""

    def execute(self, sql: str, args: Sequence[object] = ()) -> list[Row]: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None: ...


class Database(Protocol):
    dialect: Dialect
    #: Where the records live, for messages (a URL without its password, or a file).
    location: str

    def execute(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        """One statement in its own transaction; its rows (none for a statement without a result)."""
        ...

    def transaction(self) -> AbstractContextManager[Transaction]:
        """One transaction; read-then-write inside it is atomic across processes and hosts."""
        ...

    def snapshot(self) -> AbstractContextManager[Transaction]:
        """Reads that see one consistent state while writers go on (nothing written); for reports over many statements."""
        ...

    def lock(self, tx: Transaction, name: str) -> None:
        """Serialise the rest of ``tx`` with every other transaction taking the lock ``name`` (until it ends)."""
        ...

    def close(self) -> None: ...
