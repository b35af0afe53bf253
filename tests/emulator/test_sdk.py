"""Every endpoint through the official SDK (strict response validation), in-process and over HTTP,
sync and async, ``messages.batches`` and ``beta.messages.batches``."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pytest

from .conftest import Target, make_requests


def _batches(client: Any, beta: bool) -> Any:
    return client.beta.messages.batches if beta else client.messages.batches


@pytest.mark.parametrize("beta", [False, True], ids=["ga", "beta"])
def test_full_lifecycle_sync(target: Target, beta: bool) -> None:
    client = target.client()
    batches = _batches(client, beta)
    created = batches.create(requests=make_requests(5))
    assert created.id.startswith("msgbatch_")
    assert created.processing_status == "in_progress"
    assert created.request_counts.processing == 5
    assert created.results_url is None and created.ended_at is None
    assert (created.expires_at - created.created_at).total_seconds() == 24 * 3600

    with pytest.raises(anthropic.AnthropicError, match="Has it finished processing"):
        batches.results(created.id)

    target.advance(60)
    done = batches.retrieve(created.id)
    assert done.processing_status == "ended"
    assert done.request_counts.succeeded == 5 and done.request_counts.processing == 0
    assert done.ended_at is not None and done.results_url is not None
    assert done.results_url.endswith(f"/v1/messages/batches/{created.id}/results")

    results = list(batches.results(created.id))
    assert sorted(r.custom_id for r in results) == sorted(f"req-{i}" for i in range(5))
    for r in results:
        assert r.result.type == "succeeded"
        assert r.result.message.role == "assistant"
        assert r.result.message.usage.service_tier == "batch"

    listed = batches.list()
    assert [b.id for b in listed.data] == [created.id]
    assert listed.has_more is False

    deleted = batches.delete(created.id)
    assert deleted.id == created.id and deleted.type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        batches.retrieve(created.id)


@pytest.mark.parametrize("beta", [False, True], ids=["ga", "beta"])
def test_full_lifecycle_async(target: Target, beta: bool) -> None:
    async def scenario() -> None:
        client = target.async_client()
        batches = _batches(client, beta)
        created = await batches.create(requests=make_requests(3))
        canceled = await batches.cancel(created.id)
        assert canceled.processing_status in ("canceling", "ended")
        assert canceled.cancel_initiated_at is not None
        target.advance(60)
        ended = await batches.retrieve(created.id)
        assert ended.processing_status == "ended"
        counts = ended.request_counts
        assert counts.succeeded + counts.canceled + counts.errored + counts.expired == 3
        lines = [r async for r in await batches.results(created.id)]
        assert {r.custom_id for r in lines} == {"req-0", "req-1", "req-2"}
        page = await batches.list(limit=1)
        assert page.data[0].id == created.id
        assert (await batches.delete(created.id)).type == "message_batch_deleted"
        await client.close()

    asyncio.run(scenario())


def test_cancel_before_start_cancels_every_request(target: Target) -> None:
    client = target.client()
    batch = client.messages.batches.create(requests=make_requests(4))
    canceled = client.messages.batches.cancel(batch.id)
    # The cancel's answer says "canceling", as the API's does; nothing had started, so the batch
    # ends as soon as the clock moves, with every request canceled.
    assert canceled.processing_status == "canceling"
    assert canceled.request_counts.processing == 4
    target.advance(0.001)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert ended.request_counts.canceled == 4
    assert {r.result.type for r in client.messages.batches.results(batch.id)} == {"canceled"}


def test_list_pagination_with_auto_paging(target: Target) -> None:
    client = target.client()
    ids = [client.messages.batches.create(requests=make_requests(1)).id for _ in range(7)]
    seen = [b.id for b in client.messages.batches.list(limit=3)]
    assert seen == ids[::-1]
    first = client.messages.batches.list(limit=3)
    assert first.has_more is True and first.first_id == ids[-1] and first.last_id == ids[-3]
    newer = client.messages.batches.list(limit=2, before_id=ids[0])
    assert [b.id for b in newer.data] == [ids[2], ids[1]]
    assert newer.has_more is True


def test_wrong_state_errors(target: Target) -> None:
    client = target.client()
    batch = client.messages.batches.create(requests=make_requests(2))
    with pytest.raises(anthropic.BadRequestError, match="cancel it first") as info:
        client.messages.batches.delete(batch.id)
    assert info.value.status_code == 400
    target.advance(3600)
    with pytest.raises(anthropic.BadRequestError, match="already ended"):
        client.messages.batches.cancel(batch.id)
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve("msgbatch_01doesnotexist0000000000")


def test_keys_are_isolated(target: Target) -> None:
    alice = target.client(api_key="alice")
    bob = target.client(api_key="bob")
    batch = alice.messages.batches.create(requests=make_requests(1))
    with pytest.raises(anthropic.NotFoundError):
        bob.messages.batches.retrieve(batch.id)
    assert bob.messages.batches.list().data == []
    assert [b.id for b in alice.messages.batches.list().data] == [batch.id]


def test_bearer_auth_token_is_accepted(target: Target) -> None:
    client = target.client(api_key=None, auth_token="token-1")
    batch = client.messages.batches.create(requests=make_requests(1))
    assert client.messages.batches.retrieve(batch.id).id == batch.id


def test_with_raw_response_exposes_request_id(target: Target) -> None:
    client = target.client()
    raw = client.messages.batches.with_raw_response.create(requests=make_requests(1))
    assert raw.headers["request-id"].startswith("req_")
    assert raw.parse()._request_id == raw.headers["request-id"]
