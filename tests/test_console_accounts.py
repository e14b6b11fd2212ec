"""Creating and importing accounts in the admin console, through the real middleware: per-line errors, preview then
confirm, a one-time password link per account, each creation logged under the administrator."""

from __future__ import annotations

import pytest

from tests.authenticators import enrolled_key, key_session, link_token, reasons
from tests.conftest import Demo
from tests.test_console import _events

CREATE = "/accessguard/admin/accounts/create"
IMPORT = "/accessguard/admin/accounts/import"
GOOD = "username,kind,roles,organisation\ninf.petit,professional,nurse,chu-caen\ndr.roux,professional,doctor;teacher,chu-caen\n"
BAD = (
    "username,kind,roles,organisation\n"
    "inf.petit,professional,nurse,chu-caen\n"
    "dr.martin,professional,doctor,chu-caen\n"  # exists
    "x y,professional,nurse,\n"
    "inf.petit,professional,nurse,chu-caen\n"  # twice
    "sec.blanc,robot,secretary,chu-caen\n"
    "sec.noir,professional,,chu-caen\n"
    "only,two\n"
)


def _set_password(demo: Demo, link: str, password: str) -> None:
    response = demo.client().post("/accessguard/password/reset", json={"token": link_token(link), "password": password})
    assert response.status_code == 200, response.text


def test_an_account_is_created_without_a_password_and_its_link_sets_one(asgi_demo: Demo) -> None:
    admin = key_session(asgi_demo, "admin", enrolled_key(asgi_demo, "admin"))
    body = {"account": "inf.petit", "kind": "professional", "roles": "nurse", "organisation": "chu-caen"}
    created = admin.post(CREATE, json=body)
    assert created.status_code == 200, created.text
    assert created.json()["link"].startswith("http://localhost/accessguard/password/reset?token=") and "<svg" in created.json()["qr_svg"]
    account = asgi_demo.guard.accounts.get("inf.petit")
    assert account is not None and (account.roles, account.organisation, account.password_reset) == (("nurse",), "chu-caen", True)
    [(subject, detail)] = _events(asgi_demo, "account_created")
    assert (subject, detail["account"], detail["via"]) == ("admin", "inf.petit", "form")
    again = admin.post(CREATE, json=body)
    assert (again.status_code, reasons(again)) == (409, ["account_exists"])
    assert admin.post(CREATE, json={**body, "account": "inf petit"}).status_code == 400
    assert admin.post(CREATE, json={**body, "account": "x", "kind": "robot"}).status_code == 400
    _set_password(asgi_demo, created.json()["link"], "a passphrase of my own choosing")
    login = asgi_demo.client().post("/login", json={"username": "inf.petit", "password": "a passphrase of my own choosing"})
    assert login.status_code == 200


def test_an_import_names_each_wrong_line_and_creates_nothing_until_it_is_right(asgi_demo: Demo) -> None:
    admin = key_session(asgi_demo, "admin", enrolled_key(asgi_demo, "admin"))
    preview = admin.post(IMPORT, json={"csv": BAD})
    assert preview.status_code == 200
    assert [a["account"] for a in preview.json()["accounts"]] == ["inf.petit"]
    errors = {e["line"]: e["error"] for e in preview.json()["errors"]}
    assert sorted(errors) == [3, 4, 5, 6, 7, 8]
    assert "exists already" in errors[3] and "appears twice" in errors[5] and "kind 'robot'" in errors[6] and "2 fields" in errors[8]
    french = admin.post(IMPORT, json={"csv": BAD}, headers={"accept-language": "fr"}).json()["errors"]
    assert [e["error"] for e in french if e["line"] in (3, 8)] == [
        "un compte dr.martin existe déjà",
        "2 champs, 4 attendus (username,kind,roles,organisation)",
    ]
    refused = admin.post(IMPORT, json={"csv": BAD, "confirm": True, "expect": ["inf.petit"]})
    assert (refused.status_code, reasons(refused)) == (409, ["import_has_errors"])
    assert admin.post(IMPORT, json={"csv": "name,role\nx,y\n"}).json()["errors"][0]["line"] == 1
    assert asgi_demo.guard.accounts.get("inf.petit") is None

    preview = admin.post(IMPORT, json={"csv": GOOD}).json()
    assert preview["errors"] == [] and [a["roles"] for a in preview["accounts"]] == [["nurse"], ["doctor", "teacher"]]
    stale = admin.post(IMPORT, json={"csv": GOOD, "confirm": True, "expect": ["inf.petit"]})
    assert (stale.status_code, reasons(stale)) == (409, ["import_changed"])
    done = admin.post(IMPORT, json={"csv": GOOD, "confirm": True, "expect": ["dr.roux", "inf.petit"]})
    assert done.status_code == 200, done.text
    assert [c["account"] for c in done.json()["created"]] == ["inf.petit", "dr.roux"]
    assert [(s, d["account"], d["via"]) for s, d in _events(asgi_demo, "account_created")] == [
        ("admin", "inf.petit", "import"),
        ("admin", "dr.roux", "import"),
    ]
    _set_password(asgi_demo, done.json()["created"][1]["link"], "dr roux chose this one")
    login = asgi_demo.client().post("/login", json={"username": "dr.roux", "password": "dr roux chose this one"})
    assert login.status_code == 200


def test_an_import_with_carriage_returns_is_read_never_a_fault(asgi_demo: Demo) -> None:
    """A spreadsheet for the Mac ends lines with a lone CR; Python's CSV reader raised on it (a 503 and a fault)."""
    admin = key_session(asgi_demo, "admin", enrolled_key(asgi_demo, "admin"))
    preview = admin.post(IMPORT, json={"csv": GOOD.replace("\n", "\r")})
    assert preview.status_code == 200, preview.text
    assert [a["account"] for a in preview.json()["accounts"]] == ["inf.petit", "dr.roux"] and preview.json()["errors"] == []
    stray = admin.post(IMPORT, json={"csv": "username,kind,roles,organisation\ninf.petit,professional,nurse,chu\rcaen\n"})
    assert stray.status_code == 200 and [e["line"] for e in stray.json()["errors"]] == [3]  # the CR ends a line: "caen" alone
    assert [a["organisation"] for a in stray.json()["accounts"]] == ["chu"]  # what the preview shows before anything is created


@pytest.mark.parametrize("path", [CREATE, IMPORT])
def test_creating_accounts_needs_an_administrator_and_refuses_cross_site_posts(asgi_demo: Demo, path: str) -> None:
    body = {"account": "x.y", "kind": "professional", "roles": "nurse", "csv": GOOD}
    assert reasons(asgi_demo.login("dr.martin").post(path, json=body)) == ["admin_required"]
    assert reasons(asgi_demo.login("admin").post(path, json=body)) == ["phishing_resistant_required"]
    admin = key_session(asgi_demo, "admin", enrolled_key(asgi_demo, "admin"))
    response = admin.post(path, json=body, headers={"origin": "https://evil.example"})
    assert (response.status_code, reasons(response)) == (403, ["cross_site_request"])
    assert asgi_demo.guard.accounts.get("x.y") is None and asgi_demo.guard.accounts.get("inf.petit") is None
