"""Do the engines agree? Wasm, regopy and an OPA server on every decision case and many random inputs.

Inputs are drawn from the input v1 schema (tests/random_inputs.py) over the
default data and each decision case's data overrides; every decision
document is compared. Not a timing: it exits 1 on any disagreement and
prints the first few. tests/test_engine_agreement.py runs the same with
3,000 inputs and a fixed seed; this is the large run (20,000+ by default).

    .venv/bin/python -m bench.agreement [--inputs 20000] [--seed N] [--opa-url URL] [--json]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from accessguard.policy.embedded import EmbeddedEngine
from accessguard.policy.opa import OpaEngine
from accessguard.policy.policyset import DEFAULT_POLICY_DIR, load_policy_set
from accessguard.policy.wasm import WasmEngine
from bench.opa import opa
from bench.timing import report
from tests.random_inputs import compare, data_variants


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--inputs", type=int, default=20000, help="random inputs in all, spread over the data variants")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--opa-url", help="use this OPA server (its accessguard policies are replaced)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line last")
    args = parser.parse_args()
    per_variant = -(-args.inputs // len(data_variants()))

    def on(data: dict[str, Any]) -> Any:
        return load_policy_set(DEFAULT_POLICY_DIR, data)

    started = time.perf_counter()
    with opa(args.opa_url) as url:
        found = compare(
            {
                "wasm": lambda data: WasmEngine(on(data)),
                "regopy": lambda data: EmbeddedEngine(on(data)),
                "opa": lambda data: OpaEngine(url, on(data)),
            },
            per_variant,
            args.seed,
        )
    for disagreement in found.disagreements[:5]:
        print(disagreement.describe())
    figures = {
        "seed": args.seed,
        "decided": found.decided,
        "policy_errors": found.policy_errors,
        "disagreements": len(found.disagreements),
        "seconds": round(time.perf_counter() - started, 1),
    }
    report(figures, args.json)
    if found.disagreements or found.policy_errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
