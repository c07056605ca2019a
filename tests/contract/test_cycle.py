"""The whole contract-testing cycle, offline: a suite recorded through the proxy from one mock replays the
same contents from the recordings alone, with the openai and perceptron SDKs, JSON and streaming,
success and error; ``verify`` passes against the recorded mock and names the drift of another."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import perceptron
import pytest

from perceptron_mock.testing.recorder import ThreadedRecorder
from tests.helpers import MODEL, data_url, image_bytes, threaded_mock

UPSTREAM_KEY = "sk-upstream-secret-7f3a9c2e51"  # the only key the upstream accepts
DUMMY_KEY = "dummy-key-of-the-test"  # what the tests send; the proxy swaps in the upstream's
IMAGE = data_url(image_bytes(color="orange"))
QUOTA_FIXTURE = """\
name: quota
match: {user_text: "(?i)quota"}
respond:
  error:
    status: 429
    headers: {retry-after: "7"}
    body: {error: {message: "You exceeded your current quota.", type: requests, param: null, code: rate_limit_exceeded}}
"""


def _chunks(stream) -> dict:
    content, reasoning, finishes, usage = [], [], [], None
    for chunk in stream:
        for choice in chunk.choices:
            content.append(choice.delta.content or "")
            reasoning.append(getattr(choice.delta, "reasoning_content", None) or "")
            finishes.append(choice.finish_reason)
        if chunk.usage is not None:
            usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens, chunk.usage.total_tokens)
    return {"content": "".join(content), "reasoning": "".join(reasoning), "finish": [f for f in finishes if f], "usage": usage}


def _refusal(call) -> tuple:
    try:
        call()
    except (openai.APIStatusError, perceptron.errors.SDKError) as exc:
        response = getattr(exc, "response", None)
        retry = response.headers.get("retry-after") if response is not None else getattr(exc, "retry_after", None)
        return (getattr(exc, "status_code", None), getattr(exc, "code", None), str(exc), retry)
    raise AssertionError("the call was not refused")


def run_suite(base_url: str, api_key: str) -> list:
    """What a client's test suite reads back: texts, reasons, usage and refusals, by both SDKs."""
    oai = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
    out: list = []
    done = oai.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Describe the loading dock."}])
    out.append((done.choices[0].message.content, done.choices[0].finish_reason, done.usage.model_dump()))
    messages = [
        {"role": "system", "content": "<hint>THINK</hint>"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": IMAGE}}, {"type": "text", "text": "Count the forklifts."}]},
    ]
    stream = oai.chat.completions.create(model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True})
    out.append(_chunks(stream))
    out.append(_refusal(lambda: oai.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}], temperature=5)))
    out.append(_refusal(lambda: oai.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Over quota?"}])))
    with perceptron.Client(base_url=base_url, api_key=api_key, retries=0) as sdk:
        done = sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Caption the yard."}])
        out.append((done.choices[0].message.content, done.choices[0].finish_reason, done.usage.total_tokens))
        out.append(_chunks(sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Stream a haiku."}], stream=True)))
        out.append(_refusal(lambda: sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "quota again"}])))
    return out


@dataclass
class Recorded:
    recordings: Path
    results: list  # what the suite read through the proxy
    verified: subprocess.CompletedProcess  # verify against the recorded mock, before it stopped
    upstream_fixtures: Path
    upstream_url: str  # stopped by now


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Recorded:
    """The suite run once through the recording proxy, and verify run against the mock it recorded;
    then the upstream is stopped."""
    upstream_fixtures = tmp_path_factory.mktemp("upstream")
    (upstream_fixtures / "quota.yaml").write_text(QUOTA_FIXTURE)
    recordings = tmp_path_factory.mktemp("recordings")
    with threaded_mock(api_keys=[UPSTREAM_KEY], fixtures_dir=upstream_fixtures) as upstream:
        with ThreadedRecorder(upstream.base_url, recordings, upstream_key=UPSTREAM_KEY) as proxy:
            results = run_suite(proxy.base_url, DUMMY_KEY)
        verified = _verify(recordings, upstream.base_url)
    return Recorded(recordings, results, verified, upstream_fixtures, upstream.url)


def test_the_suite_recorded_from_a_mock_replays_the_same_contents_with_the_upstream_stopped(recorded):
    recordings, live = recorded.recordings, recorded.results
    with pytest.raises(httpx.ConnectError):
        httpx.get(recorded.upstream_url + "/health")
    assert live[0][0] and live[1]["reasoning"] and live[3][0] == 429  # the suite exercised answers and refusals
    with threaded_mock(fixtures_dir=recordings, unmatched="error") as replay:
        replayed = run_suite(replay.base_url, "any-key")
    assert replayed == live


def test_each_exchange_is_one_readable_recording_and_none_holds_a_key(recorded):
    recordings = recorded.recordings
    names = sorted(p.name for p in recordings.iterdir())
    assert len(names) == 7
    assert names[0] == "0001-describe-the-loading-dock-json-200.yaml"
    assert "0002-count-the-forklifts-stream-200.yaml" in names
    for path in recordings.iterdir():
        text = path.read_text()
        assert UPSTREAM_KEY not in text and DUMMY_KEY not in text
        assert "authorization" not in text.lower() and "cookie" not in text.lower()


def _verify(recordings: Path, url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "perceptron_mock", "verify", str(recordings), "--against", url, "--api-key", UPSTREAM_KEY],
        capture_output=True, text=True, timeout=120,
    )


def test_verify_passes_against_the_mock_that_was_recorded(recorded):
    done = recorded.verified
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok ") == 7
    assert "7 recordings checked" in done.stdout and "0 drifted" in done.stdout


def test_verify_passes_against_another_mock_with_the_same_settings(recorded):
    with threaded_mock(api_keys=[UPSTREAM_KEY], fixtures_dir=recorded.upstream_fixtures) as same:
        done = _verify(recorded.recordings, same.base_url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 recordings checked" in done.stdout and "0 drifted" in done.stdout


def test_verify_fails_against_a_mock_that_answers_in_another_shape_and_names_each_difference(recorded, tmp_path):
    recordings = recorded.recordings
    # Thinking on every answer, every answer cut at its budget, no rate-limit headers, no quota fixture.
    (tmp_path / "drift.yaml").write_text("match: {}\nrespond: {reasoning_content: Thinking., finish_reason: length}\n")
    with threaded_mock(api_keys=[UPSTREAM_KEY], fixtures_dir=tmp_path, rate_limit_per_minute=0) as other:
        done = _verify(recordings, other.base_url)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    dock = [line for line in lines if "0001-describe-the-loading-dock" in line]
    assert any("finish_reason ['stop'] -> ['length']" in line for line in dock)
    assert any("body: choices[].message.reasoning_content type null -> string" in line for line in dock)
    assert any("headers missing: x-ratelimit-limit-requests" in line for line in dock)
    haiku = [line for line in lines if "stream-a-haiku" in line]
    framing = "SSE framing role > content > finish_reason+usage > [DONE] -> role > reasoning_content > content > finish_reason+usage > [DONE]"
    assert any(framing in line for line in haiku)
    assert any("chunk: choices[].delta.reasoning_content is new" in line for line in haiku)
    quota = [line for line in lines if "over-quota" in line]
    assert [line.split(": ", 1)[1] for line in quota] == [
        "status 429 -> 200",
        "headers missing: retry-after, x-ratelimit-limit-requests, x-ratelimit-remaining-requests, x-ratelimit-reset-requests",
        "error gone: {'type': 'requests', 'code': 'rate_limit_exceeded', 'param': None}",
    ]
    assert lines[-1].endswith("drifted") and " 0 drifted" not in lines[-1]


TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


def _calls(base_url: str) -> list:
    oai = openai.OpenAI(base_url=base_url, api_key=DUMMY_KEY, max_retries=0)
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    done = oai.chat.completions.create(model="perceptron-mk1.5", messages=messages, tools=TOOLS)
    call = done.choices[0].message.tool_calls[0].function
    stream = oai.chat.completions.create(model="perceptron-mk1.5", messages=messages, tools=TOOLS, stream=True)
    pieces = [(c.choices[0].delta.tool_calls or [None])[0] for c in stream if c.choices]
    streamed = "".join(p.function.arguments or "" for p in pieces if p is not None and p.function)
    return [call.name, call.arguments, done.choices[0].finish_reason, streamed]


def test_tool_calls_are_recorded_and_replayed_json_and_streamed(tmp_path):
    recordings = tmp_path / "recordings"
    with threaded_mock() as upstream:
        upstream.add_fixture(match={"tools": ["get_weather"]}, respond={"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]})
        with ThreadedRecorder(upstream.base_url, recordings) as proxy:
            live = _calls(proxy.base_url)
    assert live[0] == "get_weather" and live[2] == "tool_calls" and live[1] == live[3] and "Paris" in live[1]
    with threaded_mock(fixtures_dir=recordings, unmatched="error") as replay:
        assert _calls(replay.base_url) == live


def _agent_loop(base_url: str, *, stream: bool) -> list:
    """A weather agent run to its final answer: each step's finish reason, content and calls."""
    oai = openai.OpenAI(base_url=base_url, api_key=DUMMY_KEY, max_retries=0)
    messages: list = [{"role": "user", "content": "What is the weather in 'Paris'?"}]
    steps = []
    for _ in range(3):
        if stream:
            with oai.chat.completions.stream(model="perceptron-mk1.5", messages=messages, tools=TOOLS) as events:
                done = events.get_final_completion()
        else:
            done = oai.chat.completions.create(model="perceptron-mk1.5", messages=messages, tools=TOOLS)
        message = done.choices[0].message
        calls = message.tool_calls or []
        steps.append((done.choices[0].finish_reason, message.content, [(c.function.name, c.function.arguments) for c in calls]))
        if not calls:
            return steps
        messages.append({"role": "assistant", "content": message.content, "tool_calls": [c.model_dump() for c in calls]})
        messages += [{"role": "tool", "tool_call_id": c.id, "content": "18 C and sunny"} for c in calls]
    raise AssertionError(f"the loop did not end: {steps}")


def test_a_recorded_agent_loop_replays_to_its_final_answer_though_call_ids_are_fresh(tmp_path):
    recordings = tmp_path / "recordings"
    with threaded_mock() as upstream:
        with ThreadedRecorder(upstream.base_url, recordings) as proxy:
            live = [_agent_loop(proxy.base_url, stream=False), _agent_loop(proxy.base_url, stream=True)]
        assert [len(steps) for steps in live] == [2, 2] and live[0][0][0] == "tool_calls"
        assert "18 C and sunny" in live[0][1][1]
        checked = subprocess.run(
            [sys.executable, "-m", "perceptron_mock", "verify", str(recordings), "--against", upstream.base_url, "--api-key", DUMMY_KEY],
            capture_output=True, text=True, timeout=120,
        )
        assert checked.returncode == 0, checked.stdout  # the tool-call answers' shapes, JSON and streamed
    # The second step's recording holds the first answer's call id; the replay's first answer makes a
    # fresh one, and the loop still finds its recording.
    with threaded_mock(fixtures_dir=recordings, unmatched="error") as replay:
        assert [_agent_loop(replay.base_url, stream=False), _agent_loop(replay.base_url, stream=True)] == live
