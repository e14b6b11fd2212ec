"""The guard's own JSON routes: password login, logout (authenticator routes: ``authn/ceremonies.py``).

Password guesses are throttled before any password is hashed
(``authn/throttle.py``): per submitted username (known or not), client address
and network, or only per device when the browser holds a device cookie from an
earlier full login of that username (``authn/devices.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from accessguard.authn.accounts import Accounts, is_suspended
from accessguard.authn.alerts import alert
from accessguard.authn.devices import DeviceCookies
from accessguard.authn.passwords import verify_password
from accessguard.authn.sessions import Sessions
from accessguard.authn.throttle import Bucket, Throttle, login_buckets
from accessguard.errors import BadRequest
from accessguard.facts import IPNetwork, RequestFacts, client_address
from accessguard.i18n import Language, Languages
from accessguard.problem import Response, json_response, problem
from accessguard.store.base import Session, Store
from accessguard.untrusted import parse_json_object, text

log = logging.getLogger("accessguard.authn")

MAX_BODY_BYTES = 16 * 1024
LOGOUT_PATH = "/accessguard/logout"


def parse_json_body(content_type: str | None, body: bytes) -> dict[str, Any]:
    """A JSON object body of text (``untrusted.parse_json_object``); BadRequest naming what is wrong otherwise.

    Every guard route reads its body here, so nothing downstream sees a lone surrogate, a NUL or a huge number.
    """
    if not content_type or content_type.split(";")[0].strip().lower() != "application/json":
        raise BadRequest("the request body must be JSON (Content-Type: application/json)", status=415)
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest("the request body is larger than {size} bytes", status=413, size=MAX_BODY_BYTES)
    return parse_json_object(body)


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
#: The ``Set-Cookie`` value of a session cookie for a request (its path is the request's mount), and the one clearing it.
SessionCookie = Callable[[RequestFacts, str], str]
ClearCookie = Callable[[RequestFacts], str]


def string_field(document: dict[str, Any], name: str, max_length: int = 256, *, multiline: bool = False) -> str:
    """A non-empty text field on one line (``multiline``: free text with line breaks); BadRequest naming it otherwise."""
    return text(name, document.get(name), max_length, multiline=multiline)


class Endpoints:
    def __init__(
        self,
        accounts: Accounts,
        sessions: Sessions,
        store: Store,
        *,
        login_path: str,
        cookie: SessionCookie,
        clear_cookie: ClearCookie,
        clock: Callable[[], float],
        devices: DeviceCookies,
        trusted_proxies: Sequence[IPNetwork],
        languages: Languages,
        notices: Callable[[str, float, Language], list[dict[str, Any]]] = lambda account_id, now, language: [],
    ) -> None:
        """``notices``: what to tell a professional at login (authenticators added lately: "not you? …")."""
        self._languages = languages
        self._notices = notices
        self._accounts = accounts
        self._sessions = sessions
        self._store = store
        self._cookie = cookie
        self._clear_cookie = clear_cookie
        self._clock = clock
        self._devices = devices
        self._trusted = trusted_proxies
        self.throttle = Throttle(store, "login")
        self.routes: dict[tuple[str, str], Handler] = {
            ("POST", login_path): self.login,
            ("POST", LOGOUT_PATH): self.logout,
        }

    def login(self, request: EndpointRequest) -> Response:
        body, session, facts = request.json(), request.session, request.facts
        username, password = string_field(body, "username"), string_field(body, "password", 1024)
        now = self._clock()
        language = self._languages.of_request(facts)
        _ = language.gettext
        device = self._devices.device(facts, username, now)
        source = None if device else client_address(facts.peer, facts.headers.get("x-forwarded-for"), self._trusted)
        buckets = login_buckets(username, device, source)
        attempts = self.throttle.charge(buckets, now)  # known or not, so a lock does not tell which usernames exist
        account = self._accounts.get(username)
        if not verify_password(account.password_hash if account else None, password) or account is None:
            log.info("login refused for %r: bad credentials (%d in a row)", username, attempts[0].attempts)
            for bucket, attempt in zip(buckets, attempts, strict=True):
                if bucket.first_lock(attempt):
                    _first_lock(bucket, attempt.attempts, account.id if account else None)
            return problem(401, "invalid-credentials", "Login failed", _("invalid username or password"))
        self.throttle.succeeded(buckets)
        if is_suspended(account, self._store):
            alert("suspended_account_login", account.id)  # the right password for a contained account: who holds it?
            return problem(403, "account-suspended", "Account suspended", _("this account is suspended"), reasons=["account_suspended"])
        if session is not None:
            self._sessions.end(session)
        verified = account.password_hash
        started = self._sessions.start_unless_contained(account.id, "pwd", int(now), lambda: self._still_verified(username, verified))
        if started is None:
            log.warning("login refused for %r: the password was reset or the account suspended while it was verified", username)
            return problem(401, "invalid-credentials", "Login failed", _("invalid username or password"))
        _, cookie = started
        document: dict[str, Any] = {"subject": account.id, "aal": 1}
        notices = self._notices(account.id, now, language)
        if notices:
            document["notices"] = notices
        return json_response(200, document, [("set-cookie", self._cookie(facts, cookie))])

    def _still_verified(self, username: str, verified_hash: str) -> bool:
        """The password verified is still the account's and the account still active (a containment changes one first)."""
        account = self._accounts.get(username)
        return account is not None and account.password_hash == verified_hash and not is_suspended(account, self._store)

    def trusting_the_device(self, handler: Handler) -> Handler:
        """A second-factor route that, once it verified the factor of a password session, trusts the browser
        (a full login): it gets a new device cookie for the username (``authn/devices.py``)."""

        def handle(request: EndpointRequest) -> Response:
            response = handler(request)
            session = request.session
            if response.status == 200 and session is not None and "pwd" in session.factors:
                response.headers.extend(self._devices.issue(request.facts, session.professional_id, self._clock()))
            return response

        return handle

    def logout(self, request: EndpointRequest) -> Response:
        session = request.session
        if session is not None:
            self._sessions.end(session)
        return json_response(200, {"logged_out": True}, [("set-cookie", self._clear_cookie(request.facts))])


def _first_lock(bucket: Bucket, attempts: int, account_id: str | None) -> None:
    """Alert on the first lock of a bucket: a professional's password or a place under attack."""
    if bucket.shared:  # an address or a network: spraying
        alert("login_source_locked", "", source=bucket.label, attempts=attempts)
    elif account_id is not None:
        alert("login_attempts_locked", account_id, attempts=attempts, **({"trusted_device": True} if bucket.scope == "device" else {}))
    else:
        log.warning("login locked for %s: %d failed logins in a row", bucket.label, attempts)
