"""Helpers for tests that drive a real ``batchsim serve`` process over HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import time
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


# -- measuring the server process ---------------------------------------------------------------


def rss(pid: int) -> int:
    """The resident memory of ``pid`` in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def open_results_files(pids: list[int]) -> list[int]:
    """The sizes of the results files the processes hold open (deleted files included)."""
    sizes = []
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        for fd in os.listdir(fd_dir):
            try:
                if "batchsim-results" in os.readlink(fd_dir / fd):
                    sizes.append(os.stat(fd_dir / fd).st_size)
            except FileNotFoundError:
                continue  # closed meanwhile
    return sizes


def results_on_disk(pids: list[int]) -> list[int]:
    """The sizes of the results files the processes' stores keep on disk (each store's folder is
    named after its process, in a ``batchsim-results-*`` folder of the temporary folder)."""
    sizes = []
    for pid in pids:
        for path in Path(tempfile.gettempdir()).glob(f"batchsim-results-*/{pid}-*/results-*.jsonl"):
            with contextlib.suppress(FileNotFoundError):  # dropped meanwhile
                sizes.append(path.stat().st_size)
    return sizes


def spooled(pid: int) -> list[int]:
    """The sizes of the request bodies ``pid`` spooled to temporary files (unnamed files in the
    temporary folder, results files apart)."""
    sizes = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith(tempfile.gettempdir()) and target.endswith("(deleted)") and "results" not in target:
                sizes.append(os.stat(f"/proc/{pid}/fd/{fd}").st_size)
    return sizes


def worker_pids(server: ServerProcess) -> list[int]:
    """The uvicorn worker processes of a ``--workers N`` server (its children serving requests)."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if "resource_tracker" not in Path(f"/proc/{c}/cmdline").read_text()]


# -- raw connections -----------------------------------------------------------------------------


def connect(server: ServerProcess, timeout: float = 30) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One whole answer (status, lower-case headers, body by its content-length); raises
    ``TimeoutError`` when none comes within the socket's timeout."""
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        if not part:
            raise ConnectionError(f"closed after {data[:200]!r}")
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        part = sock.recv(65536)
        if not part:
            break
        body += part
    return int(lines[0].split()[1]), headers, body


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed the connection (reads end, within the socket's timeout)."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


def raw_envelope(status: int, headers: dict[str, str], body: bytes, expected: int, error_type: str) -> str:
    """Check an answer read by :func:`read_answer` is the API's error envelope; its message."""
    assert status == expected, (status, body[:300])
    assert headers["content-type"].startswith("application/json")
    data = json.loads(body)
    assert set(data) == {"type", "error", "request_id"} and data["type"] == "error", data
    assert data["error"]["type"] == error_type, data
    assert data["request_id"] == headers["request-id"]
    message: str = data["error"]["message"]
    return message


def log_barrier(server: ServerProcess, timeout: float = 60) -> None:
    """Wait until the server has logged everything it logged before this call: it logs a
    warning for a malformed request, and its output comes in order."""
    marker = "Invalid HTTP request received."
    seen = "".join(server.output).count(marker)
    with connect(server) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        with contextlib.suppress(OSError):
            closed_by_server(sock)
    deadline = time.monotonic() + timeout
    while "".join(server.output).count(marker) <= seen:
        assert time.monotonic() < deadline, "the server never logged the malformed request"
        time.sleep(0.01)


def stalled_get(server: ServerProcess, path: str, key: str = "k") -> socket.socket:
    """A GET whose answer is not read (a small receive buffer: the server's sends stall soon);
    returns once the answer has started."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    host, port = server.url.removeprefix("http://").split(":")
    sock.settimeout(30)
    sock.connect((host, int(port)))
    sock.sendall(f"GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nx-api-key: {key}\r\n\r\n".encode())
    assert sock.recv(1, socket.MSG_PEEK)
    return sock


def server_holds(pid: int, sock: socket.socket) -> bool:
    """Whether process ``pid`` still holds the server end of the connection ``sock`` is the
    client end of (found by its ports in ``/proc/net/tcp``)."""
    ours = f"{sock.getsockname()[1]:04X}"
    theirs = f"{sock.getpeername()[1]:04X}"
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[1].endswith(":" + theirs) and fields[2].endswith(":" + ours):
                    inodes.add(f"socket:[{fields[9]}]")
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                return True
    return False
