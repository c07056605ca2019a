#!/usr/bin/env bash
# Install the mock with its test dependencies into .venv and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# The shared-limit tests start their own redis-server (Debian's package) on a free port.
if ! command -v redis-server >/dev/null 2>&1; then
    SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi
python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -e '.[test]'
# The contract check (schemathesis against /openapi.json) runs with the whole suite, not with a selection.
if [ "$#" -eq 0 ]; then
    PYTHON=.venv/bin/python ./scripts/contract.sh
fi
.venv/bin/python -m pytest "$@"
