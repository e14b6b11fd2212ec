"""Verification of the access log: the whole chain, every checkpoint, the signed head.

What each tampering looks like:

- an entry edited in place: its stored hash no longer matches (named exactly);
- edited and every later hash recomputed: the next checkpoint or the head no
  longer matches, and the attacker cannot re-sign it without the audit key;
- deleted: a gap in the sequence numbers;
- reordered: an entry's hash does not follow from its predecessor's;
- truncated at the end: the signed head (updated with every commit) names a
  later entry; at the start: no signed checkpoint anchors the first entry, or
  the anchor is younger than the retention period.

Entries removed from the end *together with* the head row and the checkpoints
that cover them (a rollback), or every entry with them (a wipe), cannot be
told from a shorter or a new log by the file alone: ``witnessed`` brings the
points kept outside it (a witness file, audit/witness.py; a checkpoint line
from the application log), which the log must reach, and hash to. Without
them, an empty log verifies only when the caller says it is ``new``.

The log is read in one snapshot, page by page, so hosts may go on appending.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from accessguard.audit.access_log import read_head
from accessguard.audit.chain import GENESIS, Checkpoint, CheckpointSigner, Entry
from accessguard.audit.log_store import LogLocation, reading
from accessguard.audit.witness import LABELS, Witnessed
from accessguard.database import Transaction
from accessguard.errors import StoreError

#: Entries read per statement: memory stays bounded however long the log.
PAGE = 5000


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    first_seq: int | None
    last_seq: int | None
    checkpoints: int
    problem: str | None = None
    bad_entry: int | None = None
    notes: list[str] = field(default_factory=list)
    witnessed: int | None = None  # points kept outside the log that it reaches and matches; None: none consulted
    unproven: bool = False  # not shown tampered, but not shown whole either (an empty log, nothing witnessed)

    def describe(self) -> str:
        if not self.ok:
            return f"{'UNPROVEN' if self.unproven else 'TAMPERED'}: {self.problem}"
        span = f"entries #{self.first_seq}..#{self.last_seq}" if self.entries else "no entries"
        described = f"ok: {span} ({self.entries}), {self.checkpoints} signed checkpoints, signed head at #{self.last_seq or 0}"
        return described + (f", {self.witnessed} witnessed points reached and matched" if self.witnessed is not None else "")


class _Tampered(Exception):
    def __init__(self, problem: str, bad_entry: int | None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.bad_entry = bad_entry


def verify(
    location: LogLocation,
    signer: CheckpointSigner,
    *,
    now: float,
    retention_s: float,
    witnessed: Sequence[Witnessed] | None = None,
    new: bool = False,
) -> Verification:
    """Check the access log at ``location`` (a file, or a fleet's database); the result names the first bad entry.

    ``witnessed``: the points its witnesses hold (None when none was consulted:
    freshness is then unproven); ``new``: an empty log is expected (just created).
    """
    if isinstance(location, (Path, str)) and not Path(location).exists():
        return Verification(False, 0, None, None, 0, f"{location} does not exist")
    try:
        with reading(location) as db:
            checkpoints = {
                int(str(seq)): Checkpoint(int(str(seq)), float(str(t)), _bytes(h), str(s))
                for seq, t, h, s in db.execute("SELECT seq, time, hash, signature FROM checkpoints")
            }
            head = read_head(db)
            try:
                anchors = _witness_index(witnessed or (), signer)
                count, first, last = _check(_entries(db), checkpoints, head, signer, now, retention_s, anchors)
            except _Tampered as exc:
                return Verification(False, 0, None, None, len(checkpoints), exc.problem, exc.bad_entry)
            if head is None and witnessed is None and not new:
                problem = (
                    "the log is empty, and nothing shows it was not wiped (its entries, checkpoints and head deleted):"
                    " verify it against its witness (--witness), or pass --new for a log just created"
                )
                return Verification(False, 0, None, None, 0, problem, unproven=True)
            return Verification(True, count, first, last, len(checkpoints), witnessed=None if witnessed is None else len(witnessed))
    except StoreError as exc:
        return Verification(False, 0, None, None, 0, f"unreadable: {exc}")


def _entries(db: Transaction) -> Iterator[tuple[Entry, bytes]]:
    after: int | None = None
    while True:
        page = db.execute(
            "SELECT seq, time, kind, subject, route, patient, decision_id, detail, hash FROM entries"
            + ("" if after is None else " WHERE seq > ?")
            + " ORDER BY seq LIMIT ?",
            (PAGE,) if after is None else (after, PAGE),
        )
        for seq, t, kind, subject, route, patient, decision_id, detail, stored in page:
            yield Entry(seq, t, kind, subject, route, patient, decision_id, detail), _bytes(stored)  # type: ignore[arg-type]
        if len(page) < PAGE:
            return
        after = int(str(page[-1][0]))


def _bytes(value: object) -> bytes:
    return bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else str(value).encode()


def _check(
    entries: Iterator[tuple[Entry, bytes]],
    checkpoints: dict[int, Checkpoint],
    head: Checkpoint | None,
    signer: CheckpointSigner,
    now: float,
    retention_s: float,
    witnessed: dict[int, Witnessed],
) -> tuple[int, int | None, int | None]:
    """Walk the chain; returns (entries, first seq, last seq) or raises _Tampered."""
    for point in sorted(checkpoints.values(), key=lambda p: p.seq):
        if not signer.valid("checkpoint", point):
            raise _Tampered(f"checkpoint at #{point.seq}: bad signature (forged, edited, or another audit key)", point.seq)
    if head is not None and not signer.valid("head", head):
        raise _Tampered(f"head at #{head.seq}: bad signature (forged, edited, or another audit key)", head.seq)
    first: int | None = None
    previous: int | None = None
    chain = GENESIS
    last_anchor = 0
    count = 0
    for entry, stored in entries:
        if previous is None:
            chain = _anchor(entry.seq, checkpoints, now, retention_s)
            first, last_anchor = entry.seq, entry.seq - 1
        elif entry.seq != previous + 1:
            raise _Tampered(f"entry #{previous + 1} is missing (deleted)" + _range(previous + 1, entry.seq - 1), previous + 1)
        expected = entry.chained_to(chain)
        if expected != stored:
            raise _Tampered(f"entry #{entry.seq} was altered or moved: its hash does not follow from entry #{entry.seq - 1}", entry.seq)
        signed = checkpoints.get(entry.seq)
        if signed is not None:
            if signed.hash != expected:
                raise _Tampered(
                    f"entries #{last_anchor + 1}..#{entry.seq} were rewritten:"
                    f" the chain no longer matches the checkpoint signed at #{entry.seq}",
                    last_anchor + 1,
                )
            last_anchor = entry.seq
        kept = witnessed.get(entry.seq)
        if kept is not None and kept.point.hash != expected:
            raise _Tampered(
                f"entry #{entry.seq} does not hash to the {kept.label} that {kept.where} holds:"
                f" entries up to #{entry.seq} were rewritten after they were witnessed",
                last_anchor + 1,
            )
        chain, previous = expected, entry.seq
        count += 1
    last = previous if previous is not None else max((p.seq for p in checkpoints.values()), default=0)
    if not count:  # every entry gone: only retention may have removed them, up to the last checkpoint
        chain = _anchor(last + 1, checkpoints, now, retention_s)
    latest = max(witnessed.values(), key=lambda kept: kept.point.seq, default=None)
    if latest is not None and latest.point.seq > last:
        raise _Tampered(_rolled_back(last, latest), last + 1)
    if head is None:
        if count or checkpoints:
            raise _Tampered("the signed head is missing (deleted), so the end of the log cannot be trusted", last + 1)
        return 0, None, None
    if head.seq > last:
        raise _Tampered(f"entry #{last + 1} is missing (truncated)" + _range(last + 1, head.seq), last + 1)
    if head.seq < last:
        raise _Tampered(f"entries #{head.seq + 1}..#{last} were added after the signed head", head.seq + 1)
    if head.hash != chain:
        raise _Tampered(f"entries #{last_anchor + 1}..#{last} were rewritten: the chain no longer matches the signed head", last_anchor + 1)
    beyond = [p.seq for p in checkpoints.values() if p.seq > last]
    if beyond:
        raise _Tampered(f"entry #{last + 1} is missing (truncated): a checkpoint is signed at #{max(beyond)}", last + 1)
    return count, first, previous


def _witness_index(witnessed: Sequence[Witnessed], signer: CheckpointSigner) -> dict[int, Witnessed]:
    """The witnessed points by entry number, once their signatures hold and no two disagree."""
    index: dict[int, Witnessed] = {}
    for kept in witnessed:
        if kept.label in LABELS and not signer.valid(kept.label, kept.point):
            problem = f"{kept.where}: the witnessed {kept.label} at #{kept.point.seq} has a bad signature (forged, or another audit key)"
            raise _Tampered(problem, None)
        other = index.setdefault(kept.point.seq, kept)
        if other.point.hash != kept.point.hash:
            raise _Tampered(
                f"{other.where} and {kept.where} witness different hashes at #{kept.point.seq}:"
                " the log was rewritten after it was witnessed",
                kept.point.seq,
            )
    return index


def _rolled_back(last: int, latest: Witnessed) -> str:
    """What a witness ahead of the log shows: how many of the newest entries are gone."""
    seq = latest.point.seq
    signed = f" (signed {datetime.fromtimestamp(latest.point.time, UTC):%Y-%m-%dT%H:%M:%SZ})" if latest.label in LABELS else ""
    state = f"ends at #{last}" if last else "is empty"
    return (
        f"rolled back: the log {state}, but {latest.where} holds its {latest.label} at #{seq}{signed}:"
        f" the newest {seq - last} entries (#{last + 1}..#{seq}) are gone"
    )


def _anchor(first: int, checkpoints: dict[int, Checkpoint], now: float, retention_s: float) -> bytes:
    """The hash the first remaining entry chains to: genesis, or the checkpoint retention pruning left."""
    if first == 1:
        return GENESIS
    anchor = checkpoints.get(first - 1)
    if anchor is None:
        raise _Tampered("entry #1 is missing (deleted)" + _range(1, first - 1) + ", and no signed checkpoint anchors what remains", 1)
    if anchor.time >= now - retention_s:
        raise _Tampered(f"entries #1..#{first - 1} were removed before their retention period ended", 1)
    return anchor.hash


def _range(first: int, last: int) -> str:
    return f" (entries #{first}..#{last})" if last > first else ""
