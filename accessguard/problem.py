"""HTTP answers of the guard: RFC 9457 problem documents and the RFC 9470 challenge."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

PROBLEM_TYPE = "urn:accessguard:problem:"


@dataclass(frozen=True)
class Response:
    """A complete response the adapters send as is."""

    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_response(status: int, document: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, json.dumps(document).encode(), [("content-type", "application/json"), *(headers or [])])


def problem(status: int, kind: str, title: str, detail: str, headers: list[tuple[str, str]] | None = None, **extra: Any) -> Response:
    """An ``application/problem+json`` response (RFC 9457); ``extra`` are extension members."""
    document = {"type": PROBLEM_TYPE + kind, "title": title, "status": status, "detail": detail, **extra}
    return Response(status, json.dumps(document).encode(), [("content-type", "application/problem+json"), *(headers or [])])


def insufficient_user_authentication(description: str, acr_values: list[str], max_age: int | None) -> str:
    """The ``WWW-Authenticate`` value of an RFC 9470 step-up challenge."""
    params = [
        'error="insufficient_user_authentication"',
        f'error_description="{_quote(description)}"',
        f'acr_values="{_quote(" ".join(acr_values))}"',
    ]
    if max_age is not None:
        params.append(f'max_age="{max_age}"')
    return "Bearer " + ", ".join(params)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
