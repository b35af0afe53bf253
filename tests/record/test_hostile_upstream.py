"""``batchsim record`` in front of an upstream that answers what no real API should: odd ids, bad
gzip, malformed or deeply nested JSON, a gzip bomb, or nothing at all. The client always gets the
upstream's own answer (never a 500 of the proxy's, never a second create upstream), the cassette
stays usable, and the command's own mistakes are one-line errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import orjson
import pytest
from serverproc import ServerProcess, start_server, stop_server

from batchsim._engine.scenario import Scenario
from batchsim._pytest.server import SessionServer

pytestmark = pytest.mark.server

PREFIX = "/v1/messages/batches"
KEY = "sk-hostile-test-key"


def batch_json(batch_id: str, status: str = "ended", **extra: Any) -> dict[str, Any]:
    counts = {"processing": 0, "succeeded": 2, "errored": 0, "canceled": 0, "expired": 0}
    if status != "ended":
        counts = {**counts, "processing": 2, "succeeded": 0}
    return {
        "id": batch_id,
        "type": "message_batch",
        "processing_status": status,
        "request_counts": counts,
        "ended_at": "2026-01-01T00:01:00Z" if status == "ended" else None,
        "created_at": "2026-01-01T00:00:00Z",
        "expires_at": "2026-01-02T00:00:00Z",
        "archived_at": None,
        "cancel_initiated_at": None,
        "results_url": f"https://upstream.invalid{PREFIX}/{batch_id}/results" if status == "ended" else None,
        **extra,
    }


def deep(levels: int) -> bytes:
    return b'{"id":"msgbatch_deep","x":' + b"[" * levels + b"]" * levels + b"}"


def gzip_bomb(size: int) -> bytes:
    """``size`` zero bytes, gzip-compressed (about a thousandth of ``size``)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [packer.compress(block) for _ in range(size >> 20)]
    return b"".join([*parts, packer.flush()])


class Hostile:
    """A stand-in upstream: ``answers[(method, path)]`` is ``(status, headers, body)``; every call
    is counted in ``calls``. Health answers 200 (``batchsim record`` is started through it)."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], tuple[int, list[tuple[bytes, bytes]], bytes]] = {}
        self.calls: list[tuple[str, str, bytes]] = []

    def json(self, method: str, path: str, body: Any, status: int = 200, *, raw: bytes | None = None) -> None:
        self.answers[(method, path)] = (status, [(b"content-type", b"application/json")], raw or orjson.dumps(body))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        self.calls.append((scope["method"], scope["path"], scope["query_string"]))
        status, headers, body = self.answers.get(
            (scope["method"], scope["path"]), (200, [(b"content-type", b"application/json")], b'{"status":"ok"}')
        )
        headers = [*headers, (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def hostile() -> Iterator[tuple[Hostile, SessionServer]]:
    app = Hostile()
    server = SessionServer()
    server.target = app
    try:
        yield app, server
    finally:
        server.close()


@pytest.fixture
def proxy(hostile: tuple[Hostile, SessionServer], tmp_path: Path) -> Iterator[ServerProcess]:
    proc = start_server("--upstream", hostile[1].url, "--out", str(tmp_path / "cassette"), command="record")
    try:
        yield proc
    finally:
        stop_server(proc)


def raw(proxy: ServerProcess, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    """One call through the proxy, the answer's bytes as sent (not decoded)."""
    with httpx2.Client(base_url=proxy.url, timeout=120) as client:
        request = client.build_request(method, path, headers={"x-api-key": KEY}, **kwargs)
        answer = client.send(request, stream=True)
        try:
            body = b"".join(answer.iter_raw())
        finally:
            answer.close()
        return answer.status_code, dict(answer.headers), body


def recorded_calls(cassette: Path, n: int) -> list[dict[str, Any]]:
    """The API calls of ``calls.jsonl`` (the start-up health checks left out), once there are
    ``n``: a call's line is appended after its answer went out, so the client may read the
    answer first."""
    path = cassette / "calls.jsonl"
    deadline = time.monotonic() + 60
    while True:
        lines = [orjson.loads(line) for line in (path.read_bytes().splitlines() if path.exists() else [])]
        calls = [c for c in lines if c["path"] != "/_batchsim/health"]
        if len(calls) >= n or time.monotonic() > deadline:
            return calls
        time.sleep(0.01)


def assert_usable(cassette: Path) -> None:
    Scenario.load(cassette / "scenario.toml")
    for folder in (cassette / "batches").iterdir():
        assert "\n" not in folder.name and folder.name.isascii()


def test_an_id_ending_in_a_newline_is_not_recorded_and_breaks_nothing(
    hostile: tuple[Hostile, SessionServer], proxy: ServerProcess, tmp_path: Path
) -> None:
    app, _ = hostile
    evil = batch_json("msgbatch_evil\n", "in_progress")
    app.json("POST", PREFIX, evil)
    app.json("GET", f"{PREFIX}/msgbatch_evil\n", batch_json("msgbatch_evil\n"))
    app.json("GET", f"{PREFIX}/msgbatch_good", batch_json("msgbatch_good"))
    status, _, body = raw(proxy, "POST", PREFIX, json={"requests": []})
    assert status == 200 and orjson.loads(body)["id"] == "msgbatch_evil\n"
    status, _, body = raw(proxy, "GET", f"{PREFIX}/msgbatch_evil%0A")
    assert status == 200 and orjson.loads(body)["processing_status"] == "ended"
    status, _, body = raw(proxy, "GET", f"{PREFIX}/msgbatch_evil%0A/results")
    assert status == 200
    # Every later ended batch still records and answers.
    status, _, body = raw(proxy, "GET", f"{PREFIX}/msgbatch_good")
    assert status == 200 and b"msgbatch_good" in body
    cassette = tmp_path / "cassette"
    assert_usable(cassette)
    assert [p.name for p in (cassette / "batches").iterdir() if p.is_dir()] == ["msgbatch_good"]
    assert "1 batch(es) recorded" in (cassette / "scenario.toml").read_text()


def test_unreadable_answers_pass_through_unrecorded(
    hostile: tuple[Hostile, SessionServer], proxy: ServerProcess, tmp_path: Path
) -> None:
    app, _ = hostile
    bad_gzip = b"\x1f\x8b\x08\x00not really gzip at all"
    gz = [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]
    app.answers[("GET", f"{PREFIX}/msgbatch_gz")] = (200, gz, bad_gzip)
    app.json("GET", PREFIX, None, raw=b'{"data": 5, "has_more": false}')
    nested = deep(1000)
    app.json("POST", PREFIX, None, raw=nested)

    status, headers, body = raw(proxy, "GET", f"{PREFIX}/msgbatch_gz")
    assert (status, headers["content-encoding"], body) == (200, "gzip", bad_gzip)
    assert raw(proxy, "GET", PREFIX)[::2] == (200, b'{"data": 5, "has_more": false}')
    # A create whose answer cannot be recorded is still answered once: the SDK does not retry it.
    with anthropic.Anthropic(base_url=proxy.url, api_key=KEY, max_retries=2) as client:
        created = client.messages.batches.with_raw_response.create(requests=[])
        assert (created.status_code, created.http_response.read()) == (200, nested)
    assert [c for c in app.calls if c[0] == "POST"] == [("POST", PREFIX, b"")]

    cassette = tmp_path / "cassette"
    assert_usable(cassette)
    calls = recorded_calls(cassette, 3)
    assert [(c["method"], c["status"]) for c in calls] == [("GET", 200), ("GET", 200), ("POST", 200)]


def peak_rss(pid: int) -> int:
    """A process's peak resident memory so far, in bytes (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak memory from /proc")
def test_a_gzip_bomb_is_not_inflated(hostile: tuple[Hostile, SessionServer], proxy: ServerProcess) -> None:
    app, _ = hostile
    bomb = gzip_bomb(1 << 30)  # 1 GiB of zeros in about 1 MB
    assert len(bomb) < 2 << 20
    gz = [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]
    app.answers[("GET", f"{PREFIX}/msgbatch_bomb")] = (200, gz, bomb)
    before = peak_rss(proxy.process.pid)
    status, headers, body = raw(proxy, "GET", f"{PREFIX}/msgbatch_bomb")
    assert (status, headers["content-encoding"], body) == (200, "gzip", bomb)
    assert peak_rss(proxy.process.pid) - before < 256 << 20


def test_calls_keep_no_query_secret(
    hostile: tuple[Hostile, SessionServer], proxy: ServerProcess, tmp_path: Path
) -> None:
    app, _ = hostile
    status, _, _ = raw(proxy, "GET", f"{PREFIX}?limit=2&key=sk-ant-secret-in-query&after_id=msgbatch_x")
    assert status == 200
    assert app.calls[-1][2] == b"limit=2&key=sk-ant-secret-in-query&after_id=msgbatch_x"  # forwarded as sent
    calls = recorded_calls(tmp_path / "cassette", 1)
    assert "sk-ant-secret" not in (tmp_path / "cassette" / "calls.jsonl").read_text()
    assert calls[-1]["query"] == "limit=2&key=REDACTED&after_id=msgbatch_x"


def test_options_star_is_a_400_in_the_api_envelope(proxy: ServerProcess) -> None:
    host, port = proxy.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer
    error = orjson.loads(body)
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"


def test_an_unreachable_upstream_is_a_502_in_the_api_envelope(
    hostile: tuple[Hostile, SessionServer], proxy: ServerProcess
) -> None:
    hostile[1].close()  # nothing listens there any more
    status, headers, body = raw(proxy, "GET", f"{PREFIX}/msgbatch_x")
    assert status == 502
    error = orjson.loads(body)
    assert error["type"] == "error" and error["error"]["type"] == "api_error"
    assert "cannot be reached" in error["error"]["message"]
    assert error["request_id"] == headers["request-id"]
    assert int(headers["content-length"]) == len(body)
    with (
        anthropic.Anthropic(base_url=proxy.url, api_key=KEY, max_retries=0) as client,
        pytest.raises(anthropic.InternalServerError) as refused,
    ):
        client.messages.batches.retrieve("msgbatch_x")
    assert refused.value.status_code == 502


def record(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "batchsim", "record", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("BATCHSIM_")},
        check=False,
    )


def test_a_taken_port_leaves_no_cassette_folder(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = record("--upstream", "http://127.0.0.1:9", "--out", str(tmp_path / "c"), "--port", str(port))
    assert done.returncode == 2
    assert done.stderr.startswith(f"batchsim record: cannot listen on 127.0.0.1:{port}")
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--http", "h3"], "batchsim record: --http: invalid choice: 'h3'"),
        (["--port", "99999"], "batchsim record: --port: a port is a number from 0 to 65535"),
        (["--log-level", "loud"], "batchsim record: --log-level: invalid choice: 'loud'"),
        (["--upstream", "http://[::1"], "batchsim record: --upstream must be an http(s) URL"),
        (["--upstream", "ftp://x"], "batchsim record: --upstream must be an http(s) URL"),
    ],
)
def test_record_option_mistakes_are_one_line(args: list[str], says: str, tmp_path: Path) -> None:
    done = record("--out", str(tmp_path / "c"), *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(says) and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("http", ["h11", "httptools"])
def test_record_serves_with_either_http_implementation(http: str, tmp_path: Path) -> None:
    app = Hostile()
    server = SessionServer()
    server.target = app
    try:
        proc = start_server("--upstream", server.url, "--out", str(tmp_path / "c"), "--http", http, command="record")
        try:
            assert raw(proc, "GET", f"{PREFIX}/msgbatch_y")[0] == 200
        finally:
            stop_server(proc)
    finally:
        server.close()
