"""The OpenID provider as accessguard sees it: its metadata and signing keys, cached.

Nothing is fetched when the Guard is built; the first token (or login) fetches
the metadata and the JWK Set (RFC 7517). A token naming a ``kid`` the cache
does not hold fetches the set again (the provider rotated its keys), but at
most once per REFRESH_INTERVAL_S: a flood of tokens with made-up key ids must
not turn accessguard into a load generator against the provider. The same
limit spaces retries while the provider is unreachable (requests get a 503).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import requests
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet

from accessguard.oidc.discovery import ProviderMetadata, ProviderUnavailable, discover, fetch_json
from accessguard.oidc.jwt_bearer import InvalidToken

REFRESH_INTERVAL_S = 60
#: Only public-key JWKs verify provider signatures; symmetric ("oct") keys in a JWK Set are ignored.
_ASYMMETRIC_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})


class OpenIDProvider:
    def __init__(
        self,
        issuer: str,
        discovery_url: str | None,
        clock: Callable[[], float],
        timeout_s: float = 5.0,
    ) -> None:
        self.issuer = issuer
        self._http = requests.Session()
        self._discovery_url = discovery_url
        self._clock = clock
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._metadata: ProviderMetadata | None = None
        self._keys: KeySet | None = None
        self._attempted_at: float | None = None

    def metadata(self) -> ProviderMetadata:
        if self._metadata is None:
            with self._lock:
                if self._metadata is None:
                    self._refresh()
        if self._metadata is None:
            raise ProviderUnavailable(f"the metadata of {self.issuer} is not available; retrying at most once a minute")
        return self._metadata

    def signing_key(self, kid: str | None, alg: str) -> Key:
        """The provider's key for a token header; refreshes the key set once a minute at most."""
        key = self._find(kid, alg)
        if key is None:
            with self._lock:
                key = self._find(kid, alg)
                if key is None and self._refresh():
                    key = self._find(kid, alg)
        if key is not None:
            return key
        if self._keys is None:
            raise ProviderUnavailable(f"the signing keys of {self.issuer} are not available; retrying at most once a minute")
        if kid is None:
            raise InvalidToken("the token names no kid and the provider has several keys for its algorithm")
        raise InvalidToken(f"the provider has no signing key with kid {kid!r} for {alg}")

    def _find(self, kid: str | None, alg: str) -> Key | None:
        keys = self._keys
        if keys is None:
            return None
        try:
            return keys.get_by_kid(kid, {"alg": alg, "use": "sig"})
        except JoseError:
            return None

    def _refresh(self) -> bool:
        """Fetch metadata (once) and keys, unless the last attempt is too recent. Call with the lock held."""
        now = self._clock()
        if self._attempted_at is not None and now - self._attempted_at < REFRESH_INTERVAL_S:
            return False
        self._attempted_at = now
        if self._metadata is None:
            self._metadata = discover(self._http, self.issuer, self._discovery_url, self._timeout_s)
        document = fetch_json(self._http, self._metadata.jwks_uri, self._timeout_s)
        self._keys = _key_set(document, self._metadata.jwks_uri)
        return True


def _key_set(document: object, url: str) -> KeySet:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ProviderUnavailable(f"{url} is not a JWK Set")
    public = [k for k in document["keys"] if isinstance(k, dict) and k.get("kty") in _ASYMMETRIC_KEY_TYPES]
    try:
        return KeySet.import_key_set({"keys": public})
    except (JoseError, ValueError, TypeError) as exc:
        raise ProviderUnavailable(f"{url} holds no usable signing key: {exc}") from None
