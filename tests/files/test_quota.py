"""The media upload quota ("20 GB per 48 hours" per organization, lowered here): spent by stored uploads,
refused as the perceptron SDK's ``QuotaExceededError``, checked by declared length before reading, and
shared by every server on one Redis."""

from __future__ import annotations

import time

import orjson
import perceptron
import pytest
from perceptron.errors import QuotaExceededError

from perceptron_mock.exchange import Exchange
from perceptron_mock.files.quota import UploadQuota
from perceptron_mock.protocol.errors import APIError
from tests.helpers import image_bytes, threaded_mock
from tests.server import answer_to_head, free_port

PNG = image_bytes("PNG", (64, 48))


def sdk(server) -> perceptron.Client:
    return perceptron.Client(api_key="k", base_url=server.base_url)


def test_uploads_past_the_quota_are_a_quota_error_and_refused_ones_spend_nothing(tmp_path):
    with threaded_mock(files_dir=tmp_path, upload_quota_bytes=2 * len(PNG)) as server, sdk(server) as client:
        client.files.upload(PNG)
        client.files.upload(PNG)
        with pytest.raises(QuotaExceededError) as caught:
            client.files.upload(PNG)
        error = caught.value
        assert (error.status_code, error.code, error.error_type) == (429, "insufficient_quota", "insufficient_quota")
        assert f"{2 * len(PNG)} bytes per 48 hours" in str(error)
        assert len(client.files.list().data) == 2  # the refused upload was not kept
        server.reset()  # a fresh start: files gone, quota full
        client.files.upload(PNG)


def test_a_declared_length_past_the_quota_is_refused_before_the_body_is_read(tmp_path):
    with threaded_mock(files_dir=tmp_path, upload_quota_bytes=1000) as server:
        # A declared 100 MB against a 1000-byte quota, and not a byte of it sent.
        status, _, body = answer_to_head(server.url, 100 * 1024 * 1024, path="/v1/files", authorization="Bearer k",
                                         content_type="multipart/form-data; boundary=b")
        assert (status, orjson.loads(body)["error"]["code"]) == (429, "insufficient_quota")


def test_the_window_rolls_spent_bytes_back_in():
    async def scenario():
        quota = UploadQuota(100, 0.2)
        exchange = Exchange()
        await quota.spend(exchange, 80)
        with pytest.raises(APIError):
            await quota.spend(exchange, 30)
        time.sleep(0.25)
        await quota.spend(exchange, 30)

    import asyncio

    asyncio.run(scenario())


def test_servers_on_one_redis_spend_one_quota(redis_url, tmp_path):
    settings = {"files_dir": tmp_path, "upload_quota_bytes": 2 * len(PNG), "rate_limit_storage": redis_url}
    with threaded_mock(**settings) as first, threaded_mock(**settings) as second:
        first.reset()  # this module's Redis may hold an earlier test's uploads
        with sdk(first) as a, sdk(second) as b:
            a.files.upload(PNG)
            b.files.upload(PNG)
            for client in (a, b):
                with pytest.raises(QuotaExceededError):
                    client.files.upload(PNG)


def test_an_upload_while_redis_is_gone_is_a_503_and_keeps_nothing(tmp_path):
    gone = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    files_dir = tmp_path / "files"
    with threaded_mock(files_dir=files_dir, rate_limit_storage=gone, rate_limit_per_minute=0) as server, sdk(server) as client:
        with pytest.raises(perceptron.ServerError) as caught:
            client.files.upload(PNG)
        assert (caught.value.status_code, caught.value.code) == (503, "storage_unavailable")
    assert list(files_dir.iterdir()) == []
