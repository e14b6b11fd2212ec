"""The ``opa`` command-line tool, for the policy author's commands: check, test, fmt, explain.

Every command runs OPA in bundle mode (``--bundle DIR``), which reads only
``.rego`` files and ``data.json`` files: the decision cases under
``DIR/cases/`` are not data. Found through ``ACCESSGUARD_OPA`` or ``PATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accessguard.errors import PolicyEvaluationError
from accessguard.policy.engine import DECISION_ENTRYPOINT

OPA_MISSING = "the opa binary was not found: set ACCESSGUARD_OPA or put opa on PATH (scripts/install-opa.sh builds it)"
_TIMEOUT_S = 120


def find_opa() -> str | None:
    """The opa binary: ``$ACCESSGUARD_OPA`` when it names an executable, else ``opa`` on PATH."""
    configured = os.environ.get("ACCESSGUARD_OPA")
    if configured and os.access(configured, os.X_OK):
        return configured
    return shutil.which("opa")


def _run(opa: str, *arguments: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([opa, *arguments], input=stdin, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)


def _errors(output: str) -> list[str]:
    """OPA's ``--format json`` errors as ``file.rego:line:col: message``."""
    try:
        found = json.loads(output).get("errors") or []
    except (json.JSONDecodeError, AttributeError):
        return [output.strip()] if output.strip() else []
    located = []
    for error in found:
        where = error.get("location") or {}
        prefix = f"{where.get('file')}:{where.get('row')}:{where.get('col')}: " if where.get("file") else ""
        code = f"{error['code']}: " if error.get("code") else ""
        located.append(prefix + code + str(error.get("message", error)))
    return located


def check(opa: str, directory: Path) -> list[str]:
    """Parse and compile errors of every module, ``*_test.rego`` included."""
    done = _run(opa, "check", "--format", "json", "--bundle", str(directory))
    return [] if done.returncode == 0 else _errors(done.stdout or done.stderr)


@dataclass(frozen=True)
class UnitTest:
    name: str
    location: str
    passed: bool
    detail: str = ""


def unit_tests(opa: str, directory: Path) -> list[UnitTest]:
    """Run the Rego unit tests (``test_`` rules in ``*_test.rego``) with ``opa test``."""
    done = _run(opa, "test", "--format", "json", "--bundle", str(directory))
    try:
        results = json.loads(done.stdout)
    except json.JSONDecodeError:
        results = None
    if not isinstance(results, list):
        errors = _errors(done.stdout or done.stderr) or [f"opa test exited {done.returncode}"]
        return [UnitTest("(loading the policy set)", "", False, error) for error in errors]
    tests = []
    for result in results:
        where = result.get("location") or {}
        error = result.get("error")
        tests.append(
            UnitTest(
                f"{result.get('package', '')}.{result.get('name', '')}".removeprefix("data."),
                f"{where.get('file')}:{where.get('row')}",
                not (result.get("fail") or error),
                json.dumps(error) if error else "",
            )
        )
    return tests


def fmt(opa: str, directory: Path, *, check_only: bool) -> tuple[int, str]:
    """``opa fmt``: rewrite the modules in place, or (``check_only``) list those that need it."""
    done = _run(opa, "fmt", "--list", "--fail", str(directory)) if check_only else _run(opa, "fmt", "--write", str(directory))
    return done.returncode, (done.stdout + done.stderr).strip()


def fired_rules(opa: str, directory: Path, policy_input: dict[str, Any]) -> list[str]:
    """The rules that fired for an input, in evaluation order, as ``file.rego:line: rule``.

    Read from OPA's full trace of the decision: every rule body that exited successfully.
    """
    query = "data." + DECISION_ENTRYPOINT.replace("/", ".")
    arguments = ("eval", "--format", "json", "--explain", "full", "--bundle", str(directory), "--stdin-input", query)
    done = _run(opa, *arguments, stdin=json.dumps(policy_input))
    if done.returncode != 0:
        raise PolicyEvaluationError("; ".join(_errors(done.stdout or done.stderr)) or f"opa eval exited {done.returncode}")
    fired: list[str] = []
    for event in json.loads(done.stdout).get("explanation") or []:
        node = event.get("Node")
        if event.get("Op") != "Exit" or not isinstance(node, dict) or "head" not in node:
            continue
        where = event.get("Location") or {}
        line = f"{where.get('file')}:{where.get('row')}: {_head(node['head'])}"
        if line not in fired:
            fired.append(line)
    return fired


def _head(head: dict[str, Any]) -> str:
    """A rule head as the author wrote it, enough to recognise it: ``step_up contains "mfa_required"``."""
    name = str(head.get("name") or ".".join(str(part.get("value")) for part in head.get("ref") or []))
    if head.get("args"):
        return f"{name}(...)"
    key = head.get("key")
    if key and key.get("type") == "string":
        return f"{name} contains {json.dumps(key['value'])}"
    value = head.get("value")
    if value and value.get("type") in ("string", "boolean", "number"):
        return f"{name} = {json.dumps(value['value'])}"
    return name
