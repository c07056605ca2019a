"""``POST /v1/chat/completions/multilook`` through the perceptron SDK's own ``multilook()``, sync and async:
answers, partial and total failures, faults, the journal and the shared rate limit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import perceptron
import pytest
from perceptron.chat import ChatCompletionMessage, Usage
from perceptron.multilook import MultilookCompletion, MultilookPromptError, MultilookResponse, MultilookUsage
from PIL import Image

from perceptron_mock.protocol.multilook import MultilookResponse as MultilookResponseSchema
from tests.helpers import data_url, image_bytes, python_blocks, run_as_a_new_user

MK15 = "perceptron-mk1.5"
CONTEXT = [
    {"role": "system", "content": "You are a precise scene analyst."},
    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url(image_bytes(size=(320, 240)))}}]},
]
PATH = "/v1/chat/completions/multilook"
LONG_PROMPT = "describe " * 400  # past a 256-token window on its own


def multilook(client, **kwargs):
    kwargs.setdefault("context", CONTEXT)
    kwargs.setdefault("model", MK15)
    return client.chat.completions.multilook(**kwargs)


def test_every_prompt_gets_n_completions_in_the_sdk_types(perceptron_sdk):
    response = multilook(perceptron_sdk, prompts=["What is in the image?", "Count the chairs."], n=3, temperature=0.7)

    assert isinstance(response, MultilookResponse)
    assert response.object == "chat.completion.multilook" and response.model == MK15
    assert response.id.startswith("mlcmpl-") and len(response.id) == len("mlcmpl-") + 32
    assert response.request_id and response.request_id.startswith("req_")
    assert [r.prompt_index for r in response.results] == [0, 1] and not response.failed
    for result in response.results:
        assert [c.index for c in result.completions] == [0, 1, 2]
        assert all(isinstance(c, MultilookCompletion) and isinstance(c.message, ChatCompletionMessage) for c in result.completions)
        assert all(c.text and c.complete and c.finish_reason == "stop" for c in result.completions)
        assert isinstance(result.usage, Usage) and result.usage.completion_tokens > 0
    assert "created" not in response.raw
    # Sampled at temperature 0.7: the three answers to a prompt are not all the same.
    assert len({c.text for c in response.results[0].completions}) > 1


def test_the_async_client_gets_the_same_answers(perceptron_mock, perceptron_sdk):
    kwargs = {"prompts": ["What is in the image?", {"content": [{"type": "text", "text": "Describe it."}]}], "n": 2, "temperature": 0.5}

    async def run():
        async with perceptron.AsyncClient(base_url=perceptron_mock.base_url, api_key=perceptron_mock.api_key) as client:
            return await multilook(client, **kwargs)

    asynchronous = asyncio.run(run())
    synchronous = multilook(perceptron_sdk, **kwargs)

    assert [[c.text for c in r.completions] for r in asynchronous.results] == [
        [c.text for c in r.completions] for r in synchronous.results
    ]
    assert asynchronous.usage == synchronous.usage


def test_a_prompt_is_answered_as_chat_answers_the_context_and_that_prompt(perceptron_sdk):
    prompt = "What is in the image?"
    chat = perceptron_sdk.chat.completions.create(model=MK15, messages=[*CONTEXT, {"role": "user", "content": prompt}])

    response = multilook(perceptron_sdk, prompts=[prompt, "Something else entirely?"])

    first = response.results[0].completions[0]
    assert first.text == chat.choices[0].message.content
    # The conversation's prompt tokens are the same; the shared part is reported as cached for the second.
    assert response.results[0].usage.completion_tokens == chat.usage.completion_tokens


@pytest.mark.perceptron_mock(context_tokens=256)
def test_a_prompt_over_the_context_fails_alone(perceptron_mock):
    with perceptron_mock.perceptron_client() as client:
        response = multilook(client, context=[], prompts=["Hello there.", LONG_PROMPT, "What now?"])

    ok, failed, also_ok = response.results
    assert ok.ok and also_ok.ok and not failed.ok
    assert response.failed == [failed]
    assert failed.completions is None and failed.usage is None
    assert isinstance(failed.error, MultilookPromptError)
    assert failed.error.code == "context_length_exceeded" and failed.error.type == "invalid_request_error"
    assert "maximum context length is 256 tokens" in failed.error.message
    assert failed.error.to_dict() == {k: v for k, v in response.raw["results"][1]["error"].items() if k != "param"}
    assert response.raw["results"][1]["error"]["param"] == "prompts[1]"


@pytest.mark.perceptron_mock(context_tokens=256)
def test_the_request_fails_as_a_whole_only_when_every_prompt_fails(perceptron_mock):
    with perceptron_mock.perceptron_client() as client, pytest.raises(perceptron.errors.BadRequestError) as caught:
        multilook(client, context=[], prompts=[LONG_PROMPT, LONG_PROMPT + "again"])

    error = caught.value
    assert (error.status_code, error.code, error.param) == (400, "context_length_exceeded", "prompts[0]")
    assert error.request_id.startswith("req_")


def test_a_fixture_error_fails_its_prompt_and_the_status_of_a_total_failure_is_the_first_prompts(perceptron_mock, perceptron_sdk):
    perceptron_mock.add_fixture(
        match={"user_text": "^Overloaded"},
        respond={"error": {"status": 503, "message": "Overloaded.", "code": "model_overloaded", "headers": {"Retry-After": "30"}}},
    )

    partial = multilook(perceptron_sdk, prompts=["Overloaded?", "What is in the image?"])
    assert [r.ok for r in partial.results] == [False, True]
    assert partial.results[0].error == MultilookPromptError(message="Overloaded.", type="server_error", code="model_overloaded")

    with pytest.raises(perceptron.errors.ServerError) as caught:
        multilook(perceptron_sdk, prompts=["Overloaded now", "Overloaded later"])
    assert (caught.value.status_code, caught.value.code, caught.value.retry_after) == (503, "model_overloaded", 30.0)


def test_a_fixture_scripts_a_multilook_prompt_with_the_interrupted_finish_reason(perceptron_mock, perceptron_sdk):
    perceptron_mock.add_fixture(
        match={"user_text": "enter the frame", "model": MK15},
        respond={"content": "Yes, at 00:04.", "reasoning_content": "A person walks in.", "finish_reason": "interrupted"},
    )

    response = multilook(perceptron_sdk, prompts=["Did a person enter the frame?", "What is in the image?"], n=2, temperature=1.0)

    scripted, ruled = response.results
    assert [(c.text, c.reasoning, c.finish_reason) for c in scripted.completions] == [
        ("Yes, at 00:04.", "A person walks in.", "interrupted")
    ] * 2
    assert all(c.complete for c in scripted.completions)  # the SDK counts `interrupted` as a finished answer
    assert all(c.finish_reason == "stop" and c.text != "Yes, at 00:04." for c in ruled.completions)


def test_the_interrupted_fault_closes_every_completion_so(perceptron_mock, perceptron_sdk):
    perceptron_mock.fail_next("interrupted")
    response = multilook(perceptron_sdk, prompts=["One?", "Two?"])
    assert [c.finish_reason for r in response.results for c in r.completions] == ["interrupted", "interrupted"]
    assert perceptron_mock.last_request.fault == "interrupted"


def test_a_status_fault_fails_the_whole_request(perceptron_mock, perceptron_sdk):
    perceptron_mock.fail_next("429; retry_after=2", model=MK15)
    with pytest.raises(perceptron.errors.RateLimitError) as caught:
        multilook(perceptron_sdk, prompts=["q"])
    assert caught.value.retry_after == 2.0
    assert multilook(perceptron_sdk, prompts=["q"]).results[0].ok  # the queued fault was used up


def test_the_fault_header_applies_to_multilook_and_stream_only_faults_are_refused(perceptron_mock, client):
    body = {"model": MK15, "context": [], "prompts": ["q"]}
    cut = client.post(PATH, json=body, headers=perceptron_mock.fault_header("malformed"))
    assert cut.status_code == 200 and cut.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        cut.json()
    refused = client.post(PATH, json=body, headers=perceptron_mock.fault_header("sse_error"))
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_fault"


def test_a_multilook_request_is_journaled_with_its_model(perceptron_mock, perceptron_sdk):
    multilook(perceptron_sdk, prompts=["What is in the image?"], model="perceptron-mk1")

    entry = perceptron_mock.last_request
    assert (entry.method, entry.path, entry.status, entry.model) == ("POST", PATH, 200, "perceptron-mk1")
    assert entry.body["prompts"] == ["What is in the image?"]
    assert entry.body["context"][0] == CONTEXT[0]


@pytest.mark.perceptron_mock(rate_limit_per_minute=3, rate_limit_refill_seconds=3600)
def test_multilook_spends_the_same_rate_limit_bucket_as_chat(perceptron_mock):
    with perceptron_mock.perceptron_client() as client:
        client.chat.completions.create(model=MK15, messages=[{"role": "user", "content": "hi"}])
        multilook(client, prompts=["q"])
        multilook(client, prompts=["q"])
        with pytest.raises(perceptron.errors.RateLimitError) as caught:
            multilook(client, prompts=["q"])
    assert caught.value.retry_after is not None and caught.value.retry_after > 0


def test_other_models_do_not_serve_multilook(perceptron_sdk):
    with pytest.raises(perceptron.errors.BadRequestError, match="does not support multilook") as caught:
        multilook(perceptron_sdk, model="isaac-0.1", prompts=["q"])
    assert caught.value.param == "model"
    with pytest.raises(perceptron.errors.NotFoundError):
        multilook(perceptron_sdk, model="no-such-model", prompts=["q"])


def test_only_post_is_served(client):
    answer = client.get(PATH)
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"
    assert answer.json()["error"]["code"] == "method_not_allowed"


def test_an_image_in_a_prompt_extends_the_contexts_assets(perceptron_sdk):
    crop = perceptron.image(Image.new("RGB", (64, 64), "blue"))
    response = multilook(perceptron_sdk, prompts=["Describe the scene.", [crop, "Is this in the scene?"]])
    assert [r.completions[0].asset_count for r in response.results] == [1, 2]
    assert all(r.ok for r in response.results)


def test_a_bad_image_in_one_prompt_fails_that_prompt_and_names_it(client):
    body = {
        "model": MK15,
        "context": [],
        "prompts": ["fine", {"content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}],
    }
    answer = client.post(PATH, json=body)
    assert answer.status_code == 200
    error = answer.json()["results"][1]["error"]
    assert error["param"] == "prompts[1].content[0].image_url.url" and error["type"] == "invalid_request_error"


def test_a_bad_image_in_the_context_refuses_the_request_naming_the_context(client):
    body = {
        "model": MK15,
        "context": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]}],
        "prompts": ["a", "b"],
    }
    answer = client.post(PATH, json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "context[0].content[0].image_url.url"


def test_a_malformed_body_gets_chats_json_refusal(client):
    answer = client.post(PATH, content=b"{not json", headers={"content-type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_json"
    assert httpx.codes.is_client_error(client.post(PATH, json=[1, 2]).status_code)


def test_the_docs_example_runs_as_a_new_user(perceptron_mock, tmp_path):
    [block] = python_blocks((Path(__file__).resolve().parents[2] / "docs" / "multilook.md").read_text(encoding="utf-8"))
    run_as_a_new_user(block, perceptron_mock, tmp_path)


def test_the_route_is_in_the_openapi_document_and_answers_match_its_schema(perceptron_mock, client):
    document = client.get("/openapi.json").json()
    operation = document["paths"][PATH]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/MultilookRequest")
    assert document["components"]["schemas"]["MultilookRequest"]["properties"]["model"]["enum"] == ["perceptron-mk1", MK15]

    perceptron_mock.add_fixture(match={"user_text": "^fail"}, respond={"error": {"status": 400, "message": "No."}})
    answer = client.post(PATH, json={"model": MK15, "context": CONTEXT, "prompts": ["fail", "What is it?"], "n": 2, "temperature": 1.0})
    MultilookResponseSchema.model_validate(answer.json())


def test_an_image_uploaded_once_is_used_by_id_in_the_context_as_in_chat(perceptron_sdk):
    png = image_bytes(size=(320, 240))
    uploaded = perceptron_sdk.files.upload(png, filename="scene.png")
    by_id = [CONTEXT[0], {"role": "user", "content": [{"type": "image_file_id", "image_file_id": {"file_id": uploaded.id}}]}]

    inline = multilook(perceptron_sdk, prompts=["What is in the image?"])
    stored = multilook(perceptron_sdk, context=by_id, prompts=["What is in the image?"])

    # The stored file is the same image as the data URL: the same tokens, the same answer.
    assert stored.usage.prompt_tokens == inline.usage.prompt_tokens
    assert stored.results[0].completions[0].text == inline.results[0].completions[0].text
    perceptron_sdk.files.delete(uploaded.id)
    with pytest.raises(perceptron.errors.BadRequestError) as refused:
        multilook(perceptron_sdk, context=by_id, prompts=["What is in the image?"])
    assert refused.value.param == "context[1].content[0].image_file_id"


def test_an_unreadable_pacing_header_is_refused_and_a_readable_one_changes_nothing(client):
    body = {"model": MK15, "context": CONTEXT, "prompts": ["What is in the image?"]}
    refused = client.post(PATH, json=body, headers={"x-mock-pacing": "ttft=fast"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_pacing"
    plain = client.post(PATH, json=body).json()
    paced = client.post(PATH, json=body, headers={"x-mock-pacing": "ttft=300; tps=30"}).json()
    assert paced["results"] == plain["results"]  # never streamed, so never paced


@pytest.mark.perceptron_mock(unmatched="error")
def test_with_unmatched_error_each_prompt_without_a_fixture_gets_its_own_404(perceptron_mock, perceptron_sdk):
    perceptron_mock.add_fixture(name="colour", match={"user_text": "colour"}, respond={"content": "Red."})
    response = multilook(perceptron_sdk, prompts=["What colour is it?", "Count the chairs."])
    assert response.results[0].completions[0].text == "Red."
    assert response.results[1].error.code == "no_matching_fixture" and "'colour'" in response.results[1].error.message
    with pytest.raises(perceptron.errors.NotFoundError):
        multilook(perceptron_sdk, prompts=["Count the chairs."])  # no prompt matched: the request's own 404


def test_a_prompt_a_tool_call_fixture_answers_gets_its_own_error_not_an_empty_completion(perceptron_mock, perceptron_sdk):
    perceptron_mock.add_fixture(name="agent", match={"user_text": "weather"}, respond={"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]})
    response = multilook(perceptron_sdk, prompts=["What is the weather like?", "What is in the image?"])
    refused, answered = response.results
    assert refused.error.code == "unsupported_parameter"
    assert "tool calls" in refused.error.message and not refused.completions
    assert answered.ok and answered.completions[0].finish_reason == "stop"


def test_a_script_answers_each_prompt_with_the_step_for_the_contexts_turn(perceptron_mock, perceptron_sdk):
    perceptron_mock.add_fixture(
        match={"user_text": "the scene", "model": MK15},
        respond={"script": [{"content": "First look."}, {"content": "Second look."}]},
    )
    one_turn_before = [*CONTEXT, {"role": "assistant", "content": "A room."}]

    fresh = multilook(perceptron_sdk, prompts=["Describe the scene."])
    after_a_turn = multilook(perceptron_sdk, context=one_turn_before, prompts=["Describe the scene again."])

    # The turn counts the assistant messages before the prompt, as in chat: step 0, then step 1.
    assert fresh.results[0].completions[0].text == "First look."
    assert after_a_turn.results[0].completions[0].text == "Second look."
