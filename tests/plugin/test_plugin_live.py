"""``--batchsim-live``: real clients, emulator-only controls skip. No test here touches the
network: clients are built and inspected, or reach a local ``batchsim serve`` standing in for the
real API."""

from __future__ import annotations

import httpx2
import pytest
from serverproc import running_server

LIVE_TESTS = """
import os

import anthropic
import pytest


def test_client_targets_production(batchsim):
    assert batchsim.live
    client = batchsim.client()
    assert str(client.base_url) == "https://api.anthropic.com"
    assert client.api_key == "sk-ant-test-not-a-key"
    assert isinstance(batchsim.async_client(), anthropic.AsyncAnthropic)


def test_server_fixture_points_at_production(batchsim_server):
    assert batchsim_server.live
    assert batchsim_server.url == "https://api.anthropic.com"
    assert "ANTHROPIC_BASE_URL" not in os.environ
    assert str(batchsim_server.client().base_url) == "https://api.anthropic.com"


def test_advance(batchsim):
    batchsim.advance(minutes=5)


def test_scenario_setter(batchsim):
    batchsim.scenario = {"outcomes": {"errored": 0.5}}


def test_calls(batchsim):
    batchsim.calls


def test_created_requests(batchsim):
    batchsim.created_requests()


def test_autoadvance(batchsim):
    batchsim.autoadvance()


@pytest.mark.batchsim(scenario={"seed": 1}, outcomes={"errored": 1.0})
def test_marker(batchsim):
    raise AssertionError("never runs live")


@pytest.mark.batchsim(autoadvance=True, seed=3)
def test_marker_that_only_tunes_the_emulator(batchsim):
    assert batchsim.live


def test_without_the_fixture():
    pass
"""


@pytest.fixture
def live_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-key")
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.delenv("BATCHSIM_LIVE", raising=False)


@pytest.mark.usefixtures("live_env")
def test_live_flag_hands_out_real_clients_and_skips_emulator_controls(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(LIVE_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider", "--batchsim-live", "-rs")
    result.assert_outcomes(passed=4, skipped=6)
    result.stdout.fnmatch_lines(
        [
            "batchsim: live mode, fixtures reach the real batch APIs (Anthropic's, OpenAI's)",
            "*= batchsim live: markers that only tune the emulator were ignored =*",
            "*::test_marker_that_only_tunes_the_emulator: ran without @pytest.mark.batchsim(autoadvance, seed)",
            "*test_*.py:*: batchsim.advance() needs the emulator (the real API has no virtual clock); "
            "skipped under --batchsim-live",
            "*test_*.py:*: batchsim.scenario needs the emulator (the real API has no scenarios)*",
            "*test_*.py:*: batchsim.calls needs the emulator (the real API has no request journal)*",
            "*test_*.py:*: batchsim.created_requests() needs the emulator (the real API has no batch store)*",
            "*test_*.py:*: batchsim.autoadvance() needs the emulator (the real API has no virtual clock)*",
            "*.py:*: @pytest.mark.batchsim(outcomes, scenario) needs the emulator; skipped under --batchsim-live",
        ],
        consecutive=False,
    )


@pytest.mark.usefixtures("live_env")
def test_live_by_environment_variable(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHSIM_LIVE", "1")
    pytester.makepyfile(LIVE_TESTS)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=4, skipped=6)


@pytest.mark.usefixtures("live_env")
def test_live_needs_a_key_for_the_clients_asked_for(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    pytester.makepyfile("def test_x(): pass\n\ndef test_y(batchsim):\n    batchsim.client()\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--batchsim-live", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*batchsim.client() under --batchsim-live needs ANTHROPIC_API_KEY in the environment"])


@pytest.mark.usefixtures("live_env")
def test_same_tests_run_against_the_emulator_without_the_flag(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
def test_emulated(batchsim):
    assert not batchsim.live
    assert str(batchsim.client().base_url) == "http://batchsim.local"
    batchsim.advance(minutes=5)
"""
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


LIVE_AGAINST_A_SERVER = """
import asyncio

import pytest

pytestmark = pytest.mark.batchsim(seed=3)  # only tunes the emulator: the tests still run live


def request(custom_id):
    return {"custom_id": custom_id, "params": {"model": "claude-sonnet-4-5", "max_tokens": 8,
                                               "messages": [{"role": "user", "content": "hi"}]}}


def test_sync_client_then_an_emulator_only_call(batchsim):
    client = batchsim.client()
    client.messages.batches.create(requests=[request("a")])
    client.messages.batches.create(requests=[request("b")])
    batchsim.advance(minutes=5)


def test_async_client(batchsim):
    async def create():
        async with batchsim.async_client() as client:
            await client.messages.batches.create(requests=[request("c")])

    asyncio.run(create())
    batchsim.calls


def test_server_fixture_client(batchsim_server):
    batchsim_server.client().messages.batches.create(requests=[request("d")])
    batchsim_server.emulator.created_requests()


def test_a_batch_that_ended_first(batchsim):
    client = batchsim.client()
    batch = client.messages.batches.create(requests=[request("e")])
    client.messages.batches.cancel(batch.id)
    batchsim.reset()


@pytest.mark.batchsim(outcomes={"errored": 1.0})
def test_an_outcome_marker_skips_before_anything_runs(batchsim):
    raise AssertionError("never runs live")
"""


@pytest.mark.server
def test_a_skipped_live_test_cancels_the_batches_it_created(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local ``batchsim serve`` stands in for production (``ANTHROPIC_BASE_URL`` points at it)."""
    with running_server() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "live-key")
        monkeypatch.delenv("BATCHSIM_LIVE", raising=False)
        pytester.makepyfile(LIVE_AGAINST_A_SERVER)
        result = pytester.runpytest("-p", "no:cacheprovider", "--batchsim-live", "-rs")
        listed = httpx2.get(
            f"{server.url}/v1/messages/batches", headers={"x-api-key": "live-key"}, params={"limit": 100}, timeout=30
        ).json()["data"]
    result.assert_outcomes(skipped=5)
    assert len(listed) == 5
    assert all(b["cancel_initiated_at"] is not None for b in listed), listed
    out = result.stdout.str()
    for batch in listed:
        assert batch["id"] in out  # each named in the skip message of the test that created it
    result.stdout.fnmatch_lines(
        [
            "SKIPPED * batchsim.advance() needs the emulator *; skipped under --batchsim-live; "
            "canceled the 2 batch(es) this test created: msgbatch_*, msgbatch_*",
            "SKIPPED * batchsim.calls needs the emulator *; canceled the 1 batch(es) this test created: msgbatch_*",
            "SKIPPED * batchsim.created_requests() needs the emulator *; canceled the 1 batch(es) *: msgbatch_*",
            "SKIPPED * batchsim.reset() needs the emulator *; canceled the 1 batch(es) *: msgbatch_*",
            "SKIPPED * @pytest.mark.batchsim(outcomes) needs the emulator; skipped under --batchsim-live",
        ],
        consecutive=False,
    )


GEMINI_LIVE = """
import asyncio

SRC = [{"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "metadata": {"key": "a"}}]


def test_gemini_sync_then_an_emulator_only_call(batchsim):
    client = batchsim.gemini_client()  # kept: google-genai closes a client it no longer sees
    client.batches.create(model="gemini-2.5-flash", src=SRC)
    batchsim.advance(minutes=5)


def test_gemini_async(batchsim):
    async def create():
        client = batchsim.gemini_client()
        await client.aio.batches.create(model="gemini-2.5-flash", src=SRC)

    asyncio.run(create())
    batchsim.calls
"""


@pytest.mark.server
def test_a_skipped_live_test_cancels_the_gemini_batches_it_created(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local ``batchsim serve`` stands in for Gemini's API (``GOOGLE_GEMINI_BASE_URL``)."""
    with running_server() as server:
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", server.url)
        monkeypatch.setenv("GEMINI_API_KEY", "live-key")
        monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
        monkeypatch.delenv("BATCHSIM_LIVE", raising=False)
        pytester.makepyfile(GEMINI_LIVE)
        result = pytester.runpytest("-p", "no:cacheprovider", "--batchsim-live", "-rs")
        listed = httpx2.get(
            f"{server.url}/v1beta/batches", headers={"x-goog-api-key": "live-key"}, params={"pageSize": 100}, timeout=30
        ).json()["operations"]
        journal = httpx2.get(f"{server.url}/_batchsim/journal", timeout=30).json()
    result.assert_outcomes(skipped=2)
    canceled = sorted(
        c["path"].partition("/batches/")[2] for c in journal["calls"] if c["endpoint"] == "gemini.batches.cancel"
    )
    assert canceled == sorted(f"{b['name'].partition('/')[2]}:cancel" for b in listed) and len(listed) == 2
    result.stdout.fnmatch_lines(
        [
            "SKIPPED * batchsim.advance() needs the emulator *; canceled the 1 batch(es) this test created: batches/*",
            "SKIPPED * batchsim.calls needs the emulator *; canceled the 1 batch(es) this test created: batches/*",
        ],
        consecutive=False,
    )
