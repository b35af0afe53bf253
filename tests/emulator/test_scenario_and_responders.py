"""Scenario loading and validation; the default, callable and canned responders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from batchsim import Emulator, Scenario, ScenarioError

from .conftest import make_requests

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
READY_MADE = Path(__file__).resolve().parents[2] / "batchsim" / "scenarios"


def test_toml_and_json_files_load() -> None:
    flaky = Scenario.load(READY_MADE / "flaky.toml")
    assert flaky.seed == 7
    assert flaky.timing.concurrency == 50
    assert flaky.rules[0].error_type == "invalid_request_error"
    assert [f.status for f in flaky.faults] == [529, 429]
    expiring = Scenario.load(READY_MADE / "expiring.json")
    assert expiring.outcomes.expired == 0.05
    # Round trip through plain data.
    assert Scenario.from_dict(flaky.to_dict()) == flaky


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"sed": 1}, "sed: unknown key"),
        ({"timing": {"per_requets": 1}}, "timing.per_requets: unknown key"),
        ({"timing": {"concurrency": 0}}, "timing.concurrency: expected an integer between 1 and 100000"),
        ({"timing": {"per_request": 1e300}}, "timing.per_request: must be between 0 and 2.592e+06"),
        ({"timing": {"start_delay": 1e14}}, "timing.start_delay: must be between 0 and 2.592e+06"),
        ({"timing": {"cancel_delay": float("inf")}}, "timing.cancel_delay: must be between"),
        ({"timing": {"jitter": float("nan")}}, "timing.jitter: must be between 0 and 1"),
        ({"seed": 2**70}, "seed: expected an integer between 0 and 9223372036854775807"),
        ({"outcomes": {"error_types": {"api_error": 1e300}}}, "outcomes.error_types.api_error: must be between"),
        ({"rules": [{"custom_id": "(a)\\1", "result": "errored"}]}, "rules.0.custom_id: invalid regular expression"),
        ({"rules": [{"custom_id": "x" * 1001, "result": "errored"}]}, "rules.0.custom_id: at most 1000 characters"),
        ({"rules": [{"custom_id": "x", "result": "errored", "message": "m" * 4097}]}, "rules.0.message: at most 4096"),
        ({"rules": [{"custom_id": "x", "result": "errored"}] * 1001}, "rules: at most 1000 items"),
        ({"faults": [{"times": 1, "retry_after": 1e300}]}, "faults.0.retry_after: must be between"),
        ({"faults": [{"times": 2**80}]}, "faults.0.times: expected an integer between 0 and 1000000000"),
        ({"canned": [{"custom_id": "x"}]}, "canned.0: expected"),
        ({"canned": 7}, "canned: expected the path of a JSONL results file, or a list of results lines"),
        ({"outcomes": {"errored": 1.5}}, "outcomes.errored: must be between 0 and 1"),
        ({"outcomes": {"errored": 0.6, "expired": 0.6}}, "errored + expired must not exceed 1.0"),
        ({"outcomes": {"error_types": {"nope": 1}}}, "outcomes.error_types.nope: expected one of"),
        ({"rules": [{"custom_id": "(", "result": "errored"}]}, "rules.0.custom_id: invalid regular expression"),
        ({"rules": [{"custom_id": "x", "result": "exploded"}]}, "rules.0.result: expected one of"),
        ({"faults": [{"status": 429}]}, "faults.0: give exactly one of rate"),
        ({"faults": [{"status": 200, "times": 1}]}, "faults.0.status: expected an integer between 400 and 599"),
        ({"faults": [{"endpoint": "retrieve", "kind": "truncate", "times": 1}]}, "truncate applies to the results"),
    ],
)
def test_bad_scenarios_name_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message.replace("(", r"\(").replace("+", r"\+")):
        Scenario.from_dict(data)


def test_ready_made_scenarios_load_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = sorted(p.stem for p in READY_MADE.iterdir())
    assert {"flaky", "expiring", "overloaded"} <= set(names)
    for name in names:
        assert Scenario.of(name) == Scenario.load(next(READY_MADE.glob(f"{name}.*")))
    sim = Emulator("flaky")
    assert sim.scenario.rules[0].custom_id == "^poison-"
    sim.close()
    # A file of that name in the working folder wins over the ready-made one.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flaky").write_text("seed = 123\n")
    assert Scenario.of("flaky").seed == 123


def test_an_unknown_scenario_name_lists_the_ready_made_ones() -> None:
    with pytest.raises(ScenarioError, match=r"no scenario file 'flakey' .*\(ready-made: expiring, flaky, overloaded"):
        Scenario.of("flakey")
    with pytest.raises(FileNotFoundError):  # a path is read as a path, not taken for a name
        Scenario.of("scenarios/flaky.toml")


def test_python_keyword_overrides_merge_tables() -> None:
    scenario = Scenario.of("flaky", seed=9, timing={"per_request": 1})
    assert scenario.seed == 9
    assert scenario.timing.per_request == 1
    assert scenario.timing.concurrency == 50


def _results(sim: Emulator, requests: list[dict[str, Any]]) -> dict[str, Any]:
    client = sim.client(max_retries=0)
    batch = client.messages.batches.create(requests=requests)
    sim.advance(hours=1)
    return {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}


def test_default_message_honours_max_tokens_and_stop_sequences() -> None:
    long_text = "word " * 400
    requests = [
        {
            "custom_id": "short",
            "params": {
                "model": "claude-sonnet-4-5",
                "max_tokens": 3,
                "messages": [{"role": "user", "content": long_text}],
            },
        },
        {
            "custom_id": "stop",
            "params": {
                "model": "claude-sonnet-4-5",
                "max_tokens": 500,
                "stop_sequences": ["lazy"],
                "messages": [{"role": "user", "content": "the lazy dog"}],
            },
        },
        {
            "custom_id": "plain",
            "params": {
                "model": "claude-haiku-4-5",
                "max_tokens": 500,
                "system": "Be brief.",
                "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            },
        },
    ]
    results = _results(Emulator(), requests)
    short = results["short"].message
    assert short.stop_reason == "max_tokens"
    assert short.usage.output_tokens == 3
    stop = results["stop"].message
    assert stop.stop_reason == "stop_sequence"
    assert stop.stop_sequence == "lazy"
    assert "lazy" not in stop.content[0].text
    plain = results["plain"].message
    assert plain.stop_reason == "end_turn"
    assert plain.model == "claude-haiku-4-5"
    assert plain.content[0].text == "Simulated reply to plain: hi"
    assert plain.usage.input_tokens > 0


def test_forced_tool_choice_gives_a_tool_use_block() -> None:
    tool = {
        "name": "record_summary",
        "description": "Record a summary",
        "input_schema": {
            "type": "object",
            "properties": {"title": {"type": "string"}, "score": {"type": "integer"}, "tags": {"type": "array"}},
            "required": ["title", "score"],
        },
    }
    params = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "tools": [tool],
        "tool_choice": {"type": "tool", "name": "record_summary"},
        "messages": [{"role": "user", "content": "summarize"}],
    }
    message = _results(Emulator(), [{"custom_id": "t", "params": params}])["t"].message
    assert message.stop_reason == "tool_use"
    block = message.content[0]
    assert block.type == "tool_use"
    assert block.name == "record_summary"
    assert block.id.startswith("toolu_")
    assert block.input == {"title": "example", "score": 1}


def test_callable_responder_fills_in_the_rest() -> None:
    def responder(custom_id: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"content": [{"type": "text", "text": custom_id.upper()}], "usage": {"output_tokens": 2}}

    results = _results(Emulator(responder=responder), make_requests(2))
    message = results["req-1"].message
    assert message.content[0].text == "REQ-1"
    assert message.usage.output_tokens == 2
    assert message.usage.service_tier == "batch"
    assert message.id.startswith("msg_")


def test_canned_results_replay_by_custom_id() -> None:
    sim = Emulator(Scenario.of(canned=str(FIXTURES / "canned-results.jsonl")))
    requests = make_requests(1, prefix="doc") + [
        {"custom_id": f"doc-{i}", "params": make_requests(1)[0]["params"]} for i in (1, 2)
    ]
    results = _results(sim, requests)
    assert results["doc-1"].message.content[0].text == "A fox jumps over a dog."
    assert results["doc-2"].type == "errored"
    assert results["doc-2"].error.error.type == "overloaded_error"
    assert results["doc-0"].type == "succeeded"  # not canned: the default responder answers
    canned_line = (FIXTURES / "canned-results.jsonl").read_bytes().splitlines()[0]
    assert orjson.loads(canned_line)["result"]["message"]["id"] == results["doc-1"].message.id


def test_canned_file_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"custom_id": "a", "result": {"type": "succeeded"}}\nnot json\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: not JSON"):
        Emulator(Scenario.of(canned=str(bad)))


def test_seed_argument_overrides_the_scenario_seed() -> None:
    assert Emulator(Scenario.of(seed=1), seed=5).scenario.seed == 5
