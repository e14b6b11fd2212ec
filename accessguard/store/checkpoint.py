"""WAL checkpoints off the request path.

SQLite checkpoints a WAL database inside whichever commit makes the log
cross ``wal_autocheckpoint`` pages; with ``synchronous=NORMAL`` that commit
also syncs the log and the database, milliseconds on which one request
waits. Here a thread checkpoints instead, after every ``every`` write
transactions of this process; SQLite's own checkpoint stays as a backstop
at ``BACKSTOP_PAGES``, for when the thread is late or has failed.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from accessguard.sqlite_uri import sqlite_uri

log = logging.getLogger("accessguard.store")

#: ``PRAGMA wal_autocheckpoint`` for the connections that write: SQLite's own checkpoint, as a backstop.
#: Under one wal-index hash table (4,062 frames), so page lookups in a long log stay cheap.
BACKSTOP_PAGES = 4_000


class Checkpointer:
    """Checkpoints one database file (PASSIVE: never blocks readers or writers) in a daemon thread."""

    def __init__(self, path: str, every: int) -> None:
        self.path = path
        self.every = every
        self._uri = sqlite_uri(path, "rw")
        self._commits = 0
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def committed(self) -> None:
        """Count a write transaction; every ``every``-th wakes the thread (started on first need).

        The counter is shared by the process's threads without a lock: a lost
        increment only delays a checkpoint.
        """
        self._commits += 1
        if self._commits % self.every:
            return
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stopped:
                    self._thread = threading.Thread(target=self._run, name="accessguard-store-checkpoint", daemon=True)
                    self._thread.start()
        self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._stopped:
                return
            try:  # a connection per checkpoint: the file may have been replaced meanwhile (never created here)
                db = sqlite3.connect(self._uri, uri=True, isolation_level=None)
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                finally:
                    db.close()
            except sqlite3.Error as exc:
                log.warning("%s: WAL checkpoint failed, SQLite's own checkpoint takes over: %s", self.path, exc)
            except Exception:  # the thread outlives any fault; the next commit wakes it again
                log.exception("%s: WAL checkpoint failed on an unexpected error; SQLite's own checkpoint takes over", self.path)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            thread = self._thread
        self._wanted.set()
        if thread is not None:
            thread.join(timeout=10)
