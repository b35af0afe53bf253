"""The ``batchsim`` fixture used directly, and its isolation between tests (pytester)."""

from __future__ import annotations

import asyncio
import json

import pytest

from batchsim import Emulator, VirtualClock
from batchsim.pytest_plugin import BatchsimFixture

from ._support import INNER_HEADER, request, requests


def test_fixture_is_a_fresh_emulator_on_a_virtual_clock(batchsim: BatchsimFixture) -> None:
    assert isinstance(batchsim.emulator, Emulator)  # the fixture wraps a fresh emulator
    assert isinstance(batchsim.clock, VirtualClock)
    assert batchsim.batches() == []
    assert batchsim.calls == []
    assert not batchsim.live


def test_create_advance_results_for_100_requests(batchsim: BatchsimFixture) -> None:
    client = batchsim.client()
    batch = client.messages.batches.create(requests=requests(100))  # type: ignore[arg-type]
    assert batch.processing_status == "in_progress"
    batchsim.advance(minutes=5)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert ended.request_counts.succeeded == 100
    results = list(client.messages.batches.results(batch.id))
    assert sorted(r.custom_id for r in results) == sorted(f"req-{i}" for i in range(100))


def test_async_client(batchsim: BatchsimFixture) -> None:
    async def main() -> str:
        client = batchsim.async_client()
        batch = await client.messages.batches.create(requests=requests(3))  # type: ignore[arg-type]
        batchsim.advance(hours=1)
        return (await client.messages.batches.retrieve(batch.id)).processing_status

    assert asyncio.run(main()) == "ended"


def test_inspection_of_calls_and_created_requests(batchsim: BatchsimFixture) -> None:
    client = batchsim.client(default_headers={"x-team": "docs"})
    first = client.messages.batches.create(requests=[request("a", system="Be brief.")])  # type: ignore[list-item]
    second = client.messages.batches.create(requests=[request("b"), request("c")])  # type: ignore[list-item]
    assert [b.id for b in batchsim.batches()] == [second.id, first.id]
    assert [r["custom_id"] for r in batchsim.created_requests()] == ["a", "b", "c"]
    assert batchsim.created_requests(first.id)[0]["params"]["system"] == "Be brief."
    with pytest.raises(KeyError):
        batchsim.created_requests("msgbatch_unknown")
    creates = [c for c in batchsim.calls if c.endpoint == "create"]
    assert len(creates) == 2
    assert creates[0].method == "POST" and creates[0].path == "/v1/messages/batches"
    assert creates[0].headers["x-team"] == "docs"
    assert creates[1].json()["requests"][1]["custom_id"] == "c"


def test_batches_and_created_requests_of_each_provider(batchsim: BatchsimFixture) -> None:
    line = {"method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", "messages": []}}
    body = "".join(json.dumps({"custom_id": f"o-{i}", **line}) + "\n" for i in range(2)).encode()
    openai_client = batchsim.openai_client()
    uploaded = openai_client.files.create(file=("in.jsonl", body), purpose="batch")
    made = openai_client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    gemini = batchsim.gemini_client()
    src = [{"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "metadata": {"key": f"g-{i}"}} for i in range(3)]
    job = gemini.batches.create(model="gemini-2.5-flash", src=src)  # type: ignore[arg-type]
    (running,) = batchsim.batches(provider="gemini")
    assert (running.provider, running.status, running.request_counts["processing"]) == (
        "gemini", "BATCH_STATE_PENDING", 3
    )  # fmt: skip
    batchsim.advance(hours=1)
    (view,) = batchsim.batches(provider="openai")
    assert (view.id, view.provider, view.status, view.processing_status) == (made.id, "openai", "completed", "ended")
    assert view.custom_ids == ("o-0", "o-1") and view.request_counts["succeeded"] == 2
    assert [r["custom_id"] for r in batchsim.created_requests(provider="openai")] == ["o-0", "o-1"]
    assert batchsim.created_requests(made.id, provider="openai")[1]["body"]["model"] == "gpt-4o-mini"
    (done,) = batchsim.batches(provider="gemini")
    assert (done.id, done.status, done.request_counts["succeeded"]) == (job.name, "BATCH_STATE_SUCCEEDED", 3)
    assert [r["metadata"]["key"] for r in batchsim.created_requests(provider="gemini")] == ["g-0", "g-1", "g-2"]
    assert batchsim.created_requests(job.name, provider="gemini")[0]["request"]["contents"][0]["role"] == "user"
    assert batchsim.batches() == []  # Anthropic's, by default
    with pytest.raises(ValueError, match="provider must be"):
        batchsim.batches(provider="mistral")  # type: ignore[arg-type]


def test_scenario_can_be_set_during_a_test(batchsim: BatchsimFixture) -> None:
    batchsim.scenario = {"rules": [{"custom_id": "^bad-", "result": "errored"}]}
    client = batchsim.client()
    batch = client.messages.batches.create(requests=[request("bad-1"), request("ok-1")])  # type: ignore[list-item]
    batchsim.advance(minutes=1)
    outcomes = {r.custom_id: r.result.type for r in client.messages.batches.results(batch.id)}
    assert outcomes == {"bad-1": "errored", "ok-1": "succeeded"}


def test_each_test_gets_its_own_emulator(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        INNER_HEADER
        + """
seen = []

@pytest.mark.parametrize("n", [1, 2, 3])
def test_fresh(batchsim, n):
    seen.append(batchsim)
    assert batchsim.batches() == []
    assert batchsim.now().isoformat() == "2026-01-01T00:00:00+00:00"
    batchsim.client().messages.batches.create(requests=[request("x")])
    batchsim.advance(hours=n)
    assert len(batchsim.batches()) == 1

def test_distinct():
    assert len({id(s) for s in seen}) == 3
"""
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=4)


def test_fixture_is_listed_with_its_docstring(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--fixtures", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["batchsim -- *", "*fresh emulator per test*"])
    result.stdout.fnmatch_lines(["batchsim_server -- *", "*real server on 127.0.0.1*"])
