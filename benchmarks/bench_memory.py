"""Memory: how much a ``batchsim serve`` process grows to hold one 100,000-request batch,
against the size of that batch's create body.

Read from ``/proc/PID/status``: ``VmRSS`` after the create answered and the batch's results file
was written ahead (what holding the batch costs) and ``VmHWM`` (peak RSS, reset before the
create through ``/proc/PID/clear_refs``), which also counts the transient parse of the body.
"""

from __future__ import annotations

import contextlib
import gc
import time
from pathlib import Path
from typing import Any

from . import _common as c


def _status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def run() -> list[dict[str, Any]]:
    if not Path("/proc/self/status").exists():
        return [c.row("memory", None, "", "skipped: needs /proc (Linux)")]
    n = 20_000 if c.QUICK else 100_000
    body = c.make_body(n)
    small = c.make_body(10)
    with c.batchsim_server() as sim:
        pid = sim.process.pid
        for _ in range(3):  # warm up every code path a create touches
            c.http_json("POST", f"{sim.url}/v1/messages/batches", small)
        gc.collect()
        time.sleep(0.2)
        before = _status(pid)["VmRSS"]
        peak_reset = False
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            peak_reset = True
        c.http_json("POST", f"{sim.url}/v1/messages/batches", body)
        c.wait_results_written(sim.url)  # with its results file written ahead (on disk, not in RSS)
        time.sleep(0.2)
        after = _status(pid)
    held = (after["VmRSS"] - before) / len(body)
    rows = [
        c.row(
            "memory (holding the batch)",
            (after["VmRSS"] - before) / 1e6,
            "MB",
            f"RSS growth after a {n:,}-request create (results file written ahead) "
            f"vs its {len(body) / 1e6:.1f} MB body",
            baseline=len(body) / 1e6,
            ratio=held,
            target="<= 1.5x",
            ok=held <= 1.5,
        )
    ]
    if peak_reset:
        peak = (after["VmHWM"] - before) / len(body)
        rows.append(
            c.row(
                "memory (peak during the create)",
                (after["VmHWM"] - before) / 1e6,
                "MB",
                "peak RSS growth while the body is read and parsed (context: the parsed body is transient)",
                baseline=len(body) / 1e6,
                ratio=peak,
            )
        )
    return rows
