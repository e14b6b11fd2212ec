"""The step-up dead end and the admin console, in Debian's Chromium with a CDP virtual security key; axe-core on each page."""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import Served, axe_violations, log_in, page, served, shots

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
