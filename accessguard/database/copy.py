"""``accessguard db migrate``: copy a data directory's records into a shared database, once.

Rows are copied as they are (ids, hashes, sealed seeds, public keys), in one
transaction on the target; a row whose key the target already holds is left
alone, so running the copy twice copies nothing twice, and a host that already
wrote to the target keeps what it wrote.
"""

from __future__ import annotations

from accessguard.database.base import Database

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
    copied: dict[str, tuple[int, int]] = {}
    with target.transaction() as tx:
        for table, columns in TABLES.items():
            names = ", ".join(columns)
            rows = source.execute(f"SELECT {names} FROM {table}")
            insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))}) ON CONFLICT DO NOTHING RETURNING 1"
            copied[table] = (len(rows), sum(bool(tx.execute(insert, row)) for row in rows))
    return copied
