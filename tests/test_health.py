"""Health routes: live and ready, unauthenticated, saying only a status and the names of failing checks."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from accessguard.audit.alerts import alert_log
from accessguard.audit.chain import CheckpointSigner
from accessguard.audit.settings import AuditSettings
from accessguard.health import LIVE_PATH, READY_PATH
from tests.conftest import CAEN, Demo, _copy_demo, make_demo, require_part
from tests.demo_process import demo_process
from tests.redis_server import REDIS_SERVER, RedisServer, free_port


def _until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _ready(client: httpx.Client) -> httpx.Response:
    return client.get(READY_PATH)


def test_live_and_ready_answer_anyone_with_a_status_only(demo: Demo) -> None:
    client = demo.client()
    live = client.get(LIVE_PATH)
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    ready = _ready(client)
    assert ready.status_code == 200 and ready.json() == {"status": "ok"}
    assert ready.headers["cache-control"] == "no-store"
    assert client.post(READY_PATH, json={}).status_code == 405  # nothing to post to


def test_ready_fails_while_the_access_log_cannot_commit_and_recovers(asgi_demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    client = asgi_demo.login("dr.martin")

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("injected writer fault")

    monkeypatch.setattr(CheckpointSigner, "checkpoint", broken)
    client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN})  # queued: the writer's commit now fails
    _until(lambda: _ready(client).status_code == 503, "ready to fail")
    answer = _ready(client).json()
    assert answer == {"status": "fail", "failing": ["access_log"]}  # nothing of why: that goes to the log
    monkeypatch.undo()
    _until(lambda: _ready(client).status_code == 200, "ready to pass again")


def test_ready_fails_while_the_alert_outbox_is_over_its_limit(demo_template: Path, tmp_path: Path) -> None:
    dead_webhook = f"http://127.0.0.1:{free_port()}/alerts"  # nothing listens: every delivery fails and is retried later
    audit = AuditSettings(webhook_url=dead_webhook, webhook_key="k" * 32)
    demo = make_demo("asgi", _copy_demo(demo_template, tmp_path / "data"), audit=audit, health_max_outbox=2)
    try:
        client = demo.client()
        assert _ready(client).status_code == 200
        for n in range(2):
            alert_log.warning("alert", extra={"alert": {"event": f"test_event_{n}", "account": "dr.martin"}})
        _until(lambda: _ready(client).status_code == 503, "the outbox backlog to fail ready")
        assert _ready(client).json() == {"status": "fail", "failing": ["alert_outbox"]}
    finally:
        demo.guard.close()


@pytest.mark.realpart
@pytest.mark.slow
def test_ready_fails_while_redis_is_down_under_the_demo_and_recovers(demo_template: Path, tmp_path: Path) -> None:
    require_part(REDIS_SERVER is not None, "redis-server")
    redis = RedisServer(tmp_path / "redis").start()
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    try:
        with demo_process(data_dir, tmp_path / "demo.log", "--store", redis.url) as (url, _), httpx.Client(base_url=url) as client:
            assert _ready(client).status_code == 200
            redis.stop()
            down = _ready(client)
            assert down.status_code == 503 and down.json() == {"status": "fail", "failing": ["store"]}
            assert client.get(LIVE_PATH).status_code == 200  # alive: restarting it would not help
            redis.start()
            _until(lambda: _ready(client).status_code == 200, "ready once Redis is back")
    finally:
        redis.stop()
