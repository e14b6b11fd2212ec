"""OIDC settings are checked at start-up; the claim mapping turns acr/amr/auth_time into factors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from accessguard.errors import ConfigurationError
from accessguard.oidc.jwt_bearer import InvalidToken
from accessguard.oidc.mapping import ClaimMapping
from accessguard.oidc.settings import OIDCSettings

ISSUER = "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"algorithms": ("RS256", "HS256")}, "oidc.algorithms"),
        ({"algorithms": ("none",)}, "oidc.algorithms"),
        ({"algorithms": ()}, "oidc.algorithms"),
        ({"leeway_s": 600}, "oidc.leeway_s"),
        ({"issuer": "http://provider.example"}, "oidc.issuer"),
        ({"discovery_url": "http://provider.example/.well-known/openid-configuration"}, "oidc.discovery_url"),
        ({"audience": ""}, "oidc.audience"),
        ({"client_id": "service"}, "oidc.client_id"),
        ({"claims": ClaimMapping(amr_factors={"hwk": "fido"})}, "amr_factors"),
        ({"claims": ClaimMapping(acr_factors={"eidas1": ("otp", "sms")})}, "acr_factors"),
        ({"claims": ClaimMapping(acr_values={"otp": "eidas1 eidas2"})}, "acr_values"),
    ],
)
def test_bad_settings_are_named_at_start_up(overrides: dict[str, Any], named: str) -> None:
    settings = OIDCSettings(**{"issuer": ISSUER, "audience": "directory", **overrides})
    with pytest.raises(ConfigurationError, match=named):
        settings.validate()


def _pro_sante_connect_example() -> OIDCSettings:
    """The example of docs/oidc.md, run as written."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "oidc.md").read_text()
    code = re.search(r"## Example: Pro Santé Connect.*?```python\n(.*?)```", text, re.S)
    assert code, "docs/oidc.md has no Pro Santé Connect example"
    scope: dict[str, Any] = {"OIDCSettings": OIDCSettings, "ClaimMapping": ClaimMapping, "secret_store": {"psc_client_secret": "x"}}
    exec(code[1], scope)
    settings: OIDCSettings = scope["oidc"]
    return settings


def test_pro_sante_connect_example_is_valid_and_means_what_the_doc_says() -> None:
    settings = _pro_sante_connect_example()
    settings.validate()
    assert settings.discovery_url == f"{settings.issuer}/.well-known/wallet-openid-configuration"
    assert settings.login_enabled
    claims = {"SubjectNameID": "810000000001", "acr": "eidas1", "auth_time": 100}
    assert settings.claims.subject_of(claims).id == "810000000001"
    eidas1 = settings.claims.authn_of(claims, latest=200)
    assert eidas1.aal == 2 and not eidas1.phishing_resistant  # a second factor, not a phishing-resistant one
    card = settings.claims.authn_of({**claims, "amr": ["sc"]}, latest=200)
    assert card.phishing_resistant
    assert settings.claims.authn_of({"auth_time": 100, "amr": ["pwd"]}, latest=200).aal < 2


def test_amr_maps_to_factors_at_auth_time() -> None:
    authn = ClaimMapping().authn_of({"amr": ["pwd", "hwk", "face"], "auth_time": 1_790_000_000}, latest=1_790_000_100)
    assert dict(authn.factor_times) == {"pwd": 1_790_000_000, "webauthn": 1_790_000_000}
    assert authn.aal == 2 and authn.phishing_resistant


def test_mfa_alone_is_a_second_factor_but_not_phishing_resistant() -> None:
    authn = ClaimMapping().authn_of({"acr": "eidas1", "amr": ["mfa"], "auth_time": 100}, latest=200)
    assert authn.aal == 2 and not authn.phishing_resistant


def test_acr_alone_counts_only_when_mapped() -> None:
    claims = {"acr": "eidas1", "auth_time": 100}
    assert ClaimMapping().authn_of(claims, latest=200).aal == 0
    assert ClaimMapping(acr_factors={"eidas1": ("pwd", "otp")}).authn_of(claims, latest=200).aal == 2


def test_missing_auth_time_is_never_fresh() -> None:
    authn = ClaimMapping().authn_of({"amr": ["pwd", "otp"]}, latest=200)
    assert authn.aal == 2 and authn.auth_time == 0


@pytest.mark.parametrize("auth_time", [True, "100", -1, 300, 1.5])
def test_bad_auth_time_is_an_invalid_token(auth_time: object) -> None:
    with pytest.raises(InvalidToken, match="auth_time"):
        ClaimMapping().authn_of({"amr": ["pwd"], "auth_time": auth_time}, latest=200)


def test_subject_claims_are_configurable() -> None:
    mapping = ClaimMapping(subject="SubjectNameID", roles="profession", organisation="structure")
    subject = mapping.subject_of({"sub": "opaque", "SubjectNameID": "810000000001", "profession": "nurse", "structure": "chu-caen"})
    assert (subject.id, subject.roles, subject.organisation, subject.kind) == ("810000000001", ("nurse",), "chu-caen", "professional")


@pytest.mark.parametrize("claims", [{}, {"sub": ""}, {"sub": 42}, {"sub": "x", "roles": [1]}, {"sub": "x", "roles": {"a": 1}}])
def test_bad_subject_claims_are_an_invalid_token(claims: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken):
        ClaimMapping().subject_of(claims)
