"""The plugin's OpenAI clients: ``batchsim.openai_client()`` / ``async_openai_client()`` in
process, ``batchsim_server`` exporting ``OPENAI_BASE_URL``/``OPENAI_API_KEY``, and
``--batchsim-live`` pointing them at production with ``OPENAI_API_KEY`` (each provider's key
needed only by the tests that use it), its batches canceled before an emulator-only call skips."""

from __future__ import annotations

import httpx2
import pytest
from serverproc import running_server

INNER = """
import asyncio
import io
import json
import os

import openai
import pytest

CHAT = "/v1/chat/completions"


def jsonl(n, prefix="r"):
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    lines = [{"custom_id": f"{prefix}-{i}", "method": "POST", "url": CHAT, "body": body} for i in range(n)]
    return "".join(json.dumps(line) + "\\n" for line in lines).encode()


def start(client, n=2, prefix="r"):
    file = client.files.create(file=("in.jsonl", jsonl(n, prefix)), purpose="batch")
    return client.batches.create(input_file_id=file.id, endpoint=CHAT, completion_window="24h")
"""

EMULATED = (
    INNER
    + """

def test_in_process_clients_need_no_environment(batchsim):
    assert not any(name.startswith("OPENAI_") for name in os.environ)
    client = batchsim.openai_client(max_retries=0)
    assert str(client.base_url) == "http://batchsim.local/v1/"
    batch = start(client, 3)
    batchsim.advance(minutes=5)
    done = client.batches.retrieve(batch.id)
    assert done.status == "completed" and done.request_counts.completed == 3
    assert batchsim.calls[-1].headers["authorization"] == "Bearer batchsim-test-key"


@pytest.mark.batchsim(rules=[{"custom_id": "-1$", "result": "errored"}])
def test_the_async_client_and_the_marker(batchsim):
    async def main():
        async with batchsim.async_openai_client(max_retries=0) as client:
            file = await client.files.create(file=("in.jsonl", jsonl(2)), purpose="batch")
            batch = await client.batches.create(input_file_id=file.id, endpoint=CHAT, completion_window="24h")
            batchsim.advance(hours=1)
            return await client.batches.retrieve(batch.id)

    done = asyncio.run(main())
    assert (done.request_counts.completed, done.request_counts.failed) == (1, 1)


def test_code_building_its_own_openai_client_reaches_the_server(batchsim, batchsim_server):
    assert os.environ["OPENAI_BASE_URL"] == f"{batchsim_server.url}/v1" == batchsim_server.openai_url
    assert os.environ["OPENAI_API_KEY"] == batchsim_server.api_key
    with openai.OpenAI(max_retries=0) as client:  # what application code does
        batch = start(client, 2)
        batchsim.advance(minutes=5)
        assert client.batches.retrieve(batch.id).status == "completed"
    with batchsim_server.openai_client(max_retries=0) as client:
        assert [b.id for b in client.batches.list()] == [batch.id]
    assert batchsim.calls[0].endpoint == "files.create"


def test_the_environment_is_restored():
    assert "OPENAI_BASE_URL" not in os.environ and "OPENAI_API_KEY" not in os.environ
"""
)


def test_openai_clients_of_the_fixtures(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(EMULATED)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=4)


LIVE = (
    INNER
    + """

def test_openai_client_targets_production(batchsim):
    client = batchsim.openai_client()
    assert str(client.base_url) == "https://api.openai.com/v1/"
    assert client.api_key == "sk-openai-test-not-a-key"
    assert isinstance(batchsim.async_openai_client(), openai.AsyncOpenAI)


def test_the_server_fixture_hands_out_a_production_client(batchsim_server):
    assert batchsim_server.openai_url == "https://api.openai.com/v1"
    assert str(batchsim_server.openai_client().base_url) == "https://api.openai.com/v1/"


def test_an_anthropic_client_without_its_key(batchsim):
    batchsim.client()
"""
)


def test_live_needs_only_the_key_of_the_client_asked_for(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-test-not-a-key")
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "BATCHSIM_LIVE"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(LIVE)
    result = pytester.runpytest("-p", "no:cacheprovider", "--batchsim-live", "-rs")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(
        ["SKIPPED * batchsim.client() under --batchsim-live needs ANTHROPIC_API_KEY in the environment"]
    )


def test_live_without_an_openai_key(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-key")
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "BATCHSIM_LIVE"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile("def test_x(batchsim):\n    batchsim.async_openai_client()\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--batchsim-live", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["SKIPPED * batchsim.async_openai_client() under --batchsim-live needs OPENAI_API_KEY in the environment"]
    )


LIVE_AGAINST_A_SERVER = (
    INNER
    + """

def test_sync_client_then_an_emulator_only_call(batchsim):
    client = batchsim.openai_client(max_retries=0)
    start(client, 2, "a")
    start(client, 2, "b")
    batchsim.advance(minutes=5)


def test_async_client(batchsim):
    async def main():
        async with batchsim.async_openai_client(max_retries=0) as client:
            file = await client.files.create(file=("in.jsonl", jsonl(1, "c")), purpose="batch")
            await client.batches.create(input_file_id=file.id, endpoint=CHAT, completion_window="24h")

    asyncio.run(main())
    batchsim.calls
"""
)


@pytest.mark.server
def test_a_skipped_live_test_cancels_the_openai_batches_it_created(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local ``batchsim serve`` stands in for OpenAI (``OPENAI_BASE_URL`` points at it)."""
    with running_server() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "live-key")
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
        monkeypatch.delenv("BATCHSIM_LIVE", raising=False)
        pytester.makepyfile(LIVE_AGAINST_A_SERVER)
        result = pytester.runpytest("-p", "no:cacheprovider", "--batchsim-live", "-rs")
        listed = httpx2.get(
            f"{server.url}/v1/batches", headers={"authorization": "Bearer live-key"}, params={"limit": 100}, timeout=30
        ).json()["data"]
    result.assert_outcomes(skipped=2)
    assert len(listed) == 3
    assert all(b["status"] == "cancelling" and b["cancelling_at"] is not None for b in listed), listed
    out = result.stdout.str()
    assert all(b["id"] in out for b in listed)  # each named in the skip message of the test that created it
    result.stdout.fnmatch_lines(
        [
            "SKIPPED * batchsim.advance() needs the emulator *; skipped under --batchsim-live; "
            "canceled the 2 batch(es) this test created: batch_*, batch_*",
            "SKIPPED * batchsim.calls needs the emulator *; canceled the 1 batch(es) this test created: batch_*",
        ],
        consecutive=False,
    )
