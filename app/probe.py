"""Two standard-library clients for containers: ``perceptron-mock-healthcheck`` and ``perceptron-mock-smoke``.

Standard library only, so that the image needs nothing beyond the server's own dependencies.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request


def _local_url() -> str:
    port = os.environ.get("PERCEPTRON_MOCK_PORT", "8000")
    return f"http://127.0.0.1:{port}"


def healthcheck() -> None:
    try:
        with urllib.request.urlopen(_local_url() + "/health", timeout=3) as response:
            sys.exit(0 if response.status == 200 else 1)
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck failed: {exc}", file=sys.stderr)
        sys.exit(1)


def smoke() -> None:
    base = (sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MOCK_URL", _local_url())).rstrip("/")
    body = {
        "model": os.environ.get("MOCK_MODEL", "isaac-0.2-2b-preview"),
        "messages": [{"role": "user", "content": "Say hello to the smoke test."}],
    }
    request = urllib.request.Request(
        base + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"authorization": "Bearer " + os.environ.get("MOCK_API_KEY", "smoke-key"), "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"smoke request failed: {exc}", file=sys.stderr)
        sys.exit(1)
    content = answer["choices"][0]["message"]["content"]
    print(f"{answer['model']}: {content}")
    sys.exit(0 if answer.get("object") == "chat.completion" and content else 1)
