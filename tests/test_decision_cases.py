"""Every decision case in policies/cases/ on the embedded engine, and every input against the schema."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from accessguard.decision import REASON_CODES
from accessguard.policy.cases import DecisionCase, load_cases, run_cases
from accessguard.policy.embedded import EmbeddedEngine
from accessguard.policy.input import SCHEMA_PATH
from accessguard.policy.policyset import DEFAULT_POLICY_DIR, load_policy_set

CASES = load_cases(DEFAULT_POLICY_DIR / "cases")


def _engine(data: dict[str, Any]) -> EmbeddedEngine:
    return EmbeddedEngine(load_policy_set(DEFAULT_POLICY_DIR, data))


def test_there_are_cases_for_every_outcome() -> None:
    assert {case.expected_outcome for case in CASES} == {"allow", "step_up", "deny"}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: DecisionCase) -> None:
    [result] = run_cases([case], _engine)
    assert result.passed, result.describe()
    assert set(result.decision.reasons) <= REASON_CODES


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_input_matches_schema(case: DecisionCase) -> None:
    jsonschema.validate(case.input, json.loads(SCHEMA_PATH.read_text()))


def test_every_default_reason_code_is_exercised() -> None:
    exercised = {reason for case in CASES for reason in case.expected_reasons}
    assert REASON_CODES - exercised == {"policy_error"}
