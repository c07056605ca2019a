"""The files directory: ids of the service's form that sort by creation, no path made from anything but
a checked id, and list pages that keep their place across deletions."""

from __future__ import annotations

import os

import pytest

from perceptron_mock.files.store import FileStore, StoredFile, is_file_id, new_id


def stored(store: FileStore, file_id: str, purpose: str = "vision") -> StoredFile:
    fd, part = store.new_part()
    os.write(fd, b"bytes")
    os.close(fd)
    meta = StoredFile(id=file_id, bytes=5, created_at=0, filename="f", purpose=purpose, mime="image/png", sha256="0" * 64)
    store.commit(part, meta)
    return meta


def test_ids_have_the_service_form_and_sort_by_creation_time():
    earlier, later = new_id(1_700_000_000_000_000_000), new_id(1_700_000_000_000_001_000)
    assert is_file_id(earlier) and is_file_id(later)
    assert earlier < later
    assert len({new_id(5) for _ in range(1000)}) == 1000  # the same microsecond still gives distinct ids


@pytest.mark.parametrize("hostile", ["../escape", "file-a/../b", "/etc/passwd", "file-" + "A" * 21 + "/", "file-" + "A" * 22 + "\x00"])
def test_a_string_that_is_not_a_file_id_never_reaches_the_filesystem(tmp_path, hostile):
    store = FileStore(tmp_path / "files")
    assert store.get(hostile) is None and store.open_content(hostile) is None and store.delete(hostile) is False
    assert store.content_path(hostile) is None


def test_pages_follow_the_cursor_in_either_order_and_filter_by_purpose(tmp_path):
    store = FileStore(tmp_path)
    ids = [new_id(n * 1000) for n in range(1, 6)]
    for i, file_id in enumerate(ids):
        stored(store, file_id, "vision" if i % 2 == 0 else "user_data")

    page, more = store.page(purpose=None, limit=2, order="asc", after=None)
    assert ([f.id for f in page], more) == (ids[:2], True)
    page, more = store.page(purpose=None, limit=2, order="desc", after=ids[2])
    assert ([f.id for f in page], more) == ([ids[1], ids[0]], False)
    page, more = store.page(purpose="vision", limit=10, order="asc", after=None)
    assert ([f.id for f in page], more) == ([ids[0], ids[2], ids[4]], False)
    page, more = store.page(purpose="vision", limit=3, order="asc", after=None)
    assert more is False  # exactly a page's worth is not "more"


def test_a_deleted_file_is_gone_for_readers_and_clear_empties_the_directory(tmp_path):
    store = FileStore(tmp_path)
    first, second = stored(store, new_id()), stored(store, new_id())
    assert store.delete(first.id) and not store.delete(first.id)
    assert store.get(first.id) is None and store.get(second.id) == second
    assert store.clear() == 1 and os.listdir(tmp_path) == []
