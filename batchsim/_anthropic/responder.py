"""Responders: what a succeeded request's ``Message`` contains.

* the default: deterministic text derived from the request, ``usage`` estimated from its size
  (``service_tier: "batch"``), ``stop_reason`` honouring ``max_tokens`` and ``stop_sequences``, a
  ``tool_use`` block when ``tool_choice`` forces a tool, JSON valid for the schema of a structured
  output, a ``thinking`` block with a signature when thinking is on, cache usage from the batch's
  prompt-cache plan (``_anthropic.caching``) and the content a scenario rule's ``stop_reason``
  implies;
* a Python callable ``(custom_id, params) -> dict`` whose result is completed into a full
  ``Message`` (missing ``id``, ``usage``… are filled in);
* canned results: lines of a results JSONL file (for example saved from a real batch), or the
  lines themselves, replayed by ``custom_id`` (files are read by :mod:`batchsim._engine.canned`).
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from .._engine.batch import Canned
from .._engine.canned import MAX_CANNED_BYTES, read_canned
from .._engine.ids import IdFormat
from .._engine.schema_values import value_for
from .caching import CacheUsage
from .features import output_schema, thinking_config
from .traits import canned_key

__all__ = [
    "MAX_CANNED_BYTES",
    "Extras",
    "Responder",
    "canned_key",
    "default_message",
    "default_message_json",
    "load_canned",
]

Responder = Callable[[str, dict[str, Any]], Mapping[str, Any]]
_ID_FORMATS: dict[str, IdFormat] = {}


def derived_id(prefix: str, key: str) -> str:
    """An id of the API's shape (``prefix`` + ``01`` + 22 letters and digits) derived from ``key``."""
    found = _ID_FORMATS.get(prefix)
    if found is None:
        found = _ID_FORMATS[prefix] = IdFormat(prefix, 22, lead="01")
    return found.derive(key)


"""``(custom_id, params) -> Message`` (partial dicts are completed)."""

_ERROR_MESSAGES = {
    "invalid_request_error": "InvalidError request",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Your credit balance is too low to access the Anthropic API.",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "The requested resource could not be found.",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "Number of request tokens has exceeded your per-minute rate limit",
    "api_error": "Internal server error",
    "timeout_error": "Request timed out",
    "overloaded_error": "OverloadedError",
}


class Extras(NamedTuple):
    """What the batch decided for one request beyond its params."""

    cache: CacheUsage | None = None
    """Its prompt-cache usage (``_anthropic.caching``)."""
    stop_reason: str | None = None
    """A scenario rule's stop reason: the message stops for it, with the content it implies."""


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


def usage(input_tokens: int, output_tokens: int, cache: CacheUsage | None = None) -> dict[str, Any]:
    """The ``usage`` object; with ``cache``, ``input_tokens`` (the whole prompt) loses the part
    read from or written to the cache."""
    read, write_5m, write_1h = cache or (0, 0, 0)
    if cache is not None:
        input_tokens = max(0, input_tokens - read - write_5m - write_1h)
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": write_5m + write_1h,
        "cache_read_input_tokens": read,
        "cache_creation": {"ephemeral_5m_input_tokens": write_5m, "ephemeral_1h_input_tokens": write_1h},
        "server_tool_use": None,
        "service_tier": "batch",
        "inference_geo": None,
    }


def default_message(
    custom_id: str,
    params: dict[str, Any],
    params_size: int,
    key: str,
    extras: Extras | None = None,
    draw: str | None = None,
) -> dict[str, Any]:
    """The default ``Message`` for a succeeded request; its ids are derived from ``key`` and its
    draws (structured output) from ``draw`` (``key`` by default); ``extras`` are what the batch
    decided for it (cache usage, a rule's stop reason)."""
    cache, stop_reason = extras or (None, None)
    max_tokens = params.get("max_tokens")
    limit = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else 1024
    content: list[dict[str, Any]] = []
    thinking_tokens = 0
    thinking = thinking_config(params)
    if thinking is not None:
        block, thinking_tokens = _thinking_block(custom_id, params, thinking, key, limit)
        content.append(block)
    room = max(1, limit - thinking_tokens)
    answer, stop, stop_sequence, output_tokens = _answer(custom_id, params, key, draw or key, room, stop_reason)
    content.extend(answer)
    return {
        "id": derived_id("msg_", key),
        "type": "message",
        "role": "assistant",
        "model": params.get("model", ""),
        "content": content,
        "stop_reason": stop,
        "stop_sequence": stop_sequence,
        "stop_details": {"type": "refusal", "category": None, "explanation": None} if stop == "refusal" else None,
        "usage": usage(estimate_tokens(params_size), thinking_tokens + output_tokens, cache),
        "container": None,
    }


def _answer(
    custom_id: str, params: dict[str, Any], key: str, draw: str, limit: int, stop_reason: str | None
) -> tuple[list[dict[str, Any]], str, str | None, int]:
    """What follows any thinking: ``(blocks, stop_reason, stop_sequence, output_tokens)``."""
    tool = _forced_tool(params)
    if stop_reason == "tool_use" or (stop_reason is None and tool is not None):
        call = _tool_call(tool or _any_tool(params), key)
        return [call], "tool_use", None, min(limit, estimate_tokens(len(orjson.dumps(call))))
    if stop_reason == "refusal":
        return [], "refusal", None, 0
    if stop_reason == "pause_turn":
        text = "Let me look that up."
        search = {
            "type": "server_tool_use",
            "id": derived_id("srvtoolu_", key + "/search"),
            "caller": {"type": "direct"},
            "name": "web_search",
            "input": {"query": " ".join(_last_user_text(params)[:100].split()) or custom_id},
        }
        blocks: list[dict[str, Any]] = [{"type": "text", "text": text, "citations": None}, search]
        return blocks, "pause_turn", None, min(limit, estimate_tokens(len(orjson.dumps(blocks))))
    schema = output_schema(params)
    if schema is not None:
        text = orjson.dumps(value_for(schema, random.Random(f"{draw}/output"))).decode()
        stop, stop_sequence, tokens = "end_turn", None, estimate_tokens(len(text.encode()))
    else:
        text, stop, stop_sequence, tokens = _text_reply(custom_id, params, limit)
    if stop_reason in ("max_tokens", "model_context_window_exceeded") and stop != "max_tokens":
        text = text[: max(1, len(text) // 2)]
        tokens = limit if stop_reason == "max_tokens" else estimate_tokens(len(text.encode()))
        stop, stop_sequence = stop_reason, None
    elif stop_reason == "stop_sequence" and stop != "stop_sequence":
        sequences = [q for q in params.get("stop_sequences") or [] if isinstance(q, str) and q]
        stop_sequence = sequences[0] if sequences else "\n\nHuman:"
        text = text[: max(1, len(text) // 2)]
        stop, tokens = "stop_sequence", estimate_tokens(len(text.encode()))
    elif tokens > limit:
        text, tokens, stop, stop_sequence = text[: limit * 4], limit, "max_tokens", None
    return [{"type": "text", "text": text, "citations": None}], stop, stop_sequence, tokens


def _tool_call(tool: dict[str, Any], key: str) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": derived_id("toolu_", key + "/tool"),
        "name": tool.get("name") or "tool",
        "input": _sample(tool.get("input_schema")) or {},
        "caller": {"type": "direct"},
    }


def _any_tool(params: dict[str, Any]) -> dict[str, Any]:
    """The request's first tool (a rule can make a message stop for ``tool_use`` without one)."""
    tools = [t for t in params.get("tools") or [] if isinstance(t, dict)]
    return tools[0] if tools else {"name": "tool", "input_schema": {"type": "object"}}


def _thinking_block(
    custom_id: str, params: dict[str, Any], thinking: dict[str, Any], key: str, limit: int
) -> tuple[dict[str, Any], int]:
    """The ``thinking`` block and the output tokens it costs (counted even when ``display`` is
    ``omitted`` and its text is empty), within ``budget_tokens`` and ``max_tokens``."""
    prompt = " ".join(_last_user_text(params)[:300].split())
    text = (
        f"The request {custom_id} asks: {prompt}. A short, direct answer fits."
        if prompt
        else (f"The request {custom_id} has no question; a short acknowledgement fits.")
    )
    budget = thinking.get("budget_tokens")
    cap = min(budget, limit - 1) if isinstance(budget, int) else limit - 1
    cap = max(1, cap)
    if estimate_tokens(len(text.encode())) > cap:
        text = text[: cap * 4]
    tokens = min(cap, estimate_tokens(len(text.encode())))
    digest = hashlib.sha256(f"{key}/thinking".encode()).digest()
    signature = base64.b64encode(digest + hashlib.sha256(digest).digest() + digest[:16]).decode()
    shown = "" if thinking.get("display") == "omitted" else text
    return {"type": "thinking", "thinking": shown, "signature": signature}, tokens


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


def default_message_json(
    custom_id: str,
    params: dict[str, Any],
    params_size: int,
    key: str,
    extras: Extras | None = None,
    draw: str | None = None,
) -> bytes:
    """``orjson.dumps(default_message(...))``, the same bytes; a plain text answer (the usual
    case) is written into a template instead of going through a dict."""
    max_tokens = params.get("max_tokens")
    limit = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else 1024
    if (
        extras is not None
        or "thinking" in params
        or "output_config" in params
        or "output_format" in params
        or _forced_tool(params) is not None
    ):
        return orjson.dumps(default_message(custom_id, params, params_size, key, extras, draw))
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
    partial: Mapping[str, Any],
    custom_id: str,
    params: dict[str, Any],
    params_size: int,
    key: str,
    extras: Extras | None = None,
    draw: str | None = None,
) -> dict[str, Any]:
    """Fill what a callable responder left out from the default message."""
    message = default_message(custom_id, params, params_size, key, extras, draw)
    message.update(partial)
    if "usage" in partial and isinstance(partial["usage"], Mapping):
        message["usage"] = {**usage(0, 0), **partial["usage"]}
    return message


def load_canned(source: str | Path | tuple[Mapping[str, Any], ...]) -> dict[str, Canned]:
    """The Anthropic results lines among canned lines (a JSONL file's path, or the lines), as
    ``{custom_id: Canned(outcome, encoded result object)}``; lines of other providers' formats
    are theirs.

    Raises ``ValueError`` naming the line for anything that is not a results line of any
    provider, ``OSError`` for a path that is not a regular file of at most
    :data:`MAX_CANNED_BYTES`. A file read before and unchanged since is not read again (a reset
    re-applies its scenario).
    """
    lines = source if isinstance(source, tuple) else read_canned(source)
    canned: dict[str, Canned] = {}
    for line in lines:
        found = canned_key(line)
        if found is not None:
            canned[found[0]] = Canned(found[1], orjson.dumps(line["result"]))
    return canned
