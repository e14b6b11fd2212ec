"""SQLite store: one file, many processes (WAL), one connection per thread.

Writers take the database lock first (BEGIN IMMEDIATE), so every
read-then-write below is atomic across threads and processes. WAL
checkpoints run in a thread of their own (``store/checkpoint.py``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from accessguard.errors import StoreError
from accessguard.signals.baseline import HISTORY_DAYS, NO_PEERS, PeerDays, peer_days
from accessguard.signals.geo import Location
from accessguard.signals.velocity import LastSeen
from accessguard.store.base import (
    DAY_S,
    LIVE_SESSION_S,
    MAX_LIVE_SESSIONS,
    PLACE_HISTORY_S,
    RESERVATION_TTL_S,
    Attempt,
    Backoff,
    ReadRequest,
    Reservation,
    Session,
    charge,
    count_windows,
    counted_scopes,
    day_of,
    hold_scopes,
    professional_scopes,
    retention_s,
    usage_of,
)
from accessguard.store.checkpoint import BACKSTOP_PAGES, Checkpointer
from accessguard.store.housekeeping import Housekeeping

#: How long a request waits for another process's write lock before failing closed.
BUSY_TIMEOUT_MS = 2000
#: Write transactions of this process between two WAL checkpoints (5 to 10 pages each).
CHECKPOINT_EVERY = 100
#: Version 2 counts reads per scope and remembers where each session was last seen; 3 keeps revoked sessions;
#: 4 counts attempts (codes, logins); 5 keeps suspensions; 6 keeps per-day counters, peer summaries and places.
SCHEMA_VERSION = 6
#: Tables written before this version have another shape and are replaced on upgrade.
_REPLACED_BEFORE = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, professional_id TEXT NOT NULL,
    created INTEGER NOT NULL, expires INTEGER NOT NULL, factors TEXT NOT NULL,
    seen_country TEXT, seen_city TEXT, seen_lat REAL, seen_lon REAL, seen_time REAL);
CREATE INDEX IF NOT EXISTS sessions_by_professional ON sessions (professional_id);
CREATE TABLE IF NOT EXISTS revoked_sessions (
    id TEXT PRIMARY KEY, professional_id TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS totp_steps (professional_id TEXT PRIMARY KEY, last_step INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS last_seen (
    professional_id TEXT PRIMARY KEY, country TEXT, city TEXT, lat REAL, lon REAL, time REAL NOT NULL);
CREATE TABLE IF NOT EXISTS identity_reads (
    scope TEXT NOT NULL, patient TEXT NOT NULL, time REAL NOT NULL, PRIMARY KEY (scope, patient)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS identity_reads_by_time ON identity_reads (scope, time);
CREATE TABLE IF NOT EXISTS read_holds (
    id TEXT NOT NULL, scope TEXT NOT NULL, count INTEGER NOT NULL, time REAL NOT NULL, PRIMARY KEY (id, scope));
CREATE INDEX IF NOT EXISTS read_holds_by_scope ON read_holds (scope, time);
CREATE TABLE IF NOT EXISTS ephemeral (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS attempts (
    key TEXT PRIMARY KEY, attempts INTEGER NOT NULL, locked_until REAL NOT NULL, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS attempts_by_expiry ON attempts (expires);
CREATE TABLE IF NOT EXISTS suspensions (professional_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS daily_reads (
    professional_id TEXT NOT NULL, day INTEGER NOT NULL, peer_group TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (professional_id, day)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS daily_reads_by_group ON daily_reads (peer_group, day);
CREATE TABLE IF NOT EXISTS peer_days (
    peer_group TEXT PRIMARY KEY, day INTEGER NOT NULL, percentile REAL NOT NULL, professionals INTEGER NOT NULL, days INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS places (
    professional_id TEXT NOT NULL, place TEXT NOT NULL, time REAL NOT NULL, PRIMARY KEY (professional_id, place)) WITHOUT ROWID;
"""

# Distinct patients per scope and window, in one statement: one row per patient and
# scope holds its latest read, so each count is a range count on the (scope, time)
# index (several times faster than one scan summing a condition per row).
_COUNT_READ = "SELECT COUNT(*) FROM identity_reads WHERE scope = ? AND time > ?"
_RECORD_READ = "INSERT INTO identity_reads VALUES (?, ?, ?) ON CONFLICT (scope, patient) DO UPDATE SET time = max(time, excluded.time)"
_ADD_DAILY = "INSERT INTO daily_reads VALUES (?, ?, ?, ?) ON CONFLICT (professional_id, day) DO UPDATE SET count = count + excluded.count"
_SUSPENDED = "SELECT 1 FROM suspensions WHERE professional_id = ?"
_KNOWN_PLACES = "SELECT place FROM places WHERE professional_id = ? AND time > ?"
#: Places of one professional read per reservation at most (a month of ordinary work holds a few dozen).
MAX_PLACES_READ = 10_000


@contextmanager
def immediate_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on any exception): writers queue at BEGIN,
    so a read-then-write inside is atomic across threads and processes."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class SQLiteStore:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._local = threading.local()
        self._checkpointer = Checkpointer(self.path, CHECKPOINT_EVERY)
        self._housekeeping = Housekeeping()
        try:
            self._connection()
        except sqlite3.Error as exc:
            raise self._fault(exc) from None

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection; a new one creates the schema if needed, so a replaced file works at once."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
                if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                    _create_schema(db)
            except sqlite3.Error:
                db.close()
                raise
            self._local.db = db
        return db

    def _fault(self, exc: sqlite3.Error) -> StoreError:
        """Drop this thread's connection (the file may be repaired or replaced) and name the fault."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        self._local.db = None
        if db is not None:
            db.close()
        return StoreError(f"sqlite store {self.path}: {exc}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: writers queue here, so read-then-write is atomic."""
        try:
            with immediate_transaction(self._connection()) as db:
                yield db
        except sqlite3.Error as exc:
            raise self._fault(exc) from None
        self._checkpointer.committed()

    def _query(self, sql: str, args: tuple[object, ...]) -> list[tuple[object, ...]]:
        try:
            return self._connection().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise self._fault(exc) from None

    # sessions

    def create_session(self, session: Session) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM revoked_sessions WHERE expires <= ?", (session.created,))
            # Expired sessions of this professional go at their next login, so the table never grows without bound.
            db.execute("DELETE FROM sessions WHERE professional_id = ? AND expires <= ?", (session.professional_id, session.created))
            db.execute(
                "INSERT INTO sessions (id, professional_id, created, expires, factors) VALUES (?, ?, ?, ?, ?)",
                (session.id, session.professional_id, session.created, session.expires, json.dumps(session.factors)),
            )

    def get_session(self, session_id: str) -> Session | None:
        rows = self._query(
            "SELECT professional_id, created, expires, '{}', reason FROM revoked_sessions WHERE id = ?"
            " UNION ALL SELECT professional_id, created, expires, factors, NULL FROM sessions WHERE id = ?",
            (session_id, session_id),
        )
        if not rows:
            return None
        professional_id, created, expires, factors, revoked = rows[0]  # a revoked record comes first and wins
        return Session(
            session_id,
            str(professional_id),
            int(str(created)),
            int(str(expires)),
            json.loads(str(factors)),
            None if revoked is None else str(revoked),
        )

    def record_factor(self, session_id: str, factor: str, at: int) -> None:
        with self._transaction() as db:
            row = db.execute("SELECT factors FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None:
                return
            factors = json.loads(row[0])
            factors[factor] = at
            db.execute("UPDATE sessions SET factors = ? WHERE id = ?", (json.dumps(factors), session_id))

    def rotate_session(self, session_id: str, new_id: str, factor: str, at: int) -> Session | None:
        with self._transaction() as db:
            row = db.execute("SELECT professional_id, created, expires, factors FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None:
                return None
            professional_id, created, expires, stored = row
            factors = {**json.loads(stored), factor: at}
            db.execute("UPDATE sessions SET id = ?, factors = ? WHERE id = ?", (new_id, json.dumps(factors), session_id))
        return Session(new_id, str(professional_id), int(created), int(expires), factors)

    def delete_session(self, session_id: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def revoke_sessions(self, professional_id: str, reason: str) -> int:
        """Move the sessions to ``revoked_sessions``: reservations, live-session lists and factors see only ``sessions``."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO revoked_sessions"
                " SELECT id, professional_id, created, expires, ? FROM sessions WHERE professional_id = ?",
                (reason, professional_id),
            )
            return db.execute("DELETE FROM sessions WHERE professional_id = ?", (professional_id,)).rowcount

    def set_suspended(self, professional_id: str, suspended: bool) -> None:
        with self._transaction() as db:
            if suspended:
                db.execute("INSERT OR IGNORE INTO suspensions VALUES (?)", (professional_id,))
            else:
                db.execute("DELETE FROM suspensions WHERE professional_id = ?", (professional_id,))

    def is_suspended(self, professional_id: str) -> bool:
        return bool(self._query(_SUSPENDED, (professional_id,)))

    def claim_totp_step(self, professional_id: str, step: int) -> bool:
        with self._transaction() as db:
            changed = db.execute(
                "INSERT INTO totp_steps VALUES (?, ?) ON CONFLICT (professional_id)"
                " DO UPDATE SET last_step = excluded.last_step WHERE last_step < excluded.last_step",
                (professional_id, step),
            ).rowcount
        return changed == 1

    # short-lived values

    def put_ephemeral(self, key: str, value: str, now: float, ttl_s: int) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM ephemeral WHERE expires <= ?", (now,))
            db.execute("INSERT OR REPLACE INTO ephemeral VALUES (?, ?, ?)", (key, value, now + ttl_s))

    def pop_ephemeral(self, key: str, now: float) -> str | None:
        with self._transaction() as db:
            row = db.execute("DELETE FROM ephemeral WHERE key = ? RETURNING value, expires", (key,)).fetchone()
        return str(row[0]) if row is not None and float(row[1]) > now else None

    # attempts

    def charge_attempts(self, charges: Sequence[tuple[str, Backoff]], now: float) -> list[Attempt]:
        keys = [key for key, _ in charges]
        with self._transaction() as db:
            db.execute("DELETE FROM attempts WHERE expires <= ?", (now,))  # forgotten counts, these keys' included
            found = {
                str(key): (int(attempts), float(locked_until))
                for key, attempts, locked_until in db.execute(
                    f"SELECT key, attempts, locked_until FROM attempts WHERE key IN ({', '.join('?' * len(keys))})", keys
                )
            }
            outcomes = charge([found.get(key, (0, 0.0)) for key in keys], [backoff for _, backoff in charges], now)
            charged = [(key, a.attempts, a.locked_until, expires) for key, (a, expires) in zip(keys, outcomes, strict=True) if a.admitted]
            db.executemany("INSERT OR REPLACE INTO attempts VALUES (?, ?, ?, ?)", charged)
        return [attempt for attempt, _ in outcomes]

    def settle_attempts(self, cleared: Sequence[str], refunded: Sequence[str]) -> None:
        with self._transaction() as db:
            db.executemany("DELETE FROM attempts WHERE key = ?", [(key,) for key in cleared])
            db.executemany("UPDATE attempts SET attempts = attempts - 1 WHERE key = ? AND attempts > 0", [(key,) for key in refunded])

    # signals

    def reserve_reads(self, request: ReadRequest, now: float) -> Reservation:
        hold_id = uuid.uuid4().hex if request.requested > 0 else None
        windows = count_windows(request)
        scopes = counted_scopes(request)
        marks = _marks(scopes)
        pid = request.professional_id
        today = day_of(now)
        with self._transaction() as db:
            counts: dict[str, dict[str, int]] = {}
            found = db.execute(" UNION ALL ".join([_COUNT_READ] * len(windows)), [v for scope, _, s in windows for v in (scope, now - s)])
            for (scope, window, _), (count,) in zip(windows, found.fetchall(), strict=True):
                counts.setdefault(scope, {})[window] = int(count)
            held = {
                str(scope): int(total)
                for scope, total in db.execute(
                    f"SELECT scope, SUM(count) FROM read_holds WHERE scope IN ({marks}) AND time > ? GROUP BY scope",
                    (*scopes, now - RESERVATION_TTL_S),
                )
            }
            daily = dict(
                db.execute("SELECT day, count FROM daily_reads WHERE professional_id = ? AND day >= ?", (pid, today - HISTORY_DAYS))
            )
            peers = _peer_days(db, request.peer_group, today) if request.peer_group else NO_PEERS
            places_known = frozenset(
                str(place) for (place,) in db.execute(_KNOWN_PLACES, (pid, now - PLACE_HISTORY_S)).fetchmany(MAX_PLACES_READ)
            )
            seen = db.execute("SELECT country, city, lat, lon, time FROM last_seen WHERE professional_id = ?", (pid,)).fetchone()
            suspended = db.execute(_SUSPENDED, (pid,)).fetchone()
            live = db.execute(
                "SELECT seen_country, seen_city, seen_lat, seen_lon, seen_time FROM sessions"
                " WHERE professional_id = ? AND id IS NOT ? AND seen_time > ? AND expires > ? ORDER BY seen_time DESC LIMIT ?",
                (pid, request.session_id, now - LIVE_SESSION_S, now, MAX_LIVE_SESSIONS),
            ).fetchall()
            where = request.location
            if where is not None and where.resolved and request.session_id is not None:
                db.execute(
                    "UPDATE sessions SET seen_country = ?, seen_city = ?, seen_lat = ?, seen_lon = ?, seen_time = ? WHERE id = ?",
                    (where.country, where.city, where.lat, where.lon, now, request.session_id),
                )
            if hold_id is not None:
                db.executemany(
                    "INSERT INTO read_holds VALUES (?, ?, ?, ?)",
                    [(hold_id, scope, request.requested, now) for scope in hold_scopes(request)],
                )
        return Reservation(
            id=hold_id,
            request=request,
            previous=_last_seen(seen) if seen else None,
            live_sessions=tuple(_last_seen(row) for row in live),
            usage=usage_of(request, counts, held, {int(d): int(n) for d, n in daily.items()}, peers, now),
            suspended=suspended is not None,
            places_seen=places_known & frozenset(request.places),
            places_known=len(places_known),
        )

    def settle_reads(self, reservation: Reservation, patients: list[str], location: Location | None, now: float) -> None:
        request = reservation.request
        scopes = hold_scopes(request)
        pid, today = request.professional_id, day_of(now)
        distinct = sorted(set(patients))
        with self._transaction() as db:
            if reservation.id is not None:
                db.execute("DELETE FROM read_holds WHERE id = ?", (reservation.id,))
            if distinct:
                (read_today,) = db.execute(
                    f"SELECT COUNT(*) FROM identity_reads WHERE scope = ? AND time >= ? AND patient IN ({_marks(distinct)})",
                    (scopes[0], today * DAY_S, *distinct),
                ).fetchone()
                if len(distinct) > read_today:
                    db.execute(
                        _ADD_DAILY,
                        (pid, today, request.peer_group, len(distinct) - int(read_today)),
                    )
                db.executemany(
                    _RECORD_READ,
                    [(scope, patient, now) for scope in scopes for patient in distinct]
                    + [(scope, pid, now) for scope in professional_scopes(request)],
                )
                db.executemany("INSERT OR REPLACE INTO places VALUES (?, ?, ?)", [(pid, place, now) for place in request.places])
            if self._housekeeping.due(pid, now):
                _forget_expired(db, request, now)
            if location is not None and location.resolved:
                db.execute(
                    "INSERT OR REPLACE INTO last_seen VALUES (?, ?, ?, ?, ?, ?)",
                    (pid, location.country, location.city, location.lat, location.lon, now),
                )

    def release_reads(self, reservation: Reservation) -> None:
        if reservation.id is None:
            return
        with self._transaction() as db:
            db.execute("DELETE FROM read_holds WHERE id = ?", (reservation.id,))

    def ping(self) -> None:
        self._query("SELECT 1", ())

    def close(self) -> None:
        self._checkpointer.stop()
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


def _create_schema(db: sqlite3.Connection) -> None:
    """Create the tables; those of another shape hold only short-lived state (sessions, 24 h windows) and are replaced.

    Tables new in a version are created empty: the longer windows and the baseline start from the upgrade."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"schema version {version} was written by a newer accessguard (this one knows {SCHEMA_VERSION})")
        if version < SCHEMA_VERSION:
            for table in ("sessions", "identity_reads", "read_holds") if version < _REPLACED_BEFORE else ():
                db.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _marks(values: Sequence[object]) -> str:
    """The placeholders of an ``IN (…)`` list."""
    return ", ".join("?" * len(values))


def _forget_expired(db: sqlite3.Connection, request: ReadRequest, now: float) -> None:
    """Delete what every window has left behind for this request's professional and scopes (counts already ignore it)."""
    pid = request.professional_id
    scopes = counted_scopes(request)
    db.execute(f"DELETE FROM read_holds WHERE scope IN ({_marks(scopes)}) AND time <= ?", (*scopes, now - RESERVATION_TTL_S))
    db.execute("DELETE FROM daily_reads WHERE professional_id = ? AND day < ?", (pid, day_of(now) - HISTORY_DAYS))
    db.execute("DELETE FROM places WHERE professional_id = ? AND time <= ?", (pid, now - PLACE_HISTORY_S))
    db.executemany(
        "DELETE FROM identity_reads WHERE scope = ? AND time <= ?",
        [(scope, now - retention_s(scope)) for scope in (*hold_scopes(request), *professional_scopes(request))],
    )


def _peer_days(db: sqlite3.Connection, peer_group: str, today: int) -> PeerDays:
    """The group's summary of the days before today: recomputed (one scan of its days) by the first reservation of a day."""
    row = db.execute("SELECT day, percentile, professionals, days FROM peer_days WHERE peer_group = ?", (peer_group,)).fetchone()
    if row is not None and int(row[0]) == today:
        return PeerDays(today, float(row[1]), int(row[2]), int(row[3]))
    db.execute("DELETE FROM daily_reads WHERE peer_group = ? AND day < ?", (peer_group, today - HISTORY_DAYS))
    rows = db.execute("SELECT professional_id, count FROM daily_reads WHERE peer_group = ? AND day < ?", (peer_group, today))
    summary = peer_days(today, ((str(pro), int(n)) for pro, n in rows))
    db.execute(
        "INSERT OR REPLACE INTO peer_days VALUES (?, ?, ?, ?, ?)",
        (peer_group, today, summary.percentile, summary.professionals, summary.days),
    )
    return summary


def _last_seen(row: tuple[object, ...]) -> LastSeen:
    country, city, lat, lon, seen_time = row
    resolved = lat is not None and lon is not None
    return LastSeen(
        Location(resolved, str(country) if country else None, str(city) if city else None, _float(lat), _float(lon)), float(str(seen_time))
    )


def _float(value: object) -> float | None:
    return None if value is None else float(str(value))
