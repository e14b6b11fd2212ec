"""Server-rendered pages: log in, step up, enrol authenticators, and the admin page.

Templates and assets are package data beside this module; the pages load
nothing from other hosts (CSP ``default-src 'none'``, own scripts and styles), run no inline script,
and every state change goes through a JSON POST that the guard checks for
cross-site origin (see ``guard.Guard.serve``).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from string import Template
from urllib.parse import quote, unquote, urlencode

from accessguard.admin.actions import ENROL_PAGE, PASSWORD_RESET_PAGE
from accessguard.authn.authenticators import HELD_STATES, TOTP, WEBAUTHN, Authenticator, Authenticators
from accessguard.authn.ceremonies import (
    ENROL_REQUEST_PATH,
    RECOVERY_CODES_PATH,
    RECOVERY_STEP_UP_PATH,
    TOTP_ENROL_PATH,
    TOTP_STEP_UP_PATH,
    WEBAUTHN_ENROL_PATH,
    WEBAUTHN_STEP_UP_PATH,
    Ceremonies,
)
from accessguard.authn.enrolment import (
    KIND_NAMES,
    REQUIREMENTS,
    enrolment_grant,
    is_enrolment_only,
    link_kind,
    recent_additions,
    recovery_codes_grant,
)
from accessguard.authn.password_change import PASSWORD_RESET_PATH, PasswordChange
from accessguard.endpoints import LOGOUT_PATH, EndpointRequest, Handler, SessionCookie, string_field
from accessguard.errors import Refused
from accessguard.facts import RequestFacts
from accessguard.i18n import N_, Language, Languages
from accessguard.i18n.catalogue import script_messages
from accessguard.problem import Response, json_response
from accessguard.settings import Settings

#: Where the enrolment link's confirmation page posts the token: opening the link (GET) spends nothing.
ENROL_LINK_PATH = "/accessguard/enroll/link"
ASSETS = "/accessguard/assets"
#: A professional's own page: authenticators, sign-ins, password (``admin/own_account.py``).
ACCOUNT_PAGE = "/accessguard/account"

_HERE = Path(__file__).parent
_ASSET_TYPES = {"accessguard.js": "text/javascript; charset=utf-8", "accessguard.css": "text/css; charset=utf-8"}
SECURITY_HEADERS = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
]
#: The authenticators a professional sees on their own page.
SHOWN_STATES = (*HELD_STATES, "clone_suspected")
_LINK_INVALID = "this enrolment link is invalid, expired or already used; ask your administrator for a new one"
_LINK_INVALID_PAGE = N_("This enrolment link is invalid, expired or already used; ask your administrator for a new one.")
#: How an authenticator's state reads on a page (the state itself is a stable identifier).
STATE_NAMES = {
    "pending": N_("pending"),
    "active": N_("active"),
    "contained": N_("contained"),
    "clone_suspected": N_("clone suspected"),
    "revoked": N_("revoked"),
}


@cache
def _template(name: str, language: Language) -> Template:
    """A template in ``language``: each ``{{text}}`` replaced by its translation, once per process."""
    text = (_HERE / "templates" / f"{name}.html").read_text()
    return language.template(text)


def fill(language: Language, name: str, **values: object) -> str:
    """A template in ``language`` with its values HTML-escaped; values already rendered are passed as ``Markup``."""
    return _template(name, language).substitute({k: v if isinstance(v, Markup) else html.escape(str(v)) for k, v in values.items()})


@cache
def _script_strings(language: Language) -> str:
    """The translations the pages' script shows, as JSON (a ``<meta>`` content: no inline script under the CSP)."""
    strings = {message: language.gettext(message) for message in script_messages()}
    return json.dumps({k: v for k, v in strings.items() if k != v})


class Markup(str):
    """HTML that is already rendered and escaped."""


def html_response(status: int, body: str, headers: Iterable[tuple[str, str]] = ()) -> Response:
    return Response(status, body.encode(), [("content-type", "text/html; charset=utf-8"), *SECURITY_HEADERS, *headers])


def redirect(location: str) -> Response:
    return Response(303, b"", [("location", location), ("cache-control", "no-store")])


def wants_page(facts: RequestFacts) -> bool:
    """A browser navigation (GET asking for HTML) rather than an API call."""
    return facts.method == "GET" and "text/html" in facts.headers.get("accept", "")


def local_path(value: str | None, default: str = "/") -> str:
    """``value`` if it is a path of the application below the guard's mount, else ``default`` (no open redirect).

    A ``next`` is app-relative: the page puts it below the mount (``RequestFacts.public_path``), so it may not
    leave it either (no dot segments, even encoded).
    """
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or any(ord(c) < 32 for c in value):
        return default
    path = unquote(value.split("?", 1)[0])
    if any(segment in (".", "..") for segment in path.split("/")):
        return default
    return value


def with_next(url: str, next_path: str, **extra: str) -> str:
    """``url`` with ``next`` (where to come back) and ``extra`` added to its query."""
    return f"{url}{'&' if '?' in url else '?'}{urlencode({'next': next_path, **extra}, quote_via=quote)}"


def step_up_methods(requested: str | None) -> set[str]:
    """The factors a step-up challenge accepts (``methods`` of the redirect: ``otp``, ``webauthn``); any second factor when absent.

    ``otp`` is met by an authenticator app or a recovery code, ``webauthn`` by a security key only.
    """
    accepted = set((requested or "").split()) & {"otp", WEBAUTHN}
    return accepted or {"otp", WEBAUTHN}


class Pages:
    def __init__(
        self,
        settings: Settings,
        authenticators: Authenticators,
        ceremonies: Ceremonies,
        password_change: PasswordChange,
        *,
        cookie: SessionCookie,
        languages: Languages,
    ) -> None:
        self._settings = settings
        self._languages = languages
        self._authenticators = authenticators
        self._ceremonies = ceremonies
        self._password_change = password_change
        self._cookie = cookie
        self._clock = settings.clock
        self.routes: dict[tuple[str, str], Handler] = {
            ("GET", settings.login_path): self.login_page,
            ("GET", settings.step_up_page): self.step_up_page,
            ("GET", ENROL_PAGE): self.enrol_page,
            ("POST", ENROL_LINK_PATH): self.redeem_link,
            ("GET", PASSWORD_RESET_PAGE): self.password_reset_page,
            **{("GET", f"{ASSETS}/{name}"): self._asset(name) for name in _ASSET_TYPES},
        }

    def page(
        self, facts: RequestFacts, title: str, content: str, *, account: str | None = None, next_path: str = "/", status: int = 200
    ) -> Response:
        """A page; ``next_path`` (where its form leads) is app-relative, put below the mount here like every other link."""
        at = facts.public_path
        language = self.language(facts)
        who = fill(language, "who", account=account, account_page=at(ACCOUNT_PAGE), logout=at(LOGOUT_PATH)) if account else ""
        body = fill(
            language,
            "layout",
            lang=language.code,
            strings=_script_strings(language),
            title=title,
            service=self._settings.service_name,
            assets=at(ASSETS),
            next=at(next_path),
            login=at(self._settings.login_path),
            who=Markup(who),
            content=Markup(content),
        )
        return html_response(status, body)

    def message(
        self, facts: RequestFacts, status: int, title: str, text: str, link: str, link_text: str, account: str | None = None
    ) -> Response:
        """A page with one message and one (app-relative) link; ``title``, ``text`` and ``link_text`` are translated here."""
        language = self.language(facts)
        _ = language.gettext
        content = fill(language, "message", text=_(text), link=facts.public_path(link), link_text=_(link_text))
        return self.page(facts, _(title), content, account=account, status=status)

    def language(self, facts: RequestFacts) -> Language:
        """The language of the request's pages and messages (``Accept-Language``, else the configured default)."""
        return self._languages.of_request(facts)

    def _asset(self, name: str) -> Handler:
        content = (_HERE / "assets" / name).read_bytes()

        def serve(request: EndpointRequest) -> Response:
            return Response(200, content, [("content-type", _ASSET_TYPES[name])])

        return serve

    def login_first(self, request: EndpointRequest) -> Response:
        facts = request.facts
        return redirect(with_next(facts.public_path(self._settings.login_path), facts.target()))

    # pages for professionals

    def login_page(self, request: EndpointRequest) -> Response:
        facts = request.facts
        next_path = local_path(facts.query().get("next"))
        at = facts.public_path
        language = self.language(facts)
        content = fill(language, "login", login=at(self._settings.login_path), account_page=at(ACCOUNT_PAGE), next=at(next_path))
        return self.page(facts, language.gettext("Log in"), content, next_path=next_path)

    def step_up_page(self, request: EndpointRequest) -> Response:
        session = request.session
        if session is None:
            return self.login_first(request)
        facts = request.facts
        at = facts.public_path
        query = facts.query()
        next_path = local_path(query.get("next"))
        account_id = session.professional_id
        language = self.language(facts)
        _ = language.gettext
        if is_enrolment_only(session):
            text = "This session may only enrol an authenticator."
            return self.message(facts, 403, "Enrolment only", text, ENROL_PAGE, "Go to enrolment")
        accepted = step_up_methods(query.get("methods"))
        key_only = accepted == {WEBAUTHN}
        keys = self._authenticators.of_account(account_id, WEBAUTHN, HELD_STATES) if WEBAUTHN in accepted else []
        apps = self._authenticators.of_account(account_id, TOTP, HELD_STATES) if "otp" in accepted else []
        remaining = self._ceremonies.recovery.remaining(account_id) if "otp" in accepted else 0
        why = (
            _("This request needs a security key: a phishing-resistant proof that it is really you.")
            if key_only
            else _("This request needs a second factor.")
        )
        notices = recent_additions(self._authenticators, self._ceremonies.recovery, account_id, self._clock(), language)
        none = ""
        if not (keys or apps or remaining):
            kind = WEBAUTHN if key_only else TOTP
            none = fill(
                language,
                "step-up-none",
                missing=_("security key") if key_only else _("second factor (security key, authenticator app or recovery code)"),
                kind=kind,
                kind_name=_(KIND_NAMES[kind]),
                post=at(ENROL_REQUEST_PATH),
            )
        content = fill(
            language,
            "step-up",
            notices=Markup("".join(fill(language, "notice", message=n["message"]) for n in notices)),
            why=why,
            enrol=at(ENROL_PAGE),
            none=Markup(none),
            key=Markup(
                fill(language, "step-up-key", begin=at(WEBAUTHN_STEP_UP_PATH + "/begin"), complete=at(WEBAUTHN_STEP_UP_PATH + "/complete"))
                if keys
                else ""
            ),
            totp=Markup(fill(language, "step-up-totp", post=at(TOTP_STEP_UP_PATH)) if apps else ""),
            recovery=Markup(fill(language, "step-up-recovery", post=at(RECOVERY_STEP_UP_PATH), remaining=remaining) if remaining else ""),
        )
        return self.page(facts, _("Confirm it is you"), content, account=account_id, next_path=next_path)

    def enrol_page(self, request: EndpointRequest) -> Response:
        facts = request.facts
        at = facts.public_path
        token = facts.query().get("token")
        if token is not None:
            return self._link_page(facts, token)
        session = request.session
        if session is None:
            return self.login_first(request)
        now = self._clock()
        account_id = session.professional_id
        linked = link_kind(session)
        language = self.language(facts)
        _ = language.gettext
        sections = {}
        for kind, name, template, paths in (
            (TOTP, "totp", "enroll-totp", {"begin": f"{TOTP_ENROL_PATH}/begin", "confirm": f"{TOTP_ENROL_PATH}/confirm"}),
            (WEBAUTHN, "key", "enroll-key", {"begin": f"{WEBAUTHN_ENROL_PATH}/begin", "complete": f"{WEBAUTHN_ENROL_PATH}/complete"}),
        ):
            if enrolment_grant(session, kind, now) is not None:
                sections[name] = fill(language, template, **{part: at(path) for part, path in paths.items()})
            elif linked is None:
                sections[name] = fill(
                    language,
                    "enroll-refused",
                    heading=_("Add an authenticator app") if kind == TOTP else _("Add a security key"),
                    requirement=_(REQUIREMENTS[kind]).capitalize(),
                    step_up=with_next(at(self._settings.step_up_page), ENROL_PAGE, methods="webauthn"),
                )
            else:
                sections[name] = ""
        recovery = ""
        if recovery_codes_grant(session, now) is not None:
            recovery = fill(
                language, "enroll-recovery", remaining=self._ceremonies.recovery.remaining(account_id), post=at(RECOVERY_CODES_PATH)
            )
        content = fill(
            language,
            "enroll",
            banner=Markup(fill(language, "enroll-banner", account=account_id, kind=_(KIND_NAMES[linked])) if linked else ""),
            authenticators=Markup(
                self.authenticator_table(language, self._authenticators.of_account(account_id, states=(*HELD_STATES, "clone_suspected")))
            ),
            totp=Markup(sections["totp"]),
            key=Markup(sections["key"]),
            recovery=Markup(recovery),
        )
        return self.page(facts, _("Authenticators"), content, account=account_id, next_path=ENROL_PAGE)

    def _link_page(self, facts: RequestFacts, token: str) -> Response:
        """What opening an enrolment link shows: a button that spends it, so a link preview or a mail scanner spends nothing."""
        holder = self._ceremonies.link_holder(token)
        if holder is None:
            return self.message(facts, 410, "Link not valid", _LINK_INVALID_PAGE, self._settings.login_path, "Log in")
        account_id, kind = holder
        language = self.language(facts)
        content = fill(
            language,
            "enroll-link",
            account=account_id,
            kind=language.gettext(KIND_NAMES[kind]),
            post=facts.public_path(ENROL_LINK_PATH),
            token=token,
        )
        return self.page(facts, language.gettext("Enrolment link"), content, next_path=ENROL_PAGE)

    def redeem_link(self, request: EndpointRequest) -> Response:
        """Spend an enrolment link (once) and open its enrolment-only session."""
        cookie = self._ceremonies.open_link(string_field(request.json(), "token"))
        if cookie is None:
            raise Refused("enrolment_link_invalid", _LINK_INVALID, 410)
        facts = request.facts
        return json_response(
            200, {"next": facts.public_path(ENROL_PAGE)}, [("set-cookie", self._cookie(facts, cookie)), ("cache-control", "no-store")]
        )

    def password_reset_page(self, request: EndpointRequest) -> Response:
        """What opening a password link shows: a form whose POST spends the link (opening it spends nothing)."""
        facts = request.facts
        token = facts.query().get("token") or ""
        account = self._password_change.holder(token)
        if account is None:
            text = N_("This password link is invalid, expired or already used; ask your administrator for a new one.")
            return self.message(facts, 410, "Link not valid", text, self._settings.login_path, "Log in")
        language = self.language(facts)
        content = fill(language, "password-reset", account=account.id, post=facts.public_path(PASSWORD_RESET_PATH), token=token)
        return self.page(facts, language.gettext("Set a new password"), content, next_path=self._settings.login_path)

    def authenticator_table(self, language: Language, authenticators: list[Authenticator], revoke_path: str | None = None) -> str:
        _ = language.gettext
        if not authenticators:
            return f"<p>{html.escape(_('None yet.'))}</p>"
        rows = []
        for a in authenticators:
            kind = _(KIND_NAMES.get(a.kind, a.kind))
            row = "".join(f"<td>{html.escape(c)}</td>" for c in (a.id, kind, a.label))
            row += f'<td class="state-{html.escape(a.state)}">{html.escape(_(STATE_NAMES.get(a.state, a.state)))}</td>'
            row += f"<td>{language.when(a.created)}</td><td>{language.when(a.last_used)}</td>"
            if revoke_path is not None:
                disabled = " disabled" if a.state == "revoked" else ""
                revoke = html.escape(_("Revoke"))
                name = _("Revoke {kind} {label} ({id}) of {account}").format(kind=kind, label=a.label, id=a.id, account=a.account_id)
                row += (
                    f'<td><button type="button" class="small danger" data-revoke="{revoke_path}" data-account="{html.escape(a.account_id)}"'
                    f' data-authenticator="{html.escape(a.id)}" aria-label="{html.escape(name)}"{disabled}>{revoke}</button></td>'
                )
            rows.append(f"<tr>{row}</tr>")
        heading = f'<th scope="col">{html.escape(_("Actions"))}</th>' if revoke_path else ""
        return fill(language, "authenticators", rows=Markup("".join(rows)), action_heading=Markup(heading))
