"""Uploads on the wire (httpx and raw sockets): the declared-length cap and 411, hostile multipart bodies
(truncated, no file, 100,000 parts, path-like and NUL filenames), each a 4xx or stored safely, and
nothing written outside the files directory."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import orjson
import pytest

from tests.helpers import image_bytes, threaded_mock
from tests.server import answer_to_head

PNG = image_bytes("PNG", (64, 48))
KEY = {"authorization": "Bearer upload-key"}
BOUNDARY = "b0undary"
STORED = re.compile(r"file-[A-Za-z0-9]{22}\.(bin|json)")


def multipart(*parts: tuple[str, str], end: bool = True) -> bytes:
    """A multipart body from (part headers, part body) pairs, closed unless ``end`` is False."""
    body = b"".join(f"--{BOUNDARY}\r\n{head}\r\n\r\n".encode("latin-1") + data.encode("latin-1") + b"\r\n" for head, data in parts)
    return body + (f"--{BOUNDARY}--\r\n".encode() if end else b"")


def purpose(value: str = "vision") -> tuple[str, str]:
    return ('Content-Disposition: form-data; name="purpose"', value)


def file_part(data: bytes = PNG, filename: str | None = "cat.png", content_type: str = "image/png") -> tuple[str, str]:
    name = "" if filename is None else f'; filename="{filename}"'
    return (f'Content-Disposition: form-data; name="file"{name}\r\nContent-Type: {content_type}', data.decode("latin-1"))


def upload(http: httpx.Client, body: bytes, content_type: str = f"multipart/form-data; boundary={BOUNDARY}") -> httpx.Response:
    return http.post("/v1/files", content=body, headers={**KEY, "content-type": content_type})


def error_of(answer: httpx.Response) -> dict:
    return answer.json()["error"]


@pytest.fixture
def files_dir(tmp_path: Path) -> Path:
    return tmp_path / "files"


@pytest.fixture
def server(files_dir: Path):
    with threaded_mock(files_dir=files_dir) as mock:
        yield mock


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def assert_only_stored_files(files_dir: Path, count: int) -> None:
    """Nothing beside the files directory, and nothing in it but ``count`` stored files (no parts left)."""
    assert [p.name for p in files_dir.parent.iterdir()] == ["files"]
    names = sorted(p.name for p in files_dir.iterdir())
    assert all(STORED.fullmatch(name) for name in names), names
    assert len(names) == 2 * count


def test_a_well_formed_upload_is_stored_as_its_bytes_and_metadata(http, files_dir):
    answer = upload(http, multipart(purpose(), file_part()))
    assert answer.status_code == 200
    stored = answer.json()
    assert (files_dir / f"{stored['id']}.bin").read_bytes() == PNG
    assert orjson.loads((files_dir / f"{stored['id']}.json").read_bytes())["filename"] == "cat.png"
    assert_only_stored_files(files_dir, 1)


@pytest.mark.parametrize("filename", ["../../escape.png", "/etc/passwd", "..\\..\\win.png", "a/b/c.png"])
def test_a_filename_with_path_separators_is_only_metadata(http, files_dir, filename):
    answer = upload(http, multipart(purpose(), file_part(filename=filename)))
    assert answer.status_code == 200
    assert answer.json()["filename"] in (filename, filename.rsplit("\\", 1)[-1])  # python-multipart drops an IE path
    assert_only_stored_files(files_dir, 1)


def test_a_filename_with_a_nul_is_refused_and_nothing_is_kept(http, files_dir):
    answer = upload(http, multipart(purpose(), file_part(filename="cat\x00.png")))
    assert answer.status_code == 400 and error_of(answer)["code"] == "invalid_filename"
    assert_only_stored_files(files_dir, 0)


def test_a_body_without_a_file_part_names_the_missing_file(http, files_dir):
    answer = upload(http, multipart(purpose()))
    assert (answer.status_code, error_of(answer)["param"], error_of(answer)["code"]) == (400, "file", "missing_required_parameter")
    assert_only_stored_files(files_dir, 0)


def test_a_body_without_a_purpose_names_it(http):
    answer = upload(http, multipart(file_part()))
    assert (answer.status_code, error_of(answer)["param"]) == (400, "purpose")


def test_a_purpose_outside_the_api_gets_the_sdk_code(http):
    answer = upload(http, multipart(purpose("fine-tune"), file_part()))
    assert error_of(answer) == {
        "message": "purpose must be one of vision, user_data; got 'fine-tune'.",
        "type": "invalid_request_error",
        "param": "purpose",
        "code": "invalid_parameter",
    }


def test_a_truncated_multipart_body_is_refused_and_its_part_removed(http, files_dir):
    answer = upload(http, multipart(purpose(), file_part(), end=False)[:-40])
    assert (answer.status_code, error_of(answer)["code"]) == (400, "invalid_multipart")
    assert_only_stored_files(files_dir, 0)


def test_a_hundred_thousand_tiny_parts_are_refused_early(http, files_dir):
    body = multipart(*[(f'Content-Disposition: form-data; name="x{i}"', "1") for i in range(100_000)])
    answer = upload(http, body)
    assert (answer.status_code, error_of(answer)["code"]) == (400, "invalid_multipart")
    assert "more than 8 parts" in error_of(answer)["message"]
    assert_only_stored_files(files_dir, 0)


def test_two_file_parts_are_refused(http):
    answer = upload(http, multipart(purpose(), file_part(), file_part()))
    assert (answer.status_code, error_of(answer)["param"]) == (400, "file")


def test_a_repeated_field_is_refused(http):
    answer = upload(http, multipart(purpose(), purpose(), file_part()))
    assert (answer.status_code, error_of(answer)["param"]) == (400, "purpose")


def test_an_unknown_form_field_is_refused_like_an_unknown_body_field(http):
    answer = upload(http, multipart(purpose(), ('Content-Disposition: form-data; name="expires_after"', "3600"), file_part()))
    assert (answer.status_code, error_of(answer)["code"], error_of(answer)["param"]) == (400, "unknown_parameter", "expires_after")


def test_a_part_type_that_disagrees_with_the_bytes_is_refused(http):
    answer = upload(http, multipart(purpose(), file_part(content_type="image/jpeg")))
    assert (answer.status_code, error_of(answer)["code"]) == (400, "content_type_mismatch")
    # application/octet-stream is what the SDK sends when it cannot vouch for a type: the server decides.
    vouched_for_by_none = upload(http, multipart(purpose(), file_part(content_type="application/octet-stream")))
    assert vouched_for_by_none.status_code == 200
    content = http.get(f"/v1/files/{vouched_for_by_none.json()['id']}/content", headers=KEY)
    assert (content.headers["content-type"], content.content) == ("image/png", PNG)  # sniffed from the bytes


@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data", "text/plain; boundary=x"])
def test_a_body_that_is_not_multipart_with_a_boundary_is_refused(http, content_type):
    answer = upload(http, b"{}", content_type)
    assert (answer.status_code, error_of(answer)["code"]) == (400, "invalid_content_type")


def test_an_upload_needs_a_key(server):
    answer = httpx.post(server.url + "/v1/files", content=multipart(purpose(), file_part()),
                        headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert answer.status_code == 401


def test_a_chunked_upload_without_a_length_gets_411(http, files_dir):
    def chunks():
        yield multipart(purpose(), file_part())

    answer = http.post("/v1/files", content=chunks(), headers={**KEY, "content-type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert (answer.status_code, error_of(answer)["code"]) == (411, "length_required")
    assert_only_stored_files(files_dir, 0)


def test_a_declared_length_over_the_cap_is_refused_before_the_body_is_sent(server, files_dir):
    status, head, body = answer_to_head(server.url, 512 * 1024 * 1024, path="/v1/files", authorization="Bearer k",
                                        content_type=f"multipart/form-data; boundary={BOUNDARY}")
    assert status == 413 and b"connection: close" in head.lower()
    error = orjson.loads(body)["error"]
    assert error["code"] == "file_too_large" and "134217728 bytes (128 MiB)" in error["message"]
    assert_only_stored_files(files_dir, 0)


def test_a_file_over_a_lowered_cap_is_refused_while_it_streams_and_one_at_the_cap_is_stored(tmp_path):
    files_dir = tmp_path / "files"
    with threaded_mock(files_dir=files_dir, max_upload_bytes=len(PNG)) as server, httpx.Client(base_url=server.url) as http:
        over = upload(http, multipart(purpose(), file_part(PNG + b"\x00")))
        assert (over.status_code, error_of(over)["code"]) == (413, "file_too_large")
        assert upload(http, multipart(purpose(), file_part(PNG))).status_code == 200
    assert_only_stored_files(files_dir, 1)


def test_the_chat_body_cap_does_not_apply_to_uploads(http):
    big = PNG + b"\x00" * (21 * 1024 * 1024)  # over the 20 MB chat cap, under the 128 MiB upload cap
    answer = upload(http, multipart(purpose(), file_part(big)))
    assert (answer.status_code, answer.json()["bytes"]) == (200, len(big))


def test_the_journal_keeps_what_was_stored_never_the_bytes(server, http):
    stored = upload(http, multipart(purpose(), file_part())).json()
    [entry] = server.requests(path="/v1/files")
    assert entry.body == {"purpose": "vision", "file": stored}
