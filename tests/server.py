"""Start the real server in a subprocess, on a free port, for tests to talk to over a real socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Iterator
from urllib.parse import urlsplit

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen, timeout: float = 10.0) -> bool:
    """Terminate, and kill what does not exit within ``timeout``: a wedged server must neither hang
    the caller nor outlive it. True when it exited on SIGTERM, False when it had to be killed."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False


@contextmanager
def declared_body(
    url: str, length: int, timeout: float = 10.0, path: str = "/v1/chat/completions", **headers: str
) -> Iterator[socket.socket]:
    """A connection to ``url`` that has sent the head of ``POST <path>`` declaring a JSON (or another
    ``content_type``) body of ``length`` bytes, and none of the body: what comes back was decided
    before any of it was read. ``headers`` are added to the head (``authorization="Bearer k"``)."""
    address = urlsplit(url)
    content_type = headers.pop("content_type", "application/json")
    fields = {"host": "mock", "content-type": content_type, **headers, "content-length": str(length)}
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
    with socket.create_connection((address.hostname, address.port), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1"))
        yield sock


def answer_to_head(url: str, length: int, **options: str) -> tuple[int, bytes, bytes]:
    """(status, head, body) of the answer to ``declared_body(url, length, **options)``, read until the
    server closes the connection."""
    with declared_body(url, length, **options) as sock:
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head, body


@dataclass
class RunningServer:
    url: str  # http://127.0.0.1:PORT
    process: subprocess.Popen
    log: IO[bytes] | None = None  # what the server printed

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def output(self) -> str:
        """Everything the server has printed so far (warnings, tracebacks)."""
        return _read(self.log) if self.log is not None else ""


def _read(log: IO[bytes]) -> str:
    # pread, not seek and read: the server writes through the same file offset, which must stay at the end.
    size = os.fstat(log.fileno()).st_size
    return os.pread(log.fileno(), size, 0).decode("utf-8", errors="replace")


@contextmanager
def run_server(
    *args: str, env: dict[str, str] | None = None, timeout: float = 20.0, command: tuple[str, ...] = ()
) -> Iterator[RunningServer]:
    """``python -m perceptron_mock [command] --port <free> *args``, waited for on /health, stopped on exit."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PERCEPTRON_MOCK_")}
    full_env.update(env or {})
    log = tempfile.TemporaryFile()  # what the server printed (warnings, tracebacks); gone on exit
    process = subprocess.Popen(
        [sys.executable, "-m", "perceptron_mock", *command, "--port", str(port), "--log-level", "warning", *args],
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}:\n{_read(log)}")
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start within {timeout}s:\n{_read(log)}")
            time.sleep(0.05)
        try:
            yield RunningServer(url=url, process=process, log=log)
        except Exception as error:  # a test failing inside the block shows what the server logged
            error.add_note(f"server log:\n{_read(log)}")
            raise
    finally:
        stop(process)
        log.close()
