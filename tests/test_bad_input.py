"""Malformed input from outside gets a clear 4xx, never a 500 and never an allow."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import Demo


@pytest.mark.parametrize(
    ("query", "status", "fragment"),
    [
        ("limit=abc", 400, "non-negative integer"),
        ("limit=-5", 400, "non-negative integer"),
        ("limit=1e3", 400, "non-negative integer"),
        ("limit=99999999999", 400, "too large"),
        ("limit=%ff%fe", 400, "UTF-8"),
        ("limit=1&limit=1000", 400, "given 2 times"),  # the app might read the value the guard did not count
        ("limit=20&q=a&limit=20", 400, "give it once"),
        ("q=" + "x" * 5000, 414, "longer than"),
    ],
)
def test_bad_query_is_rejected_before_the_app(demo: Demo, query: str, status: int, fragment: str) -> None:
    client = demo.login("dr.martin")
    response = client.get(f"/patients?{query}")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert fragment in response.json()["detail"]


@pytest.mark.parametrize(
    "cookie",
    [
        "accessguard_session=garbage",
        "accessguard_session=abc.def",
        "accessguard_session=" + "A" * 5000,
        "accessguard_session=.",
        'accessguard_session="\x01\x02"',
    ],
)
def test_forged_or_garbage_cookie_is_401(demo: Demo, cookie: str) -> None:
    response = demo.client().get("/patients/pat-0001", headers={"cookie": cookie})
    assert response.status_code == 401
    assert "session" in response.json()["detail"]


def test_cookie_signed_for_another_session_id_is_refused(demo: Demo) -> None:
    client = demo.login("dr.martin")
    value = next(iter(client.cookies.values()))
    session_id, signature = value.split(".")
    forged = f"{session_id[:-1]}{'A' if session_id[-1] != 'A' else 'B'}.{signature}"
    response = demo.client().get("/patients/pat-0001", headers={"cookie": f"accessguard_session={forged}"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("forwarded", "status"),
    [
        ("not-an-ip", 400),
        ("1.2.3.4.5, ::::", 400),
        (", , ,", 400),
        ("192.0.2.1, " * 500, 400),  # the trailing hop is empty
        ("192.0.2.1, " * 500 + "192.0.2.1", 200),  # only the last 32 hops are read
        ("[::1]:80", 200),
        ("2001:db8::1%eth0", 200),
    ],
)
def test_garbage_forwarded_for_is_a_client_error(demo: Demo, forwarded: str, status: int) -> None:
    """A malformed hop from a trusted proxy is a 400 naming it (issue 11, item 10), never a 500 or a read on the proxy's address."""
    client = demo.login("dr.martin")
    response = client.get("/patients/pat-0001", headers={"x-forwarded-for": forwarded})
    assert response.status_code == status, response.text
    if status == 400:
        assert "not an IP address" in response.json()["detail"]


def test_non_ascii_header_bytes_never_break_a_request(asgi_demo: Demo) -> None:
    client = asgi_demo.login("dr.martin")
    response = client.get("/patients/pat-0001", headers={"x-forwarded-for": b"\xff\xfe", "user-agent": b"\x80\x81"})
    assert response.status_code == 400  # the hop is not an address
    assert client.get("/patients/pat-0001", headers={"user-agent": b"\x80\x81"}).status_code == 200


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b'{"username": 1, "password": "x"}', "application/json", 400),
        (b'{"username": "dr.martin"}', "application/json", 400),
        (b"username=dr.martin&password=x", "application/x-www-form-urlencoded", 415),
        (b'{"username": "' + b"a" * 20000 + b'", "password": "x"}', "application/json", 413),
        (b"\xff\xfe\x00", "application/json", 400),
    ],
)
def test_malformed_login_bodies(demo: Demo, body: bytes, content_type: str, status: int) -> None:
    response = demo.client().post("/login", content=body, headers={"content-type": content_type})
    assert response.status_code == status
    assert response.json()["detail"]
    assert "set-cookie" not in response.headers


def test_wrong_method_on_a_guard_route_is_405(demo: Demo) -> None:
    response = demo.client().get("/accessguard/logout")  # GET /login is the login page
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert demo.client().delete("/login").headers["allow"] == "GET, POST"


def test_wrong_password_and_unknown_user_look_the_same(demo: Demo) -> None:
    wrong = demo.client().post("/login", json={"username": "dr.martin", "password": "nope"})
    unknown = demo.client().post("/login", json={"username": "nobody", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]


def test_malformed_step_up_body(demo: Demo) -> None:
    client = demo.login("dr.martin", totp=False)
    for body in (b"{", b'{"code": 123456}', b'{"code": ""}'):
        response = client.post("/accessguard/step-up/totp", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, body
    assert client.get("/patients/pat-0001").status_code == 401


def test_an_unexpected_error_in_the_guard_fails_closed(demo: Demo, caplog: pytest.LogCaptureFixture) -> None:
    """A bug (here: the geo locator raising TypeError) must give a 503, never the app's data and never a 500."""
    client = demo.login("dr.martin")

    def broken(address: object) -> object:
        raise TypeError("simulated bug")

    demo.guard.geo.locate = broken  # type: ignore[method-assign,assignment]
    response = client.get("/patients/pat-0001")
    assert response.status_code == 503
    assert "pat-0001" not in response.text
    assert "simulated bug" not in response.text
    assert "failed closed on an unexpected error" in caplog.text


def test_cookies_split_over_several_header_fields_are_joined(asgi_demo: Demo) -> None:
    client = asgi_demo.login("dr.martin")
    session = next(iter(client.cookies.values()))
    fresh = asgi_demo.client()
    headers = [("cookie", f"accessguard_session={session}"), ("cookie", "theme=dark"), ("x-forwarded-for", "192.0.2.10")]
    response = fresh.get("/patients/pat-0001", headers=headers)
    assert response.status_code == 200


def test_a_browser_with_a_dead_session_is_sent_to_the_login_page(demo: Demo) -> None:
    response = demo.client().get(
        "/patients/pat-0001?x=1", headers={"cookie": "accessguard_session=garbage.sig", "accept": "text/html"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_head_on_a_protected_route_is_decided_like_get(demo: Demo) -> None:
    """Frameworks answer HEAD with the GET handler: its status would tell an anonymous caller which patients exist."""
    anonymous = demo.client()
    assert anonymous.head("/patients/pat-0001").status_code == 401
    assert anonymous.head("/patients/no-such-patient").status_code == 401
    assert anonymous.head("/patients?limit=100").status_code == 401
    assert demo.login("dr.martin").head("/patients/pat-0001").status_code == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND", "X-GARBAGE"])
@pytest.mark.parametrize("path", ["/patients/pat-0001", "/patients?limit=5"])
def test_a_method_no_route_declares_never_reaches_the_app(demo: Demo, method: str, path: str) -> None:
    """Nothing decided such a request, so it must not reach the app (the WSGI directory would answer any method)."""
    for client in (demo.client(), demo.login("dr.martin")):
        response = client.request(method, path)
        assert response.status_code == 405, (method, path, response.text)
        assert response.headers["allow"] == "GET, HEAD"
        assert response.headers["content-type"] == "application/problem+json"
        assert "pat-0001" not in response.text and "patients" not in response.json()


_BAD_VALUES = {
    "a 5,000-digit number": (b"9" * 5000, "more than 40 digits"),
    "arrays nested 8,000 deep": (b"[" * 8000 + b"]" * 8000, "levels deep"),
    "a lone surrogate": (b'"x\\ud800"', "lone surrogate (U+D800)"),
    "a NUL": (b'"x\\u0000y"', "NUL"),
    "a control character": (b'"x\\u001by"', "U+001B"),
}
_GUARD_ROUTES = {  # route: the field the bad value goes into
    "/login": "username",
    "/accessguard/step-up/totp": "code",
    "/accessguard/step-up/recovery": "code",
    "/accessguard/emergency": "reason",
}


@pytest.mark.parametrize("route", sorted(_GUARD_ROUTES))
@pytest.mark.parametrize("bad", sorted(_BAD_VALUES))
def test_bad_json_on_every_guard_route_is_a_400_naming_it_without_a_traceback(
    demo: Demo, route: str, bad: str, caplog: pytest.LogCaptureFixture
) -> None:
    """These used to be 503s with a logged traceback (ValueError, RecursionError, UnicodeEncodeError in the store)."""
    raw, fragment = _BAD_VALUES[bad]
    field = _GUARD_ROUTES[route]
    client = demo.client() if route == "/login" else demo.login("dr.martin", totp="enroll" in route)
    caplog.clear()
    body = b'{"' + field.encode() + b'": ' + raw + b', "password": "x", "patient": "pat-0001"}'
    response = client.post(route, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    assert fragment in detail
    if bad in ("a lone surrogate", "a NUL", "a control character"):
        assert repr(field) in detail  # names the field
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], caplog.text
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("value", [[], {}, ["webauthn"], {"kind": "webauthn"}])
@pytest.mark.parametrize(
    ("route", "field"),
    [
        ("/accessguard/enroll/request", "kind"),
        ("/accessguard/account/report-lost", "authenticator"),
        ("/accessguard/account/not-me", "sign_in"),
    ],
)
def test_an_array_or_object_where_a_value_belongs_is_a_400_naming_the_field(asgi_demo: Demo, route: str, field: str, value: object) -> None:
    """What any session may send (the password alone): "ask for an enrolment link" looked a list up in a dict (503, a fault)."""
    response = asgi_demo.login("dr.martin", totp=False).post(route, json={field: value})
    assert response.status_code == 400 and f"field {field!r}" in response.json()["detail"], response.text


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("dr.martin\n", "U+000A"), ("dr.martin\u2028", "U+2028"), ("a" * 300, "at most 256")],
)
def test_one_line_fields_refuse_line_breaks_and_overlong_text(demo: Demo, value: str, fragment: str) -> None:
    response = demo.client().post("/login", json={"username": value, "password": "x"})
    assert response.status_code == 400 and fragment in response.json()["detail"] and "'username'" in response.json()["detail"]


def test_a_path_parameter_that_is_not_text_is_a_400(demo: Demo, caplog: pytest.LogCaptureFixture) -> None:
    response = demo.login("dr.martin").get("/patients/pat-0001%00")
    assert response.status_code == 400 and "NUL" in response.json()["detail"]
    assert "Traceback" not in caplog.text
