"""``batchsim.strategies`` checked against the emulator: valid bodies are accepted and processed,
invalid ones are refused with the announced message, invalid params end ``errored``."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from hypothesis import HealthCheck, find, given, settings

from batchsim import Emulator, Scenario
from batchsim._anthropic.validation import CUSTOM_ID_PATTERN, validate_params
from batchsim.strategies import (
    InvalidBody,
    InvalidParams,
    batch_requests,
    custom_ids,
    invalid_batch_requests,
    invalid_params,
    message_params,
    scenarios,
)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(custom_ids())
def test_custom_ids_match_the_pattern(cid: str) -> None:
    import re

    assert re.fullmatch(CUSTOM_ID_PATTERN, cid)


@FAST
@given(message_params())
def test_message_params_pass_the_api_checks(params: dict[str, Any]) -> None:
    assert validate_params(params) is None


@settings(max_examples=25, deadline=None)
@given(batch_requests(min_size=1, max_size=15))
def test_valid_batches_are_accepted_and_all_succeed(requests: list[dict[str, Any]]) -> None:
    sim = Emulator()
    with sim.client(max_retries=0) as client:
        batch = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        sim.advance(hours=1)
        assert client.messages.batches.retrieve(batch.id).request_counts.succeeded == len(requests)
        results = {r.custom_id: r.result.type for r in client.messages.batches.results(batch.id)}
    assert results == dict.fromkeys((r["custom_id"] for r in requests), "succeeded")


@settings(max_examples=80, deadline=None)
@given(invalid_batch_requests())
def test_invalid_bodies_are_refused_with_the_announced_message(case: InvalidBody) -> None:
    sim = Emulator()
    with sim.client(max_retries=0) as client, pytest.raises(anthropic.BadRequestError) as caught:
        client.post("/v1/messages/batches", body=case.body, cast_to=object)
    body: Any = caught.value.body
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith(case.message), case.rule
    assert sim.batches() == []


@settings(max_examples=80, deadline=None)
@given(invalid_params())
def test_invalid_params_end_errored_with_invalid_request_error(case: InvalidParams) -> None:
    problem = validate_params(case.params)
    assert problem is not None and problem.startswith(case.message), case.rule
    sim = Emulator()
    with sim.client(max_retries=0) as client:
        batch = client.messages.batches.create(
            requests=[{"custom_id": "bad", "params": case.params}, {"custom_id": "good", "params": _good()}]  # type: ignore[list-item]
        )
        sim.advance(hours=1)
        results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert results["good"].type == "succeeded"
    bad: Any = results["bad"]
    assert bad.type == "errored"
    assert bad.error.error.type == "invalid_request_error"
    assert bad.error.error.message.startswith(case.message)


@FAST
@given(scenarios(faults=True))
def test_scenarios_are_valid_and_round_trip(scenario: Scenario) -> None:
    assert Scenario.from_dict(scenario.to_dict()) == scenario
    Emulator(scenario)


BODY_RULES = (
    "missing_requests",
    "extra_key",
    "requests_not_list",
    "empty_requests",
    "too_many_requests",
    "body_not_object",
    "item_not_object",
    "missing_custom_id",
    "missing_params",
    "extra_item_key",
    "custom_id_not_string",
    "custom_id_empty",
    "custom_id_too_long",
    "custom_id_pattern",
    "duplicate_custom_id",
    "params_not_object",
)
PARAMS_RULES = (
    "missing_model",
    "missing_max_tokens",
    "missing_messages",
    "stream",
    "model_invalid",
    "max_tokens_type",
    "max_tokens_low",
    "messages_type",
    "messages_empty",
    "message_type",
    "role_missing",
    "role_invalid",
    "content_missing",
    "content_type",
    "content_block",
    "system_type",
    "stop_sequences_type",
    "temperature_type",
    "temperature_range",
    "top_p_type",
    "top_p_range",
    "top_k",
    "tools_type",
    "tool_name",
    "tool_choice_type",
    "tool_choice_unknown_tool",
    "tool_choice_any_without_tools",
)
FIND = settings(max_examples=2000, database=None, derandomize=True)


@pytest.mark.parametrize("rule", BODY_RULES)
def test_every_create_rule_is_generated(rule: str) -> None:
    assert find(invalid_batch_requests(), lambda case: case.rule == rule, settings=FIND).rule == rule


@pytest.mark.parametrize("rule", PARAMS_RULES)
def test_every_params_rule_is_generated(rule: str) -> None:
    assert find(invalid_params(), lambda case: case.rule == rule, settings=FIND).rule == rule


def _good() -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "Hi"}]}
