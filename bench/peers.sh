#!/usr/bin/env bash
# Install WireMock 3.13 and Stoplight Prism 5 (from the npm registry, outside the repository), then run
# bench/peers.py: both peers beside the mock, the floor and the bare app, in one run, 64 connections.
#
#   bench/peers.sh [--duration 8] [--rounds 1]        (PEERS_DIR: where they go; default ~/.cache)
#
# WireMock comes as the npm package `wiremock`, which ships the standalone jar (Maven Central is not
# reachable from every machine this project runs on); it needs a Java runtime (Debian: default-jre-headless).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
dir="${PEERS_DIR:-$HOME/.cache/perceptron-mock-peers}"
command -v npm >/dev/null || { echo "npm is needed (Debian: apt-get install npm)" >&2; exit 2; }
command -v java >/dev/null || { echo "java is needed for WireMock (Debian: apt-get install default-jre-headless)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is needed (Debian: apt-get install wrk)" >&2; exit 2; }
mkdir -p "$dir"
if [ ! -x "$dir/node_modules/.bin/prism" ] || ! ls "$dir"/node_modules/wiremock/build/wiremock-standalone-3.13.*.jar >/dev/null 2>&1; then
  npm install --no-audit --no-fund --prefix "$dir" 'wiremock@~3.13' '@stoplight/prism-cli@^5' >&2
fi
python="${PYTHON:-$root/.venv/bin/python}"
exec "$python" "$here/peers.py" --peers-dir "$dir" "$@"
