"""The pytest plugin (entry point ``pytest11``): the ``perceptron_mock`` fixture (docs: "pytest fixture").

The real app under uvicorn in a thread, on a port bound before it starts (safe under xdist); importing
this module costs nothing, since pytest imports it in every project that has the mock installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from perceptron_mock.testing.client import MockClient
from perceptron_mock.testing.server_thread import ServerThread

MARKER = "perceptron_mock"
DEFAULT_KEY = "test-key"


RECORD_OPTION = "--perceptron-mock-record"
RECORDINGS_OPTION = "--perceptron-mock-recordings"
UPSTREAM_KEY_ENV = "PERCEPTRON_API_KEY"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("perceptron-mock")
    group.addoption(
        RECORD_OPTION,
        metavar="URL",
        default=None,
        help="run the tests that use perceptron_mock_recorded against URL (the SDKs' base URL) through the "
        f"recording proxy, with the key in ${UPSTREAM_KEY_ENV}, and store each test's recordings; "
        "without it they replay the stored recordings",
    )
    group.addoption(
        RECORDINGS_OPTION,
        metavar="DIR",
        default=None,
        help="where recordings are stored, one folder per test module and test (default: recordings/ beside each test file)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**settings): give this test its own perceptron-mock server with these settings "
        "(field names of perceptron_mock.settings.Settings, e.g. api_keys=['k'], context_tokens=2048).",
    )


def _settings(overrides: dict[str, Any]) -> Any:
    from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

    from perceptron_mock.settings import Settings

    class PluginSettings(Settings):
        """Defaults and the marker's values only: no environment variables, no dotenv."""

        @classmethod
        def settings_customise_sources(
            cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource, *args: Any, **kwargs: Any
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings,)

    return PluginSettings(**{"host": "127.0.0.1", "port": 0, **overrides})


class ThreadedMock(MockClient):
    """A mock server running in a thread of this process, and the client that drives it."""

    def __init__(self, **settings: Any) -> None:
        from perceptron_mock.main import create_app

        self.settings = _settings(settings)
        self._server_thread = ServerThread(create_app(self.settings), name="perceptron-mock")
        api_key = self.settings.api_keys[0] if self.settings.api_keys else DEFAULT_KEY
        super().__init__(self._server_thread.url, api_key=api_key, admin_key=self.settings.admin_key)

    def start(self) -> "ThreadedMock":
        self._server_thread.start()
        return self

    def stop(self) -> None:
        self._server_thread.stop()


@pytest.fixture(scope="session")
def perceptron_mock_server() -> Iterator[ThreadedMock]:
    """The mock on default settings that this test process (this xdist worker) shares between tests;
    prefer ``perceptron_mock``, which also resets it."""
    mock = ThreadedMock().start()
    yield mock
    mock.stop()


@pytest.fixture
def perceptron_mock(request: pytest.FixtureRequest) -> Iterator[ThreadedMock]:
    """A running perceptron-mock, in the state of a fresh start: ``.base_url`` and ``.api_key`` for the
    client under test, ``.requests()`` for the journal, ``.fail_next()`` and ``.fault_header()`` for
    faults, ``.add_fixture()`` for answers, ``.openai_client()`` / ``.perceptron_client()``."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None and (marker.kwargs or marker.args):
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.{MARKER} takes settings as keywords only")
        mock = ThreadedMock(**marker.kwargs).start()
        try:
            yield mock
        finally:
            mock.stop()
        return
    mock = request.getfixturevalue("perceptron_mock_server")
    mock.reset()
    # Scoped to this test (X-Mock-Test-Id) as on a mock that many runs share: the SDK clients it hands
    # out and its admin calls carry the id; requests from clients made elsewhere are in the shared scope.
    mock.test_id = id_for_node(request.node.nodeid)
    try:
        yield mock
    finally:
        mock.test_id = None


def id_for_node(nodeid: str) -> str:
    """A pytest node id as a test id: kept whole up to the header's limit, else shortened with its digest."""
    import hashlib

    text = "".join(ch if " " <= ch <= "~" else "?" for ch in nodeid)
    return text if len(text) <= 200 else text[:183] + "#" + hashlib.sha256(nodeid.encode()).hexdigest()[:16]


@pytest.fixture
def perceptron_mock_recorded(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The service as this test recorded it (docs: "pytest fixture", record and replay): with
    ``--perceptron-mock-record URL``, a recording proxy to ``URL`` that stores the test's recordings
    (the upstream key from ``$PERCEPTRON_API_KEY``, never written); without it, a mock that answers from
    them only (``--unmatched error``). Either way: ``.base_url``, ``.api_key``, ``.openai_client()``..."""
    import os
    import shutil

    from perceptron_mock.testing.recorder import ThreadedRecorder

    directory = recordings_dir(request)
    upstream = request.config.getoption(RECORD_OPTION)
    if upstream is None:
        if not directory.is_dir():
            pytest.fail(f"no recordings for this test in {directory}: run it once with {RECORD_OPTION} URL", pytrace=False)
        mock = ThreadedMock(fixtures_dir=directory, unmatched="error", fixtures_reload_seconds=0).start()
        mock.mode = "replay"
        try:
            yield mock
        finally:
            mock.stop()
        return
    key = os.environ.get(UPSTREAM_KEY_ENV)
    if not key:
        pytest.fail(f"{RECORD_OPTION} needs the upstream key in ${UPSTREAM_KEY_ENV}", pytrace=False)
    shutil.rmtree(directory, ignore_errors=True)  # a test recorded again keeps only what it sends now
    with ThreadedRecorder(upstream, directory, upstream_key=key) as recorder:
        client = MockClient(recorder.url, api_key=DEFAULT_KEY)  # the SDK clients it hands out; the key is swapped
        client.mode = "record"
        yield client


def recordings_dir(request: pytest.FixtureRequest) -> Path:
    """``recordings/<module>/<test>`` beside the test file, or under ``--perceptron-mock-recordings``."""
    import re

    base = request.config.getoption(RECORDINGS_OPTION)
    module = request.node.path
    root = Path(base) if base else module.parent / "recordings"
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")[:120]
    return root / module.stem / name
