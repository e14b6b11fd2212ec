"""The SQLite store checkpoints its WAL in a thread of its own, never in a request's commit."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from accessguard.signals.geo import Location
from accessguard.store import sqlite as sqlite_store
from accessguard.store.base import ReadRequest, Session
from accessguard.store.checkpoint import BACKSTOP_PAGES
from tests.demo_process import wait_for

NOW = 1_790_000_000.0
CAEN = Location(True, "FR", "Caen", 49.18, -0.37)
#: A WAL frame: a page (SQLite's default 4,096 bytes) and its 24-byte header.
FRAME_BYTES = 4096 + 24


def _reads(store: sqlite_store.SQLiteStore, count: int) -> None:
    """``count`` allowed reads, two write transactions each (hold, settle)."""
    store.create_session(Session("s1", "pro-1", int(NOW), int(NOW) + 3600))
    for i in range(count):
        request = ReadRequest("pro-1", "chu-caen", "s1", 1, location=CAEN)
        store.settle_reads(store.reserve_reads(request, NOW + i), [f"p{i}"], CAEN, NOW + i)


def _checkpointers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "accessguard-store-checkpoint"]


def test_the_thread_checkpoints_and_stops_with_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_EVERY", 5)
    path = tmp_path / "store.db"
    others = set(_checkpointers())
    store = sqlite_store.SQLiteStore(path)
    before = path.stat().st_size
    _reads(store, 10)  # about a hundred pages: far below any automatic checkpoint
    wait_for(lambda: path.stat().st_size > before, "the checkpoint thread to copy the WAL into the database file")
    (thread,) = set(_checkpointers()) - others
    store.close()
    assert not thread.is_alive()


def test_commits_on_the_request_path_never_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_EVERY", 10**9)  # the thread never wakes
    path = tmp_path / "store.db"
    store = sqlite_store.SQLiteStore(path)
    before = path.stat().st_size
    _reads(store, 250)
    frames = (path.with_name("store.db-wal").stat().st_size - 32) // FRAME_BYTES
    assert 1000 < frames < BACKSTOP_PAGES  # SQLite's default (1,000 pages) would have checkpointed by now
    assert path.stat().st_size == before  # nothing reached the database file: no request checkpointed
    store.close()
