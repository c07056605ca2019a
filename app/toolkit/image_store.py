"""The images of recent requests, by sha256, in a store bounded by bytes (``--journal-image-bytes``).

The journal shortens a large data-URL image in the body it keeps; the live view (``/_admin/ui``) shows
it from here. The oldest image goes first when a new one would pass the bound; one larger than it is
not kept.
"""

from __future__ import annotations

import binascii
import hashlib
import threading
from collections import OrderedDict

from perceptron_mock.protocol.data_urls import Body, data_url_spans

_MIN_URL = len("data:image/x;base64,") + 1  # any data URL that can hold an image at all


class ImageStore:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._images: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._lock = threading.Lock()  # large bodies' images are kept from a worker thread

    def put(self, media_type: str, data: bytes) -> str:
        """Keep ``data`` (if it fits) and return its sha256, by which the page asks for it."""
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            if digest in self._images:
                self._images.move_to_end(digest)
            elif len(data) <= self.max_bytes:
                while self.size + len(data) > self.max_bytes:
                    _, (_, dropped) = self._images.popitem(last=False)
                    self.size -= len(dropped)
                self._images[digest] = (media_type, data)
                self.size += len(data)
        return digest

    def get(self, digest: str) -> tuple[str, bytes] | None:
        with self._lock:
            return self._images.get(digest)

    def clear(self) -> None:
        with self._lock:
            self._images.clear()
            self.size = 0

    def __len__(self) -> int:
        return len(self._images)


def keep_images(store: ImageStore, body: Body) -> list[str | None]:
    """Decode each data-URL image of ``body`` into ``store``; their sha256 in the order of the body
    (None for one that is not base64), the order ``perceptron_mock.toolkit.journal`` shortens them in."""
    kept: list[str | None] = []
    view = memoryview(body)
    for start, end in data_url_spans(body, _MIN_URL):
        comma = body.find(b",", start, end)
        header = bytes(view[start + 5 : comma]) if comma > 0 else b""
        if not header.endswith(b";base64") or not header.isascii():
            kept.append(None)
            continue
        try:
            data = binascii.a2b_base64(view[comma + 1 : end], strict_mode=True)
        except binascii.Error:
            kept.append(None)
            continue
        kept.append(store.put(header[: -len(b";base64")].decode(), data))
    return kept
