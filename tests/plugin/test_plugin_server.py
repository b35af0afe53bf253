"""``batchsim_server``: one uvicorn per session, sharing state with the test's ``batchsim``."""

from __future__ import annotations

import os

import anthropic
import httpx2
import pytest

from batchsim.pytest_plugin import BatchsimFixture, BatchsimServer

from ._support import INNER_HEADER, requests


def test_code_building_its_own_client_is_captured(batchsim: BatchsimFixture, batchsim_server: BatchsimServer) -> None:
    assert batchsim_server.emulator is batchsim
    assert batchsim_server.url.startswith("http://127.0.0.1:")
    assert os.environ["ANTHROPIC_BASE_URL"] == batchsim_server.url
    assert os.environ["ANTHROPIC_API_KEY"] == batchsim_server.api_key
    with anthropic.Anthropic(max_retries=0) as client:  # what application code does
        batch = client.messages.batches.create(requests=requests(4))  # type: ignore[arg-type]
        assert [b.id for b in batchsim.batches()] == [batch.id]
        assert client.messages.batches.retrieve(batch.id).processing_status == "in_progress"
        batchsim.advance(minutes=10)  # the test's clock is the server's clock
        assert client.messages.batches.retrieve(batch.id).processing_status == "ended"
        assert len(list(client.messages.batches.results(batch.id))) == 4
    call = batchsim.calls[0]
    assert call.endpoint == "create" and call.headers["host"] == batchsim_server.url.removeprefix("http://")
    clock = httpx2.get(f"{batchsim_server.url}/_batchsim/clock").json()
    assert clock == {"now": "2026-01-01T00:10:00.000000Z", "kind": "virtual"}


def test_async_client_over_http(batchsim_server: BatchsimServer) -> None:
    import asyncio

    async def main() -> int:
        async with batchsim_server.async_client(max_retries=0) as client:
            await client.messages.batches.create(requests=requests(2))  # type: ignore[arg-type]
            page = await client.messages.batches.list()
            return len(page.data)

    assert asyncio.run(main()) == 1


def test_one_server_per_session_reset_between_tests(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(
        INNER_HEADER
        + """
urls = []

@pytest.mark.parametrize("n", range(3))
def test_shared(batchsim, batchsim_server, n):
    urls.append(batchsim_server.url)
    with anthropic.Anthropic(max_retries=0) as client:
        assert list(client.messages.batches.list()) == []           # nothing left by the previous test
        client.messages.batches.create(requests=[request(f"r{n}")])
        batchsim.advance(hours=1)
        [batch] = client.messages.batches.list()
        assert batch.processing_status == "ended"

@pytest.mark.batchsim(seed=4, outcomes={"errored": 1.0})
def test_marker_applies_to_the_server(batchsim_server):
    with batchsim_server.client(max_retries=0) as client:
        batch = client.messages.batches.create(requests=[request("a")])
        batchsim_server.emulator.advance(hours=1)
        [line] = client.messages.batches.results(batch.id)
        assert line.result.type == "errored"
    urls.append(batchsim_server.url)

def test_environment_restored():
    assert os.environ.get("ANTHROPIC_BASE_URL") is None
    assert len(set(urls)) == 1 and len(urls) == 4
"""
    )
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=5)


def test_idle_server_answers_503(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import httpx2

def test_idle(_batchsim_session_server):
    response = httpx2.get(_batchsim_session_server.url + "/v1/messages/batches")
    assert response.status_code == 503
    assert "no test is using batchsim_server" in response.json()["error"]["message"]
"""
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
