"""Creating and importing accounts in the admin console, in Debian's Chromium; axe-core on each state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import Served, axe_violations, page, served, shots
from tests.test_console_browser import _admin_in_console, _announced

__all__ = ["page", "served", "shots"]  # fixtures

pytestmark = [pytest.mark.realpart, pytest.mark.slow]


def test_console_creates_an_account_and_imports_a_csv_after_a_preview(served: Served, page: Any, shots: Path) -> None:
    _admin_in_console(served, page)
    page.on("dialog", lambda dialog: dialog.accept())
    page.fill("#create input[name=account]", "inf.petit")
    page.fill("#create input[name=roles]", "nurse")
    page.fill("#create input[name=organisation]", "chu-caen")
    page.get_by_role("button", name="Create the account").click()
    _announced(page, "Created inf.petit")
    assert (page.locator("#create-result a").get_attribute("href") or "").startswith(f"{served.base_url}/accessguard/password/reset?token=")

    csv = "username,kind,roles,organisation\ndr.roux,professional,doctor,chu-caen\n"
    page.fill("#import textarea[name=csv]", csv + "inf.petit,professional,nurse,\n")
    page.get_by_role("button", name="Preview the import").click()
    page.wait_for_selector("#message.error")
    assert "line 3: an account inf.petit exists already" in page.locator("#message").inner_text()
    assert page.evaluate("document.activeElement.id") == "message"
    assert page.get_by_role("button", name="Create 1 accounts").count() == 0  # nothing to confirm while a line is wrong

    page.fill("#import textarea[name=csv]", csv)
    page.get_by_role("button", name="Preview the import").click()
    _announced(page, "Preview: 1 account(s) to create")
    page.get_by_role("button", name="Create 1 accounts").click()
    _announced(page, "Accounts created: 1.")
    assert page.locator("#import-preview img[alt='QR code of the password link for dr.roux']").count() == 1
    assert axe_violations(page) == []
    page.screenshot(path=shots / "console-import.png", full_page=True)
