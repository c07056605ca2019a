"""/_admin: who may use it, what it shows, and that the public API document does not mention it (its
cross-site refusals: tests/guards/test_cross_site.py)."""

from __future__ import annotations

import asyncio
import json
import subprocess

import httpx
import pytest
from starlette.requests import Request

from perceptron_mock.api.admin import AdminAccess, is_loopback
from perceptron_mock.guards.auth import BearerAuth, bearer_token
from perceptron_mock.guards.rate_limit import caller_key
from perceptron_mock.main import create_app
from perceptron_mock.protocol.errors import APIError
from perceptron_mock.settings import Settings
from perceptron_mock.testing.client import MockClient
from tests.helpers import chat, threaded_mock


@pytest.fixture(scope="module")
def keyed():
    """A mock of the plugin's kind with an API key, shared by this module's tests: the admin API answers
    without the API's key."""
    with threaded_mock(api_keys=["sk-live-abcdefghijklmnop"]) as server:
        yield server


@pytest.fixture
def mock(keyed):
    """``keyed``, reset before each test as the plugin's own fixture is."""
    keyed.reset()
    return keyed


def test_admin_api_is_not_in_the_public_openapi_document(mock):
    document = httpx.get(mock.url + "/openapi.json").json()
    assert not [path for path in document["paths"] if path.startswith("/_admin")]
    assert "/v1/chat/completions" in document["paths"]


def test_config_shows_the_settings_with_secrets_masked(mock):
    body = httpx.get(mock.url + "/_admin/config").json()
    assert body["admin_access"] == "open"
    settings = body["settings"]
    assert settings["api_keys"] == ["sk-*****************mnop"]
    assert settings["journal_size"] == 1000 and settings["host"] == "127.0.0.1"
    assert "sk-live-abcdefghijklmnop" not in httpx.get(mock.url + "/_admin/config").text


def test_reset_clears_journal_and_faults(mock):
    admin = httpx.Client(base_url=mock.url + "/_admin")
    admin.post("/faults", json={"fault": "503", "count": 5})
    httpx.post(mock.base_url + "/chat/completions", json=chat(), headers={"authorization": "Bearer sk-live-abcdefghijklmnop"})
    reset = admin.post("/reset").json()
    assert reset["journal"] >= 1 and reset["faults"] == 1
    assert admin.get("/requests").json()["data"] == []
    assert admin.get("/faults").json()["data"] == []


def test_faults_are_listed_and_cleared(mock):
    admin = httpx.Client(base_url=mock.url + "/_admin")
    admin.post("/reset")
    created = admin.post("/faults", json={"fault": "429; retry_after=1", "count": 2, "model": "isaac-0.1"}).json()
    assert created == {"id": created["id"], "fault": "429; retry_after=1", "remaining": 2, "model": "isaac-0.1"}
    assert admin.get("/faults").json()["data"] == [created]
    assert admin.delete("/faults").json() == {"deleted": 1}


@pytest.mark.parametrize(
    "body, param, code, message",
    [
        ({"fault": "503", "times": 2}, "times", "unknown_parameter", "Unrecognized request argument supplied: times."),
        ({"count": 2}, "fault", "missing_required_parameter", "Missing required parameter: 'fault'."),
        (
            {"fault": "503", "count": "two"},
            "count",
            "invalid_value",
            "Invalid 'count': Input should be a valid integer, unable to parse string as an integer.",
        ),
        ({"fault": "503", "count": 0}, "count", "below_min_value", "Invalid 'count': 0 is below the minimum of 1."),
        (
            {"fault": "503", "model": ["a"]},
            "model",
            "invalid_type",
            "Invalid type for 'model': expected a string, but got an array.",
        ),
    ],
)
def test_a_wrong_fault_field_is_named_as_chat_completions_names_it(mock, body, param, code, message):
    response = httpx.post(mock.url + "/_admin/faults", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == {"message": message, "type": "invalid_request_error", "param": param, "code": code}


@pytest.mark.parametrize(
    "query, param, code, message",
    [
        ("limit=-1", "limit", "below_min_value", "Invalid 'limit': '-1' is below the minimum of 0."),
        (
            "status=abc",
            "status",
            "invalid_value",
            "Invalid 'status': 'abc' does not match the pattern ^(\\d{3}|[1-5]xx|none)$.",
        ),
    ],
)
def test_a_wrong_query_parameter_is_named_in_param(mock, query, param, code, message):
    response = httpx.get(mock.url + "/_admin/requests?" + query)
    assert response.status_code == 400
    assert response.json()["error"] == {"message": message, "type": "invalid_request_error", "param": param, "code": code}


@pytest.mark.parametrize("route", ["/_admin/faults", "/_admin/fixtures"])
@pytest.mark.parametrize("content", [b"", b"{not json", b'{"fault": "503",}', b"2", b'["503"]', b"null"])
def test_a_body_that_is_not_a_json_object_is_invalid_json_with_no_param(mock, route, content):
    response = httpx.post(mock.url + route, content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_json" and error["param"] is None
    assert "None" not in error["message"] and "JSON" in error["message"]


def test_curl_d_without_a_content_type_works(mock):
    """The admin API page's example (docs/admin-api.md): ``curl -d`` sends application/x-www-form-urlencoded."""
    form = {"content-type": "application/x-www-form-urlencoded"}
    admin = httpx.Client(base_url=mock.url + "/_admin")
    admin.post("/reset")
    created = admin.post("/faults", content=b'{"fault": "503", "count": 2}', headers=form)
    assert created.status_code == 201, created.text
    assert created.json()["remaining"] == 2
    fixture = {"name": "form-sent", "match": {}, "respond": {"content": "x"}}
    assert admin.post("/fixtures", content=json.dumps(fixture).encode(), headers=form).status_code == 201
    admin.post("/reset")


@pytest.mark.parametrize(
    "authorization, token",
    [
        (b"Bearer k1", b"k1"),
        (b"bearer   k1  ", b"k1"),
        (b"BEARER k1", b"k1"),
        (b"Bearer k2", b"k2"),
        (b"Basic k1", None),
        (b"Bearer", None),
        (b"Bearer   ", None),
        (b"k1", None),
        (None, None),
    ],
)
def test_the_key_check_the_rate_limit_and_the_admin_api_read_the_bearer_header_alike(authorization, token):
    scope = {"type": "http", "method": "GET", "path": "/_admin/config", "query_string": b"",
             "headers": [] if authorization is None else [(b"authorization", authorization)]}
    assert bearer_token(scope) == token
    assert caller_key(scope) == (None if token is None else token.decode())

    def accepted(check) -> bool:
        try:
            check()
        except APIError as error:
            assert error.status == 401
            return False
        return True

    assert accepted(lambda: BearerAuth([]).check(scope)) is (token is not None)
    assert accepted(lambda: BearerAuth(["k1"]).check(scope)) is (token == b"k1")
    assert accepted(lambda: AdminAccess(Settings(admin_key="k1")).check(Request(scope))) is (token == b"k1")


@pytest.mark.perceptron_mock(admin_key="admin-secret-1")
def test_an_admin_key_is_required_once_set(perceptron_mock):
    url = perceptron_mock.url + "/_admin/requests"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"authorization": "Bearer wrong"}).json()["error"]["code"] == "invalid_admin_key"
    assert httpx.get(url, headers={"authorization": "Bearer admin-secret-1"}).status_code == 200
    config = httpx.get(perceptron_mock.url + "/_admin/config", headers={"authorization": "Bearer admin-secret-1"}).json()
    assert config["admin_access"] == "key" and config["settings"]["admin_key"] == "adm*******et-1"


def test_admin_is_off_beyond_loopback_without_a_key():
    # An app built for 0.0.0.0, driven in-process: the test itself never listens beyond loopback.
    app = create_app(Settings(host="0.0.0.0"))

    async def calls() -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock") as http:
            return await http.get("/_admin/requests"), await http.get("/v1/models", headers={"authorization": "Bearer k"})

    admin, models = asyncio.run(calls())
    assert admin.status_code == 404 and admin.json()["error"]["code"] == "unknown_url"
    assert models.status_code == 200


def test_access_modes():
    assert AdminAccess(Settings(host="127.0.0.1")).mode == "open"
    assert AdminAccess(Settings(host="::1")).mode == "open"
    assert AdminAccess(Settings(host="0.0.0.0")).mode == "off"
    assert AdminAccess(Settings(host="0.0.0.0", admin_key="k")).mode == "key"
    assert AdminAccess(Settings(host="127.0.0.1", admin_key="k")).mode == "key"
    assert is_loopback("localhost") and is_loopback("127.0.0.2") and not is_loopback("192.168.1.4")


# --- fixtures at run time ----------------------------------------------------------------------------


def completion_text(mock, text: str = "Hello") -> str:
    response = httpx.post(
        mock.base_url + "/chat/completions", json=chat(text), headers={"authorization": "Bearer sk-live-abcdefghijklmnop"}
    )
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]["message"]["content"]


def test_a_fixture_added_at_run_time_answers_until_removed(mock):
    admin = httpx.Client(base_url=mock.url + "/_admin")
    admin.post("/reset")
    created = admin.post(
        "/fixtures", json={"name": "greeting", "match": {"user_text": "(?i)hello"}, "respond": {"content": "Hi from a fixture."}}
    )
    assert created.status_code == 201 and created.json()["name"] == "greeting"
    assert completion_text(mock, "Hello there") == "Hi from a fixture."
    assert completion_text(mock, "Something else") != "Hi from a fixture."
    assert [f["name"] for f in admin.get("/fixtures").json()["data"]] == ["greeting"]
    assert admin.delete("/fixtures/greeting").json() == {"deleted": 1}
    assert completion_text(mock, "Hello there") != "Hi from a fixture."
    assert admin.delete("/fixtures/greeting").json()["error"]["code"] == "fixture_not_found"


def test_first_puts_a_fixture_ahead_and_reset_removes_run_time_fixtures(mock):
    admin = httpx.Client(base_url=mock.url + "/_admin")
    admin.post("/reset")
    admin.post("/fixtures", json={"name": "late", "match": {}, "respond": {"content": "late"}})
    admin.post("/fixtures", params={"first": "true"}, json={"name": "early", "match": {}, "respond": {"content": "early"}})
    assert completion_text(mock) == "early"
    assert admin.post("/reset").json()["fixtures"] == 2
    assert admin.get("/fixtures").json()["data"] == []


def test_a_bad_fixture_is_refused_with_the_reason(mock):
    response = httpx.post(mock.url + "/_admin/fixtures", json={"match": {"user_text": "(unclosed"}, "respond": {"content": "x"}})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_fixture" and "user_text" in error["message"]


def test_a_fixture_fault_is_applied_and_journaled(mock):
    admin = httpx.Client(base_url=mock.url + "/_admin")
    admin.post("/reset")
    admin.post("/fixtures", json={"match": {"user_text": "flaky"}, "respond": {"fault": "502"}})
    response = httpx.post(
        mock.base_url + "/chat/completions", json=chat("a flaky one"), headers={"authorization": "Bearer sk-live-abcdefghijklmnop"}
    )
    assert response.status_code == 502
    [entry] = admin.get("/requests").json()["data"]
    assert entry["status"] == 502 and entry["fault"] == "502"


@pytest.mark.perceptron_mock(rate_limit_per_minute=2)
def test_reset_refills_the_rate_limit(perceptron_mock):
    send = lambda: httpx.post(perceptron_mock.base_url + "/chat/completions", json=chat(), headers={"authorization": "Bearer k"})
    assert [send().status_code for _ in range(3)] == [200, 200, 429]
    assert httpx.post(perceptron_mock.url + "/_admin/reset").json()["rate_limits"] is True
    assert send().status_code == 200


def test_reset_brings_back_a_directory_fixture_removed_by_name(tmp_path):
    (tmp_path / "greeting.yaml").write_text(
        "name: from-the-directory\nmatch:\n  user_text: (?i)hello\nrespond:\n  content: Hi from the directory.\n"
    )
    with threaded_mock(fixtures_dir=tmp_path, fixtures_reload_seconds=0) as served:
        admin = httpx.Client(base_url=served.url + "/_admin")
        ask = lambda: httpx.post(served.base_url + "/chat/completions", json=chat("Hello"), headers={"authorization": "Bearer k"})
        assert ask().json()["choices"][0]["message"]["content"] == "Hi from the directory."
        admin.post("/fixtures", json={"name": "run-time", "match": {}, "respond": {"content": "x"}})
        assert admin.delete("/fixtures/from-the-directory").json() == {"deleted": 1}
        assert ask().json()["choices"][0]["message"]["content"] == "x"

        assert admin.post("/reset").json()["fixtures"] == 1  # the run-time one

        assert [f["name"] for f in admin.get("/fixtures").json()["data"]] == ["from-the-directory"]
        assert ask().json()["choices"][0]["message"]["content"] == "Hi from the directory."


# --- fixtures are checked when added, and removed by any name ----------------------------------------------


@pytest.mark.parametrize(
    "headers, says",
    [
        ({"bad name": "x"}, "'bad name' is not a valid header name"),
        ({"x-note:": "x"}, "is not a valid header name"),
        ({"x-note": "a\r\nset-cookie: stolen=1"}, "the value of 'x-note' holds a control character"),
        ({"x-note": "a\x00b"}, "holds a control character"),
        ({"content-length": "5"}, "'content-length' is set by the mock itself"),
        ({"Transfer-Encoding": "chunked"}, "is set by the mock itself"),
        ({"connection": "close"}, "is set by the mock itself"),
        ({"content-type": "text/html"}, "is set by the mock itself"),
        ({"x-request-id": "mine"}, "is set by the mock itself"),
    ],
)
def test_a_fixture_whose_headers_no_response_could_carry_is_refused_when_added(mock, headers, says):
    admin = httpx.Client(base_url=mock.url + "/_admin")
    admin.post("/reset")
    response = admin.post("/fixtures", json={"match": {}, "respond": {"error": {"status": 503, "headers": headers}}})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_fixture" and "respond.error.headers" in error["message"] and says in error["message"]
    assert admin.get("/fixtures").json()["data"] == []


def test_a_fixture_s_headers_are_sent_with_its_error(mock):
    admin = httpx.Client(base_url=mock.url + "/_admin")
    admin.post("/reset")
    headers = {"retry-after": "2", "x-ratelimit-remaining-requests": "0", "x-note": "café\tok"}
    created = admin.post("/fixtures", json={"match": {}, "respond": {"error": {"status": 429, "headers": headers}}})
    assert created.status_code == 201, created.text
    response = httpx.post(mock.base_url + "/chat/completions", json=chat(), headers={"authorization": "Bearer sk-live-abcdefghijklmnop"})
    assert response.status_code == 429 and response.headers["retry-after"] == "2"
    assert response.headers.get_list("content-type") == ["application/json"]
    assert (b"x-note", "café\tok".encode()) in response.headers.raw  # sent as UTF-8 bytes
    admin.post("/reset")


@pytest.mark.parametrize("name", ["a/b", "/leading", "trailing/", "with space", "q?x=1#frag", "per%2Fcent", "ünï", "..", "reload"])
def test_mock_client_removes_a_fixture_by_name_however_it_is_written(mock, name):
    client = MockClient(mock.url)
    client.reset()
    client.add_fixture(name=name, respond={"content": "x"})
    client.add_fixture(name="other", respond={"content": "y"})
    client.remove_fixture(name)
    assert [fixture["name"] for fixture in client.fixtures()] == ["other"]
    client.reset()


def test_curl_removes_a_fixture_with_a_slash_in_its_name_as_written(mock):
    httpx.post(mock.url + "/_admin/reset")
    httpx.post(mock.url + "/_admin/fixtures", json={"name": "team/greeting", "respond": {"content": "x"}})
    status = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE",
                             mock.url + "/_admin/fixtures/team/greeting"], capture_output=True, text=True, timeout=30).stdout
    assert status == "200"
    assert httpx.get(mock.url + "/_admin/fixtures").json()["data"] == []
