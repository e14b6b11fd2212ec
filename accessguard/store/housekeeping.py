"""When a store deletes what its windows have left behind: once a minute per professional, not on every request.

Every count already ignores expired rows (each query bounds its time), so
deleting them only keeps the tables small; doing it on every settlement cost
four statements on the request path.
"""

from __future__ import annotations

import threading

#: Seconds between two clean-ups of one professional's rows in one process.
HOUSEKEEPING_INTERVAL_S = 60.0
#: Professionals remembered at most; past it the memory starts again (a clean-up too many costs nothing).
MAX_REMEMBERED = 100_000


class Housekeeping:
    """Which professionals' expired rows are due for deletion (per process, shared by its threads)."""

    def __init__(self, interval_s: float = HOUSEKEEPING_INTERVAL_S) -> None:
        self._interval_s = interval_s
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def due(self, professional_id: str, now: float) -> bool:
        """True at most once per interval for a professional; the caller then cleans up."""
        with self._lock:
            last = self._last.get(professional_id)
            if last is not None and now - last < self._interval_s:
                return False
            if len(self._last) >= MAX_REMEMBERED:
                self._last.clear()
            self._last[professional_id] = now
            return True
