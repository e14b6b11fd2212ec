"""Every response the guard itself produces carries X-Content-Type-Options: nosniff, through both adapters."""

from __future__ import annotations

import httpx

from tests.conftest import Demo


def test_every_guard_response_forbids_sniffing(demo: Demo) -> None:
    client = demo.client()
    pro = demo.accounts["dr.martin"]
    html = {"accept": "text/html"}
    answers: dict[str, httpx.Response] = {
        "problem": client.get("/patients/pat-0001"),
        "method problem": client.delete("/patients/pat-0001"),
        "bad request": client.post("/login", content=b"{", headers={"content-type": "application/json"}),
        "refusal": client.post("/accessguard/step-up/totp", json={"code": "000000"}),
        "login page": client.get("/login", headers=html),
        "redirect": client.get("/patients/pat-0001", headers=html, follow_redirects=False),
        "json": client.post("/login", json={"username": pro.username, "password": pro.password}),
    }
    assert answers["problem"].headers["content-type"] == "application/problem+json"
    assert answers["redirect"].status_code in (302, 303)
    for name, response in answers.items():
        assert response.headers.get("x-content-type-options") == "nosniff", name
    served = client.get("/healthz")  # the application's own response is left as the application made it
    assert served.status_code == 200
