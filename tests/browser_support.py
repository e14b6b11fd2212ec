"""Real Chromium for page tests: the demo served on loopback, a page with a CDP virtual security key, axe-core.

Shared by the browser tests (``test_browser.py``, ``test_console_browser.py``); import the fixtures by name.
With ``ACCESSGUARD_SCREENSHOTS=1`` screenshots land in docs/images/ for the guides.
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

import pytest
import uvicorn

from accessguard.cli import main
from accessguard.demo.app import build
from accessguard.guard import Guard
from tests.conftest import _accounts, _copy_demo, require_part

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
    guard: Guard  # the demo's own, for what no page does (an emergency declared through the API)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def served(demo_template: Path, tmp_path: Path) -> Iterator[Served]:
    """The demo on a free loopback port, on the real clock, opened as http://localhost:PORT."""
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    port = free_port()
    app, guard = build(data_dir, webauthn_origins=[f"http://localhost:{port}"], public_url=f"http://localhost:{port}")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the demo did not start"
    accounts = {a: vars(p) for a, p in _accounts(data_dir).items()}
    yield Served(f"http://localhost:{server.config.port}", data_dir, accounts, guard)
    server.should_exit = True
    thread.join(10)
    guard.close()


@pytest.fixture
def page() -> Iterator[Any]:
    """A Chromium page in English (the demo's pages default to French) with a virtual CTAP2 security key that verifies its user."""
    yield from _browser_page("en-GB")


@pytest.fixture
def french_page() -> Iterator[Any]:
    """The same in a French browser (``Accept-Language: fr-FR``)."""
    yield from _browser_page("fr-FR")


def _browser_page(locale: str) -> Iterator[Any]:
    require_part(Path(CHROMIUM).exists() and shutil.which("chromium") is not None, "Debian's chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_part(False, "playwright (PyPI)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1000, "height": 760}, locale=locale)
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


def admin_cli(served: Served, *args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["admin", *args, "--data-dir", str(served.data_dir)]) == 0
    return out.getvalue()


def log_in(page: Any, served: Served, username: str) -> None:
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", served.accounts[username]["password"])
    page.click("#login button[type=submit]")


def body_json(page: Any) -> Any:
    return json.loads(page.locator("body").inner_text())


def requested_urls(page: Any) -> list[str]:
    """Every URL the page asks for from now on (documents, scripts, styles, images, fetches)."""
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def outside(served: Served, urls: list[str]) -> list[str]:
    """The URLs that are neither this site nor inline data: pages must load nothing from other hosts."""
    assert urls, "no request was seen"
    return [url for url in urls if not url.startswith((served.base_url + "/", "data:"))]


AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """The serious and critical axe-core violations (WCAG 2.x A and AA rules) on the page as it is now.

    Label in name (WCAG 2.5.3), experimental in axe and so off by default, is on: a button's accessible name must
    contain its visible text, or speech users cannot click it by what they see.

    axe is added through CDP (``add_script_tag`` would be refused by the pages' CSP, which stays as served).
    """
    require_part(AXE.is_file(), "axe-core (npm ci in tests/axe)")
    page.evaluate(AXE.read_text())
    result = page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'],"
        " rules: {'label-content-name-mismatch': {enabled: true}}})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]
