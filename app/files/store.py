"""The files directory: each upload's bytes (``<id>.bin``) with its metadata beside it (``<id>.json``).

Paths are made from ids only, and an id is checked against the service's form first, so no client
text (a filename, an id from a URL) ever becomes a path. Ids grow with time, which orders and pages the list.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from perceptron_mock.files.sniff import SUPPORTED

FILE_ID = re.compile(r"file-[A-Za-z0-9]{22}")  # the perceptron SDK's own check (_lowering.py)
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # in ASCII order, so ids sort by time
_STAMP_DIGITS = 11  # microseconds since 1970 in base 62: good for ~1.6 million years
PART_PREFIX = ".part-"  # an upload being received; never listed, removed when it fails


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(_BASE62[digit])
    return "".join(reversed(digits))


def new_id(now_ns: int | None = None) -> str:
    """``file-`` + 22 alphanumerics: the creation time in microseconds, then 11 random digits."""
    stamp = (time.time_ns() if now_ns is None else now_ns) // 1000
    random = "".join(secrets.choice(_BASE62) for _ in range(22 - _STAMP_DIGITS))
    return f"file-{_base62(stamp, _STAMP_DIGITS)}{random}"


def is_file_id(text: str) -> bool:
    return FILE_ID.fullmatch(text) is not None


@dataclass(frozen=True)
class StoredFile:
    id: str
    bytes: int
    created_at: int
    filename: str
    purpose: str
    mime: str  # sniffed from the bytes; the content download's Content-Type
    sha256: str

    @property
    def modality(self) -> str | None:
        """"image", "video" or "audio": the kind of content part that may reference it."""
        return SUPPORTED.get(self.mime)

    def public(self) -> dict:
        """The service's File object (no MIME type: the content download's Content-Type carries it)."""
        return {
            "object": "file",
            "id": self.id,
            "bytes": self.bytes,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
        }


class FileStore:
    """Every worker of a server (and any server given the same ``directory``) sees the same files."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _paths(self, file_id: str) -> tuple[Path, Path] | None:
        if not is_file_id(file_id):
            return None
        return self.directory / f"{file_id}.bin", self.directory / f"{file_id}.json"

    def new_part(self) -> tuple[int, Path]:
        """An open descriptor and the path of a fresh, empty file for an upload being received."""
        fd, name = tempfile.mkstemp(prefix=PART_PREFIX, dir=self.directory)
        return fd, Path(name)

    def commit(self, part: Path, meta: StoredFile) -> None:
        """Give the received ``part`` its place: the bytes first, then the metadata, which makes it visible."""
        paths = self._paths(meta.id)
        assert paths is not None
        data, info = paths
        os.replace(part, data)
        fd, staged = tempfile.mkstemp(prefix=PART_PREFIX, dir=self.directory)
        with os.fdopen(fd, "wb") as out:
            out.write(orjson.dumps(asdict(meta)))
        os.replace(staged, info)

    def get(self, file_id: str) -> StoredFile | None:
        paths = self._paths(file_id)
        if paths is None:
            return None
        try:
            raw = paths[1].read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return StoredFile(**orjson.loads(raw))

    def open_content(self, file_id: str):
        """The stored bytes, opened for reading (a file deleted meanwhile stays readable through it), or None."""
        paths = self._paths(file_id)
        if paths is None or not paths[1].exists():
            return None
        try:
            return open(paths[0], "rb")
        except FileNotFoundError:
            return None

    def content_path(self, file_id: str) -> Path | None:
        paths = self._paths(file_id)
        return None if paths is None else paths[0]

    def delete(self, file_id: str) -> bool:
        """Remove a file: its metadata first, so that it is gone for every reader at once. False if unknown."""
        paths = self._paths(file_id)
        if paths is None:
            return False
        try:
            paths[1].unlink()
        except FileNotFoundError:
            return False
        paths[0].unlink(missing_ok=True)
        return True

    def ids(self) -> list[str]:
        """Every stored id, oldest first."""
        found = []
        with os.scandir(self.directory) as entries:
            for entry in entries:
                name = entry.name
                if name.endswith(".json") and is_file_id(name[:-5]):
                    found.append(name[:-5])
        found.sort()
        return found

    def page(self, *, purpose: str | None, limit: int, order: str, after: str | None) -> tuple[list[StoredFile], bool]:
        """One page of the list: up to ``limit`` files after the cursor ``after`` in ``order``, and whether
        more follow. The cursor need not exist any more: ids sort by creation, so it still marks a place."""
        ids = self.ids()
        if order == "desc":
            ids.reverse()
        if after is not None:
            ids = [i for i in ids if (i > after if order == "asc" else i < after)]
        out: list[StoredFile] = []
        for file_id in ids:
            meta = self.get(file_id)
            if meta is None or (purpose is not None and meta.purpose != purpose):
                continue
            if len(out) == limit:
                return out, True
            out.append(meta)
        return out, False

    def clear(self) -> int:
        """Remove every file (an upload being received is left to finish); the number removed."""
        return sum(self.delete(file_id) for file_id in self.ids())


def temporary_files_dir() -> Path:
    """A fresh directory for a server without ``--files-dir``; its owner removes it (``remove_dir``)."""
    return Path(tempfile.mkdtemp(prefix="perceptron-mock-files-"))


def remove_dir(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
