"""Validation of create bodies (synchronous, as the API does) and of per-request ``params``
(which the API checks asynchronously: a bad ``params`` never fails the create, the request ends
``errored`` with ``invalid_request_error``).

Messages follow the API's pydantic style: ``requests.3.custom_id: String should match pattern ...``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import partial
from operator import itemgetter
from typing import Any

import orjson

from .._engine.collector import collector as _collector
from .._engine.errors import InvalidError, TooLargeError
from .._engine.params import PackedIds, PackedParams
from .catalogue import ModelCheck, default_check
from .features import features_problem
from .versions import version_problem

__all__ = [
    "COUNT_KEYS",
    "MAX_BODY_BYTES",
    "MAX_PARAMS_DEPTH",
    "MAX_REQUESTS",
    "NOT_FOUND",
    "REQUEST_KEYS",
    "ParsedCreate",
    "parse_create",
    "plainly_countable",
    "problem_error",
    "validate_params",
]

MAX_REQUESTS = 100_000
MAX_BODY_BYTES = 256 * 1024 * 1024
MAX_PARAMS_DEPTH = 254
"""How deeply a request's ``params`` may nest (orjson encodes no deeper); deeper is a 400 at create."""
CUSTOM_ID_PATTERN = "^[a-zA-Z0-9_-]{1,64}$"
_CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_CUSTOM_IDS = re.compile(r"(?:[a-zA-Z0-9_-]{1,64}\n)*[a-zA-Z0-9_-]{1,64}")  # joined with newlines
_get_custom_id = itemgetter("custom_id")
_get_params = itemgetter("params")
_get_plain_fields = itemgetter("model", "max_tokens", "messages")
_get_role_content = itemgetter("role", "content")
_REQUEST_KEYS = frozenset({"custom_id", "params"})
_ROLES = frozenset({"user", "assistant"})
REQUEST_KEYS = frozenset(
    {
        # the Messages API's body, as every SDK generation sends it (GA and beta): OpenAPI
        # CreateMessageParams plus what the SDKs' create() puts in the body
        "model", "messages", "max_tokens", "metadata", "service_tier", "stop_sequences", "stream", "system",
        "temperature", "thinking", "tool_choice", "tools", "top_k", "top_p", "container", "context_management",
        "mcp_servers", "output_config", "output_format", "cache_control", "diagnostics", "inference_geo", "speed",
        "user_profile_id", "billing_policy", "compaction", "fallback_credit_token", "fallbacks", "thread",
    }
)  # fmt: skip
"""Every top-level member a Messages request (a batch request's ``params``) may have; any other is
refused: ``<name>: Extra inputs are not permitted`` (the OpenAPI schema's ``additionalProperties:
false``)."""
COUNT_KEYS = frozenset(
    {
        "model", "messages", "system", "thinking", "tool_choice", "tools", "context_management", "mcp_servers",
        "output_config", "output_format", "cache_control", "speed", "user_profile_id", "billing_policy", "compaction",
    }
)  # fmt: skip
"""Every top-level member a token-counting request may have (OpenAPI CountMessageTokensParams and
the SDKs' ``count_tokens()``)."""
NOT_FOUND = "\x1f"
"""Leads a params problem whose error type is ``not_found_error`` (an unknown or retired model)
rather than ``invalid_request_error``; see :func:`problem_error`."""


def problem_error(problem: str) -> tuple[str, str]:
    """``(error type, message)`` of a params problem."""
    if problem.startswith(NOT_FOUND):
        return "not_found_error", problem[1:]
    return "invalid_request_error", problem


class ParsedCreate:
    """The requests of a valid create body: ids, re-encoded params and params problems."""

    __slots__ = ("_held", "_unchecked", "custom_ids", "invalid", "models", "params", "version")

    def __init__(
        self,
        custom_ids: Sequence[str],
        params: Sequence[bytes],
        invalid: dict[int, str],
        version: str | None = None,
        models: ModelCheck | None = None,
    ) -> None:
        self.custom_ids = custom_ids
        self.params = params
        self.invalid = invalid
        self.version = version  # the ``anthropic-version`` the params are judged by
        self.models = models  # the catalogue the models are checked against (at the create)
        self._held: list[Any] | None = None
        self._unchecked: list[dict[str, Any]] | None = None

    @property
    def checked(self) -> bool:
        """Whether :attr:`invalid` is known (``parse_create(check_params=False)`` leaves it to
        :meth:`check_params`)."""
        return self._unchecked is None

    def check_params(self) -> dict[int, str]:
        """Find the params problems a ``check_params=False`` parse left out, into :attr:`invalid`."""
        if self._unchecked is not None:
            self.invalid = _params_problems(self._unchecked, self.version, self.models)
            self._unchecked = None
        return self.invalid

    def release(self) -> None:
        """Free the parsed body if it was kept (``parse_create(body, keep_body=True)``) and let
        the collector run again. Runs at the latest when this object is freed."""
        self._unchecked = None
        held, self._held = self._held, None
        if held is not None:
            held.clear()  # the parsed body goes first: the collector must never walk it
            del held
            _collector.resume()

    __del__ = release


def parse_create(
    body: bytes,
    *,
    keep_body: bool = False,
    check_params: bool = True,
    version: str | None = None,
    models: ModelCheck | None = None,
) -> ParsedCreate:
    """Parse and validate a create body, raising :class:`~batchsim._engine.errors.InvalidError` (or
    ``TooLargeError``) on the first problem.

    Freeing the million objects a 100,000-request body parses into takes tens of milliseconds:
    with ``keep_body`` they stay alive (and the collector paused) until
    :meth:`ParsedCreate.release`, so a server can free them after its answer is sent. With
    ``keep_body`` and not ``check_params``, the per-request params (which the API checks after
    accepting the batch) are checked by :meth:`ParsedCreate.check_params`, also after the answer.
    ``version`` is the create call's ``anthropic-version``: the params are judged by its rules;
    ``models`` is the catalogue their models are checked against (the package's by default)."""
    if len(body) > MAX_BODY_BYTES:
        raise TooLargeError(f"Request exceeds the maximum size of {MAX_BODY_BYTES} bytes")
    if not body.strip():
        raise InvalidError("requests: Field required")
    _collector.pause()
    data: Any = None
    try:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidError(f"The request body is not valid JSON: {exc}") from None
        parsed = _validate(data, check_params=check_params or not keep_body, version=version, models=models)
    except BaseException:
        del data
        _collector.resume()
        raise
    if keep_body:
        parsed._held = [data]  # released (and the collector resumed) by ParsedCreate.release
    else:
        del data
        _collector.resume()
    return parsed


def _validate(data: Any, *, check_params: bool, version: str | None, models: ModelCheck | None) -> ParsedCreate:
    if not isinstance(data, dict):
        raise InvalidError("Input should be a valid dictionary")
    for key in data:
        if key != "requests":
            raise InvalidError(f"{key}: Extra inputs are not permitted")
    if "requests" not in data:
        raise InvalidError("requests: Field required")
    requests = data["requests"]
    if not isinstance(requests, list):
        raise InvalidError("requests: Input should be a valid list")
    count = len(requests)
    if count < 1:
        raise InvalidError("requests: List should have at least 1 item after validation, not 0")
    if count > MAX_REQUESTS:
        raise InvalidError(f"requests: List should have at most {MAX_REQUESTS} items after validation, not {count}")
    return _validate_wholesale(requests, check_params=check_params, version=version, models=models) or _validate_each(
        requests, version, models
    )


def _validate_wholesale(
    requests: list[Any], *, check_params: bool, version: str | None = None, models: ModelCheck | None = None
) -> ParsedCreate | None:
    """Validate every request at once with C-level passes (``map``, one regex over the joined
    ids, sets); ``None`` when anything is off, and :func:`_validate_each` finds the first problem."""
    try:
        if set(map(len, requests)) != {2}:
            return None
        custom_ids = list(map(_get_custom_id, requests))  # TypeError if an item is no dict
        params = list(map(_get_params, requests))  # KeyError if the keys are other ones
        joined = "\n".join(custom_ids)  # TypeError if an id is no string
    except (TypeError, KeyError):
        return None
    if set(map(type, params)) != {dict}:
        return None
    if joined.count("\n") != len(custom_ids) - 1 or _CUSTOM_IDS.fullmatch(joined) is None:
        return None
    if len(set(custom_ids)) != len(custom_ids):
        return None
    try:
        packed = PackedParams.encode(params)
    except orjson.JSONEncodeError:  # nested too deeply to encode: the loop names the request
        return None
    # Packed: the parsed strings are scattered over all the memory the parsed body took.
    parsed = ParsedCreate(PackedIds.split(joined), packed, {}, version, models)
    if check_params:
        parsed.invalid = _params_problems(params, version, models)
    else:
        parsed._unchecked = params
    return parsed


def _params_problems(params: list[dict[str, Any]], version: str | None, models: ModelCheck | None) -> dict[int, str]:
    """Each request's params problem (by index), for those that have one. Plain params (see
    :func:`_plainly_valid`) are valid under every API version."""
    invalid: dict[int, str] = {}
    models = models or default_check()
    plain = partial(_plainly_valid, models=models)
    if not all(map(plain, params)):
        for i, item in enumerate(params):
            if not plain(item):
                problem = validate_params(item, version, models)
                if problem is not None:
                    invalid[i] = problem
    return invalid


def _validate_each(requests: list[Any], version: str | None = None, models: ModelCheck | None = None) -> ParsedCreate:
    """Validate request by request, raising on the first problem in body order."""
    custom_ids: list[str] = []
    all_params: list[dict[str, Any]] = []
    encoded: list[bytes] = []
    seen: set[str] = set()
    fullmatch = _CUSTOM_ID.fullmatch
    dumps = orjson.dumps
    for i, item in enumerate(requests):
        if type(item) is not dict:
            raise InvalidError(f"requests.{i}: Input should be a valid dictionary")
        if len(item) != 2 or item.keys() != _REQUEST_KEYS:
            _bad_item_keys(i, item)
        cid = item["custom_id"]
        if type(cid) is not str or fullmatch(cid) is None:
            _bad_custom_id(i, cid)
        if cid in seen:
            raise InvalidError(
                f"requests.{i}.custom_id: Duplicate custom_id {cid!r}: each request in a batch needs a unique custom_id"
            )
        seen.add(cid)
        params = item["params"]
        if type(params) is not dict:
            raise InvalidError(f"requests.{i}.params: Input should be a valid dictionary")
        custom_ids.append(cid)
        all_params.append(params)
        try:
            encoded.append(dumps(params))
        except orjson.JSONEncodeError:  # parsed (up to 1,024 levels) but too deep to encode again
            raise InvalidError(
                f"requests.{i}.params: Input is nested too deeply (at most {MAX_PARAMS_DEPTH} levels)"
            ) from None
    packed = PackedIds.split("\n".join(custom_ids))  # not strings of the parsed body (see above)
    return ParsedCreate(
        packed, PackedParams.join(encoded), _params_problems(all_params, version, models), version, models
    )


_NO_LIMIT = object()


def _plainly_valid(params: dict[str, Any], models: ModelCheck | None = None) -> bool:
    """A fast check for the common shape (``model``, ``max_tokens`` and text ``messages`` only).

    ``True`` only where :func:`validate_params` (with the same ``models``) finds no problem;
    ``False`` means "ask it"."""
    if len(params) != 3:
        return False
    try:
        model, max_tokens, messages = _get_plain_fields(params)
    except KeyError:
        return False
    if type(model) is not str or not model or type(max_tokens) is not int or max_tokens < 1:
        return False
    if type(messages) is not list or not messages:
        return False
    check = models or default_check()
    limit = check.limits.get(model, _NO_LIMIT)
    if limit is _NO_LIMIT:
        if not check.any_model:
            return False
    elif limit is not None and max_tokens > limit:  # type: ignore[operator]
        return False
    for message in messages:
        if type(message) is not dict or len(message) != 2:
            return False
        try:
            role, content = _get_role_content(message)
        except KeyError:
            return False
        if type(content) is not str or not content or content.isspace() or (role != "user" and role != "assistant"):
            return False
    last = messages[-1]
    return last["role"] != "assistant" or not last["content"][-1].isspace()


def plainly_countable(params: dict[str, Any], models: ModelCheck | None = None) -> bool:
    """The fast check of a token count's common shape (``model``, text ``messages`` and an
    optional ``system`` string): ``True`` only where ``validate_params(..., count=True)`` finds
    no problem; ``False`` means "ask it"."""
    system = params.get("system", "")
    if type(system) is not str or not 2 <= len(params) <= 3 or (len(params) == 3 and "system" not in params):
        return False
    try:
        plain = {"model": params["model"], "max_tokens": 1, "messages": params["messages"]}
    except KeyError:
        return False
    return _plainly_valid(plain, models)


def _bad_item_keys(i: int, item: dict[str, Any]) -> None:
    for key in ("custom_id", "params"):
        if key not in item:
            raise InvalidError(f"requests.{i}.{key}: Field required")
    extra = next(k for k in item if k not in _REQUEST_KEYS)
    raise InvalidError(f"requests.{i}.{extra}: Extra inputs are not permitted")


def _bad_custom_id(i: int, cid: Any) -> None:
    where = f"requests.{i}.custom_id"
    if not isinstance(cid, str):
        raise InvalidError(f"{where}: Input should be a valid string")
    if len(cid) == 0:
        raise InvalidError(f"{where}: String should have at least 1 character")
    if len(cid) > 64:
        raise InvalidError(f"{where}: String should have at most 64 characters")
    raise InvalidError(f"{where}: String should match pattern '{CUSTOM_ID_PATTERN}'")


def validate_params(
    params: dict[str, Any], version: str | None = None, models: ModelCheck | None = None, *, count: bool = False
) -> str | None:
    """The first problem the Messages API would report for ``params`` sent with
    ``anthropic-version: version`` (default ``2023-06-01``), or ``None``; with ``count``, for a
    token-counting request (no ``max_tokens``, fewer members). A problem that leads with
    :data:`NOT_FOUND` is a ``not_found_error`` (see :func:`problem_error`).

    Checks what the API itself checks before any model runs: required fields, members it does not
    know, their types, ``max_tokens`` >= 1, message roles and content (text blocks non-empty and
    not whitespace only, no trailing whitespace at the end of a final assistant message,
    ``tool_use`` and ``tool_result`` pairs), the shapes of ``system``, ``stop_sequences``,
    ``tools``, ``tool_choice``, ``temperature``, ``top_p``, ``top_k``, ``thinking``,
    ``output_config``/``output_format`` and ``cache_control``, the rules of the version (see
    ``_anthropic.versions``), then the model: one the catalogue (``models``, the package's by
    default) does not serve, and ``max_tokens`` above its maximum.
    """
    for key in ("model", "messages") if count else ("model", "max_tokens", "messages"):
        if key not in params:
            return f"{key}: Field required"
    allowed = COUNT_KEYS if count else REQUEST_KEYS
    for key in params:
        if key not in allowed:
            return f"{key}: Extra inputs are not permitted"
    if params.get("stream") is True:
        return "stream: streaming is not supported in message batches"
    model = params["model"]
    if not isinstance(model, str) or not model:
        return "model: Input should be a valid non-empty string"
    max_tokens = params.get("max_tokens")
    if not count:
        if type(max_tokens) is not int:
            return "max_tokens: Input should be a valid integer"
        if max_tokens < 1:
            return "max_tokens: Input should be greater than or equal to 1"
    problem = _check_messages(params["messages"])
    if problem is not None:
        return problem
    problem = _check_optional(params) or features_problem(params)
    if problem is not None:
        return problem
    problem = version_problem(params, version)
    if problem is not None:
        return problem
    return (models or default_check()).problem(model, max_tokens)


def _text_problem(text: Any, where: str) -> str | None:
    if not isinstance(text, str):
        return f"{where}: Input should be a valid string"
    if not text:
        return "messages: text content blocks must be non-empty"
    if text.isspace():
        return "messages: text content blocks must contain non-whitespace text"
    return None


def _check_messages(messages: Any) -> str | None:
    if not isinstance(messages, list):
        return "messages: Input should be a valid list"
    if not messages:
        return "messages: at least one message is required"
    uses: list[str] = []  # the tool_use ids of the previous assistant message
    for j, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"messages.{j}: Input should be a valid dictionary"
        if "role" not in message:
            return f"messages.{j}.role: Field required"
        if not isinstance(message["role"], str) or message["role"] not in _ROLES:
            return f"messages.{j}.role: Input should be 'user' or 'assistant'"
        if "content" not in message:
            return f"messages.{j}.content: Field required"
        for key in message:
            if key != "role" and key != "content":
                return f"messages.{j}.{key}: Extra inputs are not permitted"
        content = message["content"]
        results: list[tuple[int, str]] = []
        if isinstance(content, list):
            for k, block in enumerate(content):
                if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                    return f"messages.{j}.content.{k}: Input should be a valid content block with a type"
                kind = block["type"]
                if kind == "text":
                    problem = _text_problem(block.get("text"), f"messages.{j}.content.{k}.text")
                    if problem is not None:
                        return problem
                elif kind == "tool_result" and isinstance(block.get("tool_use_id"), str):
                    results.append((k, block["tool_use_id"]))
        elif isinstance(content, str):
            problem = _text_problem(content, f"messages.{j}.content")
            if problem is not None:
                return problem
        else:
            return f"messages.{j}.content: Input should be a valid string or list of content blocks"
        problem = _pairing_problem(j, message["role"], content, uses, results)
        if problem is not None:
            return problem
        uses = _tool_uses(content) if message["role"] == "assistant" else []
    last = messages[-1]
    if last["role"] == "assistant":
        content = last["content"]
        tail = content if isinstance(content, str) else _last_text(content)
        if tail and tail[-1].isspace():
            return "messages: final assistant content cannot end with trailing whitespace"
    return None


def _tool_uses(content: Any) -> list[str]:
    if not isinstance(content, list):
        return []
    return [b["id"] for b in content if b.get("type") == "tool_use" and isinstance(b.get("id"), str)]


def _last_text(content: list[dict[str, Any]]) -> str:
    if content and content[-1].get("type") == "text" and isinstance(content[-1].get("text"), str):
        text: str = content[-1]["text"]
        return text
    return ""


def _pairing_problem(j: int, role: str, content: Any, uses: list[str], results: list[tuple[int, str]]) -> str | None:
    """``tool_use`` blocks need their ``tool_result`` blocks in the next message, and a
    ``tool_result`` block needs its ``tool_use`` in the previous one."""
    if uses:
        answered = {r for _, r in results}
        missing = [u for u in uses if u not in answered]
        if role != "user" or missing:
            return (
                f"messages.{j - 1}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                f"{', '.join(missing or uses)}. Each `tool_use` block must have a corresponding `tool_result` block "
                "in the next message."
            )
    for k, result in results:
        if result not in uses:
            return (
                f"messages.{j}.content.{k}: unexpected `tool_use_id` found in `tool_result` blocks: {result}. "
                "Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
            )
    return None


def _check_optional(params: dict[str, Any]) -> str | None:
    system = params.get("system")
    if system is not None and not isinstance(system, str | list):
        return "system: Input should be a valid string or list of text blocks"
    stops = params.get("stop_sequences")
    if stops is not None and not (isinstance(stops, list) and all(isinstance(s, str) for s in stops)):
        return "stop_sequences: Input should be a valid list of strings"
    for key, low, high in (("temperature", 0.0, 1.0), ("top_p", 0.0, 1.0)):
        value = params.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return f"{key}: Input should be a valid number"
            if not low <= value <= high:
                return f"{key}: Input should be between {low:g} and {high:g}"
    top_k = params.get("top_k")
    if top_k is not None and (type(top_k) is not int or top_k < 0):
        return "top_k: Input should be a non-negative integer"
    tools = params.get("tools")
    names: set[str] = set()
    if tools is not None:
        if not isinstance(tools, list):
            return "tools: Input should be a valid list"
        for t, tool in enumerate(tools):
            if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not tool["name"]:
                return f"tools.{t}.name: Field required"
            names.add(tool["name"])
    choice = params.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
            return "tool_choice: Input should be an object with type 'auto', 'any', 'tool' or 'none'"
        if choice["type"] == "tool":
            name = choice.get("name")
            if not isinstance(name, str):
                return "tool_choice.name: Input should be a valid string"
            if name not in names:
                return f"tool_choice.name: tool {name!r} is not among the request's tools"
        if choice["type"] == "any" and not names:
            return "tool_choice: type 'any' requires at least one tool"
    return None
