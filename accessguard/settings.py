"""Settings: everything the Guard needs, validated when the Guard is built."""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import secrets
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from accessguard.audit.settings import AuditSettings
from accessguard.authn.webauthn import relying_party
from accessguard.database import default_database_url
from accessguard.errors import ConfigurationError
from accessguard.facts import IPNetwork
from accessguard.logs import LOG_FORMATS
from accessguard.oidc.settings import OIDCSettings
from accessguard.policy.engine import EMBEDDED_ENGINES
from accessguard.policy.policyset import DEFAULT_POLICY_DIR
from accessguard.routes import ProtectedRoute
from accessguard.signals.care import CareRelationship

#: acr values named in RFC 9470 challenges, per step-up method.
DEFAULT_ACR_VALUES: Mapping[str, str] = {
    "otp": "urn:accessguard:acr:mfa",
    "webauthn": "urn:accessguard:acr:phishing-resistant",
}
MIN_KEY_LENGTH = 32


def default_store_url(data_dir: Path | str) -> str:
    """The store when none is configured: the SQLite file in the data directory."""
    return f"sqlite:///{Path(data_dir) / 'accessguard.db'}"


@dataclass(frozen=True)
class Settings:
    """Configuration of one Guard.

    ``session_key`` signs cookies, ``pseudonym_key`` keys patient pseudonyms,
    ``encryption_key`` (a Fernet key) seals TOTP seeds. ``store_url``
    defaults to ``sqlite:///<data_dir>/accessguard.db``; ``redis://HOST:PORT/DB``
    shares state between hosts. ``database`` holds the durable records
    (accounts, authenticators, recovery codes, links): by default
    ``sqlite:///<data_dir>/accounts.db``; ``postgresql://USER@HOST:PORT/DB``
    shares them between hosts (docs/deployment.md). ``oidc`` names an
    OpenID provider whose tokens are accepted (docs/oidc.md); its claim
    mapping then supplies the acr values that challenges ask for.
    ``policy_engine``: the in-process engine, ``wasm`` (OPA-compiled
    WebAssembly, the default) or ``regopy`` (rego-cpp). ``opa_url`` set:
    decisions come from that OPA server, the policy set pushed to it at
    start. ``watch_policies``: changes to ``policy_dir`` go live once proven
    (policy/reload.py) on ``policy_engine``. ``care_relationship`` is the app's hook (see
    ``signals/care.py``). ``audit`` configures the access log
    (``<data_dir>/audit.db``) and alert sinks (audit/settings.py).

    ``webauthn_rp_id`` (the domain security keys are bound to) and
    ``webauthn_origins`` (the exact ``scheme://host[:port]`` origins of the
    guard's pages) are required: never taken from a request, whose Host header
    is the client's choice. ``webauthn_allowed_aaguids``, when set, admits only these
    authenticator models, proven by attestation chaining to one of the PEM
    certificates in ``webauthn_attestation_roots``.

    Operations (docs/operations.md): ``health_max_outbox`` is the alert
    outbox backlog at which ``/accessguard/health/ready`` fails. Metrics are
    off unless asked for: ``metrics_token`` (a bearer token of at least 32
    characters) or ``metrics_addresses`` (client addresses or networks, as the
    guard computes them behind ``trusted_proxies``) open
    ``/accessguard/metrics`` to whoever holds the token or comes from there;
    ``metrics_port`` serves them on a port of their own, on ``metrics_host``
    (loopback by default). ``log_format`` is ``plain`` or ``json`` (one JSON
    object per line, accessguard/logs.py) for the processes that let
    accessguard configure logging (``accessguard demo``).
    """

    data_dir: Path
    routes: Sequence[ProtectedRoute]
    session_key: str
    pseudonym_key: str
    encryption_key: str
    policy_dir: Path = DEFAULT_POLICY_DIR
    watch_policies: bool = False
    policy_engine: str = EMBEDDED_ENGINES[0]
    opa_url: str | None = None
    store_url: str | None = None
    database: str | None = None
    geoip_database: Path | None = None
    asn_database: Path | None = None
    trusted_proxies: Sequence[str] = ()
    login_path: str = "/accessguard/login"
    step_up_page: str = "/accessguard/step-up"
    cookie_name: str = "accessguard_session"
    cookie_secure: bool = True
    session_ttl_s: int = 12 * 3600
    acr_values: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ACR_VALUES))
    oidc: OIDCSettings | None = None
    service_name: str = "accessguard"
    default_locale: str = "en"
    time_zone: str = "UTC"
    webauthn_rp_id: str | None = None
    #: Where professionals open the service (with the guard's mount prefix, if any): the base of the links
    #: the admin console hands out. Configuration, never taken from a request.
    public_url: str | None = None
    webauthn_origins: Sequence[str] = ()
    webauthn_allowed_aaguids: Sequence[str] = ()
    webauthn_attestation_roots: Sequence[Path] = ()
    care_relationship: CareRelationship | None = None
    audit: AuditSettings = field(default_factory=AuditSettings)
    health_max_outbox: int = 10_000
    metrics_token: str | None = None
    metrics_addresses: Sequence[str] = ()
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    log_format: str = "plain"
    clock: Callable[[], float] = time.time

    def validate(self) -> None:
        """Raise ConfigurationError naming the first bad setting."""
        if not Path(self.data_dir).is_dir():
            raise ConfigurationError(f"data_dir: {str(self.data_dir)!r} is not a directory")
        if self.policy_engine not in EMBEDDED_ENGINES:
            raise ConfigurationError(f"policy_engine: {self.policy_engine!r} is not one of {', '.join(EMBEDDED_ENGINES)}")
        for name in ("session_key", "pseudonym_key"):
            if len(getattr(self, name) or "") < MIN_KEY_LENGTH:
                raise ConfigurationError(f"{name}: must be at least {MIN_KEY_LENGTH} characters of secret")
        if not self.encryption_key:
            raise ConfigurationError("encryption_key: missing; pass a Fernet key (Fernet.generate_key()) from your secret store")
        try:
            Fernet(self.encryption_key)
        except (ValueError, TypeError):
            raise ConfigurationError("encryption_key: must be a Fernet key (32 url-safe base64-encoded bytes)") from None
        for route in self.routes:
            if route.resource == "patient_identity" and not route.served_ids:
                raise ConfigurationError(f"routes: {route.name!r} serves patient identity records but declares no served_ids field")
        self.trusted_networks()
        if self.session_ttl_s <= 0:
            raise ConfigurationError("session_ttl_s: must be positive")
        if self.oidc is not None:
            self.oidc.validate()
        relying_party(self.webauthn_rp_id, self.webauthn_origins)
        if self.public_url is not None:
            url = urlsplit(self.public_url)
            if url.scheme not in ("http", "https") or not url.hostname or url.query or url.fragment:
                raise ConfigurationError(f"public_url: {self.public_url!r} is not an http(s) address without query or fragment")
        for aaguid in self.webauthn_allowed_aaguids:
            try:
                uuid.UUID(aaguid)
            except ValueError:
                raise ConfigurationError(f"webauthn_allowed_aaguids: {aaguid!r} is not an AAGUID (a UUID)") from None
        if self.webauthn_allowed_aaguids and not self.webauthn_attestation_roots:
            raise ConfigurationError("webauthn_attestation_roots: an AAGUID allow-list needs the attestation roots that prove it")
        self.audit.validate()
        self._validate_operations()
        if self.audit.witness is not None and Path(self.data_dir).resolve() in Path(self.audit.witness).resolve().parents:
            raise ConfigurationError(
                f"audit.witness: {str(self.audit.witness)!r} is inside data_dir: whoever can roll the log back could"
                " rewrite it too; keep it on another volume or host"
            )

    def _validate_operations(self) -> None:
        if self.health_max_outbox <= 0:
            raise ConfigurationError("health_max_outbox: must be positive")
        if self.metrics_token is not None and len(self.metrics_token) < MIN_KEY_LENGTH:
            raise ConfigurationError(f"metrics_token: must be at least {MIN_KEY_LENGTH} characters of secret")
        self.metrics_networks()
        if self.metrics_port is not None and not 0 < self.metrics_port < 65536:
            raise ConfigurationError(f"metrics_port: {self.metrics_port} is not a TCP port")
        if self.log_format not in LOG_FORMATS:
            raise ConfigurationError(f"log_format: {self.log_format!r} is not one of {', '.join(LOG_FORMATS)}")

    def metrics_networks(self) -> list[IPNetwork]:
        try:
            return [ipaddress.ip_network(n, strict=False) for n in self.metrics_addresses]
        except ValueError as exc:
            raise ConfigurationError(f"metrics_addresses: {exc}") from None

    @classmethod
    def from_file(cls, path: Path | str, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings of a TOML configuration file (docs/configuration.md), validated.

        Secrets come from ``environ`` (default: the process environment) or the
        files it names; ConfigFileError lists every problem by key and line.
        """
        from accessguard.config.loader import load  # the loader builds Settings: imported when used

        return load(path, environ).settings

    def trusted_networks(self) -> list[IPNetwork]:
        try:
            return [ipaddress.ip_network(n, strict=False) for n in self.trusted_proxies]
        except ValueError as exc:
            raise ConfigurationError(f"trusted_proxies: {exc}") from None

    @property
    def store_location(self) -> str:
        return self.store_url or default_store_url(self.data_dir)

    def shared_keys(self) -> dict[str, str]:
        """The keys every host sharing the database must hold alike (by setting name)."""
        keys = {"session_key": self.session_key, "pseudonym_key": self.pseudonym_key, "encryption_key": self.encryption_key}
        return keys | ({"audit.key": self.audit.key} if self.audit.key else {})

    @property
    def database_location(self) -> str:
        return self.database or default_database_url(self.data_dir)


def stored_keys(path: Path) -> dict[str, str]:
    """The keys in a ``keys.json`` (none if it does not exist)."""
    return _parsed_keys(path, lambda: path.read_text() if path.exists() else "")


def _parsed_keys(path: Path, read: Callable[[], str]) -> dict[str, str]:
    """A damaged file is an error, never replaced: new keys would orphan everything sealed or pseudonymised under the old ones."""
    try:
        text = read()
        keys = json.loads(text) if text.strip() else {}
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{path}: unreadable ({exc}); restore it from a backup") from None
    if not isinstance(keys, dict) or not all(isinstance(value, str) for value in keys.values()):
        raise ConfigurationError(f"{path}: must be a JSON object of key names and string values; restore it from a backup")
    return keys


#: How each key is made, by its name in ``keys.json`` (and in `accessguard config keys`).
KEY_MAKERS: Mapping[str, Callable[[], str]] = {
    "session_key": lambda: secrets.token_urlsafe(48),
    "pseudonym_key": lambda: secrets.token_urlsafe(48),
    "encryption_key": lambda: Fernet.generate_key().decode(),
    "audit_key": lambda: secrets.token_urlsafe(48),
}


def local_keys(data_dir: Path) -> dict[str, str]:
    """Keys kept in ``data_dir/keys.json`` (mode 0600), made on first use.

    For the demo and single-host set-ups; production passes keys from a secret store.
    """
    path = Path(data_dir) / "keys.json"
    with os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+", encoding="utf-8") as file:
        fcntl.flock(file, fcntl.LOCK_EX)  # processes starting together make one set of keys, not one each
        keys = _parsed_keys(path, file.read)
        missing = {name: make() for name, make in KEY_MAKERS.items() if name not in keys}
        if missing:
            keys.update(missing)
            file.seek(0)
            file.truncate()
            file.write(json.dumps(keys, indent=2))
    return keys
