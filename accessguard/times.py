"""Times as people type them (ISO 8601, Unix seconds, a duration ago), for the command line and the admin console alike."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_AGO = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class NotATime(ValueError):
    """The value is not a time; the message names the field and the forms accepted."""


def parse_time(value: str, field: str, now: float | None = None) -> float:
    """Unix seconds from ISO 8601 (naive means UTC), Unix seconds, or a duration ago (``90m``, ``72h``, ``7d``)."""
    try:
        ago = _AGO.match(value)
        if ago:
            seconds = (datetime.now(UTC).timestamp() if now is None else now) - int(ago[1]) * _UNITS[ago[2]]
        elif value.replace(".", "", 1).isdigit():
            seconds = float(value)
        else:
            parsed = datetime.fromisoformat(value)
            seconds = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
        datetime.fromtimestamp(seconds, UTC)  # a time the reports can print, not one beyond the calendar
    except (ValueError, OverflowError, OSError):
        raise NotATime(f"{field}: {value!r} is not a time (ISO 8601 like 2025-09-08T10:00Z, Unix seconds, 72h / 7d ago)") from None
    return seconds
