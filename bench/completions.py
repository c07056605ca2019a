"""Benchmark: the mock's full pipeline against a bare ASGI app returning the same completion JSON.

    .venv/bin/python bench/completions.py [--duration 8] [--connections 1,16,64] [--soak 100000] [--rounds 1] [--baseline REF]

Four servers, each one uvicorn worker (uvloop + httptools) pinned to CPU 0; wrk runs pinned to CPU 1
and POSTs, to each in turn, the requests of one pool of 1,000 distinct small chat requests
(bench/request_pool.py), so that no cache of whole answers helps any of them:

- mock:  perceptron-mock, whole pipeline;
- bare:  a bare ASGI app that reads the body and returns the same completion JSON with a fresh id;
- floor: the bare app plus only the library calls that any pipeline honouring the issue must make —
         validate the body with the mock's pydantic model, count the prompt's tokens and the answer's
         tokens with the Qwen3 tokenizer, fresh ids. No auth, limiter, journal, rules or faults. It
         shows how close to the bare app a validating, token-counting server can get at all;
- rules: the floor plus the mock's own answer (its validation, accounting, answer rules, fitting and
         rendering) and nothing else: what answering as the mock does costs before auth, the
         limiter, the journal and faults.

With ``--baseline REF`` (a commit, e.g. the one before an optimisation), the mock as it was at REF runs
as a fifth server in the same run, from the same virtualenv. ``--rounds N`` runs each server N times,
interleaved, and shows the median.

Printed per connection count: requests/s, p50 and p99 latency and the server's CPU time per request
(µs; it holds when other work shares the machine, as requests/s does not) for each, and the ratios
("cpu f/m": the floor's CPU per request over the mock's, what mock/floor would be on an idle
machine; "cpu f/r": the floor's over the rules'; "cpu b/m": the baseline's over the mock's). Then the
mock's RSS before and after --soak requests. Needs `wrk` (Debian's package). Figures vary +-25 % on
a shared VM: compare the columns of one run, not runs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from typing import IO

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.request_pool import request_pool, wrk_script  # noqa: E402
from tests.server import free_port, stop  # noqa: E402

# One small chat request, and a wrk script that POSTs it: what the other benchmarks send.
REQUEST = {"model": "isaac-0.2-2b-preview", "messages": [{"role": "user", "content": "Describe this scene in detail."}]}

BARE_APP = textwrap.dedent(
    '''
    import orjson, os, string, time
    _ALNUM = (string.ascii_letters + string.digits).encode()
    CONTENT = os.environ["BARE_CONTENT"]

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        body = orjson.dumps({
            "id": "chatcmpl-" + bytes(_ALNUM[b % 62] for b in os.urandom(29)).decode(),
            "object": "chat.completion", "created": int(time.time()), "model": "isaac-0.2-2b-preview",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": CONTENT, "reasoning_content": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 40, "total_tokens": 52},
        }, option=orjson.OPT_INDENT_2)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
    '''
)

FLOOR_APP = textwrap.dedent(
    '''
    import orjson, os, time
    from perceptron_mock.accounting import tokens
    from perceptron_mock.protocol import ids
    from perceptron_mock.protocol.requests import ChatCompletionRequest
    CONTENT = os.environ["BARE_CONTENT"]

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        request = ChatCompletionRequest.model_validate_json(body)
        prompt_tokens = sum(tokens.count(m.content) + tokens.TOKENS_PER_MESSAGE for m in request.messages) + tokens.TOKENS_PER_REPLY
        completion_tokens = tokens.count(CONTENT)
        body = orjson.dumps({
            "id": ids.completion_id(), "object": "chat.completion", "created": int(time.time()), "model": request.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": CONTENT, "reasoning_content": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }, option=orjson.OPT_INDENT_2)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"x-request-id", ids.request_id().encode())]})
        await send({"type": "http.response.body", "body": body})
    '''
)

WRK_SCRIPT = textwrap.dedent(
    """
    wrk.method = "POST"
    wrk.body = [[{body}]]
    wrk.headers["Content-Type"] = "application/json"
    wrk.headers["Authorization"] = "Bearer bench-key"
    """
)


# The floor plus the mock's own answer: its validation, accounting, answer rules, fitting and rendering,
# called as the mock calls them, and nothing else (no auth, limiter, journal, faults or fixtures). It
# shows what answering as the mock does costs before any of the toolkit's work.
RULES_APP = textwrap.dedent(
    '''
    import time
    from perceptron_mock.answers.answer import fit
    from perceptron_mock.answers.choose import choose
    from perceptron_mock.api.completions import ChatCompletions
    from perceptron_mock.protocol import ids
    from perceptron_mock.protocol.catalog import Catalog
    from perceptron_mock.render.json import render_completion
    from perceptron_mock.settings import Settings

    settings = Settings()
    pipeline = ChatCompletions(settings, faults=None, fixtures=None, auth=None,
                               catalog=Catalog.load(settings.models_file).served(settings.models))

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        request, prompt = pipeline.understand(body)
        completion = fit(choose(request, prompt), budget=prompt.completion_budget, prompt_tokens=prompt.prompt_tokens)
        body = render_completion(completion, id=ids.completion_id(), created=int(time.time()), model=request.model)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                *ids.request_id_headers()]})
        await send({"type": "http.response.body", "body": body})
    '''
)


def pin(cpu: int) -> list[str]:
    """A command prefix that pins a process to one CPU (nothing where that is not possible)."""
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") and os.cpu_count() and os.cpu_count() > 1 else []


def wait_until_up(url: str, process: subprocess.Popen) -> None:
    for _ in range(200):
        if process.poll() is not None:
            raise SystemExit(f"server exited: {url}")
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit(f"server did not start: {url}")


def checkout(ref: str, directory: str) -> str:
    """The package as it was at commit ``ref``, extracted under ``directory``: a folder to put first on
    PYTHONPATH (it holds ``perceptron_mock``, a link to that commit's app/)."""
    source = os.path.join(directory, "source")
    os.makedirs(source)
    archive = subprocess.run(["git", "-C", ROOT, "archive", ref, "app"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", source], input=archive, check=True)
    path = os.path.join(directory, "path")
    os.makedirs(path)
    os.symlink(os.path.join(source, "app"), os.path.join(path, "perceptron_mock"))
    return path


def start_mock(
    port: int, extra: list[str], log: IO[bytes] | None = None, *, package: str | None = None, cpu: int | None = 0
) -> subprocess.Popen:
    """The mock on ``port``, pinned to CPU ``cpu``, with ``extra`` flags; what it prints goes to ``log``
    (a binary file) or nowhere; ``cpu`` None leaves it unpinned. ``package``: a folder from ``checkout``, to run an older version."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERCEPTRON_MOCK_")}
    if package is not None:
        env["PYTHONPATH"] = package
    output = log if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(
        [*(pin(cpu) if cpu is not None else []), sys.executable, "-m", "perceptron_mock", "--port", str(port), "--log-level", "warning", *extra],
        cwd=package or ROOT, env=env, stdout=output, stderr=subprocess.STDOUT if log is not None else subprocess.DEVNULL,
    )
    wait_until_up(f"http://127.0.0.1:{port}/health", process)
    return process


def start_bare(port: int, directory: str, source: str, name: str, env: dict[str, str]) -> subprocess.Popen:
    """``source`` written to ``directory/name.py`` and served as the mock is served (one uvicorn worker
    on CPU 0, uvloop, httptools, no access log, no server header), with ``env`` added to its
    environment; the app can import the project's modules."""
    with open(os.path.join(directory, f"{name}.py"), "w") as handle:
        handle.write(source)
    env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([directory, ROOT])}
    process = subprocess.Popen(
        [*pin(0), sys.executable, "-m", "uvicorn", f"{name}:app", "--port", str(port), "--loop", "uvloop",
         "--http", "httptools", "--log-level", "warning", "--no-access-log", "--no-server-header"],
        cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_until_up(f"http://127.0.0.1:{port}/", process)
    return process


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, script: str, connections: int, duration: int, *, cpu: int | None = 1) -> dict:
    """One wrk run against ``url``, pinned to CPU ``cpu`` (None: not pinned)."""
    output = subprocess.run(
        [*(pin(cpu) if cpu is not None else []), "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", script, url],
        capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", output)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    return {"requests": requests, "rps": rps, "p50": _ms(*p50.groups()), "p99": _ms(*p99.groups()), "non2xx": int(errors.group(1)) if errors else 0}


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(process: subprocess.Popen, url: str, script: str, connections: int, duration: int) -> dict:
    """``wrk`` against ``url``, with the server's CPU time per request (µs): unlike requests/s, that
    figure holds when other work shares the machine."""
    before = cpu_seconds(process.pid)
    result = wrk(url, script, connections, duration)
    result["cpu_us"] = (cpu_seconds(process.pid) - before) / max(1, result["requests"]) * 1e6
    return result


def proc_status_kb(pid: int, field: str = "VmRSS") -> int:
    """A memory figure of /proc/PID/status in kB: VmRSS (resident now), VmHWM (peak resident)."""
    with open(f"/proc/{pid}/status") as handle:
        return int(re.search(rf"{field}:\s+(\d+)", handle.read()).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--connections", default="1,16,64", help="comma-separated connection counts")
    parser.add_argument("--soak", type=int, default=100_000, help="requests for the RSS-growth check (0: skip)")
    parser.add_argument("--pool", type=int, default=1000, help="distinct requests in the pool")
    parser.add_argument("--rounds", type=int, default=1, help="runs per server, interleaved; the median is shown")
    parser.add_argument("--baseline", metavar="REF", help="also run the mock as it was at this commit")
    # The limiter stays on (the full pipeline is measured) with a budget no run can exhaust.
    parser.add_argument(
        "--mock-args",
        default="--rate-limit-per-minute 1000000000",
        help="CLI flags for the mock (default: limiter on, never refusing; '--rate-limit-per-minute 0' turns it off)",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")

    pool = request_pool(args.pool)
    extra = args.mock_args.split()
    servers: dict[str, subprocess.Popen] = {}
    with tempfile.TemporaryDirectory() as directory:
        try:
            urls = {}
            for name in ("mock", "baseline") if args.baseline else ("mock",):
                port = free_port()
                package = checkout(args.baseline, os.path.join(directory, "baseline")) if name == "baseline" else None
                servers[name] = start_mock(port, extra, package=package)
                urls[name] = f"http://127.0.0.1:{port}/v1/chat/completions"
            answer = httpx.post(urls["mock"], json=pool[0], headers={"authorization": "Bearer bench-key"}).json()
            content = answer["choices"][0]["message"]["content"]
            for name, source in (("bare", BARE_APP), ("floor", FLOOR_APP), ("rules", RULES_APP)):
                port = free_port()
                servers[name] = start_bare(port, directory, source, f"{name}_app", {"BARE_CONTENT": content})
                urls[name] = f"http://127.0.0.1:{port}/v1/chat/completions"
            script = os.path.join(directory, "post.lua")
            with open(script, "w") as handle:
                handle.write(wrk_script(pool))
            print(
                f"mock flags: {' '.join(extra) or '(defaults)'}; {args.duration}s per run; wrk -t1, pinned CPUs; "
                f"{len(pool)} distinct requests; median of {args.rounds} interleaved runs; load average {os.getloadavg()[0]:.1f}"
                + (f"; baseline: the mock at {args.baseline}" if args.baseline else "")
            )
            names = list(urls)
            columns = " | ".join(f"{name + ' rps':>12} {'p50 ms':>7} {'p99 ms':>7} {'cpu us':>6}" for name in names)
            ratios = ["mock/floor", "floor/bare", "cpu f/m", "cpu f/r"] + (["base/floor", "mock/base", "cpu b/m"] if args.baseline else [])
            print(f"{'conns':>5} | {columns} | {' '.join(f'{r:>10}' for r in ratios)}")
            for connections in [int(c) for c in args.connections.split(",")]:
                runs = {name: [] for name in names}
                for _ in range(args.rounds):  # interleaved: a burst of load elsewhere hits every server alike
                    for name in names:
                        runs[name].append(measured(servers[name], urls[name], script, connections, args.duration))
                r = {name: sorted(results, key=lambda x: x["rps"])[len(results) // 2] for name, results in runs.items()}
                values = [r["mock"]["rps"] / r["floor"]["rps"], r["floor"]["rps"] / r["bare"]["rps"], r["floor"]["cpu_us"] / r["mock"]["cpu_us"],
                          r["floor"]["cpu_us"] / r["rules"]["cpu_us"]]
                if args.baseline:
                    values += [
                        r["baseline"]["rps"] / r["floor"]["rps"],
                        r["mock"]["rps"] / r["baseline"]["rps"],
                        r["baseline"]["cpu_us"] / r["mock"]["cpu_us"],
                    ]
                note = "".join(f"  ({r[n]['non2xx']} non-2xx from {n})" for n in names if r[n]["non2xx"])
                cells = " | ".join(
                    f"{r[n]['rps']:>12.0f} {r[n]['p50']:>7.2f} {r[n]['p99']:>7.2f} {r[n]['cpu_us']:>6.0f}" for n in names
                )
                print(f"{connections:>5} | {cells} | {' '.join(f'{v:>10.2f}' for v in values)}{note}")
            if args.soak:
                soak(servers["mock"], urls["mock"], script, args.soak)
        finally:
            for process in servers.values():
                stop(process)


def soak(mock: subprocess.Popen, url: str, script: str, total: int) -> None:
    # wrk has no request-count flag: run it in slices until `total` requests have been served.
    wrk(url, script, 16, 2)  # warm-up: caches, allocator arenas
    before = proc_status_kb(mock.pid)
    served = 0
    while served < total:
        result = wrk(url, script, 16, 2)
        served += result["requests"]
    after = proc_status_kb(mock.pid)
    print(f"RSS over ~{served} requests: {before / 1024:.1f} MB -> {after / 1024:.1f} MB (growth {(after - before) / 1024:+.1f} MB)")


if __name__ == "__main__":
    main()
