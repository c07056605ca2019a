"""The Files API through the perceptron SDK, sync and async: upload, list (every parameter, cursor
paging), iter, retrieve, content, download, delete, each with the SDK's own result types and errors."""

from __future__ import annotations

import asyncio

import perceptron
import pytest
from perceptron.errors import BadRequestError, NotFoundError, RateLimitError
from perceptron.files import File, FileDeleted, FileList

from tests.helpers import image_bytes

PNG = image_bytes("PNG", (64, 48))
JPEG = image_bytes("JPEG", (32, 32))
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + b"\x00" * 64
MP4 = (24).to_bytes(4, "big") + b"ftypisom\x00\x00\x02\x00isomavc1" + b"\x00\x00\x00\x08moov"


def test_an_upload_is_answered_with_a_file_object_and_its_bytes_come_back(perceptron_sdk):
    uploaded = perceptron_sdk.files.upload(PNG, filename="cat.png")

    assert isinstance(uploaded, File)
    assert uploaded.id.startswith("file-") and len(uploaded.id) == 27  # the SDK's own form: file- + 22
    assert (uploaded.bytes, uploaded.filename, uploaded.purpose, uploaded.object) == (len(PNG), "cat.png", "vision", "file")
    assert isinstance(uploaded.created_at, int)
    assert perceptron_sdk.files.retrieve(uploaded.id) == uploaded
    assert perceptron_sdk.files.content(uploaded.id) == PNG


def test_the_content_download_carries_the_sniffed_type(client, perceptron_sdk):
    for data, mime in ((PNG, "image/png"), (JPEG, "image/jpeg"), (WAV, "audio/wav"), (MP4, "video/mp4")):
        uploaded = perceptron_sdk.files.upload(data, purpose="user_data")
        answer = client.get(f"/v1/files/{uploaded.id}/content")
        assert (answer.status_code, answer.headers["content-type"], answer.content) == (200, mime, data)
        assert answer.headers["content-length"] == str(len(data))


def test_download_streams_a_file_to_disk(perceptron_sdk, tmp_path):
    uploaded = perceptron_sdk.files.upload(PNG)
    target = perceptron_sdk.files.download(uploaded.id, tmp_path / "copy.png")
    assert target.read_bytes() == PNG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.png"]


def test_an_upload_without_a_filename_is_named_by_its_id(perceptron_sdk):
    uploaded = perceptron_sdk.files.upload(PNG)
    assert uploaded.filename == uploaded.id


def test_delete_removes_the_file_for_every_later_request(perceptron_sdk):
    uploaded = perceptron_sdk.files.upload(PNG)

    deleted = perceptron_sdk.files.delete(uploaded.id)

    assert deleted == FileDeleted(id=uploaded.id, deleted=True)
    for call in (perceptron_sdk.files.retrieve, perceptron_sdk.files.content, perceptron_sdk.files.delete):
        with pytest.raises(NotFoundError) as caught:
            call(uploaded.id)
        error = caught.value
        assert (error.status_code, error.param, error.error_type) == (404, "id", "invalid_request_error")
        assert str(error) == f"No such File object: {uploaded.id}"
        assert error.request_id  # x-trace-id, as on every answer


def test_an_id_that_is_not_a_file_id_is_a_not_found_error_even_with_slashes(perceptron_sdk):
    # The SDK percent-encodes the slashes; the server must see one id, not another route.
    with pytest.raises(NotFoundError) as caught:
        perceptron_sdk.files.retrieve("file-a/../b")
    assert caught.value.param == "id"


def test_the_list_is_newest_first_unless_asked_ascending(perceptron_sdk):
    ids = [perceptron_sdk.files.upload(PNG, filename=f"f{i}.png").id for i in range(3)]

    page = perceptron_sdk.files.list()

    assert isinstance(page, FileList)
    assert [f.id for f in page] == ids[::-1]
    assert (page.first_id, page.last_id, page.has_more, page.object) == (ids[2], ids[0], False, "list")
    assert [f.id for f in perceptron_sdk.files.list(order="asc")] == ids


def test_pages_follow_the_after_cursor_with_has_more(perceptron_sdk):
    ids = [perceptron_sdk.files.upload(PNG).id for _ in range(5)]

    first = perceptron_sdk.files.list(limit=2, order="asc")
    second = perceptron_sdk.files.list(limit=2, order="asc", after=first.last_id)
    last = perceptron_sdk.files.list(limit=2, order="asc", after=second.last_id)

    assert [[f.id for f in p] for p in (first, second, last)] == [ids[0:2], ids[2:4], ids[4:]]
    assert [p.has_more for p in (first, second, last)] == [True, True, False]
    assert [f.id for f in perceptron_sdk.files.iter(limit=2)] == ids[::-1]  # the SDK pages on its own


def test_a_deleted_cursor_still_marks_its_place(perceptron_sdk):
    ids = [perceptron_sdk.files.upload(PNG).id for _ in range(3)]
    perceptron_sdk.files.delete(ids[1])
    assert [f.id for f in perceptron_sdk.files.list(order="asc", after=ids[1])] == [ids[2]]


def test_the_list_filters_by_purpose(perceptron_sdk):
    vision = perceptron_sdk.files.upload(PNG, purpose="vision")
    data = perceptron_sdk.files.upload(PNG, purpose="user_data")
    assert [f.id for f in perceptron_sdk.files.list(purpose="vision")] == [vision.id]
    assert [f.id for f in perceptron_sdk.files.list(purpose="user_data")] == [data.id]


def test_an_empty_page_has_empty_ids(perceptron_sdk):
    page = perceptron_sdk.files.list()
    assert (page.data, page.first_id, page.last_id, page.has_more) == ([], "", "", False)


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=0", "limit"),
        ("limit=10001", "limit"),
        ("limit=two", "limit"),
        ("order=newest", "order"),
        ("purpose=assistants", "purpose"),
        ("after=", "after"),
        ("after=file-cursor", "after"),
    ],
)
def test_list_parameters_outside_the_api_are_refused_with_the_sdk_codes(client, query, param):
    answer = client.get(f"/v1/files?{query}")
    assert answer.status_code == 400
    assert answer.json()["error"] | {"message": None} == {
        "message": None, "type": "invalid_request_error", "param": param, "code": "invalid_parameter"
    }


def test_the_limit_bounds_are_inclusive(client, perceptron_sdk):
    ids = [perceptron_sdk.files.upload(PNG).id for _ in range(2)]
    one = client.get("/v1/files?limit=1&order=asc")
    assert one.status_code == 200
    assert ([f["id"] for f in one.json()["data"]], one.json()["has_more"]) == (ids[:1], True)
    every = client.get("/v1/files?limit=10000&order=asc")
    assert every.status_code == 200
    assert ([f["id"] for f in every.json()["data"]], every.json()["has_more"]) == (ids, False)


def test_an_unsupported_type_is_refused_as_the_service_words_it(perceptron_sdk):
    with pytest.raises(BadRequestError, match="Unsupported content type 'image/gif'."):
        perceptron_sdk.files.upload(b"GIF89a\x01\x00\x01\x00", filename="anim.gif")


def test_every_key_sees_every_file_of_the_one_organization(perceptron_mock, perceptron_sdk):
    uploaded = perceptron_sdk.files.upload(PNG)
    with perceptron.Client(api_key="another-key", base_url=perceptron_mock.base_url) as other:
        assert [f.id for f in other.files.list()] == [uploaded.id]


@pytest.mark.perceptron_mock(rate_limit_refill_seconds=3600)
def test_the_content_route_has_the_documented_30_a_minute(perceptron_mock, perceptron_sdk):
    uploaded = perceptron_sdk.files.upload(PNG)
    for _ in range(30):
        perceptron_sdk.files.content(uploaded.id)
    with pytest.raises(RateLimitError):
        perceptron_sdk.files.content(uploaded.id)
    assert perceptron_sdk.files.retrieve(uploaded.id).id == uploaded.id  # another route, another bucket


def test_the_async_client_does_everything_the_sync_one_does(perceptron_mock, tmp_path):
    async def scenario():
        async with perceptron.AsyncClient(api_key="k", base_url=perceptron_mock.base_url) as client:
            uploaded = await client.files.upload(PNG, filename="cat.png", purpose="user_data")
            assert isinstance(uploaded, File) and uploaded.purpose == "user_data"
            assert await client.files.retrieve(uploaded.id) == uploaded
            assert await client.files.content(uploaded.id) == PNG
            assert (await client.files.download(uploaded.id, tmp_path / "a.png")).read_bytes() == PNG
            second = await client.files.upload(JPEG)
            page = await client.files.list(limit=1, order="asc")
            assert isinstance(page, FileList) and [f.id for f in page] == [uploaded.id] and page.has_more
            assert [f.id async for f in client.files.iter(limit=1)] == [second.id, uploaded.id]
            assert await client.files.delete(uploaded.id) == FileDeleted(id=uploaded.id, deleted=True)
            with pytest.raises(NotFoundError):
                await client.files.retrieve(uploaded.id)

    asyncio.run(scenario())


def test_a_wrong_method_on_a_files_path_names_every_method_it_has(client):
    for method, path, allowed in (
        ("PUT", "/v1/files", "GET, POST"),
        ("PATCH", "/v1/files/file-0000000000000000000001", "GET, DELETE"),
        ("DELETE", "/v1/files/file-0000000000000000000001/content", "GET"),
    ):
        answer = client.request(method, path)
        assert (answer.status_code, answer.headers["allow"], answer.json()["error"]["code"]) == (405, allowed, "method_not_allowed")


def test_the_upload_is_documented_as_a_multipart_body(client):
    upload = client.get("/openapi.json").json()["paths"]["/v1/files"]["post"]
    schema = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["purpose", "file"] and schema["properties"]["purpose"]["enum"] == ["vision", "user_data"]
    assert {"400", "411", "413"} <= set(upload["responses"])
