"""What a request says and what each API version accepts, through the real SDK with strict
response validation; every succeeded message is also checked with the SDK's own ``Message``."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import orjson
import pytest
from anthropic.types import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchsim import Emulator
from batchsim._anthropic.responder import Extras, default_message, default_message_json
from batchsim.strategies import json_schemas, message_params

OLD = {"anthropic-version": "2023-06-01"}
NEW = {"anthropic-version": "2026-10-21"}
BASE: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": 512}


def hi(text: str = "Hello there") -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def run(sim: Emulator, requests: list[dict[str, Any]], headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Create a batch, let it end, and return ``{custom_id: result}`` (succeeded messages
    re-validated with the SDK's ``Message`` model)."""
    with sim.client(max_retries=0, _strict_response_validation=True, default_headers=headers or {}) as client:
        batch = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        sim.advance(hours=1)
        results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    for result in results.values():
        if result.type == "succeeded":
            assert Message.model_validate(result.message.model_dump()) == result.message
    return results


def error_of(result: Any) -> str:
    assert result.type == "errored", result
    assert result.error.error.type == "invalid_request_error"
    return str(result.error.error.message)


# -- API versions ---------------------------------------------------------------------------------

VERSION_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "temperature": ({"temperature": 1.0}, "temperature: Extra inputs are not permitted"),
    "top_p": ({"top_p": 0.5}, "top_p: Extra inputs are not permitted"),
    "top_k": ({"top_k": 5}, "top_k: Extra inputs are not permitted"),
    "assistant_document": (
        {
            "messages": [
                {"role": "user", "content": "Quote it back"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}
                    ],
                },
                {"role": "user", "content": "Thanks"},
            ]
        },
        "messages.1.content.0: document blocks are not permitted in assistant messages",
    ),
    "user_citations": (
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "text",
                            "text": "As cited",
                            "citations": [
                                {
                                    "type": "char_location",
                                    "cited_text": "x",
                                    "document_index": 0,
                                    "document_title": None,
                                    "start_char_index": 0,
                                    "end_char_index": 1,
                                }
                            ],
                        }
                    ],
                }
            ]
        },
        "messages.0.content.0.citations: Extra inputs are not permitted",
    ),
}


@pytest.mark.parametrize("case", sorted(VERSION_CASES))
def test_each_version_rule_under_both_versions(case: str) -> None:
    changes, message = VERSION_CASES[case]
    requests = [{"custom_id": case, "params": {**BASE, "messages": hi(), **changes}}]
    assert run(Emulator(), requests, OLD)[case].type == "succeeded"
    assert error_of(run(Emulator(), requests, NEW)[case]) == message
    # The current SDK sends 2026-10-21 by default.
    assert error_of(run(Emulator(), requests)[case]) == message


def test_empty_citations_and_user_documents_pass_under_the_new_version() -> None:
    content = [
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc"}},
        {"type": "text", "text": "Summarize", "citations": []},
    ]
    requests = [{"custom_id": "ok", "params": {**BASE, "messages": [{"role": "user", "content": content}]}}]
    assert run(Emulator(), requests, NEW)["ok"].type == "succeeded"


def test_the_version_is_stored_with_the_batch_and_survives_a_restart(tmp_path: Any) -> None:
    from batchsim._storage.sqlite import SqliteStore

    db = str(tmp_path / "v.db")
    store = SqliteStore(db)
    sim = Emulator(store=store)
    with sim.client(default_headers=NEW) as client:
        client.messages.batches.create(requests=[{"custom_id": "a", "params": {**BASE, "messages": hi()}}])
    store.db.close()
    reopened = SqliteStore(db)
    (entry,) = reopened.page("batchsim-test-key", 10, None, None).entries
    assert entry.batch.attrs["version"] == "2026-10-21"
    reopened.db.close()


_SCHEMA_2 = """
CREATE TABLE batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, workspace TEXT NOT NULL, id TEXT NOT NULL, created_at INTEGER NOT NULL,
    seed TEXT NOT NULL, scenario BLOB NOT NULL, custom_ids BLOB NOT NULL, params BLOB NOT NULL,
    params_sizes BLOB NOT NULL, invalid BLOB NOT NULL, canned BLOB NOT NULL, cancel_initiated_at INTEGER,
    deleted INTEGER NOT NULL DEFAULT 0, api_version TEXT, UNIQUE (workspace, id));
CREATE TABLE shared (
    id INTEGER PRIMARY KEY CHECK (id = 1), sequence INTEGER NOT NULL DEFAULT 0,
    generation INTEGER NOT NULL DEFAULT 0, clock_start INTEGER, clock_now INTEGER, clock_origin INTEGER,
    scenario BLOB, scenario_initial BLOB, scenario_version INTEGER NOT NULL DEFAULT 0);
INSERT INTO shared (id, sequence) VALUES (1, 1);
PRAGMA user_version=2;
"""


def test_a_schema_2_database_is_migrated_in_place(tmp_path: Any) -> None:
    """A database written before providers were stored (every batch Anthropic's) opens, and its
    batches read as they did."""
    import sqlite3
    from array import array

    import orjson

    from batchsim import Scenario
    from batchsim._storage.sqlite import SqliteStore

    db = str(tmp_path / "old.db")
    params = orjson.dumps({**BASE, "messages": hi()})
    canned = {"b": orjson.dumps({"type": "errored", "error": {"type": "error"}}).decode()}
    with sqlite3.connect(db) as conn:
        conn.executescript(_SCHEMA_2)
        conn.execute(
            "INSERT INTO batches (workspace, id, created_at, seed, scenario, custom_ids, params, params_sizes, "
            "invalid, canned, api_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                "batchsim-test-key", "msgbatch_01old", 1767225600000000, "s33d",
                orjson.dumps(Scenario().to_dict()), orjson.dumps(["a", "b"]), params * 2,
                array("q", [len(params)] * 2).tobytes(), b"{}", orjson.dumps(canned), "2026-10-21",
            ),
        )  # fmt: skip
    reopened = SqliteStore(db)
    (entry,) = reopened.page("batchsim-test-key", 10, None, None).entries
    assert entry.batch.attrs["version"] == "2026-10-21"
    assert list(entry.batch.custom_ids) == ["a", "b"] and entry.batch.params[1] == params
    assert entry.batch.canned["b"].outcome == "errored"
    assert reopened.db.read("PRAGMA user_version")[0] == 3
    assert reopened.next_number() == 2  # the creation sequence goes on
    reopened.db.close()


def test_x_api_key_wins_over_authorization() -> None:
    sim = Emulator()
    both = {"x-api-key": "from-x-api-key", "authorization": "Bearer from-bearer"}
    with sim.client(api_key="from-bearer", default_headers=both) as client:
        batch = client.messages.batches.create(requests=[{"custom_id": "a", "params": {**BASE, "messages": hi()}}])
    assert [b.id for b in sim.batches(api_key="from-x-api-key")] == [batch.id]
    assert sim.batches(api_key="from-bearer") == []


# -- structured outputs ---------------------------------------------------------------------------

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 5, "maxLength": 40},
        "sentiment": {"enum": ["positive", "neutral", "negative"]},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "count": {"type": "integer", "exclusiveMinimum": 10, "maximum": 20},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 4},
        "author": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "email": {"type": "string", "format": "email"}},
            "required": ["name", "email"],
            "additionalProperties": False,
        },
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["title", "sentiment", "score", "count", "tags", "author"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("where", ["output_config", "output_format"])
def test_structured_output_is_json_valid_for_the_schema(where: str) -> None:
    fmt = {"type": "json_schema", "schema": SCHEMA}
    extra = {"output_config": {"format": fmt}} if where == "output_config" else {"output_format": fmt}
    requests = [{"custom_id": f"s-{i}", "params": {**BASE, "messages": hi(f"Review {i}"), **extra}} for i in range(8)]
    first = run(Emulator(seed=4), requests)
    values = []
    for result in first.values():
        assert result.type == "succeeded" and result.message.stop_reason == "end_turn"
        (block,) = result.message.content
        value = json.loads(block.text)
        jsonschema.validate(value, SCHEMA)
        assert set(value) <= set(SCHEMA["properties"])
        values.append(value)
    assert len({json.dumps(v, sort_keys=True) for v in values}) > 1  # drawn, not one canned value
    again = run(Emulator(seed=4), requests)
    assert [r.message.content for r in again.values()] == [r.message.content for r in first.values()]
    other = run(Emulator(seed=5), requests)
    assert [r.message.content for r in other.values()] != [r.message.content for r in first.values()]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_schemas(), st.integers(min_value=0, max_value=2**32))
def test_structured_output_is_valid_for_any_drawn_schema(schema: dict[str, Any], seed: int) -> None:
    params = {
        **BASE,
        "max_tokens": 4096,
        "messages": hi(),
        "output_config": {"format": {"type": "json_schema", "schema": schema}},
    }
    message = default_message("x", params, 100, str(seed))
    jsonschema.validate(json.loads(message["content"][0]["text"]), schema)


def test_bad_output_formats_end_errored() -> None:
    requests = [
        {"custom_id": "t", "params": {**BASE, "messages": hi(), "output_config": {"format": {"type": "json"}}}},
        {"custom_id": "s", "params": {**BASE, "messages": hi(), "output_format": {"type": "json_schema"}}},
    ]
    results = run(Emulator(), requests)
    assert error_of(results["t"]) == "output_config.format.type: Input should be 'json_schema'"
    assert error_of(results["s"]) == "output_format.schema: Field required"


# -- extended thinking ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "thinking",
    [
        {"type": "enabled", "budget_tokens": 2048},
        {"type": "adaptive"},
        {"type": "enabled", "budget_tokens": 1024, "display": "omitted"},
        {"type": "adaptive", "display": "summarized"},
    ],
)
def test_thinking_comes_first_with_a_signature(thinking: dict[str, Any]) -> None:
    params = {**BASE, "max_tokens": 4096, "messages": hi("Why is the sky blue?")}
    results = run(
        Emulator(),
        [{"custom_id": "t", "params": {**params, "thinking": thinking}}, {"custom_id": "p", "params": params}],
    )
    message, plain = results["t"].message, results["p"].message
    first, answer = message.content
    assert first.type == "thinking" and answer.type == "text"
    assert first.signature and len(first.signature) > 40
    if thinking.get("display") == "omitted":
        assert first.thinking == ""
    else:
        assert "Why is the sky blue?" in first.thinking
    assert answer.text == plain.content[0].text.replace("reply to p:", "reply to t:")
    # Output tokens count the thinking, shown or not.
    assert message.usage.output_tokens > plain.usage.output_tokens


@pytest.mark.parametrize(
    ("max_tokens", "budget", "message"),
    [
        (4096, 1023, "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"),
        (2048, 2048, "max_tokens: must be greater than thinking.budget_tokens"),
        (2048, 3000, "max_tokens: must be greater than thinking.budget_tokens"),
    ],
)
def test_thinking_budget_errors_name_budget_tokens(max_tokens: int, budget: int, message: str) -> None:
    thinking = {"type": "enabled", "budget_tokens": budget}
    params = {**BASE, "max_tokens": max_tokens, "messages": hi(), "thinking": thinking}
    result = run(Emulator(), [{"custom_id": "t", "params": params}])["t"]
    assert error_of(result) == message and "budget_tokens" in message


def test_thinking_with_structured_output() -> None:
    params = {
        **BASE,
        "max_tokens": 4096,
        "messages": hi(),
        "thinking": {"type": "adaptive"},
        "output_config": {"format": {"type": "json_schema", "schema": SCHEMA}},
    }
    message = run(Emulator(), [{"custom_id": "t", "params": params}])["t"].message
    assert [b.type for b in message.content] == ["thinking", "text"]
    jsonschema.validate(json.loads(message.content[1].text), SCHEMA)


# -- prompt caching -------------------------------------------------------------------------------

LONG = "The handbook says: " + "every clause matters and is read with care. " * 200  # ~2,250 tokens


def cached_requests(n: int, ttl: str | None = None, model: str = "claude-sonnet-4-5") -> list[dict[str, Any]]:
    control: dict[str, Any] = {"type": "ephemeral"} if ttl is None else {"type": "ephemeral", "ttl": ttl}
    system = [{"type": "text", "text": LONG, "cache_control": control}]
    return [
        {"custom_id": f"c-{i}", "params": {**BASE, "model": model, "system": system, "messages": hi(f"Question {i}")}}
        for i in range(n)
    ]


def usage_of(results: dict[str, Any]) -> list[Any]:
    return [r.message.usage for r in results.values()]


@pytest.mark.parametrize("ttl", [None, "5m", "1h"])
def test_a_shared_prefix_is_written_once_then_read(ttl: str | None) -> None:
    results = run(Emulator(), cached_requests(5, ttl))
    uncached = run(Emulator(), [{**r, "params": {**r["params"], "system": LONG}} for r in cached_requests(1)])
    total = usage_of(uncached)[0].input_tokens
    usages = usage_of(results)  # results come in processing order: the first one writes
    writes = [u for u in usages if u.cache_creation_input_tokens]
    reads = [u for u in usages if u.cache_read_input_tokens]
    assert len(writes) == 1 and len(reads) == 4
    written = writes[0].cache_creation_input_tokens
    assert written >= 1024
    assert all(u.cache_read_input_tokens == written and u.cache_creation_input_tokens == 0 for u in reads)
    key = "ephemeral_1h_input_tokens" if ttl == "1h" else "ephemeral_5m_input_tokens"
    other = "ephemeral_5m_input_tokens" if ttl == "1h" else "ephemeral_1h_input_tokens"
    assert getattr(writes[0].cache_creation, key) == written and getattr(writes[0].cache_creation, other) == 0
    for u in usages:  # input_tokens leaves out the cached part
        cached = u.cache_creation_input_tokens + u.cache_read_input_tokens
        assert 0 < u.input_tokens < total - 1000
        assert abs(u.input_tokens + cached - (total + 2)) <= 20  # the same prompt, bar the markers' bytes


def test_a_prefix_below_the_models_minimum_is_not_cached() -> None:
    # ~2,250 tokens: enough for Sonnet 4.5 (1,024), not for Opus 4.5 (4,096).
    results = run(Emulator(), cached_requests(3, model="claude-opus-4-5"))
    assert all(u.cache_creation_input_tokens == 0 and u.cache_read_input_tokens == 0 for u in usage_of(results))
    short = [
        {
            "custom_id": "s",
            "params": {
                **BASE,
                "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
                "messages": hi(),
            },
        }
    ]
    assert usage_of(run(Emulator(), short))[0].cache_creation_input_tokens == 0


def test_breakpoints_split_writes_by_ttl_and_top_level_cache_control() -> None:
    tools = [
        {
            "name": "lookup",
            "description": LONG,
            "input_schema": {"type": "object"},
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        }
    ]
    params = {**BASE, "tools": tools, "system": LONG, "messages": hi(), "cache_control": {"type": "ephemeral"}}
    results = run(
        Emulator(),
        [{"custom_id": "a", "params": params}, {"custom_id": "b", "params": {**params, "messages": hi("Other")}}],
    )
    a, b = results["a"].message.usage, results["b"].message.usage
    writer, reader = (a, b) if a.cache_creation_input_tokens > b.cache_creation_input_tokens else (b, a)
    assert writer.cache_creation.ephemeral_1h_input_tokens > 1024  # the tools, up to their breakpoint
    assert writer.cache_creation.ephemeral_5m_input_tokens > 1024  # the system prompt up to the last block
    # The other request shares the tools' prefix but not its last message: it reads the tools and
    # writes the rest.
    assert reader.cache_read_input_tokens == writer.cache_creation.ephemeral_1h_input_tokens
    assert reader.cache_creation.ephemeral_5m_input_tokens > 1024


@pytest.mark.parametrize(("rate", "reads"), [(0.0, 0), (1.0, 19)])
def test_the_scenario_sets_the_best_effort_hit_rate(rate: float, reads: int) -> None:
    results = run(Emulator({"cache_hit_rate": rate}), cached_requests(20))
    assert sum(1 for u in usage_of(results) if u.cache_read_input_tokens) == reads
    half = run(Emulator({"cache_hit_rate": 0.5, "seed": 3}), cached_requests(40))
    hits = sum(1 for u in usage_of(half) if u.cache_read_input_tokens)
    assert 8 < hits < 32
    assert usage_of(run(Emulator({"cache_hit_rate": 0.5, "seed": 3}), cached_requests(40))) == usage_of(half)


# -- stop reasons set by rules --------------------------------------------------------------------


def test_rules_set_stop_reasons_with_the_content_they_imply() -> None:
    reasons = [
        "refusal",
        "pause_turn",
        "model_context_window_exceeded",
        "max_tokens",
        "tool_use",
        "stop_sequence",
        "end_turn",
    ]
    sim = Emulator({"rules": [{"custom_id": f"^{r}$", "stop_reason": r} for r in reasons]})
    tools = [
        {
            "name": "lookup",
            "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        }
    ]
    params = {
        **BASE,
        "messages": hi("Tell me everything about the moon and its phases"),
        "tools": tools,
        "stop_sequences": ["##"],
    }
    results = run(
        sim, [{"custom_id": r, "params": params} for r in reasons] + [{"custom_id": "plain", "params": params}]
    )
    plain = results["plain"].message
    by = {r: results[r].message for r in reasons}
    for reason, message in by.items():
        assert message.stop_reason == reason
    assert by["refusal"].content == [] and by["refusal"].stop_details is not None
    assert by["refusal"].stop_details.type == "refusal"
    assert [b.type for b in by["pause_turn"].content] == ["text", "server_tool_use"]
    assert by["pause_turn"].content[1].name == "web_search"
    for cut in ("model_context_window_exceeded", "max_tokens"):
        whole = plain.content[0].text.replace("plain", cut)
        assert whole.startswith(by[cut].content[0].text) and len(by[cut].content[0].text) < len(whole)
    assert by["max_tokens"].usage.output_tokens == BASE["max_tokens"]
    assert by["tool_use"].content[0].type == "tool_use" and by["tool_use"].content[0].input == {"q": "example"}
    assert by["stop_sequence"].stop_sequence == "##"
    assert by["end_turn"].content[0].text == plain.content[0].text.replace("plain", "end_turn")


def test_a_stop_reason_rule_must_leave_the_result_succeeded() -> None:
    from batchsim import ScenarioError

    with pytest.raises(ScenarioError, match=r"rules.0.stop_reason: only a succeeded result"):
        Emulator({"rules": [{"custom_id": "x", "result": "errored", "stop_reason": "refusal"}]})
    with pytest.raises(ScenarioError, match=r"rules.0.stop_reason: expected one of"):
        Emulator({"rules": [{"custom_id": "x", "stop_reason": "bored"}]})


# -- the fast path ---------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    message_params(api_version="2023-06-01"),
    st.text("abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=64),
    st.integers(min_value=1, max_value=10**6),
    st.text(min_size=1, max_size=20),
)
def test_the_fast_path_writes_the_bytes_of_the_default_message(
    params: dict[str, Any], custom_id: str, size: int, key: str
) -> None:
    assert default_message_json(custom_id, params, size, key) == orjson.dumps(
        default_message(custom_id, params, size, key)
    )


@pytest.mark.parametrize("reason", ["refusal", "pause_turn", "tool_use", "max_tokens"])
def test_thinking_and_rule_stop_reasons_together_make_a_valid_message(reason: str) -> None:
    params = {**BASE, "max_tokens": 4096, "messages": hi(), "thinking": {"type": "enabled", "budget_tokens": 1024}}
    message = Message.model_validate(default_message("x", params, 100, "k", Extras(stop_reason=reason)))
    assert message.stop_reason == reason and message.content[0].type == "thinking"


# -- list with both cursors -----------------------------------------------------------------------


@pytest.mark.parametrize("choice", ["error", "after_id", "before_id"])
def test_list_with_both_cursors(choice: str) -> None:
    import anthropic

    sim = Emulator({} if choice == "error" else {"list_both_cursors": choice})
    with sim.client(max_retries=0, _strict_response_validation=True) as client:
        ids = [
            client.messages.batches.create(requests=[{"custom_id": "a", "params": {**BASE, "messages": hi()}}]).id
            for _ in range(5)
        ]  # listed newest first: ids[4] .. ids[0]
        if choice == "error":
            with pytest.raises(anthropic.BadRequestError, match="Only one of after_id and before_id"):
                client.messages.batches.list(after_id=ids[3], before_id=ids[1])
            return
        page = client.messages.batches.list(after_id=ids[3], before_id=ids[1], limit=10)
    expected = [ids[2], ids[1], ids[0]] if choice == "after_id" else [ids[4], ids[3], ids[2]]
    assert [b.id for b in page.data] == expected
