"""``ServerThread``: an ASGI app under uvicorn in a daemon thread of this process, for the pytest plugin's
mock and recording proxy; its port is bound before it starts, so that it is known at once (safe under xdist)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

START_TIMEOUT = 30.0


class ServerThread:
    """``app`` served on ``url`` (127.0.0.1, a free port) as the CLI serves it, between ``start`` and ``stop``."""

    def __init__(self, app: Any, *, name: str, lifespan: str = "auto") -> None:
        import uvicorn

        from perceptron_mock.guards.head_reader import HeadLimitedHttpTools

        self.name = name
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            app,
            http=HeadLimitedHttpTools,  # as the CLI serves it
            log_level="warning",
            access_log=False,
            server_header=False,
            lifespan=lifespan,
            # A request held by a "hang" fault must not hold up the end of the test session.
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._socket]}, name=f"{name}:{port}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"{self.name} failed to start (see the captured log)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start within {START_TIMEOUT:g}s")
            time.sleep(0.005)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()
