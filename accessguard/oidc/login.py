"""Browser login through the provider: authorization code + PKCE (RFC 7636), with the step-up round trip.

``begin`` (``GET /accessguard/oidc/login?acr_values=…&max_age=…&next=…``, the
RFC 9470 parameters as the challenge names them) redirects to the provider's
authorization endpoint with a state, a nonce, a PKCE challenge, and the
``acr_values`` and ``max_age`` the policy wants. What the callback must check
rides in a short-lived cookie sealed with the guard's encryption key, so
nothing is stored before the login succeeds.

``complete`` (the ``redirect_uri``) exchanges the code with Authlib's OAuth 2
client (which sends the PKCE verifier), validates the ID token (signature,
``iss``, ``aud`` = client id, ``nonce``), checks that it meets what was asked
(``acr`` among ``acr_values``, ``auth_time`` within ``max_age``) — a provider
may answer from an older session — and starts an accessguard session whose
factors are the token's, stamped with ``auth_time``.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken as UnreadableSeal

from accessguard.authn.accounts import Accounts, is_suspended
from accessguard.authn.sessions import Sessions
from accessguard.endpoints import EndpointRequest, SessionCookie
from accessguard.errors import BadRequest, ConfigurationError
from accessguard.oidc.discovery import ProviderUnavailable
from accessguard.oidc.jwt_bearer import InvalidToken
from accessguard.oidc.relying_party import RelyingParty
from accessguard.problem import Response, problem
from accessguard.store.base import Store
from accessguard.untrusted import for_log

log = logging.getLogger("accessguard.oidc")

LOGIN_PATH = "/accessguard/oidc/login"
STATE_COOKIE = "accessguard_oidc"
STATE_TTL_S = 600
MAX_ACR_VALUES = 8
_ACR_VALUE = re.compile(r"[\x21-\x7e]{1,128}")
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")


@dataclass(frozen=True)
class PendingLogin:
    """What the callback checks, sealed into the state cookie between begin and complete."""

    state: str
    nonce: str
    code_verifier: str
    acr_values: tuple[str, ...]
    max_age: int | None
    next: str


class OIDCLogin:
    def __init__(
        self,
        relying_party: RelyingParty,
        accounts: Accounts,
        sessions: Sessions,
        store: Store,
        *,
        encryption_key: str,
        session_cookie: SessionCookie,
        secure: bool,
        clock: Callable[[], float],
    ) -> None:
        settings = relying_party.settings
        if not (settings.client_id and settings.redirect_uri):
            raise ConfigurationError("oidc.client_id and oidc.redirect_uri: browser login needs both")
        self._rp = relying_party
        self._settings = settings
        self._client_id: str = settings.client_id
        self._redirect_uri: str = settings.redirect_uri
        self._accounts = accounts
        self._sessions = sessions
        self._store = store
        self._fernet = Fernet(encryption_key)
        self._session_cookie = session_cookie
        self._clock = clock
        self.callback_path = callback_path = urlsplit(settings.redirect_uri).path
        self._state_cookie_attributes = f"Path={callback_path}; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
        self.routes = {("GET", LOGIN_PATH): self.begin, ("GET", callback_path): self.complete}

    @staticmethod
    def step_up_url(acr_values: list[str], max_age: int | None) -> str:
        """Where a browser goes to step up: the login, asking for these acr values and this freshness."""
        query = {"acr_values": " ".join(acr_values), **({"max_age": str(max_age)} if max_age is not None else {})}
        return f"{LOGIN_PATH}?{urlencode(query)}"

    def _client(self) -> OAuth2Session:
        secret = self._settings.client_secret
        return OAuth2Session(
            self._client_id,
            secret,
            scope=" ".join(self._settings.scopes),
            redirect_uri=self._redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic" if secret else "none",
        )

    def begin(self, request: EndpointRequest) -> Response:
        query = request.facts.query()
        pending = PendingLogin(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            code_verifier=secrets.token_urlsafe(48),
            acr_values=_acr_values(query.get("acr_values", "")),
            max_age=_max_age(query.get("max_age")),
            next=_local_path(query.get("next", "/")),
        )
        extra: dict[str, Any] = {"nonce": pending.nonce}
        if pending.acr_values:
            extra["acr_values"] = " ".join(pending.acr_values)
        if pending.max_age is not None:
            extra["max_age"] = pending.max_age
        with self._client() as client:
            url, _ = client.create_authorization_url(
                self._rp.provider.metadata().authorization_endpoint, state=pending.state, code_verifier=pending.code_verifier, **extra
            )
        sealed = self._fernet.encrypt_at_time(json.dumps(asdict(pending)).encode(), int(self._clock())).decode()
        cookie = f"{STATE_COOKIE}={sealed}; {self._state_cookie_attributes}; Max-Age={STATE_TTL_S}"
        return Response(302, b"", [("location", url), ("set-cookie", cookie)])

    def complete(self, request: EndpointRequest) -> Response:
        query = request.facts.query()
        if "error" in query:
            error = query["error"] if _ERROR_CODE.fullmatch(query["error"]) else "invalid_error_code"
            return _login_failed(request, f"the provider refused the login ({error})")
        pending = self._pending(request.facts.cookie(STATE_COOKIE))
        if not hmac.compare_digest(query.get("state", "").encode(), pending.state.encode()):
            raise BadRequest("the login's state does not match; start again at {path}", path=LOGIN_PATH)
        if "iss" in query and query["iss"] != self._settings.issuer:  # RFC 9207: the answer comes from our provider
            raise BadRequest("the login answer names another issuer")
        code = query.get("code")
        if not code:
            raise BadRequest("the login answer carries no code")
        try:
            claims = self._id_token_claims(code, pending)
        except InvalidToken as exc:
            log.warning("OIDC login refused: %s", for_log(exc.detail, 500))
            return _login_failed(request, exc.detail)
        subject, authn = self._rp.identify(claims)
        if not authn.factor_times:
            return _login_failed(request, f"the provider's token names no authentication method mapped here (amr {claims.get('amr')!r})")
        account = self._rp.account_of(subject)
        suspended = problem(403, "account-suspended", "Account suspended", "this account is suspended", reasons=["account_suspended"])
        if is_suspended(account, self._store):
            log.warning("OIDC login refused for %r: account suspended", subject.id)
            return suspended
        if request.session is not None:  # a step-up replaces the session it completes
            self._sessions.end(request.session)
        factors = list(authn.factor_times.items())
        started = self._sessions.start_unless_contained(subject.id, factors[0][0], int(self._clock()), lambda: self._active(subject.id))
        if started is None:
            log.warning("OIDC login refused for %r: account suspended while the login completed", subject.id)
            return suspended
        session, cookie = started
        for factor, at in factors:  # the session's factors count from the provider's auth_time
            self._store.record_factor(session.id, factor, at)
        clear = f"{STATE_COOKIE}=; {self._state_cookie_attributes}; Max-Age=0"
        session_cookie = self._session_cookie(request.facts, cookie)
        location = request.facts.public_path(pending.next)
        return Response(303, b"", [("location", location), ("set-cookie", session_cookie), ("set-cookie", clear)])

    def _active(self, account_id: str) -> bool:
        """The account as it is now (not as read before the session started) exists and is not suspended."""
        account = self._accounts.get(account_id)
        return account is not None and not is_suspended(account, self._store)

    def _pending(self, sealed: str | None) -> PendingLogin:
        no_login = BadRequest("no login is in progress in this browser, or it expired; start again at {path}", path=LOGIN_PATH)
        if not sealed:
            raise no_login
        try:
            document = json.loads(self._fernet.decrypt_at_time(sealed.encode(), STATE_TTL_S, int(self._clock())))
            return PendingLogin(**{**document, "acr_values": tuple(document["acr_values"])})
        except (UnreadableSeal, ValueError, TypeError, KeyError):
            raise no_login from None

    def _id_token_claims(self, code: str, pending: PendingLogin) -> dict[str, Any]:
        token_endpoint = self._rp.provider.metadata().token_endpoint
        try:
            with self._client() as client:
                token = client.fetch_token(token_endpoint, code=code, code_verifier=pending.code_verifier, timeout=self._settings.timeout_s)
        except OAuthError as exc:
            raise InvalidToken(f"the provider refused the code ({exc.error})") from None
        except (requests.RequestException, ValueError) as exc:
            raise ProviderUnavailable(f"{token_endpoint}: {exc}") from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise InvalidToken("the provider's token response has no ID token")
        claims = self._rp.validator.claims(id_token, audience=self._client_id)
        if not hmac.compare_digest(str(claims.get("nonce", "")).encode(), pending.nonce.encode()):
            raise InvalidToken("the ID token's nonce does not match this login")
        if claims.get("azp", self._client_id) != self._client_id:
            raise InvalidToken("the ID token was issued to another client (azp)")
        self._check_meets(claims, pending)
        return claims

    def _check_meets(self, claims: dict[str, Any], pending: PendingLogin) -> None:
        """The step-up check: the provider may answer from an older or weaker session."""
        mapping = self._settings.claims
        acr = claims.get(mapping.acr)
        if pending.acr_values and acr not in pending.acr_values:
            raise InvalidToken(f"the provider returned acr {acr!r}, not one of the requested {' '.join(pending.acr_values)}")
        if pending.max_age is not None:
            auth_time = claims.get(mapping.auth_time)
            now = int(self._clock())
            if not isinstance(auth_time, int) or now - auth_time > pending.max_age + self._settings.leeway_s:
                raise InvalidToken(f"the provider's login is older than the requested max_age of {pending.max_age} s")


def _login_failed(request: EndpointRequest, detail: str) -> Response:
    return problem(401, "login-failed", "Login failed", detail, login=request.facts.public_path(LOGIN_PATH))


def _acr_values(raw: str) -> tuple[str, ...]:
    values = tuple(raw.split())
    if len(values) > MAX_ACR_VALUES or not all(_ACR_VALUE.fullmatch(v) for v in values):
        raise BadRequest("acr_values must be at most {count} space-separated values of printable characters", count=MAX_ACR_VALUES)
    return values


def _max_age(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:  # "²" passes str.isdigit, not int()
        raise BadRequest("max_age must be a number of seconds")
    return int(raw)


def _local_path(raw: str) -> str:
    """Only a path on this site: an open redirect would hand the session to a phishing page."""
    if not raw.startswith("/") or raw.startswith(("//", "/\\")) or len(raw) > 1024 or not raw.isprintable():
        raise BadRequest("next must be a path on this site, starting with a single /")
    return raw
