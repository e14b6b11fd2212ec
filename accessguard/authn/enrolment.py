"""Enrolment that resists account takeover.

A real-time phishing proxy can relay a password and a TOTP code; it must not
turn that into an authenticator of its own that is stronger than what it
relayed. So adding an authenticator needs either

- a session that passed, within ``ENROLMENT_WINDOW_S``, a factor at least as
  strong as the one being added (a security key only after a security key with
  user verification; a TOTP app after TOTP, a key or a recovery code), or
- an administrator's one-time enrolment link, which opens an enrolment-only
  session: it grants no patient access and allows one enrolment of its kind.

The same rule lets a professional re-verify an authenticator held back by a
containment.
"""

from __future__ import annotations

import hashlib
import secrets

from accessguard.authn.authenticators import TOTP, WEBAUTHN
from accessguard.authn.database import Database
from accessguard.store.base import Session

ENROLMENT_WINDOW_S = 15 * 60
#: An enrolment-only session opened from a link lives this long.
LINK_SESSION_TTL_S = 15 * 60
DEFAULT_LINK_TTL_S = 24 * 3600
#: The session factor that marks an enrolment-only session, followed by the kind it may enrol.
LINK_FACTOR_PREFIX = "enrolment_link:"

#: Session factors that authorise adding an authenticator of each kind, strongest first.
AUTHORISING_FACTORS: dict[str, tuple[str, ...]] = {
    WEBAUTHN: ("webauthn",),
    TOTP: ("webauthn", "webauthn_no_uv", "otp", "recovery"),
}

REQUIREMENTS = {
    WEBAUTHN: "adding a security key needs a security key verified with user verification in the last 15 minutes,"
    " or an enrolment link from an administrator",
    TOTP: "adding an authenticator app needs a second factor (code, security key or recovery code) verified in the last"
    " 15 minutes, or an enrolment link from an administrator",
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS enrolment_links (
    token_hash TEXT PRIMARY KEY, account_id TEXT NOT NULL, kind TEXT NOT NULL,
    issued INTEGER NOT NULL, expires INTEGER NOT NULL, used INTEGER);
"""


def link_kind(session: Session) -> str | None:
    """The kind an enrolment-only session may enrol; None for an ordinary session."""
    return next((f.removeprefix(LINK_FACTOR_PREFIX) for f in session.factors if f.startswith(LINK_FACTOR_PREFIX)), None)


def is_enrolment_only(session: Session) -> bool:
    return link_kind(session) is not None


def enrolment_grant(session: Session, kind: str, now: float) -> str | None:
    """What entitles this session to add (or re-verify) an authenticator of ``kind``.

    ``"link"`` or ``"session:<factor>"``; None when nothing does.
    """
    linked = link_kind(session)
    if linked is not None:
        return "link" if linked == kind else None
    for factor in AUTHORISING_FACTORS[kind]:
        if session.factors.get(factor, 0) >= now - ENROLMENT_WINDOW_S:
            return f"session:{factor}"
    return None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class EnrolmentLinks:
    """One-time enrolment links issued by administrators; only their hashes are stored."""

    def __init__(self, database: Database) -> None:
        self._db = database
        database.create(_SCHEMA)

    def issue(self, account_id: str, kind: str, ttl_s: int, now: float) -> str:
        if kind not in AUTHORISING_FACTORS:
            raise ValueError(f"unknown authenticator kind {kind!r}")
        token = secrets.token_urlsafe(32)
        self._db.execute(
            "INSERT INTO enrolment_links VALUES (?, ?, ?, ?, ?, NULL)", (_hash(token), account_id, kind, int(now), int(now + ttl_s))
        )
        return token

    def peek(self, token: str, now: float) -> tuple[str, str] | None:
        """A link's (account id, kind) while it is valid, without spending it: opening a link changes nothing."""
        if not _plausible(token):
            return None
        rows = self._db.execute(
            "SELECT account_id, kind FROM enrolment_links WHERE token_hash = ? AND used IS NULL AND expires > ?", (_hash(token), now)
        )
        return (str(rows[0][0]), str(rows[0][1])) if rows else None

    def redeem(self, token: str, now: float) -> tuple[str, str] | None:
        """Spend a link: (account id, kind) once while it is valid, else None."""
        if not _plausible(token):
            return None
        rows = self._db.execute(
            "UPDATE enrolment_links SET used = ? WHERE token_hash = ? AND used IS NULL AND expires > ? RETURNING account_id, kind",
            (int(now), _hash(token), now),
        )
        return (str(rows[0][0]), str(rows[0][1])) if rows else None


def _plausible(token: str) -> bool:
    return 16 <= len(token) <= 128
