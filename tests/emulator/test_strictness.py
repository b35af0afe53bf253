"""What production refuses in a request's params, batchsim refuses with the same words, under
each API version; the fast check agrees with the reference check; token counting agrees with the
usage a batch reports (docs/anthropic-strictness.md lists each rule and its source)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchsim import Emulator, strategies
from batchsim._anthropic import validation
from batchsim._anthropic.catalogue import ModelCheck
from batchsim._anthropic.tokens import NOT_PROMPT

GOOD: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}
TOOL_USE = {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}
REFUSED: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "unknown member",
        {**GOOD, "temperatur": 0.5},
        "invalid_request_error",
        "temperatur: Extra inputs are not permitted",
    ),
    (
        "whitespace-only string",
        {**GOOD, "messages": [{"role": "user", "content": " \n\t"}]},
        "invalid_request_error",
        "messages: text content blocks must contain non-whitespace text",
    ),
    (
        "empty string",
        {**GOOD, "messages": [{"role": "user", "content": ""}]},
        "invalid_request_error",
        "messages: text content blocks must be non-empty",
    ),
    (
        "empty text block",
        {**GOOD, "messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]},
        "invalid_request_error",
        "messages: text content blocks must be non-empty",
    ),
    (
        "whitespace-only text block",
        {**GOOD, "messages": [{"role": "user", "content": [{"type": "text", "text": "  "}]}]},
        "invalid_request_error",
        "messages: text content blocks must contain non-whitespace text",
    ),
    (
        "trailing whitespace in a final assistant turn",
        {**GOOD, "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Sure: "}]},
        "invalid_request_error",
        "messages: final assistant content cannot end with trailing whitespace",
    ),
    (
        "an unknown member of a message",
        {**GOOD, "messages": [{"role": "user", "content": "Hi", "name": "me"}]},
        "invalid_request_error",
        "messages.0.name: Extra inputs are not permitted",
    ),
    (
        "tool_use without its tool_result",
        {
            **GOOD,
            "messages": [
                {"role": "user", "content": "Look it up"},
                {"role": "assistant", "content": [TOOL_USE]},
                {"role": "user", "content": "and?"},
            ],
        },
        "invalid_request_error",
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1. Each "
        "`tool_use` block must have a corresponding `tool_result` block in the next message.",
    ),
    (
        "tool_result without its tool_use",
        {**GOOD, "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9"}]}]},
        "invalid_request_error",
        "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_9. Each `tool_result` "
        "block must have a corresponding `tool_use` block in the previous message.",
    ),
    ("an unknown model", {**GOOD, "model": "claude-sonnet-9"}, "not_found_error", "model: claude-sonnet-9"),
    ("a retired model", {**GOOD, "model": "claude-2.1"}, "not_found_error", "model: claude-2.1"),
    (
        "max_tokens above the model's maximum",
        {**GOOD, "model": "claude-3-haiku-20240307", "max_tokens": 4097},
        "invalid_request_error",
        "max_tokens: 4097 > 4096, which is the maximum allowed number of output tokens for claude-3-haiku-20240307",
    ),
]


@pytest.mark.parametrize("version", ["2023-06-01", "2026-10-21"])
def test_each_refusal_errs_the_request_with_the_apis_words(version: str) -> None:
    # The virtual clock starts on 2026-01-01: claude-3-haiku-20240307 is still callable then.
    sim = Emulator()
    client = sim.client(max_retries=0, default_headers={"anthropic-version": version})
    requests = [{"custom_id": f"r{i}", "params": params} for i, (_, params, _, _) in enumerate(REFUSED)]
    requests.append({"custom_id": "good", "params": GOOD})
    batch = client.messages.batches.create(requests=requests)
    sim.advance(3600)
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert results.pop("good").type == "succeeded"
    for i, (what, _, kind, message) in enumerate(REFUSED):
        error = results[f"r{i}"].error.error  # type: ignore[union-attr]
        assert (error.type, error.message) == (kind, message), what


def test_a_model_retires_at_its_announced_end_of_life() -> None:
    sim = Emulator()
    client = sim.client(max_retries=0)
    params = {**GOOD, "model": "claude-3-haiku-20240307"}  # end of life April 20th, 2026
    assert client.models.retrieve("claude-3-haiku-20240307").lifecycle == "deprecated"
    before = client.messages.batches.create(requests=[{"custom_id": "a", "params": params}])
    sim.advance(3600)
    assert [r.result.type for r in client.messages.batches.results(before.id)] == ["succeeded"]
    sim.advance(days=120)
    assert client.models.retrieve("claude-3-haiku-20240307").lifecycle == "retired"
    after = client.messages.batches.create(requests=[{"custom_id": "a", "params": params}])
    sim.advance(3600)
    (line,) = list(client.messages.batches.results(after.id))
    assert line.result.error.error.message == "model: claude-3-haiku-20240307"  # type: ignore[union-attr]


# -- the fast check and the reference check ------------------------------------------------------

checks = st.sampled_from(
    [
        None,
        ModelCheck({"claude-sonnet-4-5": 64000, "claude-haiku-4-5": 10, "x": None}),
        ModelCheck({"claude-sonnet-4-5": 100}, any_model=True),
    ]
)
texts = st.sampled_from(["Hi", "", " ", "\n", "end ", "a\u00a0", "\u2003", "ok"])
plain_params = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["claude-sonnet-4-5", "claude-haiku-4-5", "x", "claude-2.0", "nope", ""]),
        "max_tokens": st.integers(-1, 70000),
        "messages": st.lists(
            st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system"]), "content": texts}),
            max_size=3,
        ),
    }
)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(params=st.one_of(plain_params, strategies.message_params()), models=checks)
def test_the_fast_check_never_passes_what_the_reference_refuses(params: dict[str, Any], models: Any) -> None:
    if validation._plainly_valid(params, models):
        assert validation.validate_params(params, None, models) is None
        assert validation.validate_params(params, "2026-10-21", models) is None


count_params = st.one_of(
    plain_params.map(lambda p: {k: v for k, v in p.items() if k != "max_tokens"}),
    st.builds(
        lambda p, system: {"model": p["model"], "messages": p["messages"], "system": system},
        plain_params,
        st.one_of(texts, st.just([{"type": "text", "text": "x"}]), st.integers()),
    ),
    strategies.message_params().map(lambda p: {k: v for k, v in p.items() if k in validation.COUNT_KEYS}),
)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(params=count_params, models=checks)
def test_the_fast_count_check_equals_the_reference_where_it_applies(params: dict[str, Any], models: Any) -> None:
    reference = validation.validate_params(params, None, models, count=True) is None
    if validation.plainly_countable(params, models):
        assert reference
    elif reference and set(params) <= {"model", "messages", "system"} and isinstance(params.get("system", ""), str):
        assert any(isinstance(m.get("content"), list) for m in params["messages"])  # only block content asks


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=200)
@given(params=plain_params, models=checks)
def test_plain_params_the_reference_accepts_take_the_fast_check(params: dict[str, Any], models: Any) -> None:
    if validation.validate_params(params, None, models) is None:
        assert validation._plainly_valid(params, models)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=200)
@given(data=st.data(), version=st.sampled_from(["2023-06-01", "2026-10-21"]))
def test_the_public_strategies_generate_only_accepted_params(data: st.DataObject, version: str) -> None:
    params = data.draw(strategies.message_params(api_version=version))
    assert validation.validate_params(params, version) is None


# -- token counting agrees with the usage a batch reports ---------------------------------------


@settings(
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture], max_examples=40, deadline=None
)
@given(params=strategies.message_params(features=False))
def test_count_tokens_equals_the_batch_usage(params: dict[str, Any]) -> None:
    sim = Emulator()
    client = sim.client(max_retries=0)
    counting = {k: v for k, v in params.items() if k not in NOT_PROMPT}
    counted = client.messages.count_tokens(**counting).input_tokens
    batch = client.messages.batches.create(requests=[{"custom_id": "p", "params": params}])
    sim.advance(3600)
    (line,) = list(client.messages.batches.results(batch.id))
    assert line.result.type == "succeeded", orjson.dumps(params)
    assert line.result.message.usage.input_tokens == counted  # type: ignore[union-attr]
