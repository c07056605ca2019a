"""The pytest plugin, used the way a user uses it: test files run by pytester."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
# The example test files users copy: the pytest page's complete one, and the README's short one.
EXAMPLES = {"docs/pytest.md": "## A complete test file", "README.md": "## Testing your client"}


def example_test_file(path: str) -> str:
    """The example test file (a ```python block starting ``# test_``) in ``path``'s section."""
    section = (ROOT / path).read_text(encoding="utf-8").split(EXAMPLES[path], 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(# test_.*?)```", section, re.S)
    assert match, f"{path}: the section {EXAMPLES[path]!r} has no example test file"
    return match.group(1)


@pytest.mark.parametrize("path", EXAMPLES)
def test_the_documented_example_passes(pytester: pytest.Pytester, path: str):
    example = example_test_file(path)
    pytester.makepyfile(test_example=example)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=example.count("\ndef test_"))


def test_each_test_starts_from_a_clean_mock(pytester: pytest.Pytester):
    pytester.makepyfile(
        test_isolation="""
        import pytest

        def test_first_leaves_a_mess(perceptron_mock):
            perceptron_mock.add_fixture(name="leftover", respond={"content": "from the first test"})
            perceptron_mock.fail_next("503", count=5)
            client = perceptron_mock.openai_client(max_retries=0)
            with pytest.raises(Exception):
                client.chat.completions.create(model="isaac-0.1", messages=[{"role": "user", "content": "a"}])
            assert len(perceptron_mock.requests()) == 1

        def test_second_sees_none_of_it(perceptron_mock):
            assert perceptron_mock.requests() == []
            assert perceptron_mock.faults() == []
            assert perceptron_mock.fixtures() == []
            client = perceptron_mock.openai_client(max_retries=0)
            answer = client.chat.completions.create(model="isaac-0.1", messages=[{"role": "user", "content": "b"}])
            assert answer.choices[0].message.content != "from the first test"
        """
    )
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_a_marker_gives_a_test_its_own_server_and_settings(pytester: pytest.Pytester):
    pytester.makepyfile(
        test_marker="""
        import openai
        import pytest

        @pytest.mark.perceptron_mock(api_keys=["sk-only-this-one"], models=["isaac-0.1"])
        def test_own_settings(perceptron_mock):
            assert perceptron_mock.api_key == "sk-only-this-one"
            client = perceptron_mock.openai_client(max_retries=0)
            assert [m.id for m in client.models.list()] == ["isaac-0.1"]
            other = perceptron_mock.openai_client(api_key="sk-other", max_retries=0)
            with pytest.raises(openai.AuthenticationError):
                other.chat.completions.create(model="isaac-0.1", messages=[{"role": "user", "content": "hi"}])

        def test_default_server_is_untouched(perceptron_mock, perceptron_mock_server):
            assert perceptron_mock is perceptron_mock_server
            assert len(perceptron_mock.openai_client().models.list().data) == 6
        """
    )
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_the_environment_does_not_leak_into_the_mock(pytester: pytest.Pytester, monkeypatch):
    monkeypatch.setenv("PERCEPTRON_MOCK_MODELS", "some-other-model")
    monkeypatch.setenv("PERCEPTRON_MOCK_JOURNAL_SIZE", "0")
    pytester.makepyfile(
        test_env="""
        def test_defaults(perceptron_mock):
            client = perceptron_mock.openai_client()
            assert "isaac-0.1" in [m.id for m in client.models.list()]
            assert len(perceptron_mock.requests()) == 1
        """
    )
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_a_failing_user_test_still_fails(pytester: pytest.Pytester):
    pytester.makepyfile(
        test_fails="""
        def test_wrong_expectation(perceptron_mock):
            perceptron_mock.openai_client().models.list()
            assert perceptron_mock.requests()[0].path == "/v1/chat/completions"
        """
    )
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(failed=1)


def test_parallel_workers_each_get_their_own_mock(pytester: pytest.Pytester):
    import xdist  # noqa: F401  (the test extra's pytest-xdist: without it this fails, it does not skip)
    body = """
    def test_{n}(perceptron_mock):
        client = perceptron_mock.openai_client(max_retries=0)
        perceptron_mock.fail_next("429", count=1)
        try:
            client.chat.completions.create(model="isaac-0.1", messages=[{{"role": "user", "content": "{n}"}}])
        except Exception:
            pass
        client.chat.completions.create(model="isaac-0.1", messages=[{{"role": "user", "content": "{n}"}}])
        seen = [r.messages[0]["content"] for r in perceptron_mock.requests()]
        assert seen == ["{n}", "{n}"]
        assert [r.status for r in perceptron_mock.requests()] == [429, 200]
    """
    pytester.makepyfile(test_parallel="\n".join(body.format(n=n) for n in range(8)))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=8)


def test_a_project_with_its_own_app_package_uses_it_beside_the_fixture(pytester: pytest.Pytester):
    # Many users test FastAPI services whose package is app/: the mock installs as perceptron_mock,
    # so their `app` is theirs and the fixture is still there.
    pytester.mkpydir("app").joinpath("service.py").write_text("NAME = 'their service'\n")
    pytester.makepyfile(
        test_theirs="""
import app.service


def test_their_code_and_the_mock(perceptron_mock):
    assert app.service.NAME == 'their service'
    client = perceptron_mock.openai_client()
    assert client.chat.completions.create(model="isaac-0.1", messages=[{"role": "user", "content": "Hi"}]).choices
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", "-W", "error::pytest.PytestConfigWarning")
    result.assert_outcomes(passed=1)


def test_a_marker_serves_a_models_file(pytester: pytest.Pytester):
    pytester.makefile(".yaml", models="""
        models:
          - {id: house-model, name: House, modalities: [image], output_formats: [text],
             reasoning: {supported: false}, max_context_tokens: 2048, max_output_tokens: 512, created: 1}
        """)
    pytester.makepyfile(
        test_models_file="""
        import pytest

        @pytest.mark.perceptron_mock(models_file="models.yaml", models=["house-model"])
        def test_house_model(perceptron_mock):
            client = perceptron_mock.openai_client(max_retries=0)
            assert [m.id for m in client.models.list()] == ["house-model"]
            assert client.chat.completions.create(model="house-model", messages=[{"role": "user", "content": "hi"}]).model == "house-model"
        """
    )
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


RECORDED_TEST = """
import json, os

def test_answers(perceptron_mock_recorded):
    client = perceptron_mock_recorded.openai_client(max_retries=0)
    done = client.chat.completions.create(model="isaac-0.2-2b-preview", messages=[{"role": "user", "content": "Describe the dock."}])
    stream = client.chat.completions.create(
        model="isaac-0.2-2b-preview", messages=[{"role": "user", "content": "Stream it."}], stream=True
    )
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    with open(os.environ["RESULTS_FILE"], "a") as out:
        out.write(json.dumps([perceptron_mock_recorded.mode, done.choices[0].message.content, streamed]) + "\\n")
"""


def test_a_test_recorded_against_an_upstream_replays_the_same_answers_without_it(pytester: pytest.Pytester, monkeypatch, tmp_path):
    from tests.helpers import threaded_mock

    results = tmp_path / "results.jsonl"
    monkeypatch.setenv("RESULTS_FILE", str(results))
    monkeypatch.setenv("PERCEPTRON_API_KEY", "sk-upstream-only-9d1e77")
    pytester.makepyfile(test_recorded=RECORDED_TEST)
    with threaded_mock(api_keys=["sk-upstream-only-9d1e77"]) as upstream:
        recorded = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--perceptron-mock-record", upstream.base_url)
    recorded.assert_outcomes(passed=1)
    monkeypatch.delenv("PERCEPTRON_API_KEY")
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)  # the upstream is gone
    live, replayed = [json.loads(line) for line in results.read_text().splitlines()]
    assert live[0] == "record" and replayed[0] == "replay"
    assert replayed[1:] == live[1:] and live[1] and live[2]
    stored = sorted((pytester.path / "recordings" / "test_recorded" / "test_answers").iterdir())
    assert [p.name for p in stored] == ["0001-describe-the-dock-json-200.yaml", "0002-stream-it-stream-200.yaml"]
    assert not any("sk-upstream-only-9d1e77" in p.read_text() for p in stored)


def test_replay_without_recordings_fails_saying_how_to_record(pytester: pytest.Pytester):
    pytester.makepyfile(test_unrecorded="def test_x(perceptron_mock_recorded):\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no recordings for this test in *recordings/test_unrecorded/test_x: run it once with --perceptron-mock-record URL*"])


def test_record_mode_needs_the_upstream_key_in_the_environment(pytester: pytest.Pytester, monkeypatch):
    monkeypatch.delenv("PERCEPTRON_API_KEY", raising=False)
    pytester.makepyfile(test_unrecorded="def test_x(perceptron_mock_recorded):\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--perceptron-mock-record", "http://127.0.0.1:9/v1")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*--perceptron-mock-record needs the upstream key in $PERCEPTRON_API_KEY*"])
