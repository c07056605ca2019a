"""/v1/models as both SDKs read it: the six models of the catalog, plain and extended, one by one, an
unknown id as the perceptron SDK's NotFoundError; --models-file adds a model and --model narrows."""

from __future__ import annotations

import asyncio
import urllib.parse
from pathlib import Path

import httpx
import openai
import perceptron
import pytest
import yaml

from perceptron_mock.protocol.catalog import Catalog
from tests.helpers import image_bytes, point_perceptron_at, threaded_mock
from tests.server import run_server

SDK_MODELS = ["isaac-0.1", "isaac-0.2-1b", "isaac-0.2-2b-preview", "isaac-0.3-fast", "perceptron-mk1", "perceptron-mk1.5"]
# perceptron-ai-inc/perceptron tests/test_models.py's EXTENDED fixture, without the names only it has
# (some_future_capability, the credits), which the mock does not report.
MK1_5 = {
    "id": "perceptron-mk1.5", "object": "model", "created": 1790035200, "owned_by": "perceptron",
    "name": "Perceptron Mk1.5",
    "capabilities": ["response_format_json_schema", "regex", "tool_calling"],
    "modalities": ["image", "video", "audio"],
    "output_formats": ["text", "point", "box", "polygon", "clip"],
    "sampling_parameters": ["temperature", "top_p", "top_k", "frequency_penalty", "presence_penalty"],
    "reasoning": {"supported": True, "always_enabled": False},
    "max_context_tokens": 36864,
    "max_output_tokens": 8192,
    "description": "Perceptron Mk1.5 with image, video, and audio input, and tool calling.",
    "early_access": False,
}
EXTENDED_KEYS = [
    "id", "object", "created", "owned_by", "name", "capabilities", "modalities", "output_formats",
    "sampling_parameters", "reasoning", "max_context_tokens", "max_output_tokens", "description", "early_access",
]
NEW_MODEL = {
    "id": "isaac-9-tomorrow", "name": "Isaac 9", "capabilities": ["regex"], "modalities": ["image"],
    "output_formats": ["text", "box"], "sampling_parameters": ["temperature"],
    "reasoning": {"supported": False}, "max_context_tokens": 4096, "max_output_tokens": 1024, "created": 1800000000,
}


@pytest.fixture
def sdk(perceptron_mock):
    with perceptron_mock.perceptron_client() as client:
        yield client


def test_the_perceptron_sdk_lists_the_six_models_it_knows(sdk):
    models = sdk.models.list()
    assert [m.id for m in models] == SDK_MODELS
    assert all(type(m) is perceptron.Model and m.object == "model" and m.owned_by == "perceptron" for m in models)
    assert all(isinstance(m.created, int) for m in models)


def test_the_extended_list_parses_fully_into_model_info(sdk):
    infos = {info.id: info for info in sdk.models.list(extended=True)}
    assert list(infos) == SDK_MODELS
    assert infos["perceptron-mk1.5"].to_dict() == {
        **MK1_5,
        "credits_per_million_input_tokens": None,
        "credits_per_million_output_tokens": None,
        "credits_per_million_cache_read_tokens": None,
    }
    mk15 = infos["perceptron-mk1.5"]
    assert mk15.supports("tool_calling") and mk15.supports("regex") and not mk15.supports("multilook")
    assert not infos["perceptron-mk1"].supports("tool_calling")
    assert infos["isaac-0.1"].reasoning.supported is False
    assert all(info.reasoning.supported for model_id, info in infos.items() if model_id != "isaac-0.1")
    reference_four = ["isaac-0.1", "isaac-0.2-1b", "isaac-0.2-2b-preview", "perceptron-mk1"]
    assert {infos[m].max_context_tokens for m in reference_four} == {8192}
    assert all(infos[m].supports("regex") and infos[m].supports("response_format_json_schema") for m in reference_four)
    assert all("image" in info.modalities and info.name and info.description for info in infos.values())


def test_retrieve_plain_and_extended(sdk):
    plain = sdk.models.retrieve("isaac-0.1")
    assert type(plain) is perceptron.Model and plain.to_dict() == {
        "id": "isaac-0.1", "object": "model", "created": 1758067200, "owned_by": "perceptron",
    }
    info = sdk.models.retrieve("perceptron-mk1.5", extended=True)
    assert isinstance(info, perceptron.ModelInfo)
    assert (info.max_context_tokens, info.max_output_tokens, info.early_access) == (36864, 8192, False)
    assert info.raw == MK1_5


def test_the_async_client_lists_and_retrieves_the_same(perceptron_mock):
    async def calls():
        async with perceptron.AsyncClient(base_url=perceptron_mock.base_url, api_key=perceptron_mock.api_key) as client:
            return (
                await client.models.list(),
                await client.models.list(extended=True),
                await client.models.retrieve("perceptron-mk1"),
                await client.models.retrieve("perceptron-mk1.5", extended=True),
            )

    plain, extended, one, info = asyncio.run(calls())
    assert [m.id for m in plain] == [m.id for m in extended] == SDK_MODELS
    assert one.id == "perceptron-mk1" and info.raw == MK1_5 and info.supports("tool_calling")


@pytest.mark.parametrize("model_id", ["nonexistent-model", "org/model", "gpt-4"])
def test_an_unknown_id_is_the_sdks_not_found_error(sdk, model_id):
    with pytest.raises(perceptron.NotFoundError) as caught:
        sdk.models.retrieve(model_id, extended=True)
    error = caught.value
    assert (error.code, error.param, error.status_code) == ("model_not_found", "model", 404)
    assert model_id in str(error) and error.request_id


def test_an_id_with_a_slash_arrives_encoded_and_is_still_model_not_found(client):
    encoded = client.get("/v1/models/" + urllib.parse.quote("org/model", safe=""))
    raw = client.get("/v1/models/org/model")
    for response in (encoded, raw):
        assert response.status_code == 404
        assert response.json()["error"] | {"message": None} == {
            "message": None, "type": "invalid_request_error", "param": "model", "code": "model_not_found",
        }


def test_the_openai_sdk_lists_and_retrieves(openai_client):
    assert [m.id for m in openai_client.models.list()] == SDK_MODELS
    model = openai_client.models.retrieve("perceptron-mk1.5")
    assert (model.id, model.object, model.created, model.owned_by) == ("perceptron-mk1.5", "model", 1790035200, "perceptron")
    with pytest.raises(openai.NotFoundError) as caught:
        openai_client.models.retrieve("gpt-4")
    assert (caught.value.code, caught.value.param) == ("model_not_found", "model")


def test_the_openai_sdk_reads_the_extended_forms_through_extra_query(openai_client):
    listed = openai_client.models.list(extra_query={"extended": "true"})
    assert [m.id for m in listed] == SDK_MODELS
    assert all(m.model_extra["max_context_tokens"] > 0 and m.model_extra["modalities"] for m in listed)
    one = openai_client.models.retrieve("perceptron-mk1.5", extra_query={"extended": "true"})
    assert (one.model_extra["max_context_tokens"], one.model_extra["max_output_tokens"]) == (36864, 8192)


def test_every_extended_entry_has_what_the_rust_sdk_requires(client):
    """perceptron-rs deserialises each entry into a struct whose fields may not be missing or null."""
    for path in ["/v1/models?extended=true", *(f"/v1/models/{m}?extended=true" for m in SDK_MODELS)]:
        body = client.get(path).json()
        for entry in body["data"] if "data" in body else [body]:
            assert list(entry) == EXTENDED_KEYS
            assert isinstance(entry["id"], str) and isinstance(entry["name"], str) and entry["name"]
            for field in ("modalities", "output_formats", "sampling_parameters"):
                assert isinstance(entry[field], list) and all(isinstance(v, str) for v in entry[field])
            for field in ("max_context_tokens", "max_output_tokens"):
                assert type(entry[field]) is int and entry[field] >= 0
            assert entry["description"] is None or isinstance(entry["description"], str)


@pytest.mark.parametrize("value", ["yes", "1", "TRUE", ""])
def test_extended_is_true_or_false_and_anything_else_is_a_400(client, value):
    response = client.get("/v1/models", params={"extended": value})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "extended"
    assert client.get("/v1/models", params={"extended": "false"}).json()["data"][0] == {
        "id": "isaac-0.1", "object": "model", "created": 1758067200, "owned_by": "perceptron",
    }


@pytest.mark.perceptron_mock(api_keys=["the-key"])
@pytest.mark.parametrize("path", ["/v1/models", "/v1/models/isaac-0.1", "/v1/models?extended=true"])
def test_models_need_a_key_like_completions(perceptron_mock, path):
    assert httpx.get(perceptron_mock.url + path).status_code == 401
    refused = httpx.get(perceptron_mock.url + path, headers={"authorization": "Bearer other"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(perceptron_mock.url + path, headers={"authorization": "Bearer the-key"}).status_code == 200


def test_the_sdks_default_model_is_served_out_of_the_box(perceptron_mock, monkeypatch):
    """The issue's first try: a helper with no model named sends perceptron-mk1.5, which must be served."""
    point_perceptron_at(perceptron_mock, monkeypatch, perceptron_mock.api_key)
    result = perceptron.question(perceptron.image(image_bytes()), "What stands out?")
    assert result.model == "perceptron-mk1.5" and result.text and not result.errors


def write_models(tmp_path: Path, *entries: dict) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump({"models": list(entries)}))
    return path


def test_a_models_file_adds_a_model_that_is_listed_and_answers_chat(tmp_path: Path):
    override = {**Catalog.load().get("isaac-0.1").model_dump(mode="json"), "name": "Isaac 0.1 (local)"}
    path = write_models(tmp_path, NEW_MODEL, override)
    with threaded_mock(models_file=path) as running:
        with running.perceptron_client() as sdk:
            infos = {info.id: info for info in sdk.models.list(extended=True)}
        assert list(infos) == [*SDK_MODELS, "isaac-9-tomorrow"]  # an override keeps its place; a new id comes last
        assert infos["isaac-0.1"].name == "Isaac 0.1 (local)"
        new = infos["isaac-9-tomorrow"]
        assert (new.max_context_tokens, new.max_output_tokens, new.capabilities, new.owned_by) == (4096, 1024, ["regex"], "perceptron")
        assert new.reasoning.to_dict() == {"supported": False, "always_enabled": False}
        client = running.openai_client(max_retries=0)
        answer = client.chat.completions.create(model="isaac-9-tomorrow", messages=[{"role": "user", "content": "hi"}])
        assert answer.model == "isaac-9-tomorrow"


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ({**NEW_MODEL, "max_context_tokens": "lots"}, "models[0] (id 'isaac-9-tomorrow'): max_context_tokens:"),
        ({**NEW_MODEL, "max_output_tokens": 9999}, "models[0] (id 'isaac-9-tomorrow'): (the entry): Value error, max_output_tokens is larger"),
        ({**NEW_MODEL, "modalities": ["image", "smell"]}, "models[0] (id 'isaac-9-tomorrow'): modalities.1:"),
        ({k: v for k, v in NEW_MODEL.items() if k != "name"}, "models[0] (id 'isaac-9-tomorrow'): name: Field required"),
        ({**NEW_MODEL, "context": 1}, "models[0] (id 'isaac-9-tomorrow'): context: Extra inputs are not permitted"),
    ],
)
def test_a_bad_models_file_stops_start_up_naming_the_file_entry_and_field(tmp_path: Path, entry: dict, named: str):
    path = write_models(tmp_path, entry)
    with pytest.raises(RuntimeError) as caught:
        with run_server("--models-file", str(path)):
            pass
    log = str(caught.value)
    assert "bad model catalog, not starting" in log and f"{path}: {named}" in log, log


def test_a_models_file_that_is_not_a_list_of_models_is_refused(tmp_path: Path):
    path = tmp_path / "models.yaml"
    path.write_text("- id: x\n")
    with pytest.raises(RuntimeError, match="expected a mapping with one key, 'models'"):
        with run_server("--models-file", str(path)):
            pass


@pytest.mark.perceptron_mock(models=["perceptron-mk1.5", "isaac-0.1"])
def test_model_narrows_what_is_served_in_its_order(perceptron_mock):
    client = perceptron_mock.openai_client(max_retries=0)
    assert [m.id for m in client.models.list()] == ["perceptron-mk1.5", "isaac-0.1"]
    assert client.chat.completions.create(model="isaac-0.1", messages=[{"role": "user", "content": "x"}]).model == "isaac-0.1"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("perceptron-mk1")
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="perceptron-mk1", messages=[{"role": "user", "content": "x"}])


def test_a_model_outside_the_catalog_stops_start_up():
    with pytest.raises(RuntimeError, match="model 'my-model' \\(--model\\) is not in the model catalog"):
        with run_server("--model", "my-model"):
            pass


@pytest.mark.parametrize("raw_id", ["x" * 50_000, "%00%ff", "a%2F..%2F..%2Fhealth", "%E2%80%AE"])
def test_a_hostile_id_is_a_short_model_not_found(client, raw_id):
    response = client.get("/v1/models/" + raw_id, params={"extended": "true"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"
    assert len(response.content) < 1000
