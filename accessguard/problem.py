"""HTTP answers of the guard: RFC 9457 problem documents, RFC 6750 and RFC 9470 challenges."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

PROBLEM_TYPE = "urn:accessguard:problem:"
MAX_DESCRIPTION = 200
#: Characters RFC 6750 §3 forbids in challenge parameters (quote, backslash, non-printable ASCII);
#: a description may quote token content, so they are replaced rather than escaped.
_UNQUOTABLE = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")


#: On every response the guard produces (problem documents, JSON, pages, redirects): a browser must not
#: sniff a problem document that quotes request input into HTML or script.
NOSNIFF = ("x-content-type-options", "nosniff")


@dataclass(frozen=True)
class Response:
    """A complete response the adapters send as is; it always carries ``NOSNIFF``."""

    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not any(name.lower() == NOSNIFF[0] for name, _ in self.headers):
            object.__setattr__(self, "headers", [*self.headers, NOSNIFF])


def json_response(status: int, document: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, json.dumps(document).encode(), [("content-type", "application/json"), *(headers or [])])


def problem(status: int, kind: str, title: str, detail: str, headers: list[tuple[str, str]] | None = None, **extra: Any) -> Response:
    """An ``application/problem+json`` response (RFC 9457); ``extra`` are extension members."""
    document = {"type": PROBLEM_TYPE + kind, "title": title, "status": status, "detail": detail, **extra}
    return Response(status, json.dumps(document).encode(), [("content-type", "application/problem+json"), *(headers or [])])


def insufficient_user_authentication(description: str, acr_values: list[str], max_age: int | None) -> str:
    """The ``WWW-Authenticate`` value of an RFC 9470 step-up challenge."""
    extra = {"acr_values": " ".join(acr_values), **({"max_age": str(max_age)} if max_age is not None else {})}
    return _bearer_challenge("insufficient_user_authentication", description, extra)


def invalid_token(description: str) -> Response:
    """The 401 for a refused bearer token (RFC 6750 §3.1 ``invalid_token``)."""
    challenge = _bearer_challenge("invalid_token", description, {})
    return problem(401, "invalid-token", "Invalid token", description, [("www-authenticate", challenge)])


def _bearer_challenge(error: str, description: str, extra: dict[str, str]) -> str:
    params = {"error": error, "error_description": description[:MAX_DESCRIPTION], **extra}
    return "Bearer " + ", ".join(f'{name}="{_UNQUOTABLE.sub("?", value)}"' for name, value in params.items())
