"""Decision cases: engine-agnostic policy tests (input, data overrides, expected decision).

One JSON file per case in ``policies/cases/``::

    {"description": "...", "input": {...input v1...}, "data": {...optional overrides of data.json...},
     "expected": {"outcome": "step_up", "reasons": ["mfa_required"]}}

They run through ``set_input`` on any engine, never ``with input as`` (which
crashes regopy), so the same cases prove the embedded engine and OPA agree.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accessguard.decision import Decision
from accessguard.errors import ConfigurationError
from accessguard.policy.engine import PolicyEngine


@dataclass(frozen=True)
class DecisionCase:
    name: str
    description: str
    input: dict[str, Any]
    expected_outcome: str
    expected_reasons: tuple[str, ...]
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CaseResult:
    case: DecisionCase
    decision: Decision

    @property
    def passed(self) -> bool:
        return self.decision.outcome.value == self.case.expected_outcome and self.decision.reasons == self.case.expected_reasons

    def describe(self) -> str:
        got = f"{self.decision.outcome.value} {list(self.decision.reasons)}"
        want = f"{self.case.expected_outcome} {list(self.case.expected_reasons)}"
        return f"{self.case.name}: {'ok' if self.passed else 'FAILED'} (expected {want}, got {got})"


def load_cases(directory: Path | str) -> list[DecisionCase]:
    """Every ``*.json`` case under a directory, sorted by name; ConfigurationError on a malformed one."""
    cases = []
    for path in sorted(Path(directory).rglob("*.json")):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            expected = raw["expected"]
            cases.append(
                DecisionCase(
                    name=path.stem,
                    description=str(raw.get("description", "")),
                    input=dict(raw["input"]),
                    expected_outcome=str(expected["outcome"]),
                    expected_reasons=tuple(sorted(expected.get("reasons", []))),
                    data=dict(raw.get("data", {})),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(f"decision case {path}: malformed ({exc!r})") from None
    return cases


def run_cases(
    cases: list[DecisionCase],
    engine_for: Callable[[dict[str, Any]], PolicyEngine],
    announce: Callable[[DecisionCase], None] | None = None,
) -> list[CaseResult]:
    """Run cases; ``engine_for(data_overrides)`` gives an engine per distinct overrides.

    Cases are run grouped by their overrides, each group's engine closed
    before the next is built, so engines that share a server (OPA, where
    building an engine pushes its data) never see each other's data.
    ``announce(case)`` is called just before a case runs, so a crash of a
    native engine can be pinned on it. Results come back in case order.
    """
    groups: dict[str, list[DecisionCase]] = {}
    for case in cases:
        groups.setdefault(json.dumps(case.data, sort_keys=True), []).append(case)
    results: dict[int, CaseResult] = {}
    for group in groups.values():
        engine: PolicyEngine | None = None
        try:
            for case in group:
                if announce:
                    announce(case)
                if engine is None:
                    engine = engine_for(case.data)
                results[id(case)] = CaseResult(case, engine.evaluate(case.input))
        finally:
            if engine is not None:
                engine.close()
    return [results[id(case)] for case in cases]
