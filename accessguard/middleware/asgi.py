"""Pure ASGI middleware (no BaseHTTPMiddleware)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from accessguard.endpoints import MAX_BODY_BYTES
from accessguard.facts import RequestFacts
from accessguard.guard import Guard
from accessguard.logs import REQUEST_ID_HEADER, begin_request, end_request
from accessguard.mounting import asgi_route_path
from accessguard.problem import Response
from accessguard.signals.usage import SERVED_KEY

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: RFC 6455 close code "policy violation": a WebSocket handshake refused before it was accepted.
POLICY_VIOLATION = 1008

log = logging.getLogger(__name__)


class AccessGuardMiddleware:
    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        facts = _facts(scope)
        request_id, token = begin_request(facts.headers.get(REQUEST_ID_HEADER))
        try:
            await self._guarded(scope, receive, send, facts, request_id)
        finally:
            end_request(token)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send, facts: RequestFacts, request_id: str) -> None:
        if self.guard.is_endpoint(facts):
            await _send(send, self.guard.serve(facts, await _read_body(receive)), request_id)
            return
        verdict = self.guard.check(facts)
        if verdict.response is not None:
            await _send(send, verdict.response, request_id)
            return
        if verdict.route is None:
            await self.app(scope, receive, send)
            return
        status = 500
        chunks: list[bytes] = []

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), (REQUEST_ID_HEADER.encode(), request_id.encode())]}
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app({**scope, SERVED_KEY: verdict.served}, receive, observe)
        finally:
            self.guard.settle(verdict, status, b"".join(chunks))

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A WebSocket on a path the guard protects (or could be read as one) is closed before it opens: nothing decides a stream."""
        facts = _facts({**scope, "method": "GET"})
        if not self.guard.protects(facts):
            await self.app(scope, receive, send)
            return
        log.info("WebSocket %s refused: protected path", ascii(facts.path[:200]))
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": "protected path: use HTTP"})


def _facts(scope: Scope) -> RequestFacts:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name in headers:  # repeated fields: cookies join with "; " (RFC 9113 §8.2.3), others with ", "
            value = f"{headers[name]}{'; ' if name == 'cookie' else ', '}{value}"
        headers[name] = value
    client = scope.get("client")
    route = asgi_route_path(scope["path"], scope.get("root_path", ""), scope.get("raw_path"))
    query = scope.get("query_string", b"").decode("latin-1")
    return RequestFacts(scope["method"], route.path, query, headers, client[0] if client else None, route.mount, route.others)


async def _read_body(receive: Receive) -> bytes:
    """The request body, cut one byte past the limit so oversize is detected, not buffered."""
    body = b""
    while True:
        message = await receive()
        body += bytes(message.get("body", b""))
        if len(body) > MAX_BODY_BYTES or not message.get("more_body", False):
            return body[: MAX_BODY_BYTES + 1]


async def _send(send: Send, response: Response, request_id: str) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
