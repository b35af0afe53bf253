"""What a succeeded request of an OpenAI batch answers, per endpoint: a ``chat.completion``, a
``response``, embeddings, a ``text_completion``, moderation results or an image. Deterministic:
ids follow the request's key (``key``), drawn values (structured output, embeddings) its
``draw`` key and its input; usage is estimated from sizes (about four bytes a token).

A rule's stop reason (the scenario's vocabulary, Anthropic's names) becomes the endpoint's:
``end_turn`` and ``stop_sequence`` are ``stop``, ``max_tokens`` and
``model_context_window_exceeded`` are ``length``, ``tool_use`` is a tool call, ``refusal`` a
refusal.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
from array import array
from collections.abc import Callable
from typing import Any

import orjson

from .._engine.ids import HEX, IdFormat
from .._engine.schema_values import value_for

__all__ = ["ENDPOINTS", "answer", "display_name", "estimate_tokens", "usage_of"]

ENDPOINTS = (
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
)
_DISPLAY = {
    "/v1/responses": "Responses",
    "/v1/chat/completions": "Chat Completions",
    "/v1/embeddings": "Embeddings",
    "/v1/completions": "Completions",
    "/v1/moderations": "Moderations",
    "/v1/images/generations": "Images",
    "/v1/images/edits": "Images",
}
_IDS = {
    "chatcmpl": IdFormat("chatcmpl-", 29),
    "resp": IdFormat("resp_", 48, HEX),
    "msg": IdFormat("msg_", 48, HEX),
    "fc": IdFormat("fc_", 48, HEX),
    "call": IdFormat("call_", 24),
    "cmpl": IdFormat("cmpl-", 29),
    "modr": IdFormat("modr-", 29),
    "fp": IdFormat("fp_", 10, HEX),
}
_DIMENSIONS = {"text-embedding-3-large": 3072, "text-embedding-3-small": 1536, "text-embedding-ada-002": 1536}
_MODERATION_CATEGORIES = (
    ("harassment", ["text"]),
    ("harassment/threatening", ["text"]),
    ("hate", ["text"]),
    ("hate/threatening", ["text"]),
    ("illicit", ["text"]),
    ("illicit/violent", ["text"]),
    ("self-harm", ["text", "image"]),
    ("self-harm/instructions", ["text", "image"]),
    ("self-harm/intent", ["text", "image"]),
    ("sexual", ["text", "image"]),
    ("sexual/minors", ["text"]),
    ("violence", ["text", "image"]),
    ("violence/graphic", ["text", "image"]),
)
# A 1x1 PNG: what every generated image is.
_PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2216bc30000000049454e44ae426082"
    )
).decode()


def display_name(endpoint: str) -> str:
    """The endpoint as OpenAI's messages name it (``Chat Completions``)."""
    return _DISPLAY.get(endpoint, endpoint)


def estimate_tokens(size: int) -> int:
    """About four bytes a token, as a rough stand-in for a tokenizer."""
    return max(1, (size + 3) // 4)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return " ".join(parts)
    return ""


def _last_user_text(items: Any) -> str:
    if isinstance(items, str):
        return items
    for item in reversed(items if isinstance(items, list) else []):
        if isinstance(item, dict) and item.get("role", "user") == "user":
            return _text_of(item.get("content"))
    return ""


def _reply(custom_id: str, prompt: str) -> str:
    prompt = " ".join(prompt[:400].split())
    return f"Simulated reply to {custom_id}: {prompt[:200]}" if prompt else f"Simulated reply to {custom_id}."


def _limit(body: dict[str, Any], *names: str) -> int | None:
    for name in names:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _cut(text: str, limit: int | None, hint: str | None) -> tuple[str, bool]:
    """The text within ``limit`` tokens, and whether it was cut (or a rule said it stops there)."""
    if hint in ("max_tokens", "model_context_window_exceeded"):
        return text[: max(1, len(text) // 2)], True
    if limit is not None and estimate_tokens(len(text.encode())) > limit:
        return text[: limit * 4], True
    return text, False


def _forced_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    """The function tool a ``tool_choice`` forces (chat and responses shapes)."""
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
    choice = body.get("tool_choice")
    if not tools:
        return None
    if choice == "required":
        return tools[0]
    if isinstance(choice, dict):
        name = choice.get("name") or (choice.get("function") or {}).get("name")
        return next((t for t in tools if (t.get("name") or (t.get("function") or {}).get("name")) == name), None)
    return None


def _tool_parts(tool: Any) -> tuple[str, dict[str, Any]]:
    """The name and parameters schema of a function tool (chat's nested shape or the Responses
    API's flat one)."""
    tool = tool if isinstance(tool, dict) else {}
    function = tool["function"] if isinstance(tool.get("function"), dict) else tool
    name = function.get("name")
    parameters = function.get("parameters")
    return (name if isinstance(name, str) else "tool"), (
        parameters if isinstance(parameters, dict) else {"type": "object"}
    )


def _schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema the answer must follow: chat's ``response_format`` or the Responses
    API's ``text.format``."""
    fmt = body.get("response_format")
    if not isinstance(fmt, dict):
        text = body.get("text")
        fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_object":
        return {"type": "object", "properties": {"result": {"type": "string"}}, "required": ["result"]}
    if fmt.get("type") == "json_schema":
        schema = fmt.get("json_schema", fmt)
        schema = schema.get("schema") if isinstance(schema, dict) else None
        return schema if isinstance(schema, dict) else {"type": "object"}
    return None


def _json_text(schema: dict[str, Any], draw: str) -> str:
    return orjson.dumps(value_for(schema, random.Random(f"{draw}/output"))).decode()


def chat_completion(
    custom_id: str, body: dict[str, Any], size: int, key: str, draw: str, created: int, hint: str | None
) -> dict[str, Any]:
    model = str(body.get("model", ""))
    limit = _limit(body, "max_completion_tokens", "max_tokens")
    n = _limit(body, "n") or 1
    tool = _forced_tool(body)
    schema = _schema(body)
    choices = []
    completion_tokens = 0
    for index in range(min(n, 8)):
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None, "annotations": []}
        if hint == "tool_use" or (hint is None and tool is not None):
            name, parameters = _tool_parts(tool or (body.get("tools") or [{}])[0])
            arguments = _json_text(parameters, f"{draw}/{index}/tool")
            call_id = _IDS["call"].derive(f"{key}/{index}/call")
            message["tool_calls"] = [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            ]
            finish, tokens = "tool_calls", estimate_tokens(len(arguments))
        elif hint == "refusal":
            message["refusal"] = "I'm sorry, but I can't help with that request."
            finish, tokens = "stop", estimate_tokens(len(message["refusal"]))
        else:
            text = (
                _json_text(schema, draw)
                if schema is not None
                else _reply(custom_id, _last_user_text(body.get("messages")))
            )
            text, cut = _cut(text, limit, hint)
            message["content"] = text
            finish = "length" if cut else "stop"
            tokens = limit if cut and limit is not None else estimate_tokens(len(text.encode()))
        completion_tokens += tokens
        choices.append({"index": index, "message": message, "logprobs": None, "finish_reason": finish})
    prompt_tokens = estimate_tokens(size)
    return {
        "id": _IDS["chatcmpl"].derive(key),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": _IDS["fp"].derive(model),
    }


def response(
    custom_id: str, body: dict[str, Any], size: int, key: str, draw: str, created: int, hint: str | None
) -> dict[str, Any]:
    model = str(body.get("model", ""))
    limit = _limit(body, "max_output_tokens")
    tool = _forced_tool(body)
    schema = _schema(body)
    status, incomplete = "completed", None
    if hint == "tool_use" or (hint is None and tool is not None):
        name, parameters = _tool_parts(tool or (body.get("tools") or [{}])[0])
        arguments = _json_text(parameters, f"{draw}/tool")
        item: dict[str, Any] = {
            "id": _IDS["fc"].derive(f"{key}/fc"),
            "type": "function_call",
            "status": "completed",
            "call_id": _IDS["call"].derive(f"{key}/call"),
            "name": name,
            "arguments": arguments,
        }
        tokens = estimate_tokens(len(arguments))
    else:
        if hint == "refusal":
            content: dict[str, Any] = {"type": "refusal", "refusal": "I'm sorry, but I can't help with that request."}
            tokens = estimate_tokens(len(content["refusal"]))
        else:
            text = (
                _json_text(schema, draw)
                if schema is not None
                else _reply(custom_id, _last_user_text(body.get("input")))
            )
            text, cut = _cut(text, limit, hint)
            if cut:
                status, incomplete = "incomplete", {"reason": "max_output_tokens"}
            tokens = limit if cut and limit is not None else estimate_tokens(len(text.encode()))
            content = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        item = {
            "id": _IDS["msg"].derive(f"{key}/msg"),
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": [content],
        }
    input_tokens = estimate_tokens(size)
    fmt = body.get("text") if isinstance(body.get("text"), dict) else {"format": {"type": "text"}}
    return {
        "id": _IDS["resp"].derive(key),
        "object": "response",
        "created_at": created,
        "status": status,
        "background": False,
        "completed_at": created,
        "error": None,
        "incomplete_details": incomplete,
        "instructions": body.get("instructions"),
        "max_output_tokens": limit,
        "max_tool_calls": None,
        "model": model,
        "output": [item],
        "parallel_tool_calls": bool(body.get("parallel_tool_calls", True)),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": bool(body.get("store", True)),
        "temperature": body.get("temperature", 1.0),
        "text": fmt,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + tokens,
        },
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def _inputs(value: Any) -> list[Any]:
    """The inputs of an embeddings or moderations request (one string, strings, token arrays)."""
    if isinstance(value, list) and value and not all(isinstance(v, int) for v in value):
        return value
    return [value]


def _vector(model: str, value: Any, dimensions: int) -> list[float]:
    """A unit vector drawn from the model and the input: the same input, the same vector."""
    digest = hashlib.shake_256(orjson.dumps([model, value])).digest(2 * dimensions)
    raw = array("h", digest)
    norm = math.sqrt(math.fsum(v * v for v in raw)) or 1.0
    return [v / norm for v in raw]


def embeddings(
    custom_id: str, body: dict[str, Any], size: int, key: str, draw: str, created: int, hint: str | None
) -> dict[str, Any]:
    model = str(body.get("model", ""))
    dimensions = _limit(body, "dimensions") or _DIMENSIONS.get(model, 1536)
    base64_encoded = body.get("encoding_format") == "base64"
    data = []
    for index, value in enumerate(_inputs(body.get("input"))):
        vector = _vector(model, value, min(dimensions, 16_384))
        embedding: Any = base64.b64encode(array("f", vector).tobytes()).decode() if base64_encoded else vector
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = estimate_tokens(size)
    return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def completion(
    custom_id: str, body: dict[str, Any], size: int, key: str, draw: str, created: int, hint: str | None
) -> dict[str, Any]:
    model = str(body.get("model", ""))
    prompt = body.get("prompt")
    text, cut = _cut(
        _reply(custom_id, prompt if isinstance(prompt, str) else ""), _limit(body, "max_tokens") or 16, hint
    )
    tokens = estimate_tokens(len(text.encode()))
    prompt_tokens = estimate_tokens(size)
    return {
        "id": _IDS["cmpl"].derive(key),
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": "length" if cut else "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": tokens, "total_tokens": prompt_tokens + tokens},
        "system_fingerprint": _IDS["fp"].derive(model),
    }


def moderation(
    custom_id: str, body: dict[str, Any], size: int, key: str, draw: str, created: int, hint: str | None
) -> dict[str, Any]:
    results = []
    for n, value in enumerate(_inputs(body.get("input"))):
        rng = random.Random(f"{draw}/{n}/{orjson.dumps(value).decode()}")
        scores = {name: round(rng.random() * 1e-4, 9) for name, _ in _MODERATION_CATEGORIES}
        results.append(
            {
                "flagged": False,
                "categories": dict.fromkeys(scores, False),
                "category_scores": scores,
                "category_applied_input_types": {name: list(kinds) for name, kinds in _MODERATION_CATEGORIES},
            }
        )
    return {
        "id": _IDS["modr"].derive(key),
        "model": str(body.get("model") or "omni-moderation-latest"),
        "results": results,
    }


def image(
    custom_id: str, body: dict[str, Any], size: int, key: str, draw: str, created: int, hint: str | None
) -> dict[str, Any]:
    n = min(_limit(body, "n") or 1, 10)
    tokens = estimate_tokens(size)
    return {
        "created": created,
        "data": [{"b64_json": _PNG} for _ in range(n)],
        "output_format": "png",
        "usage": {
            "input_tokens": tokens,
            "input_tokens_details": {"image_tokens": 0, "text_tokens": tokens},
            "output_tokens": 272 * n,
            "total_tokens": tokens + 272 * n,
        },
    }


Answerer = Callable[[str, dict[str, Any], int, str, str, int, "str | None"], dict[str, Any]]
_ANSWERS: dict[str, Answerer] = {
    "/v1/chat/completions": chat_completion,
    "/v1/responses": response,
    "/v1/embeddings": embeddings,
    "/v1/completions": completion,
    "/v1/moderations": moderation,
    "/v1/images/generations": image,
    "/v1/images/edits": image,
}


def answer(
    endpoint: str, custom_id: str, body: dict[str, Any], size: int, key: str, draw: str, created: int, hint: str | None
) -> dict[str, Any]:
    """The body a succeeded request of ``endpoint`` answers (``size``: its body's size in bytes)."""
    return _ANSWERS[endpoint](custom_id, body, size, key, draw, created, hint)


def usage_of(answer_body: dict[str, Any]) -> tuple[int, int]:
    """``(input, output)`` tokens of an answer, whatever its endpoint."""
    usage = answer_body.get("usage") or {}
    inputs = usage.get("prompt_tokens", usage.get("input_tokens", 0))
    outputs = usage.get("completion_tokens", usage.get("output_tokens", 0))
    return int(inputs or 0), int(outputs or 0)
