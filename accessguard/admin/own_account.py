"""A professional's own page: their authenticators, recent sign-ins ("not you?"), and their password.

Who may do what, thinking of a real-time phishing proxy that relays a password and any code typed
(an authenticator app's, a recovery code) but cannot relay a security key:

- *Revoking* an authenticator needs a security key verified in the last 15 minutes, as adding one
  does (``enrolment.recovery_codes_grant``). Otherwise a phished password-and-code session could
  strip the victim's security key (or their app), leaving them to ask for help, which is when
  social engineering works. A lost *only* key is therefore not revoked from this page: "Report lost"
  alerts the administrators (``authenticator_reported_lost``), who revoke it and hand over an
  enrolment link in person. Reporting changes nothing, so any session may report.
- *"Not you?"* on a sign-in ends every session of the account (the one asking too) and alerts the
  administrators (``sign_in_disowned``); it suspends nothing. Any session may: it only takes access
  away. Every session rather than that sign-in's: a step-up moves a session to a new id, and
  whoever signed in may hold several; a password holder can sign in again, which is why the page says
  to change the password next.
- *Changing the password* is ``POST /accessguard/password`` (``authn/password_change.py``): the
  current password and a security key verified in the last 15 minutes.

Every action is a JSON POST the guard refuses cross-site (``Guard.serve``).
"""

from __future__ import annotations

from collections.abc import Callable

from accessguard.admin import actions
from accessguard.admin.pages import ACCOUNT_PAGE, SHOWN_STATES, STATE_NAMES, Markup, Pages, fill, with_next
from accessguard.audit.access_log import AccessLog
from accessguard.audit.sign_ins import FACTOR_NAMES, RECENT_S, recent_sign_ins, sign_in_of
from accessguard.authn.accounts import Account, Accounts, is_suspended
from accessguard.authn.alerts import alert
from accessguard.authn.authenticators import Authenticators
from accessguard.authn.ceremonies import Ceremonies
from accessguard.authn.enrolment import ENROLMENT_WINDOW_S, KIND_NAMES, is_enrolment_only, recent_additions, recovery_codes_grant
from accessguard.authn.password_change import PASSWORD_PATH
from accessguard.endpoints import ClearCookie, EndpointRequest, Handler, string_field
from accessguard.errors import BadRequest, Refused
from accessguard.i18n import N_
from accessguard.problem import Response, json_response
from accessguard.settings import Settings
from accessguard.store.base import Session, Store

ACCOUNT_REVOKE_PATH = "/accessguard/account/revoke"
ACCOUNT_LOST_PATH = "/accessguard/account/report-lost"
ACCOUNT_NOT_ME_PATH = "/accessguard/account/not-me"
NO_STORE = ("cache-control", "no-store")
_KEY_NEEDED = N_(
    "revoking an authenticator needs a security key verified in the last 15 minutes; lost your only security key?"
    " Report it lost: the administrators revoke it and give you an enrolment link"
)
_SUSPENDED_PAGE = N_("This account is suspended.")


class OwnAccount:
    def __init__(
        self,
        settings: Settings,
        pages: Pages,
        accounts: Accounts,
        authenticators: Authenticators,
        ceremonies: Ceremonies,
        store: Store,
        access_log: AccessLog,
        *,
        clear_cookie: ClearCookie,
    ) -> None:
        self._settings = settings
        self._pages = pages
        self._accounts = accounts
        self._authenticators = authenticators
        self._ceremonies = ceremonies
        self._store = store
        self._access_log = access_log
        self._clear_cookie = clear_cookie
        self._clock: Callable[[], float] = settings.clock
        self.routes: dict[tuple[str, str], Handler] = {
            ("GET", ACCOUNT_PAGE): self.page,
            ("POST", ACCOUNT_REVOKE_PATH): self.revoke,
            ("POST", ACCOUNT_LOST_PATH): self.report_lost,
            ("POST", ACCOUNT_NOT_ME_PATH): self.not_me,
        }

    def professional(self, session: Session | None) -> tuple[Session, Account]:
        """The session and its account; Refused unless an ordinary session of an active account."""
        if session is None or is_enrolment_only(session):
            raise Refused("authentication_required", "log in first", 401)
        account = self._accounts.get(session.professional_id)
        if account is None or is_suspended(account, self._store):
            raise Refused("account_suspended", "this account is suspended", 403)
        return session, account

    def page(self, request: EndpointRequest) -> Response:
        facts = request.facts
        try:
            session, account = self.professional(request.session)
        except Refused as refused:
            if refused.reason == "authentication_required":
                return self._pages.login_first(request)
            return self._pages.message(facts, 403, "Account suspended", _SUSPENDED_PAGE, "/", "Home")
        at = facts.public_path
        language = self._pages.language(facts)
        _ = language.gettext
        when = language.when
        now = self._clock()
        verified = session.factors.get("webauthn", 0)
        if recovery_codes_grant(session, now) is not None:
            freshness = fill(language, "account-key-fresh", time=when(verified), until=when(verified + ENROLMENT_WINDOW_S))
        else:
            freshness = fill(
                language, "account-key-needed", step_up=with_next(at(self._settings.step_up_page), ACCOUNT_PAGE, methods="webauthn")
            )
        held = self._authenticators.of_account(account.id, states=SHOWN_STATES)
        rows = "".join(
            fill(
                language,
                "account-authenticator",
                id=a.id,
                label=a.label,
                kind=_(KIND_NAMES.get(a.kind, a.kind)),
                state=a.state,
                state_text=_(STATE_NAMES.get(a.state, a.state)),
                added=when(a.created),
                last_used=when(a.last_used),
                account=account.id,
                revoke=at(ACCOUNT_REVOKE_PATH),
                lost=at(ACCOUNT_LOST_PATH),
            )
            for a in held
        )
        sign_ins = "".join(
            fill(
                language,
                "account-sign-in",
                seq=s.seq,
                time=when(s.time),
                factor=_(FACTOR_NAMES.get(s.factor, s.factor)),
                place=s.place or _("unknown place"),
                ip=s.ip or _("unknown"),
                post=at(ACCOUNT_NOT_ME_PATH),
            )
            for s in recent_sign_ins(self._access_log.log_location, account.id, now - RECENT_S)
        )
        notices = recent_additions(self._authenticators, self._ceremonies.recovery, account.id, now, language)
        content = fill(
            language,
            "account",
            notices=Markup("".join(fill(language, "notice", message=n["message"]) for n in notices)),
            freshness=Markup(freshness),
            authenticators=Markup(rows or fill(language, "account-none", columns=6, text=_("No authenticator yet."))),
            recovery=self._ceremonies.recovery.remaining(account.id),
            enrol=at(actions.ENROL_PAGE),
            sign_ins=Markup(sign_ins or fill(language, "account-none", columns=5, text=_("No sign-in in the last 30 days."))),
            password_post=at(PASSWORD_PATH),
            account=account.id,
        )
        return self._pages.page(facts, _("Your account"), content, account=account.id, next_path=ACCOUNT_PAGE)

    def revoke(self, request: EndpointRequest) -> Response:
        """Revoke one of the account's authenticators, from a session that verified a security key lately."""
        session, account = self.professional(request.session)
        body = request.json()
        authenticator_id = self._own_authenticator(body, account)
        if recovery_codes_grant(session, self._clock()) is None:
            raise Refused("phishing_resistant_required", _KEY_NEEDED, 403)
        revoked = actions.revoke(self._authenticators, account.id, authenticator_id, by=account.id)
        if not revoked:
            raise Refused("unknown_authenticator", "you have no live authenticator {authenticator!r}", 404, authenticator=authenticator_id)
        return json_response(200, {"revoked": [a.id for a in revoked], "obligations": {"alert": ["authenticator_revoked"]}}, [NO_STORE])

    def report_lost(self, request: EndpointRequest) -> Response:
        """Tell the administrators an authenticator is lost; changes nothing else."""
        _, account = self.professional(request.session)
        authenticator_id = self._own_authenticator(request.json(), account)
        found = self._authenticators.get(authenticator_id)
        if found is None or found.account_id != account.id or found.state not in SHOWN_STATES:
            raise Refused("unknown_authenticator", "you have no live authenticator {authenticator!r}", 404, authenticator=authenticator_id)
        language = self._pages.language(request.facts)
        kind = language.gettext(KIND_NAMES.get(found.kind, found.kind))
        alert("authenticator_reported_lost", account.id, authenticator=found.id, authenticator_kind=found.kind)
        message = language.gettext(
            "The administrators are told that your {kind} “{label}” is lost: one of them revokes it and hands you"
            " an enrolment link for a new one, in person or by phone."
        ).format(kind=kind, label=found.label)
        return json_response(200, {"reported": found.id, "message": message}, [NO_STORE])

    def not_me(self, request: EndpointRequest) -> Response:
        """A sign-in the professional disowns: every session of the account ends and the administrators are alerted."""
        _, account = self.professional(request.session)
        value = request.json().get("sign_in")
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**63:
            raise BadRequest("field 'sign_in' must be the number of a sign-in of yours")
        disowned = sign_in_of(self._access_log.log_location, account.id, value)
        if disowned is None:
            raise Refused("unknown_sign_in", "no sign-in {sign_in} of yours", 404, sign_in=value)
        sessions = self._store.revoke_sessions(account.id, "sign_in_disowned")
        alert(
            "sign_in_disowned",
            account.id,
            sign_in=disowned.seq,
            signed_in_at=int(disowned.time),
            factor=disowned.factor,
            ip=disowned.ip,
            place=disowned.place,
            sessions_revoked=sessions,
        )
        language = self._pages.language(request.facts)
        message = language.gettext(
            "Every session of your account has ended ({sessions}) and the administrators are alerted about the sign-in of"
            " {time}. Log in again and change your password."
        ).format(sessions=sessions, time=language.when(disowned.time))
        headers = [("set-cookie", self._clear_cookie(request.facts)), NO_STORE]
        return json_response(200, {"sessions_ended": sessions, "message": message}, headers)

    def _own_authenticator(self, body: dict[str, object], account: Account) -> str:
        """The ``authenticator`` field; an ``account`` field, if sent, must be the professional's own."""
        named = body.get("account")
        if named is not None and named != account.id:
            raise Refused("own_account_only", "this page acts on your own account only", 403)
        return string_field(body, "authenticator", 64)
