"""Results at the limit: a 100,000-line results download from ``batchsim serve`` against a bare
Starlette stream of the same pre-encoded bytes (same uvicorn settings), and time to first byte.

The client is a raw socket reading into one buffer (it moves several GB/s, far above either
server). A 100,000-request batch has its results file written in the background right after
its create: the "first download" row downloads batches whose file was written by then; the
"right after the create" row downloads a batch at once (the download follows the writer, so it
runs at the speed lines are generated). Later downloads read the same file.
"""

from __future__ import annotations

import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from . import _common as c


def download(url: str, key: str = "bench-key") -> tuple[float, float, bytes]:
    """GET ``url``; returns (seconds to the first body byte, total seconds, raw body as sent)."""
    parts = urlsplit(url)
    request = (
        f"GET {parts.path} HTTP/1.1\r\nhost: {parts.netloc}\r\nx-api-key: {key}\r\n"
        "anthropic-version: 2023-06-01\r\nconnection: close\r\n\r\n"
    ).encode()
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    received: list[bytes] = []
    first: float | None = None
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=120) as sock:
        start = time.perf_counter()
        sock.sendall(request)
        head = b""
        while True:
            n = sock.recv_into(view)
            if n == 0:
                break
            chunk = bytes(view[:n])
            if first is None:
                head += chunk
                if b"\r\n\r\n" in head:
                    header, _, rest = head.partition(b"\r\n\r\n")
                    if not header.startswith(b"HTTP/1.1 200"):
                        raise RuntimeError(header.decode("latin-1"))
                    if rest:
                        first = time.perf_counter() - start
                        received.append(rest)
                continue
            received.append(chunk)
        total = time.perf_counter() - start
    if first is None:
        raise RuntimeError("no body")
    return first, total, b"".join(received)


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


def run() -> list[dict[str, Any]]:
    n = 20_000 if c.QUICK else 100_000
    request_body = c.make_body(n)
    advance = orjson.dumps({"seconds": 86400})
    with tempfile.TemporaryDirectory() as tmp, c.batchsim_server() as sim:
        warm_up = c.http_json("POST", f"{sim.url}/v1/messages/batches", c.make_body(10))["id"]
        c.http_json("POST", f"{sim.url}/_batchsim/clock/advance", advance)
        download(f"{sim.url}/v1/messages/batches/{warm_up}/results")  # first use of every code path
        # A few batches, each with its results file written ahead, for the first downloads.
        batches = []
        for _ in range(c.rounds() + 1):
            batches.append(c.http_json("POST", f"{sim.url}/v1/messages/batches", request_body)["id"])
            c.wait_results_written(sim.url)
        c.http_json("POST", f"{sim.url}/_batchsim/clock/advance", advance)
        urls = [f"{sim.url}/v1/messages/batches/{batch}/results" for batch in batches]
        url = urls[0]
        body = _dechunk(download(url)[2])
        if body.count(b"\n") != n:
            raise RuntimeError("incomplete results")
        stream_file = Path(tmp) / "results.jsonl"
        stream_file.write_bytes(body)
        json_file = Path(tmp) / "empty.json"
        json_file.write_bytes(b"{}")
        firsts: list[tuple[float, float, bytes]] = []
        ours: list[tuple[float, float, bytes]] = []
        base: list[tuple[float, float, bytes]] = []
        with c.bare_server(str(json_file), str(stream_file)) as bare:
            download(f"{bare.url}/stream")  # first use of every code path
            for first_url in urls[1:]:
                base.append(download(f"{bare.url}/stream"))
                firsts.append(download(first_url))
            for _ in range(c.rounds() + 1):
                base.append(download(f"{bare.url}/stream"))
                ours.append(download(url))
        # Another batch, downloaded as soon as it has ended (virtual clock: right after its create).
        other = c.http_json("POST", f"{sim.url}/v1/messages/batches", request_body)["id"]
        c.http_json("POST", f"{sim.url}/_batchsim/clock/advance", advance)
        ttfb_now, total_now, raw_now = download(f"{sim.url}/v1/messages/batches/{other}/results")
        if _dechunk(raw_now).count(b"\n") != n:
            raise RuntimeError("incomplete results")
    mb = len(body) / 1e6
    if _dechunk(ours[0][2]) != body or _dechunk(base[0][2]) != body:
        raise RuntimeError("downloads differ")
    if any(_dechunk(raw).count(b"\n") != n for _, _, raw in firsts):
        raise RuntimeError("incomplete results")
    rate_cold = statistics.median(mb / t for _, t, _ in firsts)
    ttfb_cold = statistics.median(f for f, _, _ in firsts)
    rate_warm = statistics.median(mb / t for _, t, _ in ours)
    rate_bare = statistics.median(mb / t for _, t, _ in base)
    ttfb_warm = statistics.median(f for f, _, _ in ours) * 1000
    ttfb_bare = statistics.median(f for f, _, _ in base) * 1000
    what = f"{n:,} lines, {mb:.1f} MB; raw-socket client"
    return [
        c.row(
            "results at the limit (first download)",
            rate_cold,
            "MB/s",
            f"{what}; results file written ahead in the background after the create; median of {len(firsts)} batches",
            baseline=rate_bare,
            ratio=rate_cold / rate_bare,
            target=">= 0.5",
            ok=rate_cold / rate_bare >= 0.5,
        ),
        c.row(
            "results at the limit (download right after the create)",
            mb / total_now,
            "MB/s",
            f"{what}; follows the results file while it is written: the speed lines are generated",
            baseline=rate_bare,
            ratio=mb / total_now / rate_bare,
        ),
        c.row(
            "results at the limit (repeat download)",
            rate_warm,
            "MB/s",
            f"{what}; median of {len(ours)}",
            baseline=rate_bare,
            ratio=rate_warm / rate_bare,
            target=">= 0.5",
            ok=rate_warm / rate_bare >= 0.5,
        ),
        c.row(
            "results time to first byte (first download)",
            ttfb_cold * 1000,
            "ms",
            f"bare stream: {ttfb_bare:.1f} ms",
            target="<= 50 ms",
            ok=ttfb_cold * 1000 <= 50,
        ),
        c.row(
            "results time to first byte (download right after the create)",
            ttfb_now * 1000,
            "ms",
            f"bare stream: {ttfb_bare:.1f} ms",
        ),
        c.row(
            "results time to first byte (repeat download)",
            ttfb_warm,
            "ms",
            f"bare stream: {ttfb_bare:.1f} ms",
            target="<= 50 ms",
            ok=ttfb_warm <= 50,
        ),
    ]
