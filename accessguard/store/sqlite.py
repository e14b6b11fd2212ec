"""SQLite store: one file, many processes (WAL), one connection per thread."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from accessguard.errors import StoreError
from accessguard.signals.geo import Location
from accessguard.signals.velocity import LastSeen
from accessguard.store.base import RESERVATION_TTL_S, WINDOWS, Reservation, Session

BUSY_TIMEOUT_MS = 2000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, professional_id TEXT NOT NULL,
    created INTEGER NOT NULL, expires INTEGER NOT NULL, factors TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_by_professional ON sessions (professional_id);
CREATE TABLE IF NOT EXISTS totp_steps (professional_id TEXT PRIMARY KEY, last_step INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS last_seen (
    professional_id TEXT PRIMARY KEY, country TEXT, city TEXT, lat REAL, lon REAL, time REAL NOT NULL);
CREATE TABLE IF NOT EXISTS identity_reads (
    professional_id TEXT NOT NULL, patient TEXT NOT NULL, time REAL NOT NULL, PRIMARY KEY (professional_id, patient));
CREATE INDEX IF NOT EXISTS identity_reads_by_professional ON identity_reads (professional_id, time);
CREATE TABLE IF NOT EXISTS read_holds (
    id TEXT PRIMARY KEY, professional_id TEXT NOT NULL, count INTEGER NOT NULL, time REAL NOT NULL);
CREATE INDEX IF NOT EXISTS read_holds_by_professional ON read_holds (professional_id, time);
CREATE TABLE IF NOT EXISTS ephemeral (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires REAL NOT NULL);
"""


class SQLiteStore:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._local = threading.local()
        try:
            self._connection().executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite store {self.path}: {exc}") from None

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            try:
                db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error as exc:
                raise StoreError(f"sqlite store {self.path}: {exc}") from None
            self._local.db = db
        return db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: writers queue here, so read-then-write is atomic."""
        try:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._local.db = None  # reconnect next time: the file may have been replaced or repaired
            raise StoreError(f"sqlite store {self.path}: {exc}") from None

    def _query(self, sql: str, args: tuple[object, ...]) -> list[tuple[object, ...]]:
        try:
            return self._connection().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            self._local.db = None
            raise StoreError(f"sqlite store {self.path}: {exc}") from None

    # sessions

    def create_session(self, session: Session) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                (session.id, session.professional_id, session.created, session.expires, json.dumps(session.factors)),
            )

    def get_session(self, session_id: str) -> Session | None:
        rows = self._query("SELECT id, professional_id, created, expires, factors FROM sessions WHERE id = ?", (session_id,))
        if not rows:
            return None
        sid, professional_id, created, expires, factors = rows[0]
        return Session(str(sid), str(professional_id), int(created), int(expires), json.loads(str(factors)))  # type: ignore[call-overload]

    def record_factor(self, session_id: str, factor: str, at: int) -> None:
        with self._transaction() as db:
            row = db.execute("SELECT factors FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None:
                return
            factors = json.loads(row[0])
            factors[factor] = at
            db.execute("UPDATE sessions SET factors = ? WHERE id = ?", (json.dumps(factors), session_id))

    def delete_session(self, session_id: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def revoke_sessions(self, professional_id: str) -> int:
        with self._transaction() as db:
            return db.execute("DELETE FROM sessions WHERE professional_id = ?", (professional_id,)).rowcount

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

    # signals

    def reserve_reads(self, professional_id: str, requested: int, now: float) -> Reservation:
        hold_id = uuid.uuid4().hex if requested > 0 else None
        with self._transaction() as db:
            counts = {
                window: int(
                    db.execute(
                        "SELECT COUNT(*) FROM identity_reads WHERE professional_id = ? AND time > ?",
                        (professional_id, now - seconds),
                    ).fetchone()[0]
                )
                for window, seconds in WINDOWS.items()
            }
            held = int(
                db.execute(
                    "SELECT COALESCE(SUM(count), 0) FROM read_holds WHERE professional_id = ? AND time > ?",
                    (professional_id, now - RESERVATION_TTL_S),
                ).fetchone()[0]
            )
            seen = db.execute(
                "SELECT country, city, lat, lon, time FROM last_seen WHERE professional_id = ?", (professional_id,)
            ).fetchone()
            if hold_id is not None:
                db.execute("INSERT INTO read_holds VALUES (?, ?, ?, ?)", (hold_id, professional_id, requested, now))
        previous = None
        if seen is not None:
            country, city, lat, lon, seen_time = seen
            previous = LastSeen(Location(lat is not None, country, city, lat, lon), float(seen_time))
        return Reservation(
            id=hold_id,
            professional_id=professional_id,
            requested=requested,
            previous=previous,
            identity_reads={window: count + held for window, count in counts.items()},
            distinct_patients_24h=counts["24h"],
        )

    def settle_reads(self, reservation: Reservation, patients: list[str], location: Location | None, now: float) -> None:
        pid = reservation.professional_id
        with self._transaction() as db:
            if reservation.id is not None:
                db.execute("DELETE FROM read_holds WHERE id = ?", (reservation.id,))
            # One row per (professional, patient) holding the latest read: a patient
            # counts in a window exactly when its latest read falls inside it.
            db.executemany(
                "INSERT INTO identity_reads VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET time = MAX(time, excluded.time)",
                [(pid, patient, now) for patient in patients],
            )
            db.execute("DELETE FROM identity_reads WHERE professional_id = ? AND time <= ?", (pid, now - WINDOWS["24h"]))
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

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
