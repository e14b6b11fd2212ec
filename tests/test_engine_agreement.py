"""The Wasm engine, regopy and an OPA server give the same decision documents: every case, random inputs, several data variants."""

from __future__ import annotations

from typing import Any

import pytest

from accessguard.policy.embedded import EmbeddedEngine
from accessguard.policy.opa import OpaEngine
from accessguard.policy.policyset import DEFAULT_POLICY_DIR, load_policy_set
from accessguard.policy.wasm import WasmEngine
from tests.opa_server import opa_server
from tests.random_inputs import compare

SEED = 20261205
INPUTS_PER_VARIANT = 600  # five data variants: 3,000 random inputs, plus the decision cases


def _on(data: dict[str, Any]) -> Any:
    return load_policy_set(DEFAULT_POLICY_DIR, data)


@pytest.mark.realpart
@pytest.mark.slow
def test_engines_agree_on_cases_and_random_inputs(opa_binary: str) -> None:
    with opa_server(opa_binary) as url:
        found = compare(
            {
                "wasm": lambda data: WasmEngine(_on(data)),
                "regopy": lambda data: EmbeddedEngine(_on(data)),
                "opa": lambda data: OpaEngine(url, _on(data)),
            },
            INPUTS_PER_VARIANT,
            SEED,
        )
    assert found.decided > 5 * INPUTS_PER_VARIANT
    assert found.policy_errors == 0
    assert not found.disagreements, "\n".join(d.describe() for d in found.disagreements[:5])
