"""Bearer credentials (RFC 6750) carrying signed JWTs (RFC 7519), validated with joserfc.

joserfc is Authlib's JOSE implementation (``authlib.jose`` is deprecated in
its favour). Checks run cheapest first, so garbage never costs a key lookup:
the token's shape and header; the algorithm against an allow-list (never
``none``, never an HMAC algorithm: a provider signs with its private key,
and an HMAC "keyed with the public key" must not verify); the signature with
the provider's key for the header's ``kid``; then ``iss``, ``aud``, ``exp``,
``nbf`` and ``iat`` with a small, bounded leeway.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable, Collection
from typing import Any

from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidClaimError, JoseError, MissingClaimError
from joserfc.jwk import Key

from accessguard.errors import BadRequest

#: Asymmetric JWS algorithms (RFC 7518, RFC 8037) a configuration may allow.
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"})
DEFAULT_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
MAX_LEEWAY_S = 120
MAX_TOKEN_LENGTH = 16 * 1024
#: ``typ`` values of ID tokens and access tokens (RFC 9068); other JWTs (logout tokens, DPoP proofs) are refused.
TOKEN_TYPES = frozenset({"jwt", "at+jwt", "application/at+jwt"})
#: The claims RFC 7519 defines as NumericDate values.
TIME_CLAIMS = frozenset({"exp", "nbf", "iat"})
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")

#: Finds the provider's verification key for a header's ``kid`` and ``alg``.
KeyLookup = Callable[[str | None, str], Key]


class InvalidToken(BadRequest):
    """A bearer token or ID token is refused (RFC 6750 ``invalid_token``); always a 401."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, status=401)


def bearer_credentials(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header (RFC 6750 §2.1); None for no header or another scheme."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    if not token:
        raise InvalidToken("the Authorization header names the Bearer scheme but carries no token")
    return token


class JWTValidator:
    """Validates the JWTs of one issuer.

    ``algorithms`` is the allow-list; ``leeway_s`` the clock skew tolerated on
    ``exp``, ``nbf`` and ``iat``; ``clock`` gives the time (Unix seconds).
    """

    def __init__(self, issuer: str, algorithms: Collection[str], leeway_s: int, key_for: KeyLookup, clock: Callable[[], float]) -> None:
        self.issuer = issuer
        self.leeway_s = leeway_s
        self._algorithms = frozenset(algorithms)
        self._key_for = key_for
        self._clock = clock

    def claims(self, token: str, audience: str) -> dict[str, Any]:
        """The claims of a valid token meant for ``audience``; InvalidToken naming the first failed check."""
        header = self._header(token)
        key = self._key_for(header.get("kid"), header["alg"])
        try:
            claims = jwt.decode(token, key, algorithms=[header["alg"]]).claims
        except JoseError as exc:
            raise InvalidToken(f"the token's signature does not verify ({exc.error})") from None
        except ValueError:
            raise InvalidToken("the token is not a well-formed JWS") from None
        registry = jwt.JWTClaimsRegistry(
            now=int(self._clock()),
            leeway=self.leeway_s,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            iat={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise InvalidToken("the token has expired") from None
        except MissingClaimError as exc:
            raise InvalidToken(f"the token lacks the claim(s) {exc.claim}") from None
        except InvalidClaimError as exc:
            raise InvalidToken(_claim_problem(exc.claim, claims, self.issuer, audience)) from None
        return claims

    def _header(self, token: str) -> dict[str, Any]:
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken(f"the token is longer than {MAX_TOKEN_LENGTH} characters")
        if token.count(".") == 4:
            raise InvalidToken("encrypted tokens (JWE) are not accepted")
        if not _COMPACT_JWS.fullmatch(token):
            raise InvalidToken("the token is not a signed JWT (three base64url parts separated by dots)")
        try:
            segment = token.split(".", 1)[0]
            header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        except (ValueError, UnicodeDecodeError):
            raise InvalidToken("the token's header is not base64url-encoded JSON") from None
        if not isinstance(header, dict):
            raise InvalidToken("the token's header is not a JSON object")
        alg = header.get("alg")
        if alg == "none":
            raise InvalidToken("unsigned tokens (alg none) are refused")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise InvalidToken(f"the algorithm {alg!r} is not accepted (accepted: {', '.join(sorted(self._algorithms))})")
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or len(kid) > 256):
            raise InvalidToken("the token's kid must be a string of at most 256 characters")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in TOKEN_TYPES):
            raise InvalidToken(f"a token of type {typ!r} is not an ID token or access token")
        return header


def _claim_problem(claim: str, claims: dict[str, Any], issuer: str, audience: str) -> str:
    if claim in TIME_CLAIMS and not _numeric_date(claims[claim]):
        return f"the token's {claim!r} claim must be a NumericDate (a number of seconds since the epoch)"
    if claim == "iss":
        return f"the token was not issued by {issuer}"
    if claim == "aud":
        return f"the token is not meant for this service (audience {audience})"
    if claim == "nbf":
        return "the token is not valid yet"
    if claim == "iat":
        return "the token was issued in the future"
    return f"the token's claim {claim!r} is invalid"


def _numeric_date(value: object) -> bool:
    """An RFC 7519 NumericDate: a JSON number (not a string, a boolean, NaN or an infinity)."""
    return not isinstance(value, bool) and (isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)))
