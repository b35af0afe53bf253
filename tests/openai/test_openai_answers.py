"""What a succeeded request answers, per endpoint, checked with the SDK's own response types in
pydantic's strict mode (``model_validate(..., strict=True)``, not ``construct``): deterministic from
the seed and the request, forced tool calls, JSON that follows ``response_format``, embeddings of
the model's dimension."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import jsonschema
import openai
import pytest
from openai.types import Completion, CreateEmbeddingResponse, ImagesResponse, ModerationCreateResponse
from openai.types.chat import ChatCompletion
from openai.types.responses import Response
from openai_helpers import CHAT, MODEL, line, read_lines, start
from pydantic import BaseModel

from batchsim import Emulator

TYPES: dict[str, type[BaseModel]] = {
    "/v1/chat/completions": ChatCompletion,
    "/v1/responses": Response,
    "/v1/embeddings": CreateEmbeddingResponse,
    "/v1/completions": Completion,
    "/v1/moderations": ModerationCreateResponse,
    "/v1/images/generations": ImagesResponse,
    "/v1/images/edits": ImagesResponse,
}
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
    "required": ["city", "days"],
    "additionalProperties": False,
}
REPORT = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "score": {"type": "number"},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
        "verdict": {"type": "string", "enum": ["yes", "no"]},
    },
    "required": ["title", "score", "tags", "verdict"],
    "additionalProperties": False,
}


def answers(sim: Emulator, client: openai.OpenAI, endpoint: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run one batch of ``bodies`` to completion: each answer body, in input order, after checking
    it against the SDK's type for ``endpoint`` in strict mode."""
    batch = start(client, [line(f"c{n}", body, url=endpoint) for n, body in enumerate(bodies)], endpoint)
    sim.advance(3600)
    done = client.batches.retrieve(batch.id)
    assert done.status == "completed" and done.error_file_id is None, read_lines(client, done.error_file_id)
    by_id = {item["custom_id"]: item for item in read_lines(client, done.output_file_id)}
    found = []
    for n in range(len(bodies)):
        item = by_id[f"c{n}"]
        assert item["response"]["status_code"] == 200 and item["error"] is None
        body = item["response"]["body"]
        if endpoint != "/v1/embeddings" or bodies[n].get("encoding_format") != "base64":
            TYPES[endpoint].model_validate(body, strict=True)
        found.append(body)
    return found


def messages(text: str = "What is the weather in Paris?") -> list[dict[str, Any]]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]


def test_chat_completions(sim: Emulator, client: openai.OpenAI) -> None:
    plain, capped, several = answers(
        sim,
        client,
        CHAT,
        [
            {"model": MODEL, "messages": messages()},
            {"model": MODEL, "messages": messages(), "max_completion_tokens": 2},
            {"model": MODEL, "messages": messages(), "n": 3},
        ],
    )
    assert plain["object"] == "chat.completion" and plain["model"] == MODEL and plain["id"].startswith("chatcmpl-")
    [choice] = plain["choices"]
    assert choice["finish_reason"] == "stop" and "Paris" in choice["message"]["content"]
    usage = plain["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert capped["choices"][0]["finish_reason"] == "length" and capped["usage"]["completion_tokens"] == 2
    assert [c["index"] for c in several["choices"]] == [0, 1, 2]


@pytest.mark.parametrize(
    "tool_choice", [{"type": "function", "function": {"name": "get_weather"}}, "required"], ids=["named", "required"]
)
def test_chat_forced_tool_calls(sim: Emulator, client: openai.OpenAI, tool_choice: Any) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
    [body] = answers(
        sim, client, CHAT, [{"model": MODEL, "messages": messages(), "tools": tools, "tool_choice": tool_choice}]
    )
    [choice] = body["choices"]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    jsonschema.validate(json.loads(call["function"]["arguments"]), WEATHER)


def test_chat_json_schema_response_format(sim: Emulator, client: openai.OpenAI) -> None:
    schema_format = {"type": "json_schema", "json_schema": {"name": "report", "strict": True, "schema": REPORT}}
    strict, loose = answers(
        sim,
        client,
        CHAT,
        [
            {"model": MODEL, "messages": messages(), "response_format": schema_format},
            {"model": MODEL, "messages": messages(), "response_format": {"type": "json_object"}},
        ],
    )
    jsonschema.validate(json.loads(strict["choices"][0]["message"]["content"]), REPORT)
    assert isinstance(json.loads(loose["choices"][0]["message"]["content"]), dict)


def test_responses(sim: Emulator, client: openai.OpenAI) -> None:
    tools = [{"type": "function", "name": "get_weather", "parameters": WEATHER, "strict": True}]
    text_format = {"format": {"type": "json_schema", "name": "report", "schema": REPORT, "strict": True}}
    plain, called, structured, capped = answers(
        sim,
        client,
        "/v1/responses",
        [
            {"model": MODEL, "input": "What is the weather in Paris?"},
            {
                "model": MODEL,
                "input": messages(),
                "tools": tools,
                "tool_choice": {"type": "function", "name": "get_weather"},
            },
            {"model": MODEL, "input": "Report", "text": text_format},
            {"model": MODEL, "input": "Report at length", "max_output_tokens": 1},
        ],
    )
    response = Response.model_validate(plain, strict=True)
    assert response.status == "completed" and "Paris" in response.output_text
    assert response.usage is not None and response.usage.input_tokens_details.cached_tokens == 0
    [item] = called["output"]
    assert item["type"] == "function_call" and item["name"] == "get_weather"
    jsonschema.validate(json.loads(item["arguments"]), WEATHER)
    jsonschema.validate(json.loads(Response.model_validate(structured, strict=True).output_text), REPORT)
    assert capped["status"] == "incomplete" and capped["incomplete_details"] == {"reason": "max_output_tokens"}


def _floats(encoded: str) -> list[float]:
    raw = base64.b64decode(encoded)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def test_embeddings(sim: Emulator, client: openai.OpenAI) -> None:
    small, cut, several, again, encoded = answers(
        sim,
        client,
        "/v1/embeddings",
        [
            {"model": "text-embedding-3-small", "input": "the same words"},
            {"model": "text-embedding-3-small", "input": "the same words", "dimensions": 256},
            {"model": "text-embedding-3-small", "input": ["the same words", "other words"]},
            {"model": "text-embedding-3-small", "input": "the same words"},
            {"model": "text-embedding-3-small", "input": "the same words", "encoding_format": "base64"},
        ],
    )
    [large] = answers(sim, client, "/v1/embeddings", [{"model": "text-embedding-3-large", "input": "the same words"}])
    vector = small["data"][0]["embedding"]
    assert len(vector) == 1536 and len(large["data"][0]["embedding"]) == 3072
    assert len(cut["data"][0]["embedding"]) == 256
    assert abs(sum(v * v for v in vector) - 1.0) < 1e-9  # unit length, as OpenAI's are
    assert again["data"][0]["embedding"] == vector  # the same input, the same vector
    assert several["data"][0]["embedding"] == vector and several["data"][1]["embedding"] != vector
    assert [d["index"] for d in several["data"]] == [0, 1]
    assert _floats(encoded["data"][0]["embedding"]) == pytest.approx(vector, abs=1e-6)
    assert small["usage"]["prompt_tokens"] == small["usage"]["total_tokens"] > 0


def test_completions_moderations_and_images(sim: Emulator, client: openai.OpenAI) -> None:
    [completion] = answers(sim, client, "/v1/completions", [{"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi"}])
    assert completion["object"] == "text_completion" and completion["choices"][0]["text"]
    [moderation] = answers(sim, client, "/v1/moderations", [{"model": "omni-moderation-latest", "input": ["a", "b"]}])
    assert len(moderation["results"]) == 2 and not any(r["flagged"] for r in moderation["results"])
    [image] = answers(sim, client, "/v1/images/generations", [{"model": "gpt-image-1", "prompt": "a cat", "n": 2}])
    assert len(image["data"]) == 2 and base64.b64decode(image["data"][0]["b64_json"]).startswith(b"\x89PNG")


def test_answers_follow_the_seed(client: openai.OpenAI) -> None:
    bodies = [
        {
            "model": MODEL,
            "messages": messages(),
            "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": REPORT}},
        },
        {"model": MODEL, "messages": messages("Another question")},
    ]

    def run(seed: int) -> list[dict[str, Any]]:
        sim = Emulator(seed=seed)
        with sim.openai_client(max_retries=0) as sdk:
            found = answers(sim, sdk, CHAT, bodies)
        sim.close()
        return found

    first, again, other = run(7), run(7), run(8)
    assert first == again
    assert first[0]["choices"][0]["message"]["content"] != other[0]["choices"][0]["message"]["content"]


def test_a_batch_sums_its_answers_usage(sim: Emulator, client: openai.OpenAI) -> None:
    batch = start(
        client, [line(f"u{n}", {"model": MODEL, "messages": messages(f"Question {n}" * n)}) for n in range(5)]
    )
    assert client.batches.retrieve(batch.id).usage is not None
    sim.advance(3600)
    done = client.batches.retrieve(batch.id)
    usages = [item["response"]["body"]["usage"] for item in read_lines(client, done.output_file_id)]
    assert done.usage is not None and done.model == MODEL
    assert done.usage.input_tokens == sum(u["prompt_tokens"] for u in usages)
    assert done.usage.output_tokens == sum(u["completion_tokens"] for u in usages)
    assert done.usage.total_tokens == done.usage.input_tokens + done.usage.output_tokens
