"""What a succeeded request of a Gemini batch answers: a ``GenerateContentResponse`` (candidates
with their ``finishReason``, ``usageMetadata``, ``modelVersion``, ``responseId``) or, for an
embeddings batch, an ``EmbedContentResponse``. Deterministic: ids follow the request's ``key``,
drawn values (structured output, function arguments) its ``draw`` key; usage is estimated from
sizes (about four bytes a token).

What the request asks shapes the answer: ``generationConfig.responseMimeType:
"application/json"`` with ``responseSchema`` (Google's OpenAPI subset: ``STRING``, ``OBJECT``...)
or ``responseJsonSchema`` gives JSON valid for it; ``toolConfig.functionCallingConfig.mode:
"ANY"`` forces a ``functionCall`` of a declared function; ``maxOutputTokens`` cuts the text
(``MAX_TOKENS``); ``candidateCount`` gives that many candidates. Both the REST API's camelCase
names and the protobuf snake_case ones are read, as Google's JSON parser reads both.

A rule's stop reason (the scenario's vocabulary, Anthropic's names) becomes Gemini's:
``end_turn``, ``stop_sequence`` and ``pause_turn`` are ``STOP``, ``max_tokens`` and
``model_context_window_exceeded`` are ``MAX_TOKENS``, ``tool_use`` a function call, ``refusal``
``SAFETY`` (a candidate with no content).
"""

from __future__ import annotations

import hashlib
import math
import random
from array import array
from typing import Any

import orjson

from .._engine.ids import IdFormat
from .._engine.schema_values import value_for

__all__ = ["embedding", "estimate_tokens", "generate_content", "model_name", "pick"]

_RESPONSE_IDS = IdFormat("", 24)
_DIMENSIONS = {
    "gemini-embedding-001": 3072,
    "gemini-embedding-exp-03-07": 3072,
    "text-embedding-004": 768,
    "text-embedding-005": 768,
    "embedding-001": 768,
}
_DEFAULT_DIMENSION = 3072
_MAX_DIMENSION = 16_384
_MAX_CANDIDATES = 8
_SCHEMA_NAMES = {  # the SDK sends a Schema's fields by their protobuf names
    "min_items": "minItems",
    "max_items": "maxItems",
    "min_length": "minLength",
    "max_length": "maxLength",
    "any_of": "anyOf",
    "min_properties": "minProperties",
    "max_properties": "maxProperties",
}
_REFUSAL_RATINGS = [
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True},
]


def pick(data: Any, camel: str, snake: str) -> Any:
    """A field of a request object by its REST (camelCase) or protobuf (snake_case) name."""
    if not isinstance(data, dict):
        return None
    found = data.get(camel)
    return data.get(snake) if found is None else found


def estimate_tokens(size: int) -> int:
    """About four bytes a token, as a rough stand-in for a tokenizer."""
    return max(1, (size + 3) // 4)


def model_name(model: str) -> str:
    """``gemini-2.5-flash`` of ``models/gemini-2.5-flash`` (and of itself)."""
    return model[7:] if model.startswith("models/") else model


def _texts(contents: Any) -> list[str]:
    """Every text part of the request's contents, in order."""
    found: list[str] = []
    if isinstance(contents, dict):
        contents = [contents]
    for content in contents if isinstance(contents, list) else []:
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else []:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                found.append(part["text"])
    return found


def _last_user_text(contents: Any) -> str:
    if not isinstance(contents, list):
        return " ".join(_texts(contents))
    for content in reversed(contents):
        if isinstance(content, dict) and content.get("role", "user") == "user":
            return " ".join(_texts([content]))
    return ""


def _reply(key: str, prompt: str) -> str:
    prompt = " ".join(prompt[:400].split())
    return f"Simulated reply to {key}: {prompt[:200]}" if prompt else f"Simulated reply to {key}."


def _json_schema(schema: Any, depth: int = 0) -> Any:
    """Google's OpenAPI-subset schema (``type: "OBJECT"``, ``nullable``...) as a JSON schema."""
    if not isinstance(schema, dict) or depth > 32:
        return {}
    out: dict[str, Any] = {}
    for given, value in schema.items():
        key = str(_SCHEMA_NAMES.get(given, given))
        if key == "type" and isinstance(value, str):
            out["type"] = value.lower()
        elif key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {name: _json_schema(sub, depth + 1) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _json_schema(value, depth + 1)
        elif key in ("anyOf", "oneOf", "allOf") and isinstance(value, list):
            out[key] = [_json_schema(sub, depth + 1) for sub in value]
        elif key in ("minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum"):
            if isinstance(value, str) and value.lstrip("-").isdigit():
                value = int(value)  # int64 fields arrive as strings in proto JSON
            out[key] = value
        elif key not in ("nullable", "propertyOrdering", "property_ordering", "title", "description", "example"):
            out[key] = value
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def _schema(config: Any) -> dict[str, Any] | None:
    """The JSON schema the answer must follow, if the request asks for JSON."""
    json_schema = pick(config, "responseJsonSchema", "response_json_schema")
    if isinstance(json_schema, dict):
        return json_schema
    schema = pick(config, "responseSchema", "response_schema")
    if isinstance(schema, dict):
        converted = _json_schema(schema)
        return converted if isinstance(converted, dict) else {}
    if pick(config, "responseMimeType", "response_mime_type") == "application/json":
        return {"type": "object", "properties": {"result": {"type": "string"}}, "required": ["result"]}
    return None


def _functions(request: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    tools = request.get("tools")
    for tool in tools if isinstance(tools, list) else []:
        declarations = pick(tool, "functionDeclarations", "function_declarations")
        for declaration in declarations if isinstance(declarations, list) else []:
            if isinstance(declaration, dict) and isinstance(declaration.get("name"), str):
                found.append(declaration)
    return found


def _forced_function(request: dict[str, Any]) -> dict[str, Any] | None:
    """The function a ``functionCallingConfig`` in mode ``ANY`` forces (the first allowed one)."""
    config = pick(pick(request, "toolConfig", "tool_config"), "functionCallingConfig", "function_calling_config")
    if not isinstance(config, dict) or str(config.get("mode", "")).upper() != "ANY":
        return None
    functions = _functions(request)
    allowed = pick(config, "allowedFunctionNames", "allowed_function_names")
    if isinstance(allowed, list) and allowed:
        functions = [f for f in functions if f["name"] in allowed]
    return functions[0] if functions else None


def _parameters(function: dict[str, Any]) -> dict[str, Any]:
    json_schema = pick(function, "parametersJsonSchema", "parameters_json_schema")
    if isinstance(json_schema, dict):
        return json_schema
    converted = _json_schema(function.get("parameters"))
    return converted if isinstance(converted, dict) and converted else {"type": "object"}


def _positive(value: Any) -> int | None:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def generate_content(
    model: str, key: str, request: dict[str, Any], size: int, draw: str, hint: str | None
) -> dict[str, Any]:
    """The ``GenerateContentResponse`` of a succeeded request (``size``: its encoded size)."""
    config = pick(request, "generationConfig", "generation_config")
    limit = _positive(pick(config, "maxOutputTokens", "max_output_tokens"))
    count = min(_positive(pick(config, "candidateCount", "candidate_count")) or 1, _MAX_CANDIDATES)
    forced = _forced_function(request)
    schema = _schema(config)
    candidates: list[dict[str, Any]] = []
    output_tokens = 0
    for index in range(count):
        candidate: dict[str, Any]
        if hint == "tool_use" or (hint is None and forced is not None):
            function = forced or next(iter(_functions(request)), {"name": "tool"})
            args = value_for(_parameters(function), random.Random(f"{draw}/{index}/call"))
            part = {"functionCall": {"name": function["name"], "args": args if isinstance(args, dict) else {}}}
            candidate = {"content": {"parts": [part], "role": "model"}, "finishReason": "STOP"}
            tokens = estimate_tokens(len(orjson.dumps(part)))
        elif hint == "refusal":
            candidate = {"finishReason": "SAFETY", "safetyRatings": _REFUSAL_RATINGS}
            tokens = 0
        else:
            if schema is not None:
                text = orjson.dumps(value_for(schema, random.Random(f"{draw}/{index}/output"))).decode()
            else:
                text = _reply(key, _last_user_text(request.get("contents")))
            finish = "STOP"
            if hint in ("max_tokens", "model_context_window_exceeded"):
                text, finish = text[: max(1, len(text) // 2)], "MAX_TOKENS"
            elif limit is not None and estimate_tokens(len(text.encode())) > limit:
                text, finish = text[: limit * 4], "MAX_TOKENS"
            candidate = {"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": finish}
            tokens = limit if finish == "MAX_TOKENS" and limit is not None else estimate_tokens(len(text.encode()))
        candidate["index"] = index
        output_tokens += tokens
        candidates.append(candidate)
    prompt_tokens = estimate_tokens(size)
    usage: dict[str, Any] = {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": output_tokens,
        "totalTokenCount": prompt_tokens + output_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
    }
    if not output_tokens:
        del usage["candidatesTokenCount"]
    return {
        "candidates": candidates,
        "usageMetadata": usage,
        "modelVersion": model_name(model),
        "responseId": _RESPONSE_IDS.derive(draw),
    }


def _vector(model: str, value: Any, dimensions: int) -> list[float]:
    """A unit vector drawn from the model and the input: the same input, the same vector."""
    digest = hashlib.shake_256(orjson.dumps([model_name(model), value])).digest(2 * dimensions)
    raw = array("h", digest)
    norm = math.sqrt(math.fsum(v * v for v in raw)) or 1.0
    return [round(v / norm, 7) for v in raw]


def embedding(model: str, request: dict[str, Any]) -> dict[str, Any]:
    """The ``EmbedContentResponse`` of a succeeded embeddings request: a vector of the model's
    dimension (or ``outputDimensionality``), the same for the same model and content."""
    dimensions = _positive(pick(request, "outputDimensionality", "output_dimensionality"))
    size = min(dimensions or _DIMENSIONS.get(model_name(model), _DEFAULT_DIMENSION), _MAX_DIMENSION)
    content = request.get("content")
    return {"embedding": {"values": _vector(model, _texts(content) or content, size)}}
