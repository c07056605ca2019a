"""Every validation rule of POST /v1/chat/completions, over a real socket: each bound just inside and
just outside, each bad content part, and the status, type, code and param of each refusal."""

from __future__ import annotations

import pytest

from tests.helpers import MODEL, chat, data_url, image_bytes

USER_IMAGE = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}


def _assert_refused(response, status: int, param: str | None, code: str | None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["code"] == code
    assert error["message"]
    return error


# (field, value just inside the range, value just outside, code when outside)
BOUNDS = [
    ("temperature", 0, -0.01, "invalid_temperature"),
    ("temperature", 2, 2.01, "invalid_temperature"),  # the reference's bound; the SDK has none
    ("top_p", 0, -0.001, "below_min_value"),
    ("top_p", 1, 1.001, "above_max_value"),
    ("top_k", 0, -1, "below_min_value"),
    ("frequency_penalty", -2, -2.5, "below_min_value"),
    ("frequency_penalty", 2, 2.0001, "above_max_value"),
    ("presence_penalty", -2, -2.1, "below_min_value"),
    ("presence_penalty", 2, 3, "above_max_value"),
    ("max_completion_tokens", 0, -1, "below_min_value"),
    ("max_completion_tokens", 2**31 - 1, 2**31, "above_max_value"),
    ("max_tokens", 0, -1, "below_min_value"),
    ("top_k", 2**31 - 1, 2**31, "above_max_value"),
]


@pytest.mark.parametrize(("field", "inside", "outside", "code"), BOUNDS)
def test_each_bound_is_accepted_just_inside_and_refused_just_outside(client, field, inside, outside, code):
    body = chat(**{field: inside})
    if field in ("max_completion_tokens", "max_tokens") and inside > 8192:
        # a valid value, but more than the model writes (its max_output_tokens): refused as too large,
        # before the context is looked at, not for range
        response = client.post("/v1/chat/completions", json=body)
        error = _assert_refused(response, 400, field, "invalid_value")
        assert error["message"].startswith(f"{field} is too large: {inside}.")
    else:
        assert client.post("/v1/chat/completions", json=body).status_code == 200
    error = _assert_refused(client.post("/v1/chat/completions", json=chat(**{field: outside})), 400, field, code)
    assert str(outside)[:4] in error["message"]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("top_p", "1", "a number"),
        ("top_p", True, "a number"),
        ("top_k", 1.5, "an integer"),
        ("max_completion_tokens", "10", "an integer"),
        ("stream", "yes", "a boolean"),
        ("model", 7, "a string"),
        ("messages", {"role": "user"}, "an array"),
        ("presence_penalty", "0.5", "a number"),
        ("stream_options", [], "an object"),
        ("vision_config", "box", "an object"),
    ],
)
def test_wrong_types_are_named(client, field, value, expected):
    body = chat(**{field: value})
    error = _assert_refused(client.post("/v1/chat/completions", json=body), 400, field, "invalid_type")
    assert expected in error["message"]


@pytest.mark.parametrize(
    ("messages", "param", "code"),
    [
        ([], "messages", "empty_array"),
        ([{"role": "tool", "content": "x"}], "messages[0].tool_call_id", "missing_required_parameter"),
        ([{"role": "function", "name": "f", "content": "x"}], "messages[0].role", "invalid_value"),
        ([{"content": "x"}], "messages[0].role", "missing_required_parameter"),
        ([{"role": "user"}], "messages[0].content", "missing_required_parameter"),
        ([{"role": "user", "content": 5}], "messages[0].content", "invalid_type"),
        ([{"role": "user", "content": []}], "messages[0].content", "empty_array"),
        ([{"role": "user", "content": "x", "colour": "red"}], "messages[0].colour", "unknown_parameter"),
        ([{"role": "user", "content": [{"type": "audio", "audio": {}}]}], "messages[0].content[0].type", "invalid_value"),
        ([{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}], "messages[0].content[0]", "unsupported_parameter"),
        ([{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "ogg"}}]}], "messages[0].content[0].input_audio.format", "invalid_value"),
        ([{"role": "user", "content": [{"type": "video_file_id", "video_file_id": {"file_id": "file-1"}}]}], "messages[0].content[0].video_file_id.file_id", "invalid_value"),
        ([{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}], "messages[0].content[0].type", "invalid_value"),
        ([{"role": "user", "content": [{"type": "refusal", "refusal": "no"}]}], "messages[0].content[0].type", "invalid_value"),
        ([{"role": "user", "content": [{"text": "x"}]}], "messages[0].content[0].type", "missing_required_parameter"),
        ([{"role": "user", "content": [{"type": "text"}]}], "messages[0].content[0].text", "missing_required_parameter"),
        ([{"role": "user", "content": [{"type": "text", "text": 3}]}], "messages[0].content[0].text", "invalid_type"),
        ([{"role": "user", "content": ["hello"]}], "messages[0].content[0]", "invalid_type"),
        ([{"role": "user", "content": [{"type": "image_url"}]}], "messages[0].content[0].image_url", "missing_required_parameter"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}], "messages[0].content[0].image_url.url", "missing_required_parameter"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": "https://x.io/a.png"}]}], "messages[0].content[0].image_url", "invalid_type"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.io/a.png", "detail": "max"}}]}], "messages[0].content[0].image_url.detail", "invalid_value"),
        ([{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://x.io/a.png"}}]}], "messages[0].content[0].type", "invalid_value"),
        ([{"role": "user", "content": "x"}, {"role": "assistant", "content": 1}], "messages[1].content", "invalid_type"),
    ],
)
def test_bad_messages_and_content_parts_name_their_path(client, messages, param, code):
    _assert_refused(client.post("/v1/chat/completions", json={"model": MODEL, "messages": messages}), 400, param, code)


def test_all_three_roles_and_both_content_forms_are_accepted(client):
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello.", "reasoning_content": "greet back"},
        {"role": "user", "content": [{"type": "text", "text": "And this?"}, {"type": "image_url", "image_url": {"url": "http://x.io/a.jpg", "detail": "low"}}]},
    ]
    response = client.post("/v1/chat/completions", json={"model": MODEL, "messages": messages})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("url", "code", "words"),
    [
        ("ftp://example.com/a.png", "invalid_image_url", "http(s)"),
        ("/relative/a.png", "invalid_image_url", "http(s)"),
        ("https://", "invalid_image_url", "http(s)"),
        ("data:image/gif;base64," + data_url(b"GIF89a")[22:], "unsupported_image_format", "image/gif"),
        ("data:image/png,rawbytes", "invalid_image_url", "base64"),
        ("data:image/png;base64,%%%notbase64", "invalid_base64", "base64"),
        ("data:image/png;base64,", "invalid_image", "empty"),
        ("data:image/png;base64,aGVsbG8gd29ybGQ=", "invalid_image", "readable"),
        ("data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=", "unsupported_image_format", "image/svg+xml"),
    ],
)
def test_bad_image_urls_are_refused_with_the_reason(client, url, code, words):
    body = {"model": MODEL, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]}
    error = _assert_refused(client.post("/v1/chat/completions", json=body), 400, "messages[0].content[0].image_url.url", code)
    assert words in error["message"]


def _image_request(url: str) -> dict:
    parts = [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": url}}]
    return {"model": MODEL, "messages": [{"role": "system", "content": "x"}, {"role": "user", "content": parts}]}


@pytest.mark.parametrize(("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_each_supported_format_is_accepted_from_a_data_url(client, fmt, mime):
    assert client.post("/v1/chat/completions", json=_image_request(data_url(image_bytes(fmt), mime))).status_code == 200


@pytest.mark.parametrize(("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_a_truncated_image_is_refused(client, fmt, mime):
    data = image_bytes(fmt, size=(200, 150))
    response = client.post("/v1/chat/completions", json=_image_request(data_url(data[: len(data) * 2 // 3], mime)))
    _assert_refused(response, 400, "messages[1].content[1].image_url.url", "truncated_image")


@pytest.mark.parametrize(
    ("fmt", "label", "code", "words"),
    [
        ("GIF", "image/png", "unsupported_image_format", ["GIF"]),
        ("JPEG", "image/png", "image_format_mismatch", ["image/png", "image/jpeg"]),
    ],
    ids=["gif labelled png", "jpeg labelled png"],
)
def test_bytes_that_are_not_what_the_label_says_are_refused(client, fmt, label, code, words):
    error = _assert_refused(
        client.post("/v1/chat/completions", json=_image_request(data_url(image_bytes(fmt), label))),
        400,
        "messages[1].content[1].image_url.url",
        code,
    )
    assert all(word in error["message"] for word in words)


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"stream_options": {"include_usage": True}}, "stream_options", "invalid_value"),
        ({"max_tokens": 5, "max_completion_tokens": 6}, "max_tokens", "conflicting_parameters"),
        ({"regex": "a+", "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}}, "regex", "conflicting_structured_output_controls"),
        ({"regex": ""}, "regex", "invalid_regex"),
        ({"response_format": {"type": "json_object"}}, "response_format.type", "unsupported_response_format"),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema", "invalid_response_format"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "has space"}}}, "response_format.json_schema.name", "invalid_value"),
        # the Python name of the "schema" field is no wire name
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema_": {"type": "integer"}}}}, "response_format.json_schema.schema_", "unknown_parameter"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort", "invalid_reasoning_effort"),
        ({"vision_config": {"annotation_format": "mask"}}, "vision_config.annotation_format", "invalid_vision_config"),
        ({"vision_config": {"internal_tools": True}}, "vision_config.internal_tools", "unsupported_parameter"),
        ({"n": 2}, "n", "invalid_parameter"),
        ({"tool_choice": "required"}, "tool_choice", "unsupported_tool_choice"),
        ({"seed": 1}, "seed", "unknown_parameter"),
        ({"stop": ["\n"]}, "stop", "unknown_parameter"),
    ],
)
def test_rules_between_fields_and_unsupported_values(client, fields, param, code):
    _assert_refused(client.post("/v1/chat/completions", json=chat(**fields)), 400, param, code)


@pytest.mark.parametrize(
    "fields",
    [
        {"stream": False},
        {"max_tokens": 5},
        {"max_tokens": 5, "max_completion_tokens": 5},
        {"reasoning_effort": "none"},
        {"reasoning_effort": "high"},
        {"vision_config": {"annotation_format": "box", "enable_thinking": False}},
        {"response_format": {"type": "text"}},
        {"n": 1},
        {"model": "perceptron-mk1.5", "tool_choice": "auto", "parallel_tool_calls": False, "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]},
        {"frequency_penalty": None, "presence_penalty": None, "temperature": None, "top_p": None, "top_k": None},
    ],
)
def test_fields_the_sdks_send_are_accepted(client, fields):
    assert client.post("/v1/chat/completions", json=chat(**fields)).status_code == 200


def test_max_completion_tokens_cuts_the_answer_with_finish_reason_length(client):
    full = client.post("/v1/chat/completions", json=chat("Describe everything")).json()
    assert full["choices"][0]["finish_reason"] == "stop"
    assert full["usage"]["completion_tokens"] > 3
    cut = client.post("/v1/chat/completions", json=chat("Describe everything", max_completion_tokens=3)).json()
    assert cut["choices"][0]["finish_reason"] == "length"
    assert cut["usage"]["completion_tokens"] == 3
    assert full["choices"][0]["message"]["content"].startswith(cut["choices"][0]["message"]["content"])
    zero = client.post("/v1/chat/completions", json=chat("Describe everything", max_completion_tokens=0)).json()
    assert zero["choices"][0]["message"]["content"] == "" and zero["usage"]["completion_tokens"] == 0


def test_same_request_same_answer_other_prompt_other_answer(client):
    first = client.post("/v1/chat/completions", json=chat("What is in the box?")).json()
    again = client.post("/v1/chat/completions", json=chat("What is in the box?")).json()
    other = client.post("/v1/chat/completions", json=chat("Count the apples")).json()
    assert first["choices"][0]["message"] == again["choices"][0]["message"]
    assert first["id"] != again["id"]
    assert other["choices"][0]["message"]["content"] != first["choices"][0]["message"]["content"]


@pytest.mark.perceptron_mock(unknown_fields="ignore")
def test_unknown_fields_can_be_ignored_by_setting(client):
    response = client.post("/v1/chat/completions", json=chat(seed=4, user="me"))
    assert response.status_code == 200, response.text


def test_of_several_bad_content_parts_the_first_is_named(client):
    # Lists stop at their first bad item (a million bad items would otherwise be a million errors),
    # so a later, more deeply nested mistake is not the one reported.
    parts = [1, {"type": "image_url", "image_url": {"url": 5}}]
    error = _assert_refused(client.post("/v1/chat/completions", json=chat(parts)), 400, "messages[0].content[0]", "invalid_type")
    assert error["message"] == "Invalid type for 'messages[0].content[0]': expected an object, but got an integer."
