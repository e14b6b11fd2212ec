"""Prometheus metrics: scraped by prometheus_client's parser, the figures match the decisions in the access log."""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pyotp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from accessguard.errors import ConfigurationError
from accessguard.metrics import METRICS_PATH
from tests.conftest import CAEN, _copy_demo, make_demo
from tests.demo_process import demo_process, wait_for
from tests.opa_server import free_port

TOKEN = "m" * 40


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _by(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, *keys: str) -> Counter[tuple[str, ...]]:
    counts: Counter[tuple[str, ...]] = Counter()
    for (sample, labels), value in samples.items():
        if sample == name:
            counts[tuple(dict(labels)[k] for k in keys)] += int(value)
    return +counts


def _logged_decisions(data_dir: Path) -> list[dict[str, object]]:
    with sqlite3.connect(data_dir / "audit.db") as db:
        return [json.loads(detail) for (detail,) in db.execute("SELECT detail FROM entries WHERE kind = 'decision'")]


@pytest.mark.slow
def test_a_scrape_under_the_core_scenario_counts_every_decision_the_access_log_holds(demo_template: Path, tmp_path: Path) -> None:
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    accounts = {a["username"]: a for a in json.loads((data_dir / "demo-accounts.json").read_text())}
    port = free_port()
    with demo_process(data_dir, tmp_path / "demo.log", "--metrics-port", str(port)) as (url, _):
        logged_in = []
        for name in ("dr.martin", "dr.bernard"):
            client = httpx.Client(base_url=url)
            account = accounts[name]
            assert client.post("/login", json={"username": name, "password": "wrong"}).status_code == 401
            assert client.post("/login", json={"username": name, "password": account["password"]}).status_code == 200
            assert client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN}).status_code == 401  # step up first
            assert client.post("/accessguard/step-up/totp", json={"code": "000000"}).status_code in (400, 401, 403)
            code = pyotp.TOTP(account["totp_secret"]).now()
            assert client.post("/accessguard/step-up/totp", json={"code": code}).status_code == 200
            logged_in.append(client)
        anonymous = httpx.Client(base_url=url)
        assert anonymous.get("/patients/pat-0001").status_code == 401

        def reads(client: httpx.Client) -> int:  # single reads, then paging until the bulk limit stops it
            statuses = [client.get(f"/patients/pat-{n:04d}", headers={"x-forwarded-for": CAEN}).status_code for n in range(1, 6)]
            for offset in range(0, 400, 20):
                page = client.get("/patients", params={"limit": 20, "offset": offset}, headers={"x-forwarded-for": CAEN})
                statuses.append(page.status_code)
                if page.status_code != 200:
                    break
            return statuses.count(200)

        with ThreadPoolExecutor(len(logged_in)) as pool:  # concurrently: counts must not be lost under load
            assert all(served > 0 for served in pool.map(reads, logged_in))
        logged: list[dict[str, object]] = []

        def settled() -> bool:
            nonlocal logged
            logged = _logged_decisions(data_dir)
            scraped = _samples(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
            return sum(_by(scraped, "accessguard_decisions_total", "outcome").values()) == len(logged)

        wait_for(settled, "the access log to hold every decision counted")
        scraped = _samples(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
        for client in [*logged_in, anonymous]:
            client.close()

    outcomes = Counter((str(d["outcome"]),) for d in logged)
    assert _by(scraped, "accessguard_decisions_total", "outcome") == outcomes
    assert outcomes[("step_up",)] >= 3 and outcomes[("allow",)] >= 10  # the scenario decided all three ways
    reasons = Counter((str(d["outcome"]), str(r)) for d in logged for r in d["reasons"])  # type: ignore[attr-defined]
    assert _by(scraped, "accessguard_decision_reasons_total", "outcome", "reason") == reasons
    assert ("step_up", "bulk_read_soft_limit") in reasons
    for stage in ("engine", "total"):
        assert scraped["accessguard_decision_seconds_count", (("stage", stage),)] == len(logged)
    assert 0 < scraped["accessguard_decision_seconds_count", (("stage", "store"),)] <= len(logged)  # the anonymous one reserves nothing
    authentications = _by(scraped, "accessguard_authentications_total", "kind", "method", "result")
    assert authentications == {
        ("login", "password", "failure"): 2,
        ("login", "password", "success"): 2,
        ("step_up", "otp", "failure"): 2,
        ("step_up", "otp", "success"): 2,
    }
    assert scraped["accessguard_access_log_backlog", ()] >= 0
    label_values = {value for _, labels in scraped for _, value in labels}
    assert not any("dr." in v or "pat-" in v or "admin" in v for v in label_values), label_values  # no account, no patient


def test_the_metrics_route_is_absent_unless_configured(demo_template: Path, tmp_path: Path) -> None:
    demo = make_demo("asgi", _copy_demo(demo_template, tmp_path / "data"))
    try:
        assert demo.client().get(METRICS_PATH).status_code == 404  # the app's 404: the guard serves nothing there
    finally:
        demo.guard.close()


def test_the_metrics_route_answers_the_token_holder_only(demo_template: Path, tmp_path: Path) -> None:
    demo = make_demo("asgi", _copy_demo(demo_template, tmp_path / "data"), metrics_token=TOKEN)
    try:
        client = demo.login("dr.martin")
        assert client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN}).status_code == 200
        for headers in ({}, {"authorization": "Bearer " + "x" * 40}, {"authorization": TOKEN}):
            refused = client.get(METRICS_PATH, headers=headers)
            assert refused.status_code == 404 and "accessguard_" not in refused.text
        scraped = client.get(METRICS_PATH, headers={"authorization": f"Bearer {TOKEN}"})
        assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
        samples = _samples(scraped.text)
        assert samples["accessguard_decisions_total", (("outcome", "allow"),)] == 1
    finally:
        demo.guard.close()


def test_the_metrics_route_answers_configured_addresses(demo_template: Path, tmp_path: Path) -> None:
    demo = make_demo("wsgi", _copy_demo(demo_template, tmp_path / "data"), metrics_addresses=("127.0.0.0/8",))
    try:
        assert demo.client().get(METRICS_PATH).status_code == 200  # the test client comes from 127.0.0.1
    finally:
        demo.guard.close()
    demo = make_demo("wsgi", _copy_demo(demo_template, tmp_path / "other"), metrics_addresses=("10.0.0.0/8",))
    try:
        assert demo.client().get(METRICS_PATH).status_code == 404
    finally:
        demo.guard.close()


def test_a_short_metrics_token_stops_the_start(demo_template: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="metrics_token"):
        make_demo("asgi", _copy_demo(demo_template, tmp_path / "data"), metrics_token="short")


def test_the_metrics_port_serves_the_guard_metrics(demo_template: Path, tmp_path: Path) -> None:
    port = free_port()
    demo = make_demo("asgi", _copy_demo(demo_template, tmp_path / "data"), metrics_port=port)
    try:
        client = demo.login("dr.martin")
        client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN})
        deadline = time.monotonic() + 10
        while "accessguard_decisions_total" not in (text := httpx.get(f"http://127.0.0.1:{port}/metrics").text):
            assert time.monotonic() < deadline
        assert _samples(text)["accessguard_decisions_total", (("outcome", "allow"),)] == 1
    finally:
        demo.guard.close()
    with pytest.raises(httpx.TransportError):  # closed with its guard
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


def metered_wsgi_app() -> object:
    """The plain WSGI directory with metrics open to loopback, for gunicorn (``tests.test_metrics:metered_wsgi_app()``)."""
    import os

    from accessguard.demo.app import demo_settings
    from accessguard.guard import Guard
    from accessguard.middleware.wsgi import WSGIAccessGuard
    from tests.wsgi_directory import directory_app

    directory = Path(os.environ["ACCESSGUARD_TEST_DATA"])
    return WSGIAccessGuard(directory_app(directory / "patients.db"), Guard(demo_settings(directory, metrics_addresses=("127.0.0.1/32",))))


@pytest.mark.slow
def test_gunicorn_workers_are_counted_together_in_multiprocess_mode(demo_template: Path, tmp_path: Path) -> None:
    from tests.server_support import gunicorn_server

    data_dir = _copy_demo(demo_template, tmp_path / "data")
    shared = tmp_path / "prometheus"
    shared.mkdir()
    options = ("--workers", "2", "--env", f"PROMETHEUS_MULTIPROC_DIR={shared}")
    with gunicorn_server("tests.test_metrics:metered_wsgi_app()", data_dir, tmp_path / "gunicorn.log", *options) as url:
        clients = [httpx.Client(base_url=url) for _ in range(6)]  # new connections: both workers take some
        for client in clients:
            client.get("/patients/pat-0001")  # anonymous: denied, logged
        logged: list[dict[str, object]] = []

        def every_worker_counted() -> bool:
            nonlocal logged
            logged = _logged_decisions(data_dir)
            try:
                scraped = _samples(httpx.get(f"{url}{METRICS_PATH}").text)
            except httpx.TransportError:  # a reset by gunicorn seen once in CI under load: scrape again
                return False
            return len(logged) == 6 and sum(_by(scraped, "accessguard_decisions_total", "outcome").values()) == 6

        wait_for(every_worker_counted, "both workers' decisions in one scrape")
        assert len({p.stem.rsplit("_", 1)[1] for p in shared.iterdir()}) == 2  # each worker wrote its own values
        for client in clients:
            client.close()
