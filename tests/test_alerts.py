"""Alerts: the log sink and a signed webhook, retried with back-off from the outbox; nothing lost."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyotp
import pytest
from starlette.testclient import TestClient

from accessguard.admin import actions
from accessguard.audit.alerts import ALERT_ID_HEADER, SIGNATURE_HEADER, pending_alerts, sign_webhook, verify_webhook
from accessguard.audit.settings import AuditSettings
from accessguard.demo.app import build
from accessguard.errors import ConfigurationError
from accessguard.guard import Guard
from accessguard.middleware.asgi import AccessGuardMiddleware
from tests.audit_support import run_cli
from tests.conftest import CAEN, LAGOS, Clock, _copy_demo
from tests.demo_process import wait_for
from tests.opa_server import free_port

WEBHOOK_KEY = "w" * 48


@dataclass
class Receiver:
    """A local alert receiver that answers ``fail_with`` to the first ``failures`` POSTs."""

    failures: int
    fail_with: int = 500
    requests: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)
    port: int = 0

    def answered_ok(self) -> bool:
        return any(status == 200 for _, _, status in self.requests)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(failures=2)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            status = state.fail_with if len(state.requests) < state.failures else 200
            state.requests.append(({k.lower(): v for k, v in self.headers.items()}, body, status))
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def _guard_with_webhook(data_dir: Path, port: int, clock: Clock) -> tuple[AccessGuardMiddleware, Guard]:
    audit = AuditSettings(webhook_url=f"http://127.0.0.1:{port}/alerts", webhook_key=WEBHOOK_KEY, retry_base_s=0.05)
    return build(data_dir, clock=clock, audit=audit)


def _impossible_travel(app: AccessGuardMiddleware, data_dir: Path, clock: Clock) -> None:
    """dr.martin reads from Caen, then from Lagos 20 seconds later: an alerting decision."""
    account = next(a for a in json.loads((data_dir / "demo-accounts.json").read_text()) if a["username"] == "dr.martin")
    client = TestClient(app, client=("127.0.0.1", 40000), base_url="http://localhost")
    assert client.post("/login", json={"username": "dr.martin", "password": account["password"]}).status_code == 200
    assert client.post("/accessguard/step-up/totp", json={"code": pyotp.TOTP(account["totp_secret"]).at(int(clock.now))}).status_code == 200
    assert client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN}).status_code == 200
    clock.advance(20)
    response = client.get("/patients/pat-0002", headers={"x-forwarded-for": LAGOS})
    assert response.status_code == 401 and "impossible_travel" in response.json()["reasons"]


def _deliveries(data_dir: Path) -> dict[str, tuple[int, float | None, str | None]]:
    with sqlite3.connect(data_dir / "audit.db") as db:
        return {
            sink: (attempts, delivered, error)
            for sink, attempts, delivered, error in db.execute("SELECT sink, attempts, delivered, last_error FROM alerts")
        }


def test_webhook_is_retried_with_back_off_until_delivered_signed(demo_template: Path, tmp_path: Path, receiver: Receiver) -> None:
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    clock = Clock()
    app, guard = _guard_with_webhook(data_dir, receiver.port, clock)
    try:
        _impossible_travel(app, data_dir, clock)
        wait_for(receiver.answered_ok, "the webhook to accept the alert")
    finally:
        guard.close()
    assert [status for _, _, status in receiver.requests] == [500, 500, 200]
    bodies = {body for _, body, _ in receiver.requests}
    assert len(bodies) == 1  # the same alert each time
    body = bodies.pop()
    alert = json.loads(body)
    assert alert["reasons"] == ["impossible_travel", "new_place"] and alert["subject"] == "dr.martin" and alert["outcome"] == "step_up"
    for headers, sent, _ in receiver.requests:
        assert headers[ALERT_ID_HEADER.lower()] == alert["alert_id"]
        assert headers["content-type"] == "application/json"
        assert verify_webhook(WEBHOOK_KEY, headers[SIGNATURE_HEADER.lower()], sent, time.time())
    deliveries = _deliveries(data_dir)
    assert deliveries["webhook"][0] == 3 and deliveries["webhook"][1] is not None
    assert deliveries["log"][0] == 1 and deliveries["log"][1] is not None
    code, out, _ = run_cli("audit", "alerts", "--data-dir", str(data_dir), "--format", "json")
    assert code == 0 and json.loads(out) == []


def test_an_undelivered_alert_survives_a_restart(demo_template: Path, tmp_path: Path, receiver: Receiver) -> None:
    receiver.failures = 10**6
    receiver.fail_with = 503
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    clock = Clock()
    app, guard = _guard_with_webhook(data_dir, receiver.port, clock)
    try:
        _impossible_travel(app, data_dir, clock)
        wait_for(lambda: len(receiver.requests) >= 2, "two failed attempts")
    finally:
        guard.close()
    code, out, _ = run_cli("audit", "alerts", "--data-dir", str(data_dir), "--format", "json")
    assert code == 0
    [pending] = json.loads(out)
    assert pending["sink"] == "webhook" and pending["attempts"] >= 2 and pending["last_error"] == "HTTP 503"
    assert pending["reasons"] == ["impossible_travel", "new_place"]

    receiver.failures = 0  # the receiver is back; a new process takes over the outbox
    _, guard = _guard_with_webhook(data_dir, receiver.port, clock)
    try:
        wait_for(receiver.answered_ok, "delivery after the restart")
    finally:
        guard.close()
    delivered = [h[ALERT_ID_HEADER.lower()] for h, _, status in receiver.requests if status == 200]
    assert delivered == [pending["alert_id"]]


def test_an_unreachable_receiver_keeps_the_alert_pending(demo_template: Path, tmp_path: Path) -> None:
    closed_port = free_port()  # nothing listens there
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    clock = Clock()
    app, guard = _guard_with_webhook(data_dir, closed_port, clock)
    try:
        _impossible_travel(app, data_dir, clock)
        wait_for(lambda: _deliveries(data_dir).get("webhook", (0, None, None))[0] >= 2, "two failed attempts")
    finally:
        guard.close()
    _, delivered, error = _deliveries(data_dir)["webhook"]
    assert delivered is None and error is not None and "refused" in error.lower()


def test_webhook_signatures_resist_tampering_and_replay() -> None:
    body = b'{"alert_id":"a1","reasons":["bulk_read_hard_limit"]}'
    now = int(time.time())
    header = sign_webhook(WEBHOOK_KEY, now, body)
    assert verify_webhook(WEBHOOK_KEY, header, body, now)
    assert not verify_webhook(WEBHOOK_KEY, header, body.replace(b"hard", b"soft"), now)
    assert not verify_webhook("k" * 48, header, body, now)
    assert not verify_webhook(WEBHOOK_KEY, header, body, now + 301)
    assert not verify_webhook(WEBHOOK_KEY, header.replace(f"t={now}", f"t={now + 1}"), body, now)
    assert not verify_webhook(WEBHOOK_KEY, "garbage", body, now)


def test_a_webhook_needs_a_signing_key() -> None:
    with pytest.raises(ConfigurationError, match="webhook_key"):
        AuditSettings(webhook_url="http://127.0.0.1:1/alerts").validate()
    with pytest.raises(ConfigurationError, match="webhook_url"):
        AuditSettings(webhook_url="file:///etc/passwd", webhook_key=WEBHOOK_KEY).validate()


def test_authenticator_alerts_reach_the_webhook_once_on_the_log(
    demo_template: Path, tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """Alert lines from other components (here a revocation by an administrator) join the outbox."""
    receiver.failures = 0
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    _, guard = _guard_with_webhook(data_dir, receiver.port, Clock())
    try:
        with caplog.at_level(logging.WARNING, logger="accessguard.alerts"):
            [revoked] = actions.revoke(guard.authenticators, "dr.martin", None, by="admin:test")
            wait_for(receiver.answered_ok, "the webhook to receive the revocation")
            wait_for(lambda: not pending_alerts(data_dir / "audit.db"), "every sink to be done")
    finally:
        guard.close()
    [(_, body, _)] = receiver.requests
    alert = json.loads(body)
    assert alert["reasons"] == ["authenticator_revoked"] and alert["subject"] == "dr.martin"
    assert alert["authenticator"] == revoked.id and alert["by"] == "admin:test"
    assert alert["kind"] == "event" and alert["authenticator_kind"] == revoked.kind  # the detail never overwrites the envelope
    lines = [r.getMessage() for r in caplog.records if r.name == "accessguard.alerts"]
    assert len([line for line in lines if "authenticator_revoked" in line]) == 1  # the log sink does not repeat it
    with sqlite3.connect(data_dir / "audit.db") as db:
        [(detail,)] = db.execute("SELECT detail FROM entries WHERE kind = 'event'").fetchall()
    assert json.loads(detail)["event"] == "authenticator_revoked"


_UNCONFIGURED_SERVICE = """
import sys
from accessguard.audit.access_log import AccessLog
from accessguard.audit.alerts import AlertBridge, AlertDispatcher, alert_log
from accessguard.audit.settings import AuditSettings
from accessguard.authn.alerts import alert
access_log = AccessLog(sys.argv[1], AuditSettings(), "p" * 48)
alert_log.addFilter(AlertBridge(access_log))  # as the guard does; the service configures no logging
alert("authenticator_revoked", "dr.martin", authenticator="k1", by="admin:test")
access_log.event("inf.dubois", {"event": "account_suspended"}, alert=("account_suspended",))
access_log.close()
print(AlertDispatcher(sys.argv[1], AuditSettings()).deliver_due())
"""


def test_the_log_sink_shows_alerts_in_a_service_that_configures_no_logging(tmp_path: Path) -> None:
    """Logging's last-resort handler (stderr) must still see alert lines once the guard has put its bridge on the logger."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", _UNCONFIGURED_SERVICE, str(tmp_path / "audit.db")], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2"]  # both alerts delivered to the log sink
    lines = done.stderr.splitlines()
    assert len([line for line in lines if line.startswith('alert {"event":"authenticator_revoked","account":"dr.martin"')]) == 1
    assert len([line for line in lines if line.startswith("alert {") and '"account_suspended"' in line]) == 1


_TWO_GUARDS = """
import sys
from pathlib import Path
from accessguard.authn.alerts import alert
from accessguard.demo.app import demo_settings
from accessguard.guard import Guard
guards = [Guard(demo_settings(Path(data_dir))) for data_dir in sys.argv[1:]]  # the service configures no logging
alert("authenticator_revoked", "dr.martin", authenticator="k1", by="admin:test")
for guard in guards:
    guard.close()
"""


def test_two_guards_in_a_process_without_logging_set_up_each_record_an_alert_line_shown_once(demo_template: Path, tmp_path: Path) -> None:
    data_dirs = [_copy_demo(demo_template, tmp_path / name) for name in ("east", "west")]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", _TWO_GUARDS, *map(str, data_dirs)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if "authenticator_revoked" in line] == [
        'alert {"event":"authenticator_revoked","account":"dr.martin","authenticator":"k1","by":"admin:test"}'
    ]
    for data_dir in data_dirs:
        with sqlite3.connect(data_dir / "audit.db") as db:
            [(detail,)] = db.execute("SELECT detail FROM entries WHERE kind = 'event'").fetchall()
        assert json.loads(detail)["event"] == "authenticator_revoked"
