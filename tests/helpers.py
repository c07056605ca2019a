"""What the tests share besides fixtures: request bodies, images, the SSE parser and in-process servers.

Fixtures live in conftest.py; everything a test imports comes from here, one copy of each.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from hypothesis import strategies as st
from PIL import Image

from perceptron_mock.testing.plugin import ThreadedMock
from tests.server import free_port

MODEL = "isaac-0.2-2b-preview"
# The prompt tokens a one-message request adds to its content: the message's chat template (5) and the
# generation prompt (3). Written out, not read from perceptron_mock.accounting.tokens, so that a change there shows.
OVERHEAD = 5 + 3
STUDIO_URL = (
    "https://raw.githubusercontent.com/perceptron-ai-inc/perceptron/main/cookbook/_shared/assets/capabilities/qna/"
    "studio_scene.webp"
)


# --- request bodies -------------------------------------------------------------------------------


def chat(text: str = "Hello", *, system: str | list | None = None, images: list[str] | tuple = (), **fields) -> dict:
    """A valid chat body: an optional system message (a string or text parts), then one user message
    with the ``images`` (URLs) before ``text``; ``fields`` merged in."""
    messages: list[dict] = []
    if system is not None:
        messages.append({"role": "system", "content": system})
    parts = [{"type": "image_url", "image_url": {"url": url}} for url in images]
    if parts:
        parts.append({"type": "text", "text": text})
        messages.append({"role": "user", "content": parts})
    else:
        messages.append({"role": "user", "content": text})
    return {"model": MODEL, "messages": messages, **fields}


def post(http: httpx.Client, body: dict | bytes, **headers: str) -> httpx.Response:
    """``POST /v1/chat/completions`` through ``http``: a dict as JSON, bytes as they are (as JSON)."""
    if isinstance(body, bytes):
        headers = {"content-type": "application/json", **headers}
        return http.post("/v1/chat/completions", content=body, headers=headers, timeout=30)
    return http.post("/v1/chat/completions", json=body, headers=headers, timeout=30)


def json_items(value) -> int:
    """Array elements and object members, an empty container counting one: what the server counts
    against --max-json-items."""
    if isinstance(value, list):
        return max(1, len(value)) + sum(json_items(item) for item in value)
    if isinstance(value, dict):
        return max(1, len(value)) + sum(json_items(item) for item in value.values())
    return 0


# --- images ---------------------------------------------------------------------------------------


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (64, 48), color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


# --- server-sent events ---------------------------------------------------------------------------


def sse_frames(body: bytes) -> list[bytes]:
    """The body's events, each with the blank line that ends it (as the renderer yields them); asserts
    nothing is left over. An empty body has none."""
    if not body:
        return []
    assert body.endswith(b"\n\n"), body[-200:]
    return [block + b"\n\n" for block in body[:-2].split(b"\n\n")]


def sse_events(body: bytes) -> list[bytes]:
    """The body's events without the blank lines that end them."""
    return [frame[:-2] for frame in sse_frames(body)]


def sse_data(events: list[bytes]) -> list[dict]:
    """The JSON of each ``data:`` event, which must end with ``data: [DONE]``."""
    assert events[-1] == b"data: [DONE]"
    return [json.loads(event.removeprefix(b"data: ")) for event in events[:-1]]


# --- regular expressions -------------------------------------------------------------------------

# Patterns of the subset the regex answers walk, with flags and anchors: generated, so re is the oracle.
_literals = st.sampled_from(list("abcXYZ019 -_@.") + ["\\.", "\\-", "\\(", "\\)", "\\$", "\\\\", "é", "中"])
_classes = st.sampled_from(
    ["[a-z]", "[A-Z0-9]", "[^a-z]", "[^\\d\\s]", "\\d", "\\w", "\\s", "\\D", "\\W", "\\S", ".", "[._-]", "[\\w.+-]", "[^\"]"]
)


def _extend_pattern(inner):
    quantified = st.builds(
        lambda atom, q: f"(?:{atom}){q}",
        inner,
        st.sampled_from(["*", "+", "?", "{2}", "{1,3}", "{0,2}", "*?", "+?", "{2,}"]),
    )
    sequence = st.lists(inner, min_size=2, max_size=4).map("".join)
    alternation = st.lists(inner, min_size=2, max_size=3).map(lambda xs: "(" + "|".join(xs) + ")")
    group = inner.map(lambda atom: f"({atom})")
    return st.one_of(quantified, sequence, alternation, group)


_patterns = st.recursive(st.one_of(_literals, _classes), _extend_pattern, max_leaves=8)
anchored_patterns = st.builds(
    lambda flags, start, body, end: f"{flags}{start}{body}{end}",
    st.sampled_from(["", "(?i)", "(?s)", "(?x)", "(?m)"]),
    st.sampled_from(["", "^", "\\A"]),
    _patterns,
    st.sampled_from(["", "$", "\\Z"]),
)


# --- documentation ----------------------------------------------------------------------------------


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, re.S)


def run_as_a_new_user(code: str, server: Any, workdir: Path) -> None:
    """Run ``code`` in a fresh interpreter against ``server`` and check it printed what the mock answered."""
    code = code.replace("http://127.0.0.1:8000", server.url)
    Image.new("RGB", (640, 480), "teal").save(workdir / "scene.webp", "WEBP")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PERCEPTRON_", "OPENAI_")) and k != "FAL_KEY"}
    # What the docs tell the reader to export for the perceptron helpers.
    env |= {"PERCEPTRON_BASE_URL": server.base_url, "PERCEPTRON_API_KEY": "any-key"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    # Every block prints what the mock answered: non-empty text on each print.
    printed = [line for line in done.stdout.splitlines() if line.strip()]
    assert printed and all(line.strip() != "None" for line in printed), done.stdout


# --- clients and servers --------------------------------------------------------------------------


def point_perceptron_at(server: Any, monkeypatch: pytest.MonkeyPatch, api_key: str = "test-key") -> None:
    """Point the perceptron SDK's module-level helpers (``perceptron.detect``, ``question``, …) at
    ``server``: they read PERCEPTRON_BASE_URL and PERCEPTRON_API_KEY, and a FAL_KEY in the environment
    could send them to fal.ai instead."""
    monkeypatch.setenv("PERCEPTRON_BASE_URL", server.base_url)
    monkeypatch.setenv("PERCEPTRON_API_KEY", api_key)
    monkeypatch.delenv("FAL_KEY", raising=False)


@contextmanager
def threaded_mock(**settings: Any) -> Iterator[ThreadedMock]:
    """The pytest plugin's server with ``settings``, for what a marker cannot say: settings known only
    at run time (a ``tmp_path``), several servers in one test, or one shared by a module's tests."""
    mock = ThreadedMock(**settings).start()
    try:
        yield mock
    finally:
        mock.stop()


class ThreadedServer:
    """uvicorn serving any ASGI ``app`` in a background thread, with a handle on its event loop (its
    tasks); for a stand-in app, or to look inside the mock's loop."""

    def __init__(self, app) -> None:
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, loop="uvloop", http="httptools", log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import uvloop

        self.loop = uvloop.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())
        # sse-starlette's shutdown watcher outlives the server; end it before the loop closes.
        leftovers = asyncio.all_tasks(self.loop)
        for task in leftovers:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        self.loop.close()

    def call(self, coroutine_function):
        """Run ``coroutine_function()`` inside the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine_function(), self.loop).result(timeout=30)

    def tasks(self) -> list[str]:
        async def names() -> list[str]:
            current = asyncio.current_task()
            return sorted(repr(t.get_coro()) for t in asyncio.all_tasks() if t is not current)

        return self.call(names)

    @contextmanager
    def running(self) -> Iterator["ThreadedServer"]:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.01)
        try:
            yield self
        finally:
            self.server.should_exit = True
            self.thread.join(timeout=20)
