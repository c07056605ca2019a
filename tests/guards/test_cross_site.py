"""Cross-site requests to /_admin are refused (a browser page of another site, DNS rebinding); the API
itself answers browsers of any site, as the real one does."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from perceptron_mock.guards.cross_site import is_loopback_host
from perceptron_mock.testing.client import MockClient
from tests.helpers import chat


def port_of(running) -> int:
    return int(running.url.rsplit(":", 1)[1])


def assert_cross_site_refusal(response: httpx.Response, says: str) -> None:
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "cross_site_request" and error["type"] == "invalid_request_error" and error["param"] is None
    assert says in error["message"]


@pytest.mark.parametrize("host", ["evil.example:{port}", "evil.example", "0.0.0.0:{port}", "192.168.1.4:{port}",
                                  "localhost.evil.example:{port}", "127.0.0.1.nip.io:{port}"])
def test_a_foreign_host_is_refused_as_dns_rebinding(perceptron_mock, host):
    response = httpx.get(perceptron_mock.url + "/_admin/requests", headers={"host": host.format(port=port_of(perceptron_mock))})
    assert_cross_site_refusal(response, "is not a loopback name or address")


@pytest.mark.parametrize("origin", ["https://evil.example", "http://evil.example:{port}", "null", "http://192.168.1.4:{port}"])
def test_an_origin_of_another_site_is_refused(perceptron_mock, origin):
    response = httpx.get(perceptron_mock.url + "/_admin/config", headers={"origin": origin.format(port=port_of(perceptron_mock))})
    assert_cross_site_refusal(response, "is another site")


@pytest.mark.parametrize("site", ["cross-site", "same-site", "Cross-Site"])
def test_sec_fetch_site_cross_site_or_same_site_is_refused(perceptron_mock, site):
    response = httpx.get(perceptron_mock.url + "/_admin/requests", headers={"sec-fetch-site": site})
    assert_cross_site_refusal(response, "Sec-Fetch-Site")


def test_a_cross_site_form_post_queues_no_fault(perceptron_mock):
    # What a page on another site can make a browser send without a CORS preflight: a text/plain POST.
    admin = httpx.Client(base_url=perceptron_mock.url + "/_admin")
    admin.post("/reset")
    page = {"origin": "https://evil.example", "sec-fetch-site": "cross-site", "content-type": "text/plain"}
    response = admin.post("/faults", content=b'{"fault": "503", "count": 100}', headers=page)
    assert_cross_site_refusal(response, "is another site")
    assert admin.get("/faults").json()["data"] == []


@pytest.mark.parametrize(
    "headers",
    [
        {"host": "localhost:{port}"},
        {"host": "LOCALHOST"},
        {"host": "ui.localhost:{port}"},
        {"host": "127.0.0.1:{port}"},
        {"host": "127.8.9.10:{port}"},
        {"host": "[::1]:{port}"},
        {"origin": "http://127.0.0.1:{port}", "sec-fetch-site": "same-origin"},
        {"origin": "http://localhost:3000"},
        {"sec-fetch-site": "none"},  # typed into the address bar
    ],
)
def test_loopback_hosts_and_origins_are_served(perceptron_mock, headers):
    sent = {name: value.format(port=port_of(perceptron_mock)) for name, value in headers.items()}
    response = httpx.get(perceptron_mock.url + "/_admin/config", headers=sent)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("form", [False, True])
def test_curl_keeps_working_with_and_without_d(perceptron_mock, form):
    args = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}"]
    if form:
        args += ["-X", "POST", "-d", '{"fault": "503", "count": 1}', perceptron_mock.url + "/_admin/faults"]
    else:
        args += [perceptron_mock.url + "/_admin/requests?limit=1"]
    httpx.post(perceptron_mock.url + "/_admin/reset")
    status = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True).stdout
    assert status == ("201" if form else "200")
    httpx.post(perceptron_mock.url + "/_admin/reset")


def test_mock_client_keeps_working(perceptron_mock):
    client = MockClient(perceptron_mock.url, api_key="sk-live-abcdefghijklmnop")
    client.reset()
    client.fail_next("503")
    assert [fault["fault"] for fault in client.faults()] == ["503"]
    client.add_fixture(name="hello", respond={"content": "hi"})
    assert client.requests() == [] and client.config()["admin_access"] == "open"
    client.reset()


def test_the_api_itself_is_not_checked_for_cross_site_requests(perceptron_mock):
    # The API answers browsers of any site, as the real one does (with a key): only /_admin is guarded.
    response = httpx.post(
        perceptron_mock.base_url + "/chat/completions",
        json=chat(),
        headers={"authorization": "Bearer sk-live-abcdefghijklmnop", "host": "api.example", "origin": "https://evil.example",
                 "sec-fetch-site": "cross-site"},
    )
    assert response.status_code == 200


@pytest.mark.perceptron_mock(admin_key="admin-secret-2")
def test_with_an_admin_key_any_host_is_served_but_other_sites_are_refused(perceptron_mock):
    key = {"authorization": "Bearer admin-secret-2"}
    url = perceptron_mock.url + "/_admin/requests"
    # A docker-compose service name: the key, not the name, is what protects a keyed mock.
    assert httpx.get(url, headers={**key, "host": "mock:8000"}).status_code == 200
    assert httpx.get(url, headers={**key, "host": "mock:8000", "origin": "http://mock:8000"}).status_code == 200
    assert_cross_site_refusal(httpx.get(url, headers={**key, "origin": "https://evil.example"}), "is another site")
    assert_cross_site_refusal(httpx.get(url, headers={**key, "sec-fetch-site": "cross-site"}), "Sec-Fetch-Site")


@pytest.mark.parametrize(
    "value, loopback",
    [
        ("localhost", True), ("localhost:8000", True), ("LocalHost.:80", True), ("a.b.localhost:1", True),
        ("127.0.0.1", True), ("127.255.0.1:9", True), ("[::1]", True), ("[::1]:8000", True), ("[::ffff:127.0.0.1]:1", True),
        ("localhost.example", False), ("notlocalhost", False), ("0.0.0.0:8000", False), ("[::]:8000", False),
        ("::1", False), ("127.0.0.1:80:80", False), ("127.0.0.1:", False), ("127.0.0.1:x", False), ("[::1", False),
        ("", False), ("10.0.0.1", False), ("127.1", False),
    ],
)
def test_which_host_headers_are_loopback(value, loopback):
    assert is_loopback_host(value) is loopback
