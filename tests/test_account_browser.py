"""A professional's own page in Debian's Chromium with a CDP virtual security key; axe-core on each state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import Served, admin_cli, axe_violations, log_in, outside, page, requested_urls, served, shots

__all__ = ["page", "served", "shots"]  # fixtures

pytestmark = [pytest.mark.realpart, pytest.mark.slow]


def _announced(page: Any, text: str, kind: str = "ok") -> None:
    page.wait_for_selector(f"#message.{kind}")
    assert text in page.locator("#message").inner_text()
    assert page.evaluate("document.activeElement.id") == "message"  # announced (role=alert) and focused


def test_own_page_notice_revoke_after_key_report_lost_and_not_you(served: Served, page: Any, shots: Path) -> None:
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(admin_cli(served, "enroll-link", "dr.martin", "--base-url", served.base_url).splitlines()[-1])
    page.click("#enrol-link button[type=submit]")
    page.click("#key-register button[type=submit]")
    page.wait_for_selector("#recovery-codes:not([hidden])")
    requested = requested_urls(page)

    page.goto(f"{served.base_url}/accessguard/account")  # the enrolment-only session is no ordinary one: log in first
    page.evaluate("localStorage.clear()")  # as if the key had been added from another browser (an attacker's)
    log_in(page, served, "dr.martin")
    _announced(page, "change(s) to your account since your last visit", "notice")
    assert "A new security key (“security key”) was added" in page.locator("#login-notices").inner_text()
    assert axe_violations(page) == []
    page.screenshot(path=shots / "login-notice.png", full_page=True)
    page.click("text=Review your authenticators and sign-ins")
    page.wait_for_url(f"{served.base_url}/accessguard/account")
    assert "A new security key (“security key”) was added" in page.locator("main .notice").first.inner_text()
    assert page.locator("main tbody tr").filter(has_text="password").count() == 1  # the sign-in just made
    assert axe_violations(page) == []
    page.screenshot(path=shots / "account.png", full_page=True)

    app = page.get_by_role("button", name="Revoke your authenticator app “demo authenticator app”")
    app.click()
    _announced(page, "needs a security key verified in the last 15 minutes", "error")
    page.click("text=Confirm with your security key")
    page.wait_for_url("**/accessguard/step-up?**")
    page.click("#use-key")
    page.wait_for_url(f"{served.base_url}/accessguard/account")
    assert "you may revoke an authenticator" in page.locator("#freshness").inner_text()
    app.click()
    _announced(page, "Revoked 1 authenticator(s) of dr.martin")
    assert app.count() == 0

    page.get_by_role("button", name="Report lost: your security key “security key”, to the administrators").click()
    _announced(page, "The administrators are told")
    assert axe_violations(page) == []

    page.locator("button[data-field=sign_in]").last.click()  # the oldest sign-in: "not you?"
    page.wait_for_url("**/login?next=**")
    _announced(page, "Every session of your account has ended")
    assert axe_violations(page) == []
    log_in(page, served, "dr.martin")  # this browser showed the notice: the login goes straight on
    page.wait_for_url(f"{served.base_url}/accessguard/account")
    assert outside(served, requested) == []
