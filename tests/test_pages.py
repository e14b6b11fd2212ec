"""Server-rendered pages: what they show, who may see them, CSRF, and nothing loaded from other hosts."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.authenticators import ORIGIN, enrolled_key, key_session, link_token, link_url, open_link, reasons, redeem_link, register
from tests.conftest import Demo
from tests.softkey import SoftKey

HTML = {"accept": "text/html,application/xhtml+xml"}


def _page(client: httpx.Client, path: str) -> httpx.Response:
    response = client.get(path, headers=HTML, follow_redirects=False)
    if response.status_code < 300 or response.status_code >= 400:
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        _assert_self_contained(response.text)
    return response


def _assert_self_contained(html: str) -> None:
    """Every resource the page names is on this site (or inline data); no inline script."""
    for url in re.findall(r'(?:src|href|action)="([^"]*)"', html):
        assert url.startswith(("/", "data:")) and not url.startswith("//"), url
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", html)  # no inline event handlers


def test_browser_is_sent_to_log_in_then_to_step_up(demo: Demo) -> None:
    client = demo.client()
    response = client.get("/patients?limit=5", headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fpatients%3Flimit%3D5"
    client = demo.login("dr.martin", totp=False)
    response = client.get("/patients?limit=5", headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/accessguard/step-up?next=%2Fpatients%3Flimit%3D5&methods=otp%20webauthn"
    assert client.get("/patients?limit=5").status_code == 401  # an API client still gets the RFC 9470 challenge


def test_login_page(asgi_demo: Demo) -> None:
    response = _page(asgi_demo.client(), "/login?next=/patients/pat-0001")
    assert response.status_code == 200
    assert 'data-next="/patients/pat-0001"' in response.text
    assert 'name="password" type="password"' in response.text
    for hostile in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        assert 'data-next="/"' in _page(asgi_demo.client(), f"/login?next={hostile}").text


def test_assets_are_served_here(asgi_demo: Demo) -> None:
    script = asgi_demo.client().get("/accessguard/assets/accessguard.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "parseRequestOptionsFromJSON" in script.text and "toJSON()" in script.text
    assert not re.search(r"https?://", script.text)
    assert asgi_demo.client().get("/accessguard/assets/accessguard.css").headers["content-type"].startswith("text/css")


def test_step_up_page_offers_what_the_account_has(asgi_demo: Demo) -> None:
    client = asgi_demo.login("dr.martin", totp=False)
    page = _page(client, "/accessguard/step-up?next=/patients/pat-0001").text
    assert 'name="code" inputmode="numeric"' in page
    assert "Use a security key" not in page and "Recovery code" not in page
    enrolled_key(asgi_demo, "dr.martin")  # also issues recovery codes
    page = _page(client, "/accessguard/step-up?next=/patients%3Flimit%3D50&methods=webauthn").text
    assert "Use a security key" in page
    assert "phishing-resistant" in page
    assert 'data-next="/patients?limit=50"' in page
    assert 'id="totp"' not in page and "Recovery code" not in page  # neither can meet a security-key challenge
    page = _page(client, "/accessguard/step-up?next=/patients/pat-0001&methods=otp%20webauthn").text
    assert "Use a security key" in page and 'id="totp"' in page
    assert "Recovery code" in page and "(10 left)" in page


def test_step_up_page_without_a_fitting_factor_offers_to_ask_for_a_link(asgi_demo: Demo) -> None:
    client = asgi_demo.login("dr.martin", totp=False)
    page = _page(client, "/accessguard/step-up?next=/patients%3Flimit%3D50&methods=webauthn").text
    assert "Your account has no security key" in page
    assert 'id="request-link" data-post="/accessguard/enroll/request" data-kind="webauthn"' in page
    asked = client.post("/accessguard/enroll/request", json={"kind": "webauthn"})
    assert asked.status_code == 200 and asked.json()["obligations"] == {"alert": ["enrolment_link_requested"]}
    bad = client.post("/accessguard/enroll/request", json={"kind": "password"})
    assert bad.status_code == 400 and "field 'kind'" in bad.json()["detail"]
    assert asgi_demo.client().post("/accessguard/enroll/request", json={"kind": "totp"}).status_code == 401


def test_step_up_page_without_session_goes_to_log_in(asgi_demo: Demo) -> None:
    response = _page(asgi_demo.client(), "/accessguard/step-up?next=/patients")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_enrol_page_explains_what_a_session_may_add(asgi_demo: Demo) -> None:
    page = _page(asgi_demo.login("dr.martin"), "/accessguard/enroll").text
    assert 'id="totp-begin"' not in page and 'id="key-register"' not in page and 'id="regenerate"' not in page
    assert "Adding a security key needs a security key verified" in page
    assert "Adding an authenticator app needs a security key verified" in page
    linked = _page(open_link(asgi_demo, "inf.dubois"), "/accessguard/enroll").text
    assert "This enrolment link lets <strong>inf.dubois</strong> add one security key" in linked
    assert 'id="key-register"' in linked and 'id="totp-begin"' not in linked


def test_enrolment_link_page_asks_before_spending_the_link(asgi_demo: Demo) -> None:
    url = link_url(asgi_demo, "inf.dubois", "totp")
    page = _page(asgi_demo.client(), url.removeprefix(ORIGIN))
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    assert "lets <strong>inf.dubois</strong> add one authenticator app" in page.text
    assert 'id="enrol-link" data-post="/accessguard/enroll/link" data-go="next"' in page.text
    assert 'data-next="/accessguard/enroll"' in page.text
    for headers in ({"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}):
        forged = redeem_link(asgi_demo.client(), url, headers=headers)
        assert (forged.status_code, reasons(forged)) == (403, ["cross_site_request"])
    assert asgi_demo.client().post("/accessguard/enroll/link", data={"token": link_token(url)}).status_code == 415
    assert redeem_link(asgi_demo.client(), url).status_code == 200  # none of the above spent it
    spent = _page(asgi_demo.client(), url.removeprefix(ORIGIN))
    assert spent.status_code == 410 and "already used" in spent.text


def test_labels_are_escaped(asgi_demo: Demo) -> None:
    client = open_link(asgi_demo, "dr.martin")
    options = client.post("/accessguard/enroll/webauthn/begin", json={"label": '<img src=x onerror="alert(1)">'}).json()
    key = SoftKey()
    assert (
        client.post("/accessguard/enroll/webauthn/complete", json=key.create(options["publicKey"], "http://localhost")).status_code == 200
    )
    page = _page(key_session(asgi_demo, "dr.martin", key), "/accessguard/enroll").text
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert "<img src=x" not in page


# admin


def _admin_with_key(demo: Demo) -> tuple[httpx.Client, SoftKey]:
    key = enrolled_key(demo, "admin")
    return key_session(demo, "admin", key), key


def test_admin_page_needs_admin_role_and_fresh_security_key(asgi_demo: Demo) -> None:
    assert _page(asgi_demo.client(), "/accessguard/admin").status_code == 303
    assert _page(asgi_demo.login("dr.martin"), "/accessguard/admin").status_code == 403
    admin_totp = _page(asgi_demo.login("admin"), "/accessguard/admin")
    assert admin_totp.status_code == 303
    assert admin_totp.headers["location"] == "/accessguard/step-up?next=%2Faccessguard%2Fadmin&methods=webauthn"
    client, _ = _admin_with_key(asgi_demo)
    page = _page(client, "/accessguard/admin")
    assert page.status_code == 200
    for user in ("dr.martin", "inf.dubois", "sec.moreau", "admin"):
        assert f'href="/accessguard/admin/account?id={user}"' in page.text
    asgi_demo.clock.advance(15 * 60 + 1)
    assert _page(client, "/accessguard/admin").status_code == 303


def test_admin_revokes_from_the_page(asgi_demo: Demo) -> None:
    enrolled_key(asgi_demo, "dr.martin")
    client, _ = _admin_with_key(asgi_demo)
    [key] = asgi_demo.guard.authenticators.of_account("dr.martin", "webauthn")
    page = _page(client, "/accessguard/admin/account?id=dr.martin").text
    assert f'data-authenticator="{key.id}" aria-label="Revoke security key security key ({key.id}) of dr.martin"' in page
    response = client.post("/accessguard/admin/revoke", json={"account": "dr.martin", "authenticator": key.id})
    assert response.status_code == 200
    assert response.json() == {"revoked": [key.id], "sessions_ended": 0, "obligations": {"alert": ["authenticator_revoked"]}}
    victim = asgi_demo.login("dr.martin", totp=False)
    assert reasons(victim.post("/accessguard/step-up/webauthn/begin", json={})) == ["authenticator_unknown"]
    assert client.post("/accessguard/admin/revoke", json={"account": "dr.martin", "authenticator": key.id}).status_code == 404
    assert client.post("/accessguard/admin/revoke", json={"account": "nobody", "authenticator": None}).status_code == 404


def test_only_admins_may_revoke(asgi_demo: Demo) -> None:
    key = enrolled_key(asgi_demo, "dr.martin")
    client = key_session(asgi_demo, "dr.martin", key)
    response = client.post("/accessguard/admin/revoke", json={"account": "inf.dubois", "authenticator": None})
    assert response.status_code == 403
    assert reasons(response) == ["admin_required"]
    admin = asgi_demo.login("admin")
    assert reasons(admin.post("/accessguard/admin/revoke", json={"account": "inf.dubois", "authenticator": None})) == [
        "phishing_resistant_required"
    ]


# CSRF


@pytest.mark.parametrize(
    "headers",
    [{"origin": "https://evil.example"}, {"origin": "null"}, {"sec-fetch-site": "cross-site"}, {"sec-fetch-site": "same-site"}],
)
def test_cross_site_posts_are_refused(asgi_demo: Demo, headers: dict[str, str]) -> None:
    client, _ = _admin_with_key(asgi_demo)
    response = client.post("/accessguard/admin/revoke", json={"account": "dr.martin", "authenticator": None}, headers=headers)
    assert response.status_code == 403
    assert reasons(response) == ["cross_site_request"]
    step_up = client.post("/accessguard/step-up/totp", json={"code": asgi_demo.code("admin")}, headers=headers)
    assert reasons(step_up) == ["cross_site_request"]
    assert asgi_demo.guard.authenticators.of_account("dr.martin", states=("active",))


def test_every_post_route_refuses_cross_site_requests(asgi_demo: Demo) -> None:
    """The check sits in front of every guard POST, including routes added later, before any handler runs."""
    client, _ = _admin_with_key(asgi_demo)
    posts = sorted(path for method, path in asgi_demo.guard.endpoints.routes if method == "POST")
    assert {"/accessguard/admin/revoke", "/accessguard/logout", "/accessguard/emergency", "/accessguard/recovery-codes"} <= set(posts)
    for path in posts:
        for headers in ({"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}):
            response = client.post(path, json={"account": "dr.martin", "authenticator": None}, headers=headers)
            assert (response.status_code, reasons(response)) == (403, ["cross_site_request"]), path
    assert client.get("/accessguard/admin", headers=HTML).status_code == 200  # the session survived (logout was refused too)
    assert asgi_demo.guard.authenticators.of_account("dr.martin", states=("active",))


def test_same_origin_posts_pass(asgi_demo: Demo) -> None:
    client, _ = _admin_with_key(asgi_demo)
    headers = {"origin": "http://localhost", "sec-fetch-site": "same-origin"}
    response = client.post("/accessguard/admin/revoke", json={"account": "dr.martin", "authenticator": None}, headers=headers)
    assert response.status_code == 200


def test_form_posts_are_refused(asgi_demo: Demo) -> None:
    client, _ = _admin_with_key(asgi_demo)
    response = client.post("/accessguard/admin/revoke", data={"account": "dr.martin"})
    assert response.status_code == 415
    assert asgi_demo.guard.authenticators.of_account("dr.martin", states=("active",))


def test_enrolment_through_the_page_routes_works_once(asgi_demo: Demo) -> None:
    client = open_link(asgi_demo, "dr.martin")
    assert register(client, SoftKey()).status_code == 200
    assert _page(client, "/accessguard/enroll").status_code == 303  # the link session is over
