"""Every decision case in policies/cases/ on each in-process engine, and every input against the schema."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from accessguard.decision import REASON_CODES
from accessguard.policy.cases import DecisionCase, load_cases, run_cases
from accessguard.policy.engine import EMBEDDED_ENGINES, PolicyEngine, embedded_engine
from accessguard.policy.input import SCHEMA_PATH
from accessguard.policy.policyset import DEFAULT_POLICY_DIR, load_policy_set

CASES = load_cases(DEFAULT_POLICY_DIR / "cases")


def test_there_are_cases_for_every_outcome() -> None:
    assert {case.expected_outcome for case in CASES} == {"allow", "step_up", "deny"}


@pytest.mark.parametrize("engine", EMBEDDED_ENGINES)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: DecisionCase, engine: str) -> None:
    def engine_for(data: dict[str, Any]) -> PolicyEngine:
        return embedded_engine(engine, load_policy_set(DEFAULT_POLICY_DIR, data))

    [result] = run_cases([case], engine_for)
    assert result.passed, result.describe()
    assert set(result.decision.reasons) <= REASON_CODES


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_input_matches_schema(case: DecisionCase) -> None:
    jsonschema.validate(case.input, json.loads(SCHEMA_PATH.read_text()))


def test_every_default_reason_code_is_exercised() -> None:
    exercised = {reason for case in CASES for reason in case.expected_reasons}
    assert REASON_CODES - exercised == {"policy_error"}
