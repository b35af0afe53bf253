"""``--batchsim-live``: real clients, emulator-only controls skip. No test here touches the network:
clients are built and inspected, never used."""

from __future__ import annotations

import pytest

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


@pytest.mark.batchsim(autoadvance=True)
def test_marker_autoadvance(batchsim):
    raise AssertionError("never runs live")


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
    result.assert_outcomes(passed=3, skipped=7)
    result.stdout.fnmatch_lines(
        [
            "batchsim: live mode, fixtures reach the real Message Batches API",
            "*test_*.py:*: batchsim.advance() needs the emulator (the real API has no virtual clock); "
            "skipped under --batchsim-live",
            "*test_*.py:*: batchsim.scenario needs the emulator (the real API has no scenarios)*",
            "*test_*.py:*: batchsim.calls needs the emulator (the real API has no request journal)*",
            "*test_*.py:*: batchsim.created_requests() needs the emulator (the real API has no batch store)*",
            "*test_*.py:*: batchsim.autoadvance() needs the emulator (the real API has no virtual clock)*",
            "*.py:*: @pytest.mark.batchsim(outcomes, scenario) needs the emulator; skipped under --batchsim-live",
            "*.py:*: @pytest.mark.batchsim(autoadvance) needs the emulator*",
        ],
        consecutive=False,
    )


@pytest.mark.usefixtures("live_env")
def test_live_by_environment_variable(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHSIM_LIVE", "1")
    pytester.makepyfile(LIVE_TESTS)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3, skipped=7)


@pytest.mark.usefixtures("live_env")
def test_live_needs_a_key(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("-p", "no:cacheprovider", "--batchsim-live")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--batchsim-live needs ANTHROPIC_API_KEY in the environment*"])


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
