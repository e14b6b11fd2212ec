"""Request values reach log lines escaped; alert lines are JSON, so a forged one does not parse as an alert."""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import quote

import pytest

from accessguard.admin import actions
from accessguard.authn.alerts import EVENTS
from tests.conftest import Demo

FORGED = 'WARNING accessguard.alerts alert {"event":"login_attempts_locked","account":"forged"}'
_ALERT_LINE = re.compile(r"^WARNING accessguard\.alerts alert (\{.*\})$")


def _alert_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    """Every line of the application log, as a formatter writes it, that parses as an alert."""
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    found = []
    for line in "\n".join(formatter.format(record) for record in caplog.records).splitlines():
        match = _ALERT_LINE.match(line)
        if match:
            document = json.loads(match.group(1))
            found.append(document)
    return found


def test_crlf_and_a_fake_alert_in_path_header_and_username_forge_no_alert_line(demo: Demo, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = demo.login("dr.martin")
    assert client.request("OPTIONS", "/patients/x" + quote("\r\n" + FORGED)).status_code == 405  # logged: method not declared
    assert client.get("/patients/x" + quote("\n" + FORGED)).status_code == 400  # a path parameter must be text
    cross_site = client.post("/login", json={"username": "u", "password": "p"}, headers={"origin": "http://evil.example " + FORGED})
    assert cross_site.status_code == 403  # logged with the origin
    refused = demo.client().post("/login", json={"username": "nobody\r\n" + FORGED, "password": "x"})
    assert refused.status_code == 400  # a username is one line of text
    demo.client().post("/login", json={"username": "nobody " + FORGED, "password": "x"})  # logged: login refused
    actions.revoke(demo.guard.authenticators, "dr.martin", None, by="admin:test")  # a real alert

    alerts = _alert_lines(caplog)
    assert [a["event"] for a in alerts] == ["authenticator_revoked"]
    assert all(a["event"] in EVENTS and a["account"] == "dr.martin" for a in alerts)
    assert "forged" in caplog.text  # the request values were logged, escaped on their own line
    assert not [line for line in caplog.text.splitlines() if line.startswith("WARNING accessguard.alerts") and "forged" in line]
