"""Helpers for tests that drive a real ``batchsim serve`` process over HTTP."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from serverproc import ServerProcess, running_server

PARAMS: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Say something about durable state."}],
}


def requests_body(n: int, prefix: str = "r") -> list[dict[str, Any]]:
    return [{"custom_id": f"{prefix}-{i}", "params": PARAMS} for i in range(n)]


_clients: list[anthropic.Anthropic] = []


def sdk(server: ServerProcess, key: str = "key-a", **kwargs: Any) -> anthropic.Anthropic:
    """An SDK client for the server (closed when the test ends)."""
    kwargs.setdefault("max_retries", 0)
    client = anthropic.Anthropic(base_url=server.url, api_key=key, **kwargs)
    _clients.append(client)
    return client


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def call(server: ServerProcess, method: str, path: str, *, key: str | None = "key-a", **kwargs: Any) -> httpx2.Response:
    headers = dict(kwargs.pop("headers", {}))
    if key is not None:
        headers.setdefault("x-api-key", key)
    return httpx2.request(method, server.url + path, headers=headers, timeout=60, **kwargs)


def assert_envelope(response: httpx2.Response, status: int, error_type: str | None = None) -> dict[str, Any]:
    """The API's error envelope with ``status``, a ``request-id`` header equal to the body's."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"type", "error", "request_id"}, body
    assert body["type"] == "error"
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert body["request_id"] == response.headers["request-id"]
    if error_type is not None:
        assert body["error"]["type"] == error_type, body
    assert "Traceback" not in response.text
    return body


def raw_exchange(server: ServerProcess, data: bytes, *, read_timeout: float = 30) -> bytes:
    """Send raw bytes on a fresh connection and return everything the server answers."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=read_timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                break
    return b"".join(chunks)


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def no_traceback(server: ServerProcess) -> None:
    text = "".join(server.output)
    assert "Traceback" not in text, text
    assert "Exception in ASGI application" not in text, text


@pytest.fixture(scope="module")
def openapi_spec() -> dict[str, Any]:
    root = Path(__file__).resolve().parents[2]
    spec: dict[str, Any] = json.loads((root / "batchsim" / "openapi.json").read_text())
    return spec


@pytest.fixture(scope="module")
def plain_server() -> Iterator[ServerProcess]:
    """An in-memory server of this module's own; once every test using it has run, its log holds
    no traceback."""
    with running_server() as proc:
        yield proc
    no_traceback(proc)


@pytest.fixture
def plain(plain_server: ServerProcess) -> ServerProcess:
    plain_server.control("POST", "reset").raise_for_status()
    return plain_server
