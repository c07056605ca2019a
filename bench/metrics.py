"""Benchmark: what ``/metrics`` costs each request, side by side in one run.

    .venv/bin/python bench/metrics.py [--duration 5] [--connections 16,64] [--rounds 3]

Two mocks, each one uvicorn worker pinned to CPU 0 (wrk on CPU 1), rate limit off: metrics off
(``--no-metrics``) and on (the default), loaded in turn with the same small non-streamed chat request,
``--rounds`` times interleaved; printed: requests/s and p50/p99 per round and the median ratio on/off.
Then, in-process and free of the machine's noise, the Python cost of what metrics add: per request
(``Metrics.count``), and per paced event (``Metrics.token``) beside prometheus-client's ``observe()``
that it replaced.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import timeit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.completions import REQUEST, WRK_SCRIPT, start_mock, wrk  # noqa: E402
from tests.server import free_port, stop  # noqa: E402

CASES = (("metrics off", ["--no-metrics"]), ("metrics on", []))


def in_process() -> list[tuple[str, float]]:
    """Microseconds per call, best of 5."""
    from perceptron_mock.exchange import Exchange
    from perceptron_mock.toolkit.metrics import Metrics

    metrics = Metrics(["isaac-0.2-2b-preview"])
    exchange = Exchange(model="isaac-0.2-2b-preview")
    n = 100_000

    def best(statement) -> float:
        return min(timeit.repeat(statement, number=n, repeat=5)) / n * 1e6

    return [
        ("Metrics.count (per request)", best(lambda: metrics.count("/v1/chat/completions", exchange, 200))),
        ("Metrics.token (per paced event)", best(lambda: metrics.token(0.033, 0.034))),
        ("  prometheus observe() x2, which it replaced", best(lambda: (metrics.token_scheduled.observe(0.033), metrics.token_delivered.observe(0.034)))),
        ("Metrics.first_token (per paced stream)", best(lambda: metrics.first_token(0.3, 0.301))),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", default="16,64", help="comma-separated connection counts")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        script = os.path.join(directory, "plain.lua")
        with open(script, "w") as handle:
            handle.write(WRK_SCRIPT.format(body=json.dumps(REQUEST)))
        mocks = []
        try:
            for _name, flags in CASES:
                port = free_port()
                mocks.append((port, start_mock(port, ["--rate-limit-per-minute", "0", *flags])))
            print(f"{args.duration}s per run; wrk -t1; one worker per mock, pinned CPUs; load average {os.getloadavg()[0]:.1f}")
            header = " | ".join(f"{name:>24}" for name, _ in CASES)
            print(f"{'conns':>5} {'round':>5} | {header} | on/off")
            for connections in [int(c) for c in args.connections.split(",")]:
                ratios = []
                for round_ in range(args.rounds):
                    cells, rates = [], []
                    for port, _process in mocks:
                        result = wrk(f"http://127.0.0.1:{port}/v1/chat/completions", script, connections, args.duration)
                        rates.append(result["rps"])
                        cells.append(f"{result['rps']:>6.0f} rps {result['p50']:>5.2f}/{result['p99']:>5.2f} ms")
                    ratios.append(rates[1] / rates[0])
                    print(f"{connections:>5} {round_ + 1:>5} | " + " | ".join(f"{c:>24}" for c in cells) + f" | {ratios[-1]:.2f}")
                print(f"{connections:>5} median on/off: {statistics.median(ratios):.2f}")
        finally:
            for _port, process in mocks:
                stop(process)
    print("\nPython cost in-process (best of 5 x 100,000 calls):")
    for name, micros in in_process():
        print(f"  {name:<46} {micros:6.2f} us")


if __name__ == "__main__":
    main()
