"""The whole OpenAI batch workflow through the official ``openai`` SDK (3.x), in process and over
HTTP to a real ``batchsim serve``, sync and async: upload, create, poll as the virtual clock
moves, download; every raw object checked against OpenAI's own schema."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import openai
from openai_helpers import CHAT, MODEL, Target, assert_schema, chat_lines, jsonl, read_lines, refused

# The default scenario: validating 10 s, then each request starts 1 s later and takes 2 s, then
# finalizing 10 s.
VALIDATED, LAST_FINISH, ENDED = 10, 13, 23


def raw_batch(client: openai.OpenAI, batch_id: str) -> dict[str, Any]:
    """The Batch JSON the API answered (not the SDK's model of it), checked against the schema."""
    response = client.batches.with_raw_response.retrieve(batch_id)
    assert response.headers["x-request-id"].startswith("req_")
    data: dict[str, Any] = response.http_response.json()
    assert_schema(data, "Batch")
    return data


def test_upload_create_poll_download(target: Target) -> None:
    client = target.client()
    data = jsonl(chat_lines(3))
    uploaded = client.files.with_raw_response.create(
        file=("requests.jsonl", data), purpose="batch", expires_after={"anchor": "created_at", "seconds": 7200}
    )
    assert uploaded.headers["x-request-id"].startswith("req_")
    file_json = uploaded.http_response.json()
    assert_schema(file_json, "OpenAIFile")
    file = uploaded.parse()
    assert (file.purpose, file.bytes, file.filename, file.status) == ("batch", len(data), "requests.jsonl", "processed")
    assert file.expires_at == file.created_at + 7200
    assert client.files.wait_for_processing(file.id, poll_interval=0.001).status == "processed"
    assert client.files.content(file.id).content == data

    created = client.batches.with_raw_response.create(
        input_file_id=file.id,
        endpoint=CHAT,
        completion_window="24h",
        metadata={"job": "nightly"},
        output_expires_after={"anchor": "created_at", "seconds": 3600},
    )
    batch = created.parse()
    assert_schema(created.http_response.json(), "Batch")
    t0 = batch.created_at
    assert batch.status == "validating"
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (0, 0, 0)
    assert batch.expires_at == t0 + 86400
    assert (batch.endpoint, batch.input_file_id, batch.model) == (CHAT, file.id, MODEL)
    assert batch.metadata == {"job": "nightly"}
    assert batch.in_progress_at is None and batch.output_file_id is None

    target.advance(VALIDATED - 1)
    assert raw_batch(client, batch.id)["status"] == "validating"
    target.advance(1)
    seen = raw_batch(client, batch.id)
    assert seen["status"] == "in_progress"
    assert seen["in_progress_at"] == t0 + VALIDATED
    assert seen["request_counts"] == {"total": 3, "completed": 0, "failed": 0}
    target.advance(LAST_FINISH - VALIDATED)
    seen = raw_batch(client, batch.id)
    assert seen["status"] == "finalizing"
    assert seen["finalizing_at"] == t0 + LAST_FINISH
    assert seen["request_counts"] == {"total": 3, "completed": 3, "failed": 0}
    assert seen["output_file_id"] is None  # made when the batch has completed
    assert seen["usage"]["total_tokens"] == 0  # shown once the batch has ended
    target.advance(ENDED - LAST_FINISH)
    done = raw_batch(client, batch.id)
    assert done["status"] == "completed"
    assert done["completed_at"] == t0 + ENDED
    assert done["error_file_id"] is None and done["errors"] is None
    assert [done[k] for k in ("failed_at", "expired_at", "cancelling_at", "cancelled_at")] == [None] * 4
    assert done["usage"]["total_tokens"] == done["usage"]["input_tokens"] + done["usage"]["output_tokens"] > 0

    output = client.files.retrieve(done["output_file_id"])
    assert (output.purpose, output.status, output.created_at) == ("batch_output", "processed", t0 + ENDED)
    assert output.expires_at == output.created_at + 3600  # output_expires_after is anchored on the file
    lines = read_lines(client, output.id)
    assert sorted(item["custom_id"] for item in lines) == ["req-0", "req-1", "req-2"]
    assert output.bytes == len(client.files.content(output.id).content)
    for item in lines:
        assert item["id"].startswith("batch_req_") and item["error"] is None
        assert item["response"]["status_code"] == 200 and item["response"]["request_id"]
        assert item["response"]["body"]["object"] == "chat.completion"
    listed = client.files.with_raw_response.list()
    assert_schema(listed.http_response.json(), "ListFilesResponse")
    assert [f.id for f in listed.parse().data] == [output.id, file.id]  # newest first
    batches = client.batches.with_raw_response.list()
    assert_schema(batches.http_response.json(), "ListBatchesResponse")
    assert [b.id for b in batches.parse().data] == [batch.id]


def test_the_async_client(target: Target) -> None:
    async def main() -> tuple[str, list[str], str]:
        client = target.async_client()
        try:
            file = await client.files.create(file=("in.jsonl", jsonl(chat_lines(4, "a"))), purpose="batch")
            batch = await client.batches.create(input_file_id=file.id, endpoint=CHAT, completion_window="24h")
            target.advance(ENDED)
            done = await client.batches.retrieve(batch.id)
            assert done.output_file_id is not None
            content = await client.files.content(done.output_file_id)
            ids = sorted(json.loads(text)["custom_id"] for text in content.text.splitlines())
            listed = [b.id async for b in client.batches.list(limit=1)]
            assert listed == [batch.id]
            canceled = await client.batches.create(input_file_id=file.id, endpoint=CHAT, completion_window="24h")
            return done.status, ids, (await client.batches.cancel(canceled.id)).status
        finally:
            await client.close()

    status, ids, canceled = asyncio.run(main())
    assert status == "completed"
    assert ids == ["a-0", "a-1", "a-2", "a-3"]
    assert canceled == "cancelling"


def test_each_key_is_a_workspace(target: Target) -> None:
    mine, theirs = target.client(api_key="key-mine"), target.client(api_key="key-theirs")
    file = mine.files.create(file=("in.jsonl", jsonl(chat_lines(1))), purpose="batch")
    batch = mine.batches.create(input_file_id=file.id, endpoint=CHAT, completion_window="24h")
    calls: dict[str, Callable[[], object]] = {
        "batches.retrieve": lambda: theirs.batches.retrieve(batch.id),
        "batches.cancel": lambda: theirs.batches.cancel(batch.id),
        "files.retrieve": lambda: theirs.files.retrieve(file.id),
        "files.content": lambda: theirs.files.content(file.id),
        "files.delete": lambda: theirs.files.delete(file.id),
    }
    for call in calls.values():
        refused(call, openai.NotFoundError)
    assert theirs.batches.list().data == [] and theirs.files.list().data == []
    # Their batch naming my file fails validation: the file is not theirs.
    failed = theirs.batches.create(input_file_id=file.id, endpoint=CHAT, completion_window="24h")
    target.advance(VALIDATED)
    found = theirs.batches.retrieve(failed.id)
    assert found.status == "failed" and found.errors is not None
    assert found.errors.data[0].param == "file_id"
    assert mine.batches.retrieve(batch.id).status == "in_progress"
