"""OIDCSettings: which provider accessguard trusts and how it reads its tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from accessguard.errors import ConfigurationError
from accessguard.oidc.discovery import is_secure_url
from accessguard.oidc.jwt_bearer import ASYMMETRIC_ALGORITHMS, DEFAULT_ALGORITHMS, MAX_LEEWAY_S
from accessguard.oidc.mapping import ClaimMapping


@dataclass(frozen=True)
class OIDCSettings:
    """An OpenID provider whose tokens decide the subject.

    ``audience`` is the ``aud`` a bearer token must carry to be accepted here.
    ``discovery_url`` defaults to ``<issuer>/.well-known/openid-configuration``.
    Browser login (authorization code + PKCE) is on when ``client_id`` and
    ``redirect_uri`` (accessguard's callback, as registered at the provider) are set.
    """

    issuer: str
    audience: str
    discovery_url: str | None = None
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    leeway_s: int = 30
    claims: ClaimMapping = field(default_factory=ClaimMapping)
    client_id: str | None = None
    client_secret: str | None = None
    redirect_uri: str | None = None
    scopes: tuple[str, ...] = ("openid",)
    timeout_s: float = 5.0

    @property
    def login_enabled(self) -> bool:
        return bool(self.client_id and self.redirect_uri)

    def validate(self) -> None:
        """Raise ConfigurationError naming the first bad setting."""
        for name in ("issuer", "discovery_url", "redirect_uri"):
            url = getattr(self, name)
            if url is not None and not is_secure_url(url):
                raise ConfigurationError(f"oidc.{name}: {url!r} must be an https URL (http only on loopback)")
        issuer = urlsplit(self.issuer)
        if issuer.query or issuer.fragment:
            raise ConfigurationError("oidc.issuer: must have no query or fragment")
        if not self.audience:
            raise ConfigurationError("oidc.audience: the aud value bearer tokens must carry is required")
        refused = [a for a in self.algorithms if a not in ASYMMETRIC_ALGORITHMS]
        if refused or not self.algorithms:
            raise ConfigurationError(
                f"oidc.algorithms: {refused or 'empty'} refused; allow only asymmetric algorithms: {sorted(ASYMMETRIC_ALGORITHMS)}"
            )
        if not 0 <= self.leeway_s <= MAX_LEEWAY_S:
            raise ConfigurationError(f"oidc.leeway_s: must be between 0 and {MAX_LEEWAY_S} seconds")
        if bool(self.client_id) != bool(self.redirect_uri):
            raise ConfigurationError("oidc.client_id and oidc.redirect_uri: browser login needs both")
        if self.login_enabled and "openid" not in self.scopes:
            raise ConfigurationError("oidc.scopes: must include 'openid'")
        if self.timeout_s <= 0:
            raise ConfigurationError("oidc.timeout_s: must be positive")
        self.claims.validate()
