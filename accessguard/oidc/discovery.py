"""OpenID Connect Discovery 1.0: fetching and checking the provider's metadata.

The metadata URL is configurable because Pro Santé Connect publishes its
document at a non-standard path (``/.well-known/wallet-openid-configuration``);
wherever it comes from, its ``issuer`` must be exactly the configured one
(Discovery §4.3), and every endpoint must be HTTPS (plain HTTP only on loopback,
for development and tests).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from accessguard.errors import AccessGuardError

WELL_KNOWN_PATH = "/.well-known/openid-configuration"
MAX_DOCUMENT_BYTES = 256 * 1024
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class ProviderUnavailable(AccessGuardError):
    """The provider's metadata or keys could not be fetched or are unusable; requests fail closed (503)."""


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    jwks_uri: str
    authorization_endpoint: str
    token_endpoint: str


def metadata_url(issuer: str, discovery_url: str | None) -> str:
    return discovery_url or issuer.rstrip("/") + WELL_KNOWN_PATH


def is_secure_url(url: str) -> bool:
    """HTTPS, or HTTP to a loopback host."""
    parts = urlsplit(url)
    if not parts.hostname or parts.username or parts.password:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)


def fetch_json(http: requests.Session, url: str, timeout_s: float) -> Any:
    """A JSON document of at most MAX_DOCUMENT_BYTES; ProviderUnavailable otherwise."""
    try:
        with http.get(url, timeout=timeout_s, stream=True, allow_redirects=False) as response:
            if response.status_code != 200:
                raise ProviderUnavailable(f"{url} answered HTTP {response.status_code}")
            body = response.raw.read(MAX_DOCUMENT_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise ProviderUnavailable(f"{url} could not be fetched: {exc}") from None
    if len(body) > MAX_DOCUMENT_BYTES:
        raise ProviderUnavailable(f"{url} is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProviderUnavailable(f"{url} is not JSON: {exc}") from None


def discover(http: requests.Session, issuer: str, discovery_url: str | None, timeout_s: float) -> ProviderMetadata:
    """The provider's metadata, checked against the configured issuer."""
    url = metadata_url(issuer, discovery_url)
    document = fetch_json(http, url, timeout_s)
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"{url} is not a JSON object")
    if document.get("issuer") != issuer:
        raise ProviderUnavailable(f"{url} names issuer {document.get('issuer')!r}, not the configured {issuer!r}")
    endpoints = {}
    for name in ("jwks_uri", "authorization_endpoint", "token_endpoint"):
        value = document.get(name)
        if not isinstance(value, str) or not is_secure_url(value):
            raise ProviderUnavailable(f"{url}: {name} must be an https URL, got {value!r}")
        endpoints[name] = value
    return ProviderMetadata(issuer, **endpoints)
