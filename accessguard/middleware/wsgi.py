"""WSGI middleware (PEP 3333) over the same Guard."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from accessguard.endpoints import MAX_BODY_BYTES
from accessguard.facts import RequestFacts
from accessguard.guard import Guard
from accessguard.logs import REQUEST_ID_HEADER, begin_request, end_request
from accessguard.mounting import wsgi_route_path
from accessguard.problem import Response, problem
from accessguard.signals.usage import SERVED_KEY

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

#: Servers that merge a header named with underscores (``X_Forwarded_For``) into the dashed one's
#: variable, unseen: wsgiref. gunicorn (>= 22) drops such headers unless ``header_map`` says otherwise.
FOLDING_SERVERS = ("WSGIServer/",)


class WSGIAccessGuard:
    def __init__(self, app: WSGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        facts = _facts(environ)
        request_id, token = begin_request(facts.headers.get(REQUEST_ID_HEADER))
        try:
            return self._guarded(environ, start_response, facts, request_id)
        finally:
            end_request(token)

    def _guarded(self, environ: Environ, start_response: StartResponse, facts: RequestFacts, request_id: str) -> Iterable[bytes]:
        if self.guard.is_endpoint(facts):
            body = _read_body(environ)
            response = (
                self.guard.serve(facts, body)
                if body is not None
                else problem(400, "bad-request", "Bad request", "invalid Content-Length header")
            )
            return _send(start_response, response, request_id)
        verdict = self.guard.check(facts)
        if verdict.response is not None:
            return _send(start_response, verdict.response, request_id)
        if verdict.route is None:
            return self.app(environ, start_response)
        status = 500

        def observe(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal status
            status = int(status_line.split(" ", 1)[0])
            return start_response(status_line, [*headers, (REQUEST_ID_HEADER, request_id)], exc_info)

        chunks: list[bytes] = []
        environ[SERVED_KEY] = verdict.served
        result = self.app(environ, observe)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
            self.guard.settle(verdict, status, b"".join(chunks))
        return chunks


def _facts(environ: Environ) -> RequestFacts:
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    route = wsgi_route_path(
        environ.get("SCRIPT_NAME", ""), environ.get("PATH_INFO", ""), environ.get("RAW_URI") or environ.get("REQUEST_URI")
    )
    return RequestFacts(
        environ["REQUEST_METHOD"],
        route.path,
        environ.get("QUERY_STRING", ""),
        headers,
        environ.get("REMOTE_ADDR"),
        route.mount,
        route.others,
        header_names_folded=environ.get("SERVER_SOFTWARE", "").startswith(FOLDING_SERVERS),
    )


def _read_body(environ: Environ) -> bytes | None:
    """The request body, at most one byte past the limit; None for a bad Content-Length."""
    raw = environ.get("CONTENT_LENGTH") or "0"
    if not raw.isascii() or not raw.isdigit():  # "²" is a digit to str.isdigit, not to int()
        return None
    length = min(int(raw), MAX_BODY_BYTES + 1)
    body: bytes = environ["wsgi.input"].read(length) if length else b""
    return body


def _send(start_response: StartResponse, response: Response, request_id: str) -> list[bytes]:
    status_line = f"{response.status} {HTTPStatus(response.status).phrase}"
    start_response(status_line, [*response.headers, ("content-length", str(len(response.body))), (REQUEST_ID_HEADER, request_id)])
    return [response.body]
