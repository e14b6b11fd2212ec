"""Stores for tests: a fresh store URL of either kind, and sessions written straight into a guard's store."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from accessguard.guard import Guard


def store_url(kind: str, tmp_path: Path, redis_server: Any) -> str:
    """A fresh store of that kind. Redis gets a generous timeout here: a loaded test machine is no fault (test_store_faults)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    redis_server.client().flushall()
    return f"{redis_server.url}?socket_timeout=5"


def start_session(guard: Guard, professional: str, now: int, factors: Sequence[str] = ("pwd", "otp")) -> str:
    """The cookie of a session started with ``factors[0]`` and the others verified at ``now``, without logging in."""
    first, *later = factors
    session, cookie = guard.sessions.start(professional, first, now)
    for factor in later:
        guard.store.record_factor(session.id, factor, now)
    return cookie
