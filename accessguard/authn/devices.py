"""Device cookies (OWASP's "slow down online guessing attacks with device cookies").

After a full login (password, then a second factor) the browser gets a signed
cookie naming the username and a random nonce. Guesses presented with a valid
one are charged to that device only (``throttle.py``), so strangers hammering
the username lock out untrusted clients but never the owner's own browser.

The value is ``<nonce>.<expiry>.<HMAC>``, signed with the session key over the
username, the nonce and the expiry, so it is worthless for another username
and cannot be forged or prolonged. Each username has its own cookie name (an
HMAC of it), so professionals sharing a workstation keep one each. The cookie
is HttpOnly, SameSite=Strict, Secure unless the guard runs on plain HTTP, and
sent only to the guard's own routes: the login route and ``/accessguard/``
(where codes are entered), below the mount the guard answers under, never to
the application.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from accessguard.facts import RequestFacts

#: How long a device stays trusted after its last full login.
DEVICE_TTL_S = 90 * 86400
#: Where codes are entered (step-up, enrolment); the login route is added when it lies elsewhere.
GUARD_ROUTES = "/accessguard/"
_NAME_PREFIX = "accessguard_device_"
#: ``<nonce>.<expiry>.<HMAC-SHA256>``, all URL-safe base64 or digits.
_VALUE = re.compile(r"([A-Za-z0-9_-]{16,64})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})")


class DeviceCookies:
    def __init__(self, session_key: str, *, login_path: str, secure: bool, ttl_s: int = DEVICE_TTL_S) -> None:
        self._key = hashlib.sha256(b"accessguard device cookie\0" + session_key.encode()).digest()  # never a session signature
        self._paths = [GUARD_ROUTES] + ([] if login_path.startswith(GUARD_ROUTES) else [login_path])
        self._attributes = "HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")
        self._ttl_s = ttl_s

    def _mac(self, *parts: str) -> str:
        message = "\0".join(parts).encode(errors="surrogatepass")  # any string a request may send, never an exception
        return base64.urlsafe_b64encode(hmac.new(self._key, message, hashlib.sha256).digest()).decode().rstrip("=")

    def name(self, username: str) -> str:
        """The cookie name for a username: it tells nothing about the username to whoever reads the cookie jar."""
        return _NAME_PREFIX + self._mac("name", username)[:16]

    def issue(self, facts: RequestFacts, username: str, now: float) -> list[tuple[str, str]]:
        """``Set-Cookie`` headers trusting this browser for ``username`` (a new nonce: a bucket of its own), for the guard's
        routes below the request's mount."""
        nonce, expires = secrets.token_urlsafe(18), int(now) + self._ttl_s
        value = f"{nonce}.{expires}.{self._mac('device', username, nonce, str(expires))}"
        cookie = f"{self.name(username)}={value}; Max-Age={self._ttl_s}; {self._attributes}"
        return [("set-cookie", f"{cookie}; Path={facts.public_path(path)}") for path in self._paths]

    def device(self, facts: RequestFacts, username: str, now: float) -> str | None:
        """The nonce of the request's valid, unexpired device cookie for ``username``; None when it has none."""
        value = facts.cookie(self.name(username))
        shape = _VALUE.fullmatch(value) if value is not None else None
        if shape is None:
            return None
        nonce, expires, signature = shape.groups()
        if not hmac.compare_digest(signature, self._mac("device", username, nonce, expires)) or int(expires) <= now:
            return None
        return nonce
