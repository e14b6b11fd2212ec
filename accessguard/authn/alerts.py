"""Alerts about authenticators, as log lines on the ``accessguard.alerts`` logger.

Each line carries a stable event code; alert sinks route them by that code
(``record.alert``). Secrets never appear in an alert.
"""

from __future__ import annotations

import logging

log = logging.getLogger("accessguard.alerts")

#: The stable event codes raised here.
EVENTS = frozenset(
    {
        "authenticator_enrolled",
        "authenticator_reverified",
        "authenticator_revoked",
        "authenticator_clone_suspected",
        "authenticators_contained",
        "enrolment_link_issued",
        "enrolment_link_redeemed",
        "recovery_code_used",
        "recovery_codes_issued",
        "recovery_codes_revoked",
        "password_reset",
        "password_changed",
        "code_attempts_locked",
        "login_attempts_locked",
    }
)


def alert(event: str, account_id: str, **details: object) -> None:
    """Log one alert; ``details`` are plain, non-secret values."""
    if event not in EVENTS:
        raise ValueError(f"unknown alert event {event!r}")
    described = " ".join(f"{k}={v}" for k, v in details.items())
    log.warning("%s account=%s %s", event, account_id, described, extra={"alert": {"event": event, "account": account_id, **details}})
