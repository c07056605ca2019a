#!/usr/bin/env bash
# The contract check: schemathesis generates requests from the mock's own /openapi.json and fails on
# any 5xx and on any answer the document does not allow (status, content type, body schema, headers),
# on invalid input the mock accepts, and on a wrong key the mock lets through.
#
#   scripts/contract.sh                 # what scripts/test.sh runs
#   CONTRACT_EXAMPLES=1000 CONTRACT_SEED=$RANDOM scripts/contract.sh   # a longer, different search
#
# Not checked: positive_data_acceptance ("a request the document allows was refused"). The document
# cannot carry the rules that need the request's meaning: image bytes must decode as the declared
# format, and prompt plus max_tokens must fit the context window; the validation tests cover those.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
st=$(cd "$(dirname "$python")" && pwd)/st
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
key=contract-key
log=$(mktemp)

# The rate limits are off (the model list's own bucket too): 429 is documented, but a run of 300
# cases/min would test little else.
PERCEPTRON_MOCK_RATE_LIMIT_PER_MINUTE=0 PERCEPTRON_MOCK_MODELS_RATE_LIMIT_PER_MINUTE=0 "$python" -m perceptron_mock --port "$port" --api-key "$key" --log-level warning >"$log" 2>&1 &
server=$!
stop() {
    local status=$?
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -f "$log"
    exit "$status"
}
trap stop EXIT

status=0
# schemathesis keeps replay files in the working directory: give it a throwaway one.
work=$(mktemp -d)
(cd "$work" && "$st" --no-color run "http://127.0.0.1:$port/openapi.json" \
    --wait-for-schema 30 \
    --checks all --exclude-checks positive_data_acceptance \
    -H "Authorization: Bearer $key" \
    --max-examples "${CONTRACT_EXAMPLES:-150}" \
    --seed "${CONTRACT_SEED:-20261126}" \
    --generation-database none \
    --request-timeout 30) || status=$?
rm -rf "$work"
if [ "$status" -ne 0 ]; then
    echo "contract check failed; the server's log:" >&2
    cat "$log" >&2
fi
exit "$status"
