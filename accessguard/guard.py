"""The Guard: one object, built once from Settings, that decides and enforces.

Data flows one way: facts → subject and signals → input → engine → decision
→ response, then the access log; after an allowed response, ``settle``
records what was actually served.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any

from accessguard import tracing
from accessguard.admin.console import Console
from accessguard.admin.own_account import OwnAccount
from accessguard.admin.pages import Pages, redirect, wants_page, with_next
from accessguard.audit.access_log import AccessLog, AuditUnavailable, DecisionRecord, Declaration
from accessguard.audit.alerts import AlertBridge, AlertDispatcher, alert_log
from accessguard.audit.log_store import log_location
from accessguard.audit.pseudonym import Pseudonymiser
from accessguard.audit.sign_ins import record_sign_in
from accessguard.authn.accounts import Account, is_suspended, open_accounts
from accessguard.authn.authenticators import Authenticators
from accessguard.authn.ceremonies import FULL_LOGIN_ROUTES, STEP_UP_FACTORS, Ceremonies
from accessguard.authn.devices import DeviceCookies
from accessguard.authn.enrolment import is_enrolment_only, recent_additions
from accessguard.authn.password_change import PasswordChange
from accessguard.authn.sealing import Sealer
from accessguard.authn.sessions import SessionRevoked, Sessions
from accessguard.authn.state import ANONYMOUS, AuthnState, Subject
from accessguard.database.changes import RecordCache
from accessguard.database.fingerprints import agree_on_keys
from accessguard.decision import Decision, Outcome
from accessguard.emergency import EMERGENCY_PATH, BreakTheGlass
from accessguard.endpoints import EndpointRequest, Endpoints, Handler
from accessguard.errors import AccessGuardError, BadRequest, ConfigurationError, InvalidSession, Refused, StoreError
from accessguard.facts import IPAddress, RequestFacts, cross_site, forwarded_client
from accessguard.health import Health
from accessguard.i18n import Language, Languages
from accessguard.metrics import Metrics, authentication_routes
from accessguard.mounting import loose_readings
from accessguard.oidc.jwt_bearer import InvalidToken, bearer_credentials
from accessguard.oidc.login import OIDCLogin
from accessguard.oidc.relying_party import RelyingParty
from accessguard.policy.engine import PolicyEngine, embedded_engine
from accessguard.policy.input import RequestContext, build_input
from accessguard.policy.opa import OpaEngine
from accessguard.policy.policyset import PolicySet, load_policy_set
from accessguard.policy.reload import PolicyReloader
from accessguard.problem import Response, insufficient_user_authentication, invalid_token, problem
from accessguard.routes import REPORTED_BY_APP, ProtectedRoute, served_ids
from accessguard.settings import Settings
from accessguard.signals.baseline import peer_group
from accessguard.signals.care import care_relationship
from accessguard.signals.geo import GeoLocator, Location
from accessguard.signals.sources import place_of, places_of, sources_of
from accessguard.signals.usage import ServedRecords, no_usage
from accessguard.signals.velocity import live_sessions, movement
from accessguard.store import open_store
from accessguard.store.base import WINDOWS, ReadRequest, Reservation, Session
from accessguard.untrusted import for_log, text

log = logging.getLogger("accessguard")
decision_log = logging.getLogger("accessguard.decisions")

#: Characters of one path parameter (a patient id) at most.
MAX_PATH_PARAMETER = 512


@dataclass(frozen=True)
class Verdict:
    """The guard's answer to one protected request.

    ``response`` is what to send instead of calling the app; None means the
    app may serve the request, after which the adapter calls ``Guard.settle``.
    ``served`` goes into the request's scope or environ (``SERVED_KEY``) for
    handlers that report the ids they served.
    """

    response: Response | None
    route: ProtectedRoute | None = None
    reservation: Reservation | None = None
    location: Location | None = None
    served: ServedRecords | None = None
    decision_id: str | None = None


PASS_THROUGH = Verdict(None)


class Guard:
    def __init__(self, settings: Settings, engine: PolicyEngine | None = None) -> None:
        settings.validate()
        if engine is not None and settings.watch_policies:
            raise ConfigurationError("watch_policies: only the engine the Guard builds from policy_dir can be reloaded; pass no engine")
        self.settings = settings
        self.languages = Languages(settings.default_locale, settings.time_zone)
        self._clock = settings.clock
        self._trusted = settings.trusted_networks()
        self.metrics = Metrics()
        with ExitStack() as opened:  # a start-up error closes what was already opened
            self.engine = engine or self._engine_for(load_policy_set(settings.policy_dir))
            opened.callback(self.engine.close)
            self.store = open_store(settings.store_location)
            opened.callback(self.store.close)
            self.accounts = open_accounts(settings.database_location)
            opened.callback(self.accounts.close)
            self.records: RecordCache | None = None  # the records a protected request reads, cached (a fleet's PostgreSQL)
            if self.accounts.database.dialect == "postgresql":  # hosts sharing records must share keys
                agree_on_keys(self.accounts.database, settings.shared_keys())
                self.records = RecordCache(settings.database_location)
                opened.callback(self.records.close)
            self.authenticators = Authenticators(self.accounts.database, Sealer(settings.encryption_key))
            self.sessions = Sessions(self.store, settings.session_key, settings.session_ttl_s)
            self.geo = GeoLocator(settings.geoip_database)
            self.asn = GeoLocator(settings.asn_database, setting="asn_database") if settings.asn_database else None
            self.pseudonymise = Pseudonymiser(settings.pseudonym_key)
            audit_log = log_location(settings.data_dir, self.accounts.database)  # one chain for the fleet on PostgreSQL
            self.alerts = AlertDispatcher(audit_log, settings.audit, audit_clock=self._clock, on_backlog=self._outbox_backlog)
            opened.callback(self.alerts.close)
            self.access_log = AccessLog(
                audit_log,
                settings.audit,
                settings.pseudonym_key,
                self._clock,
                on_alert=self.alerts.wake,
                on_backlog=self.metrics.access_log_backlog.set,
            )
            opened.callback(self.access_log.close)
            self.alerts.start()
            self._alert_bridge = AlertBridge(self.access_log)
            alert_log.addFilter(self._alert_bridge)
            opened.callback(alert_log.removeFilter, self._alert_bridge)
            devices = DeviceCookies(settings.session_key, login_path=settings.login_path, secure=settings.cookie_secure)
            self.endpoints = Endpoints(
                self.accounts,
                self.sessions,
                self.store,
                login_path=settings.login_path,
                cookie=self._cookie,
                clear_cookie=self._clear_cookie,
                clock=self._clock,
                devices=devices,
                trusted_proxies=self._trusted,
                languages=self.languages,
                notices=lambda account_id, now, language: recent_additions(
                    self.authenticators, self.ceremonies.recovery, account_id, now, language
                ),
            )
            self.oidc = RelyingParty(settings.oidc, self.accounts, self._clock) if settings.oidc else None
            self.oidc_login = None
            if self.oidc is not None and self.oidc.settings.login_enabled:
                self.oidc_login = OIDCLogin(
                    self.oidc,
                    self.accounts,
                    self.sessions,
                    self.store,
                    encryption_key=settings.encryption_key,
                    session_cookie=self._cookie,
                    secure=settings.cookie_secure,
                    clock=self._clock,
                )
                self.endpoints.routes.update(self.oidc_login.routes)
            self._acr_values = settings.oidc.claims.acr_values if settings.oidc else settings.acr_values
            self.ceremonies = Ceremonies(
                settings,
                self.accounts,
                self.authenticators,
                self.sessions,
                self.store,
                cookie=self._cookie,
                clear_cookie=self._clear_cookie,
                devices=devices,
            )
            self.endpoints.routes.update(self.ceremonies.routes)
            for full_login in FULL_LOGIN_ROUTES:  # a second factor after the password: the browser becomes a trusted device
                self.endpoints.routes[full_login] = self.endpoints.trusting_the_device(self.ceremonies.routes[full_login])
            for route, factor in {("POST", settings.login_path): "pwd", **STEP_UP_FACTORS}.items():
                self.endpoints.routes[route] = self._recording_sign_in(self.endpoints.routes[route], factor)
            password_change = PasswordChange(
                self.accounts, self.ceremonies.links, self.store, clear_cookie=self._clear_cookie, clock=self._clock
            )
            self.endpoints.routes.update(password_change.routes)
            pages = Pages(settings, self.authenticators, self.ceremonies, password_change, cookie=self._cookie, languages=self.languages)
            self.endpoints.routes.update(pages.routes)
            console = Console(settings, pages, self.accounts, self.authenticators, self.ceremonies, self.store, self.access_log)
            self.endpoints.routes.update(console.routes)
            own = OwnAccount(
                settings,
                pages,
                self.accounts,
                self.authenticators,
                self.ceremonies,
                self.store,
                self.access_log,
                clear_cookie=self._clear_cookie,
            )
            self.endpoints.routes.update(own.routes)
            self.endpoints.routes.update(Health(lambda: self.engine, self.store, self.access_log, settings.health_max_outbox).routes)
            self.endpoints.routes.update(self.metrics.route(settings))
            self._authentication_routes = authentication_routes(
                settings.login_path, self.oidc_login.callback_path if self.oidc_login else None
            )
            self.endpoints.routes[("POST", EMERGENCY_PATH)] = BreakTheGlass(self.decide, self.settle, self.access_log).declare
            self._reloader = None
            if settings.watch_policies:
                self._reloader = PolicyReloader(self, settings.policy_dir, self._engine_for, prove_engine=settings.policy_engine).start()
            self._stop_metrics_port = None
            if settings.metrics_port is not None:
                self._stop_metrics_port = self.metrics.serve_port(settings.metrics_host, settings.metrics_port)
            self._endpoint_paths = frozenset(path for _, path in self.endpoints.routes)
            opened.pop_all()  # started: close() releases them

    def _engine_for(self, policy_set: PolicySet) -> PolicyEngine:
        if self.settings.opa_url:
            return OpaEngine(self.settings.opa_url, policy_set)
        return embedded_engine(self.settings.policy_engine, policy_set)

    # cookies

    def _cookie(self, facts: RequestFacts, value: str, max_age: int | None = None) -> str:
        """The session cookie, sent only below the mount the guard answers under (never to other apps of the site)."""
        path = facts.public_path("") or "/"
        attributes = [f"{self.settings.cookie_name}={value}", f"Path={path}", "HttpOnly", "SameSite=Lax"]
        attributes.append(f"Max-Age={self.settings.session_ttl_s if max_age is None else max_age}")
        if self.settings.cookie_secure:
            attributes.append("Secure")
        return "; ".join(attributes)

    def _clear_cookie(self, facts: RequestFacts) -> str:
        return self._cookie(facts, "", max_age=0)

    def _recording_sign_in(self, handler: Handler, factor: str) -> Handler:
        """A login or step-up route that records each success in the access log, with the client's place (``audit/sign_ins.py``)."""

        def handle(request: EndpointRequest) -> Response:
            response = handler(request)
            if response.status == 200:
                address = forwarded_client(request.facts, self._trusted)
                subject = str(json.loads(response.body)["subject"])  # the guard's own login and step-up answers name it
                record_sign_in(self.access_log, subject, factor, address, self.geo.locate(address))
            return response

        return handle

    def _session(self, facts: RequestFacts) -> Session | None:
        cookie = facts.cookie(self.settings.cookie_name)
        return self.sessions.resume(cookie, self._clock()) if cookie else None

    # the guard's own routes

    def is_endpoint(self, facts: RequestFacts) -> bool:
        return facts.path in self._endpoint_paths

    def serve(self, facts: RequestFacts, body: bytes) -> Response:
        """Answer one of the guard's own routes (login, step-up, ...)."""
        response = self._answer(facts, body)
        authentication = self._authentication_routes.get((facts.method, facts.path))
        if authentication is not None:
            self.metrics.authenticated(*authentication, response.status)
        return response

    def _answer(self, facts: RequestFacts, body: bytes) -> Response:
        handler = self.endpoints.routes.get((facts.method, facts.path))
        if handler is None:
            allowed = ", ".join(sorted(m for m, path in self.endpoints.routes if path == facts.path))
            return problem(405, "method-not-allowed", "Method not allowed", f"{facts.path} accepts {allowed}", [("allow", allowed)])
        if facts.method not in ("GET", "HEAD") and cross_site(facts):
            log.warning("%s refused: cross-site request (origin %s)", _request(facts), for_log(facts.headers.get("origin")))
            return problem(
                403,
                "cross-site-request",
                "Cross-site request refused",
                "this request comes from another site",
                reasons=["cross_site_request"],
            )
        try:
            try:
                session = self._session(facts)
            except InvalidSession:
                session = None  # a stale, forged or revoked cookie must not block logging in again, nor step up
            return handler(EndpointRequest(facts, body, session))
        except Refused as exc:
            return _refused(exc, self.languages.of_request(facts))
        except BadRequest as exc:
            return problem(exc.status, "bad-request", "Bad request", exc.explained(self.languages.of_request(facts).gettext))
        except AccessGuardError as exc:
            log.error("%s failed closed: %s", _request(facts), for_log(exc, 500))
            self._fault(_component(exc))
            return _unavailable_for(exc)
        except Exception:
            log.exception("%s failed closed on an unexpected error", _request(facts))
            self._fault("unexpected")
            return _unavailable()

    # protected routes

    def check(self, facts: RequestFacts) -> Verdict:
        """Decide on a request; pass through paths that are not protected.

        A protected path asked with a method no route declares is refused
        (405): nothing decided it, so it must not reach the app. An unexpected
        exception (a bug, not a known fault) still fails closed: a 503 and a
        logged traceback, never the app and never a 500.
        """
        declared: set[str] = set()
        for route in self.settings.routes:
            params = route.match(facts.path)
            if params is None:
                continue
            if facts.method not in route.allowed_methods:
                declared.update(route.allowed_methods)
                continue
            try:
                return self.decide(facts, route, params)
            except Exception:
                log.exception("%s failed closed on an unexpected error", _request(facts))
                self._fault("unexpected")
                return Verdict(_unavailable())
        if declared:
            allowed = ", ".join(sorted(declared))
            log.info("%s refused: the protected path declares %s only", _request(facts), allowed)
            return Verdict(
                problem(405, "method-not-allowed", "Method not allowed", f"this protected path accepts {allowed}", [("allow", allowed)])
            )
        if self._reads_as_protected(facts):
            log.warning("%s %s refused: a router could read this path as a protected route", facts.method[:16], ascii(facts.path[:200]))
            return Verdict(
                problem(
                    400,
                    "ambiguous-path",
                    "Ambiguous path",
                    "this path is not in canonical form (a double, dot or encoded slash, a trailing slash, another case)"
                    " and could be routed to a protected route; ask for the canonical path",
                )
            )
        return PASS_THROUGH

    def protects(self, facts: RequestFacts) -> bool:
        """True when the request's path is a protected route's, or could be read as one."""
        return any(route.match(facts.path) is not None for route in self.settings.routes) or self._reads_as_protected(facts)

    def _reads_as_protected(self, facts: RequestFacts) -> bool:
        """A lenient router (merged slashes, dot segments, decoded twice, any case) could route this request to a protected route."""
        readings = loose_readings(facts.path, facts.other_paths)
        return any(route.matches_loosely(reading) for reading in readings for route in self.settings.routes)

    def decide(self, facts: RequestFacts, route: ProtectedRoute, params: dict[str, str]) -> Verdict:
        """Decide on a request to ``route``, log the decision, and enforce it (in a trace span when OpenTelemetry is there)."""
        with tracing.decision_span(facts.headers, route.name):
            return self._decide(facts, route, params)

    def _decide(self, facts: RequestFacts, route: ProtectedRoute, params: dict[str, str]) -> Verdict:
        started = time.perf_counter()
        reservation = None
        emergency = None
        try:
            for name, value in params.items():  # they reach pseudonyms, the store and the log
                text(f"{{{name}}} of the path", value, MAX_PATH_PARAMETER)
            requested = route.count_requested(facts.query_values())
            subject, authn, session_id = self._subject(facts)
            address = forwarded_client(facts, self._trusted)
            location = self.geo.locate(address)
            now = self._clock()
            care = "unknown"
            if subject.kind != "anonymous":
                reserving = time.perf_counter()
                with tracing.span("accessguard.store"):
                    care, reservation = self._reserve(route, params, requested, subject, session_id, address, location, now)
                self.metrics.store_seconds.observe(time.perf_counter() - reserving)
                if reservation.suspended:  # by a host sharing the store, whatever this host's account directory says
                    subject = replace(subject, status="suspended")
                if "id" in params:
                    emergency = self._emergency(subject.id, params["id"])
            policy_input = build_input(
                now=now,
                request=RequestContext(
                    facts.method, route.name, route.action, route.resource, requested, str(address) if address else None
                ),
                subject=subject,
                authn=authn,
                location=location,
                place=place_of(address, location, reservation),
                movement=movement(reservation.previous if reservation else None, location, now),
                live_sessions=live_sessions(reservation.live_sessions, location, now) if reservation else [],
                usage=reservation.usage if reservation else no_usage(WINDOWS),
                care_relationship=care,
                emergency_declared_at=emergency.declared_at if emergency else None,
            )
            evaluating = time.perf_counter()
            with tracing.span("accessguard.engine"):
                decision = self.engine.evaluate(policy_input)
            self.metrics.engine_seconds.observe(time.perf_counter() - evaluating)
            decision_id = uuid.uuid4().hex
            self.access_log.write(
                DecisionRecord(
                    decision_id,
                    now,
                    subject.id,
                    route.name,
                    str(address) if address else None,
                    tuple(self.pseudonymise(v) for k, v in params.items() if k == "id"),
                    decision,
                    int((time.perf_counter() - started) * 1e6),
                    emergency.id if emergency else None,
                )
            )
        except InvalidToken as exc:
            log.info("%s: bearer token refused: %s", _request(facts), for_log(exc.detail, 500))
            return Verdict(invalid_token(exc.detail))
        except InvalidSession as exc:
            return Verdict(self._invalid_session(exc.detail, facts))
        except Refused as exc:
            self._release(reservation)
            log.info("%s %s refused: %s", facts.method, facts.path, exc.reason)
            return Verdict(_refused(exc, self.languages.of_request(facts)))
        except BadRequest as exc:
            self._release(reservation)
            return Verdict(problem(exc.status, "bad-request", "Bad request", exc.explained(self.languages.of_request(facts).gettext)))
        except AccessGuardError as exc:
            self._release(reservation)
            log.error("%s failed closed: %s", _request(facts), for_log(exc, 500))
            self._fault(_component(exc))
            return Verdict(_unavailable_for(exc))
        self.metrics.decided(decision)
        tracing.decided(decision, decision_id)
        if "policy_error" in decision.reasons:
            self._fault("engine")
        elapsed = time.perf_counter() - started
        self.metrics.total_seconds.observe(elapsed)
        _log_decision(decision, decision_id, route, elapsed)
        if decision.allowed:
            return Verdict(None, route, reservation, location, ServedRecords(), decision_id)
        self._release(reservation)
        return Verdict(self._enforce(decision, decision_id, facts))

    def _subject(self, facts: RequestFacts) -> tuple[Subject, AuthnState, str | None]:
        """From a bearer token when OIDC is configured and one is sent, else from the session cookie; and the session id."""
        token = self._bearer(facts)
        if self.oidc is not None and token is not None:
            subject, authn = self.oidc.authenticate(token)  # the provider subject's own account, so suspending it works
            return subject, authn, None
        try:
            session = self._session(facts)
        except SessionRevoked as revoked:
            return self._revoked_subject(revoked)
        if session is None or is_enrolment_only(session):
            return ANONYMOUS, AuthnState(), None  # an enrolment link grants no patient access
        account = self._account(session.professional_id)
        if account is None:
            raise InvalidSession("the session's account no longer exists; log in again")
        return account.subject, AuthnState(session.factors), session.id

    def _account(self, account_id: str) -> Account | None:
        """The session's account: from this process's cache on a fleet's PostgreSQL (database/changes.py)."""
        if self.records is None:
            return self.accounts.get(account_id)
        return self.records.get("accounts", account_id, lambda: self.accounts.get(account_id))

    def _emergency(self, subject_id: str, patient: str) -> Declaration | None:
        """The open declaration the policy weighs: on a fleet's PostgreSQL, from the subject's cached declarations."""
        if self.records is None:
            return self.access_log.emergency(subject_id, patient)
        declarations = self.records.get("emergencies", subject_id, lambda: self.access_log.open_emergencies(subject_id))
        return declarations.get(self.access_log.pseudonymise(patient))

    def _bearer(self, facts: RequestFacts) -> str | None:
        """The bearer token that decides the subject: sent, and OIDC configured."""
        return bearer_credentials(facts.headers.get("authorization")) if self.oidc else None

    def _revoked_subject(self, revoked: SessionRevoked) -> tuple[Subject, AuthnState, None]:
        """A revoked session of a suspended account goes to the policy as that account with no factors.

        So a suspended account's live sessions are denied ``account_suspended``
        (and logged) on their next request, on every host sharing the store;
        once the account is active again, its revoked sessions stay refused.
        """
        session = revoked.session
        account = self._account(session.professional_id)
        if account is None or not is_suspended(account, self.store):
            log.info("revoked session of %s refused (revoked: %s)", for_log(session.professional_id), for_log(session.revoked))
            raise revoked
        return replace(account.subject, status="suspended"), AuthnState(), None

    def _reserve(
        self,
        route: ProtectedRoute,
        params: dict[str, str],
        requested: int,
        subject: Subject,
        session_id: str | None,
        address: IPAddress | None,
        location: Location,
        now: float,
    ) -> tuple[str, Reservation]:
        """The care relationship, then every stored signal with the records asked for held (one store round trip).

        Only identity reads are counted per source and looked up in (then added to) the professional's places.
        """
        if route.resource != "patient_identity":
            return "unknown", self.store.reserve_reads(ReadRequest(subject.id, subject.organisation, session_id, 0, location=location), now)
        care = care_relationship(self.settings.care_relationship, subject, tuple(v for k, v in params.items() if k == "id"))
        request = ReadRequest(
            subject.id,
            subject.organisation,
            session_id,
            requested,
            care == "none",
            location,
            peer_group=peer_group(subject),
            sources=sources_of(address, self.asn),
            places=places_of(address, location),
        )
        return care, self.store.reserve_reads(request, now)

    def _release(self, reservation: Reservation | None) -> None:
        if reservation is None:
            return
        try:
            self.store.release_reads(reservation)
        except StoreError as exc:
            log.error("could not release a read hold (it expires by itself): %s", exc)

    def _invalid_session(self, detail: str, facts: RequestFacts) -> Response:
        """The 401 for a cookie that opens no live session; ``detail`` never says more than the holder may know.

        A browser navigation goes to the login page instead, like any unauthenticated one.
        """
        if wants_page(facts):
            return redirect(with_next(facts.public_path(self.settings.login_path), facts.target()))
        challenge = [("www-authenticate", 'Bearer realm="accessguard"')]
        return problem(401, "invalid-session", "Invalid session", detail, challenge, login=facts.public_path(self.settings.login_path))

    def _enforce(self, decision: Decision, decision_id: str, facts: RequestFacts) -> Response:
        reasons = list(decision.reasons)
        common: dict[str, Any] = {"reasons": reasons, "decision_id": decision_id, "policy_revision": decision.policy_revision}
        if "policy_error" in reasons:
            return _unavailable(**common)
        here = facts.target()  # app-relative: the page it leads back to puts it below the mount
        if decision.outcome is Outcome.STEP_UP:
            step_up = decision.step_up
            acr_values = list(dict.fromkeys(self._acr_values.get(m, m) for m in step_up.methods))
            description = "step up with " + " or ".join(step_up.methods) + " (" + ", ".join(reasons) + ")"
            challenge = insufficient_user_authentication(description, acr_values, step_up.max_age)
            details: dict[str, Any] = {"methods": list(step_up.methods), "acr_values": acr_values, "max_age": step_up.max_age}
            if self._bearer(facts) is None:  # a token's level rises only with a new token from the provider: no page for it
                url = self.oidc_login.step_up_url(acr_values, step_up.max_age) if self.oidc_login else self.settings.step_up_page
                url = facts.public_path(url)
                if wants_page(facts):  # a browser navigation goes to the step-up page and comes back
                    return redirect(with_next(url, here, methods=" ".join(step_up.methods)))
                details["url"] = url
            return problem(
                401,
                "step-up-required",
                "Step-up authentication required",
                description,
                [("www-authenticate", challenge)],
                step_up=details,
                **common,
            )
        if "authentication_required" in reasons:
            login = facts.public_path(self.settings.login_path)
            if wants_page(facts):
                return redirect(with_next(login, here))
            return problem(
                401,
                "authentication-required",
                "Authentication required",
                f"log in at {login}",
                [("www-authenticate", 'Bearer realm="accessguard"')],
                login=login,
                **common,
            )
        return problem(403, "access-denied", "Access denied", "access denied: " + ", ".join(reasons), **common)

    def settle(self, verdict: Verdict, status: int, body: bytes | None) -> None:
        """After the app answered: log and count the patient identity records actually served."""
        if verdict.reservation is None or verdict.route is None:
            return
        patients: list[str] = []
        if verdict.route.served_ids == REPORTED_BY_APP and 200 <= status < 300:
            if verdict.served is None or verdict.served.ids is None:
                log.error("route %s: the handler reported no served ids; keeping the read hold", verdict.route.name)
                return
            patients = verdict.served.ids
        elif 200 <= status < 300 and verdict.route.served_ids and body:
            try:
                patients = served_ids(json.loads(body), verdict.route.served_ids)
            except (UnicodeDecodeError, json.JSONDecodeError):
                log.error("route %s: response is not JSON; served ids unknown, keeping the read hold", verdict.route.name)
                return
        now = self._clock()
        try:
            self.access_log.served(verdict.decision_id, verdict.reservation.request.professional_id, verdict.route.name, patients, now)
            self.store.settle_reads(verdict.reservation, [self.pseudonymise(p) for p in patients], verdict.location, now)
        except StoreError as exc:
            log.error("could not record %d served reads (the hold stays until it expires): %s", len(patients), exc)

    def _fault(self, component: str) -> None:
        """A request failed closed because of ``component``: counted, and marked on the decision's span."""
        self.metrics.faults.labels(component).inc()
        tracing.failed(component)

    def _outbox_backlog(self, alerts: int, log_sink: int) -> None:
        self.metrics.alert_outbox_backlog.set(alerts)
        self.metrics.log_sink_backlog.set(log_sink)

    def close(self) -> None:
        if self._stop_metrics_port is not None:
            self._stop_metrics_port()
        if self._reloader:
            self._reloader.stop()
        self.engine.close()
        self.store.close()
        alert_log.removeFilter(self._alert_bridge)
        self.access_log.close()  # flushes, on a fleet's PostgreSQL through the accounts' pool: closed after it
        self.alerts.close()
        if self.records is not None:
            self.records.close()
        self.accounts.close()


def _request(facts: RequestFacts) -> str:
    """The method and path of a request for a log line, escaped."""
    return f"{for_log(facts.method, 16)} {for_log(facts.path)}"


def _log_decision(decision: Decision, decision_id: str, route: ProtectedRoute, elapsed_s: float) -> None:
    """One line per decision (info), its fields in ``record.decision`` for the JSON format.

    No account and no patient: the access log holds them, under the decision id.
    """
    if not decision_log.isEnabledFor(logging.INFO):
        return
    document = {
        "decision_id": decision_id,
        "outcome": decision.outcome.value,
        "reasons": list(decision.reasons),
        "route": route.name,
        "policy_revision": decision.policy_revision,
        "duration_us": int(elapsed_s * 1e6),
    }
    reasons = ",".join(decision.reasons) or "-"
    decision_log.info("decision %s %s on %s (%s)", decision_id, document["outcome"], route.name, reasons, extra={"decision": document})


def _component(error: AccessGuardError) -> str:
    """The component a known fault comes from, for the faults metric."""
    if isinstance(error, AuditUnavailable):
        return "access_log"
    return "store" if isinstance(error, StoreError) else "guard"


def _unavailable_for(error: AccessGuardError) -> Response:
    """The 503 for a known fault; the access log's own says so, since nothing is served until it writes again."""
    if isinstance(error, AuditUnavailable):
        detail = "accesses cannot be logged right now, so none are served; try again shortly"
        return problem(503, "access-log-unavailable", "Access log unavailable", detail)
    return _unavailable()


def _refused(exc: Refused, language: Language) -> Response:
    """The problem document of a refusal: its reason code as is, its explanation in the request's language."""
    detail = exc.explained(language.gettext)
    return problem(exc.status, exc.reason.replace("_", "-"), "Refused", detail, exc.headers, reasons=[exc.reason])


def _unavailable(**extra: Any) -> Response:
    return problem(503, "unavailable", "Access check unavailable", "access could not be checked; try again shortly", **extra)
