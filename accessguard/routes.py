"""Protected routes: which paths are patient directories, and what a request asks for."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from accessguard.errors import BadRequest, ConfigurationError

_PARAM = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")

#: ``served_ids`` of a route whose handler reports the ids itself (``accessguard.report_served``).
REPORTED_BY_APP = "@app"


@dataclass(frozen=True)
class ProtectedRoute:
    """A route the guard protects.

    ``pattern`` is a path such as ``/patients/{id}``. ``requested_count`` is
    how many records one request asks for: a fixed number, or the name of a
    query parameter (``"limit"``) whose value is used, ``default_count`` when
    absent and never more than ``max_count`` before the policy sees it.
    ``served_ids`` names the response field holding the ids of the patient
    identity records actually served (``"patients[].id"`` or ``"id"``), or
    is ``REPORTED_BY_APP`` when the handler reports them with ``report_served``.
    """

    pattern: str
    name: str
    resource: str = "patient_identity"
    action: str = "read"
    methods: tuple[str, ...] = ("GET",)
    requested_count: int | str = 1
    default_count: int = 20
    served_ids: str | None = None
    #: The declared methods, and HEAD with GET: frameworks run the GET handler for
    #: it, and its status and length would tell an anonymous caller which patients exist.
    allowed_methods: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _loose: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.pattern.startswith("/"):
            raise ConfigurationError(f"route pattern {self.pattern!r} must start with '/'")
        for method in self.methods:  # "get" would never match a request: every GET a 405
            if not re.fullmatch(r"[A-Z]+", method):
                raise ConfigurationError(f"route {self.name!r}: methods: {method!r} is not an HTTP method in capitals (GET, POST)")
        regex = "^" + _PARAM.sub(r"(?P<\1>[^/]+)", re.escape(self.pattern).replace(r"\{", "{").replace(r"\}", "}")) + "$"
        object.__setattr__(self, "_regex", re.compile(regex))
        object.__setattr__(self, "_loose", re.compile(regex, re.IGNORECASE))
        head = ("HEAD",) if "GET" in self.methods and "HEAD" not in self.methods else ()
        object.__setattr__(self, "allowed_methods", self.methods + head)

    def match(self, path: str) -> dict[str, str] | None:
        """Path parameters when ``path`` is this route's (whatever the method), else None."""
        found = self._regex.match(path)
        return found.groupdict() if found else None

    def matches_loosely(self, path: str) -> bool:
        """True when ``path`` is this route's ignoring case (for readings a lenient router could make)."""
        return self._loose.match(path) is not None

    def count_requested(self, query: Mapping[str, Sequence[str]]) -> int:
        """Records this request asks for; BadRequest on a malformed or repeated count.

        A repeated count is refused: the app might read another value than the
        guard counted (``limit=1&limit=1000``).
        """
        if isinstance(self.requested_count, int):
            return self.requested_count
        values = query.get(self.requested_count)
        if not values:
            return self.default_count
        if len(values) > 1:
            raise BadRequest("query parameter {name!r} is given {count} times; give it once", name=self.requested_count, count=len(values))
        raw = values[0]
        if not raw.isascii() or not raw.isdigit():
            raise BadRequest(
                "query parameter {name!r} must be a non-negative integer, got {value!r}", name=self.requested_count, value=raw[:40]
            )
        if len(raw) > 6:
            raise BadRequest("query parameter {name!r} is too large", name=self.requested_count)
        return int(raw)


def served_ids(document: Any, field_path: str) -> list[str]:
    """Extract ids from a JSON document by a path like ``patients[].id``."""
    values: list[Any] = [document]
    for part in field_path.split("."):
        many = part.endswith("[]")
        key = part[:-2] if many else part
        next_values: list[Any] = []
        for value in values:
            item = value.get(key) if isinstance(value, dict) else None
            if many and isinstance(item, list):
                next_values.extend(item)
            elif not many and item is not None:
                next_values.append(item)
        values = next_values
    return [str(v) for v in values if isinstance(v, (str, int))]
