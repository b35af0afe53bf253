"""Recording proxy memory: the peak RSS of ``batchsim record`` while it streams the results of a
100,000-request batch to its client and into the cassette, against the same process idle.

The batch is created on the upstream directly (so the create body never passes through the
proxy); the proxy has answered a few small calls before ``VmRSS`` is read as the idle figure.
``VmHWM`` (peak RSS) is reset through ``/proc/PID/clear_refs`` before the download, and read
after it. The results (~80 MB) must stream through, never be held.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from . import _common as c
from .bench_memory import _status


def _download(url: str) -> int:
    request = urllib.request.Request(url, headers={"x-api-key": "bench-key", "anthropic-version": "2023-06-01"})
    size = 0
    with urllib.request.urlopen(request, timeout=600) as response:
        while chunk := response.read(1 << 20):
            size += len(chunk)
    return size


def run() -> list[dict[str, Any]]:
    if not Path("/proc/self/status").exists():
        return [c.row("recording proxy memory", None, "", "skipped: needs /proc (Linux)")]
    n = 20_000 if c.QUICK else 100_000
    small = c.make_body(10)
    with (
        tempfile.TemporaryDirectory(prefix="batchsim-bench-record-") as out,
        c.batchsim_server() as upstream,
        c.record_proxy(upstream.url, out) as proxy,
    ):
        warm = c.http_json("POST", f"{proxy.url}/v1/messages/batches", small)
        c.http_json("POST", f"{upstream.url}/_batchsim/clock/advance", b'{"seconds": 3600}')
        c.http_json("GET", f"{proxy.url}/v1/messages/batches/{warm['id']}")
        _download(f"{proxy.url}/v1/messages/batches/{warm['id']}/results")  # every code path once
        batch = c.http_json("POST", f"{upstream.url}/v1/messages/batches", c.make_body(n))
        c.http_json("POST", f"{upstream.url}/_batchsim/clock/advance", b'{"seconds": 3600}')
        c.wait_results_written(upstream.url)
        time.sleep(0.2)
        pid = proxy.process.pid
        idle = _status(pid)["VmRSS"]
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        started = time.monotonic()
        size = _download(f"{proxy.url}/v1/messages/batches/{batch['id']}/results")
        seconds = time.monotonic() - started
        peak = _status(pid)["VmHWM"]
        recorded_file = Path(out) / "batches" / batch["id"] / "results.jsonl"
        deadline = time.monotonic() + 120  # renamed into place right after the last byte was sent
        while not recorded_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        recorded = recorded_file.stat().st_size
    ratio = peak / idle
    return [
        c.row(
            "recording proxy memory (streaming results)",
            peak / 1e6,
            "MB",
            f"peak RSS of `batchsim record` while streaming a {n:,}-line ({size / 1e6:.1f} MB) results "
            f"download to the client and the cassette ({recorded / 1e6:.1f} MB recorded, "
            f"{size / 1e6 / seconds:.0f} MB/s) vs the same process idle; growth "
            f"{(peak - idle) / 1e6:.1f} MB = {(peak - idle) / size:.0%} of the download",
            baseline=idle / 1e6,
            ratio=ratio,
            target="<= 1.5x",
            ok=ratio <= 1.5,
        )
    ]
