"""``@pytest.mark.batchsim``: registration, merging across levels, rejection of bad keys."""

from __future__ import annotations

import pytest

from batchsim.pytest_plugin import BatchsimFixture

from ._support import INNER_HEADER


@pytest.mark.batchsim(seed=11, timing={"per_request": 30.0}, rules=[{"custom_id": "^x", "result": "expired"}])
def test_marker_configures_the_fixture(batchsim: BatchsimFixture) -> None:
    assert batchsim.scenario.seed == 11
    assert batchsim.scenario.timing.per_request == 30.0
    assert batchsim.scenario.rules[0].result == "expired"


def test_marker_is_registered_with_a_help_line(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["@pytest.mark.batchsim(scenario=None, seed=None, *): configure the batchsim*"])


def test_closest_marker_wins_key_by_key(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", slow="seed = 5\n[timing]\nper_request = 50.0\nstart_delay = 0.0\n")
    pytester.makepyfile(
        INNER_HEADER
        + """
pytestmark = pytest.mark.batchsim(scenario="slow.toml", outcomes={"errored": 1.0})

def test_module_level(batchsim):
    assert batchsim.scenario.seed == 5
    assert batchsim.scenario.timing.per_request == 50.0
    assert batchsim.scenario.outcomes.errored == 1.0

@pytest.mark.batchsim(seed=9)
class TestClass:
    def test_class_seed_over_file(self, batchsim):
        assert batchsim.scenario.seed == 9
        assert batchsim.scenario.timing.per_request == 50.0

    @pytest.mark.batchsim(seed=10, outcomes={"expired": 1.0})
    def test_function_over_class_over_module(self, batchsim):
        assert batchsim.scenario.seed == 10
        assert batchsim.scenario.outcomes.expired == 1.0
        assert batchsim.scenario.outcomes.errored == 0.0   # the closest `outcomes` replaces the module's
        assert batchsim.scenario.timing.per_request == 50.0

@pytest.mark.batchsim(clock="scaled:3600")
def test_emulator_keys(batchsim):
    assert batchsim.clock.kind == "scaled:3600"

@pytest.mark.batchsim(start=86400.0, api_keys=["k1"])
def test_start_and_keys(batchsim):
    assert batchsim.now().isoformat() == "1970-01-02T00:00:00+00:00"
    with pytest.raises(anthropic.AuthenticationError):
        batchsim.client(max_retries=0).messages.batches.list()
    assert list(batchsim.client(api_key="k1").messages.batches.list()) == []

@pytest.mark.batchsim(
    outcomes={},
    responder=lambda custom_id, params: {"content": [{"type": "text", "text": "canned " + custom_id}]},
)
def test_responder(batchsim):
    client = batchsim.client()
    batch = client.messages.batches.create(requests=[request("a")])
    batchsim.advance(minutes=1)
    [line] = client.messages.batches.results(batch.id)
    assert line.result.message.content[0].text == "canned a"
"""
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=6)


def test_scenario_file_is_found_next_to_the_test_then_under_the_rootdir(pytester: pytest.Pytester) -> None:
    pytester.mkdir("scenarios")
    pytester.path.joinpath("scenarios", "root.json").write_text('{"seed": 3}')
    sub = pytester.mkdir("sub")
    sub.joinpath("near.toml").write_text("seed = 4\n")
    sub.joinpath("test_paths.py").write_text(
        INNER_HEADER
        + """
@pytest.mark.batchsim(scenario="scenarios/root.json")
def test_rootdir(batchsim):
    assert batchsim.scenario.seed == 3

@pytest.mark.batchsim(scenario="near.toml")
def test_near(batchsim):
    assert batchsim.scenario.seed == 4

@pytest.mark.batchsim(scenario="flaky", seed=5)
def test_ready_made_by_name(batchsim):
    assert batchsim.scenario.seed == 5
    assert batchsim.scenario.rules[0].custom_id == "^poison-"
"""
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("sed=3", "@pytest.mark.batchsim: unknown key 'sed' (allowed: scenario, seed, *"),
        ("'flaky.toml'", "@pytest.mark.batchsim: takes keyword arguments only, got positional ('flaky.toml',)"),
        ("timing={'per_requests': 1}", "@pytest.mark.batchsim: scenario: timing.per_requests: unknown key*"),
        (
            "seed=-1",
            "@pytest.mark.batchsim: scenario: seed: expected an integer between 0 and 9223372036854775807, got -1",
        ),
        ("scenario='missing.toml'", "@pytest.mark.batchsim: scenario: *missing.toml*"),
        (
            "scenario='flakey'",
            "@pytest.mark.batchsim: scenario: no scenario file 'flakey' *(ready-made: expiring, flaky*",
        ),
        ("clock='sundial'", "@pytest.mark.batchsim: unknown clock 'sundial'*"),
        ("clock='scaled:0'", "@pytest.mark.batchsim: clock 'scaled:0': the speed-up N of scaled:N must be*"),
        ("clock=3", "@pytest.mark.batchsim: clock: expected 'virtual', 'real', 'scaled:N' or a clock object*"),
        ("autoadvance='yes'", "@pytest.mark.batchsim: autoadvance: expected True or False, got 'yes'"),
        ("responder=3", "@pytest.mark.batchsim: responder: expected a callable*"),
        ("timing={'per_request': -1}", "@pytest.mark.batchsim: scenario: timing.per_request: *"),
        ("clock='real', start=0", "@pytest.mark.batchsim: start: applies to the virtual clock only*"),
    ],
)
def test_bad_marker_fails_the_test_in_one_line(pytester: pytest.Pytester, marker: str, message: str) -> None:
    pytester.makepyfile(
        f"""
import pytest

@pytest.mark.batchsim({marker})
def test_it(batchsim):
    pass

def test_unaffected():
    pass
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*_ ERROR at setup of test_it _*", message])
    # One line: no traceback of the plugin's internals.
    result.stdout.no_fnmatch_line("*pytest_plugin.py*")
    result.stdout.no_fnmatch_line("*_pytest/options.py*")
    result.stdout.no_fnmatch_line("*During handling of the above exception*")
