"""A multipart upload read as it arrives: form fields kept (small, few), the file part streamed to disk.

python-multipart's streaming parser splits the body; the file's bytes go to a part file in the files
directory in batches written off the event loop, so an upload holds about ``FLUSH_BYTES`` in memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from perceptron_mock.asgi import ClientDisconnected, Receive
from perceptron_mock.files.sniff import HEAD_BYTES
from perceptron_mock.files.store import FileStore
from perceptron_mock.protocol.errors import APIError, clip, invalid

FLUSH_BYTES = 1024 * 1024  # file bytes gathered before a write to disk
MAX_PARTS = 8  # form parts an upload may have: it needs two (purpose, file)
MAX_FIELD_BYTES = 1024  # of a form field other than the file (purpose is a word)
MAX_HEADER_BYTES = 4096  # of one part header line (a filename lives there)
MAX_HEADERS = 8  # per part


def file_too_large(limit: int) -> APIError:
    return APIError(
        413,
        f"The file is larger than the upload limit of {limit} bytes ({limit / 1024 / 1024:g} MiB).",
        param="file",
        code="file_too_large",
        headers={"connection": "close"},  # stop the client's upload rather than drain it
    )


def bad_multipart(detail: str) -> APIError:
    return invalid(f"Invalid multipart/form-data body: {detail}.", None, "invalid_multipart")


@dataclass
class Received:
    """What the body held: its form fields, and the file part (streamed to ``part``) if there was one."""

    part: Path
    fields: dict[str, str] = field(default_factory=dict)
    has_file: bool = False
    filename: str | None = None
    declared_type: str | None = None  # the file part's Content-Type
    size: int = 0
    head: bytes = b""  # its first bytes, for sniffing
    sha256: str = ""


class UploadReader:
    """Reads one upload's body from ``receive`` into ``Received``; raises ``APIError`` (4xx) on a bad body."""

    def __init__(self, boundary: bytes, store: FileStore, *, max_file_bytes: int) -> None:
        self.max_file_bytes = max_file_bytes
        fd, path = store.new_part()
        self.out = os.fdopen(fd, "wb")
        self.received = Received(part=path)
        self._hash = hashlib.sha256()
        self._buffer = bytearray()
        self._parts = 0
        self._ended = False
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._target: str | None = None  # "file", a field name, or None between parts
        callbacks = {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header_name.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_end": self._end,
        }
        self.parser = MultipartParser(boundary, callbacks, max_header_count=MAX_HEADERS, max_header_size=MAX_HEADER_BYTES)

    # --- parser callbacks (synchronous; a refusal raised here stops the parser mid-chunk) -----------

    def _part_begin(self) -> None:
        self._parts += 1
        self._headers.clear()
        self._target = None
        if self._parts > MAX_PARTS:
            raise bad_multipart(f"more than {MAX_PARTS} parts; an upload has two, purpose and file")

    def _header_end(self) -> None:
        self._headers[bytes(self._header_name).decode("latin-1").strip().lower()] = bytes(self._header_value).strip()
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get("content-disposition"))
        name = options.get(b"name")
        if disposition != b"form-data" or name is None:
            raise bad_multipart("each part needs a 'Content-Disposition: form-data; name=...' header")
        text = name.decode("utf-8", errors="replace")
        received = self.received
        if text == "file":
            if received.has_file:
                raise invalid("The upload has more than one 'file' part; send one file per upload.", "file", "invalid_parameter")
            received.has_file = True
            filename = options.get(b"filename")
            if filename is not None:
                received.filename = filename.decode("utf-8", errors="replace")
            declared = self._headers.get("content-type")
            received.declared_type = parse_options_header(declared)[0].decode("latin-1") if declared else None
        elif text in received.fields:
            raise invalid(f"The upload repeats the form field '{clip(text)}'.", clip(text), "invalid_parameter")
        else:
            received.fields[text] = ""
        self._target = text

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._target is None:
            return
        received = self.received
        if self._target == "file":
            received.size += end - start
            if received.size > self.max_file_bytes:
                raise file_too_large(self.max_file_bytes)
            if len(received.head) < HEAD_BYTES:
                received.head += data[start : min(end, start + HEAD_BYTES - len(received.head))]
            self._buffer += data[start:end]
            return
        value = received.fields[self._target] + data[start:end].decode("utf-8", errors="replace")
        if len(value) > MAX_FIELD_BYTES:
            raise invalid(f"The form field '{clip(self._target)}' is too long.", clip(self._target), "invalid_parameter")
        received.fields[self._target] = value

    def _end(self) -> None:
        self._ended = True

    # --- the body ----------------------------------------------------------------------------------

    def _flush(self, chunk: bytearray) -> None:
        self.out.write(chunk)
        self._hash.update(chunk)

    async def read(self, receive: Receive) -> Received:
        """The whole body, parsed; the file part is on disk (closed) when this returns. On any error the
        part file is the caller's to remove (``discard``)."""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected
            chunk = message.get("body", b"")
            if chunk and not self._ended:
                try:
                    self.parser.write(chunk)
                except MultipartParseError as exc:
                    raise bad_multipart(str(exc).rstrip(".")[:200]) from None
                if len(self._buffer) >= FLUSH_BYTES:
                    batch, self._buffer = self._buffer, bytearray()
                    await asyncio.to_thread(self._flush, batch)
            if not message.get("more_body", False):
                break
        if not self._ended:
            raise bad_multipart("it ended before its closing boundary (truncated)")
        batch, self._buffer = self._buffer, bytearray()
        await asyncio.to_thread(self._flush, batch)
        self.out.close()
        self.received.sha256 = self._hash.hexdigest()
        return self.received

    def discard(self) -> None:
        self.out.close()
        self.received.part.unlink(missing_ok=True)
