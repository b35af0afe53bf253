"""Request features that change what a message says: extended thinking, structured outputs and
prompt-cache breakpoints. Their checks (a bad setting ends the request ``errored`` with
``invalid_request_error``) and the readers the responder uses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["MAX_BREAKPOINTS", "cache_controls", "features_problem", "output_schema", "thinking_config"]

MIN_THINKING_BUDGET = 1024
MAX_BREAKPOINTS = 4
_THINKING_TYPES = ("enabled", "adaptive", "disabled")
_DISPLAYS = ("summarized", "omitted")
_TTLS = ("5m", "1h")


def thinking_config(params: dict[str, Any]) -> dict[str, Any] | None:
    """The ``thinking`` setting when it turns thinking on (``enabled`` or ``adaptive``)."""
    thinking = params.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
        return thinking
    return None


def output_schema(params: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema the answer must follow: ``output_config.format``, else the deprecated
    ``output_format``."""
    config = params.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if fmt is None:
        fmt = params.get("output_format")
    schema = fmt.get("schema") if isinstance(fmt, dict) and fmt.get("type") == "json_schema" else None
    return schema if isinstance(schema, dict) else None


def cache_controls(params: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """``(path, cache_control)`` of every block that carries one, in prompt order (tools,
    system, messages), then the top-level one."""
    tools = params.get("tools")
    for t, tool in enumerate(tools if isinstance(tools, list) else ()):
        if isinstance(tool, dict) and "cache_control" in tool:
            yield f"tools.{t}.cache_control", tool["cache_control"]
    system = params.get("system")
    for s, block in enumerate(system if isinstance(system, list) else ()):
        if isinstance(block, dict) and "cache_control" in block:
            yield f"system.{s}.cache_control", block["cache_control"]
    messages = params.get("messages")
    for j, message in enumerate(messages if isinstance(messages, list) else ()):
        content = message.get("content") if isinstance(message, dict) else None
        for k, block in enumerate(content if isinstance(content, list) else ()):
            if isinstance(block, dict) and "cache_control" in block:
                yield f"messages.{j}.content.{k}.cache_control", block["cache_control"]
    if "cache_control" in params:
        yield "cache_control", params["cache_control"]


def features_problem(params: dict[str, Any]) -> str | None:
    """The first problem with ``thinking``, ``output_config``/``output_format`` or a
    ``cache_control``, as the API words it, or ``None``."""
    return _thinking_problem(params) or _format_problem(params) or _cache_problem(params)


def _thinking_problem(params: dict[str, Any]) -> str | None:
    thinking = params.get("thinking")
    if thinking is None:
        return None
    if not isinstance(thinking, dict) or thinking.get("type") not in _THINKING_TYPES:
        return "thinking: Input should be an object with type 'enabled', 'adaptive' or 'disabled'"
    kind = thinking["type"]
    if kind != "disabled" and thinking.get("display") not in (None, *_DISPLAYS):
        return f"thinking.{kind}.display: Input should be 'summarized' or 'omitted'"
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if budget is None:
            return "thinking.enabled.budget_tokens: Field required"
        if type(budget) is not int:
            return "thinking.enabled.budget_tokens: Input should be a valid integer"
        if budget < MIN_THINKING_BUDGET:
            return f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_THINKING_BUDGET}"
        if "max_tokens" in params and budget >= params["max_tokens"]:
            return "max_tokens: must be greater than thinking.budget_tokens"
    if kind != "disabled":
        choice = params.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
            return "Thinking may not be enabled when tool_choice forces tool use."
    return None


def _format_problem(params: dict[str, Any]) -> str | None:
    config = params.get("output_config")
    candidates: list[tuple[str, Any]] = []
    if config is not None:
        if not isinstance(config, dict):
            return "output_config: Input should be a valid dictionary"
        candidates.append(("output_config.format", config.get("format")))
    candidates.append(("output_format", params.get("output_format")))
    for where, fmt in candidates:
        if fmt is None:
            continue
        if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
            return f"{where}.type: Input should be 'json_schema'"
        if "schema" not in fmt:
            return f"{where}.schema: Field required"
        if not isinstance(fmt["schema"], dict):
            return f"{where}.schema: Input should be a valid dictionary"
    return None


def _cache_problem(params: dict[str, Any]) -> str | None:
    count = 0
    for where, control in cache_controls(params):
        if control is None:
            continue
        if not isinstance(control, dict) or control.get("type") != "ephemeral":
            return f"{where}.type: Input should be 'ephemeral'"
        if control.get("ttl", "5m") not in _TTLS:
            return f"{where}.ttl: Input should be '5m' or '1h'"
        count += 1
    if count > MAX_BREAKPOINTS:
        return f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {count}."
    return None
