"""Each default rule's step_up and deny as answered through both middlewares (RFC 9470 challenge, RFC 9457 problem)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from accessguard.policy.policyset import DEFAULT_POLICY_DIR
from tests.audit_support import session_id
from tests.conftest import CAEN, LAGOS, Demo, _copy_demo, make_demo

TunedDemo = Callable[..., Demo]


@pytest.fixture(params=["asgi", "wsgi"])
def tuned_demo(request: pytest.FixtureRequest, demo_template: Path, tmp_path: Path) -> Iterator[TunedDemo]:
    """Builds the demo behind one middleware on a copy of the default policies with ``config`` values replaced."""
    built: list[Demo] = []

    def tuned(config: dict[str, Any] | None = None, module: str | None = None) -> Demo:
        policies = shutil.copytree(DEFAULT_POLICY_DIR, tmp_path / "policies", ignore=shutil.ignore_patterns("cases"))
        data = json.loads((policies / "data.json").read_text())
        data["accessguard"]["config"].update(config or {})
        (policies / "data.json").write_text(json.dumps(data))
        if module is not None:
            (policies / "accessguard" / "extra.rego").write_text(module)
        demo = make_demo(request.param, _copy_demo(demo_template, tmp_path / "data"), policy_dir=policies)
        built.append(demo)
        return demo

    yield tuned
    for demo in built:
        demo.guard.close()


def _read(client: httpx.Client, path: str = "/patients/pat-0001", where: str = CAEN) -> httpx.Response:
    return client.get(path, headers={"x-forwarded-for": where})


def _assert_problem(response: httpx.Response, status: int, reasons: list[str]) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    document: dict[str, Any] = response.json()
    assert document["status"] == status and document["reasons"] == reasons and document["policy_revision"].startswith("sha256:")
    assert "first_name" not in response.text
    return document


def test_a_stale_factor_is_challenged_with_max_age(tuned_demo: TunedDemo) -> None:
    demo = tuned_demo({"freshness": {"read": 3600, "search": 3600, "export": 900, "default": 3600}})
    client = demo.login("dr.martin")
    assert _read(client).status_code == 200
    demo.clock.advance(3601)
    challenged = _read(client)
    document = _assert_problem(challenged, 401, ["stale_authentication"])
    assert document["step_up"]["max_age"] == 3600
    challenge = challenged.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="insufficient_user_authentication"') and challenge.endswith('max_age="3600"')
    assert client.post("/accessguard/step-up/totp", json={"code": demo.code("dr.martin")}).status_code == 200
    assert _read(client).status_code == 200


def test_a_challenge_without_a_freshness_cause_carries_no_max_age(demo: Demo) -> None:
    challenged = _read(demo.login("dr.martin", totp=False))
    _assert_problem(challenged, 401, ["mfa_required"])
    assert "max_age" not in challenged.headers["www-authenticate"]


def test_a_country_outside_the_list_steps_up_by_default(demo: Demo) -> None:
    challenged = _read(demo.login("dr.martin"), where=LAGOS)  # the first request: no travel, only the country
    assert _assert_problem(challenged, 401, ["country_not_allowed"])["step_up"]["methods"] == ["webauthn"]


def test_a_country_outside_the_list_is_denied_when_data_says_so(tuned_demo: TunedDemo) -> None:
    demo = tuned_demo({"geo": {**_default_config()["geo"], "country_outside_list": "deny"}})
    client = demo.login("dr.martin")
    _assert_problem(_read(client, where=LAGOS), 403, ["country_not_allowed"])
    assert _read(client).status_code == 200  # from Caen, the same session reads


def test_page_sizes(demo: Demo) -> None:
    client = demo.login("dr.martin")
    assert len(_read(client, "/patients?limit=20").json()["patients"]) == 20
    _assert_problem(_read(client, "/patients?limit=21"), 401, ["phishing_resistant_required"])
    _assert_problem(_read(client, "/patients?limit=101"), 403, ["page_too_large"])


def test_a_phishing_resistant_session_reads_100_in_5_minutes_then_meets_the_hard_limit(demo: Demo) -> None:
    client = demo.login("dr.martin")
    demo.guard.store.record_factor(session_id(client), "webauthn", int(demo.clock.now))  # as the WebAuthn ceremony records it
    served = 0
    for offset in (0, 100):
        page = _read(client, f"/patients?limit=100&offset={offset}")
        assert page.status_code == 200, page.text
        served += len(page.json()["patients"])
        demo.clock.advance(20)
    assert served == 200  # a doctor's hard limit is 200 distinct patients a minute
    denied = _read(client, "/patients?limit=100&offset=200")
    _assert_problem(denied, 403, ["bulk_read_hard_limit"])


def test_an_engine_fault_fails_closed(tuned_demo: TunedDemo) -> None:
    """A second ``outcome`` rule conflicts with the policy's ``step_up`` for a password-only session: an evaluation error."""
    demo = tuned_demo(module='package accessguard.policy\n\nimport rego.v1\n\noutcome := "allow" if input.version == 1\n')
    _assert_problem(_read(demo.login("dr.martin", totp=False)), 503, ["policy_error"])


def _default_config() -> dict[str, Any]:
    config: dict[str, Any] = json.loads((DEFAULT_POLICY_DIR / "data.json").read_text())["accessguard"]["config"]
    return config
