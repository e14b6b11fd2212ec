"""The guard's JSON routes that set a password: a professional's own change, and a password link's.

A password is the one credential a phishing page always gets, so changing it
asks for what a phishing proxy cannot relay: a session that passed a security
key with user verification in the last 15 minutes (and the current password,
against an unattended session). After a reset (``accessguard account
reset-password``, containment, suspension with revocation) the professional
sets a new one through a one-time password link instead: no session, the
link's token and the new password, which must differ from the one taken away.
A changed password ends every session of the account.
"""

from __future__ import annotations

from collections.abc import Callable

from accessguard.authn.accounts import Account, Accounts, is_suspended
from accessguard.authn.alerts import alert
from accessguard.authn.enrolment import PASSWORD, EnrolmentLinks, recovery_codes_grant
from accessguard.authn.passwords import MAX_LENGTH, new_password_problem, verify_password
from accessguard.endpoints import ClearCookie, EndpointRequest, Handler, string_field
from accessguard.errors import BadRequest, Refused
from accessguard.problem import Response, json_response
from accessguard.store.base import Store

PASSWORD_PATH = "/accessguard/password"
PASSWORD_RESET_PATH = "/accessguard/password/reset"
_LINK_INVALID = "this password link is invalid, expired or already used; ask your administrator for a new one"


class PasswordChange:
    def __init__(
        self, accounts: Accounts, links: EnrolmentLinks, store: Store, *, clear_cookie: ClearCookie, clock: Callable[[], float]
    ) -> None:
        self._accounts = accounts
        self._links = links
        self._store = store
        self._clear_cookie = clear_cookie
        self._clock = clock
        self.routes: dict[tuple[str, str], Handler] = {
            ("POST", PASSWORD_PATH): self.change,
            ("POST", PASSWORD_RESET_PATH): self.reset,
        }

    def change(self, request: EndpointRequest) -> Response:
        """A professional's own change: old and new password, from a session that passed a security key."""
        session = request.session
        if session is None:
            raise Refused("authentication_required", "log in with your password first", 401)
        account = self._accounts.get(session.professional_id)
        if account is None or is_suspended(account, self._store):
            raise Refused("account_suspended", "this account is suspended", 403)
        if recovery_codes_grant(session, self._clock()) is None:
            raise Refused("phishing_resistant_required", "changing the password needs a security key verified in the last 15 minutes", 403)
        body = request.json()
        old, new = string_field(body, "old_password", MAX_LENGTH), string_field(body, "new_password", MAX_LENGTH)
        if not verify_password(account.password_hash, old):
            raise Refused("invalid_credentials", "the current password is wrong", 403)
        if old == new:
            raise BadRequest("the new password must differ from the current one")
        _acceptable(new)
        self._set(account, new, via="session", replacing=account.password_hash)
        message = "Password changed; every session of your account has ended: log in with the new password."
        return json_response(
            200, {"password_changed": True, "sessions_ended": True, "message": message}, [("set-cookie", self._clear_cookie(request.facts))]
        )

    def holder(self, token: str) -> Account | None:
        """The account a valid password link is for, without spending it (opening the link changes nothing)."""
        link = self._links.peek(token, self._clock(), kinds=(PASSWORD,))
        return self._accounts.get(link[0]) if link is not None else None

    def reset(self, request: EndpointRequest) -> Response:
        """Spend a password link: set the new password. Works while the account is suspended, so that it can be resumed."""
        body = request.json()
        token, new = string_field(body, "token"), string_field(body, "password", MAX_LENGTH)
        account = self.holder(token)
        if account is None:
            raise Refused("password_link_invalid", _LINK_INVALID, 410)
        _acceptable(new)
        taken = self._accounts.held_password_hash(account.id)
        if taken is not None and verify_password(taken, new):  # checked before the link is spent: the professional tries again
            raise BadRequest("the new password must differ from the one that was reset")
        if self._links.redeem(token, self._clock(), kinds=(PASSWORD,)) is None:
            raise Refused("password_link_invalid", _LINK_INVALID, 410)
        self._set(account, new, via="link")
        return json_response(200, {"password_changed": True}, [("cache-control", "no-store")])

    def _set(self, account: Account, password: str, *, via: str, replacing: str | None = None) -> None:
        """``replacing``: the hash the old password was verified against; a reset or change made meanwhile wins."""
        if not self._accounts.set_password(account.id, password, replacing=replacing):
            if replacing is not None:  # the old password verified, so the account has one
                raise Refused("password_changed_meanwhile", "the password was reset or changed meanwhile; nothing was changed", 409)
            raise Refused("no_local_password", "this account logs in through its OpenID provider", 409)
        sessions = self._store.revoke_sessions(account.id, "password_changed")
        alert("password_changed", account.id, via=via, sessions_revoked=sessions)


def _acceptable(password: str) -> None:
    problem = new_password_problem(password)
    if problem is not None:
        raise BadRequest(problem)
