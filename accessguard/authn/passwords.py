"""Password hashing with Argon2id (memory-hard), and what a new password must be."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified when the account is unknown, so timing does not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("accessguard-dummy-password")


#: A new password's length bounds (NIST SP 800-63B asks for at least 8; a shared clinical workstation warrants more).
MIN_LENGTH = 12
MAX_LENGTH = 1024


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; an account without a usable hash (none, reset, OpenID) costs the same time."""
    usable = password_hash is not None and password_hash.startswith("$argon2")
    try:
        return _hasher.verify(password_hash if usable and password_hash else _DUMMY_HASH, password) and usable
    except (VerificationError, InvalidHashError):
        return False


def new_password_problem(password: str) -> str | None:
    """Why ``password`` cannot be a new password, or None."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return f"a new password needs {MIN_LENGTH} to {MAX_LENGTH} characters"
    if not password.isprintable() or password.strip() != password:
        return "a new password must be printable text without leading or trailing spaces"
    return None
