"""``accessguard db migrate``, the access log's part: one data directory's chain becomes the start of the fleet's.

The chain is copied as it is (numbers, times, hashes, the signed checkpoints
and head), so it verifies in PostgreSQL under the same audit key, in one
transaction holding the chain lock: no host appends meanwhile. The fleet's
log must be empty, or begin with this very chain (a previous run: its entry
at the source's head has the source's head hash), and then nothing is
copied twice. Another chain already there (another host's directory
migrated first, or hosts that started on PostgreSQL) cannot be merged
without rewriting hashes the checkpoints signed: the copy is refused, and
that directory's ``audit.db`` stays an archive ``audit verify`` still checks.
"""

from __future__ import annotations

from accessguard.audit.access_log import read_head
from accessguard.audit.log_store import CHAIN_LOCK
from accessguard.database import Database
from accessguard.database.copy import copy_table
from accessguard.errors import AccessGuardError

ENTRIES = ("seq", "time", "kind", "subject", "route", "patient", "decision_id", "detail", "hash")
#: Besides the entries: what the chain's signatures and reports need, and the emergency declarations with their reviews.
TABLES: dict[str, tuple[str, ...]] = {
    "checkpoints": ("seq", "time", "hash", "signature"),
    "patients": ("pseudonym", "sealed", "last_served"),
    "emergencies": (
        "id",
        "subject",
        "patient",
        "reason",
        "declared_at",
        "accesses",
        "last_access",
        "closed_at",
        "closed_by",
        "note",
    ),
}


class ChainsDiffer(AccessGuardError):
    """The fleet's log holds another chain than the one being copied."""


def copy_access_log(source: Database, target: Database) -> dict[str, tuple[int, int]]:
    """Per table, (rows in the source, rows copied now); ChainsDiffer when the target holds another chain."""
    head = read_head(source)
    copied: dict[str, tuple[int, int]] = {}
    with target.transaction() as tx:
        target.lock(tx, CHAIN_LOCK)
        theirs = read_head(tx)
        if head is not None and theirs is not None:
            at = tx.execute("SELECT hash FROM entries WHERE seq = ?", (head.seq,))
            if not at or bytes(at[0][0]) != head.hash:  # type: ignore[call-overload]
                raise ChainsDiffer(
                    f"{target.location} already holds another access log (its head is #{theirs.seq}), which this one"
                    f" (#{head.seq}, {source.location}) cannot join without rewriting signed hashes; keep {source.location}"
                    " as an archive (`accessguard audit verify --data-dir` checks it)"
                )
            held = int(str(source.execute("SELECT count(*) FROM entries")[0][0]))
            copied["entries"] = (held, 0)  # copied by an earlier run
        else:
            copied["entries"] = copy_table(source, tx, "entries", ENTRIES, order="seq")
            if head is not None:
                tx.execute(
                    "INSERT INTO head (id, seq, time, hash, signature) VALUES (1, ?, ?, ?, ?)",
                    (head.seq, head.time, head.hash, head.signature),
                )
        for table, columns in TABLES.items():
            copied[table] = copy_table(source, tx, table, columns)
    return copied
