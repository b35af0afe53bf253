"""Faults on OpenAI's calls, by endpoint name: status faults in OpenAI's envelope with retry
headers (which the SDK honours), ``drop`` and ``lost`` cutting the connection before any byte of
the answer (a lost create makes a duplicate, as in production: the SDK sends no idempotency key),
``truncate`` cutting a file's content short."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import openai
import pytest
from openai_helpers import CHAT, Target, chat_lines, jsonl, refused, start, upload

from batchsim import Emulator

ENDPOINTS = (
    "files.create",
    "files.retrieve",
    "files.list",
    "files.content",
    "files.delete",
    "batches.create",
    "batches.retrieve",
    "batches.list",
    "batches.cancel",
)


def calls(client: openai.OpenAI, file_id: str, batch_id: str) -> dict[str, Callable[[], Any]]:
    """One SDK call per endpoint name."""
    return {
        "files.create": lambda: upload(client, jsonl(chat_lines(1))),
        "files.retrieve": lambda: client.files.retrieve(file_id),
        "files.list": lambda: client.files.list(),
        "files.content": lambda: client.files.content(file_id).content,
        "files.delete": lambda: client.files.delete(upload(client, b"x", "x.txt", "user_data")),
        "batches.create": lambda: client.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h"),
        "batches.retrieve": lambda: client.batches.retrieve(batch_id),
        "batches.list": lambda: client.batches.list(),
        "batches.cancel": lambda: client.batches.cancel(batch_id),
    }


@pytest.fixture(autouse=True)
def _no_error_is_logged(caplog: pytest.LogCaptureFixture) -> Any:
    """An injected fault is not an emulator failure: nothing is logged as an error."""
    with caplog.at_level(logging.WARNING, logger="batchsim"):
        yield
    assert [r.getMessage() for r in caplog.get_records("call") if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_status_fault_on_each_endpoint(sim: Emulator, client: openai.OpenAI, endpoint: str) -> None:
    file_id = upload(client, jsonl(chat_lines(2)))
    batch = client.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h")
    fault = {"endpoint": endpoint, "status": 429, "times": 1, "retry_after": 2, "retry_after_ms": 1500}
    sim.scenario = {"faults": [fault, {"endpoint": "*", "status": 503, "times": 0}]}
    each = calls(client, file_id, batch.id)
    for other, call in each.items():  # the fault waits for its own endpoint
        if other not in (endpoint, "files.delete", "files.create", "batches.cancel") and endpoint != "files.create":
            call()
    with pytest.raises(openai.RateLimitError) as caught:
        each[endpoint]()
    response = caught.value.response
    assert response.headers["retry-after"] == "2" and response.headers["retry-after-ms"] == "1500"
    assert response.headers["x-request-id"].startswith("req_")
    assert caught.value.body == {
        "message": "Number of requests has exceeded your rate limit (injected by batchsim)",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    each[endpoint]()  # once only
    assert [c.fault for c in sim.calls if c.endpoint == endpoint][-2:] == ["status 429", None]


def test_the_sdk_retries_status_faults(sim: Emulator) -> None:
    sim.scenario = {"faults": [{"endpoint": "batches.retrieve", "status": 500, "times": 2, "retry_after_ms": 1}]}
    with sim.openai_client(max_retries=2) as client:
        batch = start(client, chat_lines(1))
        assert client.batches.retrieve(batch.id).id == batch.id
    retrieves = [c for c in sim.calls if c.endpoint == "batches.retrieve"]
    assert [c.status for c in retrieves] == [500, 500, 200]
    assert [c.headers["x-stainless-retry-count"] for c in retrieves] == ["0", "1", "2"]


def test_should_retry_false_stops_the_sdk(sim: Emulator) -> None:
    sim.scenario = {"faults": [{"endpoint": "batches.cancel", "status": 409, "times": 5, "should_retry": False}]}
    with sim.openai_client(max_retries=2) as client:
        batch = start(client, chat_lines(1))
        refused(lambda: client.batches.cancel(batch.id), openai.ConflictError)
    assert len([c for c in sim.calls if c.endpoint == "batches.cancel"]) == 1


def test_a_dropped_create_is_not_processed(sim: Emulator, client: openai.OpenAI) -> None:
    file_id = upload(client, jsonl(chat_lines(1)))
    sim.scenario = {"faults": [{"endpoint": "batches.create", "kind": "drop", "times": 1}]}
    with pytest.raises(openai.APIConnectionError):
        client.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h")
    assert client.batches.list().data == []


@pytest.mark.parametrize("endpoint", ["batches.create", "files.create"])
def test_a_lost_create_makes_a_duplicate_when_the_sdk_retries(target: Target, endpoint: str) -> None:
    client = target.client()
    file_id = upload(client, jsonl(chat_lines(1)))
    setup = target.client()
    put_scenario(target, {"faults": [{"endpoint": endpoint, "kind": "lost", "times": 1}]})
    retrying = target.client(max_retries=2)
    if endpoint == "batches.create":
        made = retrying.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h")
        listed = [b.id for b in setup.batches.list()]
    else:
        made = retrying.files.create(file=("again.jsonl", jsonl(chat_lines(1))), purpose="batch")
        listed = [f.id for f in setup.files.list() if f.filename == "again.jsonl"]
    assert len(listed) == 2 and made.id == listed[0]  # the first one's answer was lost


def put_scenario(target: Target, scenario: dict[str, Any]) -> None:
    sim = getattr(target, "sim", None)
    if sim is not None:
        sim.scenario = scenario
    else:
        target.server.control("PUT", "scenario", json=scenario).raise_for_status()  # type: ignore[attr-defined]


def test_drop_cuts_the_connection_before_any_byte(target: Target) -> None:
    client = target.client()
    batch = start(client, chat_lines(1))
    put_scenario(target, {"faults": [{"endpoint": "batches.retrieve", "kind": "drop", "times": 1}]})
    with pytest.raises(openai.APIConnectionError) as caught:
        client.batches.retrieve(batch.id)
    assert "without sending" in str(caught.value.__cause__) or "disconnected" in str(caught.value.__cause__).lower()
    assert client.batches.retrieve(batch.id).id == batch.id


def test_truncate_cuts_file_content_short(target: Target) -> None:
    client = target.client()
    data = jsonl(chat_lines(3000))  # several chunks
    file_id = upload(client, data)
    put_scenario(target, {"faults": [{"endpoint": "files.content", "kind": "truncate", "times": 1}]})
    with pytest.raises(openai.APIConnectionError):
        client.files.content(file_id).content  # noqa: B018
    assert client.files.content(file_id).content == data
    with target.client(max_retries=2) as retrying:
        put_scenario(target, {"faults": [{"endpoint": "files.content", "kind": "truncate", "times": 1}]})
        assert retrying.files.content(file_id).content == data  # the SDK tried again
