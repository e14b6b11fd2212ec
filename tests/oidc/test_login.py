"""Browser login through a real provider (authorization code + PKCE), with the step-up round trip."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

from accessguard.containment import resume, suspend
from accessguard.oidc.settings import OIDCSettings
from tests.conftest import CAEN, Demo
from tests.oidc.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT_URI,
    SCOPES,
    DemoFactory,
    TestProvider,
    oidc_settings,
    query_of,
)
from tests.store_support import store_url
from tests.test_login_races import contain_after_call

pytestmark = pytest.mark.realpart

LOGIN = "/accessguard/oidc/login"
FRESHNESS_READ_S = 43200


@dataclass
class Browser:
    """One user agent: cookies for the service (httpx) and for the provider (requests)."""

    demo: Demo
    provider: TestProvider
    service: httpx.Client
    at_provider: requests.Session

    def login(self, path: str, account: str, amr: str, ts: int | None = None) -> httpx.Response:
        """Start at a login or step-up URL of the service, log in at the provider; the service's answer to the callback."""
        started = self.service.get(path)
        assert started.status_code == 302, started.text
        callback = self.provider.authorize(self.at_provider, started.headers["location"], account, amr, ts)
        assert callback.startswith(REDIRECT_URI), callback
        return self.service.get(callback.removeprefix("http://localhost"))

    def read(self) -> httpx.Response:
        return self.service.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN})


def login_settings(provider: TestProvider) -> OIDCSettings:
    return oidc_settings(
        provider, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=REDIRECT_URI, scopes=tuple(SCOPES.split())
    )


def new_browser(demo: Demo, provider: TestProvider) -> Browser:
    return Browser(demo, provider, demo.client(), requests.Session())


@pytest.fixture
def browser(provider: TestProvider, oidc_demo: DemoFactory) -> Browser:
    return new_browser(oidc_demo(login_settings(provider)), provider)


def test_login_with_a_second_factor_reads_patients(browser: Browser) -> None:
    answer = browser.login(f"{LOGIN}?next=/patients/pat-0001", "ext.nobody", "pwd,mfa")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/patients/pat-0001"
    assert browser.read().status_code == 200
    account = browser.demo.guard.accounts.get("ext.nobody")
    assert account is not None and account.roles == ("doctor",) and account.organisation == "clinique-externe"


def test_authorization_request_uses_pkce_and_asks_for_what_the_policy_wants(browser: Browser) -> None:
    started = browser.service.get(f"{LOGIN}?acr_values=eidas1&max_age=300")
    params = query_of(started.headers["location"])
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert params["acr_values"] == "eidas1" and params["max_age"] == "300"
    assert params["client_id"] == CLIENT_ID and params["nonce"] and params["state"]


def test_step_up_round_trip_through_the_provider(browser: Browser) -> None:
    assert browser.login(LOGIN, "ext.nobody", "pwd").status_code == 303
    refused = browser.read()
    assert refused.status_code == 401
    assert refused.json()["reasons"] == ["mfa_required"]
    assert 'acr_values="eidas1"' in refused.headers["www-authenticate"]
    step_up = refused.json()["step_up"]["url"]
    assert step_up == f"{LOGIN}?acr_values=eidas1"
    password_only = browser.service.cookies["accessguard_session"]
    # The provider's session (password only) does not meet eidas1, so it asks the user to log in again.
    assert browser.login(step_up, "ext.nobody", "pwd,otp").status_code == 303
    assert browser.read().status_code == 200
    old_browser = browser.demo.client()
    old_browser.cookies.set("accessguard_session", password_only)
    replaced = old_browser.get("/patients/pat-0001")
    assert replaced.status_code == 401
    assert replaced.json()["type"] == "urn:accessguard:problem:invalid-session"
    assert replaced.json()["detail"] == "the session has expired or ended; log in again"


def test_step_up_answer_below_the_requested_acr_is_refused(browser: Browser) -> None:
    assert browser.login(LOGIN, "ext.nobody", "pwd").status_code == 303
    step_up = browser.read().json()["step_up"]["url"]
    answer = browser.login(step_up, "ext.nobody", "pwd")  # the user did not use a second factor
    assert answer.status_code == 401
    assert "not one of the requested eidas1" in answer.json()["detail"]
    assert browser.read().status_code == 401  # the earlier session is unchanged: still password only


def test_stale_login_steps_up_with_max_age(browser: Browser) -> None:
    old = int(time.time()) - FRESHNESS_READ_S - 600
    assert browser.login(LOGIN, "ext.nobody", "pwd,mfa", ts=old).status_code == 303
    refused = browser.read()
    assert refused.json()["reasons"] == ["stale_authentication"]
    step_up = refused.json()["step_up"]["url"]
    assert query_of(step_up)["max_age"] == str(FRESHNESS_READ_S)
    # A provider vouching for the same old login does not satisfy max_age.
    answer = browser.login(step_up, "ext.nobody", "pwd,mfa", ts=old)
    assert answer.status_code == 401
    assert "older than the requested max_age" in answer.json()["detail"]
    assert browser.login(step_up, "ext.nobody", "pwd,mfa").status_code == 303
    assert browser.read().status_code == 200


def test_provider_cannot_log_into_a_local_password_account(browser: Browser) -> None:
    answer = browser.login(LOGIN, "dr.martin", "pwd,mfa")
    assert answer.status_code == 403
    assert browser.read().status_code == 401


def test_suspended_provisioned_account_cannot_log_in(browser: Browser) -> None:
    assert browser.login(LOGIN, "ext.nobody", "pwd,mfa").status_code == 303
    browser.demo.guard.accounts.set_status("ext.nobody", "suspended")
    assert browser.read().status_code == 403
    fresh = Browser(browser.demo, browser.provider, browser.demo.client(), requests.Session())
    answer = fresh.login(LOGIN, "ext.nobody", "pwd,mfa")
    assert answer.status_code == 403
    assert answer.json()["reasons"] == ["account_suspended"]


def test_a_suspension_on_another_host_sharing_the_store_refuses_the_login(
    provider: TestProvider, oidc_demo: DemoFactory, redis_server: Any, tmp_path: Path
) -> None:
    url = store_url("redis", tmp_path, redis_server)
    host_a, host_b = (oidc_demo(login_settings(provider), store_url=url) for _ in range(2))
    assert new_browser(host_a, provider).login(LOGIN, "ext.nobody", "pwd,mfa").status_code == 303  # known on host A too
    on_b = new_browser(host_b, provider)
    assert on_b.login(LOGIN, "ext.nobody", "pwd,mfa").status_code == 303
    assert on_b.read().status_code == 200
    guard = host_a.guard
    suspend(guard.accounts, guard.authenticators, guard.store, guard.access_log, "ext.nobody", "phished", operator="soc")
    assert on_b.read().json()["reasons"] == ["account_suspended"]
    answer = new_browser(host_b, provider).login(LOGIN, "ext.nobody", "pwd,mfa")
    assert answer.status_code == 403
    assert answer.json()["reasons"] == ["account_suspended"]
    resume(guard.accounts, guard.store, guard.access_log, "ext.nobody", operator="soc")
    again = new_browser(host_b, provider)
    assert again.login(LOGIN, "ext.nobody", "pwd,mfa").status_code == 303
    assert again.read().status_code == 200


def test_a_suspension_racing_the_callback_leaves_no_session(browser: Browser, monkeypatch: pytest.MonkeyPatch) -> None:
    """The suspension lands after the callback checked the account, before its session starts: the session ends at once."""
    import accessguard.oidc.login

    assert browser.login(LOGIN, "ext.nobody", "pwd,mfa").status_code == 303  # provisioned
    guard = browser.demo.guard

    def suspension() -> None:
        suspend(guard.accounts, guard.authenticators, guard.store, guard.access_log, "ext.nobody", "phished", operator="soc")

    contain_after_call(monkeypatch, accessguard.oidc.login, "is_suspended", suspension)
    fresh = new_browser(browser.demo, browser.provider)
    answer = fresh.login(LOGIN, "ext.nobody", "pwd,mfa")
    assert answer.status_code == 403, answer.text
    assert answer.json()["reasons"] == ["account_suspended"]
    resume(guard.accounts, guard.store, guard.access_log, "ext.nobody", operator="soc")
    assert fresh.read().status_code == 401  # no session slipped through to come back to life


def test_callback_refuses_a_state_it_did_not_issue(browser: Browser) -> None:
    started = browser.service.get(LOGIN)
    callback = browser.provider.authorize(browser.at_provider, started.headers["location"], "ext.nobody", "pwd,mfa")
    forged_state = callback.replace(f"state={query_of(callback)['state']}", "state=attacker-state")
    answer = browser.service.get(forged_state.removeprefix("http://localhost"))
    assert answer.status_code == 400
    assert "state does not match" in answer.json()["detail"]


def test_callback_without_a_login_in_progress_is_refused(browser: Browser) -> None:
    answer = browser.demo.client().get("/accessguard/oidc/callback?code=x&state=y")
    assert answer.status_code == 400
    assert "no login is in progress" in answer.json()["detail"]


def test_forged_code_is_refused_by_the_provider(browser: Browser) -> None:
    started = browser.service.get(LOGIN)
    state = query_of(started.headers["location"])["state"]
    answer = browser.service.get(f"/accessguard/oidc/callback?code=forged&state={state}")
    assert answer.status_code == 401
    assert "invalid_grant" in answer.json()["detail"]


def test_provider_error_is_a_login_failure(browser: Browser) -> None:
    answer = browser.service.get("/accessguard/oidc/callback?error=access_denied&state=x")
    assert answer.status_code == 401
    assert "access_denied" in answer.json()["detail"]


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_next_must_stay_on_this_site(browser: Browser, target: str) -> None:
    answer = browser.service.get(LOGIN, params={"next": target})
    assert answer.status_code == 400


@pytest.mark.parametrize("max_age", ["²", "12³", "-1", "1e3"])
def test_max_age_must_be_ascii_digits(browser: Browser, max_age: str) -> None:
    """A superscript digit passes str.isdigit but not int(): it was a 503 and a traceback."""
    answer = browser.service.get(LOGIN, params={"max_age": max_age})
    assert answer.status_code == 400, answer.text
    assert "max_age" in answer.json()["detail"]
