"""Generated multipart uploads, well-formed or broken anywhere (cut short, bytes spliced in, odd headers,
any filename), never get a 5xx: a 200 that stored the file or a 4xx in the envelope, and the files
directory holds nothing but stored files afterwards. A client that hangs up mid-upload leaves nothing."""

from __future__ import annotations

import re
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import image_bytes, threaded_mock

PNG = image_bytes("PNG", (8, 8))
STORED = re.compile(r"file-[A-Za-z0-9]{22}\.(bin|json)")
FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def mock(tmp_path_factory):
    files_dir = tmp_path_factory.mktemp("fuzz") / "files"
    with threaded_mock(files_dir=files_dir, rate_limit_per_minute=0) as server:
        server.files_dir = files_dir
        yield server


names = st.sampled_from(["purpose", "file", "x", "", "fi\"le", "purpose\r\n"])
texts = st.text(max_size=40)
part = st.tuples(
    names,
    st.one_of(st.none(), texts),  # filename
    st.sampled_from([None, "image/png", "application/octet-stream", "text/plain", "\x00"]),
    st.one_of(st.just(PNG), st.just(b"vision"), st.just(b"user_data"), st.binary(max_size=200)),
)


def build(parts, boundary: str) -> bytes:
    body = b""
    for name, filename, content_type, data in parts:
        head = f'Content-Disposition: form-data; name="{name}"' + ("" if filename is None else f'; filename="{filename}"')
        if content_type is not None:
            head += f"\r\nContent-Type: {content_type}"
        body += f"--{boundary}\r\n".encode() + head.encode("utf-8", "surrogatepass") + b"\r\n\r\n" + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


@FUZZ
@given(parts=st.lists(part, max_size=10), boundary=st.sampled_from(["b", "x" * 70, "a'b c"]),
       cut=st.integers(0, 400), splice=st.binary(max_size=20), at=st.integers(0, 400))
def test_a_generated_upload_is_stored_or_refused_in_the_envelope(mock, parts, boundary, cut, splice, at):
    body = build(parts, boundary)
    body = body[: len(body) - cut] if cut < len(body) else body
    body = body[:at] + splice + body[at:]
    answer = httpx.post(mock.url + "/v1/files", content=body, timeout=10,
                        headers={"authorization": "Bearer k", "content-type": f'multipart/form-data; boundary="{boundary}"'})
    assert answer.status_code == 200 or (400 <= answer.status_code < 500 and set(answer.json()["error"]) == {"message", "type", "param", "code"})
    assert all(STORED.fullmatch(name) for name in (p.name for p in mock.files_dir.iterdir()))


def test_a_client_that_hangs_up_mid_upload_leaves_no_part_behind(mock):
    address = urlsplit(mock.url)
    head = ("POST /v1/files HTTP/1.1\r\nhost: m\r\nauthorization: Bearer k\r\n"
            "content-type: multipart/form-data; boundary=b\r\ncontent-length: 10000000\r\n\r\n")
    start = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n' + PNG + b"\x00" * 3_000_000
    with socket.create_connection((address.hostname, address.port)) as sock:
        sock.sendall(head.encode() + start)
        deadline = time.monotonic() + 10
        while not any(p.name.startswith(".part-") for p in mock.files_dir.iterdir()):
            assert time.monotonic() < deadline, "the upload never started"
            time.sleep(0.01)
    deadline = time.monotonic() + 10  # a watchdog, not a speed target
    while any(p.name.startswith(".part-") for p in mock.files_dir.iterdir()):
        assert time.monotonic() < deadline, "the part of an abandoned upload was left behind"
        time.sleep(0.02)
