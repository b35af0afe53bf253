"""Output and error files (file objects of ``purpose: "batch_output"``), and what decides each
request's outcome: the seed, rules by ``custom_id`` and canned lines of OpenAI's format."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import openai
import pytest
from openai_helpers import CHAT, assert_schema, chat_lines, jsonl, read_lines, refused, start, upload

from batchsim import Emulator
from batchsim._openai import api

HOUR = 3600


def finish(sim: Emulator, client: openai.OpenAI, lines: list[Any], **kwargs: Any) -> Any:
    batch = start(client, lines, **kwargs)
    sim.advance(days=1)
    return client.batches.retrieve(batch.id)


def test_output_and_error_files_are_files(sim: Emulator, client: openai.OpenAI) -> None:
    sim.scenario = {"rules": [{"custom_id": "-[01]$", "result": "errored", "error_type": "rate_limit_error"}]}
    done = finish(sim, client, chat_lines(4))
    assert done.status == "completed" and done.output_file_id and done.error_file_id
    assert (done.request_counts.completed, done.request_counts.failed) == (2, 2)
    for file_id, kind in ((done.output_file_id, "output"), (done.error_file_id, "error")):
        raw = client.files.with_raw_response.retrieve(file_id).http_response.json()
        assert_schema(raw, "OpenAIFile")
        assert raw["purpose"] == "batch_output" and raw["status"] == "processed"
        assert raw["filename"] == f"{done.id}_{kind}.jsonl"
        assert raw["created_at"] == done.completed_at
        assert raw["expires_at"] == raw["created_at"] + 30 * 86400
        assert raw["bytes"] == len(client.files.content(file_id).content)
    listed = [f.id for f in client.files.list(purpose="batch_output")]
    assert sorted(listed) == sorted([done.output_file_id, done.error_file_id])
    errors = read_lines(client, done.error_file_id)
    assert {item["custom_id"] for item in errors} == {"req-0", "req-1"}
    for item in errors:
        assert item["error"] is None and item["id"].startswith("batch_req_")
        response = item["response"]
        assert response["status_code"] == 429 and response["request_id"]
        assert response["body"]["error"]["type"] == "tokens"
        assert response["body"]["error"]["code"] == "rate_limit_exceeded"


def test_a_deleted_output_file_is_gone(sim: Emulator, client: openai.OpenAI) -> None:
    done = finish(sim, client, chat_lines(2))
    assert client.files.delete(done.output_file_id).deleted is True
    for call in (lambda: client.files.retrieve(done.output_file_id), lambda: client.files.content(done.output_file_id)):
        refused(call, openai.NotFoundError)
    assert client.files.list(purpose="batch_output").data == []
    assert client.batches.retrieve(done.id).output_file_id == done.output_file_id  # the batch still names it


def test_output_files_expire_as_output_expires_after_says(sim: Emulator, client: openai.OpenAI) -> None:
    batch = start(client, chat_lines(1), output_expires_after={"anchor": "created_at", "seconds": HOUR})
    sim.advance(60)
    done = client.batches.retrieve(batch.id)
    assert client.files.retrieve(done.output_file_id).expires_at == done.completed_at + HOUR
    sim.advance(HOUR)
    refused(lambda: client.files.content(done.output_file_id), openai.NotFoundError)


def test_a_batch_whose_every_request_failed_completes_without_an_output_file(
    sim: Emulator, client: openai.OpenAI
) -> None:
    sim.scenario = {"outcomes": {"errored": 1.0, "error_types": {"invalid_request_error": 1.0}}}
    done = finish(sim, client, chat_lines(9))
    raw = client.batches.with_raw_response.retrieve(done.id).http_response.json()
    assert_schema(raw, "Batch")
    assert raw["status"] == "completed" and raw["errors"] is None
    assert raw["output_file_id"] is None and raw["error_file_id"] is not None
    assert raw["request_counts"] == {"total": 9, "completed": 0, "failed": 9}
    assert len(read_lines(client, raw["error_file_id"])) == 9
    assert [f.id for f in client.files.list(purpose="batch_output")] == [raw["error_file_id"]]


def test_outcomes_are_seeded(client: openai.OpenAI) -> None:
    scenario = {"outcomes": {"errored": 0.3, "error_types": {"api_error": 1, "overloaded_error": 1}}}

    def run(seed: int) -> tuple[bytes, bytes]:
        sim = Emulator(scenario=scenario, seed=seed)
        with sim.openai_client(max_retries=0) as sdk:
            done = finish(sim, sdk, chat_lines(40))
            files = sdk.files.content(done.output_file_id).content, sdk.files.content(done.error_file_id).content
        sim.close()
        return files

    first, again, other = run(3), run(3), run(4)
    assert first == again  # the same lines, in the same order
    assert first != other
    errors = [json.loads(text) for text in first[1].splitlines()]
    assert 0 < len(errors) < 40
    statuses = {item["response"]["status_code"] for item in errors}
    assert statuses <= {500, 503} and all(
        item["response"]["body"]["error"]["type"] == "server_error" for item in errors
    )


def test_rules_by_custom_id(sim: Emulator, client: openai.OpenAI) -> None:
    sim.scenario = {
        "rules": [
            {
                "custom_id": "^poison-",
                "result": "errored",
                "error_type": "invalid_request_error",
                "message": "Bad input.",
            },
            {"custom_id": "^late-", "result": "expired"},
            {"custom_id": "^cut-", "stop_reason": "max_tokens"},
        ]
    }
    lines = [line for prefix in ("poison", "late", "cut", "ok") for line in chat_lines(1, prefix)]
    done = finish(sim, client, lines)
    assert done.status == "expired"  # a request that never ran expires the batch with it
    output = {item["custom_id"]: item for item in read_lines(client, done.output_file_id)}
    errors = {item["custom_id"]: item for item in read_lines(client, done.error_file_id)}
    assert set(output) == {"cut-0", "ok-0"} and set(errors) == {"poison-0", "late-0"}
    assert errors["poison-0"]["response"]["status_code"] == 400
    assert errors["poison-0"]["response"]["body"]["error"]["message"] == "Bad input."
    assert errors["late-0"]["error"]["code"] == "batch_expired"
    assert output["cut-0"]["response"]["body"]["choices"][0]["finish_reason"] == "length"
    assert output["ok-0"]["response"]["body"]["choices"][0]["finish_reason"] == "stop"


CANNED = [
    {
        "id": "batch_req_recorded1",
        "custom_id": "req-0",
        "response": {
            "status_code": 200,
            "request_id": "af0bac0d82530234e09bd6b5d9fbf5cf",
            "body": {
                "id": "chatcmpl-recorded",
                "object": "chat.completion",
                "created": 1711471533,
                "model": "gpt-4o-mini-2024-07-18",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "A recorded answer.", "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15},
            },
        },
        "error": None,
    },
    {
        "id": "batch_req_recorded2",
        "custom_id": "req-1",
        "response": {
            "status_code": 400,
            "request_id": "bf0bac0d82530234e09bd6b5d9fbf5cf",
            "body": {
                "error": {
                    "message": "This model's maximum context length is 128000 tokens.",
                    "type": "invalid_request_error",
                    "param": "messages",
                    "code": "context_length_exceeded",
                }
            },
        },
        "error": None,
    },
    {
        "id": "batch_req_recorded3",
        "custom_id": "req-2",
        "response": None,
        "error": {
            "code": "batch_expired",
            "message": "This request could not be executed before the completion window expired.",
        },
    },
]


def test_canned_lines_are_replayed(tmp_path: Path) -> None:
    path = tmp_path / "recorded.jsonl"
    path.write_bytes(jsonl(CANNED))
    for canned in (str(path), CANNED):
        sim = Emulator(scenario={"canned": canned})
        with sim.openai_client(max_retries=0) as client:
            done = finish(sim, client, chat_lines(4))
            assert done.status == "expired"
            assert (done.request_counts.completed, done.request_counts.failed) == (2, 1)
            output = {item["custom_id"]: item for item in read_lines(client, done.output_file_id)}
            errors = {item["custom_id"]: item for item in read_lines(client, done.error_file_id)}
            assert output["req-0"] == CANNED[0] and errors["req-1"] == CANNED[1] and errors["req-2"] == CANNED[2]
            assert output["req-3"]["response"]["body"]["object"] == "chat.completion"  # not canned: made up
            assert done.usage is not None and done.usage.input_tokens >= 11
        sim.close()


def test_large_batches_read_their_output_from_a_results_file(sim: Emulator, client: openai.OpenAI) -> None:
    """1,000 requests and more: the output file is written ahead, after the create's answer, and
    downloads read it: every download, and a twin emulator's, gives the same bytes."""
    data = jsonl(chat_lines(1500))
    file_id = upload(client, data)
    batch = client.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h")
    sim.advance(HOUR)
    done = client.batches.retrieve(batch.id)
    deadline = time.monotonic() + 600
    while sim.results_pending() and time.monotonic() < deadline:  # bounded wait for the write-ahead
        time.sleep(0.01)
    size = client.files.retrieve(done.output_file_id).bytes  # read from the file written ahead
    first = client.files.content(done.output_file_id).content
    assert client.files.content(done.output_file_id).content == first
    assert len(first.splitlines()) == 1500 and size == len(first)
    twin = Emulator()
    with twin.openai_client(max_retries=0) as other:
        other_batch = other.batches.create(input_file_id=upload(other, data), endpoint=CHAT, completion_window="24h")
        twin.advance(HOUR)
        twin_done = other.batches.retrieve(other_batch.id)
        assert other.files.content(twin_done.output_file_id).content == first
    twin.close()


def _files_of_an_ended_batch(sim: Emulator, n: int) -> tuple[bytes, bytes]:
    with sim.openai_client(max_retries=0) as client:
        done = finish(sim, client, chat_lines(n))
        return tuple(client.files.content(f).content for f in (done.output_file_id, done.error_file_id))  # type: ignore[return-value]


@pytest.mark.parametrize(
    "scenario",
    [
        {"outcomes": {"errored": 0.2, "expired": 0.1}},
        {"timing": {"jitter": 0.5, "concurrency": 400}, "outcomes": {"errored": 0.05}},
    ],
    ids=["outcomes", "jitter"],
)
@pytest.mark.parametrize("writer", ["thread", "process"])
def test_files_written_ahead_are_the_files_generated_at_download(
    monkeypatch: pytest.MonkeyPatch, scenario: dict[str, Any], writer: str
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(api, "FILE_MIN_REQUESTS", 10**9)  # no file written ahead: generated at download
        plain = Emulator(scenario)
        expected = _files_of_an_ended_batch(plain, 1200)
        assert plain.results_files.file_count() == 0
        plain.close()
    sim = Emulator(scenario, results_writer=writer)  # type: ignore[arg-type]
    try:
        assert _files_of_an_ended_batch(sim, 1200) == expected
        assert sim.results_files.file_count() >= 1
    finally:
        sim.close()


def test_a_cancel_drops_the_output_file_written_ahead(sim: Emulator, client: openai.OpenAI) -> None:
    batch = start(client, chat_lines(1200))
    deadline = time.monotonic() + 600
    while sim.results_pending() and time.monotonic() < deadline:  # bounded wait for the write-ahead
        time.sleep(0.01)
    assert sim.results_files.file_count() == 1
    sim.advance(10.5)  # validated; no request started yet
    client.batches.cancel(batch.id)
    assert sim.results_files.file_count() == 0  # its uncanceled end will never be read
    sim.advance(days=1)
    done = client.batches.retrieve(batch.id)
    assert done.status == "cancelled" and len(read_lines(client, done.error_file_id)) == 1200
