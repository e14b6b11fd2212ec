"""A TOML configuration file → ``Settings``, every problem named by key and line.

Secrets are never read from the file itself: each comes from
``ACCESSGUARD_<KEY>``, else from the file named by ``ACCESSGUARD_<KEY>_FILE``
(as container secrets are mounted), else from the file named by the
configuration's ``<key>_file``. Relative paths are relative to the
configuration file's directory, so the service reads the same files whatever
directory it starts in.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import json
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from accessguard.config.lines import KeyPath, key_lines, line_of
from accessguard.config.schema import FROM_ENVIRONMENT, Key, env_name, keys_of, type_name
from accessguard.errors import ConfigurationError
from accessguard.settings import Settings

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BAD = object()  # a value refused (its problem recorded), so whatever holds it is not built
_LEADING_KEY = re.compile(r"^([a-z_]+(?:\.[a-z_]+)*)(?:\[(['\"])(.*?)\2\])?")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file, at ``line`` (None: the key is not written)."""

    line: int | None
    key: str
    message: str


class ConfigFileError(ConfigurationError):
    """The configuration file is refused; one line per problem: ``FILE:LINE: key: message``."""

    def __init__(self, path: Path, problems: Sequence[Problem]) -> None:
        self.path = path
        self.problems = tuple(problems)
        super().__init__("\n".join(f"{path}:{p.line or '-'}: {p.key}: {p.message}" for p in self.problems))


@dataclass
class Loaded:
    """The settings a file gives, and where each secret (or URL replaced from the environment) came from."""

    settings: Settings
    secret_sources: dict[str, str] = field(default_factory=dict)


def load(
    path: Path | str,
    environ: Mapping[str, str] | None = None,
    *,
    replace: Mapping[str, Any] | None = None,
    fallback_secrets: Callable[[Path], Mapping[str, str]] | None = None,
) -> Loaded:
    """Read, check and validate the file; ConfigFileError lists what is wrong.

    ``replace`` sets top-level keys over the file's (a command's ``--data-dir``).
    ``fallback_secrets(data_dir)`` (by key: ``audit.key``) fills secrets given
    nowhere else (the demo's ``keys.json``).
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a byte-order mark, as some editors write, is no error
    except OSError as exc:
        raise ConfigFileError(path, [Problem(None, "(file)", f"unreadable: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigFileError(path, [Problem(path.read_bytes()[: exc.start].count(b"\n") + 1, "(file)", "not UTF-8 text")]) from None
    try:
        document = tomllib.loads(text) | dict(replace or {})
    except tomllib.TOMLDecodeError as exc:
        line = text.count("\n") + 1 if "end of document" in str(exc) else _line_in_message(str(exc))
        raise ConfigFileError(path, [Problem(line, "(syntax)", str(exc))]) from None
    try:
        lines = key_lines(text)
    except (ValueError, IndexError, KeyError):  # positions are a help: never a reason to refuse a file tomllib accepted
        lines = {}
    reader = _Reader(lines, path.resolve().parent, os.environ if environ is None else environ, fallback_secrets)
    kwargs = reader.table("", document, ())
    if reader.problems or kwargs is None:
        raise ConfigFileError(path, reader.problems)
    settings = Settings(**kwargs)
    try:
        settings.validate()
    except ConfigurationError as exc:
        key = _key_of_message(str(exc), settings)
        message = str(exc).removeprefix(f"{(_LEADING_KEY.match(str(exc)) or [''])[0]}: ")
        raise ConfigFileError(path, [Problem(line_of(lines, key), _shown(key), message)]) from None
    return Loaded(settings, reader.secret_sources)


def _line_in_message(message: str) -> int | None:
    found = re.search(r"at line (\d+)", message)
    return int(found[1]) if found else None


def _shown(path: KeyPath) -> str:
    """``("routes", 0, "pattern")`` → ``routes[0].pattern``; a key that is no bare key quoted (a terminal shows no control)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if _BARE_KEY.match(part) else json.dumps(part)
            out += f".{name}" if out else name
    return out


def _key_of_message(message: str, settings: Settings) -> KeyPath:
    """The key a validation message starts with (``audit.witness: …``), to find its line."""
    found = _LEADING_KEY.match(message)
    if not found:
        return ()
    path: KeyPath = tuple(found[1].split("."))
    if path == ("routes",):  # "routes: 'patients.read' serves …": the route of that name
        for index, route in enumerate(settings.routes):
            if repr(route.name) in message:
                return ("routes", index, "served_ids")
    return (*path, found[3]) if found[3] is not None else path


def _given(value: Any) -> str:
    """What a TOML value is, as an error message says it."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (datetime.date, datetime.time)):
        return "a date or time"
    return type(value).__name__


class _Reader:
    """Walks the parsed document against the schema, collecting every problem rather than stopping at the first."""

    def __init__(
        self, lines: dict[KeyPath, int], base: Path, environ: Mapping[str, str], fallback: Callable[[Path], Mapping[str, str]] | None
    ) -> None:
        self.lines, self.base, self.environ, self.fallback = lines, base, environ, fallback
        self.data_dir: Any = None  # the data directory once read (a refused value: not a Path)
        self.problems: list[Problem] = []
        self.secret_sources: dict[str, str] = {}

    def problem(self, path: KeyPath, message: str) -> object:
        self.problems.append(Problem(line_of(self.lines, path), _shown(path), message))
        return _BAD

    def table(self, name: str, raw: Mapping[str, Any], path: KeyPath) -> dict[str, Any] | None:
        """The constructor arguments of table ``name``, or None when a problem was found in it."""
        before = len(self.problems)
        keys = keys_of(name)
        secret_files = {f"{key.leaf}_file" for key in keys.values() if key.secret}
        kwargs: dict[str, Any] = {}
        for given, value in raw.items():
            key = keys.get(given)
            if key is not None and key.secret:
                self.problem((*path, given), f"a secret is never written in the configuration file; {_secret_ways(key)}")
            elif key is not None:
                kwargs[given] = self.value(key.hint, value, (*path, given), key.name)
                if key.name == "data_dir":
                    self.data_dir = kwargs[given]
            elif given not in secret_files:
                close = difflib.get_close_matches(given, [*keys, *secret_files], n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"known keys here: {', '.join(sorted(keys))}"
                self.problem((*path, given), f"unknown key; {hint}")
        for key in keys.values():
            if key.leaf not in raw and _table_type(key.hint) is not None:
                kwargs[key.leaf] = self.absent_table(key, path)
            elif key.name in FROM_ENVIRONMENT:
                kwargs[key.leaf] = self.environment(key, (*path, key.leaf)) or kwargs.get(key.leaf)
            elif key.secret:
                kwargs[key.leaf] = self.secret(key, raw.get(f"{key.leaf}_file"), path)
            elif key.default is dataclasses.MISSING and key.leaf not in kwargs:
                self.problem((*path, key.leaf), f"required: {type_name(key.hint)}")
        kwargs = {leaf: value for leaf, value in kwargs.items() if value is not None}  # None: the field's default
        if not name:
            self.public_url(kwargs, path)
        return None if len(self.problems) > before else kwargs

    def absent_table(self, key: Key, path: KeyPath) -> Any:
        """A table the file leaves out: its defaults with its secrets from the environment (``[audit]``'s key),
        or, for one that is off unless written (``[oidc]``), a problem if the environment holds a secret of it."""
        if key.default is not None:
            return self.value(key.hint, {}, (*path, key.leaf), key.name)
        variables = [env_name(k.name) for k in keys_of(key.name).values() if k.secret]
        orphans = [name for variable in variables for name in (variable, f"{variable}_FILE") if self.environ.get(name)]
        if orphans:
            return self.problem((*path, key.leaf), f"{', '.join(orphans)} set, but the file has no [{key.name}] table")
        return None

    def public_url(self, kwargs: dict[str, Any], path: KeyPath) -> None:
        """``public_url`` gives the WebAuthn relying party unless set apart."""
        url = kwargs.get("public_url")
        if not isinstance(url, str):
            return
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            self.problem((*path, "public_url"), f"{url!r} must be an http(s) URL such as https://annuaire.example.fr")
            return
        kwargs.setdefault("webauthn_rp_id", parts.hostname)
        kwargs.setdefault("webauthn_origins", (f"{parts.scheme}://{parts.netloc}",))

    def secret(self, key: Key, named_file: Any, path: KeyPath) -> Any:
        """A secret from the environment, a file it names, the configuration's ``<key>_file``, or the fallback."""
        given = self.environment(key, (*path, key.leaf))
        if given is not None:
            return given
        if named_file is not None:
            file_key = (*path, f"{key.leaf}_file")
            if not isinstance(named_file, str):
                return self.problem(file_key, f"expected a path (string), got {_given(named_file)}")
            return self.secret_file(key, self.base / named_file, file_key, f"{key.leaf}_file")
        known_dir = isinstance(self.data_dir, Path) and self.data_dir.is_dir()
        fallback = self.fallback(self.data_dir) if self.fallback and known_dir and self.data_dir else {}
        if key.name in fallback:
            self.secret_sources[key.name] = "the data directory's keys.json"
            return fallback[key.name]
        if key.default is dataclasses.MISSING:
            return self.problem((*path, key.leaf), f"missing; {_secret_ways(key)}")
        return None

    def environment(self, key: Key, path: KeyPath) -> Any:
        """The key's value from the environment (``ACCESSGUARD_<KEY>`` or ``…_FILE``); None when neither is set."""
        try:
            found = from_environment(env_name(key.name), self.environ)
        except ConfigurationError as exc:
            return self.problem(path, str(exc))
        if found is not None:
            self.secret_sources[key.name] = found[1]
        return None if found is None else found[0]

    def secret_file(self, key: Key, file: Path, path: KeyPath, named_by: str) -> Any:
        try:
            value = secret_file(file, named_by)
        except ConfigurationError as exc:
            return self.problem(path, str(exc))
        self.secret_sources[key.name] = f"{named_by} ({file})"
        return value

    def value(self, hint: Any, raw: Any, path: KeyPath, name: str) -> Any:
        """``raw`` as ``hint`` asks (arrays become tuples, paths are resolved), or a problem naming the expected type."""
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin in (types.UnionType, typing.Union):
            options = [arg for arg in args if arg is not type(None)]
            if len(options) == 1:
                return self.value(options[0], raw, path, name)
            matching = next((arg for arg in options if _is(arg, raw)), None)
            if matching is None:
                return self.problem(path, f"expected {type_name(hint)}, got {_given(raw)}")
            return self.value(matching, raw, path, name)
        if dataclasses.is_dataclass(hint):
            if not isinstance(raw, dict):
                return self.problem(path, f"expected a table [{name}], got {_given(raw)}")
            kwargs = self.table(name, raw, path)
            return _BAD if kwargs is None else self.built(typing.cast(type[Any], hint), kwargs, path)
        if origin in (tuple, Sequence, list):
            if not isinstance(raw, list):
                return self.problem(path, f"expected {type_name(hint)}, got {_given(raw)}")
            items = tuple(self.value(args[0], item, (*path, index), name) for index, item in enumerate(raw))
            return _BAD if any(item is _BAD for item in items) else items
        if origin in (Mapping, dict):
            if not isinstance(raw, dict):
                return self.problem(path, f"expected {type_name(hint)}, got {_given(raw)}")
            entries = {key: self.value(args[1], item, (*path, key), name) for key, item in raw.items()}
            return _BAD if any(item is _BAD for item in entries.values()) else entries
        if not _is(hint, raw):
            return self.problem(path, f"expected {type_name(hint)}, got {_given(raw)}")
        if isinstance(raw, str) and (control := _CONTROL.search(raw)):
            return self.problem(path, f"contains the control character U+{ord(control[0]):04X}; no setting holds one")
        if hint is Path:
            return Path(os.path.normpath(self.base / raw))
        return float(raw) if hint is float else raw

    def built(self, cls: type[Any], kwargs: dict[str, Any], path: KeyPath) -> Any:
        try:
            return cls(**kwargs)
        except ConfigurationError as exc:  # a route checks its pattern when made: name the key its message names
            named = next((key for key in kwargs if re.search(rf"\b{key}\b", str(exc))), None)
            return self.problem((*path, named) if named else path, str(exc))


def from_environment(variable: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """``variable``'s value, else the content of the file ``variable_FILE`` names, with where it came from; None if neither is set.

    Both set is refused: which one wins would be a guess.
    """
    direct, indirect = environ.get(variable), environ.get(f"{variable}_FILE")
    if direct and indirect:
        raise ConfigurationError(f"both {variable} and {variable}_FILE are set; keep one")
    if direct:
        return direct, variable
    if indirect:
        return secret_file(Path(indirect), f"{variable}_FILE"), f"{variable}_FILE ({indirect})"
    return None


def secret_file(file: Path, named_by: str) -> str:
    """A secret kept in a file (a mounted container secret, a systemd credential); its trailing newline cut."""
    try:
        value = file.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigurationError(f"{named_by}: {str(file)!r} is unreadable ({reason})") from None
    if not value:
        raise ConfigurationError(f"{named_by}: {str(file)!r} is empty")
    return value


def _table_type(hint: Any) -> type[Any] | None:
    """The dataclass a key holds (``AuditSettings``, ``OIDCSettings | None``), else None."""
    union = typing.get_origin(hint) in (types.UnionType, typing.Union)
    for option in (hint, *(typing.get_args(hint) if union else ())):
        if isinstance(option, type) and dataclasses.is_dataclass(option):
            return option
    return None


def _is(hint: Any, raw: Any) -> bool:
    """Whether a TOML scalar is of a simple type (an integer is a number; a boolean is no integer)."""
    if hint is bool:
        return isinstance(raw, bool)
    if hint is int:
        return isinstance(raw, int) and not isinstance(raw, bool)
    if hint is float:
        return isinstance(raw, (int, float)) and not isinstance(raw, bool)
    if hint in (str, Path):
        return isinstance(raw, str)
    return False


def _secret_ways(key: Key) -> str:
    variable = env_name(key.name)
    return f"set {variable}, or {variable}_FILE to a file holding it, or {key.leaf}_file in the configuration"
