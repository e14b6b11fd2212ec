"""Log lines: the request id, the JSON line format and the plain one, and how a process selects them.

Every line is one line whatever a request sent. JSON: one object per line
(orjson), every control character escaped, DEL, the C1 controls and the
Unicode line separators too (a terminal reading a C1 CSI runs an escape
sequence; a JSON reader may break a line at U+2028); the structured part of
a line (a decision, an alert) goes in its own member. Plain: the same
characters escaped in the message, a traceback kept as it is (it is the
guard's text, and request values in exception messages are quoted by
``untrusted.for_log`` where they are raised).

The request id comes from a sane incoming ``X-Request-Id`` (``REQUEST_ID``:
letters, digits and ``._:-``, at most 128) or is made; the adapters set it
for the request (a context variable, so it follows the request through
threads and tasks alike) and return it in the response's ``X-Request-Id``.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar, Token
from typing import Any

import orjson

#: Values of ``Settings.log_format``.
LOG_FORMATS = ("plain", "json")
REQUEST_ID_HEADER = "x-request-id"
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
#: What stays escaped in a JSON line beyond what JSON escapes: DEL, C1 controls, line and paragraph separators.
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u2028\u2029]")
#: What a plain line escapes in the message: every control character but tab, and the same.
_UNSAFE_IN_PLAIN = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
#: Record attributes carrying a structured part, and the member each goes into.
STRUCTURED = {"decision": "decision", "alert": "alert", "delivered_alert": "alert"}

_request_id: ContextVar[str | None] = ContextVar("accessguard_request_id", default=None)


def begin_request(sent: str | None) -> tuple[str, Token[str | None]]:
    """The request's id (the one sent if sane, else a new one), set for log lines until ``end_request``."""
    request_id = sent if sent is not None and REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
    return request_id, _request_id.set(request_id)


def end_request(token: Token[str | None]) -> None:
    _request_id.reset(token)


def current_request_id() -> str | None:
    return _request_id.get()


def _escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, and a decision, alert or exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = _request_id.get()
        if request_id is not None:
            document["request_id"] = request_id
        for attribute, member in STRUCTURED.items():
            value = getattr(record, attribute, None)
            if isinstance(value, dict):
                document[member] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        line = orjson.dumps(document, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        return _UNSAFE_IN_JSON.sub(_escaped, line)


class PlainFormatter(logging.Formatter):
    """``time level logger [request id] message`` with the message's control characters escaped."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = _UNSAFE_IN_PLAIN.sub(_escaped, record.message)
        request_id = _request_id.get()
        fields = {**record.__dict__, "message": f"[{request_id}] {message}" if request_id else message}
        return self._style._fmt % fields


def configure_logging(log_format: str) -> None:
    """Send accessguard's lines to stderr in ``log_format``: info and up (a policy going live, a login refused);
    one line per decision only in ``json``, for log pipelines (the plain console would drown in them)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else PlainFormatter())
    logger = logging.getLogger("accessguard")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logging.getLogger("accessguard.decisions").setLevel(logging.INFO if log_format == "json" else logging.WARNING)
