"""A parameter or input the requested model does not support is a 400 ``unsupported_parameter`` naming it,
in the service's words; a THINK hint is ignored by a model without reasoning, and an
``always_enabled`` model reasons unasked. Models without a capability come from a models file."""

from __future__ import annotations

import httpx
import openai
import perceptron
import pytest
import yaml

from tests.helpers import chat, data_url, image_bytes, post, threaded_mock

TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}
SCHEMA = {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}
BARE = {  # a model with no capability, no reasoning, video input only
    "id": "bare-1", "name": "Bare", "capabilities": [], "modalities": ["video"], "output_formats": ["text"],
    "reasoning": {"supported": False}, "max_context_tokens": 4096, "max_output_tokens": 1024, "created": 1,
}
THINKER = {  # reasons on every request
    "id": "thinker-1", "name": "Thinker", "capabilities": ["regex"], "modalities": ["image"], "output_formats": ["text", "box"],
    "reasoning": {"supported": True, "always_enabled": True}, "max_context_tokens": 8192, "max_output_tokens": 2048, "created": 1,
}


@pytest.fixture(scope="module")
def house(tmp_path_factory):
    """httpx on a mock that also serves the two models above."""
    path = tmp_path_factory.mktemp("models") / "models.yaml"
    path.write_text(yaml.safe_dump({"models": [BARE, THINKER]}))
    with threaded_mock(models_file=path) as mock:
        with httpx.Client(base_url=mock.url, headers={"authorization": f"Bearer {mock.api_key}"}, timeout=30) as http:
            yield http


def _refusal(answer) -> dict:
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"]) == ("invalid_request_error", "unsupported_parameter")
    return error


# --- refused -------------------------------------------------------------------------------------


def test_tools_on_perceptron_mk1_are_refused_as_the_sdks_fixture_shows(openai_client):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(model="perceptron-mk1", messages=[{"role": "user", "content": "Weather?"}], tools=[TOOL])
    assert (caught.value.code, caught.value.param) == ("unsupported_parameter", "tools")
    assert caught.value.body["message"] == "Model 'perceptron-mk1' does not support tool calling"


def test_tools_on_perceptron_mk1_5_are_accepted_and_an_empty_list_anywhere(client):
    assert post(client, {**chat("Weather?"), "model": "perceptron-mk1.5", "tools": [TOOL]}).status_code == 200
    assert post(client, {**chat("Weather?"), "model": "perceptron-mk1", "tools": []}).status_code == 200


def test_the_perceptron_sdk_raises_its_error_for_tools_on_a_model_without_them(perceptron_sdk):
    with pytest.raises(perceptron.BadRequestError) as caught:
        perceptron_sdk.chat.completions.create(model="isaac-0.2-1b", messages=[{"role": "user", "content": "Hi"}], tools=[TOOL])
    assert caught.value.code == "unsupported_parameter"
    assert "Model 'isaac-0.2-1b' does not support tool calling" in str(caught.value)


def test_reasoning_effort_on_isaac_0_1_is_refused_but_none_is_accepted(client):
    error = _refusal(post(client, {**chat("Hi"), "model": "isaac-0.1", "reasoning_effort": "high"}))
    assert error["param"] == "reasoning_effort" and error["message"] == "Model 'isaac-0.1' does not support reasoning"
    assert post(client, {**chat("Hi"), "model": "isaac-0.1", "reasoning_effort": "none"}).status_code == 200


def test_regex_without_the_capability_is_refused(house):
    error = _refusal(post(house, {**chat("Hi"), "model": "bare-1", "regex": "[a-z]+"}))
    assert error["param"] == "regex" and error["message"] == "Model 'bare-1' does not support regex"


def test_a_json_schema_response_format_without_the_capability_is_refused(house):
    error = _refusal(post(house, {**chat("Hi"), "model": "bare-1", "response_format": SCHEMA}))
    assert error["param"] == "response_format"
    assert error["message"] == "Model 'bare-1' does not support json_schema response formats"
    assert post(house, {**chat("Hi"), "model": "bare-1", "response_format": {"type": "text"}}).status_code == 200


def test_an_image_on_a_model_without_image_input_is_refused_naming_the_part(house):
    body = {**chat("What is it?", images=["https://example.com/a.png", data_url(image_bytes())]), "model": "bare-1"}
    error = _refusal(post(house, body))
    assert error["param"] == "messages[0].content[0]" and error["message"] == "Model 'bare-1' does not support image input"


def test_the_first_rule_broken_is_the_one_named(house):
    body = {**chat("Hi", images=["https://example.com/a.png"]), "model": "bare-1", "tools": [TOOL], "reasoning_effort": "low", "max_tokens": 2000}
    assert post(house, body).json()["error"]["param"] == "max_tokens"  # the output cap first (1,024)
    del body["max_tokens"]
    assert _refusal(post(house, body))["param"] == "tools"
    del body["tools"]
    assert _refusal(post(house, body))["param"] == "reasoning_effort"
    del body["reasoning_effort"]
    assert _refusal(post(house, body))["param"] == "messages[0].content[0]"


def test_an_unsupported_image_is_refused_before_it_is_read(house):
    """The model's rules run before accounting: an invalid image on a model without image input is
    refused as unsupported, not as a bad image."""
    body = {**chat("Hi", images=["data:image/png;base64,bm90IGFuIGltYWdl"]), "model": "bare-1"}
    assert _refusal(post(house, body))["param"] == "messages[0].content[0]"


# --- ignored or implied ----------------------------------------------------------------------------


def test_a_think_hint_on_isaac_0_1_is_ignored_not_refused(client):
    as_hint = chat("Find the dog", system="<hint>BOX THINK</hint>")
    as_vision_config = chat("Find the dog", vision_config={"enable_thinking": True})
    for body in (as_hint, as_vision_config):
        answer = post(client, {**body, "model": "isaac-0.1"})
        assert answer.status_code == 200
        assert answer.json()["choices"][0]["message"]["reasoning_content"] is None
    thinking = post(client, as_hint).json()  # isaac-0.2-2b-preview reasons
    assert thinking["choices"][0]["message"]["reasoning_content"]


def test_an_always_enabled_model_reasons_without_being_asked(house):
    message = post(house, {**chat("Describe the scene"), "model": "thinker-1"}).json()["choices"][0]["message"]
    assert message["reasoning_content"] and message["content"]
    message = post(house, {**chat("Describe the scene"), "model": "thinker-1", "reasoning_effort": "none"}).json()["choices"][0]["message"]
    assert message["reasoning_content"]
