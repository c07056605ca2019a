"""Fixtures: which requests they match, which files are refused (and stop the server), what they answer
with over HTTP, and reloading without a restart."""

from __future__ import annotations

import hashlib
import json
import re
import time

import httpx
import pytest

from perceptron_mock.answers.fixtures import FixtureFileError, FixtureStore
from tests.answers.helpers import answer_for
from tests.helpers import chat, data_url, image_bytes, threaded_mock
from tests.server import run_server

PNG = image_bytes(color="purple")
PNG_SHA = hashlib.sha256(PNG).hexdigest()
URL = "https://example.com/site.jpg"


def _store(match: dict, respond: dict | None = None) -> FixtureStore:
    store = FixtureStore()
    store.add({"name": "it", "match": match, "respond": respond or {"content": "SCRIPTED"}})
    return store


REQUESTS = {
    "plain": chat("Find every worker wearing PPE.", images=[URL]),
    "box": chat("Find every worker wearing PPE.", system="<hint>BOX</hint>", images=[URL]),
    "box_think": chat("Count the boxes", system="<hint>THINK BOX</hint>", images=[URL]),
    "png": chat("What is this?", images=[data_url(PNG)]),
    "mk1": {**chat("Hello"), "model": "perceptron-mk1", "temperature": 0.5},
}

# (match, request name, matches?)
TABLE = [
    ({}, "plain", True),
    ({"model": "perceptron-mk1"}, "mk1", True),
    ({"model": ["isaac-0.1", "perceptron-mk1"]}, "plain", False),
    ({"hints": ["BOX"]}, "box", True),
    ({"hints": ["box"]}, "box", True),
    ({"hints": ["BOX"]}, "box_think", False),  # the exact set of hints
    ({"hints": ["BOX", "THINK"]}, "box_think", True),
    ({"hints": []}, "plain", True),
    ({"hints": []}, "box", False),
    ({"user_text": "(?i)worker.*ppe"}, "box", True),
    ({"user_text": "^PPE"}, "box", False),
    ({"system_text": "<hint>"}, "box", True),
    ({"system_text": "<hint>"}, "plain", False),
    ({"image_sha256": PNG_SHA}, "png", True),
    ({"image_sha256": PNG_SHA.upper()}, "png", True),
    ({"image_sha256": "0" * 64}, "png", False),
    ({"image_url": URL}, "plain", True),
    ({"image_url": [URL]}, "png", False),
    ({"image_count": 0}, "mk1", True),
    ({"image_count": 1}, "mk1", False),
    ({"body": {"temperature": 0.5}}, "mk1", True),
    ({"body": {"temperature": 0.7}}, "mk1", False),
    ({"body": {"messages.0.role": "system", "messages.1.content.0.type": "image_url"}}, "box", True),
    ({"body": {"stream": True}}, "plain", False),
    ({"hints": ["BOX"], "user_text": "PPE", "image_url": URL}, "box", True),
    ({"hints": ["BOX"], "user_text": "PPE", "image_url": "https://other.example/x.png"}, "box", False),
]


@pytest.mark.parametrize(("match", "name", "expected"), TABLE)
def test_fixture_matching(match, name, expected):
    answer = answer_for(REQUESTS[name], _store(match))
    assert (answer.content == "SCRIPTED") is expected


def test_first_match_wins_and_the_rules_answer_the_rest():
    store = FixtureStore()
    store.add({"name": "a", "match": {"hints": ["BOX"]}, "respond": {"content": "A"}})
    store.add({"name": "b", "match": {}, "respond": {"content": "B"}})
    store.add({"name": "c", "match": {}, "respond": {"content": "C"}}, first=True)
    assert answer_for(REQUESTS["box"], store).content == "C"
    store.remove("c")
    assert answer_for(REQUESTS["box"], store).content == "A"
    assert answer_for(REQUESTS["plain"], store).content == "B"
    store.remove("b")
    assert answer_for(REQUESTS["plain"], store) == answer_for(REQUESTS["plain"])  # what the rules answer alone
    assert [f["name"] for f in store.list()] == ["a"]


def test_a_fixture_without_content_lays_its_fields_over_the_rules():
    store = _store({"hints": ["BOX"]}, {"reasoning_content": "scripted thought", "usage": {"prompt_tokens": 1, "completion_tokens": 2}})
    answer = answer_for(REQUESTS["box"], store)
    assert "<point_box" in answer.content and answer.reasoning == "scripted thought"
    assert (answer.prompt_tokens, answer.completion_tokens) == (1, 2)


BAD_FILES = [
    ("bad.yaml", "name: \"a\\nb\"\nrespond: {content: x}\n", "fixture.name: a fixture name may not hold control characters"),
    ("bad.yaml", "match: {user_text: '(unclosed'}\nrespond: {content: x}\n", "fixture.match.user_text"),
    ("bad.yaml", "respond: {content: x, colour: red}\n", "fixture.respond.colour"),
    ("bad.yaml", "match: {hints: [BOX]}\n", "fixture.respond"),
    ("bad.json", '{"respond": {"content": "x"}', "not valid JSON"),
    ("bad.yaml", "respond: [unclosed\n", "not valid YAML"),
    ("bad.yaml", "- respond: {content: ok}\n- respond: {error: {status: 200}}\n", "fixtures[1].respond.error.status"),
    ("bad.yaml", "respond: {fault: 'explode=3'}\n", "fixture.respond.fault"),
    ("bad.yaml", "match: {image_sha256: abc}\nrespond: {content: x}\n", "fixture.match.image_sha256"),
    ("bad.yaml", "respond: {usage: {prompt_tokens: 1, completion_tokens: 2, total_tokens: 4}}\n", "total_tokens"),
    ("bad.yaml", "respond: {usage: {prompt_tokens: 18446744073709551616, completion_tokens: 2}}\n", "fixture.respond.usage.prompt_tokens"),
    ("bad.yaml", "respond: {usage: {prompt_tokens: 2000000000, completion_tokens: 2000000000}}\n", "at most 2,147,483,647"),
    ("bad.yaml", "fixtures: []\nextra: 1\n", "may hold nothing else"),
    ("bad.yaml", "respond: {error: {status: 503, headers: {bad name: x}}}\n", "fixture.respond.error.headers: 'bad name' is not a valid header name"),
    ("bad.yaml", "respond: {error: {status: 503, headers: {x-note: \"a\\r\\nb\"}}}\n", "holds a control character"),
    ("bad.yaml", "respond: {error: {status: 503, headers: {Content-Length: '5'}}}\n", "is set by the mock itself"),
    ("bad.yaml", "match: {user_text: '(\\w+) \\1'}\nrespond: {content: x}\n", "fixture.match.user_text: regex '(\\\\w+) \\\\1' cannot be searched in linear time"),
    ("bad.yaml", "match: {system_text: '(?<!no )hint'}\nrespond: {content: x}\n", "fixture.match.system_text: regex '(?<!no )hint' cannot be searched in linear time"),
    ("bad.yaml", "match: {user_text: '(?:x{50}){50}'}\nrespond: {content: x}\n", "at most 1,000"),
]


@pytest.mark.parametrize(("filename", "text", "problem"), BAD_FILES)
def test_bad_fixture_files_are_refused_by_name(tmp_path, filename, text, problem):
    (tmp_path / filename).write_text(text)
    with pytest.raises(FixtureFileError) as caught:
        FixtureStore.load(tmp_path)
    message = str(caught.value)
    assert filename in message and problem in message, message


def test_duplicate_names_across_files_are_refused(tmp_path):
    (tmp_path / "a.yaml").write_text("name: same\nrespond: {content: a}\n")
    (tmp_path / "b.yaml").write_text("name: same\nrespond: {content: b}\n")
    with pytest.raises(FixtureFileError, match="b.yaml.*'same' is already used in .*a.yaml"):
        FixtureStore.load(tmp_path)


def test_the_server_does_not_start_on_a_bad_fixture_file(tmp_path):  # the CLI process exits, saying why
    (tmp_path / "broken.yaml").write_text("match: {model: 5}\nrespond: {content: x}\n")
    with pytest.raises(RuntimeError) as caught:
        with run_server("--fixtures", str(tmp_path)):
            pass
    assert "broken.yaml" in str(caught.value) and "fixture.match.model" in str(caught.value)


def _post(url: str, body: dict, timeout: float = 30, **kwargs) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", json=body, headers={"authorization": "Bearer k"}, timeout=timeout, **kwargs)


def test_fixtures_answer_over_http_and_reload_without_restart(tmp_path):
    fixture = {
        "name": "scripted",
        "match": {"user_text": "^script me$"},
        "respond": {
            "content": "first version",
            "reasoning_content": "because",
            "finish_reason": "stop",
            "usage": {"prompt_tokens": 11, "completion_tokens": 22},
            "latency_ms": 50,
            "pacing": {"first_token_ms": 10, "tokens_per_second": 500},
        },
    }
    errors = [
        {"name": "teapot", "match": {"user_text": "^fail me$"}, "respond": {"error": {"status": 429, "body": {"error": {"message": "slow down", "type": "rate_limit_exceeded", "param": None, "code": "rate_limit"}}, "headers": {"retry-after": "0"}}}},
        {"name": "outage", "match": {"user_text": "^fault me$"}, "respond": {"fault": "503"}},
    ]
    (tmp_path / "a.json").write_text(json.dumps(fixture))
    (tmp_path / "b.yaml").write_text(json.dumps({"fixtures": errors}))  # JSON is YAML too
    with threaded_mock(fixtures_dir=tmp_path, fixtures_reload_seconds=0.2) as server:
        body = chat("script me")
        data = _post(server.url, body).json()
        assert data["choices"][0]["message"] == {"role": "assistant", "content": "first version", "reasoning_content": "because"}
        assert data["usage"] == {"prompt_tokens": 11, "completion_tokens": 22, "total_tokens": 33}

        with httpx.stream("POST", server.url + "/v1/chat/completions", json={**body, "stream": True}, headers={"authorization": "Bearer k"}, timeout=30) as streamed:
            text = "".join(streamed.iter_text())
        pieces = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
        assert "".join(p["choices"][0]["delta"].get("content") or "" for p in pieces if p["choices"]) == "first version"

        refused = _post(server.url, chat("fail me"))
        assert refused.status_code == 429 and refused.headers["retry-after"] == "0"
        assert refused.json() == {"error": {"message": "slow down", "type": "rate_limit_exceeded", "param": None, "code": "rate_limit"}}
        assert _post(server.url, chat("fault me")).status_code == 503

        fixture["respond"]["content"] = "second version"
        (tmp_path / "a.json").write_text(json.dumps(fixture))
        deadline = time.monotonic() + 20
        while _post(server.url, body).json()["choices"][0]["message"]["content"] != "second version":
            assert time.monotonic() < deadline, "the changed fixture file was never reloaded"
            time.sleep(0.1)

        (tmp_path / "a.json").write_text("{ not json")  # a bad reload keeps the fixtures in force
        time.sleep(0.5)
        assert _post(server.url, body).json()["choices"][0]["message"]["content"] == "second version"


WATCHDOG = 10.0  # seconds: re's backtracking took ~25 s for (a+)+$ against 26 characters


def test_a_catastrophic_user_text_pattern_is_searched_in_linear_time_over_http(perceptron_mock):
    admin = httpx.post(
        perceptron_mock.url + "/_admin/fixtures", json={"name": "trap", "match": {"user_text": "(a+)+$"}, "respond": {"content": "all a"}}, timeout=WATCHDOG
    )
    assert admin.status_code == 201, admin.text
    missed = _post(perceptron_mock.url, chat("a" * 30_000 + "!"), timeout=WATCHDOG)  # no match: the rules answer
    assert missed.status_code == 200 and missed.json()["choices"][0]["message"]["content"] != "all a"
    hit = _post(perceptron_mock.url, chat("b" + "a" * 30_000), timeout=WATCHDOG)
    assert hit.json()["choices"][0]["message"]["content"] == "all a"


def test_a_fixture_pattern_re2_cannot_search_is_refused_by_the_admin_api_naming_the_field(perceptron_mock):
    refused = httpx.post(
        perceptron_mock.url + "/_admin/fixtures", json={"match": {"system_text": "(?=.*BOX)THINK"}, "respond": {"content": "x"}}, timeout=WATCHDOG
    )
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "invalid_fixture" and "system_text" in error["message"] and "lookaround" in error["message"]


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        (r"(?x) find \ every \ worker  # verbose, with a comment", "Find every worker", False),
        (r"(?ix) find \ every \ worker", "Find every worker", True),
        (r"done\Z", "all done", True),
        (r"^\w+$", "Straße", True),
        (r"^\d{,3}$", "٣٤", True),
        (r"total$", "the total\n", True),
    ],
)
def test_fixture_patterns_mean_what_python_means(pattern, text, expected):
    assert bool(re.search(pattern, text)) is expected
    answer = answer_for(chat(text), _store({"user_text": pattern}))
    assert (answer.content == "SCRIPTED") is expected


def test_fixtures_added_at_run_time_are_capped_and_removing_makes_room(perceptron_mock):
    # Every request tries the fixtures in turn: the admin API cannot make that list grow without end.
    from perceptron_mock.answers.fixtures.store import MAX_RUNTIME_FIXTURES

    store = FixtureStore()
    for n in range(MAX_RUNTIME_FIXTURES):
        store.add({"name": f"f{n}", "respond": {"content": "x"}})
    with pytest.raises(FixtureFileError, match="1000 fixtures are already added"):
        store.add({"respond": {"content": "one too many"}})
    assert store.remove("f0")
    store.add({"name": "room again", "respond": {"content": "x"}})
    # Over HTTP the refusal is the admin API's 400 invalid_fixture.
    for n in range(MAX_RUNTIME_FIXTURES):
        perceptron_mock.add_fixture(name=f"h{n}", respond={"content": "x"})
    response = httpx.post(perceptron_mock.url + "/_admin/fixtures", json={"respond": {"content": "x"}}, timeout=10)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_fixture"
