"""The access log: every decision and every patient identity record served, hash-chained.

The request path only enqueues (a lock and a list append). One writer thread
per process commits what is queued in one transaction per batch (group
commit; a small batch waits ``commit_window_s`` for company), durable
(``synchronous=FULL`` on SQLite): an entry is **acknowledged** when that
commit has returned, and from then on it survives a crash of the process or
of the machine. ``flush()`` waits until everything enqueued before the call
is acknowledged; events (suspensions, emergency declarations, review
closures) are always waited for. Several processes, on one machine (a SQLite
file) or many (PostgreSQL), append to one chain: each batch takes the chain
lock inside its transaction (``BEGIN IMMEDIATE``; ``pg_advisory_xact_lock``)
and reads the head under it, so no two batches ever follow the same head.
Where it lives: audit/log_store.py.

The same transaction writes the alerts that decisions call for into the
outbox (``alerts``), so an acknowledged decision never lacks its alert; an
alert already raised for the account and reason within the window is
counted there instead (audit/outbox.py).

Nothing may stop the writer: any exception rolls the batch back, is logged,
and is retried with back-off. An entry that cannot be stored as it is (a lone
surrogate in a string, say) is found by writing one entry at a time and kept
escaped, or failing that as a record of why it could not be written, so it
never blocks the queue. While the writer is not committing (its last commit
failed, the oldest entry has waited more than ``STALE_AFTER_S``, or the thread
is gone) every new entry is refused, and so is every protected request.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

from accessguard.audit import log_store, outbox
from accessguard.audit.chain import GENESIS, Checkpoint, CheckpointSigner, Entry
from accessguard.audit.log_store import CHAIN_LOCK, LogLocation
from accessguard.audit.sealed_ids import PatientIdSealer
from accessguard.audit.settings import AuditSettings
from accessguard.audit.witness import WitnessError, WitnessPublisher
from accessguard.audit.witness_file import FileWitness
from accessguard.database import Database, StatementRejected, Transaction
from accessguard.decision import Decision
from accessguard.errors import ConfigurationError, StoreError

log = logging.getLogger("accessguard.audit")

BUSY_TIMEOUT_S = log_store.BUSY_TIMEOUT_S
#: Entries per transaction at most, so writers in other processes never wait long for the lock.
MAX_BATCH = 5000
#: A batch this large is committed at once, without waiting out the commit window.
COMMIT_BATCH = 256
#: An entry queued this long means the writer is not committing: requests are refused (a healthy commit takes milliseconds).
STALE_AFTER_S = BUSY_TIMEOUT_S + 1.0
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 2.0
PRUNE_EVERY_S = 3600.0
PRUNE_CHUNK = 10_000
SEALED_CACHE = 100_000

ANY_SINK = outbox.ANY_SINK


class AuditUnavailable(StoreError):
    """The access log cannot take entries (writer failing, backlog full, closed): refuse the request."""


class BehindWitness(ConfigurationError):
    """The log ends before its witness's latest point: rolled back or wiped; appending would fork the chain."""


class ForeignAuditKey(ConfigurationError):
    """The audit key does not verify the log's signed head: appending would sign a head no key verifies."""


@dataclass(frozen=True)
class DecisionRecord:
    decision_id: str
    time: float
    subject: str
    route: str
    ip: str | None
    patients: tuple[str, ...]
    decision: Decision
    eval_us: int
    emergency: str | None = None  # the emergency declaration the decision relied on


@dataclass(frozen=True)
class Declaration:
    """An emergency (break-the-glass) declaration as the request path sees it."""

    id: str
    declared_at: float


@dataclass(frozen=True)
class _Served:
    decision_id: str | None
    subject: str
    route: str
    patients: tuple[str, ...]
    time: float


@dataclass(frozen=True)
class _Event:
    subject: str
    time: float
    detail: dict[str, Any]
    patient: str | None = None
    alert: tuple[str, ...] = ()
    effects: tuple[tuple[str, tuple[Any, ...]], ...] = field(default=())


_Item = DecisionRecord | _Served | _Event


class _RolledBack(Exception):
    """Ends a probe's transaction: nothing it wrote is kept."""


def read_head(db: Transaction | Database) -> Checkpoint | None:
    """The signed head: the last entry's number and chain hash, signed at the last commit (None for an empty log)."""
    rows = db.execute("SELECT seq, time, hash, signature FROM head WHERE id = 1")
    return Checkpoint(int(str(rows[0][0])), float(str(rows[0][1])), _bytes(rows[0][2]), str(rows[0][3])) if rows else None


def _bytes(value: object) -> bytes:
    assert isinstance(value, (bytes, bytearray, memoryview)), type(value)
    return bytes(value)


class AccessLog:
    """Append-only, hash-chained, batched. Build once per process; ``close()`` flushes.

    With ``prune`` (the guard's process) the writer also deletes what the
    retention period has expired, hourly; command-line tools, which may not
    know the service's retention, pass ``prune=False``. ``on_backlog`` hears
    how many entries are still queued after each commit attempt (a metric).
    """

    def __init__(
        self,
        location: LogLocation,
        settings: AuditSettings,
        pseudonym_key: str,
        clock: Callable[[], float] = time.time,
        on_alert: Callable[[], None] | None = None,
        *,
        prune: bool = True,
        on_backlog: Callable[[int], None] | None = None,
    ) -> None:
        self._owned = log_store.is_file(location)  # its own SQLite file, else a database the caller owns
        self.database = log_store.writable(location)
        #: Where the log lives, for reports (scope, verification, reviews) that read it apart from this writer.
        self.log_location = location
        self.location = self.database.location
        self._prune = prune
        self.settings = settings
        self.clock = clock
        self._on_alert = on_alert
        self._on_backlog = on_backlog
        self._signer = CheckpointSigner(settings.key, pseudonym_key)
        self._sealer = PatientIdSealer(pseudonym_key)
        self.pseudonymise = self._sealer.pseudonymise
        self._sealed: dict[str, bytes] = {}
        # each commit's checkpoint and head also go to the witness, outside this database (audit/witness.py)
        self._witness: WitnessPublisher | None = None
        try:
            self._check_head()
            if settings.witness is not None:
                witness = FileWitness(settings.witness)
                _reaches(self.database, witness)
                self._witness = WitnessPublisher([witness], settings.witness_interval_s)
        except BaseException:
            self._release()
            raise
        self._cond = threading.Condition()
        self._pending: list[_Item] = []
        self._enqueued = 0
        self._acknowledged = 0
        self._failing_since: float | None = None
        self._queued_since: float | None = None  # when the oldest queued entry was queued (monotonic), about
        self._unwritten: set[int] = set()  # tickets of events kept only as a record that they could not be written
        self._closed = False
        self._writer = threading.Thread(target=self._run, name="accessguard-access-log", daemon=True)
        self._writer.start()

    def _check_head(self) -> None:
        head = read_head(self.database)
        if head is not None and not self._signer.valid("head", head):
            raise ForeignAuditKey(
                f"access log {self.location}: the audit key (AuditSettings.key) does not verify its signed head (#{head.seq}):"
                " the log was written under another audit key, or tampered with. Start with the key that wrote it"
                " (appending under this one would make the log fail verification for good); `accessguard audit verify` checks it"
            )

    def _release(self) -> None:
        """Close this thread's connection to a SQLite file the log opened itself (a shared database is its owner's)."""
        if self._owned:
            self.database.close()

    # the request path

    def write(self, record: DecisionRecord) -> None:
        """Enqueue a decision; AuditUnavailable when the log cannot take it (the caller fails closed)."""
        self._put([record])

    def served(self, decision_id: str | None, subject: str, route: str, patients: list[str], now: float) -> None:
        """Enqueue the patient identity records (clear ids) served under a decision.

        Never refused while the log is open: the decision was taken and the
        records are out, so the entry waits in the queue for the writer.
        """
        if patients:
            self._put([_Served(decision_id, subject, route, tuple(patients), now)], admitted=True)

    def emergency(self, subject: str, patient: str) -> Declaration | None:
        """The latest open emergency declaration of ``subject`` for ``patient`` (clear id), if any."""
        return self.open_emergencies(subject).get(self.pseudonymise(patient))

    def open_emergencies(self, subject: str) -> dict[str, Declaration]:
        """The latest open declaration of ``subject`` for each patient (by pseudonym): what a fleet's host caches."""
        rows = self.database.execute(
            "SELECT patient, id, declared_at FROM emergencies WHERE subject = ? AND closed_at IS NULL ORDER BY declared_at", (subject,)
        )
        return {str(patient): Declaration(str(id_), float(str(at))) for patient, id_, at in rows}  # the latest last: it stays

    # events: waited for, so the caller knows they are durable

    def event(
        self,
        subject: str,
        detail: dict[str, Any],
        *,
        patient: str | None = None,
        alert: tuple[str, ...] = (),
        effects: tuple[tuple[str, tuple[Any, ...]], ...] = (),
        wait: bool = True,
        timeout: float = 10.0,
    ) -> None:
        """Append an event (``detail["event"]`` names it) and, unless ``wait`` is False, wait until it is acknowledged.

        ``patient`` is a clear id (stored pseudonymised and sealed); ``alert``
        lists reason codes to alert on; ``effects`` are SQL statements run in
        the same transaction as the entry. ``detail`` must be JSON: checked
        here, so that nothing the writer cannot store ever reaches it.
        """
        _json(detail)
        ticket = self._put([_Event(subject, self.clock(), detail, patient, alert, effects)])
        if wait:
            self._wait(ticket, timeout)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every entry enqueued so far is acknowledged; AuditUnavailable on timeout."""
        with self._cond:
            ticket = self._enqueued
        self._wait(ticket, timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._writer.join(timeout=30)
        if self._witness is not None:
            self._witness.close()
        self._release()
        with self._cond:
            if self._pending:
                log.error("access log %s: %d entries could not be written before closing", self.location, len(self._pending))

    def refusal(self) -> str | None:
        """Why new entries are refused now (the writer is not committing, the backlog is full, ...), or None: the readiness check."""
        with self._cond:
            return self._refusal()

    def _put(self, items: list[_Item], *, admitted: bool = False) -> int:
        with self._cond:
            refusal = "closed" if self._closed else None if admitted else self._refusal()
            if refusal is not None:
                raise AuditUnavailable(f"access log {self.location}: {refusal}")
            if not self._pending:
                self._queued_since = time.monotonic()
            self._pending.extend(items)
            self._enqueued += len(items)
            self._cond.notify()
            return self._enqueued

    def _refusal(self) -> str | None:
        """Why no entry can be taken now (the writer is not committing), or None; call holding ``_cond``."""
        if self._closed:
            return "closed"
        if not self._writer.is_alive():
            return "its writer thread has stopped"
        if self._failing_since is not None:
            return "its last commit failed; entries are refused until one succeeds"
        if self._queued_since is not None and time.monotonic() - self._queued_since > STALE_AFTER_S:
            return f"entries have waited more than {STALE_AFTER_S:.0f} s to be written"
        if len(self._pending) >= self.settings.max_backlog:
            return f"{len(self._pending)} entries waiting to be written"
        if self._witness is not None:
            return self._witness.refusal()
        return None

    def _wait(self, ticket: int, timeout: float) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self._acknowledged >= ticket, timeout):
                raise AuditUnavailable(f"access log {self.location}: entries not acknowledged within {timeout} s")
            if ticket in self._unwritten:
                self._unwritten.discard(ticket)
                raise AuditUnavailable(f"access log {self.location}: the entry could not be stored; a record of why was written instead")

    # the writer thread

    def _run(self) -> None:
        try:
            self._write_until_closed()
        finally:
            if not self._closed:  # a BaseException got through: _put sees the thread gone and refuses
                log.critical("access log %s: the writer thread stopped; every protected request is refused", self.location)

    def _write_until_closed(self) -> None:
        backoff = RETRY_FIRST_S
        isolate_until = 0  # while fewer are acknowledged, batches hold one entry: finding one that cannot be stored
        last_prune = float("-inf")
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._pending) or self._closed)
                if not self._pending:
                    break
                isolating = self._acknowledged < isolate_until
                linger = not self._closed and not isolating and len(self._pending) < COMMIT_BATCH
            if linger:
                time.sleep(self.settings.commit_window_s)
            with self._cond:
                batch = self._pending[:1] if isolating else _first_entries(self._pending, MAX_BATCH)
                taken = time.monotonic()
            try:
                alerts, checkpoint = self._commit(batch)
            except Exception as exc:
                if isinstance(exc, StoreError) and not isinstance(exc, StatementRejected):  # the database, not the entries
                    log.error("access log %s: commit of %d entries failed, retrying: %s", self.location, len(batch), exc)
                elif not isolating:
                    log.error(
                        "access log %s: commit of %d entries failed; writing them one at a time", self.location, len(batch), exc_info=exc
                    )
                    isolate_until = self._acknowledged + len(batch)
                elif self._probe():
                    self._replace_head(batch[0], exc)
                else:
                    log.error("access log %s: the writer cannot commit anything, retrying", self.location, exc_info=exc)
                with self._cond:
                    queued = len(self._pending)
                    if self._failing_since is None:
                        self._failing_since = time.monotonic()
                    if self._closed and backoff > 1.0:
                        break
                self._report_backlog(queued)
                time.sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX_S)
                continue
            backoff = RETRY_FIRST_S
            with self._cond:
                del self._pending[: len(batch)]
                self._acknowledged += len(batch)
                self._failing_since = None
                self._queued_since = taken if self._pending else None
                queued = len(self._pending)
                self._cond.notify_all()
            self._report_backlog(queued)
            if checkpoint is not None:
                log.info("access log checkpoint #%d %s (%s)", checkpoint.seq, checkpoint.hash.hex(), self.location)
            if alerts and self._on_alert is not None:
                self._on_alert()
            if self._prune and time.monotonic() - last_prune > PRUNE_EVERY_S:
                last_prune = time.monotonic()
                try:
                    prune(self.database, self.clock() - self.settings.retention_days * 86400.0)
                except StoreError as exc:
                    log.error("access log %s: retention pruning failed (will retry): %s", self.location, exc)
        self._release()  # the writer thread's own connection to a SQLite file

    def _report_backlog(self, queued: int) -> None:
        if self._on_backlog is None:
            return
        try:
            self._on_backlog(queued)
        except Exception:  # a metric must not stop the writer
            log.exception("access log %s: reporting the backlog failed", self.location)

    def _probe(self) -> bool:
        """Whether a harmless entry would commit (rolled back, not kept): if so, the failing entry is at fault."""
        try:
            self._commit([_Event("accessguard", self.clock(), {"event": "probe"})], keep=False)
        except Exception:
            return False
        return True

    def _replace_head(self, item: _Item, error: Exception) -> None:
        """The oldest queued entry cannot be stored: keep it escaped, or failing that, a record of why it was not written."""
        try:
            escaped = _storable(item)
            changed = escaped != item
        except Exception:  # even reading it fails
            escaped, changed = item, False
        replacement = escaped if changed else _unwritable(item, error, self.pseudonymise)
        log.error(
            "access log %s: an entry (%s) cannot be stored as it is; kept %s",
            self.location,
            type(item).__name__.strip("_"),
            "escaped" if replacement is escaped else "as an entry_unwritable event",
            exc_info=error,
        )
        with self._cond:
            self._pending[0] = replacement
            if replacement is not escaped and isinstance(item, _Event):
                self._unwritten.add(self._acknowledged + 1)

    def _commit(self, batch: list[_Item], *, keep: bool = True) -> tuple[int, Checkpoint | None]:
        """Append one batch in one transaction (rolled back unless ``keep``); the number of alerts queued and the checkpoint written."""
        try:
            with self.database.transaction() as tx:
                self.database.lock(tx, CHAIN_LOCK)  # held to the commit: the head read next stays the head
                queued, checkpoint, head = self._append(tx, batch)
                if not keep:
                    raise _RolledBack
        except _RolledBack:
            return 0, None
        if self._witness is not None:  # committed first: a witness is never ahead of the database
            self._witness.offer(checkpoint, head)
        return queued, checkpoint

    def _append(self, db: Transaction, batch: list[_Item]) -> tuple[int, Checkpoint | None, Checkpoint]:
        """Write the batch after the chain's head; the alerts queued, the checkpoint (if one is due) and the new head."""
        top = db.execute("SELECT seq, hash FROM head WHERE id = 1")
        seq, chain = (int(str(top[0][0])), _bytes(top[0][1])) if top else (0, GENESIS)
        rows: list[tuple[Any, ...]] = []
        patients: dict[str, tuple[bytes, float]] = {}
        alerts: list[outbox.RaisedAlert] = []
        effects: list[tuple[str, tuple[Any, ...]]] = []

        def append(
            entry_time: float, kind: str, subject: str, route: str | None, patient: str | None, decision_id: str | None, detail: str | None
        ) -> int:
            nonlocal seq, chain
            seq += 1
            chain = Entry(seq, entry_time, kind, subject, route, patient, decision_id, detail).chained_to(chain)
            rows.append((seq, entry_time, kind, subject, route, patient, decision_id, detail, chain))
            return seq

        def remember(patient_id: str, at: float) -> str:
            pseudonym = self.pseudonymise(patient_id)
            patients[pseudonym] = (self._seal(pseudonym, patient_id), at)
            return pseudonym

        def alert(reasons: list[str], at: float, document: dict[str, Any]) -> None:
            alerts.append(outbox.RaisedAlert(tuple(reasons), at, document))

        for item in batch:
            if isinstance(item, DecisionRecord):
                decision = item.decision
                detail = {
                    "outcome": decision.outcome.value,
                    "reasons": list(decision.reasons),
                    "obligations": decision.obligations,
                    "policy_revision": decision.policy_revision,
                    "ip": item.ip,
                    "patients": list(item.patients),
                    "eval_us": item.eval_us,
                }
                if item.emergency is not None:
                    detail["emergency"] = item.emergency
                entry_time = float(item.time)
                number = append(entry_time, "decision", item.subject, item.route, None, item.decision_id, _json(detail))
                reasons = [str(r) for r in decision.obligations.get("alert", ())]
                if reasons:
                    alert(
                        reasons,
                        entry_time,
                        {
                            "kind": "decision",
                            "seq": number,
                            "decision_id": item.decision_id,
                            "subject": item.subject,
                            "route": item.route,
                            "outcome": decision.outcome.value,
                            "ip": item.ip,
                            "patients": list(item.patients),
                        },
                    )
                if item.emergency is not None and decision.obligations.get("review"):
                    effects.append(
                        ("UPDATE emergencies SET accesses = accesses + 1, last_access = ? WHERE id = ?", (entry_time, item.emergency))
                    )
            elif isinstance(item, _Served):
                entry_time = float(item.time)
                for patient_id in item.patients:
                    append(entry_time, "served", item.subject, item.route, remember(patient_id, entry_time), item.decision_id, None)
            else:
                entry_time = float(item.time)
                pseudonym = remember(item.patient, entry_time) if item.patient is not None else None
                number = append(entry_time, "event", item.subject, None, pseudonym, None, _json(item.detail))
                if item.alert:
                    alert(list(item.alert), entry_time, {**item.detail, "kind": "event", "seq": number, "subject": item.subject})
                effects.extend(item.effects)
        db.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.executemany(
            "INSERT INTO patients VALUES (?, ?, ?) ON CONFLICT (pseudonym) DO UPDATE SET last_served ="
            " CASE WHEN excluded.last_served > patients.last_served THEN excluded.last_served ELSE patients.last_served END",
            [(pseudonym, sealed, at) for pseudonym, (sealed, at) in patients.items()],
        )
        queued = outbox.queue_alerts(db, alerts, self.settings.alert_window_s)
        for sql, args in effects:
            db.execute(sql, args)
        now = self.clock()
        last = db.execute("SELECT seq, time FROM checkpoints ORDER BY seq DESC LIMIT 1")
        last_seq, last_time = (int(str(last[0][0])), float(str(last[0][1]))) if last else (0, float("-inf"))
        checkpoint = None
        if seq - last_seq >= self.settings.checkpoint_every or (seq > last_seq and now - last_time >= self.settings.checkpoint_interval_s):
            checkpoint = self._signer.checkpoint("checkpoint", seq, now, chain)
            db.execute("INSERT INTO checkpoints VALUES (?, ?, ?, ?)", (seq, now, chain, checkpoint.signature))
        head = self._signer.checkpoint("head", seq, now, chain)
        db.execute(
            "INSERT INTO head VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE"
            " SET seq = excluded.seq, time = excluded.time, hash = excluded.hash, signature = excluded.signature",
            (seq, now, chain, head.signature),
        )
        return queued, checkpoint, head

    def _seal(self, pseudonym: str, patient_id: str) -> bytes:
        sealed = self._sealed.get(pseudonym)
        if sealed is None:
            if len(self._sealed) >= SEALED_CACHE:
                self._sealed.clear()
            sealed = self._sealed[pseudonym] = self._sealer.seal(pseudonym, patient_id)
        return sealed


def _reaches(database: Database, witness: FileWitness) -> None:
    """Start only on a log that reaches its witness's latest point: one rolled back or wiped stops here.

    The witness is read first: what it holds was committed before, so another
    process appending meanwhile can only move the head further.
    """
    try:
        latest = witness.latest()
    except (OSError, WitnessError) as exc:
        raise ConfigurationError(f"audit.witness: cannot read {witness.where}: {exc}") from None
    head = read_head(database)
    if latest is not None and (head is None or head.seq < latest.point.seq):
        raise BehindWitness(
            f"access log {database.location} ends at #{head.seq if head else 0} but its witness {witness.where} holds #{latest.point.seq}:"
            " it was rolled back or wiped (`accessguard audit verify --witness` names what is gone). A log restored"
            " from a backup starts with a new witness file; keep the old one as evidence"
        )


def _first_entries(pending: list[_Item], limit: int) -> list[_Item]:
    """The oldest queued items holding about ``limit`` entries (at least one item)."""
    entries = 0
    for count, item in enumerate(pending, start=1):
        entries += len(item.patients) if isinstance(item, _Served) else 1
        if entries >= limit:
            return pending[:count]
    return pending[:]


def prune(database: Database, cutoff: float) -> int:
    """Delete entries up to the newest checkpoint older than ``cutoff``; that checkpoint stays as the chain's anchor.

    Returns the number of entries deleted. Patient ids, closed reviews and
    delivered alerts older than the cutoff go too.
    """
    rows = database.execute("SELECT seq FROM checkpoints WHERE time < ? ORDER BY seq DESC LIMIT 1", (cutoff,))
    deleted = 0
    if rows:
        anchor = int(str(rows[0][0]))
        while True:
            with database.transaction() as tx:
                first = tx.execute("SELECT min(seq) FROM entries")[0][0]
                if first is None or int(str(first)) > anchor:
                    break
                upto = min(anchor, int(str(first)) + PRUNE_CHUNK - 1)
                deleted += int(str(tx.execute("SELECT count(*) FROM entries WHERE seq <= ?", (upto,))[0][0]))
                tx.execute("DELETE FROM entries WHERE seq <= ?", (upto,))
        database.execute("DELETE FROM checkpoints WHERE seq < ?", (anchor,))
    database.execute("DELETE FROM patients WHERE last_served < ?", (cutoff,))
    database.execute("DELETE FROM emergencies WHERE closed_at IS NOT NULL AND declared_at < ?", (cutoff,))
    database.execute("DELETE FROM alerts WHERE delivered IS NOT NULL AND created < ?", (cutoff,))
    return deleted


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def _storable(value: Any) -> Any:
    """``value`` with every string made storable (a lone surrogate becomes the text ``\\udXXX``, a NUL, which PostgreSQL's
    text refuses, ``\\x00``); entries and containers copied."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    if isinstance(value, (DecisionRecord, _Served, _Event)):
        return replace(value, **{f.name: _storable(getattr(value, f.name)) for f in fields(value)})
    if isinstance(value, (tuple, list)):
        return type(value)(_storable(v) for v in value)
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    return value


def _unwritable(item: _Item, error: Exception, pseudonymise: Callable[[str], str]) -> _Event:
    """What the chain keeps of an entry that cannot be stored even escaped: who, when, what kind, which patients (pseudonymised), why."""
    detail: dict[str, Any] = {"event": "entry_unwritable", "entry": type(item).__name__.strip("_").lower()}
    try:
        detail["error"] = _storable(repr(error)[:500])
        escaped = _storable(item)
        for name in ("route", "decision_id"):
            if isinstance(getattr(escaped, name, None), str):
                detail[name] = str.__str__(getattr(escaped, name))
        if isinstance(escaped, DecisionRecord):
            detail["patients"] = [str.__str__(p) for p in escaped.patients]  # pseudonyms already
        elif isinstance(escaped, _Served):
            detail["patients"] = [pseudonymise(str.__str__(p)) for p in escaped.patients]
        elif escaped.patient is not None:
            detail["patients"] = [pseudonymise(str.__str__(escaped.patient))]
        return _Event(str.__str__(escaped.subject), float(escaped.time), detail)
    except Exception:  # nothing of it can be read: the record says only that an entry was lost, and when
        return _Event("accessguard", time.time(), detail)
