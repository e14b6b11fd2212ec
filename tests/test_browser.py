"""End to end in headless Chromium (Debian's) driven by Playwright, with a CDP virtual authenticator.

The walk-through of docs/authenticators.md: an administrator's enrolment link,
opened (twice: opening spends nothing) and confirmed with its button, a
security key registered on the enrolment page, log in with the password, the
challenge, the step-up with the key, a page of patients; then an authenticator
app enrolled from its QR code and used for a step-up. With
``ACCESSGUARD_SCREENSHOTS=1`` the screenshots land in docs/images/ for the guide.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
import uvicorn

from accessguard.cli import main
from accessguard.demo.app import build
from tests.conftest import _accounts, _copy_demo, require_part

pytestmark = [pytest.mark.realpart, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
#: As root Chromium needs --no-sandbox; the networking flags keep it from calling outside hosts.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
DOC_IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"


@dataclass
class Served:
    base_url: str
    data_dir: Path
    accounts: dict[str, Any]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def served(demo_template: Path, tmp_path: Path) -> Iterator[Served]:
    """The demo on a free loopback port, on the real clock, opened as http://localhost:PORT."""
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    port = _free_port()
    app, guard = build(data_dir, webauthn_origins=[f"http://localhost:{port}"])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the demo did not start"
    yield Served(f"http://localhost:{server.config.port}", data_dir, {a: vars(p) for a, p in _accounts(data_dir).items()})
    server.should_exit = True
    thread.join(10)
    guard.close()


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    """A Chromium page with a virtual CTAP2 security key that verifies its user."""
    require_part(Path(CHROMIUM).exists() and shutil.which("chromium") is not None, "Debian's chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_part(False, "playwright (PyPI)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1000, "height": 760})
        page = context.new_page()
        page.set_default_timeout(15_000)
        cdp = context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "usb",
                    "hasResidentKey": False,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                    "automaticPresenceSimulation": True,
                }
            },
        )
        yield page
        browser.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    if os.environ.get("ACCESSGUARD_SCREENSHOTS") == "1":
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        return DOC_IMAGES
    return tmp_path


def _admin_cli(served: Served, *args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["admin", *args, "--data-dir", str(served.data_dir)]) == 0
    return out.getvalue()


def _log_in(page: Any, served: Served, username: str) -> None:
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", served.accounts[username]["password"])
    page.click("#login button[type=submit]")


def _body_json(page: Any) -> Any:
    return json.loads(page.locator("body").inner_text())


def _requested_urls(page: Any) -> list[str]:
    """Every URL the page asks for from now on (documents, scripts, styles, images, fetches)."""
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def _outside(served: Served, urls: list[str]) -> list[str]:
    """The URLs that are neither this site nor inline data: pages must load nothing from other hosts."""
    assert urls, "no request was seen"
    return [url for url in urls if not url.startswith((served.base_url + "/", "data:"))]


def test_key_enrolled_from_a_link_then_step_up_reads_patients(served: Served, page: Any, shots: Path) -> None:
    link = _admin_cli(served, "enroll-link", "dr.martin", "--base-url", served.base_url).splitlines()[-1]
    requested = _requested_urls(page)
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
    _log_in(page, served, "dr.martin")
    page.wait_for_url("**/accessguard/step-up?**")
    assert "needs a security key" in page.locator("main").inner_text()
    page.screenshot(path=shots / "step-up.png", full_page=True)
    page.click("#use-key")
    page.wait_for_url(f"{served.base_url}/patients?limit=30")
    assert len(_body_json(page)["patients"]) == 30  # above 20 a page needs the key

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
    _log_in(page, served, "dr.martin")
    page.wait_for_url("**/accessguard/step-up?**")
    page.fill("#totp input[name=code]", app.at(time.time() + 30))  # the next time step: the current one was spent confirming
    page.click("#totp button[type=submit]")
    page.wait_for_url(f"{served.base_url}/patients/pat-0001")
    assert _body_json(page)["id"] == "pat-0001"
    assert any(url.endswith("/accessguard/assets/accessguard.js") for url in requested)
    assert _outside(served, requested) == []


def test_admin_page_after_a_security_key(served: Served, page: Any, shots: Path) -> None:
    for user in ("dr.martin", "admin"):
        page.goto(_admin_cli(served, "enroll-link", user, "--base-url", served.base_url).splitlines()[-1])
        page.click("#enrol-link button[type=submit]")
        page.click("#key-register button[type=submit]")
        page.wait_for_selector("#recovery-codes:not([hidden])")
    requested = _requested_urls(page)
    page.goto(f"{served.base_url}/accessguard/admin")
    _log_in(page, served, "admin")
    page.wait_for_url("**/accessguard/step-up?**")
    page.click("#use-key")
    page.wait_for_url(f"{served.base_url}/accessguard/admin")
    page.screenshot(path=shots / "admin.png", full_page=True)
    page.on("dialog", lambda dialog: dialog.accept())
    key_row = page.locator("section", has=page.locator("h2", has_text="dr.martin")).locator("tr", has_text="security key")
    key_row.locator("button[data-revoke]").click()
    page.wait_for_load_state("load")
    page.wait_for_selector("section:has(h2:has-text('dr.martin')) td.state-revoked")
    assert "revoked" in _admin_cli(served, "authenticators", "list", "dr.martin")
    assert any(url.endswith("/accessguard/admin/revoke") for url in requested)
    assert _outside(served, requested) == []
