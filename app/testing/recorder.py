"""``ThreadedRecorder``: the recording proxy (``perceptron-mock record``) in a thread of this process, for the
pytest plugin's record mode and for tests; ports are bound before it starts, as ``ThreadedMock``'s."""

from __future__ import annotations

from pathlib import Path

from perceptron_mock.testing.server_thread import ServerThread


class ThreadedRecorder:
    """A recording proxy to ``upstream`` (the SDKs' base URL) writing to ``directory``."""

    def __init__(self, upstream: str, directory: Path, *, upstream_key: str | None = None, timeout: float = 600.0) -> None:
        from perceptron_mock.contract.proxy import RecordingProxy

        self.directory = Path(directory)
        self.proxy = RecordingProxy(upstream, self.directory, upstream_key=upstream_key, timeout=timeout)
        self._server_thread = ServerThread(self.proxy, name="perceptron-mock-record", lifespan="on")
        self.url = self._server_thread.url

    @property
    def base_url(self) -> str:
        """What the SDKs take as ``base_url``."""
        return self.url + "/v1"

    def start(self) -> "ThreadedRecorder":
        self._server_thread.start()
        return self

    def stop(self) -> None:
        self._server_thread.stop()

    def __enter__(self) -> "ThreadedRecorder":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
