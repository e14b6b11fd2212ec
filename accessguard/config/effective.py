"""The effective configuration as TOML, secrets redacted: what ``accessguard config check`` prints.

Every key is shown with the value the service will use, defaults included.
The output parses as TOML again; a secret appears only as a comment naming
where it came from, and a password inside a URL as ``***``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from accessguard.config.schema import keys_of
from accessguard.database.postgres import redacted
from accessguard.settings import Settings

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def effective_toml(settings: Settings, secret_sources: Mapping[str, str]) -> str:
    """``settings`` as a TOML document, every secret replaced by a comment saying where it was found."""
    out: list[str] = []
    _table(out, "", settings, secret_sources)
    return "\n".join(out).strip() + "\n"


def _table(out: list[str], name: str, value: Any, secret_sources: Mapping[str, str]) -> None:
    later: list[tuple[str, Any]] = []
    for field, key in keys_of(name).items():
        item = getattr(value, field)
        if key.secret:
            source = secret_sources.get(key.name)
            out.append(f"# {field} = (secret, from {source})" if source and item else f"# {field}: not set")
        elif dataclasses.is_dataclass(item) or (isinstance(item, (tuple, list)) and item and dataclasses.is_dataclass(item[0])):
            later.append((key.name, item))
        elif item is None:
            out.append(f"# {field}: not set")
        else:
            if key.name in secret_sources:  # a URL the environment replaced
                out.append(f"# {field}: from {secret_sources[key.name]}")
            out.append(f"{field} = {toml_value(item)}")
    for table, item in later:
        for element in item if isinstance(item, (tuple, list)) else (item,):
            out.extend(["", f"[[{table}]]" if isinstance(item, (tuple, list)) else f"[{table}]"])
            _table(out, table, element, secret_sources)


def toml_value(value: Any) -> str:
    """A value in TOML's notation (a password in a URL as ``***``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, Path):
        return _string(str(value))
    if isinstance(value, str):
        return _string(redacted(value) if "://" in value else value)
    if isinstance(value, Mapping):
        entries = ", ".join(f"{k if _BARE_KEY.match(k) else _string(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + entries + " }" if entries else "{}"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _string(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, but TOML also wants DEL escaped and non-ASCII left as it is."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")
