"""The recording proxy on the wire: the upstream's answer passes unchanged and as it arrives, the
caller's key is swapped for the upstream's, and upstream failures reach the client as a gateway passes
them (502/504 before a status, the same cut after) with nothing recorded."""

from __future__ import annotations

import subprocess
import sys

import httpx
import openai
import pytest
import yaml

from perceptron_mock.testing.recorder import ThreadedRecorder
from tests.helpers import MODEL, chat, threaded_mock
from tests.server import free_port, run_server


@pytest.fixture(scope="module")
def upstream():
    with threaded_mock(api_keys=["upstream-only-key"]) as mock:
        yield mock


def _post(url: str, body: dict, **headers: str) -> httpx.Response:
    headers = {"authorization": "Bearer caller-dummy", **headers}
    return httpx.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=30)


def test_the_upstream_answer_passes_unchanged_with_the_headers_clients_read(upstream, tmp_path):
    with ThreadedRecorder(upstream.base_url, tmp_path, upstream_key="upstream-only-key") as proxy:
        answer = _post(proxy.url, chat("Hello"), **{"x-mock-fault": "429; retry_after=3"})
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "3"
    assert answer.headers["content-type"] == "application/json"
    [sent] = upstream.requests(limit=1)
    assert answer.headers["x-request-id"] == sent.request_id  # the upstream's own id, not a new one
    assert answer.json()["error"]["code"] == "rate_limit_exceeded"


def test_the_caller_key_is_replaced_by_the_upstream_key_and_neither_is_written(upstream, tmp_path):
    with ThreadedRecorder(upstream.base_url, tmp_path, upstream_key="upstream-only-key") as proxy:
        assert _post(proxy.url, chat("Hello"), cookie="session=abc").status_code == 200  # the upstream refuses the dummy
    [recording] = tmp_path.iterdir()
    text = recording.read_text()
    assert "upstream-only-key" not in text and "caller-dummy" not in text and "session=abc" not in text
    assert yaml.safe_load(text)["recorded"]["request"]["headers"] == {"content-type": "application/json", "accept": "*/*"}


def test_without_an_upstream_key_the_caller_key_goes_upstream_and_is_not_written(upstream, tmp_path):
    with ThreadedRecorder(upstream.base_url, tmp_path) as proxy:
        refused = httpx.post(proxy.base_url + "/chat/completions", json=chat("Hi"), headers={"authorization": "Bearer upstream-only-key"})
    assert refused.status_code == 200
    assert "upstream-only-key" not in next(tmp_path.iterdir()).read_text()


def test_a_stream_reaches_the_client_event_by_event_before_the_upstream_has_finished(upstream, tmp_path):
    upstream.add_fixture(match={"user_text": "slowly"}, respond={"content": "one two three four five six", "pacing": {"tokens_per_second": 20}})
    with ThreadedRecorder(upstream.base_url, tmp_path, upstream_key="upstream-only-key") as proxy:
        body = chat("Say it slowly", stream=True)
        with httpx.stream("POST", proxy.base_url + "/chat/completions", json=body, headers={"authorization": "Bearer x"}, timeout=30) as answer:
            events = answer.iter_lines()
            first = next(line for line in events if line.startswith("data:"))
            assert '"role":"assistant"' in first
            assert list(tmp_path.iterdir()) == []  # the upstream is still sending: nothing recorded yet
            rest = [line for line in events if line.startswith("data:")]
    assert rest[-1] == "data: [DONE]"
    [recording] = tmp_path.iterdir()
    respond = yaml.safe_load(recording.read_text())["respond"]
    assert respond["content"] == "one two three four five six"
    assert respond["pacing"]["tokens_per_second"] > 0 and respond["pacing"]["first_token_ms"] >= 0


def test_an_unreachable_upstream_is_a_502_envelope_and_nothing_is_recorded(tmp_path):
    with ThreadedRecorder(f"http://127.0.0.1:{free_port()}/v1", tmp_path) as proxy:
        client = openai.OpenAI(base_url=proxy.base_url, api_key="k", max_retries=0)
        with pytest.raises(openai.InternalServerError) as caught:
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.status_code == 502
    assert caught.value.body["code"] == "bad_gateway" and caught.value.body["type"] == "server_error"
    assert list(tmp_path.iterdir()) == []


def test_an_upstream_that_does_not_answer_in_time_is_a_504_and_nothing_is_recorded(upstream, tmp_path):
    with ThreadedRecorder(upstream.base_url, tmp_path, upstream_key="upstream-only-key", timeout=0.5) as proxy:
        answer = _post(proxy.url, chat("Hi"), **{"x-mock-fault": "hang"})
    assert answer.status_code == 504
    assert set(answer.json()["error"]) == {"message", "type", "param", "code"}
    assert answer.json()["error"]["code"] == "gateway_timeout"
    assert list(tmp_path.iterdir()) == []


def test_a_stream_the_upstream_cuts_is_cut_the_same_for_the_client_and_not_recorded(upstream, tmp_path):
    with ThreadedRecorder(upstream.base_url, tmp_path, upstream_key="upstream-only-key") as proxy:
        client = openai.OpenAI(base_url=proxy.base_url, api_key="k", max_retries=0)
        stream = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Hi"}], stream=True, extra_headers={"x-mock-fault": "cut=3"}
        )
        seen = []
        with pytest.raises(openai.APIConnectionError):
            for chunk in stream:
                seen.append(chunk)
    assert len(seen) == 3  # what the upstream sent before the cut, and no [DONE]
    assert list(tmp_path.iterdir()) == []


def test_other_paths_pass_through_and_are_not_recorded(upstream, tmp_path):
    with ThreadedRecorder(upstream.base_url, tmp_path, upstream_key="upstream-only-key") as proxy:
        models = httpx.get(proxy.base_url + "/models", headers={"authorization": "Bearer x"})
        outside = httpx.get(proxy.url + "/elsewhere")
    assert models.status_code == 200 and MODEL in {m["id"] for m in models.json()["data"]}
    assert outside.status_code == 404 and outside.json()["error"]["code"] == "unknown_url"
    assert list(tmp_path.iterdir()) == []


def test_the_record_command_records_with_the_key_from_the_variable_it_names(upstream, tmp_path):
    env = {"UPSTREAM_KEY_FOR_RECORDING": "upstream-only-key"}
    args = ("--upstream", upstream.base_url, "--to", str(tmp_path), "--upstream-key-env", "UPSTREAM_KEY_FOR_RECORDING")
    with run_server(*args, env=env, command=("record",)) as proxy:
        client = openai.OpenAI(base_url=proxy.base_url, api_key="dummy", max_retries=0)
        done = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Name three colours."}])
    [recording] = tmp_path.iterdir()
    assert recording.name == "0001-name-three-colours-json-200.yaml"
    assert yaml.safe_load(recording.read_text())["respond"]["content"] == done.choices[0].message.content


def test_the_record_command_refuses_an_unset_key_variable(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "perceptron_mock", "record", "--upstream", "http://127.0.0.1:1/v1", "--to", str(tmp_path),
         "--upstream-key-env", "SURELY_UNSET_VARIABLE_FOR_THIS_TEST"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "$SURELY_UNSET_VARIABLE_FOR_THIS_TEST is empty or unset" in done.stderr


def test_a_client_that_leaves_mid_stream_stops_the_upstream_and_nothing_is_recorded(upstream, tmp_path):
    upstream.reset()
    upstream.add_fixture(match={"user_text": "long story"}, respond={"content": "word " * 200, "pacing": {"tokens_per_second": 50}})
    with ThreadedRecorder(upstream.base_url, tmp_path, upstream_key="upstream-only-key") as proxy:
        body = chat("Tell a long story", stream=True)
        with httpx.stream("POST", proxy.base_url + "/chat/completions", json=body, headers={"authorization": "Bearer x"}, timeout=30) as answer:
            next(line for line in answer.iter_lines() if '"content":"word' in line)  # then the client hangs up
        [entry] = upstream.wait_for_requests(1, timeout=10, status="200")
        assert entry.complete is False  # the proxy closed its upstream request when its client left
    assert list(tmp_path.iterdir()) == []


def test_an_answer_that_cannot_become_a_recording_still_reaches_the_client(upstream, tmp_path):
    odd = {"model": MODEL, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "not-an-object"}]}]}
    with ThreadedRecorder(upstream.base_url, tmp_path, upstream_key="upstream-only-key") as proxy:
        refused = _post(proxy.url, odd)
    assert refused.status_code == 400 and refused.json()["error"]["param"].startswith("messages[0].content[0]")
    [recording] = tmp_path.iterdir()  # the upstream's refusal, recorded as sent
    assert yaml.safe_load(recording.read_text())["respond"]["error"]["status"] == 400
