"""The engine floor: one decision on every engine, against the default policy set, interleaved in one run.

Variants, interleaved round by round in a shuffled order over the same
inputs (the decision cases on default data):

- ``wasm``: ``WasmEngine.evaluate`` (the default: OPA-compiled WebAssembly,
  ``opa_eval`` through wasmtime's C API);
- ``wasm_public``: the same module through wasmtime-py's public ``Func.__call__``
  (the fallback if wasmtime's low-level bindings change);
- ``opa``: ``OpaEngine.evaluate`` on an OPA server on loopback (only when an
  opa binary is found: ``ACCESSGUARD_OPA`` or PATH);
- ``policies``: regopy's ``EmbeddedEngine.evaluate``;
- ``trivial``: regopy on a policy set whose decision is a constant, with the
  same inputs: what handing the input to rego-cpp and running any query costs;
- ``trivial_empty``: the constant decision on an empty input: the query alone.

``wasm_ratio_p50`` is the Wasm engine's p50 over regopy's (issue 13's target:
≤ 0.12).

    .venv/bin/python -m bench.engine_floor [--decisions 3000] [--json]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from accessguard.policy import wasm
from accessguard.policy.cases import load_cases
from accessguard.policy.embedded import EmbeddedEngine
from accessguard.policy.opa import OpaEngine
from accessguard.policy.opa_tool import find_opa
from accessguard.policy.policyset import DEFAULT_POLICY_DIR, load_policy_set
from bench.timing import interleaved, report
from tests.opa_server import opa_server

TRIVIAL_POLICY = 'package accessguard.policy\n\ndecision := {"outcome": "allow", "reasons": [], "obligations": []}\n'


def trivial_engine(directory: Path) -> EmbeddedEngine:
    """An engine whose only module answers a constant decision, on the default data."""
    (directory / "accessguard").mkdir()
    (directory / "accessguard" / "policy.rego").write_text(TRIVIAL_POLICY)
    shutil.copy(DEFAULT_POLICY_DIR / "data.json", directory / "data.json")
    return EmbeddedEngine(load_policy_set(directory))


@contextmanager
def opa_url() -> Iterator[str | None]:
    """An OPA server on loopback when an opa binary is found, else None."""
    binary = find_opa()
    if binary is None:
        yield None
        return
    with opa_server(binary) as url:
        yield url


def public_call_engine() -> wasm.WasmEngine:
    """The Wasm engine with ``opa_eval`` through the public ``Func.__call__``."""
    fast = wasm.raw_call
    wasm.raw_call = lambda store, func: None
    try:
        return wasm.WasmEngine(load_policy_set(DEFAULT_POLICY_DIR))
    finally:
        wasm.raw_call = fast


def measure(decisions: int) -> dict[str, float]:
    inputs = [case.input for case in load_cases(DEFAULT_POLICY_DIR / "cases") if not case.data]
    policy_set = load_policy_set(DEFAULT_POLICY_DIR)
    policies = EmbeddedEngine(policy_set)
    with tempfile.TemporaryDirectory() as scratch:
        trivial = trivial_engine(Path(scratch))
    variants: dict[str, Callable[[dict[str, Any]], Any]] = {
        "wasm": wasm.WasmEngine(policy_set).evaluate,
        "wasm_public": public_call_engine().evaluate,
        "policies": policies.evaluate,
        "trivial": trivial.evaluate,
        "trivial_empty": lambda _: trivial.evaluate({}),
    }
    assert trivial.evaluate(inputs[0]).outcome.value == "allow"  # the constant decision is read back, not a fault
    with opa_url() as url:
        if url is not None:
            variants["opa"] = OpaEngine(url, policy_set).evaluate
        for policy_input in inputs:  # every engine decides alike before anything is timed
            decided = [variants[name](policy_input) for name in variants if not name.startswith("trivial")]
            assert all(decision == decided[0] for decision in decided), decided
        figures: dict[str, float] = {"decisions": decisions, "inputs": len(inputs), **interleaved(variants, inputs, decisions)}
    figures["floor_share_p50"] = round(figures["trivial_p50_us"] / figures["policies_p50_us"], 3)
    figures["wasm_ratio_p50"] = round(figures["wasm_p50_us"] / figures["policies_p50_us"], 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--decisions", type=int, default=3000, help="timed decisions per variant")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line last")
    args = parser.parse_args()
    report(measure(args.decisions), args.json)


if __name__ == "__main__":
    main()
