"""Gemini batch mode: a 50,000-request inline create against ``orjson`` parsing its body, and a
responses-file download against a bare stream (the batch get against the bare app is in
:mod:`benchmarks.bench_control`).

* inline create: the whole ASGI call in this process (routing, body reading, parsing, the plan,
  the store, the answer) until the answer's last byte, as :mod:`benchmarks.bench_create` measures
  Anthropic's create, vs ``orjson.loads`` of the same body with the collector paused;
* download: ``GET /v1beta/files/{id}:download?alt=media`` of a 100,000-line responses file
  (written ahead in the background after the create) vs a bare stream of the same bytes.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import statistics
import tempfile
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import orjson
from starlette.types import Receive, Send

from batchsim import Emulator
from batchsim._http.transport import call_app

from . import _common as c

MODEL = "gemini-2.5-flash"
KEY = "bench-key"
_TEXT = "Summarize the following document. " + "lorem ipsum dolor sit amet " * 5


def inline_body(n: int) -> bytes:
    """A ``batchGenerateContent`` body of ``n`` inline requests (~250 bytes each)."""
    requests = [
        {
            "request": {"contents": [{"role": "user", "parts": [{"text": f"Document {i}. {_TEXT}"}]}]},
            "metadata": {"key": f"req-{i:06d}"},
        }
        for i in range(n)
    ]
    return orjson.dumps({"batch": {"displayName": "bench", "inputConfig": {"requests": {"requests": requests}}}})


def _file_lines(n: int) -> bytes:
    lines = (
        {"key": f"req-{i:06d}", "request": {"contents": [{"parts": [{"text": f"Document {i}. {_TEXT}"}]}]}}
        for i in range(n)
    )
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def _request(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    """One call (setup only, never timed): the answer's JSON, or its headers when it has no body."""
    answer = httpx2.request(method, url, content=body, headers={"x-goog-api-key": KEY, **(headers or {})}, timeout=600)
    if answer.status_code != 200:
        raise RuntimeError(f"{method} {url}: {answer.status_code} {answer.text[:200]}")
    return answer.json() if answer.content else answer.headers


def _upload(url: str, data: bytes) -> str:
    start = _request(
        "POST",
        f"{url}/upload/v1beta/files",
        b"{}",
        {
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(len(data)),
            "X-Goog-Upload-Header-Content-Type": "application/jsonl",
        },
    )
    done = httpx2.post(
        start["x-goog-upload-url"],
        content=data,
        headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"},
        timeout=600,
    )
    return str(done.json()["file"]["name"])


def _timed_create(body: bytes) -> float:
    """Seconds from the start of the ASGI call to the answer's last byte."""
    sim = Emulator(journal=False)
    app = sim.app
    url = httpx2.URL(f"http://batchsim.local/v1beta/models/{MODEL}:batchGenerateContent")
    headers = [(b"x-goog-api-key", KEY.encode()), (b"content-type", b"application/json")]
    answered = 0.0

    async def timed(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        async def send_timed(message: MutableMapping[str, Any]) -> None:
            nonlocal answered
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = time.perf_counter()

        await app(scope, receive, send_timed)

    async def call() -> tuple[int, float]:
        start = time.perf_counter()
        status, _, _ = await call_app(timed, "POST", url, headers, body)
        return status, answered - start

    status, to_answer = asyncio.run(call())
    if status != 200:
        raise RuntimeError(f"create answered {status}")
    sim.close()
    gc.collect()
    return to_answer


def _timed_parse(body: bytes) -> float:
    gc.disable()
    start = time.perf_counter()
    data = orjson.loads(body)
    elapsed = time.perf_counter() - start
    gc.enable()
    del data
    gc.collect()
    return elapsed


def _download(url: str) -> tuple[float, bytes]:
    """GET ``url`` (path and query) with a raw socket; total seconds and the raw body as sent."""
    parts = urlsplit(url)
    target = f"{parts.path}?{parts.query}" if parts.query else parts.path
    request = f"GET {target} HTTP/1.1\r\nhost: {parts.netloc}\r\nx-goog-api-key: {KEY}\r\nconnection: close\r\n\r\n"
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    received: list[bytes] = []
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=120) as sock:
        start = time.perf_counter()
        sock.sendall(request.encode())
        while True:
            n = sock.recv_into(view)
            if n == 0:
                break
            received.append(bytes(view[:n]))
        total = time.perf_counter() - start
    raw = b"".join(received)
    head, _, body = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.decode("latin-1"))
    return total, body


def _dechunk(raw: bytes) -> bytes:
    out: list[bytes] = []
    pos = 0
    while True:
        end = raw.index(b"\r\n", pos)
        size = int(raw[pos:end], 16)
        if size == 0:
            return b"".join(out)
        out.append(raw[end + 2 : end + 2 + size])
        pos = end + 2 + size + 2


def _create_rows() -> list[dict[str, Any]]:
    n = 20_000 if c.QUICK else 50_000
    body = inline_body(n)
    creates, parses = [], []
    for _ in range(c.rounds()):
        parses.append(_timed_parse(body))
        creates.append(_timed_create(body))
    create, parse = statistics.median(creates), statistics.median(parses)
    note = (
        f"{n:,} inline requests, {len(body) / 1e6:.1f} MB; the whole ASGI call until the answer's last byte "
        "vs orjson.loads with the collector paused"
    )
    return [
        c.row(
            "Gemini inline create",
            create * 1000,
            "ms",
            note,
            baseline=parse * 1000,
            ratio=create / parse,
            target="<= 2.0x",
            ok=create / parse <= 2.0,
        )
    ]


def _download_rows(tmp: str) -> list[dict[str, Any]]:
    n = 20_000 if c.QUICK else 100_000
    data = _file_lines(n)
    with c.batchsim_server() as sim:
        names = []
        for _ in range(c.rounds() + 1):
            file_name = _upload(sim.url, data)
            body = orjson.dumps({"batch": {"inputConfig": {"fileName": file_name}}})
            names.append(_request("POST", f"{sim.url}/v1beta/models/{MODEL}:batchGenerateContent", body)["name"])
            c.wait_results_written(sim.url)
        _request("POST", f"{sim.url}/_batchsim/clock/advance", orjson.dumps({"seconds": 86400}))
        urls = []
        for name in names:
            op = _request("GET", f"{sim.url}/v1beta/{name}")
            urls.append(f"{sim.url}/v1beta/{op['response']['responsesFile']}:download?alt=media")
        results = _dechunk(_download(urls[0])[1])
        if results.count(b"\n") != n:
            raise RuntimeError("incomplete results")
        stream_file = Path(tmp) / "responses.jsonl"
        stream_file.write_bytes(results)
        json_file = Path(tmp) / "empty.json"
        json_file.write_bytes(b"{}")
        ours: list[float] = []
        base: list[float] = []
        with c.bare_server(str(json_file), str(stream_file)) as bare:
            _download(f"{bare.url}/stream")
            for url in urls[1:]:
                base.append(_download(f"{bare.url}/stream")[0])
                seconds, raw = _download(url)
                got = _dechunk(raw)  # another batch: the same lines but for their response ids
                if len(got) != len(results) or got.count(b"\n") != n:
                    raise RuntimeError("incomplete results")
                ours.append(seconds)
    mb = len(results) / 1e6
    rate, rate_bare = statistics.median(mb / t for t in ours), statistics.median(mb / t for t in base)
    note = (
        f"{n:,} lines, {mb:.1f} MB; raw-socket client; responses file written ahead after the create; "
        f"first download of {len(ours)} batches vs a bare stream of the same bytes"
    )
    return [
        c.row(
            "Gemini responses file download",
            rate,
            "MB/s",
            note,
            baseline=rate_bare,
            ratio=rate / rate_bare,
            target=">= 0.5",
            ok=rate / rate_bare >= 0.5,
        )
    ]


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        return [*_create_rows(), *_download_rows(tmp)]
