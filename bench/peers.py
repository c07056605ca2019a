"""The mock beside WireMock 3.13 and Stoplight Prism 5, measured in one run (run it through bench/peers.sh).

Each server runs pinned to CPU 0 and wrk, pinned to CPU 1, POSTs bench/request_pool.py's 1,000
distinct requests to each in turn at 64 connections (``--connections``):

- mock: perceptron-mock as users start it (limiter on with a budget no run exhausts, journal on);
- floor, bare: bench/completions.py's (validation and token counts alone; a bare ASGI app);
- WireMock: the standalone jar with one static stub that returns the mock's answer to the first
  request of the pool, its request journal bounded to 1,000 entries as the mock's is;
- Prism: ``prism mock`` of the mock's own OpenAPI document (GET /openapi.json), static examples,
  request validation on, logging at warn (printing a line per request is not what is measured).

Printed: requests/s, p50 / p99 latency, the server's CPU time per request and the ratio to the mock.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.completions import BARE_APP, FLOOR_APP, measured, pin, start_bare, start_mock  # noqa: E402
from bench.request_pool import request_pool, wrk_script  # noqa: E402
from tests.server import free_port, stop  # noqa: E402


def _wait(url: str, process: subprocess.Popen, name: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{name} did not start within {seconds:.0f} s")


def start_wiremock(peers: str, port: int, directory: str, answer: bytes, log) -> subprocess.Popen:
    jars = sorted(glob.glob(os.path.join(peers, "node_modules", "wiremock", "build", "wiremock-standalone-3.13.*.jar")))
    if not jars:
        raise SystemExit(f"no WireMock 3.13 jar under {peers}: run bench/peers.sh")
    root = os.path.join(directory, "wiremock")
    os.makedirs(os.path.join(root, "mappings"))
    stub = {
        "request": {"method": "POST", "url": "/v1/chat/completions"},
        "response": {"status": 200, "headers": {"Content-Type": "application/json"}, "body": answer.decode()},
    }
    with open(os.path.join(root, "mappings", "completion.json"), "w") as handle:
        json.dump(stub, handle)
    process = subprocess.Popen(
        [*pin(0), "java", "-jar", jars[-1], "--port", str(port), "--bind-address", "127.0.0.1", "--root-dir", root,
         "--max-request-journal-entries", "1000", "--disable-banner"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    _wait(f"http://127.0.0.1:{port}/__admin/mappings", process, "WireMock")
    return process


def start_prism(peers: str, port: int, directory: str, document: bytes, log) -> subprocess.Popen:
    prism = os.path.join(peers, "node_modules", ".bin", "prism")
    if not os.path.exists(prism):
        raise SystemExit(f"no Prism under {peers}: run bench/peers.sh")
    spec = os.path.join(directory, "openapi.json")
    with open(spec, "wb") as handle:
        handle.write(document)
    process = subprocess.Popen(
        [*pin(0), prism, "mock", spec, "--port", str(port), "--host", "127.0.0.1", "-v", "warn"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    _wait(f"http://127.0.0.1:{port}/v1/models", process, "Prism")
    return process


def version(peers: str, package: str) -> str:
    with open(os.path.join(peers, "node_modules", *package.split("/"), "package.json")) as handle:
        return json.load(handle)["version"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peers-dir", required=True, help="where bench/peers.sh installed the peers")
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=1, help="runs per server, interleaved; the median is shown")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    pool = request_pool()
    servers: dict[str, subprocess.Popen] = {}
    urls: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as directory, open(os.path.join(directory, "peers.log"), "wb") as log:
        try:
            port = free_port()
            servers["mock"] = start_mock(port, ["--rate-limit-per-minute", "1000000000"])
            base = f"http://127.0.0.1:{port}"
            urls["mock"] = base + "/v1/chat/completions"
            answer = httpx.post(urls["mock"], json=pool[0], headers={"authorization": "Bearer bench-key"})
            content = answer.json()["choices"][0]["message"]["content"]
            document = httpx.get(base + "/openapi.json").content
            for name, source in (("floor", FLOOR_APP), ("bare", BARE_APP)):
                port = free_port()
                servers[name] = start_bare(port, directory, source, f"{name}_app", {"BARE_CONTENT": content})
                urls[name] = f"http://127.0.0.1:{port}/v1/chat/completions"
            port = free_port()
            servers["WireMock"] = start_wiremock(args.peers_dir, port, directory, answer.content, log)
            urls["WireMock"] = f"http://127.0.0.1:{port}/v1/chat/completions"
            port = free_port()
            servers["Prism"] = start_prism(args.peers_dir, port, directory, document, log)
            urls["Prism"] = f"http://127.0.0.1:{port}/v1/chat/completions"
            script = os.path.join(directory, "post.lua")
            with open(script, "w") as handle:
                handle.write(wrk_script(pool))
            for name, url in urls.items():  # warm-up: the JVM's JIT, caches
                measured(servers[name], url, script, args.connections, 2)
            runs: dict[str, list[dict]] = {name: [] for name in urls}
            for _ in range(args.rounds):
                for name, url in urls.items():
                    runs[name].append(measured(servers[name], url, script, args.connections, args.duration))
            print(
                f"{args.connections} connections, {args.duration}s per run, median of {args.rounds}; servers on CPU 0, "
                f"wrk on CPU 1; {len(pool)} distinct requests; load average {os.getloadavg()[0]:.1f}; "
                f"WireMock {version(args.peers_dir, 'wiremock')}, Prism {version(args.peers_dir, '@stoplight/prism-cli')}"
            )
            print(f"{'server':>9} | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>8} | {'cpu us/req':>10} | {'x mock':>6} | non-2xx")
            mock = sorted(runs["mock"], key=lambda x: x["rps"])[len(runs["mock"]) // 2]
            for name, results in runs.items():
                r = sorted(results, key=lambda x: x["rps"])[len(results) // 2]
                print(
                    f"{name:>9} | {r['rps']:>8.0f} | {r['p50']:>7.2f} | {r['p99']:>8.2f} | {r['cpu_us']:>10.0f} | "
                    f"{r['rps'] / mock['rps']:>6.2f} | {r['non2xx']}"
                )
        finally:
            for process in servers.values():
                stop(process)


if __name__ == "__main__":
    main()
