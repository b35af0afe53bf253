"""Slow uploads: the peak memory of a ``batchsim serve`` process while N create bodies are in
flight (each has sent part of a large declared body, then stalls), against one such upload.

Request bodies past a small in-memory threshold go to a temporary file, and a server-wide
budget caps the body bytes in flight, so N stalled uploads cost about what one costs. Peak RSS
is ``VmHWM`` from ``/proc/PID/status`` (reset through ``/proc/PID/clear_refs`` before each
round); the note also gives how long a health check took while the N uploads were stalled.
"""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path
from typing import Any

from . import _common as c

MiB = 1024 * 1024


def _peak(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def _upload(url: str, sent: int) -> socket.socket:
    """A create that declares 200 MiB, sends ``sent`` bytes of it and stalls."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    sock.sendall(
        f"POST /v1/messages/batches HTTP/1.1\r\nhost: {host}\r\nx-api-key: bench-key\r\n"
        f"content-type: application/json\r\ncontent-length: {200 * MiB}\r\n\r\n".encode()
    )
    chunk = b" " * MiB
    for _ in range(sent // MiB):
        sock.sendall(chunk)
    return sock


def _round(url: str, pid: int, count: int, sent: int) -> tuple[int, float]:
    """Peak RSS while ``count`` uploads of ``sent`` bytes are stalled, and a health check's time."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    uploads = [_upload(url, sent) for _ in range(count)]
    try:
        time.sleep(0.3)
        started = time.perf_counter()
        c.http_json("GET", f"{url}/_batchsim/health", timeout=30)
        health = time.perf_counter() - started
        return _peak(pid), health
    finally:
        for sock in uploads:
            sock.close()
        time.sleep(0.3)


def run() -> list[dict[str, Any]]:
    if not Path("/proc/self/clear_refs").exists():
        return [c.row("slow uploads", None, "", "skipped: needs /proc (Linux)")]
    count = 8 if c.QUICK else 16
    sent = 16 * MiB
    with c.batchsim_server() as sim:
        pid = sim.process.pid
        _round(sim.url, pid, 1, sent)  # warm up: the first upload sizes the server's buffers
        ones, manys, healths = [], [], []
        for _ in range(3):
            ones.append(_round(sim.url, pid, 1, sent)[0])
            peak, health = _round(sim.url, pid, count, sent)
            manys.append(peak)
            healths.append(health)
        with contextlib.suppress(OSError):
            c.http_json("GET", f"{sim.url}/_batchsim/health")
    one, many = sorted(ones)[1], sorted(manys)[1]
    ratio = many / one
    return [
        c.row(
            f"slow uploads ({count} in flight vs 1)",
            many / 1e6,
            "MB",
            f"peak RSS of the server while {count} creates have each sent {sent // MiB} MiB of a declared "
            f"200 MiB body and stall ({count * sent // MiB} MiB in flight) vs one such upload; median of 3; "
            f"health answered in at most {max(healths) * 1000:.0f} ms meanwhile",
            baseline=one / 1e6,
            ratio=ratio,
            target="<= 1.5x",
            ok=ratio <= 1.5,
        )
    ]
