"""A throwaway redis-server on a free port, for tests of what workers share through Redis.

Each use starts its own server (no persistence, loopback only) and stops it afterwards, so the tests
need nothing running beforehand; ``scripts/test.sh`` installs Debian's ``redis-server`` when missing.
``RedisServer`` can be stopped and started again on the same port, as a restarted Redis is, and
``ForgetfulHop`` stands between a client and it like a container network whose Redis was replaced.
"""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from tests.server import free_port, stop


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A redis-server on ``port`` that ``stop()`` and ``start()`` take down and bring back on the same port."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise RuntimeError("redis-server is not installed: scripts/test.sh installs it (apt-get install redis-server)")
        self.port = free_port()
        self.timeout = timeout
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self.timeout
        while not _ping(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer within {self.timeout}s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None


@contextmanager
def redis_server(timeout: float = 10.0) -> Iterator[RedisServer]:
    """A started ``RedisServer``, stopped on exit."""
    server = RedisServer(timeout)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextmanager
def run_redis(timeout: float = 10.0) -> Iterator[str]:
    """Start ``redis-server`` and yield its URL (``redis://127.0.0.1:PORT/0``)."""
    with redis_server(timeout) as server:
        yield server.url


class ForgetfulHop:
    """A TCP hop to a Redis that can ``forget()`` its connections as a replaced container's network does:
    the client is told nothing, and the next thing it sends on one is answered with a reset (RST).
    New connections go through as before."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._pairs: list[tuple[socket.socket, socket.socket, list[bool]]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            forgotten = [False]
            with self._lock:
                self._pairs.append((client, upstream, forgotten))
            threading.Thread(target=self._pump, args=(client, upstream, forgotten, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, forgotten, False), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, forgotten: list[bool], from_client: bool) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if forgotten[0]:
                if from_client and data:  # the client speaks on a connection nobody knows any more
                    source.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    source.close()
                return  # and never a FIN to the client
            if not data:
                for sock in (source, sink):
                    sock.close()
                return
            try:
                sink.sendall(data)
            except OSError:
                return

    def forget(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for _, upstream, forgotten in pairs:
            forgotten[0] = True
            try:
                upstream.shutdown(socket.SHUT_RDWR)  # wakes the pump blocked reading it
            except OSError:
                pass
            upstream.close()

    def close(self) -> None:
        self.listener.close()
        self.forget()
