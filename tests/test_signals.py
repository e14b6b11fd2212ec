"""Signals through the request path: served ids, care relationship, organisation totals, concurrent sessions."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from accessguard import REPORTED_BY_APP, ProtectedRoute, report_served
from accessguard.authn.state import Subject
from accessguard.decision import Decision
from accessguard.demo.app import PatientDirectory, demo_settings
from accessguard.demo.geodb import write_city_database
from accessguard.guard import Guard
from accessguard.middleware.asgi import AccessGuardMiddleware
from accessguard.middleware.wsgi import WSGIAccessGuard
from accessguard.policy.embedded import EmbeddedEngine
from accessguard.policy.input import SCHEMA_PATH
from accessguard.policy.policyset import DEFAULT_POLICY_DIR, load_policy_set
from accessguard.signals.usage import Usage
from accessguard.store.base import ReadRequest
from tests.conftest import CAEN, ENGLISH, LILLE, Clock, Demo, _accounts, _copy_demo

MARSEILLE = "192.0.2.200"
SCHEMA = json.loads(SCHEMA_PATH.read_text())


class RecordingEngine:
    """The embedded engine, keeping every input it was given (each checked against the input schema)."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self._engine = EmbeddedEngine(load_policy_set(DEFAULT_POLICY_DIR, data))
        self.inputs: list[dict[str, Any]] = []

    @property
    def revision(self) -> str:
        return self._engine.revision

    def evaluate(self, policy_input: dict[str, Any]) -> Decision:
        jsonschema.validate(policy_input, SCHEMA)
        self.inputs.append(policy_input)
        return self._engine.evaluate(policy_input)

    def close(self) -> None:
        self._engine.close()


@pytest.fixture
def data_dir(demo_template: Path, tmp_path: Path) -> Path:
    return _copy_demo(demo_template, tmp_path / "data")


@contextmanager
def guarded(data_dir: Path, app: Any = None, engine: RecordingEngine | None = None, **overrides: Any) -> Iterator[Demo]:
    """The demo directory (or ``app``) behind a guard with these settings, on a settable clock."""
    clock = Clock()
    guard = Guard(demo_settings(data_dir, clock=clock, **overrides), engine=engine or RecordingEngine())
    asgi = AccessGuardMiddleware(app or PatientDirectory(data_dir / "patients.db").app(), guard)
    client = lambda: TestClient(asgi, client=("127.0.0.1", 40000), base_url="http://localhost", headers=ENGLISH)  # noqa: E731
    yield Demo(guard, clock, _accounts(data_dir), client)
    guard.close()


def usage(demo: Demo, username: str, organisation: str = "chu-caen") -> Usage:
    return demo.guard.store.reserve_reads(ReadRequest(username, organisation, None, 0), demo.clock.now).usage


# served ids reported by the application

RECORD_ROUTES = (
    ProtectedRoute("/records/{id}", name="records.read", served_ids=REPORTED_BY_APP),
    ProtectedRoute("/records", name="records.search", action="search", requested_count="limit", served_ids=REPORTED_BY_APP),
    ProtectedRoute("/silent", name="records.silent", requested_count=5, served_ids=REPORTED_BY_APP),
)


def records_served(query: dict[str, str], path: str) -> list[str]:
    """What the test app serves: one record, or a page of ``limit`` records of which only ``served`` exist."""
    if path.startswith("/records/"):
        return [path.removeprefix("/records/")]
    if path == "/records":
        return [f"rec-{i}" for i in range(int(query.get("served", "0")))]
    return []


async def asgi_records(request: Request) -> JSONResponse:
    ids = records_served(dict(request.query_params), request.url.path)
    if request.url.path != "/silent":
        report_served(request.scope, ids)
    return JSONResponse({"count": len(ids)})  # the ids are not in the body: only the report tells


def wsgi_records(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    query = dict(pair.split("=") for pair in environ["QUERY_STRING"].split("&") if pair)
    ids = records_served(query, environ["PATH_INFO"])
    if environ["PATH_INFO"] != "/silent":
        report_served(environ, ids[:1])
        report_served(environ, ids[1:])  # several reports add up
    start_response("200 OK", [("content-type", "application/json")])
    return [json.dumps({"count": len(ids)}).encode()]


@pytest.fixture(params=["asgi", "wsgi"])
def records(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Demo]:
    if request.param == "asgi":
        app = Starlette(routes=[Route("/records/{id}", asgi_records), Route("/records", asgi_records), Route("/silent", asgi_records)])
        with guarded(data_dir, app, routes=RECORD_ROUTES) as demo:
            yield demo
        return
    clock = Clock()
    guard = Guard(demo_settings(data_dir, clock=clock, routes=RECORD_ROUTES))
    wsgi = WSGIAccessGuard(wsgi_records, guard)

    def factory() -> httpx.Client:
        return httpx.Client(transport=httpx.WSGITransport(app=wsgi, remote_addr="127.0.0.1"), base_url="http://localhost", headers=ENGLISH)

    yield Demo(guard, clock, _accounts(data_dir), factory)
    guard.close()


def test_reads_are_counted_from_the_ids_the_app_reports(records: Demo) -> None:
    client = records.login("inf.dubois")
    assert client.get("/records/rec-a").status_code == 200
    assert client.get("/records?limit=20&served=3").status_code == 200  # asked for 20, served 3
    assert usage(records, "inf.dubois").identity_reads["1h"] == 4


def test_a_handler_that_reports_nothing_keeps_the_whole_hold(records: Demo) -> None:
    client = records.login("inf.dubois")
    assert client.get("/silent").status_code == 200
    assert usage(records, "inf.dubois").identity_reads["1h"] == 5


def test_reporting_outside_a_guarded_request_is_an_error() -> None:
    with pytest.raises(LookupError):
        report_served({"type": "http"}, ["p1"])


# care relationship


def treats_only_pat_0001(professional: Subject, patients: tuple[str, ...]) -> str:
    return "treating" if patients == ("pat-0001",) else "none"


def test_reads_without_care_relationship_hit_the_stricter_limit(data_dir: Path) -> None:
    engine = RecordingEngine()
    with guarded(data_dir, engine=engine, care_relationship=treats_only_pat_0001) as demo:
        client = demo.login("dr.martin")
        for n in range(2, 22):  # the default stricter limit: 20 an hour
            assert client.get(f"/patients/pat-{n:04d}", headers={"x-forwarded-for": CAEN}).status_code == 200
        response = client.get("/patients/pat-0022", headers={"x-forwarded-for": CAEN})
        assert response.status_code == 401
        assert response.json()["reasons"] == ["no_care_relationship_soft_limit"]
        assert response.json()["step_up"]["methods"] == ["webauthn"]
        assert client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN}).status_code == 200  # a patient they treat
        assert [i["care"]["relationship"] for i in engine.inputs[-2:]] == ["none", "treating"]
        assert engine.inputs[-1]["usage"]["without_care_reads"]["1h"] == 20


@pytest.mark.parametrize("hook", [lambda pro, patients: "maybe", lambda pro, patients: 1 / 0])
def test_a_failing_care_hook_fails_closed(data_dir: Path, hook: Any, caplog: pytest.LogCaptureFixture) -> None:
    with guarded(data_dir, care_relationship=hook) as demo:
        response = demo.login("dr.martin").get("/patients/pat-0001")
        assert response.status_code == 503
        assert "care_relationship hook" in caplog.text


def test_without_a_hook_the_relationship_is_unknown(data_dir: Path) -> None:
    engine = RecordingEngine()
    with guarded(data_dir, engine=engine) as demo:
        assert demo.login("dr.martin").get("/patients/pat-0001").status_code == 200
        assert engine.inputs[-1]["care"]["relationship"] == "unknown"


# organisation totals


def test_colleagues_reads_add_up_to_the_organisation_limit(data_dir: Path) -> None:
    small = {"accessguard": {"config": {"bulk_reads": {"organisation": {"default": {"1h": 5}}}}}}
    engine = RecordingEngine(small)
    with guarded(data_dir, engine=engine) as demo:
        martin, dubois, bernard = demo.login("dr.martin"), demo.login("inf.dubois"), demo.login("dr.bernard")
        for n in (1, 2, 3):
            assert martin.get(f"/patients/pat-{n:04d}").status_code == 200
        assert dubois.get("/patients/pat-0003").status_code == 200  # the same patient counts once
        assert dubois.get("/patients/pat-0004").status_code == 200
        assert dubois.get("/patients/pat-0005").status_code == 200
        response = dubois.get("/patients/pat-0006")
        assert response.status_code == 401
        assert response.json()["reasons"] == ["organisation_read_limit"]
        assert engine.inputs[-1]["usage"]["organisation"]["identity_reads"]["1h"] == 5
        assert engine.inputs[-1]["usage"]["identity_reads"]["1h"] == 3
        assert bernard.get("/patients/pat-0006").status_code == 200  # another organisation


# concurrent live sessions from distant places


@pytest.fixture
def france(tmp_path: Path) -> Path:
    path = tmp_path / "france.mmdb"
    write_city_database(path, {"192.0.2.0/25": ("FR", "Caen", 49.1829, -0.3707), "192.0.2.128/25": ("FR", "Marseille", 43.2965, 5.3698)})
    return path


def test_a_second_session_far_away_while_the_first_is_live_is_challenged(data_dir: Path, france: Path) -> None:
    with guarded(data_dir, geoip_database=france) as demo:
        caen, marseille = {"x-forwarded-for": CAEN}, {"x-forwarded-for": MARSEILLE}
        at_work = demo.login("dr.martin")
        assert at_work.get("/patients/pat-0001", headers=caen).status_code == 200
        demo.clock.advance(6 * 3600)  # time enough to travel 660 km
        thief = demo.login("dr.martin")
        assert thief.get("/patients/pat-0002", headers=marseille).status_code == 200
        demo.clock.advance(60)
        response = at_work.get("/patients/pat-0003", headers=caen)  # the real professional, still in Caen
        assert response.status_code == 401
        assert response.json()["reasons"] == ["concurrent_distant_sessions", "impossible_travel"]
        demo.clock.advance(60)
        response = thief.get("/patients/pat-0004", headers=marseille)  # no travel for this one, but Caen is live
        assert response.status_code == 401
        assert response.json()["reasons"] == ["concurrent_distant_sessions"]
        assert at_work.post("/accessguard/logout").status_code == 200
        assert thief.get("/patients/pat-0004", headers=marseille).status_code == 200


def test_sessions_in_nearby_cities_are_not_distant(data_dir: Path) -> None:
    with guarded(data_dir) as demo:
        one, two = demo.login("dr.martin"), demo.login("dr.martin")
        demo.clock.advance(4 * 3600)
        assert one.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN}).status_code == 200
        assert two.get("/patients/pat-0002", headers={"x-forwarded-for": LILLE}).status_code == 401  # 230 km in seconds
        assert "concurrent_distant_sessions" not in two.get("/patients/pat-0002", headers={"x-forwarded-for": LILLE}).json()["reasons"]
