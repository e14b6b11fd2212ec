"""Values from outside: checked once at the boundary, escaped before they reach a log line.

JSON can carry text that is valid JSON yet not storable text: a lone
surrogate (``"\\ud800"``) has no UTF-8 encoding, so SQLite, an HMAC or the
access-log writer would raise on it far from the request, and a NUL or a
line break forges lines in logs. Numbers of thousands of digits and deep
nesting make Python's parser itself raise (ValueError, RecursionError).
``parse_json_object`` refuses all of these with a ``BadRequest`` naming the
field, for every guard route; ``text`` checks one named string;
``for_log`` renders any request value as one inert token of a log line.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal

from accessguard.errors import BadRequest, Phrase
from accessguard.i18n import N_

#: Arrays and objects nested deeper than this are refused (no guard route needs more than a few levels).
MAX_DEPTH = 16
#: Digits of a JSON number at most (Python refuses to convert integers past 4300 digits).
MAX_NUMBER_DIGITS = 40
#: Characters of a request value written to a log line at most.
LOG_VALUE_LIMIT = 200

# Never storable or never meant: lone surrogates, NUL and the other C0 controls but tab and line breaks, DEL, C1 controls.
_TOO_DEEP = N_("the request body nests arrays or objects more than {depth} levels deep")
_TOO_LONG_NUMBER = N_("the request body holds a number of more than {digits} digits")
#: What is wrong with a value that should be text, by what the value is: too long or empty, not text, not one line.
_TEXT_PROBLEMS = {
    "field": (
        N_("field {name!r} must be a non-empty string of at most {length} characters"),
        N_("field {name!r} must be text: it holds {character}"),
        N_("field {name!r} must be text on one line: it holds {character}"),
    ),
    "claim": (
        N_("claim {name!r} must be a non-empty string of at most {length} characters"),
        N_("claim {name!r} must be text: it holds {character}"),
        N_("claim {name!r} must be text on one line: it holds {character}"),
    ),
}
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# A one-line field also refuses tab, line breaks and the Unicode line and paragraph separators.
_NOT_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def parse_json_object(body: bytes) -> dict[str, Any]:
    """A JSON object whose every key and string is text and every number is small; BadRequest naming the problem otherwise."""
    try:
        document = json.loads(body, parse_int=_integer, parse_float=_real, parse_constant=_constant)
    except RecursionError:
        raise BadRequest(_TOO_DEEP, depth=MAX_DEPTH) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest("the request body is not valid JSON: {problem}", problem=str(exc)) from None
    if not isinstance(document, dict):
        raise BadRequest("the request body must be a JSON object")
    _check_strings(document)
    return document


def text(name: str, value: object, max_length: int, *, multiline: bool = False, what: Literal["field", "claim"] = "field") -> str:
    """``value`` if it is a non-empty string of text of at most ``max_length`` characters; BadRequest naming ``name`` otherwise.

    ``multiline`` allows tab and line breaks (free text such as a reason); ``what`` names the kind of value (a token's "claim").
    """
    too_long, not_text, not_line = _TEXT_PROBLEMS[what]
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise BadRequest(too_long, name=name, length=max_length)
    found = (_NOT_TEXT if multiline else _NOT_LINE).search(value)
    if found is not None:
        raise BadRequest(not_text if multiline else not_line, name=name, character=_describe(found.group()))
    return value


def for_log(value: object, limit: int = LOG_VALUE_LIMIT) -> str:
    """``value`` as one inert token of a log line: quoted, with line breaks, controls and surrogates escaped, cut to ``limit``."""
    raw = value if isinstance(value, str) else str(value)
    return repr(raw[:limit]) + ("..." if len(raw) > limit else "")


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise BadRequest(_TOO_LONG_NUMBER, digits=MAX_NUMBER_DIGITS)
    return int(digits)


def _real(literal: str) -> float:
    if len(literal) > MAX_NUMBER_DIGITS + 8:  # room for a sign, a point and an exponent
        raise BadRequest(_TOO_LONG_NUMBER, digits=MAX_NUMBER_DIGITS)
    value = float(literal)
    if not math.isfinite(value):
        raise BadRequest("the request body holds a number too large to represent")
    return value


def _constant(name: str) -> None:
    raise BadRequest("the request body is not valid JSON: {name} is not a JSON value", name=name)


def _check_strings(document: dict[str, Any]) -> None:
    """Every key and string value is text; nesting stays within MAX_DEPTH. Iterative, so depth cannot exhaust the stack."""
    pending: list[tuple[str, Any, int]] = [("", document, 1)]
    while pending:
        path, value, depth = pending.pop()
        if isinstance(value, str):
            found = _NOT_TEXT.search(value)
            if found is not None:
                raise BadRequest(
                    "field {field} must be text: it holds {character}", field=for_log(path or "(body)"), character=_describe(found.group())
                )
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth > MAX_DEPTH:
            raise BadRequest(_TOO_DEEP, depth=MAX_DEPTH)
        if isinstance(value, list):
            pending.extend((f"{path}[{index}]", item, depth + 1) for index, item in enumerate(value))
            continue
        for key, item in value.items():
            found = _NOT_TEXT.search(key)
            if found is not None:
                raise BadRequest(
                    "a key in {field} must be text: it holds {character}",
                    field=for_log(path or "(body)"),
                    character=_describe(found.group()),
                )
            pending.append((f"{path}.{key}" if path else key, item, depth + 1))


def _describe(character: str) -> Phrase:
    code = ord(character)
    if 0xD800 <= code <= 0xDFFF:
        return Phrase("a lone surrogate (U+{code})", code=f"{code:04X}")
    if code == 0:
        return Phrase("a NUL character")
    return Phrase("the control character U+{code}", code=f"{code:04X}")
