"""The path an application routes on below its mount, and the other readings a router could make of it.

An application mounted under a prefix (Starlette ``Mount``, FastAPI ``app.mount``,
``uvicorn --root-path``, WSGI ``SCRIPT_NAME`` under a dispatcher) routes on the
path *below* the prefix, so that is the path the guard decides on. Routers also
disagree on paths that are not in canonical form (``//patients``, ``/a/../patients``,
``/patients/``, ``/Patients``, an encoded slash): the guard lists the other
readings of a request so that ``Guard.check`` can refuse one that some router
would take for a protected route, instead of letting it through undecided.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

#: An encoded slash or backslash: some routers split on it, others keep it inside a segment.
_ENCODED_SEPARATOR = re.compile(r"(%2f|%5c)", re.IGNORECASE)


@dataclass(frozen=True)
class RoutePath:
    """``path``: what the application routes on; ``mount``: the prefix above it; ``others``: other readings of the request."""

    path: str
    mount: str = ""
    others: tuple[str, ...] = ()


def asgi_route_path(path: str, root_path: str, raw_path: bytes | None) -> RoutePath:
    """Starlette's rule (``get_route_path``, Starlette >= 0.33): ``path`` holds ``root_path``, routing uses what follows it.

    Other readings: the whole ``path`` (servers and frameworks of the older
    convention, where ``path`` excluded ``root_path``), ``path`` cut blindly after
    ``len(root_path)`` characters, and ``raw_path`` with its encoded slashes kept.
    """
    routed = _below(path, root_path)
    others = {path, path[len(root_path) :] or "/"} if root_path else set()
    if raw_path is not None:
        raw = raw_path.decode("latin-1")
        if _ENCODED_SEPARATOR.search(raw):
            kept = _keep_encoded_separators(raw)
            others.update((kept, _below(kept, root_path)))
    others.discard(routed)
    return RoutePath(routed, root_path, tuple(sorted(others)))


def wsgi_route_path(script_name: str, path_info: str, request_uri: str | None) -> RoutePath:
    """PEP 3333: applications route on ``PATH_INFO``; ``SCRIPT_NAME`` is where they are mounted.

    Another reading: the request URI (gunicorn's ``RAW_URI``, ``REQUEST_URI``) with
    its encoded slashes kept, below ``SCRIPT_NAME``.
    """
    routed = path_info or "/"
    others: set[str] = set()
    raw = (request_uri or "").split("?", 1)[0]
    if _ENCODED_SEPARATOR.search(raw):
        others.add(_below(_keep_encoded_separators(raw), script_name))
    others.discard(routed)
    return RoutePath(routed, script_name, tuple(sorted(others)))


def loose_readings(path: str, others: Iterable[str]) -> set[str]:
    """Every path a lenient router could route this request on, normalised.

    Normalising means: decoded once more (double encoding), backslashes read as
    slashes, empty and ``.`` segments dropped (``//``, a trailing slash, a missing
    leading one), ``..`` applied. Each reading is also kept as it is, since a router
    that ignores case need not resolve dot segments (``/Patients/..`` is patient
    ``..`` to it). Routes are compared with these ignoring case.
    """
    readings: set[str] = set()
    for reading in (path, *others):
        decoded = unquote(reading, errors="replace")
        readings.update((reading, decoded, _normalise(reading), _normalise(decoded)))
    return readings


def _below(path: str, prefix: str) -> str:
    if prefix and (path == prefix or path.startswith(prefix + "/")):
        return path[len(prefix) :] or "/"
    return path


def _keep_encoded_separators(raw: str) -> str:
    """``raw`` decoded except for encoded slashes and backslashes, which stay inside their segment."""
    pieces = _ENCODED_SEPARATOR.split(raw)  # text, separator, text, ...
    return "".join(piece if i % 2 else unquote(piece, errors="replace") for i, piece in enumerate(pieces))


def _normalise(path: str) -> str:
    segments: list[str] = []
    for segment in path.replace("\\", "/").split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    return "/" + "/".join(segments)
