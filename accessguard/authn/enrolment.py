"""Enrolment that resists account takeover.

A real-time phishing proxy can relay a password and anything the professional
types (a TOTP code, a recovery code); it must not turn that into a lasting
foothold: an authenticator of its own, or recovery codes. So adding an
authenticator, or obtaining recovery codes, needs either

- a session that passed, within ``ENROLMENT_WINDOW_S``, the phishing-resistant
  factor (a security key with user verification: a proxy cannot relay it), or
- an administrator's one-time link, which opens an enrolment-only session: it
  grants no patient access and allows one enrolment of its kind (an account's
  first security key and first recovery codes come this way).

The same rule lets a professional re-verify an authenticator held back by a
containment, so the holder of a relayed code cannot. Every addition is alerted
and shown to the professional at each login for ``NOTICE_WINDOW_S``
(``recent_additions``), so an attacker logging in first cannot swallow the notice.

Links of kind ``password`` let a professional set a new password after an
administrator reset it (``authn/password_reset.py``); they open no session.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from accessguard.authn.authenticators import KINDS, TOTP, WEBAUTHN, Authenticators
from accessguard.authn.recovery import RecoveryCodes
from accessguard.database import Database
from accessguard.i18n import N_, Language
from accessguard.store.base import Session

ENROLMENT_WINDOW_S = 15 * 60
#: An enrolment-only session opened from a link lives this long.
LINK_SESSION_TTL_S = 15 * 60
DEFAULT_LINK_TTL_S = 24 * 3600
#: The session factor that marks an enrolment-only session, followed by the kind it may enrol.
LINK_FACTOR_PREFIX = "enrolment_link:"

#: The one session factor a phishing proxy cannot produce: a security key with user verification.
AUTHORISING_FACTOR = "webauthn"
#: A link of this kind lets its holder set a new password (after ``accessguard account reset-password``).
PASSWORD = "password"
LINK_KINDS = (*KINDS, PASSWORD)
KIND_NAMES = {TOTP: N_("authenticator app"), WEBAUTHN: N_("security key")}
#: Additions to an account are shown at every login for this long.
NOTICE_WINDOW_S = 7 * 24 * 3600

_KEY_VERIFIED = "a security key verified with user verification in the last 15 minutes"
REQUIREMENTS = {
    WEBAUTHN: N_(
        "adding a security key needs a security key verified with user verification in the last 15 minutes,"
        " or an enrolment link from an administrator"
    ),
    TOTP: N_(
        "adding an authenticator app needs a security key verified with user verification in the last 15 minutes,"
        " or an enrolment link from an administrator"
    ),
}
RECOVERY_CODES_REQUIREMENT = (
    f"new recovery codes need {_KEY_VERIFIED} (an administrator's enrolment link hands them out with the account's first enrolment)"
)


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
    return recovery_codes_grant(session, now)


def recovery_codes_grant(session: Session, now: float) -> str | None:
    """What entitles this session to a new set of recovery codes (a link hands them out with its enrolment only)."""
    if is_enrolment_only(session) or session.factors.get(AUTHORISING_FACTOR, 0) < now - ENROLMENT_WINDOW_S:
        return None
    return f"session:{AUTHORISING_FACTOR}"


def recent_additions(
    authenticators: Authenticators, recovery: RecoveryCodes, account_id: str, now: float, language: Language
) -> list[dict[str, Any]]:
    """What was added to the account through the guard in the last ``NOTICE_WINDOW_S``, newest first: shown at every
    login ("not you? …"), in ``language`` and its time zone."""
    _ = language.gettext
    since = now - NOTICE_WINDOW_S
    added = [
        (
            a.created,
            _("A new {kind} (“{label}”) was added on {time}; not you? Tell your administrator at once: someone may hold your password."),
            {"kind": a.kind, "authenticator": a.id, "via": a.enrolled_via},
            {"kind": _(KIND_NAMES[a.kind]), "label": a.label},
        )
        for a in authenticators.of_account(account_id, states=("active", "contained"))
        if since <= a.created <= now and a.kind in KIND_NAMES and _through_the_guard(a.enrolled_via)
    ]
    issued = recovery.issued_since(account_id, since)
    if issued is not None:
        message = _("New recovery codes were issued on {time}; not you? Tell your administrator at once: someone may hold your password.")
        added.append((issued, message, {"kind": "recovery_codes"}, {}))
    return [
        {"time": when, **details, "message": message.format(time=language.when(when), **values)}
        for when, message, details, values in sorted(added, key=lambda item: -item[0])
    ]


def _through_the_guard(enrolled_via: str) -> bool:
    """Enrolled through a link or a session (what an attacker could do), not by a provisioning script such as the demo's."""
    return enrolled_via == "link" or enrolled_via.startswith("session:")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class EnrolmentLinks:
    """One-time enrolment links issued by administrators; only their hashes are stored."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def issue(self, account_id: str, kind: str, ttl_s: int, now: float) -> str:
        if kind not in LINK_KINDS:
            raise ValueError(f"unknown authenticator kind {kind!r}")
        token = secrets.token_urlsafe(32)
        self._db.execute(
            "INSERT INTO enrolment_links VALUES (?, ?, ?, ?, ?, NULL)", (_hash(token), account_id, kind, int(now), int(now + ttl_s))
        )
        return token

    def peek(self, token: str, now: float, kinds: tuple[str, ...] = KINDS) -> tuple[str, str] | None:
        """A link's (account id, kind) while it is valid and of one of ``kinds``, without spending it: opening a link changes nothing."""
        if not _plausible(token):
            return None
        rows = self._db.execute(
            f"SELECT account_id, kind FROM enrolment_links WHERE token_hash = ? AND used IS NULL AND expires > ?"
            f" AND kind IN ({','.join('?' * len(kinds))})",
            (_hash(token), now, *kinds),
        )
        return (str(rows[0][0]), str(rows[0][1])) if rows else None

    def redeem(self, token: str, now: float, kinds: tuple[str, ...] = KINDS) -> tuple[str, str] | None:
        """Spend a link of one of ``kinds``: (account id, kind) once while it is valid, else None."""
        if not _plausible(token):
            return None
        rows = self._db.execute(
            "UPDATE enrolment_links SET used = ? WHERE token_hash = ? AND used IS NULL AND expires > ?"
            f" AND kind IN ({','.join('?' * len(kinds))}) RETURNING account_id, kind",
            (int(now), _hash(token), now, *kinds),
        )
        return (str(rows[0][0]), str(rows[0][1])) if rows else None

    def expire(self, account_id: str) -> int:
        """End every unused link of an account, as if it expired when issued (a containment): a link handed to an
        impostor must not open after a resume. Returns how many were not ended yet."""
        rows = self._db.execute(
            "UPDATE enrolment_links SET expires = issued WHERE account_id = ? AND used IS NULL AND expires > issued RETURNING token_hash",
            (account_id,),
        )
        return len(rows)


def _plausible(token: str) -> bool:
    return 16 <= len(token) <= 128
