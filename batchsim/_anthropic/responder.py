"""Responders: what a succeeded request's ``Message`` contains.

* the default: deterministic text derived from the request, ``usage`` estimated from its size
  (``service_tier: "batch"``), ``stop_reason`` honouring ``max_tokens`` and ``stop_sequences``, and a
  ``tool_use`` block when ``tool_choice`` forces a tool;
* a Python callable ``(custom_id, params) -> dict`` whose result is completed into a full
  ``Message`` (missing ``id``, ``usage``… are filled in);
* canned results: lines of a results JSONL file (for example saved from a real batch) replayed
  by ``custom_id``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from .._engine.ids import derived_id

__all__ = ["Responder", "default_message", "default_message_json", "load_canned"]

Responder = Callable[[str, dict[str, Any]], Mapping[str, Any]]
"""``(custom_id, params) -> Message`` (partial dicts are completed)."""

_ERROR_MESSAGES = {
    "invalid_request_error": "Invalid request",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Your credit balance is too low to access the Anthropic API.",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "The requested resource could not be found.",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "Number of request tokens has exceeded your per-minute rate limit",
    "api_error": "Internal server error",
    "timeout_error": "Request timed out",
    "overloaded_error": "Overloaded",
}


def default_error_message(error_type: str) -> str:
    return _ERROR_MESSAGES.get(error_type, error_type)


def estimate_tokens(text_bytes: int) -> int:
    """About four bytes a token, as a rough stand-in for a tokenizer."""
    return max(1, (text_bytes + 3) // 4)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _last_user_text(params: dict[str, Any]) -> str:
    for message in reversed(params.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def _sample(schema: Any, depth: int = 0) -> Any:
    """A small value that satisfies a JSON schema's ``type`` (required properties only)."""
    if not isinstance(schema, dict) or depth > 6:
        return None
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = kind[0] if kind else None
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        required = schema.get("required") or list(props)
        return {name: _sample(props.get(name), depth + 1) for name in required if name in props}
    return {"string": "example", "integer": 1, "number": 1.0, "boolean": True, "array": []}.get(str(kind))


def _forced_tool(params: dict[str, Any]) -> dict[str, Any] | None:
    choice = params.get("tool_choice")
    if not isinstance(choice, dict):
        return None
    tools = [t for t in params.get("tools") or [] if isinstance(t, dict)]
    if not tools:
        return None
    if choice.get("type") == "tool":
        return next((t for t in tools if t.get("name") == choice.get("name")), None)
    if choice.get("type") == "any":
        return tools[0]
    return None


def usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "server_tool_use": None,
        "service_tier": "batch",
        "inference_geo": None,
    }


def default_message(custom_id: str, params: dict[str, Any], params_size: int, key: str) -> dict[str, Any]:
    """The default ``Message`` for a succeeded request; its ids are derived from ``key``."""
    max_tokens = params.get("max_tokens")
    limit = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else 1024
    input_tokens = estimate_tokens(params_size)
    tool = _forced_tool(params)
    content: list[dict[str, Any]]
    if tool is not None:
        call = {
            "type": "tool_use",
            "id": derived_id("toolu_", key + "/tool"),
            "name": tool["name"],
            "input": _sample(tool.get("input_schema")) or {},
            "caller": {"type": "direct"},
        }
        content = [call]
        stop_reason = "tool_use"
        output_tokens = min(limit, estimate_tokens(len(orjson.dumps(call))))
        stop_sequence: str | None = None
    else:
        text, stop_reason, stop_sequence, output_tokens = _text_reply(custom_id, params, limit)
        content = [{"type": "text", "text": text, "citations": None}]
    return {
        "id": derived_id("msg_", key),
        "type": "message",
        "role": "assistant",
        "model": params.get("model", ""),
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "stop_details": None,
        "usage": usage(input_tokens, output_tokens),
        "container": None,
    }


def _text_reply(custom_id: str, params: dict[str, Any], limit: int) -> tuple[str, str, str | None, int]:
    """The default text answer: ``(text, stop_reason, stop_sequence, output_tokens)``."""
    prompt = " ".join(_last_user_text(params)[:400].split())
    text = f"Simulated reply to {custom_id}: {prompt[:200]}" if prompt else f"Simulated reply to {custom_id}."
    stop_reason, stop_sequence = "end_turn", None
    for seq in params.get("stop_sequences") or []:
        if isinstance(seq, str) and seq and seq in text:
            text = text[: text.index(seq)]
            stop_reason, stop_sequence = "stop_sequence", seq
            break
    output_tokens = estimate_tokens(len(text.encode()))
    if output_tokens > limit:
        text = text[: limit * 4]
        output_tokens, stop_reason, stop_sequence = limit, "max_tokens", None
    return text, stop_reason, stop_sequence, output_tokens


_TEXT_MESSAGE = (
    b'{"id":"%b","type":"message","role":"assistant","model":%b,"content":[{"type":"text","text":%b,'
    b'"citations":null}],"stop_reason":%b,"stop_sequence":%b,"stop_details":null,"usage":{"input_tokens":%d,'
    b'"output_tokens":%d,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":'
    b'{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"server_tool_use":null,'
    b'"service_tier":"batch","inference_geo":null},"container":null}'
)


def default_message_json(custom_id: str, params: dict[str, Any], params_size: int, key: str) -> bytes:
    """``orjson.dumps(default_message(...))``, the same bytes; a text answer (the usual case) is
    written into a template instead of going through a dict."""
    max_tokens = params.get("max_tokens")
    limit = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else 1024
    if _forced_tool(params) is not None:
        return orjson.dumps(default_message(custom_id, params, params_size, key))
    text, stop_reason, stop_sequence, output_tokens = _text_reply(custom_id, params, limit)
    return _TEXT_MESSAGE % (
        derived_id("msg_", key).encode(),
        orjson.dumps(params.get("model", "")),
        orjson.dumps(text),
        b'"%b"' % stop_reason.encode(),
        orjson.dumps(stop_sequence),
        estimate_tokens(params_size),
        output_tokens,
    )


def complete_message(
    partial: Mapping[str, Any], custom_id: str, params: dict[str, Any], params_size: int, key: str
) -> dict[str, Any]:
    """Fill what a callable responder left out from the default message."""
    message = default_message(custom_id, params, params_size, key)
    message.update(partial)
    if "usage" in partial and isinstance(partial["usage"], Mapping):
        message["usage"] = {**usage(0, 0), **partial["usage"]}
    return message


def load_canned(path: str | Path) -> dict[str, bytes]:
    """Read a results JSONL file into ``{custom_id: encoded result object}``.

    Raises ``ValueError`` naming the line for anything that is not a results line.
    """
    canned: dict[str, bytes] = {}
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                line = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc})") from None
            result = line.get("result") if isinstance(line, dict) else None
            if (
                not isinstance(line, dict)
                or not isinstance(line.get("custom_id"), str)
                or not isinstance(result, dict)
                or result.get("type") not in ("succeeded", "errored", "expired", "canceled")
            ):
                raise ValueError(f'{path}:{number}: expected {{"custom_id": ..., "result": {{"type": ...}}}}')
            canned[line["custom_id"]] = orjson.dumps(result)
    return canned
