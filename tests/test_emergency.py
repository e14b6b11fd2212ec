"""Break-the-glass: a declared emergency, after a phishing-resistant step-up, opens one patient for a time, under review."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from accessguard.policy.policyset import DEFAULT_POLICY_DIR
from tests.audit_support import run_cli, session_id
from tests.conftest import CAEN, Demo, _copy_demo, make_demo

EMERGENCY = "/accessguard/emergency"
REASON = "patient unconscious in the emergency department, no relative reachable"


@pytest.fixture
def strict_demo(demo_template: Path, tmp_path: Path) -> Iterator[Demo]:
    """The demo with a doctor's hard limit at 4 distinct patients a day, so it is reached at once."""
    policies = shutil.copytree(DEFAULT_POLICY_DIR, tmp_path / "policies")
    data = json.loads((policies / "data.json").read_text())
    data["accessguard"]["config"]["bulk_reads"]["roles"]["doctor"] = {"soft": {"24h": 100}, "hard": {"24h": 4}}
    (policies / "data.json").write_text(json.dumps(data))
    demo = make_demo("asgi", _copy_demo(demo_template, tmp_path / "data"), policy_dir=policies)
    yield demo
    demo.guard.close()


def _webauthn(demo: Demo, client: httpx.Client) -> None:
    """A phishing-resistant factor verified now, recorded as the WebAuthn ceremony records it."""
    demo.guard.store.record_factor(session_id(client), "webauthn", int(demo.clock.now))


def _read(client: httpx.Client, patient: str) -> httpx.Response:
    return client.get(f"/patients/{patient}", headers={"x-forwarded-for": CAEN})


def _declare(client: httpx.Client, patient: str) -> httpx.Response:
    return client.post(EMERGENCY, json={"reason": REASON, "patient": patient}, headers={"x-forwarded-for": CAEN})


def _reviews(demo: Demo, *extra: str) -> list[dict[str, object]]:
    demo.guard.access_log.flush()
    code, out, err = run_cli("audit", "reviews", "list", "--data-dir", str(demo.guard.settings.data_dir), "--format", "json", *extra)
    assert code == 0, err
    reviews: list[dict[str, object]] = json.loads(out)
    return reviews


def test_declaring_needs_a_fresh_phishing_resistant_factor(strict_demo: Demo) -> None:
    doctor = strict_demo.login("dr.martin")
    response = _declare(doctor, "pat-0100")
    assert response.status_code == 401
    assert response.json()["reasons"] == ["phishing_resistant_required"]
    assert 'acr_values="urn:accessguard:acr:phishing-resistant"' in response.headers["www-authenticate"]
    _webauthn(strict_demo, doctor)
    strict_demo.clock.advance(901)  # cfg.phishing_resistant.max_age has passed
    assert _declare(doctor, "pat-0100").status_code == 401
    assert _reviews(strict_demo) == []


def test_break_the_glass_opens_one_patient_for_a_time_under_review(strict_demo: Demo) -> None:
    demo = strict_demo
    doctor = demo.login("dr.martin")
    _webauthn(demo, doctor)
    for n in range(1, 5):
        assert _read(doctor, f"pat-000{n}").status_code == 200
    refused = _read(doctor, "pat-0100")
    assert refused.status_code == 403 and refused.json()["reasons"] == ["bulk_read_hard_limit"]

    declared = _declare(doctor, "pat-0100")
    assert declared.status_code == 201, declared.text
    assert declared.json()["review"] == "pending" and declared.json()["patient"] == "pat-0100"
    assert _read(doctor, "pat-0100").status_code == 200
    assert _read(doctor, "pat-0101").status_code == 403  # only the declared patient
    assert doctor.get("/patients?limit=1", headers={"x-forwarded-for": CAEN}).status_code == 403  # not a search

    thief = demo.login("dr.martin")  # the stolen password and TOTP, without the security key
    assert _read(thief, "pat-0100").status_code == 403

    [review] = _reviews(demo)
    assert (review["id"], review["subject"], review["patient"], review["accesses"]) == (
        declared.json()["declaration"],
        "dr.martin",
        "pat-0100",
        1,
    )
    assert review["reason"] == REASON and review["closed_at"] is None

    demo.clock.advance(4 * 3600 + 1)  # past cfg.emergency.duration_s
    _webauthn(demo, doctor)
    assert _read(doctor, "pat-0100").status_code == 403


def test_closing_a_review_ends_the_emergency_and_is_chained(strict_demo: Demo) -> None:
    demo = strict_demo
    doctor = demo.login("dr.martin")
    _webauthn(demo, doctor)
    for n in range(1, 5):
        assert _read(doctor, f"pat-000{n}").status_code == 200
    declaration = _declare(doctor, "pat-0101").json()["declaration"]
    assert _read(doctor, "pat-0101").status_code == 200
    data_dir = str(demo.guard.settings.data_dir)
    code, out, _ = run_cli(
        "audit", "reviews", "close", declaration, "--data-dir", data_dir, "--note", "justified: ER admission 02:14", "--by", "dpo"
    )
    assert code == 0 and "closed by dpo" in out
    assert _read(doctor, "pat-0101").status_code == 403
    assert _reviews(demo) == []
    [closed] = _reviews(demo, "--all")
    assert closed["closed_by"] == "dpo" and closed["note"] == "justified: ER admission 02:14"
    assert run_cli("audit", "reviews", "close", declaration, "--data-dir", data_dir, "--note", "again")[0] == 2
    code, out, _ = run_cli("audit", "verify", "--data-dir", data_dir)
    assert code == 0, out


def test_emergency_allows_carry_the_review_obligation_in_the_log(strict_demo: Demo) -> None:
    demo = strict_demo
    doctor = demo.login("dr.martin")
    _webauthn(demo, doctor)
    declaration = _declare(doctor, "pat-0100").json()["declaration"]
    assert _read(doctor, "pat-0100").status_code == 200
    demo.guard.access_log.flush()
    with sqlite3.connect(demo.guard.access_log.location) as db:
        details = [json.loads(d) for (d,) in db.execute("SELECT detail FROM entries WHERE kind = 'decision' ORDER BY seq")]
    last = details[-1]
    assert last["outcome"] == "allow" and last["reasons"] == ["emergency_access"]
    assert last["obligations"] == {"review": ["emergency_access"]} and last["emergency"] == declaration


def test_refusals(strict_demo: Demo) -> None:
    anonymous = strict_demo.client()
    assert _declare(anonymous, "pat-0100").status_code == 401
    doctor = strict_demo.login("dr.martin")
    _webauthn(strict_demo, doctor)
    assert doctor.post(EMERGENCY, content=b"reason=x", headers={"content-type": "text/plain"}).status_code == 415
    assert doctor.post(EMERGENCY, json={"reason": "because", "patient": "pat-0100"}).status_code == 400
    assert doctor.post(EMERGENCY, json={"reason": REASON}).status_code == 400
    strict_demo.guard.accounts.set_status("dr.martin", "suspended")
    response = _declare(doctor, "pat-0100")
    assert response.status_code == 403 and response.json()["reasons"] == ["account_suspended"]
    assert _reviews(strict_demo) == []
