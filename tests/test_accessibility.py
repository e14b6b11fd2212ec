"""Every page template, rendered by the real demo in Debian's Chromium, checked with axe-core (WCAG 2.2 AA).

One walk through the demo reaches each page in each state that shows something new (dead end, link, recovery
codes, QR code, notices, suspended account, open review …) and runs axe there. Each template's output carries
a comment naming it (added by a spy on the template loader, which otherwise renders as served), so the test knows
which templates the checked documents contained: a new template that no page of the walk shows fails it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import urlsplit

import pytest

from accessguard.admin import pages
from accessguard.audit.reviews import declare_emergency
from accessguard.i18n import Language
from tests.browser_support import Served, admin_cli, axe_violations, french_page, log_in, page, served

__all__ = ["french_page", "page", "served"]  # fixtures

pytestmark = [pytest.mark.realpart, pytest.mark.slow]

ROOT = Path(pages.__file__).resolve().parent.parent
TEMPLATES = {p.stem for p in (ROOT / "admin" / "templates").glob("*.html")} | {p.stem for p in (ROOT / "demo" / "templates").glob("*.html")}
#: What the walk clicks by its visible text or accessible name, in each language the pages are written in.
NAMES = {
    "en": {
        "continue": "Continue",
        "close review": "Close review",
        "scope": "Show the breach scope of inf.dubois",
        "suspend": "Suspend inf.dubois",
        "create": "Create the account",
    },
    "fr": {
        "continue": "Continuer",
        "close review": "Clôturer la revue",
        "scope": "Afficher le périmètre de la fuite de inf.dubois",
        "suspend": "Suspendre inf.dubois",
        "create": "Créer le compte",
    },
}
MARK = "accessguard-template:"
MARKS = f"""() => {{
  const walker = document.createTreeWalker(document, NodeFilter.SHOW_COMMENT);
  const found = [];
  while (walker.nextNode()) if (walker.currentNode.data.startsWith("{MARK}")) found.push(walker.currentNode.data.slice({len(MARK)}));
  return found;
}}"""


class Walk:
    """The page under test, and the templates of the documents axe found nothing serious in."""

    def __init__(self, page: Any, served: Served) -> None:
        self.page = page
        self.served = served
        self.checked: set[str] = set()

    def go(self, path: str) -> None:
        self.page.goto(self.served.base_url + path)

    def check(self, what: str) -> None:
        violations = axe_violations(self.page)
        assert violations == [], f"axe on {what} ({self.page.url}): {violations}"
        self.checked |= set(self.page.evaluate(MARKS))
        if urlsplit(self.page.url).path == "/":
            self.checked.add("landing")  # the demo's own page, rendered once at start-up

    def focused(self) -> str:
        return str(self.page.evaluate("document.activeElement.id"))


@pytest.fixture
def marked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each template's output followed by a comment naming it; the rendering is otherwise the real one."""
    loader = pages._template

    @cache
    def marking(name: str, language: Language) -> Template:
        return Template(loader(name, language).template + f"<!--{MARK}{name}-->")

    monkeypatch.setattr(pages, "_template", marking)


@pytest.fixture(params=["en", "fr"])
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_every_page_template_passes_axe_and_focus_follows_what_appears(
    marked: None, served: Served, language: str, request: pytest.FixtureRequest
) -> None:
    """The same walk in an English and in a French browser: translated names and labels must stay accessible too."""
    page = request.getfixturevalue("page" if language == "en" else "french_page")
    name = NAMES[language]
    walk = Walk(page, served)
    page.on("dialog", lambda dialog: dialog.accept())
    walk.go("/")
    walk.check("the demo landing page")
    walk.go("/accessguard/enroll?token=not-a-token")
    walk.check("an enrolment link that is not valid")

    # a doctor with an authenticator app only: the dead end of a security-key request, the pages before a step-up
    walk.go("/patients?limit=50")
    walk.check("the login page")
    log_in(page, served, "dr.martin")
    page.wait_for_url("**/accessguard/step-up?**")
    walk.check("the step-up page without a security key")
    walk.go("/accessguard/enroll")
    walk.check("the enrolment page before a step-up")
    walk.go("/accessguard/account")
    walk.check("the own account page without a fresh security key")

    # an enrolment link: its confirmation, the enrolment page it opens, the recovery codes of a first key
    page.goto(admin_cli(served, "enroll-link", "dr.martin", "--base-url", served.base_url).splitlines()[-1])
    walk.check("the enrolment link's confirmation")
    page.click("#enrol-link button[type=submit]")
    page.wait_for_selector("#key-register")
    walk.check("the enrolment page opened by a link")
    page.click("#key-register button[type=submit]")
    page.wait_for_selector("#recovery-codes:not([hidden])")
    assert walk.focused() == "recovery-codes"  # the codes to write down, after the result was announced
    walk.check("the recovery codes of a first security key")

    # log in again from a browser that has not seen the new key: the notices; then every factor on the step-up page
    walk.go("/patients/pat-0001")
    page.evaluate("localStorage.clear()")
    log_in(page, served, "dr.martin")
    page.wait_for_selector("#login-notices:not([hidden])")
    walk.check("the login page showing what was added lately")
    page.click(f"#login-notices >> text={name['continue']}")
    page.wait_for_url("**/accessguard/step-up?**")
    walk.check("the step-up page with a security key, an app and recovery codes")
    page.click("#use-key")
    page.wait_for_url(f"{served.base_url}/patients/pat-0001")

    walk.go("/accessguard/enroll")
    walk.check("the enrolment page after a security key")
    page.click("#totp-begin button[type=submit]")
    page.wait_for_selector("#totp-setup:not([hidden])")
    assert walk.focused() == "totp-setup"  # the QR code that appeared, not the body (the button it replaced is hidden)
    walk.check("the authenticator app's QR code")
    page.click("#regenerate")
    page.wait_for_selector("#message.ok")
    assert walk.focused() == "recovery-codes"
    walk.check("new recovery codes")
    walk.go("/accessguard/account")
    walk.check("the own account page after a security key")

    # the administrator: a key through a link, the console's pages
    page.goto(admin_cli(served, "enroll-link", "admin", "--base-url", served.base_url).splitlines()[-1])
    page.click("#enrol-link button[type=submit]")
    page.click("#key-register button[type=submit]")
    page.wait_for_selector("#recovery-codes:not([hidden])")
    walk.go("/accessguard/admin")
    log_in(page, served, "admin")
    page.wait_for_url("**/accessguard/step-up?**")
    page.click("#use-key")
    page.wait_for_url(f"{served.base_url}/accessguard/admin")
    walk.check("the console's accounts")
    declare_emergency(served.guard.access_log, "dr.martin", "pat-0042", "unconscious patient", None)
    walk.go("/accessguard/admin/audit")
    assert page.locator("button", has_text=name["close review"]).count() == 1
    assert page.locator("html").get_attribute("lang") == language
    walk.check("the console's access log, reviews and alerts")
    walk.go("/accessguard/admin/dashboard")
    walk.check("the console's dashboard")
    walk.go("/accessguard/admin/account?id=inf.dubois")
    walk.check("the console's page of an active account")
    page.get_by_role("button", name=name["scope"]).click()
    page.wait_for_url("**/accessguard/admin/scope?**")
    walk.check("the console's breach scope")
    walk.go("/accessguard/admin/account?id=inf.dubois")
    page.fill("#suspend input[name=reason]", "credentials seen on a phishing page")
    page.get_by_role("button", name=name["suspend"]).click()
    page.wait_for_selector("#resume")
    walk.check("the console's page of a suspended account")

    # a new account: its password link, then its own page with no authenticator
    walk.go("/accessguard/admin")
    page.fill("#create input[name=account]", "inf.petit")
    page.fill("#create input[name=roles]", "nurse")
    page.get_by_role("button", name=name["create"]).click()
    page.wait_for_selector("#create-result a")
    link = page.locator("#create-result a").get_attribute("href") or ""
    page.click("[data-logout]")
    page.wait_for_url("**/login")
    page.goto(link)
    walk.check("a password link")
    page.fill("#password-reset input[name=password]", "a long new password")
    page.click("#password-reset button[type=submit]")
    page.wait_for_url("**/login")
    walk.go("/accessguard/account")
    page.fill("input[name=username]", "inf.petit")
    page.fill("input[name=password]", "a long new password")
    page.click("#login button[type=submit]")
    page.wait_for_url("**/accessguard/account")
    walk.check("the own account page of an account with no authenticator")

    assert TEMPLATES - walk.checked == set(), "templates no checked page showed"
