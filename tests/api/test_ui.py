"""The live view (``/_admin/ui``) without a browser: who may open it, its CSP, its SSE feed, and what
the journal keeps for it (answers, images in a byte-bounded store)."""

from __future__ import annotations

import hashlib
import re
import time
from html.parser import HTMLParser

import httpx
import pytest

from perceptron_mock.toolkit.image_store import ImageStore
from perceptron_mock.toolkit.live import Live
from tests.helpers import MODEL, chat, data_url, image_bytes, post

UI_PATHS = [
    "/_admin/ui", "/_admin/ui/events", "/_admin/ui/static/ui.js", "/_admin/ui/images/" + "0" * 64,
    "/_admin/ui/files/file-" + "a" * 22,
]


class _Scripts(HTMLParser):
    """Every script element and event-handler attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict] = []
        self.handlers: list[str] = []
        self.inline = False

    def handle_starttag(self, tag, attrs):
        named = dict(attrs)
        if tag == "script":
            self.scripts.append(named)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]

    def handle_data(self, data):
        if self.lasttag == "script" and data.strip():
            self.inline = True


def test_the_page_is_served_with_a_strict_csp_and_no_inline_script(perceptron_mock):
    page = httpx.get(perceptron_mock.url + "/_admin/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and "connect-src 'self'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    parsed = _Scripts()
    parsed.feed(page.text)
    assert parsed.scripts and all(s.get("src", "").startswith("/_admin/ui/static/") for s in parsed.scripts)
    assert not parsed.inline and not parsed.handlers
    for script in parsed.scripts:
        assert httpx.get(perceptron_mock.url + script["src"]).status_code == 200
    assert "innerHTML" not in httpx.get(perceptron_mock.url + "/_admin/ui/static/ui.js").text


@pytest.mark.perceptron_mock(host="0.0.0.0")
def test_the_live_view_is_off_where_the_admin_api_is_off(perceptron_mock):
    assert httpx.get(perceptron_mock.url + "/_admin/requests").status_code == 404
    for path in UI_PATHS:
        response = httpx.get(perceptron_mock.url + path)
        assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_url", path


@pytest.mark.parametrize(
    "headers",
    [{"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}, {"host": "evil.example:8000"}],
    ids=["origin", "sec-fetch-site", "rebinding-host"],
)
def test_the_live_view_refuses_cross_site_requests_as_the_admin_api_does(perceptron_mock, headers):
    assert httpx.get(perceptron_mock.url + "/_admin/requests", headers=headers).status_code == 403
    for path in UI_PATHS:
        response = httpx.get(perceptron_mock.url + path, headers=headers)
        assert response.status_code == 403 and response.json()["error"]["code"] == "cross_site_request", path


@pytest.mark.perceptron_mock(admin_key="admin-secret-1")
def test_with_an_admin_key_the_page_asks_for_it_and_keeps_a_strict_session_cookie(perceptron_mock):
    url = perceptron_mock.url
    asked = httpx.get(url + "/_admin/ui")
    assert asked.status_code == 401 and 'name="key"' in asked.text and "<script" not in asked.text
    for path in UI_PATHS[1:]:
        assert httpx.get(url + path).status_code == 401, path
    wrong = httpx.post(url + "/_admin/ui/session", data={"key": "guess"})
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    right = httpx.post(url + "/_admin/ui/session", data={"key": "admin-secret-1"})
    assert right.status_code == 303 and right.headers["location"] == "/_admin/ui"
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/_admin" in cookie
    assert "admin-secret-1" not in cookie  # the cookie is derived from the key, never the key itself
    with httpx.Client(base_url=url, cookies=right.cookies) as browser:
        assert browser.get("/_admin/ui").status_code == 200
        assert browser.get("/_admin/requests").status_code == 200
        # The cookie goes with any request the browser sends: the cross-site rules still refuse.
        refused = browser.post("/_admin/reset", headers={"origin": "https://evil.example"})
        assert refused.status_code == 403
        assert browser.post("/_admin/ui/logout").status_code == 303
    assert httpx.get(url + "/_admin/requests", cookies={"perceptron_mock_admin": "forged"}).status_code == 401


def _events(response: httpx.Response):
    """(event, data) pairs of an SSE response, as they arrive."""
    event = None
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            yield event, line[5:].strip()


def test_the_feed_pushes_each_new_request_that_matches_its_filters(perceptron_mock, client, admin):
    with httpx.stream("GET", perceptron_mock.url + "/_admin/ui/events?status=2xx", timeout=10) as feed:
        events = _events(feed)
        assert next(events)[0] == "ready"
        post(client, chat("first"), **{"X-Mock-Fault": "503"})  # filtered out: not 2xx
        answered = post(client, chat("second"))
        event, data = next(events)
        assert event == "request" and answered.headers["x-request-id"] in data and '"status":200' in data
        admin.delete("/requests")
        assert next(events) == ("cleared", "{}")


def test_the_journal_keeps_the_answer_with_its_stream_events_and_times(perceptron_mock, client):
    post(client, chat("hello", stream=True))
    post(client, chat("hello"), **{"X-Mock-Fault": "503"})
    streamed, failed = perceptron_mock.requests()
    events = streamed.answer["events"]
    assert events[-1]["data"] == "[DONE]" and streamed.answer["content"]
    assert [e["ms"] for e in events] == sorted(e["ms"] for e in events)
    assert failed.answer["error"]["code"] and failed.status == 503


@pytest.mark.perceptron_mock(journal_body_bytes=1024)
def test_an_answer_past_the_bound_is_kept_shortened(perceptron_mock, client):
    post(client, chat("hello " * 50, stream=True, max_completion_tokens=2000))
    [entry] = perceptron_mock.requests()
    assert entry.answer["shortened"] is True
    assert sum(len(e["data"]) for e in entry.answer["events"]) <= 1024


@pytest.mark.perceptron_mock(journal_body_bytes=1024)
def test_a_large_image_is_shown_from_the_store_after_its_body_was_shortened(perceptron_mock, client):
    png = image_bytes(size=(400, 300), color="blue")
    noisy = png + b"\0" * 4000  # over the body bound on its own (PNG readers stop at IEND)
    post(client, chat("what is this?", images=[data_url(noisy)]))
    entry = _with_images(perceptron_mock)  # a large body's images are kept just after its answer, in a thread
    assert entry.body_shortened and "chars]" in entry.messages[0]["content"][0]["image_url"]["url"]
    assert entry.images == [hashlib.sha256(noisy).hexdigest()]
    shown = httpx.get(f"{perceptron_mock.url}/_admin/ui/images/{entry.images[0]}")
    assert shown.status_code == 200 and shown.content == noisy and shown.headers["content-type"] == "image/png"
    assert "sandbox" in shown.headers["content-security-policy"]


def _with_images(mock):
    """The one journal entry, once its images are listed (a watchdog of seconds, not a timing check)."""
    deadline = time.monotonic() + 10
    while True:
        [entry] = mock.requests()
        if entry.images or time.monotonic() > deadline:
            return entry
        time.sleep(0.01)


def test_an_http_image_is_not_kept_or_fetched(perceptron_mock, client):
    post(client, chat("what is this?", images=["https://example.invalid/cat.png"]))
    [entry] = perceptron_mock.requests()
    assert entry.images == []


def test_a_stored_svg_is_served_as_a_download_never_as_a_page(perceptron_mock, client):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    post(client, chat("what is this?", images=[data_url(svg, "image/svg+xml")]))  # refused: still journaled
    entry = _with_images(perceptron_mock)
    shown = httpx.get(f"{perceptron_mock.url}/_admin/ui/images/{entry.images[0]}")
    assert shown.headers["content-type"] == "application/octet-stream"
    assert shown.headers["content-disposition"].startswith("attachment")


def test_the_feed_can_follow_one_test_id_as_the_admin_api_scopes_it(perceptron_mock, client):
    with httpx.stream("GET", perceptron_mock.url + "/_admin/ui/events?test_id=job-a", timeout=10) as feed:
        events = _events(feed)
        assert next(events)[0] == "ready"
        post(client, chat("other job"), **{"X-Mock-Test-Id": "job-b"})  # another test's: not shown
        mine = post(client, chat("my job"), **{"X-Mock-Test-Id": "job-a"})
        event, data = next(events)
        assert event == "request" and mine.headers["x-request-id"] in data and '"test_id":"job-a"' in data
        shared = post(client, chat("no id"))  # the shared scope's: every test sees it
        assert shared.headers["x-request-id"] in next(events)[1]
    refused = httpx.get(perceptron_mock.url + "/_admin/ui/events?test_id=" + "x" * 257)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_test_id"


def _upload(client, data: bytes, name: str = "cat.png") -> str:
    response = client.post("/v1/files", files={"file": (name, data)}, data={"purpose": "vision"})
    assert response.status_code == 200, response.text
    return response.json()["id"]


def test_an_image_named_by_file_id_is_shown_from_the_files_directory(perceptron_mock, client):
    png = image_bytes(size=(200, 100), color="green")
    file_id = _upload(client, png)
    shown = httpx.get(f"{perceptron_mock.url}/_admin/ui/files/{file_id}")
    assert shown.status_code == 200 and shown.content == png and shown.headers["content-type"] == "image/png"
    assert "sandbox" in shown.headers["content-security-policy"]
    missing = httpx.get(f"{perceptron_mock.url}/_admin/ui/files/file-{'a' * 22}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "file_not_found"


def test_an_uploaded_webp_image_is_shown_as_webp(perceptron_mock, client):
    webp = image_bytes("WEBP", size=(40, 30))
    file_id = _upload(client, webp, "cat.webp")
    shown = httpx.get(f"{perceptron_mock.url}/_admin/ui/files/{file_id}")
    assert shown.status_code == 200 and shown.content == webp and shown.headers["content-type"] == "image/webp"
    assert "content-disposition" not in shown.headers


def test_an_uploaded_file_that_is_not_an_image_is_served_as_a_download(perceptron_mock, client):
    file_id = _upload(client, b"fLaC" + bytes(64), "song.flac")  # audio: no image to show
    shown = httpx.get(f"{perceptron_mock.url}/_admin/ui/files/{file_id}")
    assert shown.headers["content-type"] == "application/octet-stream"
    assert shown.headers["content-disposition"].startswith("attachment")


def test_the_journal_keeps_each_multilook_prompts_answer_and_error(perceptron_mock, client):
    perceptron_mock.add_fixture({"name": "red", "match": {"user_text": "colour"}, "respond": {"content": "Red."}})
    perceptron_mock.add_fixture({"name": "no", "match": {"user_text": "refuse"}, "respond": {"error": {"status": 400, "message": "No."}}})
    body = {"model": "perceptron-mk1.5", "context": [{"role": "user", "content": "A red square."}], "prompts": ["What colour?", "refuse"], "n": 2, "temperature": 0.7}
    assert client.post("/v1/chat/completions/multilook", json=body).status_code == 200
    [entry] = perceptron_mock.requests()
    first, second = entry.answer["results"]
    assert first == {"prompt_index": 0, "completions": [{"content": "Red.", "finish_reason": "stop"}] * 2, "error": None}
    assert second["prompt_index"] == 1 and second["error"]["message"] == "No." and second["completions"] == []
    assert entry.answer["text"] is None  # decoded, not shown as raw JSON


def test_the_image_store_drops_the_oldest_images_past_its_bound():
    store = ImageStore(max_bytes=250)
    first, second, third = (store.put("image/png", bytes([n]) * 100) for n in range(3))
    assert store.get(first) is None and store.get(second) and store.get(third)
    assert store.size == 200 and len(store) == 2
    too_big = store.put("image/png", b"x" * 251)
    assert store.get(too_big) is None and store.size == 200  # larger than the bound: not kept


def test_image_digests_are_checked_before_any_lookup(perceptron_mock):
    for digest in ["../ui", "A" * 64, "0" * 63]:
        response = httpx.get(f"{perceptron_mock.url}/_admin/ui/images/{digest}")
        assert response.status_code == 404


def test_subscribers_are_bounded_and_a_slow_one_is_told_to_reload():
    live = Live(max_subscribers=2)
    one, two = live.subscribe(), live.subscribe()
    assert one and two and live.subscribe() is None
    for n in range(300):  # past the queue of 256
        live.publish({"id": n})
    assert one.overflowed and one.queue.qsize() == 256
    live.unsubscribe(one)
    assert live.subscribe() is not None


def test_static_files_are_only_the_packaged_ones(perceptron_mock):
    for name in ["../ui.py", "..%2Fui.py", "missing.js"]:
        assert httpx.get(f"{perceptron_mock.url}/_admin/ui/static/{name}").status_code == 404
    assert re.search(r"text/css", httpx.get(perceptron_mock.url + "/_admin/ui/static/ui.css").headers["content-type"])
