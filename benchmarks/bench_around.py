"""The calls around batches, on a real ``batchsim serve`` (token counting and the models list
against the bare app are in :mod:`benchmarks.bench_control`):

* a 100 MB file upload (``POST /v1/files``): the server's peak RSS above what it held before the
  upload (``VmHWM`` after ``/proc/PID/clear_refs``), against the bodies' spool threshold (what a
  body still arriving may keep in memory) and against a 1 MB upload.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import orjson

from batchsim._http.bodies import SPOOL_THRESHOLD

from . import _common as c

MiB = 1024 * 1024
_COUNT = orjson.dumps(
    {
        "model": "claude-sonnet-4-5",
        "system": "You summarize documents.",
        "messages": [{"role": "user", "content": "Summarize: the quick brown fox jumps over the lazy dog. " * 8}],
    }
)


def _rss(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field}")


def _upload(url: str, size: int) -> dict[str, Any]:
    """Send a multipart upload of ``size`` bytes in 1 MiB pieces (never whole in this process)."""
    host, port = url.removeprefix("http://").split(":")
    boundary = "batchsimbenchboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    with socket.create_connection((host, int(port)), timeout=300) as sock:
        sock.sendall(
            f"POST /v1/files HTTP/1.1\r\nhost: {host}\r\nx-api-key: bench-key\r\nanthropic-version: 2023-06-01\r\n"
            f"content-type: multipart/form-data; boundary={boundary}\r\n"
            f"content-length: {len(head) + size + len(tail)}\r\nconnection: close\r\n\r\n".encode()
        )
        sock.sendall(head)
        piece = b"%" * MiB
        left = size
        while left:
            n = min(left, MiB)
            sock.sendall(piece[:n])
            left -= n
        sock.sendall(tail)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = answer.split(b" ", 2)[1]
    if status != b"200":
        raise RuntimeError(f"upload answered {answer[:300]!r}")
    body: dict[str, Any] = orjson.loads(answer.split(b"\r\n\r\n", 1)[1])
    return body


def _upload_peak(url: str, pid: int, size: int) -> int:
    """The server's peak RSS during one upload above its RSS just before it."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    before = _rss(pid, "VmRSS:")
    uploaded = _upload(url, size)
    peak = _rss(pid, "VmHWM:")
    c.http_json("DELETE", f"{url}/v1/files/{uploaded['id']}")
    return max(0, peak - before)


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with c.batchsim_server() as sim:
        if Path("/proc/self/clear_refs").exists():
            pid = sim.process.pid
            _upload_peak(sim.url, pid, MiB)  # warm up: the first upload sizes the server's buffers
            one = sorted(_upload_peak(sim.url, pid, MiB) for _ in range(3))[1]
            big = sorted(_upload_peak(sim.url, pid, 100 * MiB) for _ in range(3))[1]
            rows.append(
                c.row(
                    "100 MB file upload: memory held",
                    big / 1e6,
                    "MB",
                    f"the server's peak RSS during a 100 MiB POST /v1/files above its RSS before it (median of 3), "
                    f"vs the spool threshold ({SPOOL_THRESHOLD // 1024} KiB: what a body still arriving keeps in "
                    f"memory); a 1 MiB upload peaks at {one / 1e6:.2f} MB",
                    baseline=SPOOL_THRESHOLD / 1e6,
                    ratio=big / SPOOL_THRESHOLD,
                    target="<= 1x",
                    ok=big <= SPOOL_THRESHOLD,
                )
            )
        else:
            rows.append(c.row("100 MB file upload: memory held", None, "", "skipped: needs /proc (Linux)"))
    return rows
