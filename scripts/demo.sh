#!/usr/bin/env bash
# Set up (virtual environment, package) and run the demo on embedded defaults
# (the shipped OPA-compiled WebAssembly policy + SQLite; no Go). Extra arguments go to `accessguard demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -e .
exec .venv/bin/accessguard demo "$@"
