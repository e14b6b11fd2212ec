"""The guard's own JSON routes: password login, logout (authenticator routes: ``authn/ceremonies.py``).

Password guesses are throttled per submitted username, known or not, before
any password is hashed (``authn/throttle.py``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from accessguard.authn.accounts import Accounts, is_suspended
from accessguard.authn.alerts import alert
from accessguard.authn.passwords import verify_password
from accessguard.authn.sessions import Sessions
from accessguard.authn.throttle import LOGINS, Throttle
from accessguard.errors import BadRequest
from accessguard.facts import RequestFacts
from accessguard.problem import Response, json_response, problem
from accessguard.store.base import Session, Store

log = logging.getLogger("accessguard.authn")

MAX_BODY_BYTES = 16 * 1024
LOGOUT_PATH = "/accessguard/logout"


def parse_json_body(content_type: str | None, body: bytes) -> dict[str, Any]:
    """A JSON object body; BadRequest naming what is wrong otherwise."""
    if not content_type or content_type.split(";")[0].strip().lower() != "application/json":
        raise BadRequest("the request body must be JSON (Content-Type: application/json)", status=415)
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(f"the request body is larger than {MAX_BODY_BYTES} bytes", status=413)
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BadRequest("the request body must be a JSON object")
    return document


@dataclass(frozen=True)
class EndpointRequest:
    """A request to one of the guard's own routes, with its session if any."""

    facts: RequestFacts
    body: bytes
    session: Session | None

    def json(self) -> dict[str, Any]:
        return parse_json_body(self.facts.headers.get("content-type"), self.body)


#: A guard route handler; BadRequest raised inside becomes a 4xx problem.
Handler = Callable[[EndpointRequest], Response]


def string_field(document: dict[str, Any], name: str, max_length: int = 256) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise BadRequest(f"field {name!r} must be a non-empty string of at most {max_length} characters")
    return value


class Endpoints:
    def __init__(
        self,
        accounts: Accounts,
        sessions: Sessions,
        store: Store,
        *,
        login_path: str,
        cookie: Callable[[str], str],
        clear_cookie: str,
        clock: Callable[[], float],
        notices: Callable[[str, float], list[dict[str, Any]]] = lambda account_id, now: [],
    ) -> None:
        """``notices``: what to tell a professional at login (authenticators added lately: "not you? …")."""
        self._notices = notices
        self._accounts = accounts
        self._sessions = sessions
        self._store = store
        self._cookie = cookie
        self._clear_cookie = clear_cookie
        self._clock = clock
        self.throttle = Throttle(store, "login", LOGINS, "failed logins for this username")
        self.routes: dict[tuple[str, str], Handler] = {
            ("POST", login_path): self.login,
            ("POST", LOGOUT_PATH): self.logout,
        }

    def login(self, request: EndpointRequest) -> Response:
        body, session = request.json(), request.session
        username, password = string_field(body, "username"), string_field(body, "password", 1024)
        now = self._clock()
        attempt = self.throttle.charge(username, now)  # known or not, so a lock does not tell which usernames exist
        account = self._accounts.get(username)
        if not verify_password(account.password_hash if account else None, password) or account is None:
            log.info("login refused for %r: bad credentials (%d in a row)", username, attempt.attempts)
            if self.throttle.first_lock(attempt):
                if account is not None:  # a professional's password under attack
                    alert("login_attempts_locked", account.id, attempts=attempt.attempts)
                else:
                    log.warning("login locked for %r: %d failed logins in a row", username, attempt.attempts)
            return problem(401, "invalid-credentials", "Login failed", "invalid username or password")
        self.throttle.clear(username)
        if is_suspended(account, self._store):
            log.warning("login refused for %r: account suspended", username)
            return problem(403, "account-suspended", "Account suspended", "this account is suspended", reasons=["account_suspended"])
        if session is not None:
            self._sessions.end(session)
        _, cookie = self._sessions.start(account.id, "pwd", int(now))
        document: dict[str, Any] = {"subject": account.id, "aal": 1}
        notices = self._notices(account.id, now)
        if notices:
            document["notices"] = notices
        return json_response(200, document, [("set-cookie", self._cookie(cookie))])

    def logout(self, request: EndpointRequest) -> Response:
        session = request.session
        if session is not None:
            self._sessions.end(session)
        return json_response(200, {"logged_out": True}, [("set-cookie", self._clear_cookie)])
