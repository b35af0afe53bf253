"""Helpers for the OpenAI Files + Batch API tests: input lines, uploads, the official ``openai``
SDK in process or over HTTP, and validation of raw answers against OpenAI's own OpenAPI schema.

``openai-openapi-batches-files.json`` is the ``/batches*`` and ``/files*`` part of OpenAI's spec
(``openai/openai-openapi``, ``openapi.json`` at commit f85dbe2, 2026-08-21) with every component
those paths reference. The spec types properties such as ``output_file_id``, ``in_progress_at``
or ``model`` as plain ``string``/``integer`` while its own examples (and the API) show ``null``
for them: :func:`schema_errors` treats every property that is not ``required`` as nullable.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import jsonschema
import openai
import pytest
from serverproc import ServerProcess

from batchsim import Emulator

SPEC_PATH = Path(__file__).with_name("openai-openapi-batches-files.json")
CHAT = "/v1/chat/completions"
MODEL = "gpt-4o-mini"


def _nullable(schema: Any) -> Any:
    """``schema`` with every property that is not required also accepting ``null``."""
    if isinstance(schema, dict):
        out = {key: _nullable(value) for key, value in schema.items()}
        properties = out.get("properties")
        if isinstance(properties, dict):
            required = set(out.get("required", ()))
            out["properties"] = {
                name: prop if name in required else {"anyOf": [prop, {"type": "null"}]}
                for name, prop in properties.items()
            }
        return out
    if isinstance(schema, list):
        return [_nullable(item) for item in schema]
    return schema


SPEC = json.loads(SPEC_PATH.read_text())
_COMPONENTS = _nullable(copy.deepcopy(SPEC["components"]))


def schema_errors(obj: Any, name: str) -> list[str]:
    """What in ``obj`` breaks the spec's schema ``name`` (``Batch``, ``OpenAIFile``...)."""
    validator = jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": _COMPONENTS})
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]


def assert_schema(obj: Any, name: str) -> None:
    errors = schema_errors(obj, name)
    assert not errors, f"{name}: {errors}"


def line(custom_id: str, body: Mapping[str, Any] | None = None, *, url: str = CHAT, **over: Any) -> dict[str, Any]:
    """One input line (a chat completion unless ``body`` says otherwise)."""
    if body is None:
        body = {"model": MODEL, "messages": [{"role": "user", "content": f"Summarize {custom_id}"}]}
    return {"custom_id": custom_id, "method": "POST", "url": url, "body": dict(body), **over}


def jsonl(lines: list[Any]) -> bytes:
    """Lines as a JSONL file (dicts encoded, strings kept as they are)."""
    return b"".join((item if isinstance(item, str) else json.dumps(item)).encode() + b"\n" for item in lines)


def chat_lines(n: int, prefix: str = "req") -> list[dict[str, Any]]:
    return [line(f"{prefix}-{i}") for i in range(n)]


def upload(client: openai.OpenAI, data: bytes, name: str = "requests.jsonl", purpose: str = "batch") -> str:
    return client.files.create(file=(name, data), purpose=purpose).id  # type: ignore[arg-type]


def start(client: openai.OpenAI, lines: list[Any], endpoint: str = CHAT, **kwargs: Any) -> Any:
    """Upload ``lines`` and create a batch of them."""
    file_id = upload(client, jsonl(lines))
    return client.batches.create(
        input_file_id=file_id,
        endpoint=endpoint,  # type: ignore[arg-type]
        completion_window="24h",
        **kwargs,
    )


def refused(call: Callable[[], object], error: type[openai.APIStatusError]) -> dict[str, Any]:
    """The envelope of the error ``call`` raises (which must be ``error``), with its request id
    checked."""
    with pytest.raises(error) as caught:
        call()
    assert caught.value.request_id is not None and caught.value.request_id.startswith("req_")
    body = caught.value.body
    assert isinstance(body, dict) and set(body) == {"message", "type", "param", "code"}
    return body


def read_lines(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    """The JSON lines of an output or error file (none without a file)."""
    if file_id is None:
        return []
    return [json.loads(text) for text in client.files.content(file_id).text.splitlines()]


class Target(Protocol):
    name: str

    def client(self, **kwargs: Any) -> openai.OpenAI: ...

    def async_client(self, **kwargs: Any) -> openai.AsyncOpenAI: ...

    def advance(self, seconds: float) -> None: ...


@dataclass
class InProcess:
    sim: Emulator
    name: str = "in-process"

    def client(self, **kwargs: Any) -> openai.OpenAI:
        kwargs.setdefault("max_retries", 0)
        return self.sim.openai_client(_strict_response_validation=True, **kwargs)

    def async_client(self, **kwargs: Any) -> openai.AsyncOpenAI:
        kwargs.setdefault("max_retries", 0)
        return self.sim.async_openai_client(_strict_response_validation=True, **kwargs)

    def advance(self, seconds: float) -> None:
        self.sim.advance(seconds)


@dataclass
class OverHttp:
    server: ServerProcess
    name: str = "server"
    opened: list[openai.OpenAI] = field(default_factory=list)

    def client(self, **kwargs: Any) -> openai.OpenAI:
        kwargs.setdefault("api_key", "openai-test-key")
        kwargs.setdefault("max_retries", 0)
        client = openai.OpenAI(base_url=f"{self.server.url}/v1", _strict_response_validation=True, **kwargs)
        self.opened.append(client)
        return client

    def async_client(self, **kwargs: Any) -> openai.AsyncOpenAI:
        """Close it inside its event loop (``await client.close()``)."""
        kwargs.setdefault("api_key", "openai-test-key")
        kwargs.setdefault("max_retries", 0)
        return openai.AsyncOpenAI(base_url=f"{self.server.url}/v1", _strict_response_validation=True, **kwargs)

    def advance(self, seconds: float) -> None:
        self.server.advance(seconds)

    def close(self) -> None:
        for client in self.opened:
            client.close()
