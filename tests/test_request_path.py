"""The request path end to end, through both middlewares."""

from __future__ import annotations

from tests.conftest import CAEN, LAGOS, LILLE, Demo


def test_unauthenticated_gets_401_with_login(demo: Demo) -> None:
    response = demo.client().get("/patients/pat-0001")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["reasons"] == ["authentication_required"]


def test_password_only_is_challenged_for_mfa(demo: Demo) -> None:
    client = demo.login("dr.martin", totp=False)
    response = client.get("/patients/pat-0001")
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="insufficient_user_authentication"')
    assert 'acr_values="urn:accessguard:acr:mfa' in challenge
    assert response.json()["reasons"] == ["mfa_required"]
    assert response.json()["step_up"]["url"] == "/accessguard/step-up"


def test_totp_step_up_then_read(demo: Demo) -> None:
    client = demo.login("dr.martin")
    response = client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN})
    assert response.status_code == 200
    assert response.json()["id"] == "pat-0001"


def test_lagos_seconds_after_caen_is_impossible_travel(demo: Demo) -> None:
    client = demo.login("dr.martin")
    assert client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN}).status_code == 200
    demo.clock.advance(20)
    response = client.get("/patients/pat-0002", headers={"x-forwarded-for": LAGOS})
    assert response.status_code == 401
    assert "impossible_travel" in response.json()["reasons"]
    assert response.json()["step_up"]["methods"] == ["webauthn"]


def test_caen_to_lille_by_train_is_fine(demo: Demo) -> None:
    """The travel rule lets the train through; Lille is a place never seen for dr.martin, which alone asks for a key (new_place)."""
    client = demo.login("dr.martin")
    assert client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN}).status_code == 200
    demo.clock.advance(4 * 3600)
    response = client.get("/patients/pat-0002", headers={"x-forwarded-for": LILLE})
    assert response.status_code == 401 and response.json()["reasons"] == ["new_place"]
    demo.clock.advance(60)
    assert client.get("/patients/pat-0003", headers={"x-forwarded-for": CAEN}).status_code == 200


def test_paging_through_the_directory_is_stopped(demo: Demo) -> None:
    client = demo.login("inf.dubois")
    served = 0
    for page in range(50):
        response = client.get(f"/patients?limit=20&offset={page * 20}", headers={"x-forwarded-for": CAEN})
        if response.status_code != 200:
            break
        served += len(response.json()["patients"])
    assert response.status_code == 401
    assert response.json()["reasons"] == ["bulk_read_soft_limit"]
    assert 0 < served <= 60


def test_suspended_account_is_denied(demo: Demo) -> None:
    client = demo.login("dr.martin")
    demo.guard.accounts.set_status("dr.martin", "suspended")
    response = client.get("/patients/pat-0001")
    assert response.status_code == 403
    assert response.json()["reasons"] == ["account_suspended"]


def test_unprotected_routes_pass_through(demo: Demo) -> None:
    assert demo.client().get("/healthz").json() == {"status": "ok"}
