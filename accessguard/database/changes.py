"""Records the request path reads, cached per process and kept true across a fleet by PostgreSQL LISTEN/NOTIFY.

A protected request reads its account, and for a patient its open emergency
declarations; on PostgreSQL each read would be a round trip. Here they are
kept in memory, and dropped when any host (or a command) changes them: a
trigger on each table (database/migrations.py) sends ``NOTIFY
accessguard_records, 'table:key'`` in the writing transaction, which the
server delivers when it commits, and this process's listener thread drops
the key at once.

Fail safe: the cache answers only while its listener is connected and
listening. Before the first LISTEN, after a connection breaks and until
LISTEN is issued again, every read goes to the database and nothing is kept;
on reconnecting everything cached before is dropped (a change may have gone
unheard). A value loaded while a change arrived is not kept (generation
count). A suspension also travels through the shared store, which every
protected request consults (store/base.py ``Reservation.suspended``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar, cast

import psycopg

log = logging.getLogger("accessguard.database")

CHANNEL = "accessguard_records"
#: Entries kept at most; past it the cache starts over (a process's professionals are far fewer).
MAX_ENTRIES = 100_000
#: How often the listener checks its connection is alive when no change arrives.
HEARTBEAT_S = 1.0
RETRY_MAX_S = 2.0
CONNECT_TIMEOUT_S = 2

T = TypeVar("T")


class RecordCache:
    """Per-process values keyed by (table, key), dropped on the table's change notifications; ``close()`` stops the listener."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._lock = threading.Lock()
        self._values: dict[tuple[str, str], object] = {}
        self._generation = 0
        self._listening = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="accessguard-record-changes", daemon=True)
        self._thread.start()

    def get(self, table: str, key: str, load: Callable[[], T]) -> T:
        """The cached value, or ``load()`` (kept if the listener heard every change meanwhile)."""
        with self._lock:
            if self._listening and (table, key) in self._values:
                return cast(T, self._values[(table, key)])
            generation = self._generation
        value = load()
        with self._lock:
            if self._listening and generation == self._generation:
                if len(self._values) >= MAX_ENTRIES:
                    self._values.clear()
                self._values[(table, key)] = value
        return value

    @property
    def listening(self) -> bool:
        return self._listening

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _changed(self, table: str, key: str) -> None:
        with self._lock:
            self._generation += 1
            self._values.pop((table, key), None)

    def _forget(self, *, listening: bool) -> None:
        with self._lock:
            self._generation += 1
            self._values.clear()
            self._listening = listening

    def _listen(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, application_name="accessguard-changes"
                ) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self._forget(listening=True)  # what was cached before may have changed unheard
                    backoff = 0.1
                    while not self._stop.is_set():
                        for notice in connection.notifies(timeout=HEARTBEAT_S):
                            table, _, key = notice.payload.partition(":")
                            self._changed(table, key)
                        connection.execute("SELECT 1")  # a dead connection raises here, not in notifies
            except psycopg.Error as exc:
                log.warning("record cache: listening for changes failed (reads go to the database meanwhile): %s", exc)
            except Exception:  # the listener outlives any fault; meanwhile nothing is cached
                log.exception("record cache: the listener failed (reads go to the database meanwhile)")
            finally:
                self._forget(listening=False)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, RETRY_MAX_S)
