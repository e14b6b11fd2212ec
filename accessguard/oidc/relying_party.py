"""accessguard's side of OpenID Connect: a provider's token in, subject and authentication state out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accessguard.authn.state import AuthnState, Subject
from accessguard.oidc.jwt_bearer import JWTValidator
from accessguard.oidc.provider import OpenIDProvider
from accessguard.oidc.settings import OIDCSettings


class RelyingParty:
    def __init__(self, settings: OIDCSettings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self._clock = clock
        self.provider = OpenIDProvider(settings.issuer, settings.discovery_url, clock, settings.timeout_s)
        self.validator = JWTValidator(settings.issuer, settings.algorithms, settings.leeway_s, self.provider.signing_key, clock)

    def authenticate(self, token: str) -> tuple[Subject, AuthnState]:
        """Who a bearer token names and how they authenticated; InvalidToken when it is refused."""
        return self.identify(self.validator.claims(token, self.settings.audience))

    def identify(self, claims: dict[str, Any]) -> tuple[Subject, AuthnState]:
        """Subject and authentication state from validated claims."""
        mapping = self.settings.claims
        latest = int(self._clock()) + self.settings.leeway_s
        return mapping.subject_of(claims), mapping.authn_of(claims, latest)
