"""WebAuthn enrolment and step-up with a software authenticator, through the guard's routes."""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from fido2.utils import websafe_encode

from tests.authenticators import BULK_PAGE, ORIGIN, assertion, begin, enrolled_key, key_session, open_link, reasons, register
from tests.conftest import Demo, _copy_demo, make_demo
from tests.softkey import AttestationCA, SoftKey


def test_key_enrolled_then_step_up_is_phishing_resistant(demo: Demo) -> None:
    key = enrolled_key(demo, "dr.martin")
    client = demo.login("dr.martin", totp=False)
    assert client.get(BULK_PAGE).status_code == 401
    response = assertion(client, key)
    assert response.status_code == 200, response.text
    assert response.json() == {"subject": "dr.martin", "aal": 2, "factor": "webauthn", "phishing_resistant": True}
    page = client.get(BULK_PAGE)
    assert page.status_code == 200
    assert len(page.json()["patients"]) == 50


def test_options_are_level_3_json(asgi_demo: Demo) -> None:
    client = open_link(asgi_demo, "dr.martin")
    options = begin(client, "/accessguard/enroll/webauthn/begin", {"label": "blue key"})
    assert options["rp"] == {"id": "localhost", "name": "accessguard"}
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert isinstance(options["challenge"], str) and isinstance(options["user"]["id"], str)
    assert "dr.martin" not in options["user"]["id"]
    assert {"type": "public-key", "alg": -7} in options["pubKeyCredParams"]


def test_assertion_without_user_verification_is_never_phishing_resistant(asgi_demo: Demo) -> None:
    key = enrolled_key(asgi_demo, "dr.martin")
    client = asgi_demo.login("dr.martin", totp=False)
    response = assertion(client, key, uv=False)
    assert response.status_code == 200
    assert response.json()["factor"] == "webauthn_no_uv"
    assert response.json()["phishing_resistant"] is False
    assert client.get("/patients/pat-0001").status_code == 200  # aal2 is enough for one record
    challenged = client.get(BULK_PAGE)
    assert challenged.status_code == 401
    assert "phishing_resistant_required" in reasons(challenged)
    assert challenged.json()["step_up"]["methods"] == ["webauthn"]


def test_counter_going_backwards_blocks_the_key_and_alerts(asgi_demo: Demo, caplog: pytest.LogCaptureFixture) -> None:
    key = enrolled_key(asgi_demo, "dr.martin")
    client = asgi_demo.login("dr.martin", totp=False)
    assert assertion(client, key, sign_count=10).status_code == 200
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="accessguard.alerts"):
        cloned = assertion(client, key, sign_count=7)
    assert cloned.status_code == 403
    assert reasons(cloned) == ["authenticator_clone_suspected"]
    assert [r.alert["event"] for r in caplog.records if hasattr(r, "alert")] == ["authenticator_clone_suspected"]  # type: ignore[attr-defined]
    [blocked] = asgi_demo.guard.authenticators.of_account("dr.martin", "webauthn")
    assert blocked.state == "clone_suspected"  # the genuine key is blocked too, until an administrator acts
    assert reasons(client.post("/accessguard/step-up/webauthn/begin", json={})) == ["authenticator_unknown"]


def test_equal_counter_is_a_regression_but_zero_counters_are_not(asgi_demo: Demo) -> None:
    counting, counterless = enrolled_key(asgi_demo, "dr.martin"), enrolled_key(asgi_demo, "inf.dubois")
    client = asgi_demo.login("dr.martin", totp=False)
    assert assertion(client, counting, sign_count=5).status_code == 200
    assert reasons(assertion(client, counting, sign_count=5)) == ["authenticator_clone_suspected"]
    other = asgi_demo.login("inf.dubois", totp=False)
    assert assertion(other, counterless, sign_count=0).status_code == 200
    assert assertion(other, counterless, sign_count=0).status_code == 200


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://localhost.evil.example", "http://127.0.0.1", "http://localhost:1", "https://localhost"]
)
def test_wrong_origin_is_refused(asgi_demo: Demo, origin: str) -> None:
    key = enrolled_key(asgi_demo, "dr.martin")
    client = asgi_demo.login("dr.martin", totp=False)
    response = assertion(client, key, origin=origin)
    assert response.status_code == 401
    assert reasons(response) == ["webauthn_invalid"]
    assert "origin" in response.json()["detail"].lower()
    refused = register(open_link(asgi_demo, "inf.dubois"), SoftKey(), origin=origin)
    assert refused.status_code == 400
    assert reasons(refused) == ["webauthn_invalid"]


def test_wrong_rp_id_is_refused(asgi_demo: Demo) -> None:
    key = enrolled_key(asgi_demo, "dr.martin")
    client = asgi_demo.login("dr.martin", totp=False)
    response = assertion(client, key, rp_id="evil.example")
    assert response.status_code == 401
    assert "rp id" in response.json()["detail"].lower()
    refused = register(open_link(asgi_demo, "inf.dubois"), SoftKey(), rp_id="evil.example")
    assert reasons(refused) == ["webauthn_invalid"]


def test_replayed_assertion_is_refused(asgi_demo: Demo) -> None:
    key = enrolled_key(asgi_demo, "dr.martin")
    client = asgi_demo.login("dr.martin", totp=False)
    options = begin(client, "/accessguard/step-up/webauthn/begin")
    answer = key.get(options, ORIGIN)
    assert client.post("/accessguard/step-up/webauthn/complete", json=answer).status_code == 200
    replayed = client.post("/accessguard/step-up/webauthn/complete", json=answer)
    assert replayed.status_code == 400
    assert reasons(replayed) == ["webauthn_no_ceremony"]
    begin(client, "/accessguard/step-up/webauthn/begin")  # a new challenge is pending: the old answer still fails
    stale = client.post("/accessguard/step-up/webauthn/complete", json=answer)
    assert stale.status_code == 401
    assert "challenge" in stale.json()["detail"].lower()


def test_ceremony_state_belongs_to_its_session(asgi_demo: Demo) -> None:
    key = enrolled_key(asgi_demo, "dr.martin")
    victim, thief = asgi_demo.login("dr.martin", totp=False), asgi_demo.login("dr.martin", totp=False)
    options = begin(victim, "/accessguard/step-up/webauthn/begin")
    stolen = thief.post("/accessguard/step-up/webauthn/complete", json=key.get(options, ORIGIN))
    assert reasons(stolen) == ["webauthn_no_ceremony"]


def test_expired_ceremony_is_refused(asgi_demo: Demo) -> None:
    key = enrolled_key(asgi_demo, "dr.martin")
    client = asgi_demo.login("dr.martin", totp=False)
    options = begin(client, "/accessguard/step-up/webauthn/begin")
    asgi_demo.clock.advance(301)
    assert reasons(client.post("/accessguard/step-up/webauthn/complete", json=key.get(options, ORIGIN))) == ["webauthn_no_ceremony"]


def test_revoked_key_stops_at_the_next_ceremony(asgi_demo: Demo) -> None:
    key = enrolled_key(asgi_demo, "dr.martin")
    client = asgi_demo.login("dr.martin", totp=False)
    options = begin(client, "/accessguard/step-up/webauthn/begin")  # begun before the revocation
    [authenticator] = asgi_demo.guard.authenticators.of_account("dr.martin", "webauthn")
    asgi_demo.guard.authenticators.revoke("dr.martin", authenticator.id)
    response = client.post("/accessguard/step-up/webauthn/complete", json=key.get(options, ORIGIN))
    assert response.status_code == 401
    assert reasons(response) == ["authenticator_revoked"]
    assert reasons(client.post("/accessguard/step-up/webauthn/begin", json={})) == ["authenticator_unknown"]


def test_another_accounts_key_is_unknown(asgi_demo: Demo) -> None:
    enrolled_key(asgi_demo, "dr.martin")
    theirs = enrolled_key(asgi_demo, "inf.dubois")
    client = asgi_demo.login("dr.martin", totp=False)
    options = begin(client, "/accessguard/step-up/webauthn/begin")
    options["allowCredentials"] = [{"type": "public-key", "id": next(iter(_ids(theirs)))}]
    response = client.post("/accessguard/step-up/webauthn/complete", json=theirs.get(options, ORIGIN))
    assert reasons(response) == ["authenticator_unknown"]


def test_registered_keys_are_excluded(asgi_demo: Demo) -> None:
    key = enrolled_key(asgi_demo, "dr.martin")
    client = key_session(asgi_demo, "dr.martin", key)
    options = begin(client, "/accessguard/enroll/webauthn/begin")
    assert [c["id"] for c in options["excludeCredentials"]] == list(_ids(key))
    with pytest.raises(ValueError, match="InvalidStateError"):
        key.create(options, ORIGIN)
    second = register(client, SoftKey())
    assert second.status_code == 200
    assert "recovery_codes" not in second.json()  # codes come with the first enrolment only


def test_cross_origin_frame_is_refused(asgi_demo: Demo) -> None:
    client = open_link(asgi_demo, "dr.martin")
    options = begin(client, "/accessguard/enroll/webauthn/begin")
    answer = SoftKey().create(options, ORIGIN)
    client_data = json.loads(base64.urlsafe_b64decode(answer["response"]["clientDataJSON"] + "=="))
    client_data["crossOrigin"] = True
    answer["response"]["clientDataJSON"] = base64.urlsafe_b64encode(json.dumps(client_data).encode()).decode().rstrip("=")
    assert reasons(client.post("/accessguard/enroll/webauthn/complete", json=answer)) == ["webauthn_invalid"]


@pytest.mark.parametrize(
    "body",
    [{}, {"id": "x"}, {"id": "AA", "rawId": "AA", "type": "public-key", "response": {"clientDataJSON": "!!", "attestationObject": "AA"}}],
)
def test_malformed_responses_are_4xx(asgi_demo: Demo, body: dict[str, object]) -> None:
    client = open_link(asgi_demo, "dr.martin")
    begin(client, "/accessguard/enroll/webauthn/begin")
    response = client.post("/accessguard/enroll/webauthn/complete", json=body)
    assert response.status_code == 400
    assert reasons(response) == ["webauthn_invalid"]


def test_host_header_never_chooses_the_relying_party(asgi_demo: Demo) -> None:
    """A request naming evil.example still gets the configured RP id, and a ceremony run for evil.example is refused."""
    evil = {"host": "evil.example"}
    key = enrolled_key(asgi_demo, "dr.martin")
    client = asgi_demo.login("dr.martin", totp=False)
    options = client.post("/accessguard/step-up/webauthn/begin", json={}, headers=evil).json()["publicKey"]
    assert options["rpId"] == "localhost"
    answer = key.get(options, "https://evil.example", rp_id="evil.example")
    phished = client.post("/accessguard/step-up/webauthn/complete", json=answer, headers=evil)
    assert phished.status_code == 401
    assert reasons(phished) == ["webauthn_invalid"]
    assert client.get(BULK_PAGE).status_code == 401  # no phishing-resistant factor was recorded
    enrolling = open_link(asgi_demo, "inf.dubois")
    creation = enrolling.post("/accessguard/enroll/webauthn/begin", json={}, headers=evil).json()["publicKey"]
    assert creation["rp"]["id"] == "localhost"
    refused = enrolling.post(
        "/accessguard/enroll/webauthn/complete",
        json=SoftKey().create(creation, "https://evil.example", rp_id="evil.example"),
        headers=evil,
    )
    assert reasons(refused) == ["webauthn_invalid"]
    assert asgi_demo.guard.authenticators.of_account("inf.dubois", "webauthn") == []


def test_each_credential_keeps_its_relying_party(demo_template: Path, tmp_path: Path) -> None:
    """A key registered for one RP id is not offered, nor accepted, once the guard serves another."""
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    first = make_demo("asgi", data_dir)
    key = enrolled_key(first, "dr.martin")
    [stored] = first.guard.authenticators.of_account("dr.martin", "webauthn")
    assert stored.rp_id == "localhost"
    first.guard.close()
    moved = make_demo("asgi", data_dir, webauthn_rp_id="annuaire.example", webauthn_origins=["https://annuaire.example"])
    try:
        client = moved.login("dr.martin", totp=False)
        response = client.post("/accessguard/step-up/webauthn/begin", json={})
        assert response.status_code == 409
        assert reasons(response) == ["authenticator_unknown"]
        assert key.credentials  # the key still holds its credential for localhost
    finally:
        moved.guard.close()


def test_credentials_from_before_rp_ids_were_stored_are_upgraded(demo_template: Path, tmp_path: Path) -> None:
    """An accounts.db from before rp_id (and schema versions) opens; its keys still work and take the RP id their assertion proves."""
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    first = make_demo("asgi", data_dir)
    key = enrolled_key(first, "dr.martin")
    first.guard.close()
    with closing(sqlite3.connect(data_dir / "accounts.db")) as db:
        db.execute("ALTER TABLE authenticators DROP COLUMN rp_id")
        db.execute("DROP TABLE schema_versions")
        db.commit()
    upgraded = make_demo("asgi", data_dir)
    try:
        [legacy] = upgraded.guard.authenticators.of_account("dr.martin", "webauthn")
        assert legacy.rp_id is None
        assert key_session(upgraded, "dr.martin", key).get(BULK_PAGE).status_code == 200
        [stamped] = upgraded.guard.authenticators.of_account("dr.martin", "webauthn")
        assert stamped.rp_id == "localhost"
    finally:
        upgraded.guard.close()


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"webauthn_rp_id": None}, "webauthn_rp_id"),
        ({"webauthn_rp_id": "10.0.0.1"}, "webauthn_rp_id"),
        ({"webauthn_rp_id": "https://annuaire.example"}, "webauthn_rp_id"),
        ({"webauthn_origins": ()}, "webauthn_origins"),
        ({"webauthn_origins": "http://localhost"}, "webauthn_origins"),
        ({"webauthn_origins": ["http://evil.example"]}, "webauthn_origins"),
        ({"webauthn_origins": ["https://localhost.evil.example"]}, "webauthn_origins"),
        ({"webauthn_origins": ["http://localhost/accessguard"]}, "webauthn_origins"),
        ({"webauthn_origins": ["http://localhost:99999"]}, "webauthn_origins"),
        ({"webauthn_rp_id": "annuaire.example", "webauthn_origins": ["http://annuaire.example"]}, "webauthn_origins"),
    ],
)
def test_relying_party_is_required_configuration(tmp_path: Path, overrides: dict[str, Any], named: str) -> None:
    from accessguard.demo.app import demo_settings
    from accessguard.errors import ConfigurationError
    from accessguard.guard import Guard

    with pytest.raises(ConfigurationError, match=named):
        Guard(demo_settings(tmp_path, **overrides))


def test_configured_origins_are_compared_in_their_serialised_form() -> None:
    from accessguard.authn.webauthn import relying_party

    rp_id, origins = relying_party("Annuaire.Example", ["HTTPS://annuaire.example:443/", "https://pro.annuaire.example:8443"])
    assert rp_id == "annuaire.example"
    assert origins == {"https://annuaire.example", "https://pro.annuaire.example:8443"}


# AAGUID allow-list with attestation (hardware keys only)


@pytest.fixture
def vendor() -> AttestationCA:
    return AttestationCA.create()


@pytest.fixture
def allow_listed(demo_template: Path, tmp_path: Path, vendor: AttestationCA) -> Iterator[tuple[Demo, SoftKey]]:
    """A demo that admits one key model, attested by ``vendor``; and a key of that model."""
    roots = tmp_path / "roots.pem"
    roots.write_bytes(vendor.root.public_bytes(Encoding.PEM))
    model = SoftKey()
    model.attestation = vendor.model_certificate(model.aaguid)
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    demo = make_demo("asgi", data_dir, webauthn_allowed_aaguids=[str(model.aaguid)], webauthn_attestation_roots=[roots])
    yield demo, model
    demo.guard.close()


def test_allow_listed_model_with_attestation_is_admitted(allow_listed: tuple[Demo, SoftKey]) -> None:
    demo, model = allow_listed
    client = open_link(demo, "dr.martin")
    options = begin(client, "/accessguard/enroll/webauthn/begin")
    assert options["attestation"] == "direct"
    response = client.post("/accessguard/enroll/webauthn/complete", json=model.create(options, ORIGIN))
    assert response.status_code == 200, response.text
    assert response.json()["authenticator"]["aaguid"] == str(model.aaguid)


def test_other_model_signed_by_the_same_vendor_is_refused(allow_listed: tuple[Demo, SoftKey], vendor: AttestationCA) -> None:
    demo, _ = allow_listed
    other = SoftKey()
    other.attestation = vendor.model_certificate(other.aaguid)
    response = register(open_link(demo, "dr.martin"), other)
    assert response.status_code == 403
    assert reasons(response) == ["authenticator_not_allowed"]


def test_claimed_aaguid_without_trusted_attestation_is_refused(allow_listed: tuple[Demo, SoftKey]) -> None:
    demo, model = allow_listed
    unattested = SoftKey(aaguid=model.aaguid)  # claims the model, "none" attestation
    assert reasons(register(open_link(demo, "dr.martin"), unattested)) == ["authenticator_not_allowed"]
    forged = SoftKey(aaguid=model.aaguid)
    forged.attestation = AttestationCA.create("Forger Root").model_certificate(model.aaguid)
    assert reasons(register(open_link(demo, "inf.dubois"), forged)) == ["authenticator_not_allowed"]


def _ids(key: SoftKey) -> list[str]:
    return [websafe_encode(c) for c in key.credentials]
