"""/openapi.json says what the API does: the contract check (scripts/contract.sh) holds the server to it,
so these pin the parts of the document that are written by hand rather than generated."""

from __future__ import annotations

from perceptron_mock.main import create_app
from perceptron_mock.settings import Settings


def document(**settings) -> dict:
    return create_app(Settings(**settings)).api.openapi()


def test_unknown_fields_are_refused_in_the_document_as_by_the_server():
    assert document()["components"]["schemas"]["ChatCompletionRequest"]["additionalProperties"] is False
    assert document(unknown_fields="ignore")["components"]["schemas"]["ChatCompletionRequest"]["additionalProperties"] is True


def test_the_model_is_one_of_the_served_models():
    request = document(models=["isaac-0.1", "perceptron-mk1"])["components"]["schemas"]["ChatCompletionRequest"]
    assert request["properties"]["model"]["enum"] == ["isaac-0.1", "perceptron-mk1"]


def test_stream_options_need_stream_true():
    request = document()["components"]["schemas"]["ChatCompletionRequest"]
    assert request["if"]["required"] == ["stream_options"]
    assert request["then"]["properties"]["stream"] == {"const": True}


def test_errors_are_documented_as_the_server_sends_them():
    doc = document()
    statuses = [status for ops in doc["paths"].values() for op in ops.values() for status in op["responses"]]
    assert "422" not in statuses  # validation errors are 400s in the OpenAI envelope
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert "404" in doc["paths"]["/v1/models/{model_id}"]["get"]["responses"]


def test_stream_events_are_chunks_errors_or_done():
    ok = document()["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]
    event = ok["content"]["text/event-stream"]["schema"]
    kinds = event["properties"]["data"]["anyOf"]
    assert {"const": "[DONE]"} in kinds
    assert [k["contentSchema"]["$ref"].rsplit("/", 1)[1] for k in kinds if "contentSchema" in k] == [
        "ChatCompletionChunk",
        "ErrorResponse",
    ]


def test_the_models_routes_document_extended_and_both_entry_shapes():
    doc = document()
    for path in ("/v1/models", "/v1/models/{model_id}"):
        operation = doc["paths"][path]["get"]
        [extended] = [p for p in operation["parameters"] if p["name"] == "extended"]
        assert extended["schema"]["enum"] == ["true", "false"]
        assert "400" in operation["responses"]
    entry = doc["components"]["schemas"]["ModelObject"]
    assert entry["required"] == ["id", "object", "created", "owned_by"]  # the extended fields are optional, never null
    assert "null" not in str(entry["properties"]) and entry["properties"]["max_context_tokens"]["minimum"] == 0
