"""Benchmark: what the testing toolkit costs on the hot path, side by side in one run.

    .venv/bin/python bench/toolkit.py [--duration 5] [--connections 1,16]

Three mocks, each one uvicorn worker pinned to CPU 0 (wrk on CPU 1), rate limit off so that only the
toolkit differs: the journal off (--journal-size 0), the journal on (the default), and the journal
on with every request carrying an X-Mock-Fault header (latency=0, which parses, records and then
answers normally). Printed: requests/s and p50/p99 per connection count, and each column's ratio to
the journal-off one. Then the RSS of the journal-on mock once its ring (1000 entries) is full.
Figures vary +-25 % on a shared VM: compare the columns of one run, not runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.completions import REQUEST, WRK_SCRIPT, proc_status_kb, start_mock, wrk  # noqa: E402
from tests.server import free_port, stop  # noqa: E402

FAULT_LINE = 'wrk.headers["X-Mock-Fault"] = "latency=0"\n'
CASES = (("journal off", ["--journal-size", "0"], False), ("journal on", [], False), ("on + fault header", [], True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", default="1,16", help="comma-separated connection counts")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        plain = os.path.join(directory, "plain.lua")
        faulted = os.path.join(directory, "faulted.lua")
        script = WRK_SCRIPT.format(body=json.dumps(REQUEST))
        with open(plain, "w") as handle:
            handle.write(script)
        with open(faulted, "w") as handle:
            handle.write(script + FAULT_LINE)
        mocks = []
        try:
            for _name, flags, _fault in CASES:
                port = free_port()
                mocks.append((port, start_mock(port, ["--rate-limit-per-minute", "0", *flags])))
            print(f"{args.duration}s per run; wrk -t1; one worker per mock, pinned CPUs")
            header = " | ".join(f"{name:>26}" for name, _, _ in CASES)
            print(f"{'conns':>5} | {header}")
            for connections in [int(c) for c in args.connections.split(",")]:
                cells, base = [], None
                for (name, _flags, fault), (port, _process) in zip(CASES, mocks):
                    url = f"http://127.0.0.1:{port}/v1/chat/completions"
                    result = wrk(url, faulted if fault else plain, connections, args.duration)
                    base = base or result["rps"]
                    cells.append(f"{result['rps']:>6.0f} rps {result['p50']:>5.2f}/{result['p99']:>5.2f} ms x{result['rps'] / base:.2f}")
                print(f"{connections:>5} | " + " | ".join(f"{c:>26}" for c in cells))
            port, process = mocks[1]
            print(f"RSS of the journal-on mock after the runs (ring full): {proc_status_kb(process.pid) / 1024:.1f} MB; "
                  f"journal-off: {proc_status_kb(mocks[0][1].pid) / 1024:.1f} MB")
        finally:
            for _port, process in mocks:
                stop(process)


if __name__ == "__main__":
    main()
