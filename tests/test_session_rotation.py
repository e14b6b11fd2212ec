"""Each step-up moves the session to a new id: a session id fixed or seen before it never gains the new factor."""

from __future__ import annotations

import httpx
import pytest

from tests.authenticators import ORIGIN, begin, open_link, register
from tests.conftest import Demo
from tests.softkey import SoftKey

COOKIE = "accessguard_session"


def _step_up(demo: Demo, client: httpx.Client, method: str, key: SoftKey, recovery_code: str) -> httpx.Response:
    if method == "totp":
        return client.post("/accessguard/step-up/totp", json={"code": demo.code("dr.martin")})
    if method == "recovery":
        return client.post("/accessguard/step-up/recovery", json={"code": recovery_code})
    options = begin(client, "/accessguard/step-up/webauthn/begin")
    return client.post("/accessguard/step-up/webauthn/complete", json=key.get(options, ORIGIN))


@pytest.mark.parametrize("method", ["totp", "recovery", "webauthn"])
def test_a_step_up_gives_a_new_session_id_and_ends_the_old_one(demo: Demo, method: str) -> None:
    key = SoftKey()
    enrolled = register(open_link(demo, "dr.martin"), key)
    assert enrolled.status_code == 200, enrolled.text
    victim = demo.login("dr.martin", totp=False)
    fixed = victim.cookies[COOKIE]
    attacker = demo.client()
    attacker.cookies.set(COOKIE, fixed)  # an id planted in, or read from, the victim's browser before the step-up
    assert attacker.get("/patients/pat-0001").json()["reasons"] == ["mfa_required"]
    stepped_up = _step_up(demo, victim, method, key, enrolled.json()["recovery_codes"][0])
    assert stepped_up.status_code == 200, stepped_up.text
    assert victim.cookies[COOKIE] != fixed
    assert victim.get("/patients/pat-0001").status_code == 200
    refused = attacker.get("/patients/pat-0001")
    assert refused.status_code == 401
    assert refused.json()["type"] == "urn:accessguard:problem:invalid-session"
    assert attacker.post("/accessguard/step-up/totp", json={"code": demo.code("dr.martin")}).json()["reasons"] == [
        "authentication_required"
    ]
