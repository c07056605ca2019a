#!/usr/bin/env bash
# Install the mock with its test dependencies into .venv and run the unit and integration tests, in
# parallel (pytest-xdist, one worker per core; arguments go to pytest, e.g. `-n 0` or a test file).
# The heavier checks are steps of their own in .ci/run: scripts/contract.sh, scripts/containers.sh.
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
start=$SECONDS
status=0
.venv/bin/python -m pytest -n auto "$@" || status=$?
echo "tests: $((SECONDS - start)) s"
exit "$status"
