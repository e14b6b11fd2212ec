"""The step-up dead end and the admin console, in Debian's Chromium with a CDP virtual security key; axe-core on each page."""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import Served, admin_cli, axe_violations, log_in, outside, page, requested_urls, served, shots

__all__ = ["page", "served", "shots"]  # fixtures

pytestmark = [pytest.mark.realpart, pytest.mark.slow]


def _alerts_raised(served: Served, event: str, account: str) -> list[dict[str, Any]]:
    """The outbox alerts of ``event`` for ``account`` (the access log writes them in the background: wait a little)."""
    deadline = time.monotonic() + 10
    while True:
        with closing(sqlite3.connect(served.data_dir / "audit.db")) as db:
            payloads = [json.loads(p) for (p,) in db.execute("SELECT payload FROM alerts")]
        found = [p for p in payloads if event in p.get("reasons", []) and p.get("subject") == account]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_step_up_without_a_security_key_says_so_and_asks_the_administrators(served: Served, page: Any, shots: Path) -> None:
    page.goto(f"{served.base_url}/patients?limit=50")
    log_in(page, served, "dr.martin")
    page.wait_for_url("**/accessguard/step-up?**")
    main = page.locator("main")
    assert "needs a security key" in main.inner_text()
    # the account's authenticator app cannot satisfy this challenge: it is not offered (it was, and looped silently)
    assert page.locator("#totp").count() == 0 and page.locator("#use-key").count() == 0
    assert page.locator("#no-method h2").inner_text() == "Your account has no security key", page.locator("#no-method").inner_text()
    assert axe_violations(page) == []
    page.screenshot(path=shots / "step-up-no-key.png", full_page=True)
    page.click("#request-link")
    page.wait_for_selector("#message.ok")
    assert "sent to the administrators" in page.locator("#message").inner_text()
    assert page.evaluate("document.activeElement.id") == "message"  # announced and focused
    assert page.locator("#request-link").is_disabled()
    (raised,) = _alerts_raised(served, "enrolment_link_requested", "dr.martin")
    assert raised["authenticator_kind"] == "webauthn"


def test_step_up_for_any_second_factor_offers_the_authenticator_app(served: Served, page: Any) -> None:
    page.goto(f"{served.base_url}/patients/pat-0001")
    log_in(page, served, "dr.martin")
    page.wait_for_url("**/accessguard/step-up?**")
    assert page.locator("#totp").count() == 1 and page.locator("#no-method").count() == 0
    assert axe_violations(page) == []


def _admin_in_console(served: Served, page: Any) -> None:
    """The administrator enrols a security key through a link, logs in, steps up with it, and lands on the console."""
    page.goto(admin_cli(served, "enroll-link", "admin", "--base-url", served.base_url).splitlines()[-1])
    page.click("#enrol-link button[type=submit]")
    page.click("#key-register button[type=submit]")
    page.wait_for_selector("#recovery-codes:not([hidden])")
    page.goto(f"{served.base_url}/accessguard/admin")
    log_in(page, served, "admin")
    page.wait_for_url("**/accessguard/step-up?**")
    page.click("#use-key")
    page.wait_for_url(f"{served.base_url}/accessguard/admin")


def _announced(page: Any, text: str) -> None:
    page.wait_for_selector("#message.ok")
    assert text in page.locator("#message").inner_text()
    assert page.evaluate("document.activeElement.id") == "message"


def test_console_search_suspend_link_contain_scope_and_audit(served: Served, page: Any, shots: Path) -> None:
    window = int(time.time())  # after the demo's own enrolments
    time.sleep(1.1)  # enrolment times are whole seconds
    _admin_in_console(served, page)
    requested = requested_urls(page)
    page.on("dialog", lambda dialog: dialog.accept())
    assert axe_violations(page) == []
    page.select_option("select[name=role]", "nurse")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_url("**/accessguard/admin?**role=nurse**")
    assert page.locator("#account-count").inner_text() == "2 of 7 accounts"
    page.screenshot(path=shots / "console-accounts.png", full_page=True)

    page.click("a:has-text('inf.dubois')")
    page.wait_for_url("**/accessguard/admin/account?id=inf.dubois")
    assert axe_violations(page) == []
    assert page.get_by_role("button", name="Revoke authenticator app demo authenticator app").count() == 1
    page.fill("#suspend input[name=reason]", "credentials seen on a phishing page")
    page.get_by_role("button", name="Suspend inf.dubois").click()
    _announced(page, "Suspended inf.dubois")
    assert page.locator("#account-status").inner_text() == "suspended"
    page.get_by_role("button", name="Resume inf.dubois").click()
    _announced(page, "Resumed inf.dubois")

    page.select_option("#link select[name=kind]", "webauthn")
    page.get_by_role("button", name="Issue an enrolment link for inf.dubois").click()
    _announced(page, "One-time link for inf.dubois")
    link = page.locator("#link-result a").get_attribute("href")
    assert link is not None and link.startswith(f"{served.base_url}/accessguard/enroll?token=")
    assert page.locator("#link-result img").evaluate("image => image.complete && image.naturalWidth > 0")
    assert axe_violations(page) == []
    page.screenshot(path=shots / "console-account.png", full_page=True)

    page.get_by_role("button", name="Show the breach scope of inf.dubois").click()
    page.wait_for_url("**/accessguard/admin/scope?**")
    assert "served to inf.dubois" in page.locator("main").inner_text()
    assert axe_violations(page) == []

    page.goto(f"{served.base_url}/accessguard/admin")
    page.fill("#contain input[name=enrolled_after]", str(window))
    page.click("#contain button[type=submit]")
    _announced(page, "Preview: 1 accounts would be contained (admin)")
    assert "Your own account is among them" in page.locator("#contain-preview").inner_text()
    assert axe_violations(page) == []
    page.screenshot(path=shots / "console-contain-preview.png", full_page=True)

    page.goto(f"{served.base_url}/accessguard/admin/audit")
    assert page.locator("#verdict").inner_text().startswith("verified")
    assert "enrolment_link_issued" in page.locator("main").inner_text()
    assert axe_violations(page) == []
    page.screenshot(path=shots / "console-audit.png", full_page=True)

    for path in ("/patients/pat-0001", "/patients?limit=5", "/patients?limit=500"):  # decisions for the dashboard
        page.goto(served.base_url + path)
    page.goto(f"{served.base_url}/accessguard/admin/dashboard")
    charts = page.locator("svg.chart[role=img]")
    assert charts.count() >= 5
    assert "Decisions per hour, last 24 hours: " in (charts.first.get_attribute("aria-label") or "")
    assert axe_violations(page) == []
    page.screenshot(path=shots / "console-dashboard.png", full_page=True)
    assert outside(served, requested) == []


def test_the_demo_landing_page_says_what_it_is_and_leads_into_the_scenario(served: Served, page: Any, shots: Path) -> None:
    response = page.goto(served.base_url + "/")
    assert response is not None and response.status == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
    main = page.locator("main").inner_text()
    assert str(served.data_dir / "demo-accounts.json") in main and "dr.martin" in main
    assert served.accounts["dr.martin"]["password"] not in page.content()  # where the secrets are, never the secrets
    assert axe_violations(page) == []
    page.screenshot(path=shots / "demo-landing.png", full_page=True)
    page.click("text=Ask for a page of 50 patients")
    page.wait_for_url("**/login?next=%2Fpatients%3Flimit%3D50")
    log_in(page, served, "dr.martin")
    page.wait_for_url("**/accessguard/step-up?**methods=webauthn")
