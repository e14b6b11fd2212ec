"""The guard's JSON routes for authenticators: step-up (TOTP, security key, recovery code),
enrolment (TOTP app, security key), recovery-code regeneration and enrolment links.

Every refusal is a ``Refused`` with a stable reason code. One-time codes are
throttled in the shared store (``throttle.py``), per account, or per device for a
browser holding a device cookie of the account (``devices.py``); who may enrol is decided in
``enrolment.py``; WebAuthn ceremonies run in ``webauthn.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from accessguard.authn import totp
from accessguard.authn.accounts import Account, Accounts, is_suspended
from accessguard.authn.alerts import alert
from accessguard.authn.authenticators import TOTP, WEBAUTHN, Authenticator, Authenticators
from accessguard.authn.devices import DeviceCookies
from accessguard.authn.enrolment import (
    KIND_NAMES,
    LINK_FACTOR_PREFIX,
    LINK_SESSION_TTL_S,
    RECOVERY_CODES_REQUIREMENT,
    REQUIREMENTS,
    EnrolmentLinks,
    enrolment_grant,
    is_enrolment_only,
    recovery_codes_grant,
)
from accessguard.authn.recovery import RecoveryCodes
from accessguard.authn.sessions import Sessions
from accessguard.authn.throttle import Bucket, Throttle, code_buckets
from accessguard.authn.webauthn import WebAuthn
from accessguard.endpoints import ClearCookie, EndpointRequest, Handler, SessionCookie, string_field
from accessguard.errors import BadRequest, Refused
from accessguard.problem import Response, json_response
from accessguard.settings import Settings
from accessguard.store.base import Session, Store

log = logging.getLogger("accessguard.authn")

TOTP_STEP_UP_PATH = "/accessguard/step-up/totp"
WEBAUTHN_STEP_UP_PATH = "/accessguard/step-up/webauthn"
RECOVERY_STEP_UP_PATH = "/accessguard/step-up/recovery"
TOTP_ENROL_PATH = "/accessguard/enroll/totp"
WEBAUTHN_ENROL_PATH = "/accessguard/enroll/webauthn"
RECOVERY_CODES_PATH = "/accessguard/recovery-codes"
#: A professional with no authenticator a challenge accepts asks the administrators for an enrolment link here.
ENROL_REQUEST_PATH = "/accessguard/enroll/request"
NO_STORE = ("cache-control", "no-store")
#: The step-up routes that verify a second factor, with the session factor each records.
STEP_UP_FACTORS = {
    ("POST", TOTP_STEP_UP_PATH): "otp",
    ("POST", WEBAUTHN_STEP_UP_PATH + "/complete"): "webauthn",
    ("POST", RECOVERY_STEP_UP_PATH): "recovery",
}
#: After a password, a step-up is a full login (the guard then trusts the device).
FULL_LOGIN_ROUTES = tuple(STEP_UP_FACTORS)


def authenticator_document(authenticator: Authenticator) -> dict[str, Any]:
    """What a professional or an administrator may see of an authenticator (never its secret)."""
    return {
        "id": authenticator.id,
        "kind": authenticator.kind,
        "label": authenticator.label,
        "state": authenticator.state,
        "created": authenticator.created,
        "last_used": authenticator.last_used,
        "enrolled_via": authenticator.enrolled_via,
        "aaguid": authenticator.aaguid,
    }


class Ceremonies:
    def __init__(
        self,
        settings: Settings,
        accounts: Accounts,
        authenticators: Authenticators,
        sessions: Sessions,
        store: Store,
        *,
        cookie: SessionCookie,
        clear_cookie: ClearCookie,
        devices: DeviceCookies,
    ) -> None:
        self._settings = settings
        self._accounts = accounts
        self._authenticators = authenticators
        self._sessions = sessions
        self._store = store
        self._cookie = cookie
        self._clear_cookie = clear_cookie
        self._clock: Callable[[], float] = settings.clock
        self.recovery = RecoveryCodes(accounts.database)
        self.throttle = Throttle(store, "code")
        self._devices = devices
        self.links = EnrolmentLinks(accounts.database)
        self.webauthn = WebAuthn(
            authenticators,
            store,
            rp_id=settings.webauthn_rp_id,
            origins=settings.webauthn_origins,
            rp_name=settings.service_name,
            allowed_aaguids=settings.webauthn_allowed_aaguids,
            attestation_roots=settings.webauthn_attestation_roots,
        )
        self.routes: dict[tuple[str, str], Handler] = {
            ("POST", TOTP_STEP_UP_PATH): self.step_up_totp,
            ("POST", WEBAUTHN_STEP_UP_PATH + "/begin"): self.step_up_webauthn_begin,
            ("POST", WEBAUTHN_STEP_UP_PATH + "/complete"): self.step_up_webauthn_complete,
            ("POST", RECOVERY_STEP_UP_PATH): self.step_up_recovery,
            ("POST", TOTP_ENROL_PATH + "/begin"): self.enrol_totp_begin,
            ("POST", TOTP_ENROL_PATH + "/confirm"): self.enrol_totp_confirm,
            ("POST", WEBAUTHN_ENROL_PATH + "/begin"): self.enrol_webauthn_begin,
            ("POST", WEBAUTHN_ENROL_PATH + "/complete"): self.enrol_webauthn_complete,
            ("POST", RECOVERY_CODES_PATH): self.regenerate_recovery_codes,
            ("POST", ENROL_REQUEST_PATH): self.request_enrolment_link,
        }

    # who is asking

    def _active_account(self, session: Session | None) -> tuple[Session, Account]:
        if session is None:
            raise Refused("authentication_required", "log in with your password first", 401)
        account = self._accounts.get(session.professional_id)
        if account is None or is_suspended(account, self._store):
            raise Refused("account_suspended", "this account is suspended", 403)
        return session, account

    def _step_up_session(self, request: EndpointRequest) -> Session:
        session, _ = self._active_account(request.session)
        if is_enrolment_only(session):
            raise Refused("enrolment_only_session", "an enrolment link allows enrolment only; log in to step up", 403)
        return session

    def _enrolment_session(self, request: EndpointRequest, kind: str, now: float) -> tuple[Session, str]:
        session, _ = self._active_account(request.session)
        grant = enrolment_grant(session, kind, now)
        if grant is None:
            raise Refused("enrolment_not_allowed", REQUIREMENTS[kind], 403)
        return session, grant

    def _charge_code_attempt(self, request: EndpointRequest, account_id: str, now: float) -> list[Bucket]:
        """Charge a code attempt to the device holding a device cookie of the account, or to the account's untrusted clients."""
        buckets = code_buckets(account_id, self._devices.device(request.facts, account_id, now))
        (attempt,) = self.throttle.charge(buckets, now)
        if buckets[0].first_lock(attempt):
            trusted = {"trusted_device": True} if buckets[0].scope == "device" else {}
            alert("code_attempts_locked", account_id, attempts=attempt.attempts, **trusted)
        return buckets

    def _count_again(self, session: Session, authenticator: Authenticator, now: float) -> None:
        """A contained authenticator counts again only when this session may enrol one of its kind (an older key verified)."""
        if authenticator.state != "contained":
            return
        grant = enrolment_grant(session, authenticator.kind, now)
        if grant is None:
            detail = "this authenticator was enrolled after a compromise and must be re-verified; " + REQUIREMENTS[authenticator.kind]
            raise Refused("authenticator_contained", detail, 403)  # composed, so not in the catalogue: stays English
        if self._authenticators.move(authenticator.id, "contained", "active"):
            alert("authenticator_reverified", session.professional_id, authenticator=authenticator.id, via=grant)

    def _stepped_up(self, request: EndpointRequest, session: Session, factor: str, now: float) -> Response:
        """Every step-up ends here: the factor is recorded under a new session id (``Sessions.step_up``).

        No re-check is needed against a containment racing the code check: the move
        succeeds only for a live session, and a containment revokes every session of
        the account (the moved one too) after it changed the account.
        """
        _, cookie = self._sessions.step_up(session, factor, int(now))
        return json_response(
            200,
            {"subject": session.professional_id, "aal": 2, "factor": factor, "phishing_resistant": factor == "webauthn"},
            [("set-cookie", self._cookie(request.facts, cookie))],
        )

    # step-up

    def step_up_totp(self, request: EndpointRequest) -> Response:
        session = self._step_up_session(request)
        code = string_field(request.json(), "code", 16)
        now = self._clock()
        account_id = session.professional_id
        buckets = self._charge_code_attempt(request, account_id, now)
        seeds = self._authenticators.totp_seeds(account_id)
        matched = next(((a, step) for a, secret in seeds if (step := totp.matching_step(secret, code, now)) is not None), None)
        if matched is None or not self._store.claim_totp_step(account_id, matched[1]):
            log.info("TOTP step-up refused for %r", account_id)
            raise Refused("invalid_code", "the code is wrong, expired or was already used", 401)
        authenticator = matched[0]
        self._count_again(session, authenticator, now)
        self.throttle.succeeded(buckets)
        self._authenticators.touch(authenticator.id, now)
        return self._stepped_up(request, session, "otp", now)

    def step_up_recovery(self, request: EndpointRequest) -> Response:
        session = self._step_up_session(request)
        code = string_field(request.json(), "code", 64)
        now = self._clock()
        account_id = session.professional_id
        buckets = self._charge_code_attempt(request, account_id, now)
        if not self.recovery.use(account_id, code, now):
            log.info("recovery-code step-up refused for %r", account_id)
            raise Refused("invalid_code", "the recovery code is wrong or was already used", 401)
        self.throttle.succeeded(buckets)
        alert("recovery_code_used", account_id, remaining=self.recovery.remaining(account_id))
        return self._stepped_up(request, session, "recovery", now)

    def step_up_webauthn_begin(self, request: EndpointRequest) -> Response:
        session = self._step_up_session(request)
        options = self.webauthn.begin_assertion(account_id=session.professional_id, ceremony=session.id, now=self._clock())
        return json_response(200, {"publicKey": options}, [NO_STORE])

    def step_up_webauthn_complete(self, request: EndpointRequest) -> Response:
        session = self._step_up_session(request)
        now = self._clock()
        assertion = self.webauthn.complete_assertion(
            account_id=session.professional_id, ceremony=session.id, response=request.json(), now=now
        )
        self._count_again(session, assertion.authenticator, now)
        return self._stepped_up(request, session, assertion.factor, now)

    # enrolment

    def enrol_totp_begin(self, request: EndpointRequest) -> Response:
        now = self._clock()
        session, grant = self._enrolment_session(request, TOTP, now)
        label = _label(request.json(), "authenticator app")
        secret = totp.generate_secret()
        pending = self._authenticators.add_totp(session.professional_id, secret, label=label, enrolled_via=grant, now=now, pending=True)
        uri = totp.provisioning_uri(secret, session.professional_id, self._settings.service_name)
        return json_response(
            200, {"authenticator": pending.id, "otpauth_uri": uri, "secret": secret, "qr_svg": totp.qr_svg(uri)}, [NO_STORE]
        )

    def enrol_totp_confirm(self, request: EndpointRequest) -> Response:
        now = self._clock()
        session, grant = self._enrolment_session(request, TOTP, now)
        code = string_field(request.json(), "code", 16)
        account_id = session.professional_id
        buckets = self._charge_code_attempt(request, account_id, now)
        pending = self._authenticators.pending_totp(account_id, now)
        if pending is None:
            raise Refused("no_pending_enrolment", "no authenticator app is waiting for confirmation; start again", 409)
        authenticator, secret = pending
        step = totp.matching_step(secret, code, now)
        if step is None or not self._store.claim_totp_step(account_id, step):
            raise Refused("invalid_code", "the code is wrong, expired or was already used", 401)
        if not self._authenticators.move(authenticator.id, "pending", "active"):
            raise Refused("no_pending_enrolment", "this authenticator app was confirmed or replaced meanwhile", 409)
        self.throttle.succeeded(buckets)
        confirmed = self._authenticators.get(authenticator.id)
        assert confirmed is not None
        return self._enrolled(request, session, confirmed, grant, now)

    def enrol_webauthn_begin(self, request: EndpointRequest) -> Response:
        now = self._clock()
        session, _ = self._enrolment_session(request, WEBAUTHN, now)
        label = _label(request.json(), "security key")
        options = self.webauthn.begin_registration(account_id=session.professional_id, ceremony=session.id, label=label, now=now)
        return json_response(200, {"publicKey": options}, [NO_STORE])

    def enrol_webauthn_complete(self, request: EndpointRequest) -> Response:
        now = self._clock()
        session, grant = self._enrolment_session(request, WEBAUTHN, now)
        authenticator = self.webauthn.complete_registration(
            account_id=session.professional_id,
            ceremony=session.id,
            response=request.json(),
            enrolled_via=grant,
            now=now,
        )
        return self._enrolled(request, session, authenticator, grant, now)

    def _enrolled(self, request: EndpointRequest, session: Session, authenticator: Authenticator, grant: str, now: float) -> Response:
        """Raise the alert, hand out recovery codes with the account's first enrolment, end a link session."""
        account_id = session.professional_id
        alert("authenticator_enrolled", account_id, authenticator=authenticator.id, authenticator_kind=authenticator.kind, via=grant)
        document: dict[str, Any] = {
            "authenticator": authenticator_document(authenticator),
            "obligations": {"alert": ["authenticator_enrolled"]},
        }
        headers = [NO_STORE]
        if not self.recovery.ever_issued(account_id):
            document["recovery_codes"] = self.recovery.issue(account_id, now)
            alert("recovery_codes_issued", account_id, count=len(document["recovery_codes"]))
        if grant == "link":
            self._sessions.end(session)
            document["session_ended"] = True
            headers.append(("set-cookie", self._clear_cookie(request.facts)))
        return json_response(200, document, headers)

    def regenerate_recovery_codes(self, request: EndpointRequest) -> Response:
        now = self._clock()
        session = self._step_up_session(request)
        if recovery_codes_grant(session, now) is None:
            raise Refused("enrolment_not_allowed", RECOVERY_CODES_REQUIREMENT, 403)
        request.json()  # the body must still be JSON: a form post from another site never gets here
        codes = self.recovery.issue(session.professional_id, now)
        alert("recovery_codes_issued", session.professional_id, count=len(codes), regenerated=True)
        return json_response(200, {"recovery_codes": codes}, [NO_STORE])

    # enrolment links

    def request_enrolment_link(self, request: EndpointRequest) -> Response:
        """Ask the administrators for an enrolment link: an alert they see in the console (one per account and alert window)."""
        session = self._step_up_session(request)
        kind = request.json().get("kind")
        if not isinstance(kind, str) or kind not in KIND_NAMES:  # a list or an object cannot be looked up
            raise BadRequest("field 'kind' must be one of {kinds}", kinds=", ".join(sorted(KIND_NAMES)))
        alert("enrolment_link_requested", session.professional_id, authenticator_kind=kind)
        return json_response(200, {"requested": kind, "obligations": {"alert": ["enrolment_link_requested"]}}, [NO_STORE])

    def link_holder(self, token: str) -> tuple[str, str] | None:
        """The (account id, kind) a valid enrolment link would open, without spending it; None otherwise."""
        return self._usable(self.links.peek(token, self._clock()))

    def open_link(self, token: str) -> str | None:
        """Spend an enrolment link: the cookie value of a new enrolment-only session, or None."""
        if self.link_holder(token) is None:  # a suspended account's link is refused, not spent
            return None
        now = self._clock()
        redeemed = self._usable(self.links.redeem(token, now))
        if redeemed is None:
            return None
        account_id, kind = redeemed
        started = self._sessions.start_unless_contained(
            account_id, LINK_FACTOR_PREFIX + kind, int(now), lambda: self._usable(redeemed) is not None, LINK_SESSION_TTL_S
        )
        if started is None:  # suspended while the link was being spent
            return None
        _, cookie = started
        alert("enrolment_link_redeemed", account_id, authenticator_kind=kind)
        return cookie

    def _usable(self, link: tuple[str, str] | None) -> tuple[str, str] | None:
        """A link's (account id, kind) if its account is active: a suspended account's link opens nothing."""
        if link is None:
            return None
        account = self._accounts.get(link[0])
        return link if account is not None and not is_suspended(account, self._store) else None


def _label(body: dict[str, Any], default: str) -> str:
    label = body.get("label")
    if label is None:
        return default
    if not isinstance(label, str) or not label.strip() or len(label) > 64 or not label.isprintable():
        raise BadRequest("field 'label' must be a printable string of at most 64 characters")
    return label.strip()
