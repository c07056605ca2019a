"""Uploads kept by the real server process: in a --files-dir they survive a restart; without one, every
worker shares the start-up's temporary directory, which is gone when the server exits."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import perceptron

from tests.helpers import image_bytes
from tests.server import run_server

PNG = image_bytes("PNG", (40, 30))


def test_uploads_survive_a_restart_with_a_files_dir(tmp_path):
    files_dir = tmp_path / "uploads"
    with run_server("--files-dir", str(files_dir)) as server, perceptron.Client(api_key="k", base_url=server.base_url) as client:
        uploaded = client.files.upload(PNG, filename="kept.png")
    with run_server("--files-dir", str(files_dir)) as server, perceptron.Client(api_key="k", base_url=server.base_url) as client:
        assert client.files.retrieve(uploaded.id) == uploaded
        assert client.files.content(uploaded.id) == PNG
        assert [f.id for f in client.files.list()] == [uploaded.id]
        part = {"type": "image_file_id", "image_file_id": {"file_id": uploaded.id}}
        answer = client.chat.completions.create(messages=[{"role": "user", "content": [part, {"type": "text", "text": "Hi"}]}])
        assert answer.text


def test_workers_share_the_temporary_directory_which_goes_at_exit(tmp_path):
    with run_server("--workers", "2", env={"TMPDIR": str(tmp_path)}) as server:
        uploaded = httpx.post(server.url + "/v1/files", files={"file": ("a.png", PNG, "image/png")},
                              data={"purpose": "vision"}, headers={"authorization": "Bearer k"}).json()
        # New connections land on either worker: each one knows the file.
        for _ in range(8):
            with httpx.Client(base_url=server.url, headers={"authorization": "Bearer k"}) as http:
                assert http.get(f"/v1/files/{uploaded['id']}").status_code == 200
        [made] = [p for p in Path(tmp_path).iterdir() if re.match(r"perceptron-mock-files-", p.name)]
        assert (made / f"{uploaded['id']}.bin").read_bytes() == PNG
    assert not made.exists()
