"""The admin console: accounts, containment, the breach scope, the access log's state, emergency reviews, alerts.

A thin adapter over the functions the command line calls (``admin/actions.py``, ``containment.py``,
``audit/``): each handler checks the administrator, parses the request, calls one of them with the
administrator's id as the operator, and renders or returns the result. Pages (GET) change nothing but
the access-log line of a breach-scope read; every action is a JSON POST, which the guard refuses
cross-site (``Guard.serve``). The administrator needs the admin role and a security key verified in
the last ``ADMIN_FRESHNESS_S``.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from accessguard.admin import actions
from accessguard.admin.account_import import ACCOUNT_KINDS, NewAccount, new_account, read_import
from accessguard.admin.dashboard import dashboard
from accessguard.admin.pages import Markup, Pages, fill, redirect, with_next
from accessguard.audit.access_log import AccessLog, read_head
from accessguard.audit.alerts import recent_alerts
from accessguard.audit.chain import CheckpointSigner
from accessguard.audit.log_store import reading
from accessguard.audit.reviews import ReviewNotFound, close_review, list_reviews
from accessguard.audit.scope import SCOPE_FIELDS, breach_scope, scope_csv, scope_records
from accessguard.audit.sealed_ids import PatientIdSealer
from accessguard.audit.verify import Verification, verify
from accessguard.audit.witness import WitnessError
from accessguard.audit.witness_file import read_witness_file
from accessguard.authn import totp
from accessguard.authn.accounts import Account, Accounts, is_suspended
from accessguard.authn.authenticators import KINDS, Authenticators
from accessguard.authn.ceremonies import Ceremonies
from accessguard.authn.enrolment import DEFAULT_LINK_TTL_S, KIND_NAMES, is_enrolment_only
from accessguard.containment import PasswordNotReset, UnknownAccount, resume, suspend
from accessguard.endpoints import EndpointRequest, Handler, string_field
from accessguard.errors import BadRequest, Phrase, Refused
from accessguard.facts import RequestFacts
from accessguard.i18n import N_, Language
from accessguard.problem import Response, json_response
from accessguard.settings import Settings
from accessguard.store.base import Session, Store
from accessguard.times import NotATime, parse_time

ADMIN_PAGE = "/accessguard/admin"
ADMIN_ACCOUNT_PAGE = "/accessguard/admin/account"
ADMIN_SCOPE_PAGE = "/accessguard/admin/scope"
ADMIN_AUDIT_PAGE = "/accessguard/admin/audit"
ADMIN_DASHBOARD_PAGE = "/accessguard/admin/dashboard"
ADMIN_REVOKE_PATH = "/accessguard/admin/revoke"
ADMIN_SUSPEND_PATH = "/accessguard/admin/suspend"
ADMIN_RESUME_PATH = "/accessguard/admin/resume"
ADMIN_PASSWORD_PATH = "/accessguard/admin/reset-password"
ADMIN_LINK_PATH = "/accessguard/admin/enrolment-link"
ADMIN_CONTAIN_PATH = "/accessguard/admin/contain"
ADMIN_REVIEW_CLOSE_PATH = "/accessguard/admin/reviews/close"
ADMIN_CREATE_PATH = "/accessguard/admin/accounts/create"
ADMIN_IMPORT_PATH = "/accessguard/admin/accounts/import"
#: Admin pages need a phishing-resistant factor verified this recently.
ADMIN_FRESHNESS_S = 15 * 60
#: The factor filter's choices: an account's held authenticators, by kind.
FACTOR_FILTERS = {"none": N_("no authenticator"), **KIND_NAMES}
#: How an account's status reads on a page (the status itself is a stable identifier).
STATUS_NAMES = {"active": N_("active"), "suspended": N_("suspended")}
NO_STORE = ("cache-control", "no-store")


@dataclass(frozen=True)
class _Row:
    account: Account
    suspended: bool
    factors: tuple[str, ...]  # the kinds of its active authenticators


def _options(language: Language, choices: dict[str, str], selected: str) -> Markup:
    """``<option>`` elements, the first one "any", with ``selected`` marked; ``choices`` maps values to labels to translate."""
    items = [("", language.gettext("any")), *((v, language.gettext(label)) for v, label in choices.items())]
    return Markup(
        "".join(
            f'<option value="{html.escape(v)}"{" selected" if v == selected else ""}>{html.escape(label)}</option>' for v, label in items
        )
    )


def _bool_field(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise BadRequest("field {field!r} must be true or false", field=name)
    return value


class Console:
    def __init__(
        self,
        settings: Settings,
        pages: Pages,
        accounts: Accounts,
        authenticators: Authenticators,
        ceremonies: Ceremonies,
        store: Store,
        access_log: AccessLog,
    ) -> None:
        self._settings = settings
        self._pages = pages
        self._accounts = accounts
        self._authenticators = authenticators
        self._ceremonies = ceremonies
        self._store = store
        self._access_log = access_log
        self._clock: Callable[[], float] = settings.clock
        self.routes: dict[tuple[str, str], Handler] = {
            ("GET", ADMIN_PAGE): self._gated(self.accounts_page),
            ("GET", ADMIN_ACCOUNT_PAGE): self._gated(self.account_page),
            ("GET", ADMIN_SCOPE_PAGE): self._gated(self.scope_page),
            ("GET", ADMIN_AUDIT_PAGE): self._gated(self.audit_page),
            ("GET", ADMIN_DASHBOARD_PAGE): self._gated(self.dashboard_page),
            ("POST", ADMIN_REVOKE_PATH): self.revoke,
            ("POST", ADMIN_SUSPEND_PATH): self.suspend,
            ("POST", ADMIN_RESUME_PATH): self.resume,
            ("POST", ADMIN_PASSWORD_PATH): self.reset_password,
            ("POST", ADMIN_LINK_PATH): self.enrolment_link,
            ("POST", ADMIN_CONTAIN_PATH): self.contain,
            ("POST", ADMIN_REVIEW_CLOSE_PATH): self.close_review,
            ("POST", ADMIN_CREATE_PATH): self.create_account,
            ("POST", ADMIN_IMPORT_PATH): self.import_accounts,
        }

    # who may

    def administrator(self, session: Session | None) -> Account:
        """The administrator behind this session; Refused unless admin with a fresh phishing-resistant factor."""
        if session is None or is_enrolment_only(session):
            raise Refused("authentication_required", "log in first", 401)
        account = self._accounts.get(session.professional_id)
        if account is None or not account.is_admin or is_suspended(account, self._store):
            raise Refused("admin_required", "this page is for administrators", 403)
        if session.factors.get("webauthn", 0) < self._clock() - ADMIN_FRESHNESS_S:
            raise Refused("phishing_resistant_required", "administration needs a security key verified in the last 15 minutes", 403)
        return account

    def _gated(self, render: Callable[[EndpointRequest, Account], Response]) -> Handler:
        """A console page: to the login or the security-key step-up first when needed, a refusal page for non-administrators."""

        def page(request: EndpointRequest) -> Response:
            facts = request.facts
            try:
                admin = self.administrator(request.session)
            except Refused as refused:
                if refused.reason == "authentication_required":
                    return self._pages.login_first(request)
                if refused.reason == "phishing_resistant_required":
                    return redirect(with_next(facts.public_path(self._settings.step_up_page), facts.target(), methods="webauthn"))
                who = request.session.professional_id if request.session else None
                detail = refused.explained(self._pages.language(facts).gettext)
                return self._pages.message(facts, 403, "Administrators only", detail, "/", "Home", who)
            return render(request, admin)

        return page

    def _account(self, account_id: str) -> Account:
        account = self._accounts.get(account_id)
        if account is None:
            raise Refused("unknown_account", "no account {account!r}", 404, account=account_id)
        return account

    def _show(self, facts: RequestFacts, admin: Account, title: str, template: str, **values: object) -> Response:
        at = facts.public_path
        language = self._pages.language(facts)
        nav = fill(language, "console-nav", accounts=at(ADMIN_PAGE), dashboard=at(ADMIN_DASHBOARD_PAGE), audit=at(ADMIN_AUDIT_PAGE))
        content = Markup(nav + fill(language, template, **values))
        return self._pages.page(facts, language.gettext(title), content, account=admin.id, next_path=facts.target())

    # pages

    def accounts_page(self, request: EndpointRequest, admin: Account) -> Response:
        """Every account, searched by id and filtered by role, organisation, status and factors."""
        facts = request.facts
        query = facts.query()
        wanted = {name: query.get(name) or "" for name in ("q", "role", "organisation", "status", "factors")}
        rows = [self._row(account) for account in self._accounts.all()]
        shown = [row for row in rows if _matches(row, wanted)]
        roles = sorted({role for row in rows for role in row.account.roles})
        organisations = sorted({row.account.organisation for row in rows if row.account.organisation})
        at = facts.public_path
        language = self._pages.language(facts)
        _ = language.gettext
        lines = []
        for row in shown:
            a = row.account
            url = at(ADMIN_ACCOUNT_PAGE) + "?" + urlencode({"id": a.id})
            status = "suspended" if row.suspended else a.status
            factors = ", ".join(_(KIND_NAMES[k]) for k in row.factors) or _("none")
            shown_status = _(STATUS_NAMES.get(status, status))
            lines.append(
                f'<tr><th scope="row"><a href="{html.escape(url)}">{html.escape(a.id)}</a></th><td>{html.escape(a.kind)}</td>'
                f"<td>{html.escape(', '.join(a.roles))}</td><td>{html.escape(a.organisation)}</td>"
                f'<td class="status-{html.escape(status)}">{html.escape(shown_status)}</td><td>{html.escape(factors)}</td></tr>'
            )
        return self._show(
            facts,
            admin,
            N_("Administration"),
            "console-accounts",
            action=at(ADMIN_PAGE),
            q=wanted["q"],
            roles=_options(language, {r: r for r in roles}, wanted["role"]),
            organisations=_options(language, {o: o for o in organisations}, wanted["organisation"]),
            statuses=_options(language, STATUS_NAMES, wanted["status"]),
            factors=_options(language, FACTOR_FILTERS, wanted["factors"]),
            count=_("{shown} of {all} accounts").format(shown=len(shown), all=len(rows)),
            rows=Markup("".join(lines)),
            contain=at(ADMIN_CONTAIN_PATH),
            create=at(ADMIN_CREATE_PATH),
            import_post=at(ADMIN_IMPORT_PATH),
            kinds=Markup("".join(f'<option value="{k}">{k}</option>' for k in ACCOUNT_KINDS)),
        )

    def _row(self, account: Account) -> _Row:
        held = self._authenticators.of_account(account.id, states=("active",))
        return _Row(account, is_suspended(account, self._store), tuple(k for k in KINDS if any(a.kind == k for a in held)))

    def account_page(self, request: EndpointRequest, admin: Account) -> Response:
        facts = request.facts
        account = self._account(facts.query().get("id") or "")
        at = facts.public_path
        held = [a for a in self._authenticators.of_account(account.id) if a.state != "pending"]
        suspended = is_suspended(account, self._store)
        language = self._pages.language(facts)
        _ = language.gettext
        state = fill(
            language,
            "console-resume" if suspended else "console-suspend",
            account=account.id,
            post=at(ADMIN_RESUME_PATH if suspended else ADMIN_SUSPEND_PATH),
        )
        kinds = Markup("".join(f'<option value="{k}">{html.escape(_(KIND_NAMES[k]))}</option>' for k in KINDS))
        return self._show(
            facts,
            admin,
            _("Account {account}").format(account=account.id),
            "console-account",
            account=account.id,
            kind=account.kind,
            roles=", ".join(account.roles) or _("none"),
            organisation=account.organisation or _("none"),
            status=_("suspended") if suspended else _(STATUS_NAMES.get(account.status, account.status)),
            password=_("taken away: waiting for a new one") if account.password_reset else _("set"),
            authenticators=Markup(self._pages.authenticator_table(language, held, at(ADMIN_REVOKE_PATH))),
            revoke=at(ADMIN_REVOKE_PATH),
            all_disabled=Markup("" if any(a.state != "revoked" for a in held) else "disabled"),
            state=Markup(state),
            password_post=at(ADMIN_PASSWORD_PATH),
            link_post=at(ADMIN_LINK_PATH),
            kinds=kinds,
            ttl=DEFAULT_LINK_TTL_S // 60,
            scope=at(ADMIN_SCOPE_PAGE),
        )

    def scope_page(self, request: EndpointRequest, admin: Account) -> Response:
        """The breach scope of an account over a period: the figures of ``accessguard audit scope``, as a table, CSV or JSON."""
        facts = request.facts
        query = facts.query()
        subject = self._account(query.get("subject") or "").id
        now = self._clock()
        since = _time(query.get("since") or "", "since", now)
        until = _time(query["until"], "until", now) if query.get("until") else now
        if until <= since:
            raise BadRequest("'until' must be after 'since'")
        form = query.get("format") or "table"
        if form not in ("table", "csv", "json"):
            raise BadRequest("'format' must be table, csv or json")
        exposures = breach_scope(self._access_log.log_location, PatientIdSealer(self._settings.pseudonym_key), subject, since, until)
        records = scope_records(exposures)
        self._access_log.event(
            admin.id,
            {"event": "breach_scope_read", "account": subject, "since": since, "until": until, "format": form, "patients": len(records)},
        )
        name = f"breach-scope-{subject}"
        if form == "csv":
            return Response(200, scope_csv(records).encode(), _download("text/csv; charset=utf-8", f"{name}.csv"))
        if form == "json":
            return Response(200, json.dumps(records, indent=2).encode(), _download("application/json", f"{name}.json"))
        base = {"subject": subject, "since": query.get("since") or "", "until": query.get("until") or ""}
        at = facts.public_path
        language = self._pages.language(facts)
        _, when = language.gettext, language.when
        cells = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(r[f] if r[f] is not None else '?'))}</td>" for f in SCOPE_FIELDS) + "</tr>"
            for r in records
        )
        unresolved = sum(r["patient"] is None for r in records)
        return self._show(
            facts,
            admin,
            _("Breach scope of {subject}").format(subject=subject),
            "console-scope",
            summary=_("{patients} patients, {records} identity records served to {subject} from {since} to {until}.").format(
                patients=len(records), records=sum(e.count for e in exposures), subject=subject, since=when(since), until=when(until)
            ),
            warning=_("{count} pseudonyms could not be resolved (wrong pseudonym key or damaged log).").format(count=unresolved)
            if unresolved
            else "",
            headings=Markup("".join(f'<th scope="col">{f}</th>' for f in SCOPE_FIELDS)),
            rows=Markup(cells),
            csv=at(ADMIN_SCOPE_PAGE) + "?" + urlencode({**base, "format": "csv"}),
            json=at(ADMIN_SCOPE_PAGE) + "?" + urlencode({**base, "format": "json"}),
            subject=subject,
        )

    def dashboard_page(self, request: EndpointRequest, admin: Account) -> Response:
        language = self._pages.language(request.facts)
        sections = {k: Markup(v) for k, v in dashboard(self._access_log.log_location, self._clock(), language).items()}
        return self._show(request.facts, admin, N_("Dashboard"), "console-dashboard", zone=language.zone.key, **sections)

    def audit_page(self, request: EndpointRequest, admin: Account) -> Response:
        """The access log's verification, the emergency review queue and the alerts with their delivery state."""
        facts = request.facts
        location = self._access_log.log_location
        checked = self._verification()
        with reading(location) as db:
            head = read_head(db)
            checkpoints = db.execute("SELECT seq, time FROM checkpoints ORDER BY seq DESC LIMIT 1")
        last = checkpoints[0] if checkpoints else None
        language = self._pages.language(facts)
        _, when = language.gettext, language.when
        reviews = list_reviews(location, PatientIdSealer(self._settings.pseudonym_key), include_closed=True)
        review_rows = "".join(
            fill(
                language,
                "console-review",
                id=r.id,
                subject=r.subject,
                patient=r.patient or "?",
                reason=r.reason,
                declared=when(r.declared_at),
                accesses=r.accesses,
                status=_("open")
                if r.closed_at is None
                else _("closed by {who} {time}: {note}").format(who=r.closed_by, time=when(r.closed_at), note=r.note),
                close=Markup(
                    fill(language, "console-review-close", id=r.id, subject=r.subject, post=facts.public_path(ADMIN_REVIEW_CLOSE_PATH))
                    if r.closed_at is None
                    else ""
                ),
            )
            for r in reviews
        )
        alert_rows = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(c))}</td>"
                for c in (
                    when(a.created),
                    a.subject or "-",
                    ", ".join(a.reasons),
                    _("every sink (not yet copied)") if a.sink == "*" else a.sink,
                    _("delivered {time}").format(time=when(a.delivered))
                    if a.delivered
                    else _("pending, {attempts} attempts").format(attempts=a.attempts),
                    a.last_error or "",
                )
            )
            + "</tr>"
            for a in recent_alerts(location)
        )
        return self._show(
            facts,
            admin,
            N_("Access log, reviews and alerts"),
            "console-audit",
            verdict=_("verified") if checked.ok else (_("unproven") if checked.unproven else _("TAMPERED")),
            state="ok" if checked.ok else "bad",
            described=checked.describe(),
            head=_("#{seq} signed {time}").format(seq=head.seq, time=when(head.time)) if head else _("none (empty log)"),
            checkpoint=_("#{seq} at {time}").format(seq=last[0], time=when(float(str(last[1])))) if last else _("none yet"),
            witness=str(self._settings.audit.witness) if self._settings.audit.witness else _("none configured: freshness is unproven"),
            reviews=Markup(review_rows),
            open_reviews=sum(r.closed_at is None for r in reviews),
            alerts=Markup(alert_rows),
        )

    def _verification(self) -> Verification:
        """``accessguard audit verify`` with the service's own keys, retention and witness."""
        audit = self._settings.audit
        signer = CheckpointSigner(audit.key, self._settings.pseudonym_key)
        try:
            witnessed = read_witness_file(audit.witness) if audit.witness else None
        except WitnessError as exc:
            return Verification(False, 0, None, None, 0, str(exc))
        return verify(
            self._access_log.log_location, signer, now=self._clock(), retention_s=audit.retention_days * 86400.0, witnessed=witnessed
        )

    # actions

    def revoke(self, request: EndpointRequest) -> Response:
        admin = self.administrator(request.session)
        body = request.json()
        account_id = self._account(string_field(body, "account")).id
        authenticator_id = body.get("authenticator")
        if authenticator_id is not None and not isinstance(authenticator_id, str):
            raise BadRequest("field 'authenticator' must be an authenticator id, or null for all")
        revoked, sessions = actions.revoke_ending_sessions(self._authenticators, self._store, account_id, authenticator_id, by=admin.id)
        if authenticator_id is not None and not revoked:
            raise Refused(
                "unknown_authenticator",
                "{account} has no live authenticator {authenticator!r}",
                404,
                account=account_id,
                authenticator=authenticator_id,
            )
        document = {"revoked": [a.id for a in revoked], "sessions_ended": sessions, "obligations": {"alert": ["authenticator_revoked"]}}
        return json_response(200, document)

    def suspend(self, request: EndpointRequest) -> Response:
        admin = self.administrator(request.session)
        body = request.json()
        account_id = self._account(string_field(body, "account")).id
        if account_id == admin.id:
            raise Refused("own_account", "an administrator cannot suspend their own account here; ask another administrator", 409)
        reason = string_field(body, "reason", 500)
        done = suspend(
            self._accounts,
            self._authenticators,
            self._store,
            self._access_log,
            account_id,
            reason,
            operator=admin.id,
            revoke_authenticators=_bool_field(body, "revoke_authenticators"),
        )
        _ = self._pages.language(request.facts).gettext
        message = _("Suspended {account}: sessions ended: {sessions}.").format(account=account_id, sessions=done.sessions_revoked)
        if done.authenticators_revoked or done.recovery_codes_revoked:
            message += " " + _("Authenticators revoked: {authenticators}; recovery codes revoked: {codes}.").format(
                authenticators=done.authenticators_revoked, codes=done.recovery_codes_revoked
            )
        if done.password_reset:
            message += " " + _("The password is taken away: send a password link before resuming.")
        return json_response(200, {"suspended": account_id, "message": message}, [NO_STORE])

    def resume(self, request: EndpointRequest) -> Response:
        admin = self.administrator(request.session)
        body = request.json()
        account_id = self._account(string_field(body, "account")).id
        try:
            sessions = resume(
                self._accounts,
                self._store,
                self._access_log,
                account_id,
                operator=admin.id,
                keep_password=_bool_field(body, "keep_password"),
            )
        except UnknownAccount as exc:
            raise Refused("unknown_account", str(exc), 404) from None
        except PasswordNotReset:
            detail = (
                f"{account_id}'s password was taken away and no new one is set yet: reset the password to hand over a link,"
                " and resume once it is used, or give back the old password (it may have been phished)"
            )
            raise Refused("password_not_reset", detail, 409) from None
        message = (
            self._pages.language(request.facts)
            .gettext("Resumed {account}; sessions ended on the way: {sessions}. The professional logs in again.")
            .format(account=account_id, sessions=sessions)
        )
        return json_response(200, {"resumed": account_id, "message": message}, [NO_STORE])

    def reset_password(self, request: EndpointRequest) -> Response:
        admin = self.administrator(request.session)
        account_id = self._account(string_field(request.json(), "account")).id
        base = self._public_url()
        if not actions.take_password(self._accounts, self._store, account_id, by=admin.id):
            raise Refused(
                "no_local_password", "{account} has no password here (its logins come from an OpenID provider)", 409, account=account_id
            )
        link = actions.password_link(self._ceremonies.links, account_id, DEFAULT_LINK_TTL_S, base, self._clock(), by=admin.id)
        message = (
            self._pages.language(request.facts)
            .gettext("The password of {account} no longer works and every session of the account has ended. Hand over this link.")
            .format(account=account_id)
        )
        return json_response(200, {"link": link, "qr_svg": totp.qr_svg(link), "message": message}, [NO_STORE])

    def enrolment_link(self, request: EndpointRequest) -> Response:
        admin = self.administrator(request.session)
        body = request.json()
        account = self._account(string_field(body, "account"))
        kind = body.get("kind")
        if kind not in KINDS:
            raise BadRequest("field 'kind' must be one of {kinds}", kinds=", ".join(KINDS))
        ttl = body.get("ttl_minutes", DEFAULT_LINK_TTL_S // 60)
        if isinstance(ttl, str) and ttl.isdigit():
            ttl = int(ttl)
        if not isinstance(ttl, int) or isinstance(ttl, bool) or not 1 <= ttl <= 7 * 24 * 60:
            raise BadRequest("field 'ttl_minutes' must be a whole number of minutes from 1 to 10080 (a week)")
        if is_suspended(account, self._store):
            raise Refused("account_suspended", "{account} is suspended; resume the account first", 409, account=account.id)
        base = self._public_url()
        link = actions.enrolment_link(self._ceremonies.links, account.id, kind, ttl * 60, base, self._clock(), by=admin.id)
        _ = self._pages.language(request.facts).gettext
        message = _("One-time link for {account} to add: {kind}, valid {minutes} minutes. Hand it over in person or by phone.").format(
            account=account.id, kind=_(KIND_NAMES[kind]), minutes=ttl
        )
        return json_response(200, {"link": link, "qr_svg": totp.qr_svg(link), "message": message}, [NO_STORE])

    def _public_url(self) -> str:
        if not self._settings.public_url:
            raise Refused("public_url_not_configured", "set the guard's public_url (where professionals open the service) first", 409)
        return self._settings.public_url

    def contain(self, request: EndpointRequest) -> Response:
        """Preview a containment (``confirm`` false), or run it when the accounts it touches are those previewed (``expect``)."""
        admin = self.administrator(request.session)
        body = request.json()
        after = _time(string_field(body, "enrolled_after", 64), "enrolled_after", self._clock())
        preview = actions.contain_preview(self._accounts, self._authenticators, after)
        if not _bool_field(body, "confirm"):
            return json_response(
                200,
                {
                    "enrolled_after": after,
                    "accounts": preview.accounts,
                    "authenticators": len(preview.authenticators),
                    "recovery_codes": sum(preview.recovery_codes.values()),
                    "own_account": admin.id in preview.accounts,
                },
                [NO_STORE],
            )
        expected = body.get("expect")
        if not isinstance(expected, list) or sorted(map(str, expected)) != preview.accounts:
            raise Refused("containment_changed", "the accounts this would touch changed since the preview; preview again", 409)
        done = actions.contain(self._accounts, self._authenticators, self._store, after, by=admin.id)
        _ = self._pages.language(request.facts).gettext
        message = _("Contained {authenticators} authenticators of {count} accounts ({accounts}); their sessions are ended.").format(
            authenticators=len(done.authenticators), count=len(done.accounts), accounts=", ".join(done.accounts) or "-"
        )
        if done.passwords_reset:
            message += " " + _("Their passwords are taken away: send each a password link ({accounts}).").format(
                accounts=", ".join(done.passwords_reset)
            )
        return json_response(200, {"contained": done.accounts, "message": message}, [NO_STORE])

    def create_account(self, request: EndpointRequest) -> Response:
        """One new account, without a password: a one-time password link to hand over."""
        admin = self.administrator(request.session)
        body = request.json()
        fields = [body.get(name, "") for name in ("account", "kind", "roles", "organisation")]
        if not all(isinstance(f, str) for f in fields):
            raise BadRequest("fields 'account', 'kind', 'roles' and 'organisation' must be text")
        wanted, problem = new_account(0, *fields)
        if wanted is None:
            raise BadRequest(problem or Phrase("unreadable account"))
        base = self._public_url()
        link = self._create(admin, wanted, base, via="form")
        if link is None:
            raise Refused("account_exists", "an account {account} exists already", 409, account=wanted.username)
        message = (
            self._pages.language(request.facts)
            .gettext("Created {account}, with no password yet: hand over this one-time link to set one.")
            .format(account=wanted.username)
        )
        return json_response(200, {"created": wanted.username, "link": link, "qr_svg": totp.qr_svg(link), "message": message}, [NO_STORE])

    def import_accounts(self, request: EndpointRequest) -> Response:
        """Preview a CSV import (``confirm`` false): its accounts and each wrong line; or create exactly the accounts previewed."""
        admin = self.administrator(request.session)
        body = request.json()
        reading = read_import(string_field(body, "csv", 16 * 1024, multiline=True), self._accounts)
        names = [a.username for a in reading.accounts]
        if not _bool_field(body, "confirm"):
            gettext = self._pages.language(request.facts).gettext
            return json_response(
                200,
                {
                    "accounts": [
                        {"line": a.line, "account": a.username, "kind": a.kind, "roles": list(a.roles), "organisation": a.organisation}
                        for a in reading.accounts
                    ],
                    "errors": [{"line": line, "error": error.explained(gettext)} for line, error in reading.errors],
                },
                [NO_STORE],
            )
        if reading.errors:
            raise Refused("import_has_errors", "lines wrong: {count}; correct them and preview again", 409, count=len(reading.errors))
        expected = body.get("expect")
        if not isinstance(expected, list) or sorted(map(str, expected)) != sorted(names):
            raise Refused("import_changed", "the accounts this would create changed since the preview; preview again", 409)
        base = self._public_url()
        created = []
        for wanted in reading.accounts:
            link = self._create(admin, wanted, base, via="import")
            if link is not None:
                created.append({"account": wanted.username, "link": link, "qr_svg": totp.qr_svg(link)})
        skipped = len(reading.accounts) - len(created)
        _ = self._pages.language(request.facts).gettext
        message = _("Accounts created: {count}. Hand each its one-time password link.").format(count=len(created))
        if skipped:
            message += " " + _("Created meanwhile by someone else, skipped: {skipped}.").format(skipped=skipped)
        return json_response(200, {"created": created, "message": message}, [NO_STORE])

    def _create(self, admin: Account, wanted: NewAccount, base: str, *, via: str) -> str | None:
        """Create one account, log it under the administrator, and issue its password link; None when the id is taken."""
        account = self._accounts.create(wanted.username, kind=wanted.kind, roles=wanted.roles, organisation=wanted.organisation)
        if account is None:
            return None
        detail = {
            "event": "account_created",
            "account": account.id,
            "kind": account.kind,
            "roles": list(account.roles),
            "organisation": account.organisation,
            "via": via,
        }
        self._access_log.event(admin.id, detail, alert=("account_created",))
        return actions.password_link(self._ceremonies.links, account.id, DEFAULT_LINK_TTL_S, base, self._clock(), by=admin.id)

    def close_review(self, request: EndpointRequest) -> Response:
        admin = self.administrator(request.session)
        body = request.json()
        review = string_field(body, "review", 64)
        note = string_field(body, "note", 2000, multiline=True)
        try:
            close_review(self._access_log, review, admin.id, note)
        except ReviewNotFound as exc:
            raise Refused("unknown_review", str(exc), 404) from None
        _ = self._pages.language(request.facts).gettext
        message = _("Review {review} closed by {account}.").format(review=review, account=admin.id)
        return json_response(200, {"closed": review, "message": message}, [NO_STORE])


def _matches(row: _Row, wanted: dict[str, str]) -> bool:
    a = row.account
    status = "suspended" if row.suspended else a.status
    factors = wanted["factors"]
    return (
        wanted["q"].casefold() in a.id.casefold()
        and (not wanted["role"] or wanted["role"] in a.roles)
        and (not wanted["organisation"] or wanted["organisation"] == a.organisation)
        and (not wanted["status"] or wanted["status"] == status)
        and (not factors or (factors == "none" and not row.factors) or factors in row.factors)
    )


def _time(value: str, name: str, now: float) -> float:
    """A time as the command line takes it (ISO 8601, Unix seconds, ``72h`` ago); BadRequest naming the field otherwise."""
    try:
        return parse_time(value, name, now)
    except NotATime as exc:
        raise BadRequest(str(exc)) from None


def _download(content_type: str, filename: str) -> list[tuple[str, str]]:
    """Headers of a download; the file name keeps to ASCII letters, digits and ``._@-``: an account id may be a
    provider's subject (``josé``, a quote), which a header cannot carry as it is."""
    plain = re.sub(r"[^A-Za-z0-9._@-]", "_", filename)
    return [("content-type", content_type), ("content-disposition", f'attachment; filename="{plain}"'), NO_STORE]
