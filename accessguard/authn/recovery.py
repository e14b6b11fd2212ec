"""Recovery codes: ten single-use codes per account, stored hashed, good for an aal2 step-up.

A code carries 80 random bits, so a plain SHA-256 (salted with the account id)
is enough to keep it unusable if the database leaks; an attacker cannot
enumerate 2^80 candidates. Using a code is one atomic update, so a code can
never be spent twice, even by two processes at once.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from accessguard.database import Database

CODE_COUNT = 10
_CODE_BYTES = 10  # 80 bits → 16 base32 characters, shown as four groups of four


def _normalise(code: str) -> str:
    return "".join(c for c in code.upper() if c.isalnum())


def _hash(account_id: str, code: str) -> str:
    return hashlib.sha256(f"{account_id}\0{_normalise(code)}".encode()).hexdigest()


def _new_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(_CODE_BYTES)).decode()
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4)).lower()


class RecoveryCodes:
    def __init__(self, database: Database) -> None:
        self._db = database

    def issue(self, account_id: str, now: float) -> list[str]:
        """A fresh set of codes, replacing any earlier set; shown to the professional once."""
        codes = [_new_code() for _ in range(CODE_COUNT)]
        with self._db.transaction() as db:
            db.execute("DELETE FROM recovery_codes WHERE account_id = ?", (account_id,))
            db.executemany(
                "INSERT INTO recovery_codes VALUES (?, ?, ?, NULL)", [(account_id, _hash(account_id, code), int(now)) for code in codes]
            )
        return codes

    def ever_issued(self, account_id: str) -> bool:
        """Whether the account holds a set (used or not); after ``revoke`` it holds none, so its next enrolment gets one."""
        return bool(self._db.execute("SELECT 1 FROM recovery_codes WHERE account_id = ? LIMIT 1", (account_id,)))

    def issued_since(self, account_id: str, since: float) -> int | None:
        """When the account's current set was issued, if at or after ``since``."""
        rows = self._db.execute("SELECT MAX(issued) FROM recovery_codes WHERE account_id = ? AND issued >= ?", (account_id, since))
        return int(str(rows[0][0])) if rows and rows[0][0] is not None else None

    def revoke(self, account_id: str) -> int:
        """Delete the account's set: no code of it works again. Returns how many were still unused."""
        rows = self._db.execute("DELETE FROM recovery_codes WHERE account_id = ? RETURNING used", (account_id,))
        return sum(used is None for (used,) in rows)

    def unused_issued_after(self, issued_after: float) -> dict[str, int]:
        """Per account, the unused codes issued after a time: what ``revoke_issued_after`` would delete (its preview)."""
        rows = self._db.execute(
            "SELECT account_id, COUNT(used IS NULL OR NULL) FROM recovery_codes WHERE issued > ? GROUP BY account_id", (issued_after,)
        )
        return {str(account_id): int(str(unused)) for account_id, unused in rows}

    def revoke_issued_after(self, issued_after: float) -> dict[str, int]:
        """Delete every set issued after a time (containment); per account touched, how many were still unused."""
        revoked: dict[str, int] = {}
        for account_id, used in self._db.execute("DELETE FROM recovery_codes WHERE issued > ? RETURNING account_id, used", (issued_after,)):
            revoked[str(account_id)] = revoked.get(str(account_id), 0) + (used is None)
        return revoked

    def remaining(self, account_id: str) -> int:
        rows = self._db.execute("SELECT COUNT(*) FROM recovery_codes WHERE account_id = ? AND used IS NULL", (account_id,))
        return int(str(rows[0][0]))

    def use(self, account_id: str, code: str, now: float) -> bool:
        """Spend a code; True once per code, False for an unknown or already used one."""
        if not 8 <= len(_normalise(code)) <= 32:
            return False
        rows = self._db.execute(
            "UPDATE recovery_codes SET used = ? WHERE account_id = ? AND code_hash = ? AND used IS NULL RETURNING 1",
            (int(now), account_id, _hash(account_id, code)),
        )
        return bool(rows)
