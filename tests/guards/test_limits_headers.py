"""The request-header cap: over --max-header-bytes is 431 in the envelope, before every other check and
on every route, and nothing of an oversized head, nor of the headers a client makes up, is kept."""

from __future__ import annotations

import gc
import socket
import time
import tracemalloc
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from tests.helpers import chat, threaded_mock
from tests.server import run_server

CAP = 64 * 1024
BODY = orjson.dumps(chat())


def raw_request(url: str, lines: list[tuple[bytes, bytes]], *, method: bytes = b"POST", path: bytes = b"/v1/chat/completions",
                body: bytes = BODY) -> tuple[int, dict[bytes, bytes], bytes]:
    """Send one request whose header lines are exactly ``lines`` (plus content-length when there is a
    body); the status, headers and body of the answer. The server closes after a 431, else we do."""
    address = urlsplit(url)
    head = [method + b" " + path + b" HTTP/1.1"]
    head += [name + b": " + value for name, value in lines]
    if body:
        head.append(b"content-length: " + str(len(body)).encode())
    with socket.create_connection((address.hostname, address.port), timeout=60) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
        response = b""
        while True:
            chunk = sock.recv(65536)
            response += chunk
            head_part, _, rest = response.partition(b"\r\n\r\n")
            if not chunk or (rest and b"content-length" in head_part.lower()):
                length = next(int(line.split(b":", 1)[1]) for line in head_part.split(b"\r\n")[1:]
                              if line.lower().startswith(b"content-length:"))
                if len(rest) >= length or not chunk:
                    break
    status_line, *header_lines = head_part.split(b"\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in header_lines)}
    return int(status_line.split(b" ")[1]), headers, rest


def assert_431(status: int, body: bytes) -> None:
    assert status == 431
    assert orjson.loads(body)["error"] == {
        "message": f"Request header fields too large: the limit is {CAP} bytes for all header lines together (64 KiB).",
        "type": "invalid_request_error",
        "param": None,
        "code": "request_header_fields_too_large",
    }


def host(url: str) -> tuple[bytes, bytes]:
    return b"host", urlsplit(url).netloc.encode()


def lines_of(size: int, url: str, *others: tuple[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    """Header lines that come to exactly ``size`` bytes as the cap counts them (name, value and 4 bytes
    of ': ' and CRLF each, content-length included), padded with an ``x-padding`` header."""
    lines = [host(url), (b"content-type", b"application/json"), *others]
    used = sum(len(k) + len(v) + 4 for k, v in lines) + len(b"content-length") + len(str(len(BODY))) + 4
    padding = size - used - len(b"x-padding") - 4
    return [*lines, (b"x-padding", b"p" * padding)]


def test_a_head_at_the_cap_is_served_and_one_byte_more_is_431(perceptron_mock):
    at_cap = lines_of(CAP, perceptron_mock.url, (b"authorization", b"Bearer header-key"))
    status, _, _ = raw_request(perceptron_mock.url, at_cap)
    assert status == 200
    over = lines_of(CAP + 1, perceptron_mock.url, (b"authorization", b"Bearer header-key"))
    status, headers, body = raw_request(perceptron_mock.url, over)
    assert_431(status, body)
    assert headers[b"connection"] == b"close" and headers[b"x-request-id"].startswith(b"req_")


def test_the_cap_counts_many_small_headers_as_they_were_sent(perceptron_mock):
    # 20,000 one-byte headers: 20 KB of names, but 100 KB of header lines on the wire.
    lines = [host(perceptron_mock.url), (b"authorization", b"Bearer header-key"), *[(b"a", b"")] * 20_000]
    status, _, body = raw_request(perceptron_mock.url, lines)
    assert_431(status, body)


def test_the_header_cap_comes_before_the_body_cap_and_auth(perceptron_mock):
    # No key, and a declared body of 500 MB (a 413 of its own): the head is judged first.
    lines = [host(perceptron_mock.url), (b"content-length", str(500 * 1024 * 1024).encode()), (b"x-padding", b"p" * CAP)]
    status, _, body = raw_request(perceptron_mock.url, lines, body=b"")
    assert_431(status, body)


@pytest.mark.parametrize(
    "method, path",
    [(b"GET", b"/health"), (b"GET", b"/v1/models"), (b"GET", b"/_admin/requests"), (b"POST", b"/_admin/reset"),
     (b"GET", b"/nowhere"), (b"GET", b"/openapi.json")],
)
def test_every_route_refuses_an_oversized_head(perceptron_mock, method, path):
    lines = [host(perceptron_mock.url), (b"authorization", b"Bearer header-key"), (b"x-padding", b"p" * CAP)]
    status, _, body = raw_request(perceptron_mock.url, lines, method=method, path=path, body=b"")
    assert_431(status, body)


def test_the_openai_sdk_gets_the_431_as_an_api_status_error(perceptron_mock):
    import openai

    client = openai.OpenAI(base_url=perceptron_mock.base_url, api_key="header-key", max_retries=0)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(**chat(), extra_headers={"x-padding": "p" * CAP})
    assert caught.value.status_code == 431
    assert caught.value.code == "request_header_fields_too_large"


@pytest.mark.perceptron_mock(max_header_bytes=2048)
def test_the_cap_is_a_setting(perceptron_mock):
    response = httpx.get(perceptron_mock.url + "/health", headers={"x-padding": "p" * 2048})
    assert response.status_code == 431
    assert "the limit is 2048 bytes" in response.json()["error"]["message"]
    assert httpx.get(perceptron_mock.url + "/health", headers={"x-padding": "p" * 1024}).status_code == 200


# --- a head far over the cap is refused while it still arrives ------------------------------------------------


def endless_head(url: str, megabytes: int = 8) -> tuple[int, bytes, bytes]:
    """Send a head that never ends (one header value, ``megabytes`` of it, no blank line) and read what
    comes back: the status, the body, and what follows it (b"" once the server has closed)."""
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=20) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nhost: " + address.netloc.encode() + b"\r\nx-endless: ")
        try:
            for _ in range(megabytes):
                sock.sendall(b"e" * (1024 * 1024))
        except OSError:
            pass  # the server may have answered and stopped reading: what it said is still to be read
        response = b""
        while chunk := sock.recv(65536):  # until the server ends the connection (a stall fails on the timeout)
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    return int(head.split(b" ")[1]), body[:length], body[length:]


def test_a_head_far_over_the_cap_is_refused_before_it_ends(perceptron_mock):
    # The head never ends: a server that waited for the end before judging it would never answer.
    status, body, after = endless_head(perceptron_mock.url)
    assert_431(status, body)
    assert after == b""
    assert httpx.get(perceptron_mock.url + "/health").status_code == 200


def test_heads_near_the_cap_on_one_connection_are_all_served(perceptron_mock):
    # Kept alive, then pipelined (three requests in one write): each head is counted on its own.
    near = {"authorization": "Bearer header-key", "x-padding": "p" * (CAP - 1024)}
    with httpx.Client(base_url=perceptron_mock.url, timeout=30) as http:
        assert [http.get("/v1/models", headers=near).status_code for _ in range(5)] == [200] * 5
    address = urlsplit(perceptron_mock.url)
    one = (b"GET /health HTTP/1.1\r\nhost: " + address.netloc.encode() + b"\r\nx-padding: " + b"p" * (CAP - 1024) + b"\r\n\r\n")
    with socket.create_connection((address.hostname, address.port), timeout=20) as sock:
        sock.sendall(one * 3)
        received = b""
        while received.count(b"HTTP/1.1 200") < 3:
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk


def test_the_cli_s_server_refuses_it_too():
    # The tests above run on the pytest plugin's server; the CLI names the same http protocol class
    # (perceptron_mock.guards.head_reader) to uvicorn by its import path, and this checks that it does.
    with run_server() as server:
        status, body, _ = endless_head(server.url)
    assert_431(status, body)


# --- what a server keeps of headers, measured in this process -------------------------------------------


def retained_by(send_all) -> int:
    """Bytes allocated while ``send_all()`` ran that are still alive after it, collected garbage aside."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        send_all()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def closed_all_connections(mock) -> None:
    """Wait (10 s at most, a guard against a hang) until the server has let go of every connection: the
    client moves on once it has read its answer, and a connection the server has yet to drop still holds
    its buffers, which would count as retained on a busy machine."""
    deadline = time.monotonic() + 10
    while mock._server_thread.server.server_state.connections and time.monotonic() < deadline:
        time.sleep(0.01)


def test_twenty_over_cap_header_requests_retain_nothing():
    megabyte = 1024 * 1024
    with threaded_mock(rate_limit_per_minute=300) as mock:

        def send(i: int) -> int:
            junk = bytes([97 + i % 26]) * megabyte
            lines = [host(mock.url), (b"content-type", b"application/json"),
                     # each where something was once kept: the limiter's key, the fault cache, the journal
                     (b"authorization", b"Bearer " + junk), (b"x-mock-fault", b"latency=1" + b" " * megabyte + b"%d" % i),
                     (b"x-junk", junk)]
            status, _, body = raw_request(mock.url, lines)
            assert_431(status, body)
            return status

        send(0)  # the server's first answer of a kind allocates what it keeps for all of them
        retained = retained_by(lambda: ([send(i) for i in range(1, 21)], closed_all_connections(mock)))
        assert mock.requests() == []  # refused before the journal
    assert retained < 256 * 1024, f"{retained} bytes retained after 20 requests of 3 MB of headers each"


def test_headers_under_the_cap_retain_only_the_journal_s_bounded_copy():
    # Twenty requests with 60 KB of headers each, every one with a new API key: the journal keeps a
    # clipped copy (at most 16 KiB of headers an entry), the limiter a digest of each key.
    with threaded_mock(rate_limit_per_minute=300) as mock:

        def send(i: int) -> None:
            lines = [host(mock.url), (b"content-type", b"application/json"),
                     (b"authorization", b"Bearer " + b"%05d" % i * 4_000), (b"x-junk", b"j" * 30_000)]
            status, _, _ = raw_request(mock.url, lines)
            assert status == 200

        send(0)
        retained = retained_by(lambda: ([send(i) for i in range(1, 21)], closed_all_connections(mock)))
        entries = mock.requests()
    assert len(entries) == 21 and all(entry.headers_shortened for entry in entries)
    assert retained < 20 * 24 * 1024, f"{retained} bytes retained after 20 requests of 60 KB of headers each"


def test_the_head_is_measured_as_header_lines_and_control_headers_are_noticed_in_the_same_pass():
    from perceptron_mock.guards.header_limit import header_bytes, measure_head

    plain = [(b"host", b"x"), (b"content-type", b"application/json"), (b"authorization", b"Bearer k")]
    assert measure_head(plain) == (header_bytes(plain), False)
    for name in (b"x-mock-test-id", b"x-mock-fault", b"x-mock-pacing"):
        controlled = [*plain, (name, b"v")]
        assert measure_head(controlled) == (header_bytes(controlled), True)
    assert measure_head([(b"x-mockery", b"1")])[1] is False
