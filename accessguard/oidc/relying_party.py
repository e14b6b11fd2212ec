"""accessguard's side of OpenID Connect: a provider's token in, subject and authentication state out.

A provider's subject is the account provisioned for it under the provider's
issuer, for bearer tokens and browser logins alike (``account_of``): a ``sub``
equal to a local account's id is refused, never served as that account.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accessguard.authn.accounts import Account, Accounts
from accessguard.authn.state import AuthnState, Subject
from accessguard.errors import Refused
from accessguard.oidc.jwt_bearer import JWTValidator
from accessguard.oidc.provider import OpenIDProvider
from accessguard.oidc.settings import OIDCSettings


class RelyingParty:
    def __init__(self, settings: OIDCSettings, accounts: Accounts, clock: Callable[[], float]) -> None:
        self.settings = settings
        self._accounts = accounts
        self._clock = clock
        self.provider = OpenIDProvider(settings.issuer, settings.discovery_url, clock, settings.timeout_s)
        self.validator = JWTValidator(settings.issuer, settings.algorithms, settings.leeway_s, self.provider.signing_key, clock)

    def authenticate(self, token: str) -> tuple[Subject, AuthnState]:
        """The account a bearer token names and how they authenticated; InvalidToken when it is refused."""
        subject, authn = self.identify(self.validator.claims(token, self.settings.audience))
        return self.account_of(subject).subject, authn

    def account_of(self, subject: Subject) -> Account:
        """The provider subject's own account (provisioned, profile refreshed); refused when a local account holds its id."""
        account = self._accounts.provision(
            subject.id, issuer=self.settings.issuer, kind=subject.kind, roles=subject.roles, organisation=subject.organisation
        )
        if account is None:
            raise Refused(
                "account_conflict",
                "{account!r} is an account of this service, not the provider's; log in with its password",
                account=subject.id,
            )
        return account

    def identify(self, claims: dict[str, Any]) -> tuple[Subject, AuthnState]:
        """Subject and authentication state from validated claims."""
        mapping = self.settings.claims
        latest = int(self._clock()) + self.settings.leeway_s
        return mapping.subject_of(claims), mapping.authn_of(claims, latest)
