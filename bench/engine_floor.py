"""The least one embedded (regopy) decision can cost, against the default policy set, same run.

Three variants of ``EmbeddedEngine.evaluate``, interleaved round by round in a
shuffled order over the same inputs (the decision cases on default data):

- ``policies``: the default policy set (what the middleware runs);
- ``trivial``: a policy set whose decision is a constant, with the same inputs:
  what handing the input document to rego-cpp and running any query costs;
- ``trivial_empty``: the constant decision on an empty input: the query alone.

``trivial`` is the floor under the design brief's decision-overhead target
(p50 ≤ 150 µs for the whole middleware): no policy on this engine decides for
less, whatever the store and the middleware do.

    .venv/bin/python -m bench.engine_floor [--decisions 3000] [--json]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from accessguard.policy.cases import load_cases
from accessguard.policy.embedded import EmbeddedEngine
from accessguard.policy.policyset import DEFAULT_POLICY_DIR, load_policy_set
from bench.timing import interleaved, report

TRIVIAL_POLICY = 'package accessguard.policy\n\ndecision := {"outcome": "allow", "reasons": [], "obligations": []}\n'


def trivial_engine(directory: Path) -> EmbeddedEngine:
    """An engine whose only module answers a constant decision, on the default data."""
    (directory / "accessguard").mkdir()
    (directory / "accessguard" / "policy.rego").write_text(TRIVIAL_POLICY)
    shutil.copy(DEFAULT_POLICY_DIR / "data.json", directory / "data.json")
    return EmbeddedEngine(load_policy_set(directory))


def measure(decisions: int) -> dict[str, float]:
    inputs = [case.input for case in load_cases(DEFAULT_POLICY_DIR / "cases") if not case.data]
    policies = EmbeddedEngine(load_policy_set(DEFAULT_POLICY_DIR))
    with tempfile.TemporaryDirectory() as scratch:
        trivial = trivial_engine(Path(scratch))
    variants: dict[str, Callable[[dict[str, Any]], Any]] = {
        "policies": policies.evaluate,
        "trivial": trivial.evaluate,
        "trivial_empty": lambda _: trivial.evaluate({}),
    }
    assert trivial.evaluate(inputs[0]).outcome.value == "allow"  # the constant decision is read back, not a fault
    figures: dict[str, float] = {"decisions": decisions, "inputs": len(inputs), **interleaved(variants, inputs, decisions)}
    figures["floor_share_p50"] = round(figures["trivial_p50_us"] / figures["policies_p50_us"], 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--decisions", type=int, default=3000, help="timed decisions per variant")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line last")
    args = parser.parse_args()
    report(measure(args.decisions), args.json)


if __name__ == "__main__":
    main()
