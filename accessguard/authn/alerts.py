"""Alerts about authenticators, as log lines on the ``accessguard.alerts`` logger.

Each line is ``alert `` and one JSON object carrying a stable event code
(``event``); alert sinks route them by that code (``record.alert``).
Secrets never appear in an alert.
"""

from __future__ import annotations

import json
import logging

log = logging.getLogger("accessguard.alerts")

#: The stable event codes raised here.
EVENTS = frozenset(
    {
        "authenticator_enrolled",
        "authenticator_reverified",
        "authenticator_revoked",
        "authenticator_reported_lost",
        "authenticator_clone_suspected",
        "authenticators_contained",
        "enrolment_link_issued",
        "enrolment_link_redeemed",
        "enrolment_link_requested",
        "recovery_code_used",
        "recovery_codes_issued",
        "recovery_codes_revoked",
        "password_reset",
        "password_changed",
        "code_attempts_locked",
        "login_attempts_locked",
        "login_source_locked",
        "suspended_account_login",
        "sign_in_disowned",
    }
)


def alert(event: str, account_id: str, **details: object) -> None:
    """Log one alert line, ``alert {json}``; ``details`` are plain, non-secret values.

    The line is one JSON object (ASCII, every control character escaped), so a
    request value inside it cannot break the line, and a forged line elsewhere
    does not parse as one.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown alert event {event!r}")
    document = {"event": event, "account": account_id, **details}
    log.warning("alert %s", json.dumps(document, separators=(",", ":"), default=str), extra={"alert": document})
