"""Bearer tokens from a real OpenID provider decide the subject; forged tokens never do."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from joserfc import jws, jwt
from joserfc.jwk import RSAKey

from accessguard.containment import resume, suspend
from tests.authenticators import enrolled_key, key_session
from tests.conftest import CAEN
from tests.oidc.conftest import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, DemoFactory, TestProvider, oidc_settings, start_provider
from tests.store_support import store_url

pytestmark = pytest.mark.realpart

FRESHNESS_READ_S = 43200  # policies/data.json: freshness.read


def get_patient(client: httpx.Client, token: str) -> httpx.Response:
    return client.get("/patients/pat-0001", headers={"authorization": f"Bearer {token}", "x-forwarded-for": CAEN})


def challenge(response: httpx.Response) -> dict[str, str]:
    header = response.headers["www-authenticate"]
    assert header.startswith("Bearer ")
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


@pytest.mark.parametrize("adapter", ["asgi", "wsgi"])
def test_fresh_eidas1_mfa_token_reads_patients(provider: TestProvider, oidc_demo: DemoFactory, adapter: str) -> None:
    demo = oidc_demo(oidc_settings(provider), adapter)
    tokens = provider.tokens("ext.nobody", "pwd,mfa")
    response = get_patient(demo.client(), tokens.access_token)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == "pat-0001"


@pytest.mark.parametrize("adapter", ["asgi", "wsgi"])
def test_password_only_token_gets_the_challenge_with_acr_values(provider: TestProvider, oidc_demo: DemoFactory, adapter: str) -> None:
    demo = oidc_demo(oidc_settings(provider), adapter)
    tokens = provider.tokens("ext.nobody", "pwd")
    response = get_patient(demo.client(), tokens.access_token)
    assert response.status_code == 401
    assert response.json()["reasons"] == ["mfa_required"]
    params = challenge(response)
    assert params["error"] == "insufficient_user_authentication"
    assert params["acr_values"] == "eidas1"
    assert "max_age" not in params


def test_bearer_challenge_sends_the_client_to_the_provider_not_to_a_page(provider: TestProvider, oidc_demo: DemoFactory) -> None:
    """A page here cannot raise a token's level: a bearer client gets acr_values and max_age, no step-up url, no redirect."""
    demo = oidc_demo(oidc_settings(provider, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=REDIRECT_URI))
    token = provider.tokens("ext.nobody", "pwd").access_token
    for accept in ("application/json", "text/html,application/xhtml+xml"):
        response = demo.client().get(
            "/patients/pat-0001", headers={"authorization": f"Bearer {token}", "x-forwarded-for": CAEN, "accept": accept}
        )
        assert response.status_code == 401, accept
        assert response.json()["step_up"] == {"methods": ["otp", "webauthn"], "acr_values": ["eidas1"], "max_age": None}
        assert challenge(response)["acr_values"] == "eidas1"
    session = demo.login("dr.martin", totp=False).get("/patients/pat-0001", headers={"x-forwarded-for": CAEN})
    assert session.status_code == 401
    assert session.json()["step_up"]["url"] == "/accessguard/oidc/login?acr_values=eidas1"  # a session does go to the provider's login


def test_login_older_than_the_freshness_limit_gets_the_challenge_with_max_age(provider: TestProvider, oidc_demo: DemoFactory) -> None:
    demo = oidc_demo(oidc_settings(provider))
    tokens = provider.tokens("ext.nobody", "pwd,mfa", ts=int(time.time()) - FRESHNESS_READ_S - 600)
    response = get_patient(demo.client(), tokens.access_token)
    assert response.status_code == 401
    assert response.json()["reasons"] == ["stale_authentication"]
    params = challenge(response)
    assert params["error"] == "insufficient_user_authentication"
    assert params["max_age"] == str(FRESHNESS_READ_S)
    assert params["acr_values"] == "eidas1"


def test_id_token_is_accepted_when_the_audience_is_the_client(provider: TestProvider, oidc_demo: DemoFactory) -> None:
    demo = oidc_demo(oidc_settings(provider, audience=CLIENT_ID))
    tokens = provider.tokens("ext.nobody", "pwd,mfa")
    assert get_patient(demo.client(), tokens.id_token).status_code == 200  # RS256 ID token
    refused = get_patient(demo.client(), tokens.access_token)  # ES256 access token for the resource server
    assert refused.status_code == 401
    assert "not meant for this service" in challenge(refused)["error_description"]


def test_suspending_the_account_stops_its_tokens(provider: TestProvider, oidc_demo: DemoFactory) -> None:
    demo = oidc_demo(oidc_settings(provider))
    tokens = provider.tokens("ext.nobody", "pwd,mfa")
    assert get_patient(demo.client(), tokens.access_token).status_code == 200
    demo.guard.accounts.set_status("ext.nobody", "suspended")
    response = get_patient(demo.client(), tokens.access_token)
    assert response.status_code == 403
    assert response.json()["reasons"] == ["account_suspended"]


def test_a_suspension_on_another_host_sharing_the_store_stops_its_tokens(
    provider: TestProvider, oidc_demo: DemoFactory, redis_server: Any, tmp_path: Path
) -> None:
    url = store_url("redis", tmp_path, redis_server)
    host_a, host_b = (oidc_demo(oidc_settings(provider), store_url=url) for _ in range(2))
    token = provider.tokens("ext.nobody", "pwd,mfa").access_token
    assert get_patient(host_a.client(), token).status_code == 200  # known on host A too
    assert get_patient(host_b.client(), token).status_code == 200
    guard = host_a.guard
    suspend(guard.accounts, guard.authenticators, guard.store, guard.access_log, "ext.nobody", "phished", operator="soc")
    response = get_patient(host_b.client(), token)  # host B's account directory still says active
    assert response.status_code == 403
    assert response.json()["reasons"] == ["account_suspended"]
    resume(guard.accounts, guard.store, guard.access_log, "ext.nobody", operator="soc")
    assert get_patient(host_b.client(), token).status_code == 200


def test_subject_unknown_here_is_taken_from_the_token(provider: TestProvider, oidc_demo: DemoFactory) -> None:
    demo = oidc_demo(oidc_settings(provider))
    tokens = provider.tokens("ext.nobody", "pwd,sc")
    assert demo.guard.accounts.get("ext.nobody") is None
    assert get_patient(demo.client(), tokens.access_token).status_code == 200
    demo.guard.access_log.flush()
    with sqlite3.connect(demo.guard.access_log.location) as db:
        subjects = [subject for (subject,) in db.execute("SELECT subject FROM entries WHERE kind = 'decision' ORDER BY seq")]
    assert subjects[-1] == "ext.nobody"


@pytest.mark.parametrize("local", ["dr.martin", "admin"])
def test_token_naming_a_local_account_is_not_served_as_it(provider: TestProvider, oidc_demo: DemoFactory, local: str) -> None:
    """A provider's subject never merges with the local account of the same name: refused, and logged as no read."""
    demo = oidc_demo(oidc_settings(provider))
    before = demo.guard.accounts.get(local)
    token = provider.sign(provider.claims(sub=local, roles=["doctor"], amr=["pwd", "hwk"]))
    response = get_patient(demo.client(), token)
    assert response.status_code == 403, response.text
    assert response.json()["reasons"] == ["account_conflict"]
    searched = demo.client().get("/patients?limit=5", headers={"authorization": f"Bearer {token}", "x-forwarded-for": CAEN})
    assert searched.status_code == 403
    assert demo.guard.accounts.get(local) == before  # the local account is untouched: password, roles, no issuer
    demo.guard.access_log.flush()
    with sqlite3.connect(demo.guard.access_log.location) as db:
        assert db.execute("SELECT count(*) FROM entries WHERE subject = ?", (local,)).fetchone() == (0,)


def test_provider_subjects_are_kept_by_issuer(provider: TestProvider, oidc_demo: DemoFactory, tmp_path: Path) -> None:
    """A subject provisioned for one provider is not another provider's subject of the same sub."""
    demo = oidc_demo(oidc_settings(provider))
    assert get_patient(demo.client(), provider.tokens("ext.nobody", "pwd,mfa").access_token).status_code == 200
    account = demo.guard.accounts.get("ext.nobody")
    assert account is not None and account.issuer == provider.issuer and account.password_hash == "!"
    other = start_provider(tmp_path / "other-provider")
    try:
        elsewhere = oidc_demo(oidc_settings(other))
        elsewhere.guard.accounts.provision("ext.nobody", issuer=provider.issuer, kind="professional", roles=(), organisation="")
        response = get_patient(elsewhere.client(), other.sign(other.claims()))
        assert response.status_code == 403
        assert response.json()["reasons"] == ["account_conflict"]
    finally:
        other.close()


def test_other_authorization_schemes_are_not_tokens(provider: TestProvider, oidc_demo: DemoFactory) -> None:
    demo = oidc_demo(oidc_settings(provider))
    response = demo.client().get("/patients/pat-0001", headers={"authorization": "Basic ZHIubWFydGluOng="})
    assert response.status_code == 401
    assert response.json()["reasons"] == ["authentication_required"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unsigned(claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{_b64(json.dumps(claims).encode())}."


def _hs256_with_public_key(provider: TestProvider, claims: dict[str, Any]) -> str:
    """The classic confusion attack: HMAC "keyed" with the provider's public RSA key."""
    rsa = next(k for k in provider.keys if k.get("alg") == "RS256")
    public_pem = rsa.as_pem(private=False)
    signing_input = f"{_b64(json.dumps({'alg': 'HS256', 'kid': rsa.kid}).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())}"


def _wrong_key(provider: TestProvider, claims: dict[str, Any]) -> str:
    """Signed by another key that claims the provider's key id."""
    impostor = RSAKey.generate_key(2048)
    kid = next(k for k in provider.keys if k.get("alg") == "RS256").kid
    return jwt.encode({"alg": "RS256", "kid": kid}, claims, impostor)


def _swapped_payload(provider: TestProvider, claims: dict[str, Any]) -> str:
    header, _, signature = provider.sign(provider.claims()).split(".")
    return f"{header}.{_b64(json.dumps({**claims, 'sub': 'dr.bernard'}).encode())}.{signature}"


NOW = int(time.time())
FORGERIES: dict[str, tuple[Any, str]] = {
    # name: (token maker, words the refusal must name: proof the intended check refused it)
    "alg_none": (lambda p: _unsigned(p.claims()), "alg none"),
    "alg_none_with_a_signature": (lambda p: _unsigned(p.claims()) + "c2lnbmF0dXJl", "alg none"),
    "wrong_key": (lambda p: _wrong_key(p, p.claims()), "signature"),
    "hs256_keyed_with_public_key": (lambda p: _hs256_with_public_key(p, p.claims()), "'HS256' is not accepted"),
    "payload_swapped": (lambda p: _swapped_payload(p, p.claims()), "signature"),
    "expired": (lambda p: p.sign(p.claims(iat=NOW - 4000, exp=NOW - 3000)), "expired"),
    "not_yet_valid": (lambda p: p.sign(p.claims(nbf=NOW + 3000)), "not valid yet"),
    "issued_in_the_future": (lambda p: p.sign(p.claims(iat=NOW + 3000)), "issued in the future"),
    "iat_not_a_number": (lambda p: p.sign(p.claims(iat=str(NOW))), "'iat' claim must be a NumericDate"),
    "iat_a_boolean": (lambda p: p.sign(p.claims(iat=True)), "'iat' claim must be a NumericDate"),
    "iat_nan": (lambda p: p.sign(p.claims(iat=float("nan"))), "'iat' claim must be a NumericDate"),
    "nbf_not_a_number": (lambda p: p.sign(p.claims(nbf="now")), "'nbf' claim must be a NumericDate"),
    "exp_not_a_number": (lambda p: p.sign(p.claims(exp="tomorrow")), "'exp' claim must be a NumericDate"),
    "wrong_audience": (lambda p: p.sign(p.claims(aud="urn:another:service")), "not meant for this service"),
    "no_audience": (lambda p: p.sign(p.claims(aud=None)), "lacks the claim(s) aud"),
    "wrong_issuer": (lambda p: p.sign(p.claims(iss="https://evil.example")), "not issued by"),
    "no_expiry": (lambda p: p.sign(p.claims(exp=None)), "lacks the claim(s) exp"),
    "unknown_kid": (lambda p: jwt.encode({"alg": "RS256", "kid": "no-such-key"}, p.claims(), RSAKey.generate_key(2048)), "no signing key"),
    "garbage": (lambda p: "garbage", "not a signed JWT"),
    "garbage_header": (lambda p: "e30x.e30.c2ln", "header"),
    "encrypted": (lambda p: "a.b.c.d.e", "JWE"),
    "logout_token_type": (lambda p: p.sign(p.claims(), typ="logout+jwt"), "not an ID token or access token"),
    "non_ascii_kid": (lambda p: p.sign(p.claims(), kid='clé\u2603"\\'), "no signing key"),
    "auth_time_in_the_future": (lambda p: p.sign(p.claims(auth_time=NOW + 3000)), "auth_time"),
    "amr_not_a_list": (lambda p: p.sign(p.claims(amr="mfa")), "amr"),
    "no_subject": (lambda p: p.sign(p.claims(sub=None)), "sub"),
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_forged_tokens_are_refused_with_invalid_token(provider: TestProvider, oidc_demo: DemoFactory, name: str) -> None:
    demo = oidc_demo(oidc_settings(provider))
    make, expected = FORGERIES[name]
    response = get_patient(demo.client(), make(provider))
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    params = challenge(response)
    assert params["error"] == "invalid_token"
    assert expected in response.json()["detail"]


def test_empty_bearer_is_refused(provider: TestProvider, oidc_demo: DemoFactory) -> None:
    demo = oidc_demo(oidc_settings(provider))
    response = demo.client().get("/patients/pat-0001", headers={"authorization": "Bearer   "})
    assert response.status_code == 401
    assert challenge(response)["error"] == "invalid_token"


def test_forging_is_what_fails_not_the_harness(provider: TestProvider, oidc_demo: DemoFactory) -> None:
    """The same signing path as the claim forgeries, with valid claims, is accepted."""
    demo = oidc_demo(oidc_settings(provider))
    assert get_patient(demo.client(), provider.sign(provider.claims())).status_code == 200


def test_keys_are_refreshed_on_an_unknown_kid_at_most_once_a_minute(tmp_path: Path, oidc_demo: DemoFactory) -> None:
    provider = start_provider(tmp_path / "provider")
    try:
        demo = oidc_demo(oidc_settings(provider))
        client = demo.client()
        assert get_patient(client, provider.tokens("ext.nobody", "pwd,mfa").access_token).status_code == 200
        assert provider.jwks_requests() == 1
        provider.rotate()
        rotated = provider.tokens("ext.nobody", "pwd,mfa").access_token  # signed with the new key
        for _ in range(3):
            response = get_patient(client, rotated)
            assert response.status_code == 401
            assert "no signing key" in response.json()["detail"]
        assert provider.jwks_requests() == 1  # the last fetch was less than a minute ago
        demo.clock.advance(61)
        assert get_patient(client, rotated).status_code == 200
        assert provider.jwks_requests() == 2
        for _ in range(3):
            assert get_patient(client, _unknown_kid_token(provider)).status_code == 401
        assert provider.jwks_requests() == 2
    finally:
        provider.close()


def _unknown_kid_token(provider: TestProvider) -> str:
    return jwt.encode({"alg": "RS256", "kid": "made-up"}, provider.claims(), RSAKey.generate_key(2048))


def test_unreachable_provider_fails_closed(oidc_demo: DemoFactory, provider: TestProvider) -> None:
    demo = oidc_demo(oidc_settings(provider, issuer="http://127.0.0.1:9", discovery_url=None))
    response = get_patient(demo.client(), provider.sign(provider.claims()))
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"


def test_metadata_naming_another_issuer_fails_closed(oidc_demo: DemoFactory, provider: TestProvider) -> None:
    impostor = provider.issuer.replace("127.0.0.1", "localhost")
    demo = oidc_demo(oidc_settings(provider, issuer=impostor))
    response = get_patient(demo.client(), provider.sign(provider.claims(iss=impostor)))
    assert response.status_code == 503


def _raw_claims(provider: TestProvider, claims: dict[str, Any]) -> str:
    """Signed by the provider over the JSON text as it is: a lone surrogate survives as its ``\\ud800`` escape."""
    key = next(k for k in provider.keys if k.get("alg") == "ES256")
    return jws.serialize_compact({"alg": "ES256", "kid": key.kid}, json.dumps(claims).encode(), key)


HOSTILE_CLAIMS = {
    "nul_in_sub": ({"sub": "ext.nul\x00"}, "claim 'sub' must be text on one line: it holds a NUL character"),
    "line_break_in_sub": ({"sub": "ext.x\r\nSet-Cookie: a=b"}, "claim 'sub' must be text on one line"),
    "lone_surrogate_in_sub": ({"sub": "ext.\ud800"}, "claim 'sub' must be text on one line: it holds a lone surrogate"),
    "line_break_in_organisation": ({"organisation": "chu\nfake line"}, "claim 'organisation' must be text on one line"),
    "nul_in_a_role": ({"roles": ["doctor", "x\x00"]}, "claim 'roles' must be text on one line"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_CLAIMS))
def test_a_subject_role_or_organisation_that_is_no_line_of_text_is_refused(
    provider: TestProvider, oidc_demo: DemoFactory, name: str
) -> None:
    """These claims become an account's id and profile, shown in the console and named in downloads and log lines."""
    demo = oidc_demo(oidc_settings(provider))
    overrides, expected = HOSTILE_CLAIMS[name]
    response = get_patient(demo.client(), _raw_claims(provider, provider.claims(**overrides)))
    assert response.status_code == 401, response.text
    assert challenge(response)["error"] == "invalid_token" and expected in response.json()["detail"]
    assert {a.id for a in demo.guard.accounts.all() if a.issuer} == set()  # nothing provisioned


def test_a_provider_subject_beyond_ascii_gets_its_breach_scope_download(provider: TestProvider, oidc_demo: DemoFactory) -> None:
    """A header carries no ``é`` nor a quote: the file name keeps to ASCII, the report to the subject's own records."""
    demo = oidc_demo(oidc_settings(provider))
    admin = key_session(demo, "admin", enrolled_key(demo, "admin"))
    subject = 'josé.garcía"; x'
    assert get_patient(demo.client(), provider.sign(provider.claims(sub=subject))).status_code == 200
    demo.clock.advance(5)
    demo.guard.access_log.flush()
    for form in ("csv", "json"):
        download = admin.get(f"/accessguard/admin/scope?{urlencode({'subject': subject, 'since': '1h', 'format': form})}")
        assert download.status_code == 200
        assert download.headers["content-disposition"] == f'attachment; filename="breach-scope-jos_.garc_a___x.{form}"'
        assert "pat-0001" in download.text
