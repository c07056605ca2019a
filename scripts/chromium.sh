#!/usr/bin/env bash
# Install Debian's chromium if it is missing: the live view's browser tests (tests/api/test_ui_browser.py)
# drive it through Playwright, whose own browser download is not reachable here. .ci/run calls it before
# the tests, which then fail rather than skip when it is absent (CI is set).
set -euo pipefail
CHROMIUM=${PERCEPTRON_MOCK_CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
    echo "chromium.sh: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    exit 0
fi
SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
echo "chromium.sh: apt-get install chromium"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
"$CHROMIUM" --version
