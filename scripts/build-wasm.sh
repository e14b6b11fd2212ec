#!/usr/bin/env bash
# Compile policies/ to WebAssembly with the pinned OPA (scripts/install-opa.sh) into the package:
# accessguard/policy/default-policy.wasm and default-policy.json (the revision it was built from).
# Run after changing policies/*.rego; tests/test_wasm_engine.py fails until the shipped module matches.
set -euo pipefail
cd "$(dirname "$0")/.."
OPA="$(scripts/install-opa.sh | tail -n 1)"
PYTHON="${PYTHON:-.venv/bin/python}"
"$PYTHON" -m accessguard.policy.wasm_build "$OPA"
