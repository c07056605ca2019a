"""Multilook answers and usage: each prompt counted as chat counts its conversation, the shared context
once per prompt and cached after the first; fixtures match a prompt; the same request, the same answers."""

from __future__ import annotations

import pytest

from tests.helpers import data_url, image_bytes

PATH = "/v1/chat/completions/multilook"
MK15 = "perceptron-mk1.5"
CONTEXT = [
    {"role": "system", "content": "You are a careful inspector of shelves."},
    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url(image_bytes(size=(640, 480)))}}]},
    {"role": "assistant", "content": "I see the shelf."},
]
PROMPTS = ["Is the top shelf full?", "Count the red boxes.", "Describe the lighting."]


def chat_usage(client, messages: list) -> dict:
    answer = client.post("/v1/chat/completions", json={"model": MK15, "messages": messages})
    assert answer.status_code == 200
    return answer.json()["usage"]


def test_usage_is_each_prompts_conversation_with_the_context_cached_after_the_first(client):
    answer = client.post(PATH, json={"model": MK15, "context": CONTEXT, "prompts": PROMPTS})
    assert answer.status_code == 200
    body = answer.json()

    chats = [chat_usage(client, [*CONTEXT, {"role": "user", "content": p}]) for p in PROMPTS]
    alone = chat_usage(client, [{"role": "user", "content": PROMPTS[0]}])
    context_tokens = chats[0]["prompt_tokens"] - alone["prompt_tokens"]
    assert context_tokens > 0
    usage = body["usage"]
    assert usage["prompt_tokens"] == sum(c["prompt_tokens"] for c in chats)
    assert usage["completion_tokens"] == sum(r["usage"]["completion_tokens"] for r in body["results"])
    assert [r["usage"]["completion_tokens"] for r in body["results"]] == [c["completion_tokens"] for c in chats]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": context_tokens * 2, "audio_tokens": 0}
    assert [set(r["usage"]) for r in body["results"]] == [{"completion_tokens"}] * 3


def test_n_completions_add_their_tokens_but_not_the_prompt_again(client):
    one = client.post(PATH, json={"model": MK15, "context": CONTEXT, "prompts": PROMPTS[:1]}).json()
    three = client.post(
        PATH, json={"model": MK15, "context": CONTEXT, "prompts": PROMPTS[:1], "n": 3, "temperature": 0.9}
    ).json()
    assert three["usage"]["prompt_tokens"] == one["usage"]["prompt_tokens"]
    assert three["usage"]["prompt_tokens_details"]["cached_tokens"] == 0  # one prompt: nothing is shared
    result = three["results"][0]
    assert result["usage"]["completion_tokens"] == three["usage"]["completion_tokens"] > one["usage"]["completion_tokens"]


@pytest.mark.perceptron_mock(context_tokens=512)
def test_a_failed_prompt_counts_the_shared_context_only(client):
    long_prompt = "words " * 600
    answer = client.post(PATH, json={"model": MK15, "context": CONTEXT[:1], "prompts": [PROMPTS[0], long_prompt]})
    body = answer.json()
    assert [("error" in r) for r in body["results"]] == [False, True]
    conversation = chat_usage(client, [CONTEXT[0], {"role": "user", "content": PROMPTS[0]}])["prompt_tokens"]
    context_tokens = conversation - chat_usage(client, [{"role": "user", "content": PROMPTS[0]}])["prompt_tokens"]
    assert body["usage"]["prompt_tokens"] == conversation + context_tokens
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] == context_tokens


def test_audio_in_the_context_is_reported_for_every_prompt(client):
    audio = {"type": "audio_url", "audio_url": {"url": "https://example.com/a.wav"}}
    context = [{"role": "user", "content": [audio]}]
    body = client.post(PATH, json={"model": MK15, "context": context, "prompts": PROMPTS[:2]}).json()
    assert body["usage"]["prompt_tokens_details"]["audio_tokens"] == 2 * 250  # 10 s assumed, 25 tokens a second


def test_the_same_request_gets_the_same_answers_and_samples_differ(client):
    request = {"model": MK15, "context": CONTEXT, "prompts": PROMPTS, "n": 4, "temperature": 1.0}
    first, again = (client.post(PATH, json=request).json() for _ in range(2))
    texts = [[c["message"]["content"] for c in r["completions"]] for r in first["results"]]
    assert texts == [[c["message"]["content"] for c in r["completions"]] for r in again["results"]]
    assert all(len(set(samples)) > 1 for samples in texts)


def test_a_fixture_matches_one_prompt_and_states_its_usage(perceptron_mock, client):
    perceptron_mock.add_fixture(
        match={"user_text": "red boxes", "system_text": "shelves"},
        respond={"content": "There are 3 red boxes.", "usage": {"prompt_tokens": 1000, "completion_tokens": 7}},
    )
    body = client.post(PATH, json={"model": MK15, "context": CONTEXT, "prompts": PROMPTS, "n": 2, "temperature": 0.4}).json()

    scripted = body["results"][1]
    assert [c["message"]["content"] for c in scripted["completions"]] == ["There are 3 red boxes."] * 2
    assert scripted["usage"] == {"completion_tokens": 14}
    others = [c["message"]["content"] for i in (0, 2) for c in body["results"][i]["completions"]]
    assert "There are 3 red boxes." not in others
    chats = [chat_usage(client, [*CONTEXT, {"role": "user", "content": PROMPTS[i]}]) for i in (0, 2)]
    assert body["usage"]["prompt_tokens"] == 1000 + sum(c["prompt_tokens"] for c in chats)


def test_a_fixture_matches_the_context_image_of_every_prompt(perceptron_mock, client):
    perceptron_mock.add_fixture(match={"image_count": 1, "user_text": "lighting"}, respond={"content": "Dim."})
    body = client.post(PATH, json={"model": MK15, "context": CONTEXT, "prompts": PROMPTS}).json()
    assert [r["completions"][0]["message"]["content"] == "Dim." for r in body["results"]] == [False, False, True]


def test_a_think_hint_in_the_context_gives_every_completion_reasoning(client):
    context = [{"role": "system", "content": "<hint>THINK</hint>"}]
    body = client.post(PATH, json={"model": MK15, "context": context, "prompts": PROMPTS[:2], "max_completion_tokens": 4}).json()
    for result in body["results"]:
        [completion] = result["completions"]
        assert completion["message"]["reasoning_content"]
        assert completion["finish_reason"] == "length"  # cut to its budget, as chat cuts it
