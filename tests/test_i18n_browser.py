"""The pages in a French browser (Chromium): login, the step-up dead end and its script's message, axe still clean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import Served, axe_violations, french_page, log_in, served, shots

__all__ = ["french_page", "served", "shots"]  # fixtures

pytestmark = [pytest.mark.realpart, pytest.mark.slow]


def test_login_and_step_up_in_french(served: Served, french_page: Any, shots: Path) -> None:
    page = french_page
    page.goto(f"{served.base_url}/patients?limit=50")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("#login button[type=submit]").inner_text() == "Se connecter"
    assert axe_violations(page) == []
    log_in(page, served, "dr.martin")
    page.wait_for_url("**/accessguard/step-up?**")
    assert page.locator("#no-method h2").inner_text() == "Votre compte n’a pas de clé de sécurité"  # noqa: RUF001
    assert axe_violations(page) == []
    page.screenshot(path=shots / "fr-step-up-no-key.png", full_page=True)
    page.click("#request-link")
    page.wait_for_selector("#message.ok")
    assert "envoyée aux administrateurs" in page.locator("#message").inner_text()  # the script's message, translated
