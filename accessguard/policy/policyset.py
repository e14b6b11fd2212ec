"""A policy set: the Rego modules and the data document, with their revision."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accessguard.errors import ConfigurationError

DEFAULT_POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"
_PACKAGE = re.compile(r"^package\s+(?P<path>\S+)", re.MULTILINE)


@dataclass(frozen=True)
class PolicySet:
    """Modules keyed by path relative to the policy directory, and data."""

    directory: Path
    modules: dict[str, str]
    data: dict[str, Any]
    revision: str

    @property
    def data_json(self) -> str:
        return json.dumps(self.data, sort_keys=True)

    @property
    def packages(self) -> dict[str, str]:
        """The package each module declares (``accessguard.policy``); "" when none is found."""
        return {name: found["path"] if (found := _PACKAGE.search(source)) else "" for name, source in self.modules.items()}


def load_policy_set(directory: Path | str, data_overrides: dict[str, Any] | None = None) -> PolicySet:
    """Read ``**/*.rego`` (never ``*_test.rego``) and ``data.json`` from a directory.

    The revision is ``sha256:`` over the module paths, sources and the data,
    so any change to logic or thresholds gives a new revision.
    """
    root = Path(directory)
    if not root.is_dir():
        raise ConfigurationError(f"policy directory {str(root)!r} does not exist")
    modules = {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*.rego"))
        if not path.name.endswith("_test.rego")
    }
    if not modules:
        raise ConfigurationError(f"policy directory {str(root)!r} holds no .rego module")
    data_path = root / "data.json"
    data: dict[str, Any] = {}
    if data_path.exists():
        try:
            data = json.loads(data_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{data_path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
        if not isinstance(data, dict):
            raise ConfigurationError(f"{data_path}: the data document must be a JSON object")
    if data_overrides:
        data = merge(data, data_overrides)
    digest = hashlib.sha256()
    for name, source in modules.items():
        digest.update(name.encode() + b"\0" + source.encode() + b"\0")
    digest.update(json.dumps(data, sort_keys=True).encode())
    return PolicySet(root, modules, data, "sha256:" + digest.hexdigest())


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``overrides`` into a copy of ``base`` (objects merge, other values replace)."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged
