#!/usr/bin/env bash
# The long fuzz run: every target for SECONDS (default 600) each, with a corpus kept
# between runs in CORPUS (default ~/.cache/accessguard/fuzz). Crashes go to CORPUS/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m fuzz --all "${1:-600}" --corpus "${2:-$HOME/.cache/accessguard/fuzz}"
