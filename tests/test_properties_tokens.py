"""Any mutation of a valid token is refused: session cookies through the real middleware, signed JWTs by the bearer validator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from accessguard.demo.app import build
from accessguard.facts import RequestFacts
from accessguard.guard import Guard
from accessguard.oidc.jwt_bearer import InvalidToken, JWTValidator
from tests.conftest import _copy_demo
from tests.property_support import budget, call_asgi
from tests.store_support import start_session

pytestmark = pytest.mark.slow

ISSUER, AUDIENCE = "https://id.example", "urn:accessguard:demo"
URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
CHARACTERS = st.sampled_from(URLSAFE) | st.sampled_from(list('.=";, \t+/%\\')) | st.characters(codec="latin-1")


@st.composite
def mutated(draw: st.DrawFn, token: str) -> str:
    """``token`` with one edit: a character replaced, deleted or inserted, a cut, or two parts swapped."""
    kind = draw(st.sampled_from(["replace", "delete", "insert", "cut", "swap"]))
    at = draw(st.integers(0, len(token) - 1))
    if kind == "replace":
        return token[:at] + draw(CHARACTERS) + token[at + 1 :]
    if kind == "delete":
        return token[:at] + token[at + 1 :]
    if kind == "insert":
        return token[:at] + draw(CHARACTERS) + token[at:]
    if kind == "cut":
        return token[:at]
    parts = token.split(".")
    i, j = draw(st.integers(0, len(parts) - 1)), draw(st.integers(0, len(parts) - 1))
    parts[i], parts[j] = parts[j], parts[i]
    return ".".join(parts)


# -- session cookies, through the real ASGI middleware ------------------------------------------


@pytest.fixture(scope="module")
def demo(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Guard, str]]:
    app, guard = build(_copy_demo(demo_template, tmp_path_factory.mktemp("tokens") / "data"))
    cookie = start_session(guard, "dr.martin", int(guard.settings.clock()))
    yield app, guard, cookie
    guard.close()


def _read_patient(app: Any, cookie: str) -> int:
    return call_asgi(
        app, {"path": "/patients/pat-0001", "headers": [(b"cookie", f"accessguard_session={cookie}".encode("latin-1"))]}
    ).status


def test_the_valid_cookie_reads(demo: tuple[Any, Guard, str]) -> None:
    app, _, cookie = demo
    assert _read_patient(app, cookie) == 200


@budget(200)
@given(data=st.data())
def test_any_mutation_of_a_session_cookie_is_refused(demo: tuple[Any, Guard, str], data: st.DataObject) -> None:
    app, _, cookie = demo
    changed = data.draw(mutated(cookie))
    seen = RequestFacts("GET", "/", "", {"cookie": f"accessguard_session={changed}"}, None).cookie("accessguard_session")
    assume(seen != cookie)  # the same cookie as a browser would parse it (a trailing quote, a cut after ';')
    assert _read_patient(app, changed) == 401, changed


# -- signed JWTs -------------------------------------------------------------------------------------


KEYS = {"ES256": ECKey.generate_key("P-256"), "RS256": RSAKey.generate_key(2048)}
NOW = 1_790_000_000


def _token(alg: str) -> str:
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "provider-subject", "exp": NOW + 600, "iat": NOW - 10, "acr": "aal2"}
    return jwt.encode({"alg": alg, "kid": alg, "typ": "at+jwt"}, claims, KEYS[alg])


TOKENS = {alg: _token(alg) for alg in KEYS}


def _validator() -> JWTValidator:
    return JWTValidator(ISSUER, KEYS, 30, lambda kid, alg: KEYS[alg], lambda: float(NOW))


def test_the_valid_tokens_verify() -> None:
    for token in TOKENS.values():
        assert _validator().claims(token, AUDIENCE)["sub"] == "provider-subject"


@budget(300)
@given(alg=st.sampled_from(sorted(KEYS)), data=st.data())
def test_any_mutation_of_a_signed_jwt_is_refused(alg: str, data: st.DataObject) -> None:
    token = TOKENS[alg]
    changed = data.draw(mutated(token))
    assume(changed != token)
    with pytest.raises(InvalidToken):
        _validator().claims(changed, AUDIENCE)
