"""``accessguard db migrate``: copy a data directory's records into a shared database, once.

Rows are copied as they are (ids, hashes, sealed seeds, public keys), in one
transaction on the target; a row whose key the target already holds is left
alone, so running the copy twice copies nothing twice, and a host that already
wrote to the target keeps what it wrote.
"""

from __future__ import annotations

from collections.abc import Sequence

from accessguard.database.base import Database, Transaction

#: Rows read from the source per statement, so memory stays bounded.
PAGE = 5000

#: The records copied, table by table, with the columns of the current schema.
TABLES: dict[str, tuple[str, ...]] = {
    "accounts": ("id", "password_hash", "kind", "roles", "organisation", "status", "created", "issuer", "held_password_hash"),
    "authenticators": (
        "id",
        "account_id",
        "kind",
        "label",
        "state",
        "created",
        "last_used",
        "enrolled_via",
        "sealed_secret",
        "credential_id",
        "credential",
        "sign_count",
        "aaguid",
        "user_verifying",
        "rp_id",
    ),
    "recovery_codes": ("account_id", "code_hash", "issued", "used"),
    "enrolment_links": ("token_hash", "account_id", "kind", "issued", "expires", "used"),
}


def copy_records(source: Database, target: Database) -> dict[str, tuple[int, int]]:
    """Per table, (rows in the source, rows copied now); both schemas already at this release's version."""
    with target.transaction() as tx:
        return {table: copy_table(source, tx, table, columns) for table, columns in TABLES.items()}


def copy_table(source: Database, tx: Transaction, table: str, columns: Sequence[str], *, order: str | None = None) -> tuple[int, int]:
    """Copy a table's rows into ``tx``'s database, leaving a row whose key it holds; (rows in the source, rows copied).

    ``order``: an integer key to read by, page by page (a large table); else the table is read at once.
    """
    names = ", ".join(columns)
    insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))}) ON CONFLICT DO NOTHING RETURNING 1"
    held = copied = 0
    after: object = None
    while True:
        if order is None:
            rows = source.execute(f"SELECT {names} FROM {table}")
        else:
            where = "" if after is None else f" WHERE {order} > ?"
            rows = source.execute(f"SELECT {names} FROM {table}{where} ORDER BY {order} LIMIT {PAGE}", () if after is None else (after,))
        held += len(rows)
        copied += sum(bool(tx.execute(insert, row)) for row in rows)
        if order is None or len(rows) < PAGE:
            return held, copied
        after = rows[-1][columns.index(order)]
