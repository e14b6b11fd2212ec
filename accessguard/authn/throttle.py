"""Throttling of one-time codes (TOTP, recovery) per account, across sessions and processes.

Every attempt is charged *before* the code is checked, in one atomic step, so
concurrent guesses cannot all slip in before the first failure is counted. From
the ``MAX_ATTEMPTS``-th consecutive charged attempt on, each attempt also locks
the account's codes for a back-off that doubles every time; a right code
clears the count. While locked, every code, right or wrong, is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from accessguard.authn.database import Database

MAX_ATTEMPTS = 5
FIRST_LOCK_S = 30
MAX_LOCK_S = 900

_SCHEMA = """
CREATE TABLE IF NOT EXISTS code_attempts (
    account_id TEXT PRIMARY KEY, attempts INTEGER NOT NULL, locked_until REAL NOT NULL);
"""


@dataclass(frozen=True)
class Attempt:
    """The outcome of charging one attempt: admitted, or refused until ``locked_until``.

    ``attempts`` counts the consecutive attempts charged so far, this one included.
    """

    admitted: bool
    locked_until: float
    attempts: int


def lock_seconds(attempts: int) -> int:
    """The back-off after ``attempts`` consecutive charged attempts (0 below the threshold)."""
    if attempts < MAX_ATTEMPTS:
        return 0
    return int(min(FIRST_LOCK_S * 2 ** min(attempts - MAX_ATTEMPTS, 16), MAX_LOCK_S))


class CodeThrottle:
    def __init__(self, database: Database) -> None:
        self._db = database
        database.create(_SCHEMA)

    def attempt(self, account_id: str, now: float) -> Attempt:
        """Charge one code attempt to the account, unless its codes are locked."""
        with self._db.transaction() as db:
            row = db.execute("SELECT attempts, locked_until FROM code_attempts WHERE account_id = ?", (account_id,)).fetchone()
            attempts, locked_until = (int(row[0]), float(row[1])) if row else (0, 0.0)
            if locked_until > now:
                return Attempt(False, locked_until, attempts)
            attempts += 1
            locked_until = now + lock_seconds(attempts) if lock_seconds(attempts) else locked_until
            db.execute("INSERT OR REPLACE INTO code_attempts VALUES (?, ?, ?)", (account_id, attempts, locked_until))
        return Attempt(True, locked_until, attempts)

    def succeeded(self, account_id: str) -> None:
        """A right code: the count starts again from zero and any lock is lifted."""
        self._db.execute("DELETE FROM code_attempts WHERE account_id = ?", (account_id,))
