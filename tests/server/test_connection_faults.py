"""``drop`` and ``lost`` faults close the connection before any byte of the answer, under both of
uvicorn's HTTP implementations, as a raw socket sees it."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

import anthropic
import httpx2
import pytest
from serverproc import ServerProcess, running_server

from .conftest import no_traceback, requests_body, sdk

pytestmark = pytest.mark.server
BATCHES = "/v1/messages/batches"
CREATE = json.dumps({"requests": requests_body(2)}).encode()


def raw_exchange(server: ServerProcess, request: bytes) -> bytes:
    """Send ``request`` on a fresh connection and read until the server closes it (a reset
    counts as the end: nothing more can arrive)."""
    parts = urlsplit(server.url)
    assert parts.hostname is not None and parts.port is not None
    received = b""
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(request)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    return received


def http_request(method: str, path: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nx-api-key: key-a\r\nconnection: close\r\n"
    if body:
        head += f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


@pytest.mark.parametrize("http", ["httptools", "h11"])
@pytest.mark.parametrize("kind", ["drop", "lost"])
def test_the_connection_closes_before_any_byte(tmp_path: Path, http: str, kind: str) -> None:
    scenario = tmp_path / "cut.toml"
    scenario.write_text(f'[[faults]]\nendpoint = "create"\nkind = "{kind}"\ntimes = 1\n')
    with running_server("--http", http, "--scenario", str(scenario)) as server:
        assert raw_exchange(server, http_request("POST", BATCHES, CREATE)) == b""
        # A drop never processed the create; a lost answer did: the batch exists.
        listed = sdk(server).messages.batches.list().data
        assert len(listed) == (1 if kind == "lost" else 0)
        # The fault is spent and the server serves the next connection normally.
        answer = raw_exchange(server, http_request("GET", BATCHES + "?limit=1"))
        assert answer.startswith(b"HTTP/1.1 200 ")
        no_traceback(server)
        assert "".join(server.output).count(f"injected {'drop' if kind == 'drop' else 'lost answer'} on create") == 1


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_sdk_clients_see_a_connection_error_and_retry(tmp_path: Path, http: str) -> None:
    scenario = tmp_path / "cut.toml"
    scenario.write_text('[[faults]]\nendpoint = "retrieve"\nkind = "drop"\ntimes = 1\n')
    with running_server("--http", http, "--scenario", str(scenario)) as server:
        batch = sdk(server).messages.batches.create(requests=requests_body(1))
        with pytest.raises(anthropic.APIConnectionError) as caught:
            sdk(server).messages.batches.retrieve(batch.id)
        assert isinstance(caught.value.__cause__, httpx2.RemoteProtocolError)
        assert sdk(server, max_retries=2).messages.batches.retrieve(batch.id).id == batch.id
