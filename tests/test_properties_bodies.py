"""Any body sent to any of the guard's own routes is answered 2xx or 4xx, never 5xx, and no thread of the guard dies.

Every route in ``Guard.endpoints.routes`` is sent any JSON value (lone
surrogates, NUL, huge numbers, deep nesting, WebAuthn-shaped documents) or any
bytes, through the real ASGI and WSGI adapters, as a stranger and as a
professional with a fresh session (a ``complete`` route right after its
``begin``, so fido2's parsers see the body). Afterwards every thread the guard
started is alive, and the access log still commits.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from accessguard.demo.app import build
from accessguard.guard import Guard
from accessguard.middleware.asgi import AccessGuardMiddleware
from tests.conftest import _copy_demo
from tests.property_support import Answer, budget, call_asgi, call_wsgi, wsgi_headers
from tests.store_support import start_session
from tests.wsgi_directory import build_wsgi

pytestmark = pytest.mark.slow

FIELDS = ["username", "password", "code", "reason", "patient", "token", "account", "label", "authenticator", "old_password",
          "new_password", "provenance", "id", "rawId", "type", "response", "clientDataJSON", "attestationObject",
          "authenticatorData", "signature", "userHandle", "clientExtensionResults", "authenticatorAttachment"]  # fmt: skip
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ANY_TEXT | st.sampled_from(["dr.martin", "admin", "p-1"])
B64 = st.binary(max_size=80).map(lambda b: base64.urlsafe_b64encode(b).decode().rstrip("="))
CLIENT_DATA = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["webauthn.create", "webauthn.get", "x"]),
        "challenge": B64,
        "origin": st.sampled_from(["http://localhost", "x"]),
    },
    optional={"crossOrigin": SCALARS, "tokenBinding": SCALARS},
).map(lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("="))
WEBAUTHN = st.fixed_dictionaries(
    {"id": B64, "rawId": B64 | SCALARS, "type": st.just("public-key") | SCALARS},
    optional={
        "response": st.fixed_dictionaries(
            {"clientDataJSON": CLIENT_DATA | B64 | SCALARS},
            optional={"attestationObject": B64 | SCALARS, "authenticatorData": B64 | SCALARS, "signature": B64, "userHandle": B64}
        ) | SCALARS,
        "clientExtensionResults": st.dictionaries(ANY_TEXT, SCALARS, max_size=2) | SCALARS,
    },
)  # fmt: skip
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS) | ANY_TEXT, inner, max_size=5),
    max_leaves=20,
)
OBJECTS = st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6) | WEBAUTHN
BODIES = (
    (OBJECTS | JSON).map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=64)
    | st.sampled_from(
        [b"1" * 5000, b"[" * 8000, b'{"username": "\\ud800", "password": "x"}', b'{"a": NaN}', b"\xff\xfe{}", b'{"reason": "1e999999"}']
    )
)


LATIN_1 = st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=24)
#: Headers a guard route reads besides the body: where the request comes from (CSRF), how long the body is (WSGI).
EXTRA_HEADERS = st.lists(
    st.tuples(
        st.sampled_from(["origin", "sec-fetch-site", "content-length", "host"]),
        LATIN_1 | st.sampled_from(["http://[", "http://localhost", "null", "²", "-1", "99999999999999999999", "same-origin"]),
    ),
    max_size=2,
    unique_by=lambda header: header[0],
)


CONTENT_TYPES = st.sampled_from(["application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "text/plain", ""])


@dataclass
class Rig:
    adapter: str
    app: Any
    guard: Guard
    threads: list[threading.Thread]


@pytest.fixture(scope="module", params=["asgi", "wsgi"])
def rig(request: pytest.FixtureRequest, demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    before = set(threading.enumerate())
    data_dir = _copy_demo(demo_template, tmp_path_factory.mktemp("bodies") / "data")
    app, guard = (build if request.param == "asgi" else build_wsgi)(data_dir)
    threads = [t for t in threading.enumerate() if t not in before and t.name.startswith("accessguard-")]
    assert any(t.name == "accessguard-access-log" for t in threads)
    yield Rig(request.param, app, guard, threads)
    guard.close()


def _post(rig: Rig, path: str, body: bytes, headers: list[tuple[str, str]]) -> Answer:
    if isinstance(rig.app, AccessGuardMiddleware):
        scope = {"method": "POST", "path": path, "headers": [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]}
        return call_asgi(rig.app, scope, body)
    return call_wsgi(rig.app, {"REQUEST_METHOD": "POST", "PATH_INFO": path, **wsgi_headers(headers)}, body)


def _routes(guard: Guard) -> list[str]:
    return sorted({path for _, path in guard.endpoints.routes})


@budget(120)
@given(data=st.data(), body=BODIES, extra=EXTRA_HEADERS, who=st.sampled_from(["stranger", "password", "full"]), content_type=CONTENT_TYPES)
@example(data=None, body=b'{"reason": "\\ud800", "patient": "p-1"}', extra=[], who="full", content_type="application/json").via("issue 11")
@example(data=None, body=b"{}", extra=[("content-length", "²")], who="stranger", content_type="application/json").via(
    "found: a superscript digit passed str.isdigit, then int() raised: a 500 on WSGI"
)
@example(data=None, body=b"{}", extra=[("origin", "http://[")], who="stranger", content_type="application/json").via(
    "found: an unparsable Origin made the CSRF check raise outside the guard's try: a 500"
)
def test_any_body_to_any_guard_route_is_answered_without_a_server_error(
    rig: Rig, data: Any, body: bytes, extra: list[tuple[str, str]], who: str, content_type: str
) -> None:
    routes = _routes(rig.guard)
    path = data.draw(st.sampled_from(routes), label="route") if data is not None else "/accessguard/emergency"
    headers = ([("content-type", content_type)] if content_type else []) + extra
    if who != "stranger":
        now = int(rig.guard.settings.clock())
        cookie = start_session(rig.guard, "dr.martin", now, ("pwd", "otp") if who == "full" else ("pwd",))
        headers.append(("cookie", f"accessguard_session={cookie}"))
    if path.endswith("/complete"):  # the ceremony's state first, so the body reaches fido2
        begun = _post(rig, path.removesuffix("complete") + "begin", b"{}", [*headers, ("content-type", "application/json")])
        assert begun.status < 500, begun
    answer = _post(rig, path, body, headers)
    event(f"{path} {answer.status}")
    assert answer.status < 500, f"{path}: {answer.status} {answer.body[:300]!r}"
    dead = [t.name for t in rig.threads if not t.is_alive()]
    assert not dead, f"threads died: {dead}"


def test_the_access_log_still_commits_after_the_bodies(rig: Rig) -> None:
    """Run after the property (same module rig): a protected request is still decided and logged."""
    cookie = start_session(rig.guard, "dr.martin", int(rig.guard.settings.clock()))
    headers = [("cookie", f"accessguard_session={cookie}")]
    if isinstance(rig.app, AccessGuardMiddleware):
        answer = call_asgi(rig.app, {"path": "/patients/p-1", "headers": [(n.encode(), v.encode()) for n, v in headers]})
    else:
        answer = call_wsgi(rig.app, {"PATH_INFO": "/patients/p-1", **wsgi_headers(headers)})
    assert answer.status in (200, 404), answer
    rig.guard.access_log.flush()
    assert all(t.is_alive() for t in rig.threads)
