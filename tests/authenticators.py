"""Helpers for the authenticator tests: enrolment links, security-key ceremonies over HTTP, wrong one-time codes."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from accessguard.admin.actions import enrolment_link, password_link
from tests.conftest import Demo
from tests.softkey import SoftKey

ORIGIN = "http://localhost"
BULK_PAGE = "/patients?limit=50"  # above the page size that needs a phishing-resistant factor


def link_url(demo: Demo, username: str, kind: str = "webauthn", ttl_s: int = 3600) -> str:
    return enrolment_link(demo.guard.ceremonies.links, username, kind, ttl_s, ORIGIN, demo.clock(), by="test")


def link_token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def redeem_link(client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """What the button of the link's confirmation page does: POST the token."""
    return client.post("/accessguard/enroll/link", json={"token": link_token(url)}, headers=headers)


def open_link(demo: Demo, username: str, kind: str = "webauthn") -> httpx.Client:
    """A client holding the enrolment-only session an administrator's link opens (opened, then confirmed)."""
    client = demo.client()
    url = link_url(demo, username, kind)
    page = client.get(url.removeprefix(ORIGIN), follow_redirects=False)
    assert page.status_code == 200, page.text
    assert 'id="enrol-link"' in page.text
    response = redeem_link(client, url)
    assert response.status_code == 200, response.text
    assert response.json() == {"next": "/accessguard/enroll"}
    return client


def set_new_password(demo: Demo, username: str, password: str = "a new passphrase, never phished") -> None:
    """What the professional does with an administrator's password link (after a reset): the demo logs in with it from now on."""
    url = password_link(demo.guard.ceremonies.links, username, 3600, ORIGIN, demo.clock(), by="test")
    response = demo.client().post("/accessguard/password/reset", json={"token": link_token(url), "password": password})
    assert response.status_code == 200, response.text
    demo.accounts[username].password = password


def begin(client: httpx.Client, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = client.post(path, json=body or {})
    assert response.status_code == 200, response.text
    options: dict[str, Any] = response.json()["publicKey"]
    return options


def register(client: httpx.Client, key: SoftKey, *, origin: str = ORIGIN, **create: Any) -> httpx.Response:
    options = begin(client, "/accessguard/enroll/webauthn/begin")
    return client.post("/accessguard/enroll/webauthn/complete", json=key.create(options, origin, **create))


def assertion(client: httpx.Client, key: SoftKey, *, origin: str = ORIGIN, **get: Any) -> httpx.Response:
    options = begin(client, "/accessguard/step-up/webauthn/begin")
    return client.post("/accessguard/step-up/webauthn/complete", json=key.get(options, origin, **get))


def enrolled_key(demo: Demo, username: str, **create: Any) -> SoftKey:
    """A software key enrolled for the professional through an administrator's link."""
    key = SoftKey()
    response = register(open_link(demo, username), key, **create)
    assert response.status_code == 200, response.text
    return key


def key_session(demo: Demo, username: str, key: SoftKey) -> httpx.Client:
    """Password, then a security-key step-up with user verification."""
    client = demo.login(username, totp=False)
    response = assertion(client, key)
    assert response.status_code == 200, response.text
    return client


def wrong_code(code: str) -> str:
    """A six-digit code that is not ``code``."""
    return f"{(int(code) + 1) % 1_000_000:06d}"


def reasons(response: httpx.Response) -> list[str]:
    found: list[str] = response.json().get("reasons", [])
    return found
