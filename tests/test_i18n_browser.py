"""The pages in a French browser (Chromium): login, the step-up dead end, the console, the dashboard and the own page, axe clean."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from accessguard.audit.reviews import declare_emergency
from tests.browser_support import Served, admin_cli, axe_violations, french_page, log_in, served, shots

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


def _announced(page: Any, text: str) -> None:
    page.wait_for_selector("#message.ok")
    assert text in page.locator("#message").inner_text()


def test_console_dashboard_and_own_page_in_french(served: Served, french_page: Any, shots: Path) -> None:
    page = french_page
    window = int(time.time())  # after the demo's own enrolments
    time.sleep(1.1)  # enrolment times are whole seconds
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(admin_cli(served, "enroll-link", "admin", "--base-url", served.base_url).splitlines()[-1])
    page.click("#enrol-link button[type=submit]")
    page.click("#key-register button[type=submit]")
    page.wait_for_selector("#recovery-codes:not([hidden])")
    assert page.locator("#recovery-codes h2").inner_text() == "Vos codes de secours"
    page.goto(f"{served.base_url}/accessguard/admin")
    log_in(page, served, "admin")
    page.wait_for_url("**/accessguard/step-up?**")
    page.click("#use-key")
    page.wait_for_url(f"{served.base_url}/accessguard/admin")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert axe_violations(page) == []

    page.goto(f"{served.base_url}/accessguard/admin/account?id=inf.dubois")
    page.fill("#suspend input[name=reason]", "identifiants vus sur une page d'hameçonnage")
    page.get_by_role("button", name="Suspendre inf.dubois").click()
    _announced(page, "inf.dubois suspendu : sessions terminées : ")  # the action's result, in French
    page.get_by_role("button", name="Rétablir inf.dubois").click()
    _announced(page, "inf.dubois rétabli")
    page.select_option("#link select[name=kind]", "webauthn")
    page.click("#link button[type=submit]")
    _announced(page, "Lien à usage unique pour que inf.dubois ajoute : clé de sécurité")
    assert axe_violations(page) == []
    page.click("#password button[type=submit]")
    _announced(page, "Le mot de passe de inf.dubois ne fonctionne plus")
    page.get_by_role("button", name="Tout révoquer : les authentificateurs de inf.dubois").click()
    _announced(page, "authentificateur(s) de inf.dubois révoqué(s)")
    page.get_by_role("button", name="Afficher le périmètre de la fuite de inf.dubois").click()
    page.wait_for_url("**/accessguard/admin/scope?**")
    assert "fiches d’identité servies à inf.dubois" in page.locator("main").inner_text()  # noqa: RUF001
    assert axe_violations(page) == []

    page.goto(f"{served.base_url}/accessguard/admin")
    page.fill("#contain input[name=enrolled_after]", str(window))
    page.click("#contain button[type=submit]")
    _announced(page, "Aperçu : 1 comptes seraient contenus (admin)")
    assert axe_violations(page) == []
    declare_emergency(served.guard.access_log, "dr.martin", "pat-0042", "patient inconscient", None)
    page.goto(f"{served.base_url}/accessguard/admin/audit")
    assert page.locator("html").get_attribute("lang") == "fr"
    page.fill("form.review-close textarea[name=note]", "appel du SAMU vérifié")
    page.click("form.review-close button[type=submit]")
    _announced(page, "close par admin")
    assert axe_violations(page) == []

    for path in ("/patients/pat-0001", "/patients?limit=5", "/patients?limit=500"):  # decisions for the dashboard
        page.goto(served.base_url + path)
    page.goto(f"{served.base_url}/accessguard/admin/dashboard")
    assert page.locator("#day-heading").inner_text() == "Décisions par heure, dernières 24 heures (Europe/Paris)"
    chart = page.locator("svg.chart[role=img]").first.get_attribute("aria-label") or ""
    assert chart.startswith("Décisions par heure, dernières 24 heures : ") and " autorisées, " in chart, chart
    assert page.locator("#day-heading ~ details th").first.text_content() == "heure (Europe/Paris)"  # in the closed table
    assert axe_violations(page) == []
    page.screenshot(path=shots / "fr-console-dashboard.png", full_page=True)

    page.goto(f"{served.base_url}/accessguard/account")
    assert page.locator("h1").first.inner_text() == "Votre compte"
    assert axe_violations(page) == []
    page.locator("button[data-field=authenticator]").first.click()  # report lost
    _announced(page, "Les administrateurs sont prévenus que votre application d’authentification")  # noqa: RUF001
    page.locator("button[data-field=sign_in]").last.click()  # "not you?"
    page.wait_for_url("**/login?next=**")
    _announced(page, "Toutes les sessions de votre compte sont terminées")
    assert axe_violations(page) == []
