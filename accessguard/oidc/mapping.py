"""Claims of a validated token → accessguard's Subject and AuthnState.

A provider says *how* the professional authenticated with ``amr`` (RFC 8176
method names) and ``acr`` (a level, e.g. eIDAS ``eidas1``), and *when* with
``auth_time``. accessguard's policies speak in factors ("pwd", "otp",
"webauthn", ...) with the time each was verified, so each mapped factor is
stamped with ``auth_time``. A token without ``auth_time`` maps to factors of
time 0: never fresh, so the policy asks for a new login with ``max_age``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from accessguard.authn.state import SECOND_FACTORS, AuthnState, Subject
from accessguard.errors import BadRequest, ConfigurationError
from accessguard.oidc.jwt_bearer import InvalidToken
from accessguard.untrusted import text

FACTORS = SECOND_FACTORS | {"pwd"}

#: RFC 8176 methods → accessguard factors. ``mfa`` says a second factor was
#: used but not which, so it counts as a one-time code (aal2, not phishing-resistant);
#: hardware-bound keys and smart cards (CPS card) count as phishing-resistant.
DEFAULT_AMR_FACTORS: Mapping[str, str] = {"pwd": "pwd", "otp": "otp", "mfa": "otp", "hwk": "webauthn", "sc": "webauthn"}
#: The acr to ask the provider for, per step-up method (Pro Santé Connect knows only ``eidas1``).
DEFAULT_ACR_VALUES: Mapping[str, str] = {"otp": "eidas1", "webauthn": "eidas1"}
MAX_CLAIM_LENGTH = 256


@dataclass(frozen=True)
class ClaimMapping:
    """Which claims name the subject and its authentication, and what they mean.

    ``amr_factors`` maps ``amr`` entries to factors; ``acr_factors`` maps an
    ``acr`` value to the factors that level alone vouches for (for providers
    that send no ``amr``). ``acr_values`` is what RFC 9470 challenges and
    step-up logins ask the provider for, per step-up method.
    """

    subject: str = "sub"
    roles: str = "roles"
    organisation: str = "organisation"
    acr: str = "acr"
    amr: str = "amr"
    auth_time: str = "auth_time"
    kind: str = "professional"
    amr_factors: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_AMR_FACTORS))
    acr_factors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    acr_values: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ACR_VALUES))

    def validate(self) -> None:
        for amr, factor in self.amr_factors.items():
            if factor not in FACTORS:
                raise ConfigurationError(f"oidc.claims.amr_factors[{amr!r}]: {factor!r} is not one of {sorted(FACTORS)}")
        for acr, factors in self.acr_factors.items():
            for factor in factors:
                if factor not in FACTORS:
                    raise ConfigurationError(f"oidc.claims.acr_factors[{acr!r}]: {factor!r} is not one of {sorted(FACTORS)}")
        for method, acr in self.acr_values.items():
            if not acr or " " in acr:
                raise ConfigurationError(f"oidc.claims.acr_values[{method!r}]: {acr!r} must be one acr value without spaces")

    def subject_of(self, claims: Mapping[str, Any]) -> Subject:
        """The subject a token names; its status is "active" until the account directory says otherwise."""
        subject_id = _string(claims, self.subject, required=True)
        roles = claims.get(self.roles, [])
        if isinstance(roles, str):
            roles = [roles]
        if not isinstance(roles, list):
            raise InvalidToken(f"claim {self.roles!r} must be a string or a list of strings")
        roles = [_text(self.roles, role) for role in roles]
        return Subject(subject_id, self.kind, tuple(roles), _string(claims, self.organisation, required=False))

    def authn_of(self, claims: Mapping[str, Any], latest: int) -> AuthnState:
        """The factors the token's ``amr`` and ``acr`` vouch for, each at ``auth_time`` (at most ``latest``)."""
        auth_time = claims.get(self.auth_time, 0)
        if isinstance(auth_time, bool) or not isinstance(auth_time, int) or not 0 <= auth_time <= latest:
            raise InvalidToken(f"claim {self.auth_time!r} must be a time (seconds since the epoch) not in the future")
        methods = claims.get(self.amr, [])
        if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
            raise InvalidToken(f"claim {self.amr!r} must be a list of strings")
        acr = _string(claims, self.acr, required=False)
        factors = {self.amr_factors[m] for m in methods if m in self.amr_factors}
        factors.update(self.acr_factors.get(acr, ()))
        return AuthnState(dict.fromkeys(sorted(factors), auth_time))


def _string(claims: Mapping[str, Any], name: str, *, required: bool) -> str:
    value = claims.get(name)
    if value is None and not required:
        return ""
    return _text(name, value)


def _text(name: str, value: object) -> str:
    """A claim that becomes an account id, a role or an organisation: one line of storable text (no NUL, line break, surrogate)."""
    try:
        return text(name, value, MAX_CLAIM_LENGTH, what="claim")
    except BadRequest as exc:
        raise InvalidToken(exc.detail) from None
