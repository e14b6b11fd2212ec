"""Throttling of guesses: one-time codes per account, password logins per submitted username.

Every attempt is charged in the shared store *before* what was submitted is
checked, in one atomic step (``Store.charge_attempt``), so concurrent guesses,
in any process on any host sharing the store, cannot all slip in before the
first failure is counted. From the schedule's ``max_attempts``-th consecutive
attempt on, each attempt also locks the key for a back-off that doubles every
time; a success clears the count. While locked, every attempt, right or
wrong, is refused with a 429 and ``Retry-After``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from accessguard.errors import Refused
from accessguard.store.base import Attempt, Backoff, Store

log = logging.getLogger("accessguard.authn")

#: TOTP and recovery codes: 5 attempts, then 30 s, 60 s … 15 min.
CODES = Backoff(max_attempts=5, first_lock_s=30, max_lock_s=900)
#: Passwords: 10 attempts, then 30 s, 60 s … 15 min (a person mistypes more often than a code).
LOGINS = Backoff(max_attempts=10, first_lock_s=30, max_lock_s=900)


@dataclass(frozen=True)
class Throttle:
    """One kind of attempt (``code``, ``login``) on the store's counts; refusals say ``<kind>_attempts_locked``."""

    store: Store
    kind: str
    backoff: Backoff
    failures: str  # what the refusal says there were too many of ("wrong codes")

    def charge(self, key: str, now: float) -> Attempt:
        """Charge one attempt to ``key``; Refused (429, ``Retry-After``) while it is locked."""
        attempt = self.store.charge_attempt(f"{self.kind}:{key}", self.backoff, now)
        if not attempt.admitted:
            wait = max(1, math.ceil(attempt.locked_until - now))
            log.warning("%s attempt for %r refused: locked for %d s more after %d in a row", self.kind, key, wait, attempt.attempts)
            detail = f"too many {self.failures}; try again in {wait} s"
            raise Refused(f"{self.kind}_attempts_locked", detail, 429, [("retry-after", str(wait))])
        return attempt

    def first_lock(self, attempt: Attempt) -> bool:
        """This attempt is the one that locked the key for the first time."""
        return attempt.attempts == self.backoff.max_attempts

    def clear(self, key: str) -> None:
        """A success: the count starts again from zero and any lock is lifted."""
        self.store.clear_attempts(f"{self.kind}:{key}")
