"""The legacy SDK (0.x, httpx-based), intercepted in-process. Runs in a subprocess whose path puts
``.venv/legacy-sdk`` (anthropic 0.75 and its httpx) first."""

from __future__ import annotations

from pathlib import Path

import pytest

LEGACY = Path(__file__).resolve().parents[2] / ".venv" / "legacy-sdk"

LEGACY_TESTS = """
import asyncio

import anthropic
import pytest

REQUESTS = [
    {"custom_id": f"doc-{i}", "params": {"model": "claude-sonnet-4-5", "max_tokens": 32,
                                         "messages": [{"role": "user", "content": "Summarize."}]}}
    for i in range(3)
]


def test_the_legacy_sdk_is_in_use():
    assert anthropic.__version__.startswith("0.")


def test_legacy_client(batchsim):
    client = batchsim.legacy_client()
    batch = client.messages.batches.create(requests=REQUESTS)
    batchsim.advance(minutes=5)
    assert client.messages.batches.retrieve(batch.id).processing_status == "ended"
    assert sorted(r.custom_id for r in client.messages.batches.results(batch.id)) == ["doc-0", "doc-1", "doc-2"]
    assert batchsim.calls[0].headers["x-api-key"] == "batchsim-test-key"
    assert batchsim.calls[0].headers["anthropic-version"] == "2023-06-01"


@pytest.mark.batchsim(rules=[{"custom_id": "-1$", "result": "errored"}])
def test_respx_router_captures_code_that_builds_its_own_client(batchsim):
    with batchsim.respx_router():
        client = anthropic.Anthropic(api_key="team-key", max_retries=0)
        batch = client.messages.batches.create(requests=REQUESTS)
        batchsim.advance(minutes=5)
        outcomes = {r.custom_id: r.result.type for r in client.messages.batches.results(batch.id)}
        beta = client.beta.messages.batches.list()
    assert outcomes == {"doc-0": "succeeded", "doc-1": "errored", "doc-2": "succeeded"}
    assert [b.id for b in beta.data] == [batch.id]
    assert [b.id for b in batchsim.batches("team-key")] == [batch.id]


def test_respx_router_async(batchsim):
    async def main():
        with batchsim.respx_router("https://batches.example"):
            client = anthropic.AsyncAnthropic(api_key="k", base_url="https://batches.example", max_retries=0)
            batch = await client.messages.batches.create(requests=REQUESTS)
            batchsim.advance(hours=1)
            return [r.custom_id async for r in await client.messages.batches.results(batch.id)]

    assert len(asyncio.run(main())) == 3
"""


@pytest.mark.skipif(not LEGACY.is_dir(), reason="the legacy SDK is not installed: run `make install`")
def test_legacy_sdk_in_process(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(LEGACY))
    for name in ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(LEGACY_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error", timeout=120)
    result.assert_outcomes(passed=4)


def test_legacy_client_refuses_the_current_sdk(batchsim: object) -> None:
    from batchsim.pytest_plugin import BatchsimFixture

    assert isinstance(batchsim, BatchsimFixture)
    with pytest.raises(RuntimeError, match=r"legacy_client\(\) is for the httpx-based anthropic 0.x"):
        batchsim.legacy_client()
