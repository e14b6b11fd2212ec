#!/usr/bin/env bash
# Set up everything the full test suite needs, then run lint, types and tests.
# Installs: Debian packages (redis-server, chromium, postgresql, rsyslog), a virtual environment with
# the test extras, the OPA binary built from source with Go, the test OpenID
# provider's npm packages and axe-core. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v chromium >/dev/null || need_apt+=(chromium)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql)  # the fleet tests' PostgreSQL
command -v rsyslogd >/dev/null || [ -x /usr/sbin/rsyslogd ] || need_apt+=(rsyslog)  # the access log's sink tests
command -v sqlite3 >/dev/null || need_apt+=(sqlite3)  # docs/deployment.md's backup commands (tests/test_deployment.py)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "test.sh: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -e '.[test]'

export ACCESSGUARD_OPA="$(scripts/install-opa.sh | tail -n 1)"

if [ -f tests/oidc_provider/package.json ]; then
  (cd tests/oidc_provider && npm ci --silent --no-audit --no-fund)
fi
(cd tests/axe && npm ci --silent --no-audit --no-fund)  # axe-core for the pages' accessibility checks

echo "test.sh: ruff"
.venv/bin/ruff check accessguard tests bench fuzz examples
.venv/bin/ruff format --check accessguard tests bench fuzz examples
echo "test.sh: mypy"
.venv/bin/mypy
echo "test.sh: pytest"
.venv/bin/pytest -q "$@"
