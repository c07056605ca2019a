"""``X-Mock-Test-Id`` on a shared mock: each test sees its own journal entries, queued faults and run-time
fixtures (and the shared ones), never another test's; requests and calls without an id behave as on a
mock without ids; the pytest fixture puts its test's id on the clients it hands out."""

from __future__ import annotations

import httpx
import openai
import perceptron
import pytest

from perceptron_mock import MockClient
from tests.helpers import MODEL, chat, image_bytes, threaded_mock

MESSAGES = [{"role": "user", "content": "Hello"}]


@pytest.fixture(scope="module")
def shared():
    with threaded_mock() as mock:
        yield mock


@pytest.fixture
def jobs(shared):
    shared.reset()
    return MockClient(shared.url, test_id="job-a"), MockClient(shared.url, test_id="job-b"), MockClient(shared.url)


def test_each_test_reads_its_own_journal_and_the_shared_one_reads_all(jobs):
    a, b, everyone = jobs
    a.openai_client().chat.completions.create(model=MODEL, messages=MESSAGES)
    b.openai_client().chat.completions.create(model=MODEL, messages=MESSAGES)
    b.openai_client().chat.completions.create(model=MODEL, messages=MESSAGES)
    assert [r.test_id for r in a.requests()] == ["job-a"]
    assert [r.test_id for r in b.requests()] == ["job-b", "job-b"]
    assert sorted(r.test_id for r in everyone.requests()) == ["job-a", "job-b", "job-b"]
    assert a.clear_requests() == 1
    assert len(everyone.requests()) == 2


def test_a_fault_queued_for_one_test_is_taken_by_its_requests_only(jobs):
    a, b, _ = jobs
    a.fail_next("503", count=1)
    assert b.faults() == []
    b.openai_client(max_retries=0).chat.completions.create(model=MODEL, messages=MESSAGES)  # not b's fault
    with pytest.raises(openai.InternalServerError):
        a.openai_client(max_retries=0).chat.completions.create(model=MODEL, messages=MESSAGES)


def test_a_fixture_added_for_one_test_answers_its_requests_only(jobs):
    a, b, _ = jobs
    a.add_fixture(name="greeting", respond={"content": "Hello, job A."})
    b.add_fixture(name="greeting", respond={"content": "Hello, job B."})  # the same name in another scope
    ask = lambda client: client.openai_client().chat.completions.create(model=MODEL, messages=MESSAGES).choices[0].message.content  # noqa: E731
    assert (ask(a), ask(b)) == ("Hello, job A.", "Hello, job B.")
    assert [f["name"] for f in a.fixtures()] == ["greeting"] and a.fixtures()[0]["test_id"] == "job-a"


def test_a_scoped_reset_clears_that_test_only(jobs):
    a, b, everyone = jobs
    a.fail_next("503")
    b.fail_next("429")
    a.add_fixture(respond={"content": "A"})
    assert a.reset() == {"journal": 0, "faults": 1, "fixtures": 1, "rate_limits": False, "cache_bytes": 0}
    assert [f["fault"] for f in everyone.faults()] == ["429"]


def test_multilook_is_scoped_too_fixtures_faults_and_journal(jobs):
    a, b, everyone = jobs
    a.add_fixture(name="colour", match={"user_text": "colour"}, respond={"content": "Red, says job A."})
    b.fail_next("503")
    context = [{"role": "user", "content": "A red square."}]

    def look(job):
        with job.perceptron_client() as client:
            return client.chat.completions.multilook(model="perceptron-mk1.5", context=context, prompts=["What colour?"])

    assert look(a).results[0].completions[0].text == "Red, says job A."
    assert b.faults()[0]["fault"] == "503"  # not taken by job A's request
    with pytest.raises(perceptron.errors.ServerError):
        look(b)
    assert [(r.path, r.test_id) for r in a.requests()] == [("/v1/chat/completions/multilook", "job-a")]
    assert [(r.path, r.status) for r in b.requests()] == [("/v1/chat/completions/multilook", 503)]


def test_a_scoped_reset_leaves_uploaded_files_which_every_test_shares(jobs, shared):
    a, b, everyone = jobs
    with a.perceptron_client() as client:
        uploaded = client.files.upload(image_bytes(), filename="cat.png")
    b.reset()
    a.reset()
    with b.perceptron_client() as client:
        assert client.files.retrieve(uploaded.id).id == uploaded.id  # one organisation: every key, every test
    assert everyone.reset()["files"] == 1  # the shared scope's reset is a fresh start: files go


def test_requests_without_an_id_take_any_fault_as_without_ids(jobs):
    a, _, everyone = jobs
    a.fail_next("503")
    answer = httpx.post(everyone.base_url + "/chat/completions", json=chat("Hi"), headers={"authorization": "Bearer k"})
    assert answer.status_code == 503


@pytest.mark.parametrize("bad", ["x" * 257, "tab\there", "é"])
def test_a_malformed_test_id_is_refused_with_the_envelope(shared, bad):
    headers = {"authorization": "Bearer k", "x-mock-test-id": bad.encode("utf-8")}
    answer = httpx.post(shared.base_url + "/chat/completions", json=chat("Hi"), headers=headers)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_test_id" and answer.json()["error"]["param"] == "X-Mock-Test-Id"
    assert httpx.get(shared.url + "/_admin/requests", headers={"x-mock-test-id": bad.encode("utf-8")}).status_code == 400


def test_the_pytest_fixture_puts_its_test_id_on_the_clients_it_hands_out(perceptron_mock, request):
    perceptron_mock.openai_client().chat.completions.create(model=MODEL, messages=MESSAGES)
    with perceptron_mock.perceptron_client() as sdk:
        sdk.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert [r.test_id for r in perceptron_mock.requests()] == [request.node.nodeid] * 2


def test_scopes_hold_in_redis_too(redis_url):
    with threaded_mock(rate_limit_storage=redis_url) as mock:
        a, b = MockClient(mock.url, test_id="job-a"), MockClient(mock.url, test_id="job-b")
        MockClient(mock.url).reset()
        a.fail_next("503")
        b.openai_client(max_retries=0).chat.completions.create(model=MODEL, messages=MESSAGES)
        assert [r.test_id for r in b.requests()] == ["job-b"] and a.requests() == []
        assert [f["test_id"] for f in a.faults()] == ["job-a"] and b.faults() == []
        assert b.clear_requests() == 1 and a.clear_faults() == 1
        assert MockClient(mock.url).faults() == [] and MockClient(mock.url).requests() == []
