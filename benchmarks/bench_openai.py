"""OpenAI's Files + Batch API: the same figures as Anthropic's, on a 50,000-line input file (the
Batch API's limit), each against a baseline measured in the same run (the retrieve against
the bare app is in :mod:`benchmarks.bench_control`).

* upload + create: ``POST /v1/files`` (the file as the SDK sends it, ``multipart/form-data``) then
  ``POST /v1/batches`` naming it, through the whole ASGI app in this process (no socket: server
  time only, each call until its answer's last byte), vs orjson parsing the file line by line
  (the collector paused, as the create figure's baseline);
* first output-file download: ``GET /v1/files/{output_file_id}/content`` of a batch that has
  ended, its file written ahead after the create, vs a bare Starlette stream of the same bytes;
* memory: how much a ``batchsim serve`` process grows to hold the batch (and its input file)
  once its output file was written ahead, vs the input file's size.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import statistics
import tempfile
import time
import urllib.request
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

KEY = "bench-key"
BEARER = f"authorization: Bearer {KEY}"
CHAT = "/v1/chat/completions"
BOUNDARY = "batchsim-bench-boundary"
_TEXT = "Summarize the following document. " + "lorem ipsum dolor sit amet, consectetur " * 9


def make_file(n: int) -> bytes:
    """An input file of ``n`` chat completion requests of ~570 bytes each (50,000: ~29 MB)."""
    lines = [
        orjson.dumps(
            {
                "custom_id": f"req-{i:06d}",
                "method": "POST",
                "url": CHAT,
                "body": {
                    "model": "gpt-4o-mini",
                    "max_tokens": 1024,
                    "messages": [{"role": "user", "content": f"Document {i}. {_TEXT}"}],
                },
            }
        )
        for i in range(n)
    ]
    return b"\n".join(lines) + b"\n"


def multipart(data: bytes, purpose: str = "batch") -> bytes:
    """An upload body as the SDK sends it: ``purpose``, then the file."""
    return (
        (
            f'--{BOUNDARY}\r\ncontent-disposition: form-data; name="purpose"\r\n\r\n{purpose}\r\n'
            f'--{BOUNDARY}\r\ncontent-disposition: form-data; name="file"; filename="requests.jsonl"\r\n'
            "content-type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def _http(method: str, url: str, body: bytes | None = None, content_type: str | None = None) -> Any:
    """One call with the standard library (setup only, never timed)."""
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("authorization", f"Bearer {KEY}")
    if content_type is not None:
        request.add_header("content-type", content_type)
    with urllib.request.urlopen(request, timeout=300) as response:
        return orjson.loads(response.read())


def upload_and_create(url: str, data: bytes) -> dict[str, Any]:
    file = _http("POST", f"{url}/v1/files", multipart(data), f"multipart/form-data; boundary={BOUNDARY}")
    body = orjson.dumps({"input_file_id": file["id"], "endpoint": CHAT, "completion_window": "24h"})
    batch: dict[str, Any] = _http("POST", f"{url}/v1/batches", body, "application/json")
    return batch


def _advance(url: str, seconds: float) -> None:
    c.http_json("POST", f"{url}/_batchsim/clock/advance", orjson.dumps({"seconds": seconds}))


def _raw(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return bytes(response.read())


# -- upload + create -------------------------------------------------------------------------------


def _timed_upload_and_create(data: bytes) -> tuple[float, float, float]:
    """Server time of the upload and of the create, each until its answer's last byte, and of
    the create's whole call (with the input file's check, which runs after the answer)."""
    sim = Emulator(journal=False)
    app = sim.app
    base = "http://batchsim.local"
    bearer = (b"authorization", f"Bearer {KEY}".encode())
    answered = 0.0

    async def timed(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        async def send_timed(message: MutableMapping[str, Any]) -> None:
            nonlocal answered
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = time.perf_counter()

        await app(scope, receive, send_timed)

    async def calls() -> tuple[float, float, float]:
        form = multipart(data)
        content_type = f"multipart/form-data; boundary={BOUNDARY}".encode()
        start = time.perf_counter()
        status, _, out = await call_app(
            timed, "POST", httpx2.URL(f"{base}/v1/files"), [bearer, (b"content-type", content_type)], form
        )
        upload = answered - start
        if status != 200:
            raise RuntimeError(f"upload answered {status}: {out[:200]!r}")
        body = orjson.dumps({"input_file_id": orjson.loads(out)["id"], "endpoint": CHAT, "completion_window": "24h"})
        start = time.perf_counter()
        status, _, out = await call_app(
            timed, "POST", httpx2.URL(f"{base}/v1/batches"), [bearer, (b"content-type", b"application/json")], body
        )
        if status != 200:
            raise RuntimeError(f"create answered {status}: {out[:200]!r}")
        return upload, answered - start, time.perf_counter() - start

    upload, create, whole = asyncio.run(calls())
    while sim.results_pending():  # the output file's write-ahead must not overlap what comes next
        time.sleep(0.01)
    sim.close()
    gc.collect()
    return upload, create, whole


def _timed_parse(data: bytes) -> float:
    gc.disable()
    loads = orjson.loads
    start = time.perf_counter()
    for line in data.splitlines():
        loads(line)
    elapsed = time.perf_counter() - start
    gc.enable()
    gc.collect()
    return elapsed


def _upload_create(data: bytes, n: int) -> list[dict[str, Any]]:
    _timed_upload_and_create(make_file(100))  # first use of every code path, not measured
    uploads, creates, wholes, parses = [], [], [], []
    for _ in range(c.rounds() + 2):
        parses.append(_timed_parse(data))
        upload, create, whole = _timed_upload_and_create(data)
        uploads.append(upload)
        creates.append(create)
        wholes.append(whole)
    ratios = [(u + k) / p for u, k, p in zip(uploads, creates, parses, strict=True)]
    ratio = statistics.median(ratios)
    upload, create, parse = (statistics.median(x) * 1000 for x in (uploads, creates, parses))
    return [
        c.row(
            "OpenAI upload + create at the limit",
            upload + create,
            "ms",
            f"{n:,} requests, {len(data) / 1e6:.1f} MB input file; the upload (multipart, as the SDK sends it: "
            f"{upload:.0f} ms) and the create naming it ({create:.0f} ms), each until its answer's last byte, "
            f"in process (the create's whole call, with the input file checked after the answer: "
            f"{statistics.median(wholes) * 1000:.0f} ms); baseline orjson.loads of each line with the collector "
            "paused; median of per-round ratios",
            baseline=parse,
            ratio=ratio,
            target="<= 2.0x",
            ok=ratio <= 2.0,
        )
    ]


# -- first download, memory ------------------------------------------------------------------------


def download(url: str) -> tuple[float, bytes]:
    """GET ``url`` on a raw socket; returns (total seconds, raw body as sent)."""
    parts = urlsplit(url)
    request = (
        f"GET {parts.path} HTTP/1.1\r\nhost: {parts.netloc}\r\nauthorization: Bearer {KEY}\r\nconnection: close\r\n\r\n"
    ).encode()
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    received: list[bytes] = []
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=120) as sock:
        start = time.perf_counter()
        sock.sendall(request)
        while n := sock.recv_into(view):
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


def _status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for text in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = text.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def _download_and_memory(data: bytes, n: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, c.batchsim_server() as sim:
        pid = sim.process.pid
        warm = upload_and_create(sim.url, make_file(10))  # first use of every code path
        _advance(sim.url, 3600)
        warm_output = _http("GET", f"{sim.url}/v1/batches/{warm['id']}")["output_file_id"]
        download(f"{sim.url}/v1/files/{warm_output}/content")
        gc.collect()
        time.sleep(0.2)
        before = _status(pid)["VmRSS"]
        peak_reset = False
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            peak_reset = True
        batches = [upload_and_create(sim.url, data)]
        c.wait_results_written(sim.url)  # its output file written ahead (on disk, not in RSS)
        time.sleep(0.2)
        after = _status(pid)
        held = (after["VmRSS"] - before) / len(data)
        rows.append(
            c.row(
                "OpenAI memory (holding the batch)",
                (after["VmRSS"] - before) / 1e6,
                "MB",
                f"RSS growth of batchsim serve after the upload and create of a {n:,}-request input file (output "
                f"file written ahead) vs the file's {len(data) / 1e6:.1f} MB",
                baseline=len(data) / 1e6,
                ratio=held,
                target="<= 1.5x",
                ok=held <= 1.5,
            )
        )
        if peak_reset:
            rows.append(
                c.row(
                    "OpenAI memory (peak during the upload and create)",
                    (after["VmHWM"] - before) / 1e6,
                    "MB",
                    "peak RSS growth while the file is uploaded and checked (context)",
                    baseline=len(data) / 1e6,
                    ratio=(after["VmHWM"] - before) / len(data),
                )
            )
        for _ in range(c.rounds()):
            batches.append(upload_and_create(sim.url, data))
            c.wait_results_written(sim.url)
        _advance(sim.url, 3 * 3600)
        outputs = [_http("GET", f"{sim.url}/v1/batches/{b['id']}")["output_file_id"] for b in batches]
        firsts: list[tuple[float, bytes]] = []
        base: list[tuple[float, bytes]] = []
        stream_file = Path(tmp) / "output.jsonl"
        json_file = Path(tmp) / "empty.json"
        json_file.write_bytes(b"{}")
        first = download(f"{sim.url}/v1/files/{outputs[0]}/content")
        content = _dechunk(first[1])
        if content.count(b"\n") != n:
            raise RuntimeError("incomplete output file")
        stream_file.write_bytes(content)
        with c.bare_server(str(json_file), str(stream_file)) as bare:
            download(f"{bare.url}/stream")  # first use of every code path
            for output in outputs[1:]:
                base.append(download(f"{bare.url}/stream"))
                firsts.append(download(f"{sim.url}/v1/files/{output}/content"))
    if any(_dechunk(raw).count(b"\n") != n for _, raw in firsts) or _dechunk(base[0][1]) != content:
        raise RuntimeError("downloads differ")
    mb = len(content) / 1e6
    rate = statistics.median(mb / t for t, _ in firsts)
    rate_bare = statistics.median(mb / t for t, _ in base)
    rows.insert(
        0,
        c.row(
            "OpenAI output file (first download)",
            rate,
            "MB/s",
            f"{n:,} lines, {mb:.1f} MB; raw-socket client; the output file written ahead after the create; "
            f"median of {len(firsts)} batches, each downloaded once, vs a bare Starlette stream of the same bytes",
            baseline=rate_bare,
            ratio=rate / rate_bare,
            target=">= 0.5",
            ok=rate / rate_bare >= 0.5,
        ),
    )
    return rows


def run() -> list[dict[str, Any]]:
    n = 10_000 if c.QUICK else 50_000
    data = make_file(n)
    return [*_upload_create(data, n), *_download_and_memory(data, n)]
