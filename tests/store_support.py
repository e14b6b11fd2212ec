"""Stores for tests: a fresh store URL of either kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def store_url(kind: str, tmp_path: Path, redis_server: Any) -> str:
    """A fresh store of that kind. Redis gets a generous timeout here: a loaded test machine is no fault (test_store_faults)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    redis_server.client().flushall()
    return f"{redis_server.url}?socket_timeout=5"
