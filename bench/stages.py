"""What each stage of a plain chat request costs, in-process: µs and instructions per request.

    .venv/bin/python bench/stages.py [--rounds 5] [--instructions]

Runs each stage of the pipeline on its own over bench/request_pool.py's pool (its inputs made by the
stages before it), as api/completions.py calls it, beside the whole app through ASGI (as
bench/instructions.py drives it) with the journal, the limiter or the metrics switched off in turn;
what the stages do not explain is the ASGI layers, auth, ids and sending. Choosing the answer is also
shown per kind of answer in the pool. ``--instructions`` counts under callgrind instead of timing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.instructions import call  # noqa: E402
from bench.request_pool import request_pool  # noqa: E402

APPS = {  # the whole app through ASGI, and with one part of the toolkit switched off
    "whole app (ASGI)": {},
    "  without the journal": {"PERCEPTRON_MOCK_JOURNAL_SIZE": "0"},
    "  without the rate limiter": {"PERCEPTRON_MOCK_RATE_LIMIT_PER_MINUTE": "0"},
    "  without the metrics": {"PERCEPTRON_MOCK_METRICS": "false"},
}


def _app(env: dict[str, str]):
    from perceptron_mock.main import create_app
    from perceptron_mock.settings import Settings

    saved = dict(os.environ)
    os.environ.update({"PERCEPTRON_MOCK_RATE_LIMIT_PER_MINUTE": "1000000000", **env})
    try:
        return create_app(Settings())
    finally:
        os.environ.clear()
        os.environ.update(saved)


def stages(bodies: list[bytes]) -> list[tuple[str, int, object]]:
    """(name, requests, run) for each stage: ``run()`` does the stage once for each of ``requests``."""
    from perceptron_mock.accounting.prompt import account
    from perceptron_mock.answers import choose as choosing
    from perceptron_mock.answers.answer import fit
    from perceptron_mock.answers.hints import read_hints
    from perceptron_mock.answers.seed import rng_for
    from perceptron_mock.api.completions import ChatCompletions
    from perceptron_mock.protocol import ids, model_rules
    from perceptron_mock.protocol.catalog import Catalog
    from perceptron_mock.protocol.json_items import items_over
    from perceptron_mock.protocol.requests import ChatCompletionRequest
    from perceptron_mock.protocol.validation import check_request
    from perceptron_mock.render.json import render_completion
    from perceptron_mock.settings import Settings

    settings = Settings()
    catalog = Catalog.load(settings.models_file).served(settings.models)
    pipeline = ChatCompletions(settings, faults=None, fixtures=None, auth=None, catalog=catalog)
    requests = [ChatCompletionRequest.model_validate_json(b) for b in bodies]
    models = [catalog.get(r.model) for r in requests]
    prompts = [account(r, settings, m, {}, None) for r, m in zip(requests, models)]
    hints = [read_hints(r, p.system_texts, p.reasoning) for r, p in zip(requests, prompts)]
    answers = [choosing.choose(r, p) for r, p in zip(requests, prompts)]
    completions = [fit(a, budget=p.completion_budget, prompt_tokens=p.prompt_tokens) for a, p in zip(answers, prompts)]
    max_items = settings.max_json_items
    by_kind: dict[str, list[int]] = defaultdict(list)
    for i, (p, h) in enumerate(zip(prompts, hints)):
        kind = choosing._read(p).kind
        by_kind[f"{kind}, grounded ({h.spatial})" if h.spatial else kind].append(i)

    def each(function):
        return lambda: [function(i) for i in range(len(bodies))]

    out = [
        ("whole understanding (api/completions.understand)", len(bodies), each(lambda i: pipeline.understand(bodies[i]))),
        ("  JSON item count (json_items.items_over)", len(bodies), each(lambda i: items_over(bodies[i], max_items))),
        ("  JSON parse + pydantic validation", len(bodies), each(lambda i: ChatCompletionRequest.model_validate_json(bodies[i]))),
        ("  request and conversation checks", len(bodies), each(lambda i: check_request(requests[i]))),
        ("  model lookup and rules", len(bodies), each(lambda i: model_rules.check(requests[i], catalog.get(requests[i].model)))),
        ("  accounting (prompt tokens)", len(bodies), each(lambda i: account(requests[i], settings, models[i], {}, None))),
        ("whole answer choice (answers/choose.choose)", len(bodies), each(lambda i: choosing.choose(requests[i], prompts[i]))),
        ("  hints", len(bodies), each(lambda i: read_hints(requests[i], prompts[i].system_texts, prompts[i].reasoning))),
        ("  seed and generator (seed.rng_for)", len(bodies), each(lambda i: rng_for(requests[i], prompts[i]))),
        ("  reading the prompt (tasks.read)", len(bodies), each(lambda i: choosing._read(prompts[i]))),
        ("fit (token ids of the answer)", len(bodies), each(lambda i: fit(answers[i], budget=prompts[i].completion_budget, prompt_tokens=prompts[i].prompt_tokens))),
        ("render (JSON body)", len(bodies), each(lambda i: render_completion(completions[i], id="chatcmpl-x", created=0, model=requests[i].model))),
        ("ids (completion, request)", len(bodies), each(lambda i: (ids.completion_id(), ids.request_id_headers()))),
    ]
    for kind, members in sorted(by_kind.items(), key=lambda item: -len(item[1])):
        out.append(
            (f"  choice: {kind} ({len(members)})", len(members),
             lambda members=members: [choosing.choose(requests[i], prompts[i]) for i in members])
        )
    return out


def apps(bodies: list[bytes]) -> list[tuple[str, int, object]]:
    out = []
    for name, env in APPS.items():
        app = _app(env)

        async def run(app=app) -> None:
            for body in bodies:
                await call(app, body)

        out.append((name, len(bodies), lambda run=run: asyncio.run(run())))
    return out


def timed(bodies: list[bytes], rounds: int) -> None:
    for name, n, run in apps(bodies) + stages(bodies):
        run()  # warm-up: caches, first-call costs
        best = float("inf")
        for _ in range(rounds):
            gc.collect()
            start = time.process_time()
            run()
            best = min(best, time.process_time() - start)
        print(f"{name:<58} {best / n * 1e6:8.2f} µs/request", flush=True)


def counted(bodies: list[bytes], directory: str) -> None:
    """Under callgrind: each stage's count dumped on its own (the first dump, of nothing, calibrates)."""
    work = apps(bodies) + stages(bodies)
    for _name, _n, run in work:
        run()
    gc.collect()
    gc.freeze()
    pid = str(os.getpid())
    subprocess.run(["callgrind_control", "-i", "on", pid], capture_output=True, check=True)
    subprocess.run(["callgrind_control", "-d", pid], capture_output=True, check=True)
    for _name, _n, run in work:
        subprocess.run(["callgrind_control", "-d", pid], capture_output=True, check=True)  # what came before
        run()
        subprocess.run(["callgrind_control", "-d", pid], capture_output=True, check=True)
    subprocess.run(["callgrind_control", "-i", "off", pid], capture_output=True, check=True)
    with open(os.path.join(directory, "names.json"), "w") as out:
        json.dump([(name, n) for name, n, _run in work], out)


def instructions(requests: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, "callgrind.out")
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
             sys.executable, os.path.abspath(__file__), "--child", directory, "--requests", str(requests)],
            cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

        def total(path: str) -> int:
            found = re.search(r"^(?:totals|summary):\s+(\d+)", open(path).read(), re.M)
            return int(found.group(1)) if found else 0

        dumps = sorted(glob.glob(out + ".*"), key=lambda p: int(p.rsplit(".", 1)[1]))
        names = json.load(open(os.path.join(directory, "names.json")))
        empty = total(dumps[1])  # between two dumps, nothing run: what the dumping itself costs
        for k, (name, n) in enumerate(names):
            spent = total(dumps[2 + 2 * k]) - empty
            print(f"{name:<58} {spent / n / 1000:8.1f}k instructions/request", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=1000, help="requests of the pool (all of it: 1,000)")
    parser.add_argument("--instructions", action="store_true", help="count instructions under callgrind instead")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    bodies = [json.dumps(r, separators=(",", ":")).encode() for r in request_pool()][: args.requests]
    if args.child is not None:
        counted(bodies, args.child)
    elif args.instructions:
        instructions(args.requests)
    else:
        timed(bodies, args.rounds)


if __name__ == "__main__":
    main()
