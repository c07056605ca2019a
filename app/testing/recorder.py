"""``ThreadedRecorder``: the recording proxy (``perceptron-mock record``) in a thread of this process, for the
pytest plugin's record mode and for tests; ports are bound before it starts, as ``ThreadedMock``'s."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

START_TIMEOUT = 30.0


class ThreadedRecorder:
    """A recording proxy to ``upstream`` (the SDKs' base URL) writing to ``directory``."""

    def __init__(self, upstream: str, directory: Path, *, upstream_key: str | None = None, timeout: float = 600.0) -> None:
        import uvicorn

        from perceptron_mock.contract.proxy import RecordingProxy
        from perceptron_mock.guards.head_reader import HeadLimitedHttpTools

        self.directory = Path(directory)
        self.proxy = RecordingProxy(upstream, self.directory, upstream_key=upstream_key, timeout=timeout)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            self.proxy,
            http=HeadLimitedHttpTools,  # as the record command serves it
            log_level="warning",
            access_log=False,
            server_header=False,
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name=f"perceptron-mock-record:{port}", daemon=True
        )

    @property
    def base_url(self) -> str:
        """What the SDKs take as ``base_url``."""
        return self.url + "/v1"

    def start(self) -> "ThreadedRecorder":
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the recording proxy did not start (see the captured log)")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> "ThreadedRecorder":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
