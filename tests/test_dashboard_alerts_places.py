"""The dashboard's alerts per day and places of sign-ins per professional, through the real middleware."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing

from tests.authenticators import enrolled_key, key_session
from tests.conftest import CAEN, LILLE, Demo

HTML = {"accept": "text/html"}


def _login_from(demo: Demo, username: str, address: str) -> None:
    client = demo.client()
    pro = demo.accounts[username]
    response = client.post("/login", json={"username": pro.username, "password": pro.password}, headers={"x-forwarded-for": address})
    assert response.status_code == 200


def test_dashboard_counts_alerts_per_day_and_sign_ins_per_professional_and_place(asgi_demo: Demo) -> None:
    _login_from(asgi_demo, "inf.dubois", CAEN)
    _login_from(asgi_demo, "inf.dubois", CAEN)
    _login_from(asgi_demo, "inf.dubois", LILLE)
    admin = key_session(asgi_demo, "admin", enrolled_key(asgi_demo, "admin"))
    asgi_demo.guard.access_log.flush()
    text = admin.get("/accessguard/admin/dashboard", headers=HTML).text
    assert "<td>inf.dubois</td><td>Caen, FR</td><td>2</td>" in text
    assert "<td>inf.dubois</td><td>Lille, FR</td><td>1</td>" in text
    assert "inf.dubois from Caen, FR 2" in text  # the chart's accessible name carries its figures
    assert "<td>admin</td><td>unknown place</td>" in text  # the test client's loopback address
    # the administrator's enrolment: the link issued and redeemed, the key enrolled, recovery codes issued (one alert each)
    assert "Alerts raised per day, last 7 days: " in text
    today = text.split("Alerts raised per day, last 7 days: ", 1)[1].split('"', 1)[0].split(", ")[-1]
    with closing(sqlite3.connect(asgi_demo.guard.access_log.log_location)) as db:  # type: ignore[arg-type]  # the demo: audit.db
        [(raised,)] = db.execute("SELECT count(DISTINCT alert_id) FROM alerts").fetchall()
    assert raised >= 4 and today == f"{time.strftime('%Y-%m-%d', time.gmtime(asgi_demo.clock.now))} {raised}"
