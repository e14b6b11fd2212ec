"""End to end in headless Chromium (Debian's) driven by Playwright, with a CDP virtual authenticator.

The walk-through of docs/authenticators.md: an administrator's enrolment link,
opened (twice: opening spends nothing) and confirmed with its button, a
security key registered on the enrolment page, log in with the password, the
challenge, the step-up with the key, a page of patients; then an authenticator
app enrolled from its QR code and used for a step-up. With
``ACCESSGUARD_SCREENSHOTS=1`` the screenshots land in docs/images/ for the guide.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyotp
import pytest

from tests.browser_support import Served, admin_cli, body_json, log_in, outside, page, requested_urls, served, shots

__all__ = ["page", "served", "shots"]  # fixtures

pytestmark = [pytest.mark.realpart, pytest.mark.slow]


def test_key_enrolled_from_a_link_then_step_up_reads_patients(served: Served, page: Any, shots: Path) -> None:
    link = admin_cli(served, "enroll-link", "dr.martin", "--base-url", served.base_url).splitlines()[-1]
    requested = requested_urls(page)
    for _ in range(2):  # as a link preview or a mail scanner would: opening the link spends nothing
        page.goto(link)
        assert "lets dr.martin add one security key" in page.locator("main").inner_text()
    page.screenshot(path=shots / "enrol-link-confirm.png", full_page=True)
    page.click("#enrol-link button[type=submit]")
    page.wait_for_url(f"{served.base_url}/accessguard/enroll")
    page.wait_for_selector("#key-register")
    page.screenshot(path=shots / "enrol-link.png", full_page=True)
    page.fill("#key-register input[name=label]", "blue key")
    page.click("#key-register button[type=submit]")
    page.wait_for_selector("#recovery-codes:not([hidden])")
    assert page.locator("#recovery-codes li").count() == 10
    assert "Added “blue key”" in page.locator("#message").inner_text()
    page.screenshot(path=shots / "enrol-key-done.png", full_page=True)

    page.goto(f"{served.base_url}/patients?limit=30")
    assert page.url.startswith(f"{served.base_url}/login?next=")
    log_in(page, served, "dr.martin")
    page.wait_for_url("**/accessguard/step-up?**")
    assert "needs a security key" in page.locator("main").inner_text()
    page.screenshot(path=shots / "step-up.png", full_page=True)
    page.click("#use-key")
    page.wait_for_url(f"{served.base_url}/patients?limit=30")
    assert len(body_json(page)["patients"]) == 30  # above 20 a page needs the key

    # with the security key just verified, the professional may add an authenticator app
    page.goto(f"{served.base_url}/accessguard/enroll")
    page.click("#totp-begin button[type=submit]")
    page.wait_for_selector("#totp-setup:not([hidden])")
    assert page.locator("#totp-qr").evaluate("image => image.complete && image.naturalWidth > 0")
    secret = page.locator("#totp-secret").inner_text()
    page.screenshot(path=shots / "enrol-totp-qr.png", full_page=True)
    app = pyotp.TOTP(secret)
    page.fill("#totp-confirm input[name=code]", app.now())
    page.click("#totp-confirm button[type=submit]")
    page.wait_for_selector("#message.ok")
    assert page.locator("#recovery-codes").is_hidden()  # codes came with the first enrolment only

    page.click("[data-logout]")
    page.wait_for_url("**/login")
    page.goto(f"{served.base_url}/patients/pat-0001")
    log_in(page, served, "dr.martin")
    page.wait_for_url("**/accessguard/step-up?**")
    page.fill("#totp input[name=code]", app.at(time.time() + 30))  # the next time step: the current one was spent confirming
    page.click("#totp button[type=submit]")
    page.wait_for_url(f"{served.base_url}/patients/pat-0001")
    assert body_json(page)["id"] == "pat-0001"
    assert any(url.endswith("/accessguard/assets/accessguard.js") for url in requested)
    assert outside(served, requested) == []


def test_admin_page_after_a_security_key(served: Served, page: Any, shots: Path) -> None:
    for user in ("dr.martin", "admin"):
        page.goto(admin_cli(served, "enroll-link", user, "--base-url", served.base_url).splitlines()[-1])
        page.click("#enrol-link button[type=submit]")
        page.click("#key-register button[type=submit]")
        page.wait_for_selector("#recovery-codes:not([hidden])")
    requested = requested_urls(page)
    page.goto(f"{served.base_url}/accessguard/admin")
    log_in(page, served, "admin")
    page.wait_for_url("**/accessguard/step-up?**")
    page.click("#use-key")
    page.wait_for_url(f"{served.base_url}/accessguard/admin")
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{served.base_url}/accessguard/admin/account?id=dr.martin")
    key_row = page.locator("tr", has_text="security key")
    key_row.locator("button[data-revoke]").click()
    page.wait_for_selector("#message.ok")
    assert page.locator("#message").inner_text().startswith("Revoked 1 authenticator(s) of dr.martin")
    page.wait_for_selector("td.state-revoked")
    assert "revoked" in admin_cli(served, "authenticators", "list", "dr.martin")
    assert any(url.endswith("/accessguard/admin/revoke") for url in requested)
    assert outside(served, requested) == []
