"""Properties of the request path through the real ASGI and WSGI adapters, on any path, query and headers.

Below each middleware sits a recording application that answers every call
with an empty patient page and notes what it was asked. For any request:

- the application is never asked for a protected route (as a strict or a
  lenient router would read the path) without an allow decision for it in
  the access log, made for this very request;
- the records the guard decided on are the records the application reads
  from the same query (Starlette's last ``limit``, ``parse_qs``'s first);
- nothing is answered with a 5xx.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st
from starlette.requests import Request

from accessguard.demo.app import build
from accessguard.middleware.asgi import AccessGuardMiddleware
from accessguard.middleware.wsgi import WSGIAccessGuard
from accessguard.policy.engine import PolicyEngine
from tests.conftest import _copy_demo
from tests.property_support import budget, call_asgi, call_wsgi, wsgi_headers
from tests.store_support import start_session
from tests.wsgi_directory import build_wsgi

pytestmark = pytest.mark.slow

#: The demo's protected routes, as any router reading the path leniently would see them.
SEARCH, READ = re.compile(r"^/patients/?$", re.IGNORECASE), re.compile(r"^/patients/[^/]+/?$", re.IGNORECASE)
PAGE = b'{"patients": []}'


class RecordingEngine:
    """The guard's real engine, noting each input it decides on."""

    def __init__(self, engine: PolicyEngine) -> None:
        self._engine = engine
        self.inputs: list[dict[str, Any]] = []

    def evaluate(self, policy_input: dict[str, Any]) -> Any:
        self.inputs.append(policy_input)
        return self._engine.evaluate(policy_input)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


@dataclass
class Call:
    """What the application was asked: the path it routes on, every reading of it, and the records it would read."""

    routed: str
    readings: list[str]
    limit: int


@dataclass
class Rig:
    adapter: str
    app: Any
    guard: Any
    engine: RecordingEngine
    audit_db: Path
    cookie: str
    calls: list[Call] = field(default_factory=list)


def _limit(raw: str | None) -> int:
    """An application's reading of ``limit``: whatever ``int`` makes of it (``" 5"``, ``"+5"``, ``"٣"``), else the default."""
    try:
        return int(raw) if raw is not None else 20
    except ValueError:
        return 20


def _readings(*paths: str) -> list[str]:
    """Every path a lenient router could route on: decoded up to twice, backslashes as slashes, dot and empty segments resolved."""
    found: list[str] = []
    for path in paths:
        for variant in (path, unquote(path), unquote(unquote(path))):
            segments: list[str] = []
            for segment in variant.replace("\\", "/").split("/"):
                if segment == "..":
                    segments = segments[:-1]
                elif segment not in ("", "."):
                    segments.append(segment)
            found += [variant, "/" + "/".join(segments)]
    return found


def _starlette_route_path(scope: dict[str, Any]) -> str:
    """Starlette's ``get_route_path`` (>= 0.33), restated here so the property does not trust the guard's copy."""
    path, root = scope["path"], scope.get("root_path", "")
    if not root or not path.startswith(root):
        return str(path)
    if path == root:
        return ""
    return str(path[len(root) :]) if path[len(root)] == "/" else str(path)


def _asgi_recorder(rig: Rig) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        routed = _starlette_route_path(scope)
        raw = scope.get("raw_path") or b""
        rig.calls.append(
            Call(routed, _readings(routed, scope["path"], raw.decode("latin-1")), _limit(Request(scope).query_params.get("limit")))
        )
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": PAGE})

    return app


def _wsgi_recorder(rig: Rig) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        routed = environ.get("PATH_INFO", "")
        raw = (environ.get("RAW_URI") or "").split("?", 1)[0].removeprefix(environ.get("SCRIPT_NAME", ""))
        first = parse_qs(environ.get("QUERY_STRING", "")).get("limit", [None])[0]
        rig.calls.append(Call(routed, _readings(routed, raw), _limit(first)))
        start_response("200 OK", [("content-type", "application/json")])
        return [PAGE]

    return app


@pytest.fixture(scope="module", params=["asgi", "wsgi"])
def rig(request: pytest.FixtureRequest, demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    data_dir = _copy_demo(demo_template, tmp_path_factory.mktemp("props") / "data")
    _, guard = (build if request.param == "asgi" else build_wsgi)(data_dir)
    engine = RecordingEngine(guard.engine)
    guard.engine = engine
    cookie = start_session(guard, "dr.martin", int(guard.settings.clock()))
    rig = Rig(request.param, None, guard, engine, data_dir / "audit.db", cookie)
    rig.app = AccessGuardMiddleware(_asgi_recorder(rig), guard) if request.param == "asgi" else WSGIAccessGuard(_wsgi_recorder(rig), guard)
    yield rig
    guard.close()


# -- requests ------------------------------------------------------------------

SEGMENTS = st.sampled_from(
    [
        "patients",
        "Patients",
        "PATIENTS",
        "patient",
        "p-1",
        "42",
        "",
        ".",
        "..",
        "%2e",
        "%2e%2e",
        "%2f",
        "%2F",
        "%5c",
        "%252f",
        "%70atients",
        "patients%2f1",
        "api",
        "healthz",
        "login",
        "accessguard",
        ";",
        "%00",
        "é",
        "%e9",
        "%ff",
        " ",
    ]
)
CANONICAL = st.sampled_from(["/patients", "/patients/p-1", "/patients/42", "/healthz"])
RAW_PATHS = (
    CANONICAL
    | CANONICAL
    | st.lists(st.one_of(SEGMENTS, st.text(min_size=1, max_size=6).map(lambda t: quote(t, safe=""))), min_size=0, max_size=5).map(
        lambda parts: "/" + "/".join(parts)
    )
)
QUERY_PARTS = st.sampled_from(
    [
        "limit=5",
        "limit=500000",
        "limit=0",
        "limit=",
        "limit=-1",
        "limit=%35",
        "lim%69t=7",
        "LIMIT=9",
        "limit=²",
        "limit=٣",
        "limit=1e3",
        "q=a",
        "offset=3",
        "limit=3;limit=900",
        "%ff=1",
        "a=%ff",
        "&",
        "=",
        "limit+=8",
    ]
)
QUERIES = st.lists(st.one_of(QUERY_PARTS, st.text(max_size=8).map(lambda t: quote(t, safe="=&"))), max_size=4).map("&".join)
HEADER_VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=30)
HEADERS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "accept",
                "host",
                "cookie",
                "authorization",
                "x-forwarded-for",
                "x_forwarded_for",
                "forwarded",
                "content-type",
                "sec-fetch-site",
                "origin",
                "x-original-url",
                "x-rewrite-url",
            ]
        ),
        st.one_of(HEADER_VALUES, st.sampled_from(["text/html", "198.51.100.20", "203.0.113.30, 127.0.0.1", "Bearer x.y.z", "cross-site"])),
    ),
    max_size=4,
)


@dataclass(frozen=True)
class Sent:
    raw_path: str
    query: str
    headers: list[tuple[str, str]]
    mount: str
    below_mount: bool
    method: str
    with_session: bool


REQUESTS = st.builds(
    Sent,
    RAW_PATHS,
    QUERIES,
    HEADERS,
    st.sampled_from(["", "/api", "/api/", "/patients"]),
    st.booleans(),
    st.sampled_from(["GET", "GET", "GET", "HEAD", "POST", "get", "OPTIONS"]),
    st.booleans(),
)


def _send(rig: Rig, sent: Sent) -> int:
    headers = list(sent.headers)
    if sent.with_session:
        headers.append(("cookie", f"accessguard_session={rig.cookie}"))
    path = unquote(sent.raw_path, encoding="latin-1")
    if rig.adapter == "asgi":
        scope = {
            "method": sent.method,
            "path": (sent.mount + path) if sent.below_mount else path,
            "raw_path": sent.raw_path.encode("latin-1", "replace"),
            "root_path": sent.mount,
            "query_string": sent.query.encode("latin-1", "replace"),
            "headers": [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers],
        }
        return call_asgi(rig.app, scope).status
    script_name = sent.mount if sent.below_mount else ""
    environ = {
        "REQUEST_METHOD": sent.method,
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path,
        "QUERY_STRING": sent.query,
        "RAW_URI": script_name + sent.raw_path + (f"?{sent.query}" if sent.query else ""),
        **wsgi_headers(headers),
    }
    return call_wsgi(rig.app, environ).status


def _decisions_since(rig: Rig, seq: int) -> list[tuple[int, str, str]]:
    rig.guard.access_log.flush()
    with sqlite3.connect(f"file:{rig.audit_db}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT seq, route, json_extract(detail, '$.outcome') FROM entries WHERE kind = 'decision' AND seq > ?", (seq,))
        return [(int(s), str(r), str(o)) for s, r, o in rows]


def _last_seq(rig: Rig) -> int:
    rig.guard.access_log.flush()
    with sqlite3.connect(f"file:{rig.audit_db}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT coalesce(max(seq), 0) FROM entries").fetchone()[0])


@budget(150)
@given(sent=REQUESTS)
@example(sent=Sent("/Patients/..", "", [], "", False, "GET", True)).via("found: a case-blind router reads patient '..' here")
def test_no_protected_route_is_reached_without_its_decision(rig: Rig, sent: Sent) -> None:
    rig.calls.clear()
    rig.engine.inputs.clear()
    before = _last_seq(rig)
    status = _send(rig, sent)
    assert status < 500, f"{status} for {sent}"
    decisions = _decisions_since(rig, before)
    allowed = [route for _, route, outcome in decisions if outcome == "allow"]
    assert len(decisions) == len(rig.engine.inputs), "every evaluated input is logged as one decision"
    event(f"status {status}, {len(allowed)} allowed")
    protected = [call for call in rig.calls if any(SEARCH.match(r) or READ.match(r) for r in call.readings)]
    assert len(protected) == len(allowed), f"app asked for {protected}, access log allowed {allowed} ({sent})"
    for call in protected:
        [policy_input] = rig.engine.inputs
        assert allowed == [policy_input["request"]["route"]]
        expected_route = "patients.search" if SEARCH.match(call.routed) else "patients.read"
        assert policy_input["request"]["route"] == expected_route, f"the app routes {call.routed!r}; the guard decided another route"
        if expected_route == "patients.search":
            assert policy_input["request"]["resource"]["requested_count"] == call.limit, f"the app reads {call.limit} records ({sent})"
