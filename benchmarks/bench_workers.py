"""``batchsim serve`` throughput with one worker and with several (``--db --workers N``).

Measures retrieve requests/s of one small batch: in memory with 1 worker, over SQLite with 1
worker, and over SQLite with N workers. The servers are not pinned to a core (several workers
need several), so on a small machine the load generator competes with them for CPU: the note of
each row says which load generator ran and how many cores there were. The load generator is
``wrk`` when installed, else a multi-process Python client (one process per core, keep-alive
connections), which is itself slower than ``wrk``; the note says which.
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from . import _common

_BODY = orjson.dumps(
    {
        "requests": [
            {
                "custom_id": "one",
                "params": {
                    "model": "claude-sonnet-4-5",
                    "max_tokens": 16,
                    "messages": [{"role": "user", "content": "hi"}],
                },
            }
        ]
    }
)
_KEY = "bench-key"
_CONNECTIONS = 64


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _create(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v1/messages/batches", _BODY, {"x-api-key": _KEY, "content-type": "application/json"})
    batch_id: str = orjson.loads(conn.getresponse().read())["id"]
    return batch_id


def _python_client(port: int, path: str, seconds: float, connections: int, out: Any) -> None:
    """One load process: ``connections`` keep-alive connections served round robin."""
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(connections)]
    done = errors = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for conn in conns:
            conn.request("GET", path, headers={"x-api-key": _KEY})
            response = conn.getresponse()
            response.read()
            done += 1
            errors += response.status != 200
    out.put((done, errors))


def _load(url: str, path: str, seconds: float) -> tuple[float, str]:
    """Requests/s of GET ``path`` and the name of the load generator."""
    wrk = shutil.which("wrk")
    if wrk is not None:
        threads = max(1, _cores())
        cmd = [wrk, f"-t{threads}", f"-c{_CONNECTIONS}", f"-d{seconds:g}s", "-H", f"x-api-key: {_KEY}", url + path]
        _common.command_log.append(" ".join(["wrk", *cmd[1:]]))
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        match = re.search(r"Requests/sec:\s*([\d.]+)", out)
        if match is None:
            raise RuntimeError(f"cannot read wrk's output:\n{out}")
        if re.search(r"Non-2xx or 3xx responses", out):
            raise RuntimeError(f"errors under load:\n{out}")
        return float(match.group(1)), f"wrk -t{threads} -c{_CONNECTIONS}"
    port = int(url.rsplit(":", 1)[1])
    procs = max(1, _cores())
    queue: Any = multiprocessing.get_context("spawn").Queue()
    workers = [
        multiprocessing.get_context("spawn").Process(
            target=_python_client, args=(port, path, seconds, _CONNECTIONS // procs, queue)
        )
        for _ in range(procs)
    ]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    results = [queue.get() for _ in workers]
    elapsed = time.monotonic() - started
    for worker in workers:
        worker.join()
    if any(errors for _, errors in results):
        raise RuntimeError("errors under load")
    return sum(done for done, _ in results) / elapsed, f"Python client, {procs} processes (wrk not installed)"


def _measure(seconds: float, *args: str) -> tuple[float, str]:
    with _common.batchsim_server(*args, pinned=False) as server:
        url = server.url
        batch_id = _create(int(url.rsplit(":", 1)[1]))
        path = f"/v1/messages/batches/{batch_id}"
        _load(url, path, min(1.0, seconds))  # warm up (imports, caches, connections)
        return _load(url, path, seconds)


def run() -> list[dict[str, Any]]:
    """Rows: retrieve requests/s with 1 worker (memory and --db) and with N workers (--db)."""
    seconds = 2.0 if _common.QUICK else 5.0
    cores = _cores()
    workers = max(2, min(4, cores))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        memory, tool = _measure(seconds)
        one, _ = _measure(seconds, "--db", str(Path(tmp) / "one.db"))
        many, _ = _measure(seconds, "--db", str(Path(tmp) / "many.db"), "--workers", str(workers))
    note = f"{tool}, {seconds:g} s; {cores} cores shared by server and load generator"
    rows.append(_common.row("serve: retrieve, 1 worker, in memory", memory, "req/s", note))
    rows.append(_common.row("serve: retrieve, 1 worker, --db", one, "req/s", note, baseline=memory, ratio=one / memory))
    rows.append(
        _common.row(
            f"serve: retrieve, {workers} workers, --db",
            many,
            "req/s",
            note,
            baseline=one,
            ratio=many / one,
        )
    )
    return rows


if __name__ == "__main__":
    for line in run():
        print(f"{line['name']}: {line['value']:.0f} {line['unit']} ({line['note']}) ratio={line['ratio']}")
