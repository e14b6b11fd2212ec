"""Server-side sessions behind a signed cookie: ``<session id>.<HMAC>``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable

from accessguard.errors import InvalidSession
from accessguard.store.base import Session, Store


class SessionRevoked(InvalidSession):
    """The cookie names a revoked session, which the guard may still attribute to its account."""

    def __init__(self, session: Session) -> None:
        super().__init__("the session was revoked; log in again")
        self.session = session


class Sessions:
    def __init__(self, store: Store, key: str, ttl_s: int) -> None:
        self._store = store
        self._key = key.encode()
        self._ttl_s = ttl_s

    def _sign(self, session_id: str) -> str:
        mac = hmac.new(self._key, session_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def _cookie(self, session_id: str) -> str:
        return f"{session_id}.{self._sign(session_id)}"

    def start(self, professional_id: str, factor: str, now: int, ttl_s: int | None = None) -> tuple[Session, str]:
        """A new session with one verified factor; returns it and its cookie value."""
        session = Session(secrets.token_urlsafe(24), professional_id, now, now + (ttl_s or self._ttl_s), {factor: now})
        self._store.create_session(session)
        return session, self._cookie(session.id)

    def start_unless_contained(
        self, professional_id: str, factor: str, now: int, still_valid: Callable[[], bool], ttl_s: int | None = None
    ) -> tuple[Session, str] | None:
        """``start``, then confirm that what was checked before still holds (``still_valid``); None, and no session, if not.

        A containment (suspension, password reset) changes the account first and
        revokes its sessions next. A login that checked the account before the
        change and starts its session after the revocation (the window is a
        password hash, a token exchange) would escape both; checking again once
        the session exists closes it: either the revocation sees the session or
        the check sees the change.
        """
        session, cookie = self.start(professional_id, factor, now, ttl_s)
        valid = False
        try:
            valid = still_valid()
        finally:  # a failed check (a store fault) ends the session too: its cookie is never sent
            if not valid:
                self.end(session)
        return (session, cookie) if valid else None

    def step_up(self, session: Session, factor: str, at: int) -> tuple[Session, str]:
        """The session under a new id with one more verified factor, and its cookie value; the old id ends.

        Whenever assurance rises the id changes: an id fixed or seen before the
        step-up (session fixation) never carries the new factor. InvalidSession
        when the session stopped being live meanwhile (revoked, logged out).
        """
        raised = self._store.rotate_session(session.id, secrets.token_urlsafe(24), factor, at)
        if raised is None:
            raise InvalidSession("the session has expired or ended; log in again")
        return raised, self._cookie(raised.id)

    def resume(self, cookie: str, now: float) -> Session:
        """The live session a cookie names; InvalidSession when forged, unknown or expired, SessionRevoked when revoked."""
        session_id, _, signature = cookie.partition(".")
        if not session_id or len(cookie) > 256 or not hmac.compare_digest(signature.encode(), self._sign(session_id).encode()):
            raise InvalidSession("the session cookie is invalid; log in again")
        session = self._store.get_session(session_id)
        if session is None or session.expires <= now:
            raise InvalidSession("the session has expired or ended; log in again")
        if session.revoked is not None:
            raise SessionRevoked(session)
        return session

    def end(self, session: Session) -> None:
        self._store.delete_session(session.id)
