"""Benchmark: what contract testing costs, each figure beside its baseline from the same run.

    .venv/bin/python bench/contract.py [--requests 200] [--recordings 200]

1. A JSON completion sent straight to a mock, and through the recording proxy to the same mock
   (which writes a recording of each): median and p90 latency of sequential requests.
2. Choosing the answer among N recordings (exact ``messages`` matchers) for a request that is the
   last of them, beside N fixtures matching on ``model`` alone (each fails at its first check).
Figures vary +-25 % on a shared VM: compare the columns of one run, not runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import httpx  # noqa: E402

from perceptron_mock.accounting.prompt import account  # noqa: E402
from perceptron_mock.answers.fixtures import FixtureStore  # noqa: E402
from perceptron_mock.answers.hints import read_hints  # noqa: E402
from perceptron_mock.protocol.catalog import Catalog  # noqa: E402
from perceptron_mock.protocol.validation import parse_request  # noqa: E402
from perceptron_mock.settings import Settings  # noqa: E402
from perceptron_mock.testing.recorder import ThreadedRecorder  # noqa: E402
from tests.helpers import MODEL, threaded_mock  # noqa: E402


def _latencies(base_url: str, count: int) -> list[float]:
    out = []
    with httpx.Client(base_url=base_url, headers={"authorization": "Bearer k"}, timeout=30) as client:
        for i in range(count):
            body = {"model": MODEL, "messages": [{"role": "user", "content": f"Describe scene {i}."}]}
            began = time.perf_counter()
            client.post("/chat/completions", json=body).raise_for_status()
            out.append((time.perf_counter() - began) * 1000)
    return out


def _cell(values: list[float]) -> str:
    ordered = sorted(values)
    return f"p50 {statistics.median(ordered):6.2f} ms  p90 {ordered[int(len(ordered) * 0.9)]:6.2f} ms"


def proxy(count: int) -> None:
    with threaded_mock(rate_limit_per_minute=0) as upstream, tempfile.TemporaryDirectory() as directory:
        direct = _latencies(upstream.base_url, count)
        with ThreadedRecorder(upstream.base_url, Path(directory)) as recorder:
            proxied = _latencies(recorder.base_url, count)
        written = len(list(Path(directory).iterdir()))
    print(f"{count} sequential JSON completions")
    print(f"  straight to the mock        {_cell(direct)}")
    print(f"  through the recording proxy {_cell(proxied)}  x{statistics.median(proxied) / statistics.median(direct):.2f} ({written} recordings written)")


def matching(count: int, rounds: int = 200) -> None:
    settings = Settings()
    model = Catalog.load(None).served([]).get(MODEL)
    conversation = lambda i: [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Describe scene {i}."}]  # noqa: E731
    recorded, by_model = FixtureStore(), FixtureStore()
    for i in range(count):
        recorded.add({"match": {"model": MODEL, "messages": conversation(i), "body": {"stream": None}}, "respond": {"content": "x"}})
        by_model.add({"match": {"model": f"other-{i}"}, "respond": {"content": "x"}})
    import orjson

    request = parse_request(orjson.dumps({"model": MODEL, "messages": conversation(count - 1)}))
    prompt = account(request, settings, model, {})
    hints = read_hints(request, prompt.system_texts, prompt.reasoning)
    for name, store in (("model-only fixtures (baseline)", by_model), ("recordings, exact messages", recorded)):
        began = time.perf_counter()
        for _ in range(rounds):
            store.find(request, prompt, hints)
        per = (time.perf_counter() - began) / rounds * 1e6
        print(f"  {count} {name:<32} {per:8.1f} us a request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--recordings", type=int, default=200)
    args = parser.parse_args()
    proxy(args.requests)
    print("Choosing the answer (FixtureStore.find), the request matching the last one:")
    matching(args.recordings)


if __name__ == "__main__":
    main()
