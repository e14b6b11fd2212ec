#!/usr/bin/env bash
# Build the pinned OPA release from source with Go into a cache outside the repository.
# Skips the build when the cached binary already reports that version.
# The last line printed is the binary's path.
set -euo pipefail
OPA_VERSION="${OPA_VERSION:-v1.22.2}"
CACHE="${ACCESSGUARD_CACHE:-$HOME/.cache/accessguard}"
BIN_DIR="$CACHE/opa-$OPA_VERSION"
OPA="$BIN_DIR/opa"
# (not `opa version | grep -q`: grep exits at the match, opa may then die of SIGPIPE, and pipefail
# would take that for a missing binary and rebuild)
if [ -x "$OPA" ] && grep -q "^Version: ${OPA_VERSION#v}$" <<<"$("$OPA" version 2>/dev/null)"; then
  echo "$OPA"
  exit 0
fi
command -v go >/dev/null || { echo "install-opa: the Go toolchain is needed (go not found on PATH)" >&2; exit 1; }
mkdir -p "$BIN_DIR"
echo "install-opa: building OPA $OPA_VERSION from source (a few minutes the first time)..." >&2
GOBIN="$BIN_DIR" GOCACHE="$CACHE/go-build" GOMODCACHE="$CACHE/go-mod" GOFLAGS=-modcacherw \
  go install "github.com/open-policy-agent/opa@$OPA_VERSION" >&2
"$OPA" version >&2
echo "$OPA"
