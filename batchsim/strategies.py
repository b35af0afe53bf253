"""Hypothesis strategies for Message Batches: valid and invalid create bodies, params and scenarios.

Needs Hypothesis (a dev dependency: ``pip install hypothesis``); importing this module without it
raises ``ImportError`` saying so. Public strategies:

* :func:`custom_ids` — ids the API accepts (``^[a-zA-Z0-9_-]{1,64}$``);
* :func:`message_params` — valid Messages ``params`` for an API version (system prompts, tools and
  tool_choice, stop sequences, sampling settings where the version allows them, multi-turn
  messages, content blocks, structured outputs, extended thinking, cache breakpoints);
* :func:`json_schemas` — JSON schemas of the kind structured outputs take;
* :func:`batch_requests` — lists of ``{"custom_id", "params"}`` with unique ids;
* :func:`invalid_batch_requests` — create bodies the API refuses with a 400, one kind per rule it
  enforces, each with the expected message (:class:`InvalidBody`);
* :func:`invalid_params` — ``params`` the create accepts but that end ``errored`` with
  ``invalid_request_error`` (:class:`InvalidParams`);
* :func:`scenarios` — valid :class:`~batchsim.Scenario` objects.
"""

from __future__ import annotations

from typing import Any, NamedTuple

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("batchsim.strategies needs Hypothesis: pip install hypothesis") from exc

from ._anthropic.validation import CUSTOM_ID_PATTERN, MAX_REQUESTS
from ._anthropic.versions import no_sampling_parameters, rules_for
from ._engine.scenario import REQUEST_ERROR_TYPES, Scenario

__all__ = [
    "InvalidBody",
    "InvalidParams",
    "batch_requests",
    "custom_ids",
    "invalid_batch_requests",
    "invalid_params",
    "json_schemas",
    "message_params",
    "scenarios",
]

JSON = dict[str, Any]
_MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1")
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"


class InvalidBody(NamedTuple):
    """A create body the API refuses with 400 ``invalid_request_error``: ``message`` is how the
    error message starts; ``rule`` names the rule broken."""

    body: Any
    message: str
    rule: str


class InvalidParams(NamedTuple):
    """``params`` accepted at create that end ``errored`` (``invalid_request_error``); the error
    message starts with ``message``."""

    params: JSON
    message: str
    rule: str


# JSON integers beyond 64 bits are not something the API (or the emulator's parser) takes.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _int64() -> st.SearchStrategy[int]:
    return st.integers(min_value=_INT64_MIN, max_value=_INT64_MAX)


def custom_ids(*, max_size: int = 64) -> st.SearchStrategy[str]:
    """Custom ids the API accepts: 1 to ``max_size`` (≤ 64) of ``a-z A-Z 0-9 _ -``."""
    return st.text(_ID_ALPHABET, min_size=1, max_size=min(max_size, 64))


def _text() -> st.SearchStrategy[str]:
    # The API refuses text blocks that are empty or whitespace only.
    return st.text(st.characters(codec="utf-8"), min_size=1, max_size=40).filter(lambda t: not t.isspace())


def _content() -> st.SearchStrategy[Any]:
    block = st.builds(lambda t: {"type": "text", "text": t}, _text())
    return st.one_of(_text(), st.lists(block, min_size=1, max_size=3))


@st.composite
def _messages(draw: st.DrawFn) -> list[JSON]:
    turns = draw(st.integers(min_value=0, max_value=2))
    messages: list[JSON] = []
    for _ in range(turns):
        messages.append({"role": "user", "content": draw(_content())})
        messages.append({"role": "assistant", "content": draw(_text())})
    messages.append({"role": "user", "content": draw(_content())})
    return messages


def _tool(name: str) -> JSON:
    return {
        "name": name,
        "description": f"The {name} tool.",
        "input_schema": {"type": "object", "properties": {"value": {"type": "string"}}, "required": ["value"]},
    }


_SCALARS: tuple[JSON, ...] = (
    {"type": "string"},
    {"type": "string", "minLength": 3, "maxLength": 12},
    {"type": "string", "format": "date"},
    {"type": "integer"},
    {"type": "integer", "minimum": -5, "maximum": 40},
    {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
    {"type": "boolean"},
    {"type": "null"},
    {"enum": ["low", "medium", "high"]},
    {"type": "string", "enum": ["yes", "no"]},
    {"const": "fixed"},
    {"anyOf": [{"type": "string"}, {"type": "null"}]},
)


@st.composite
def json_schemas(draw: st.DrawFn, *, depth: int = 2) -> JSON:
    """JSON schemas of the kind structured outputs take: an object with typed properties (strings
    with lengths and formats, numbers with bounds, enums, arrays, nested objects), some required,
    ``additionalProperties: false``."""
    names = draw(st.lists(st.from_regex(r"[a-z][a-z_]{0,9}", fullmatch=True), min_size=1, max_size=5, unique=True))
    leaf = st.sampled_from(_SCALARS)
    value = st.deferred(lambda: json_schemas(depth=depth - 1)) if depth > 0 else leaf
    arrays = st.builds(
        lambda items, low: {"type": "array", "items": items, "minItems": low, "maxItems": low + 3},
        st.one_of(leaf, value),
        st.integers(min_value=0, max_value=2),
    )
    properties = {name: draw(st.one_of(leaf, arrays, value) if depth > 0 else leaf) for name in names}
    required = [name for name in names if draw(st.booleans())]
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _cache_control() -> st.SearchStrategy[JSON]:
    return st.sampled_from(
        ({"type": "ephemeral"}, {"type": "ephemeral", "ttl": "5m"}, {"type": "ephemeral", "ttl": "1h"})
    )


def _add_features(draw: st.DrawFn, params: JSON) -> None:
    """Structured outputs, extended thinking and cache breakpoints, each maybe."""
    if draw(st.booleans()):
        params["output_config"] = {"format": {"type": "json_schema", "schema": draw(json_schemas())}}
    forces_tool = (params.get("tool_choice") or {}).get("type") in ("any", "tool")
    if not forces_tool and draw(st.booleans()):
        if draw(st.booleans()):
            params["max_tokens"] = draw(st.integers(min_value=1025, max_value=16000))
            budget = draw(st.integers(min_value=1024, max_value=params["max_tokens"] - 1))
            params["thinking"] = {"type": "enabled", "budget_tokens": budget}
        else:
            params["thinking"] = {"type": "adaptive"}
        if draw(st.booleans()):
            params["thinking"]["display"] = draw(st.sampled_from(("summarized", "omitted")))
    if draw(st.booleans()):
        last = params["messages"][-1]
        if isinstance(last["content"], str):
            last["content"] = [{"type": "text", "text": last["content"]}]
        last["content"][-1]["cache_control"] = draw(_cache_control())
        if isinstance(params.get("system"), list):
            params["system"][-1]["cache_control"] = draw(_cache_control())
        if params.get("tools"):
            params["tools"][-1]["cache_control"] = draw(_cache_control())
        if draw(st.booleans()):
            params["cache_control"] = draw(_cache_control())


@st.composite
def message_params(
    draw: st.DrawFn,
    *,
    models: tuple[str, ...] = _MODELS,
    api_version: str = "2026-10-21",
    features: bool = True,
) -> JSON:
    """Valid Messages ``params`` (non-streaming) for ``anthropic-version: api_version`` (the
    current SDKs' default; sampling settings appear only for versions that take them), with a
    random selection of optional fields; ``features=False`` leaves out structured outputs,
    thinking and cache breakpoints."""
    params: JSON = {
        "model": draw(st.sampled_from(models)),
        "max_tokens": draw(st.integers(min_value=1, max_value=4096)),
        "messages": draw(_messages()),
    }
    sampling = no_sampling_parameters not in rules_for(api_version)
    if draw(st.booleans()):
        text_blocks = st.lists(st.builds(lambda t: {"type": "text", "text": t}, _text()), min_size=1, max_size=2)
        params["system"] = draw(st.one_of(_text(), text_blocks))
    if draw(st.booleans()):
        params["stop_sequences"] = draw(st.lists(_text(), max_size=3))
    for key in ("temperature", "top_p"):
        if sampling and draw(st.booleans()):
            params[key] = draw(st.floats(min_value=0.0, max_value=1.0))
    if sampling and draw(st.booleans()):
        params["top_k"] = draw(st.integers(min_value=0, max_value=500))
    if draw(st.booleans()):
        params["metadata"] = {"user_id": draw(custom_ids())}
    if draw(st.booleans()):
        names = draw(
            st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True), min_size=1, max_size=3, unique=True)
        )
        params["tools"] = [_tool(n) for n in names]
        choice = draw(st.sampled_from(("omit", "auto", "any", "tool", "none")))
        if choice == "tool":
            params["tool_choice"] = {"type": "tool", "name": draw(st.sampled_from(names))}
        elif choice != "omit":
            params["tool_choice"] = {"type": choice}
    if features:
        _add_features(draw, params)
    return params


@st.composite
def batch_requests(
    draw: st.DrawFn, *, min_size: int = 1, max_size: int = 20, api_version: str = "2026-10-21"
) -> list[JSON]:
    """A valid ``requests`` list: ``min_size`` to ``max_size`` requests with unique custom ids,
    valid for ``api_version``."""
    ids = draw(st.lists(custom_ids(), min_size=min_size, max_size=max_size, unique=True))
    return [{"custom_id": cid, "params": draw(message_params(api_version=api_version))} for cid in ids]


# -- invalid create bodies -------------------------------------------------------------------------


class _Repeated(list[Any]):
    """A long list with a short repr (Hypothesis prints examples)."""

    def __init__(self, value: Any, count: int) -> None:
        super().__init__([value] * count)
        self._text = f"[{value!r}] * {count}"

    def __repr__(self) -> str:
        return self._text


_GOOD = {"model": _MODELS[0], "max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}]}


def _good(i: int) -> JSON:
    return {"custom_id": f"ok-{i}", "params": dict(_GOOD)}


_ITEM_RULES = (
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


@st.composite
def _bad_item(draw: st.DrawFn, kind: str) -> InvalidBody:
    """One request breaking rule ``kind``, at a random position among valid ones."""
    before = draw(st.integers(min_value=0, max_value=3))
    after = draw(st.integers(min_value=0, max_value=2))
    i = before
    where = f"requests.{i}"
    item: Any
    if kind == "item_not_object":
        item = draw(st.one_of(_int64(), st.text(max_size=5), st.lists(_int64(), max_size=2), st.none()))
        message = f"{where}: Input should be a valid dictionary"
    elif kind == "missing_custom_id":
        item, message = {"params": dict(_GOOD)}, f"{where}.custom_id: Field required"
    elif kind == "missing_params":
        item, message = {"custom_id": "bad"}, f"{where}.params: Field required"
    elif kind == "extra_item_key":
        key = draw(st.sampled_from(("method", "url", "body", "customId")))
        item, message = {**_good(99), key: 1}, f"{where}.{key}: Extra inputs are not permitted"
    elif kind == "custom_id_not_string":
        not_str = draw(st.one_of(_int64(), st.booleans(), st.none(), st.lists(_int64(), max_size=1)))
        item, message = (
            {"custom_id": not_str, "params": dict(_GOOD)},
            f"{where}.custom_id: Input should be a valid string",
        )
    elif kind == "custom_id_empty":
        item, message = {"custom_id": "", "params": dict(_GOOD)}, f"{where}.custom_id: String should have at least 1"
    elif kind == "custom_id_too_long":
        cid = draw(st.text(_ID_ALPHABET, min_size=65, max_size=100))
        item, message = {"custom_id": cid, "params": dict(_GOOD)}, f"{where}.custom_id: String should have at most 64"
    elif kind == "custom_id_pattern":
        cid = draw(st.text(min_size=1, max_size=64).filter(lambda s: any(c not in _ID_ALPHABET for c in s)))
        message = f"{where}.custom_id: String should match pattern '{CUSTOM_ID_PATTERN}'"
        item = {"custom_id": cid, "params": dict(_GOOD)}
    elif kind == "duplicate_custom_id":
        if before == 0:
            before, i, where = 1, 1, "requests.1"
        item = {"custom_id": f"ok-{draw(st.integers(min_value=0, max_value=before - 1))}", "params": dict(_GOOD)}
        message = f"{where}.custom_id: Duplicate custom_id"
    else:
        params = draw(st.one_of(st.text(max_size=5), _int64(), st.lists(_int64(), max_size=2), st.none()))
        item, message = (
            {"custom_id": "bad-params", "params": params},
            f"{where}.params: Input should be a valid dictionary",
        )
    requests = [_good(k) for k in range(before)] + [item] + [_good(100 + k) for k in range(after)]
    return InvalidBody({"requests": requests}, message, kind)


def invalid_batch_requests() -> st.SearchStrategy[InvalidBody]:
    """Create bodies the API refuses with 400 ``invalid_request_error``, one kind per rule: the body
    (not a ``requests`` object, missing/extra keys, empty or too long lists, malformed requests, bad
    or duplicate custom ids, non-object params) with the message the error starts with."""
    top_level = st.one_of(
        st.just(InvalidBody({}, "requests: Field required", "missing_requests")),
        st.sampled_from(("metadata", "model", "betas")).map(
            lambda k: InvalidBody({"requests": [_good(0)], k: 1}, f"{k}: Extra inputs are not permitted", "extra_key")
        ),
        # (``"requests": null`` is left out: the emulator answers "Field required" there.)
        st.one_of(st.text(max_size=5), _int64(), st.dictionaries(st.just("a"), _int64())).map(
            lambda v: InvalidBody({"requests": v}, "requests: Input should be a valid list", "requests_not_list")
        ),
        st.just(
            InvalidBody(
                {"requests": []},
                "requests: List should have at least 1 item after validation, not 0",
                "empty_requests",
            )
        ),
        st.just(
            InvalidBody(
                {"requests": _Repeated(0, MAX_REQUESTS + 1)},
                f"requests: List should have at most {MAX_REQUESTS} items after validation, not {MAX_REQUESTS + 1}",
                "too_many_requests",
            )
        ),
        st.one_of(st.lists(_int64(), max_size=2), st.text(max_size=4), _int64()).map(
            lambda v: InvalidBody(v, "Input should be a valid dictionary", "body_not_object")
        ),
    )
    return st.one_of(top_level, *(_bad_item(kind) for kind in _ITEM_RULES))


# -- params that end errored ----------------------------------------------------------------------


def _broken(rule: str, message: str, **changes: Any) -> InvalidParams:
    params: JSON = {**_GOOD, **changes}
    for key, value in changes.items():
        if value is _DROP:
            del params[key]
    return InvalidParams(params, message, rule)


_DROP: Any = object()


def invalid_params() -> st.SearchStrategy[InvalidParams]:
    """``params`` that the create accepts but that end ``errored`` with ``invalid_request_error``
    (one kind per rule the Messages API checks before any model runs)."""
    not_int = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=3), st.booleans(), st.none())
    not_number = st.one_of(st.text(max_size=3), st.booleans(), st.lists(_int64(), max_size=1))
    cases = [
        st.sampled_from(("model", "max_tokens", "messages")).map(
            lambda k: _broken(f"missing_{k}", f"{k}: Field required", **{k: _DROP})
        ),
        st.just(_broken("stream", "stream: streaming is not supported in message batches", stream=True)),
        st.one_of(st.just(""), _int64(), st.none()).map(
            lambda v: _broken("model_invalid", "model: Input should be a valid non-empty string", model=v)
        ),
        not_int.map(lambda v: _broken("max_tokens_type", "max_tokens: Input should be a valid integer", max_tokens=v)),
        st.integers(min_value=_INT64_MIN, max_value=0).map(
            lambda v: _broken("max_tokens_low", "max_tokens: Input should be greater than or equal to 1", max_tokens=v)
        ),
        st.one_of(st.text(max_size=3), _int64(), st.dictionaries(st.just("a"), _int64())).map(
            lambda v: _broken("messages_type", "messages: Input should be a valid list", messages=v)
        ),
        st.just(_broken("messages_empty", "messages: at least one message is required", messages=[])),
        st.from_regex(r"[a-z]{3,12}_x", fullmatch=True).map(
            lambda k: _broken("unknown_member", f"{k}: Extra inputs are not permitted", **{k: 1})
        ),
        st.sampled_from(("", [{"type": "text", "text": ""}])).map(
            lambda c: _broken(
                "text_empty",
                "messages: text content blocks must be non-empty",
                messages=[{"role": "user", "content": c}],
            )
        ),
        st.text(" \t\n\r", min_size=1, max_size=4).map(
            lambda c: _broken(
                "text_whitespace",
                "messages: text content blocks must contain non-whitespace text",
                messages=[{"role": "user", "content": c}],
            )
        ),
        st.just(_broken("message_type", "messages.0: Input should be a valid dictionary", messages=["hi"])),
        st.just(_broken("role_missing", "messages.0.role: Field required", messages=[{"content": "hi"}])),
        st.sampled_from(("system", "tool", "User", "")).map(
            lambda r: _broken(
                "role_invalid",
                "messages.0.role: Input should be 'user' or 'assistant'",
                messages=[{"role": r, "content": "hi"}],
            )
        ),
        st.just(_broken("content_missing", "messages.0.content: Field required", messages=[{"role": "user"}])),
        st.one_of(_int64(), st.none(), st.dictionaries(st.just("a"), _int64())).map(
            lambda c: _broken(
                "content_type",
                "messages.0.content: Input should be a valid string or list of content blocks",
                messages=[{"role": "user", "content": c}],
            )
        ),
        st.one_of(st.just({"text": "no type"}), st.just("plain"), st.just({"type": 3})).map(
            lambda b: _broken(
                "content_block",
                "messages.0.content.0: Input should be a valid content block with a type",
                messages=[{"role": "user", "content": [b]}],
            )
        ),
        st.one_of(_int64(), st.booleans(), st.dictionaries(st.just("a"), _int64(), min_size=1)).map(
            lambda v: _broken("system_type", "system: Input should be a valid string or list of text blocks", system=v)
        ),
        st.one_of(st.text(max_size=3), st.lists(_int64(), min_size=1, max_size=2)).map(
            lambda v: _broken(
                "stop_sequences_type", "stop_sequences: Input should be a valid list of strings", stop_sequences=v
            )
        ),
        st.sampled_from(("temperature", "top_p")).flatmap(
            lambda k: st.one_of(
                not_number.map(lambda v: _broken(f"{k}_type", f"{k}: Input should be a valid number", **{k: v})),
                st.one_of(st.floats(min_value=-1e6, max_value=-0.001), st.floats(min_value=1.001, max_value=1e6)).map(
                    lambda v: _broken(f"{k}_range", f"{k}: Input should be between 0 and 1", **{k: v})
                ),
            )
        ),
        st.one_of(
            st.integers(min_value=_INT64_MIN, max_value=-1),
            st.floats(allow_nan=False, allow_infinity=False),
            st.text(max_size=2),
        ).map(lambda v: _broken("top_k", "top_k: Input should be a non-negative integer", top_k=v)),
        st.one_of(st.text(max_size=3), _int64(), st.dictionaries(st.just("a"), _int64())).map(
            lambda v: _broken("tools_type", "tools: Input should be a valid list", tools=v)
        ),
        st.one_of(st.just({}), st.just({"name": ""}), st.just({"name": 3}), st.just("tool")).map(
            lambda t: _broken("tool_name", "tools.0.name: Field required", tools=[t])
        ),
        st.one_of(st.just({"type": "auto_pick"}), st.just("auto"), st.just({})).map(
            lambda c: _broken(
                "tool_choice_type",
                "tool_choice: Input should be an object with type 'auto', 'any', 'tool' or 'none'",
                tool_choice=c,
            )
        ),
        st.just(
            _broken(
                "tool_choice_unknown_tool",
                "tool_choice.name: tool 'lookup' is not among the request's tools",
                tools=[_tool("search")],
                tool_choice={"type": "tool", "name": "lookup"},
            )
        ),
        st.just(
            _broken(
                "tool_choice_any_without_tools",
                "tool_choice: type 'any' requires at least one tool",
                tool_choice={"type": "any"},
            )
        ),
        st.integers(min_value=0, max_value=1023).map(
            lambda b: _broken(
                "thinking_budget_low",
                "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
                max_tokens=4096,
                thinking={"type": "enabled", "budget_tokens": b},
            )
        ),
        st.integers(min_value=1024, max_value=4096).map(
            lambda m: _broken(
                "thinking_budget_not_below_max_tokens",
                "max_tokens: must be greater than thinking.budget_tokens",
                max_tokens=m,
                thinking={"type": "enabled", "budget_tokens": m},
            )
        ),
        st.sampled_from(({"type": "json"}, {"type": "json_schema"}, "json")).map(
            lambda f: _broken(
                "output_format",
                "output_config.format.",
                output_config={"format": f},
            )
        ),
        st.integers(min_value=5, max_value=8).map(
            lambda n: _broken(
                "too_many_cache_breakpoints",
                f"A maximum of 4 blocks with cache_control may be provided. Found {n}.",
                messages=[
                    {"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}]}
                    for _ in range(n)
                ],
            )
        ),
    ]
    return st.one_of(cases)


# -- scenarios ------------------------------------------------------------------------------------


@st.composite
def scenarios(draw: st.DrawFn, *, faults: bool = False, max_per_request: float = 600.0) -> Scenario:
    """Valid scenarios: timing, outcome fractions, error types, ``custom_id`` rules and (with
    ``faults=True``) HTTP faults given as counts."""
    errored = draw(st.floats(min_value=0.0, max_value=1.0))
    expired = draw(st.floats(min_value=0.0, max_value=1.0 - errored))
    error_types = draw(
        st.dictionaries(st.sampled_from(REQUEST_ERROR_TYPES), st.floats(min_value=0.1, max_value=5.0), min_size=1)
    )
    rules = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "custom_id": st.sampled_from(("^a", "b$", "^[0-9]", "-", "_x", "^poison-")),
                    "result": st.sampled_from(("succeeded", "errored", "expired", "canceled")),
                },
                optional={"error_type": st.sampled_from(REQUEST_ERROR_TYPES)},
            ),
            max_size=3,
        )
    )
    data: JSON = {
        "seed": draw(st.integers(min_value=0, max_value=2**32)),
        "timing": {
            "start_delay": draw(st.floats(min_value=0.0, max_value=60.0)),
            "per_request": draw(st.floats(min_value=0.001, max_value=max_per_request)),
            "concurrency": draw(st.integers(min_value=1, max_value=2000)),
            "jitter": draw(st.floats(min_value=0.0, max_value=1.0)),
            "cancel_delay": draw(st.floats(min_value=0.0, max_value=60.0)),
        },
        "outcomes": {"errored": errored, "expired": expired, "error_types": error_types},
        "rules": rules,
    }
    if faults:
        data["faults"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "endpoint": st.sampled_from(("create", "retrieve", "list", "cancel", "delete", "results", "*")),
                        "status": st.sampled_from((429, 500, 529)),
                        "times": st.integers(min_value=0, max_value=3),
                    }
                ),
                max_size=2,
            )
        )
    return Scenario.from_dict(data)
