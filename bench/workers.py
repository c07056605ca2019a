"""Scale out, measured: requests/s of ``--workers 1, 2, 4`` sharing limits through Redis, beside one worker.

    .venv/bin/python bench/workers.py [--duration 8] [--connections 64] [--workers 1,2,4] [--rounds 1]

One run, the servers started as users start them (``perceptron-mock --workers N``), not pinned (the
workers share the machine's cores with wrk and redis-server); wrk POSTs bench/request_pool.py's 1,000
distinct requests. Rows: the single worker with its limiter, journal and fault queue in memory (the
default), then N workers with ``--rate-limit-storage redis://`` (buckets, journal and fault queue
shared in one redis-server, as several workers need them). Printed per row: requests/s, p50 / p99,
the CPU time per request of the workers, of redis-server and of wrk, and the ratio to the single
worker. Needs `wrk` and `redis-server` (Debian's packages).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.completions import cpu_seconds, start_mock, wrk  # noqa: E402
from bench.request_pool import request_pool, wrk_script  # noqa: E402
from tests.redis_server import redis_server  # noqa: E402
from tests.server import free_port, stop  # noqa: E402

# The limiter stays on (the whole pipeline is measured) with a budget no run can exhaust.
NEVER_REFUSING = ["--rate-limit-per-minute", "1000000000"]


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's workers are children of its supervisor)."""
    pids = [pid]
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as handle:
            for child in handle.read().split():
                pids += tree(int(child))
    return pids


def tree_cpu(pid: int) -> float:
    total = 0.0
    for each in tree(pid):
        try:
            total += cpu_seconds(each)
        except FileNotFoundError:
            pass
    return total


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(process: subprocess.Popen, redis: subprocess.Popen | None, url: str, script: str, connections: int, duration: int) -> dict:
    before = (tree_cpu(process.pid), cpu_seconds(redis.pid) if redis else 0.0, client_cpu())
    result = wrk(url, script, connections, duration, cpu=None)
    after = (tree_cpu(process.pid), cpu_seconds(redis.pid) if redis else 0.0, client_cpu())
    served = max(1, result["requests"])
    result["server_us"], result["redis_us"], result["client_us"] = ((a - b) / served * 1e6 for a, b in zip(after, before))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", default="1,2,4", help="worker counts to run with Redis")
    parser.add_argument("--rounds", type=int, default=1, help="runs per row, interleaved; the median is shown")
    args = parser.parse_args()
    for tool in ("wrk", "redis-server"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed: apt-get install {tool}")
    counts = [int(n) for n in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as directory, redis_server() as redis:
        script = os.path.join(directory, "post.lua")
        with open(script, "w") as handle:
            handle.write(wrk_script(request_pool()))
        rows: dict[str, tuple[subprocess.Popen, str, bool]] = {}
        try:
            port = free_port()
            rows["1 worker, memory"] = (start_mock(port, NEVER_REFUSING, cpu=None), f"http://127.0.0.1:{port}/v1/chat/completions", False)
            for n in counts:
                port = free_port()
                flags = [*NEVER_REFUSING, "--workers", str(n), "--rate-limit-storage", redis.url]
                rows[f"{n} worker{'s' if n > 1 else ''}, Redis"] = (
                    start_mock(port, flags, cpu=None), f"http://127.0.0.1:{port}/v1/chat/completions", True
                )
            for process, url, _ in rows.values():  # warm-up: every worker's caches and connections
                wrk(url, script, args.connections, 2, cpu=None)
            results: dict[str, list[dict]] = {name: [] for name in rows}
            for _ in range(args.rounds):
                for name, (process, url, shared) in rows.items():
                    results[name].append(run(process, redis.process if shared else None, url, script, args.connections, args.duration))
        finally:
            for process, _, _ in rows.values():
                stop(process)
    print(
        f"{os.cpu_count()} CPUs, nothing pinned; wrk -t1 -c{args.connections}, {args.duration}s per run, median of "
        f"{args.rounds}; 1,000 distinct requests; load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'server':>18} | {'req/s':>7} | {'p50 ms':>7} | {'p99 ms':>7} | {'workers cpu us':>14} | {'redis us':>8} | {'wrk us':>6} | {'x 1 worker':>10}")
    single = None
    for name, runs in results.items():
        r = sorted(runs, key=lambda x: x["rps"])[len(runs) // 2]
        single = single or r
        print(
            f"{name:>18} | {r['rps']:>7.0f} | {r['p50']:>7.2f} | {r['p99']:>7.2f} | {r['server_us']:>14.0f} | "
            f"{r['redis_us']:>8.0f} | {r['client_us']:>6.0f} | {r['rps'] / single['rps']:>10.2f}"
            + (f"  ({r['non2xx']} non-2xx)" if r["non2xx"] else "")
        )


if __name__ == "__main__":
    main()
