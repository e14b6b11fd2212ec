"""The configuration file's keys: taken from the settings dataclasses themselves, documented here.

Each key is a field of ``Settings`` or of a dataclass it holds (``[audit]``,
``[oidc]``, ``[oidc.claims]``, ``[[routes]]``); its type is the field's
annotation and its default the field's default, so a field added to the code
is a key of the file at once. Its text is in ``DOCS``: tests/test_config.py
fails while a field has none, and docs/configuration.md is generated from
this module (``python -m accessguard.config.reference``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accessguard.audit.settings import AuditSettings
from accessguard.oidc.mapping import ClaimMapping
from accessguard.oidc.settings import OIDCSettings
from accessguard.routes import ProtectedRoute
from accessguard.settings import Settings

#: Fields only code can set (a function of the application): never keys of the file.
CODE_ONLY = frozenset({"care_relationship", "clock"})
#: Secrets: never written in the file, taken from ``ACCESSGUARD_<KEY>``, ``ACCESSGUARD_<KEY>_FILE`` or ``<key>_file``.
SECRETS = frozenset(
    {"session_key", "pseudonym_key", "encryption_key", "metrics_token", "audit.key", "audit.webhook_key", "oidc.client_secret"}
)
#: URLs that may carry a password: ``ACCESSGUARD_<KEY>`` or ``…_FILE`` replaces the file's value.
FROM_ENVIRONMENT = frozenset({"store_url", "database"})
DOCS: Mapping[str, str] = {
    "public_url": "Where browsers open the service (`https://annuaire.example.fr`, with the mount prefix if any): the base of"
    " the links the admin console hands out, and the default of `webauthn_rp_id` (its host) and `webauthn_origins` (its origin).",
    "data_dir": "Directory of the service's own files: state store, accounts, access log (`audit.db`). Must exist.",
    "routes": "The protected routes, one `[[routes]]` table each: the patient-directory paths of the application.",
    "routes.pattern": "The path as the application below the guard routes it, parameters in braces: `/patients/{id}`.",
    "routes.name": "The route's name in policies and logs (`patients.read`).",
    "routes.resource": "What the route serves; `patient_identity` records are counted against the read limits.",
    "routes.action": "The action policies see (`read`, `search`).",
    "routes.methods": "The HTTP methods the route answers (HEAD is decided as GET); another method is a 405.",
    "routes.requested_count": "Records one request asks for: a number, or the name of the query parameter holding it (`limit`).",
    "routes.default_count": "The count when that query parameter is absent.",
    "routes.served_ids": "Where the response holds the ids served (`patients[].id`, `id`), or `@app` when the handler"
    " reports them with `report_served`. Required for `patient_identity` routes.",
    "session_key": "Signs session cookies; at least 32 characters. Every host of a fleet holds the same.",
    "pseudonym_key": "Keys the pseudonyms of patients in the access log; at least 32 characters. Changing it breaks"
    " breach-scope queries across the change.",
    "encryption_key": "Fernet key sealing TOTP seeds at rest (`accessguard config keys` makes one).",
    "policy_dir": "The Rego policy set and its `data.json` (default: the shipped `policies/`).",
    "watch_policies": "Put changes to `policy_dir` live once proven on the engine that serves them.",
    "policy_engine": "The in-process engine: `wasm` (OPA-compiled WebAssembly) or `regopy` (rego-cpp).",
    "opa_url": "Decide on this OPA server instead (the policy set is pushed to it at start).",
    "store_url": "Per-professional state: `sqlite:///PATH` (default `DATA_DIR/accessguard.db`) or `redis://HOST:PORT/DB`"
    " shared by a fleet. `ACCESSGUARD_STORE_URL` or `ACCESSGUARD_STORE_URL_FILE` replaces it (for a password).",
    "database": "Durable records (accounts, authenticators): default `sqlite:///DATA_DIR/accounts.db`;"
    " `postgresql://USER@HOST:PORT/DB` for a fleet; `ACCESSGUARD_DATABASE` or `ACCESSGUARD_DATABASE_FILE` replaces it"
    " (or the password comes from `PGPASSWORD` or `~/.pgpass`).",
    "geoip_database": "MaxMind-format city database (`.mmdb`) for geo signals; unset: every address is unresolved.",
    "asn_database": "MaxMind-format ASN database (`.mmdb`) for the network of an address.",
    "trusted_proxies": "Networks (CIDR) of the proxies whose `X-Forwarded-For` is believed: your TLS terminator and"
    " load balancer, nothing else.",
    "login_path": "Path of the password login route.",
    "step_up_page": "Path of the step-up page browsers are sent to.",
    "cookie_name": "Name of the session cookie.",
    "cookie_secure": "Send cookies over HTTPS only; `false` only for plain-HTTP trials on localhost.",
    "session_ttl_s": "Lifetime of a session, in seconds.",
    "acr_values": "acr value named in RFC 9470 challenges, per step-up method (`otp`, `webauthn`).",
    "oidc": "An OpenID provider whose bearer tokens (and, with `client_id`, browser logins) are accepted (docs/oidc.md).",
    "oidc.issuer": "The provider's issuer URL (https; http only on loopback).",
    "oidc.audience": "The `aud` a bearer token must carry.",
    "oidc.discovery_url": "The provider's metadata URL (default: `ISSUER/.well-known/openid-configuration`).",
    "oidc.algorithms": "Signature algorithms accepted (asymmetric only).",
    "oidc.leeway_s": "Clock skew tolerated on token times, in seconds.",
    "oidc.claims": "Which claims name the subject and its authentication.",
    "oidc.claims.subject": "Claim naming the subject.",
    "oidc.claims.roles": "Claim holding the roles (a string or a list).",
    "oidc.claims.organisation": "Claim naming the organisation.",
    "oidc.claims.acr": "Claim holding the authentication context class.",
    "oidc.claims.amr": "Claim holding the authentication methods (RFC 8176).",
    "oidc.claims.auth_time": "Claim holding the authentication time.",
    "oidc.claims.kind": "The subject kind given to token holders.",
    "oidc.claims.amr_factors": "`amr` values → accessguard factors (`pwd`, `otp`, `webauthn`).",
    "oidc.claims.acr_factors": "`acr` values → the factors that level alone vouches for.",
    "oidc.claims.acr_values": "acr asked of the provider per step-up method.",
    "oidc.client_id": "Client id for browser login (authorization code + PKCE); needs `redirect_uri`.",
    "oidc.client_secret": "Client secret, for confidential clients.",
    "oidc.redirect_uri": "accessguard's callback as registered at the provider.",
    "oidc.scopes": "Scopes asked at browser login (must include `openid`).",
    "oidc.timeout_s": "Timeout of requests to the provider, in seconds.",
    "service_name": "The service's name on pages and in the WebAuthn relying party.",
    "default_locale": "Language of pages and messages (`en` or `fr`) when the browser's `Accept-Language` names neither.",
    "time_zone": "IANA time zone (`Europe/Paris`) the pages show times in.",
    "webauthn_rp_id": "The domain security keys are bound to (`annuaire.example.fr`); never taken from a request.",
    "webauthn_origins": "The exact origins (`https://annuaire.example.fr`) of the guard's pages.",
    "webauthn_allowed_aaguids": "Admit only these authenticator models (AAGUIDs), proven by attestation.",
    "webauthn_attestation_roots": "PEM certificates attestations must chain to (required with `webauthn_allowed_aaguids`).",
    "health_max_outbox": "Undelivered alerts above which `/accessguard/health/ready` fails.",
    "metrics_token": "Bearer token (32 characters or more) that opens `/accessguard/metrics`; unset: no token opens it.",
    "metrics_addresses": "Client addresses or networks that may read `/accessguard/metrics` (behind `trusted_proxies`).",
    "metrics_port": "Serve the metrics on a port of their own (on `metrics_host`); unset: no metrics port.",
    "metrics_host": "The address the metrics port listens on (loopback by default).",
    "log_format": "`plain` lines or `json` (one object per line, with the request id).",
    "audit": "The access log, its checkpoints and retention, and alert delivery.",
    "audit.key": "Signs the access log's checkpoints (HMAC-SHA-256); unset: derived from `pseudonym_key`, so set it in production.",
    "audit.retention_days": "Days access-log entries are kept.",
    "audit.checkpoint_every": "Entries between signed checkpoints.",
    "audit.checkpoint_interval_s": "Seconds between signed checkpoints at most.",
    "audit.max_backlog": "Entries waiting to be written before protected requests are refused (503).",
    "audit.commit_window_s": "Seconds a small batch waits for more entries before its commit (between 0 and 1).",
    "audit.log_alerts": "Write alerts to the service log.",
    "audit.webhook_url": "Also send alerts to this http(s) URL.",
    "audit.webhook_key": "Signs webhook requests; required with `webhook_url`.",
    "audit.webhook_timeout_s": "Timeout of a webhook request, in seconds.",
    "audit.retry_base_s": "First delay before an undelivered alert is retried, in seconds (doubling).",
    "audit.retry_max_s": "Longest delay between retries, in seconds.",
    "audit.alert_window_s": "Seconds during which repeats of an alert are counted into one summary.",
    "audit.witness": "Append-only file, on another volume or host, keeping the signed checkpoints and heads.",
    "audit.witness_interval_s": "Seconds between heads written to the witness at most.",
    "audit.log_sink": "A copy of every entry and signed checkpoint outside the host: `syslog+tcp://HOST:PORT` or `file:///PATH`.",
}

TABLES: Mapping[str, type[Any]] = {
    "": Settings,
    "routes": ProtectedRoute,
    "audit": AuditSettings,
    "oidc": OIDCSettings,
    "oidc.claims": ClaimMapping,
}


@dataclass(frozen=True)
class Key:
    """One key of the file."""

    name: str  # dotted from the root, arrays of tables without index: ``routes.pattern``
    hint: Any  # the type annotation
    default: Any  # dataclasses.MISSING when required
    doc: str

    @property
    def secret(self) -> bool:
        return self.name in SECRETS

    @property
    def leaf(self) -> str:
        return self.name.rsplit(".", 1)[-1]


def keys_of(table: str) -> dict[str, Key]:
    """The keys of one table (``""`` the root), by their name in it."""
    cls = TABLES[table]
    hints = typing.get_type_hints(cls)
    found: dict[str, Key] = {}
    for item in dataclasses.fields(cls):
        if not item.init or item.name in CODE_ONLY:
            continue
        name = f"{table}.{item.name}" if table else item.name
        default = item.default_factory() if item.default_factory is not dataclasses.MISSING else item.default
        found[item.name] = Key(name, hints[item.name], default, DOCS.get(name, ""))
    return found


def all_keys() -> Iterator[Key]:
    """Every key, tables in the order the reference shows them."""
    for table in TABLES:
        yield from keys_of(table).values()


def env_name(key: str) -> str:
    """The environment variable of a secret: ``audit.key`` → ``ACCESSGUARD_AUDIT_KEY``."""
    return "ACCESSGUARD_" + key.upper().replace(".", "_")


_NOUNS: Mapping[Any, str] = {bool: "boolean", int: "integer", float: "number", str: "string", Path: "path"}


def type_name(hint: Any, plural: bool = False) -> str:
    """The expected type as an error message and the reference say it: ``an array of strings``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(type_name(arg, plural) for arg in args if arg is not type(None))
    if origin in (tuple, Sequence, list):
        noun = f"array{'s' if plural else ''} of {type_name(args[0], plural=True)}"
    elif origin in (Mapping, dict):
        noun = f"table{'s' if plural else ''} of {type_name(args[1], plural=True)}"
    else:
        noun = ("table" if dataclasses.is_dataclass(hint) else _NOUNS[hint]) + ("s" if plural else "")
    return noun if plural else ("an " if noun[0] in "aeiou" else "a ") + noun
