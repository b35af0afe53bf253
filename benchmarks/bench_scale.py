"""Scale: memory per held request, and a ``batchsim serve --db`` holding millions of requests.

* memory per held request, small requests (~160 bytes on the wire each): the RSS growth of a
  ``batchsim serve`` in memory mode, and of a process running an in-process :class:`Emulator`
  (through its ASGI app, journal off: the in-process journal keeps up to 1 MiB of each body),
  per request held, against the wire size; at 10,000 and at 1,000,000 requests held, in steady
  state (after one create of the same size: what the first create of a size leaves in the
  allocator is not what holding requests costs);
* growth with ``--db``: one ``batchsim serve --db`` fed batches of small requests up to
  ``BENCH_SCALE`` requests (1,000,000 by default; ``BENCH_SCALE=10000000`` runs the full ten
  million), measured at each decade from 10,000: RSS, disk, create time, retrieve and list
  times, the first download of the newest batch's results, and how long a restart over the
  database takes to answer. A table and a log-log plot (``benchmarks/scale.svg``) go to
  RESULTS.md.
"""

from __future__ import annotations

import http.client
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from . import _common as c
from .bench_results import download

SCALE = int(os.environ.get("BENCH_SCALE", "1000000"))
SVG = Path(__file__).with_name("scale.svg")
_HEADERS = {"x-api-key": "bench-key", "content-type": "application/json", "anthropic-version": "2023-06-01"}


def small_body(n: int, start: int = 0) -> bytes:
    """``n`` small requests (~160 bytes each on the wire)."""
    requests = [
        {
            "custom_id": f"req-{start + i:08d}",
            "params": {
                "model": "claude-sonnet-4-5",
                "max_tokens": 64,
                "messages": [{"role": "user", "content": f"Summarize the quarterly report {start + i}."}],
            },
        }
        for i in range(n)
    ]
    return orjson.dumps({"requests": requests})


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class _Client:
    """One keep-alive connection to a server (the timed calls go through it)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=600)

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes, float]:
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body, _HEADERS)
            response = self.conn.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # The server closed the idle connection (uvicorn's keep-alive timeout, 5 s) while
            # the next call was being prepared: the call never reached it; send it on a new one.
            self.conn.close()
            started = time.perf_counter()
            self.conn.request(method, path, body, _HEADERS)
            response = self.conn.getresponse()
        data = response.read()
        return response.status, data, time.perf_counter() - started

    def json(self, method: str, path: str, body: bytes | None = None) -> Any:
        status, data, _ = self.call(method, path, body)
        if status != 200:
            raise RuntimeError(f"{method} {path}: {status} {data[:200]!r}")
        return orjson.loads(data)

    def close(self) -> None:
        self.conn.close()


WARM_CREATES = 10
"""Creates of the measured size made (and held) before measuring. Parsing a create body takes
about four times its size in small objects for a moment; the allocator keeps a few of those
arenas for each of the first creates (an object made meanwhile that lives on pins one), until
it holds about one parse's worth, which later parses reuse. That one-time cost is reported
apart; the figure per held request is measured after it."""


def _warm(body: bytes, n: int) -> bytes:
    """A create body of the same size as ``body`` with other custom ids."""
    return body.replace(b'"custom_id":"req-', b'"custom_id":"w%02d-' % n)


def _held(url: str, pid: int, batches: list[bytes]) -> tuple[int, int, int]:
    """RSS of a server at the start, after :data:`WARM_CREATES` creates of the size of
    ``batches[0]``, and after ``batches``."""
    client = _Client(url)
    start = _rss(pid)
    for n in range(WARM_CREATES):
        client.json("POST", "/v1/messages/batches", _warm(batches[0], n))
    c.wait_results_written(url)
    time.sleep(0.3)
    warm = _rss(pid)
    for body in batches:
        client.json("POST", "/v1/messages/batches", body)
    c.wait_results_written(url)
    time.sleep(0.3)
    client.close()
    return start, warm, _rss(pid)


def memory_rows() -> list[dict[str, Any]]:
    rows = []
    sizes = [(10_000, 1, 10_000), (1_000_000 if not c.QUICK else 200_000, 10, 100_000 if not c.QUICK else 20_000)]
    for total, count, per in sizes:
        batches = [small_body(per, n * per) for n in range(count)]
        wire = sum(map(len, batches)) / total
        with c.batchsim_server(pinned=False) as server:
            served = _held(server.url, server.process.pid, batches)
        inprocess = _in_process(count, per)
        for where, (start, warm, end), what in (
            ("batchsim serve", served, "RSS growth per request over {count} create(s) of {per:,} small requests "
             "(results files written ahead) vs their wire size ({wire:.0f} B each)"),
            ("in process", inprocess, "RSS growth per request of a process running an Emulator (its ASGI app "
             "through the in-process transport, journal off) vs the wire size"),
        ):  # fmt: skip
            held = (end - warm) / total
            note = what.format(count=count, per=per, wire=wire) + f"; after {WARM_CREATES} creates of that size"
            rows.append(
                c.row(
                    f"memory per held request, {where}, {total:,} requests",
                    held,
                    "B",
                    note,
                    baseline=wire,
                    ratio=held / wire,
                    target="<= 1.5x",
                    ok=held / wire <= 1.5,
                )
            )
            once = (warm - start) - WARM_CREATES * per * held
            one_wire = len(batches[0])
            rows.append(
                c.row(
                    f"one-time memory of creates of {per:,} requests, {where}",
                    once / 1e6,
                    "MB",
                    f"RSS growth over the first {WARM_CREATES} creates beyond what their requests hold (the "
                    f"figure above), vs the wire size of one create ({one_wire / 1e6:.1f} MB)",
                    baseline=one_wire / 1e6,
                    ratio=once / one_wire,
                )
            )
    return rows


_IN_PROCESS = """
import gc, json, sys, time
sys.path.insert(0, {root!r})
from benchmarks.bench_scale import small_body, _rss, _warm, WARM_CREATES
import httpx2, os
from batchsim import Emulator
from batchsim._http.transport import SyncASGITransport
count, per = {count}, {per}
batches = [small_body(per, n * per) for n in range(count)]
sim = Emulator(journal=False)
http = httpx2.Client(transport=SyncASGITransport(sim.app), base_url="http://batchsim.local")
headers = {{"x-api-key": "k", "content-type": "application/json"}}


def held(bodies):
    for body in bodies:
        assert http.post("/v1/messages/batches", content=body, headers=headers).status_code == 200
    while sim.results_pending():
        time.sleep(0.05)
    gc.collect(); time.sleep(0.2)
    return _rss(os.getpid())


warm_bodies = [_warm(batches[0], n) for n in range(WARM_CREATES)]
gc.collect()
start = _rss(os.getpid())
warm = held(warm_bodies)
print(json.dumps([start, warm, held(batches)]))
"""


def _in_process(count: int, per: int) -> tuple[int, int, int]:
    import subprocess

    root = str(Path(__file__).resolve().parent.parent)
    code = _IN_PROCESS.format(root=root, count=count, per=per)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=3600)
    start, warm, end = orjson.loads(done.stdout.strip().splitlines()[-1])
    return start, warm, end


# -- growth with --db ----------------------------------------------------------------------------


def _disk(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def _checkpoints() -> list[int]:
    points, n = [], 10_000
    top = 100_000 if c.QUICK else SCALE
    while n <= top:
        points.append(n)
        n *= 10
    return points


def growth() -> tuple[list[dict[str, Any]], str]:
    points = _checkpoints()
    seen: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="batchsim-bench-scale-") as tmp:
        folder = Path(tmp)
        db = str(folder / "scale.db")
        with c.batchsim_server("--db", db, pinned=False) as server:
            client = _Client(server.url)
            held, newest = 0, ""
            for point in points:
                per = min(100_000, point - held)
                create_times = []
                while held < point:
                    body = small_body(per, held)
                    status, data, took = client.call("POST", "/v1/messages/batches", body)
                    if status != 200:
                        raise RuntimeError(f"create failed: {status} {data[:200]!r}")
                    create_times.append(took / per)
                    newest = orjson.loads(data)["id"]
                    held += per
                c.wait_results_written(server.url, timeout=3600)
                c.http_json("POST", f"{server.url}/_batchsim/clock/advance", orjson.dumps({"seconds": 3600}))
                retrieve = statistics.median(client.call("GET", f"/v1/messages/batches/{newest}")[2] for _ in range(50))
                listing = statistics.median(client.call("GET", "/v1/messages/batches?limit=20")[2] for _ in range(20))
                _, took, raw = download(f"{server.url}/v1/messages/batches/{newest}/results")
                seen.append(
                    {
                        "requests": point,
                        "rss_mb": _rss(server.process.pid) / 1e6,
                        "disk_mb": _disk(folder) / 1e6,
                        "create_us": statistics.median(create_times) * 1e6,
                        "retrieve_ms": retrieve * 1e3,
                        "list_ms": listing * 1e3,
                        "download_mb_s": len(raw) / took / 1e6,
                    }
                )
                print(f"  {point:,} requests held: {seen[-1]}", file=sys.stderr, flush=True)
            client.close()
        restart = _restart(db)
    rows = [
        c.row(
            f"--db at {seen[-1]['requests']:,} requests: RSS",
            seen[-1]["rss_mb"],
            "MB",
            f"one worker holding {seen[-1]['requests']:,} requests over the database (growth table below)",
            baseline=seen[0]["rss_mb"],
            ratio=seen[-1]["rss_mb"] / seen[0]["rss_mb"],
            target="< 1 GB",
            ok=seen[-1]["rss_mb"] < 1000,
        ),
        c.row(
            "--db restart: start to first answer",
            restart * 1e3,
            "ms",
            f"batchsim serve --db over the database of {seen[-1]['requests']:,} requests, from process start to a "
            "200 from a retrieve (nothing is read back up front)",
        ),
    ]
    return rows, _table(seen) + "\n\n" + _plot(seen)


def _restart(db: str) -> float:
    started = time.perf_counter()
    with c.batchsim_server("--db", db, pinned=False) as server:
        c.http_json("GET", f"{server.url}/v1/messages/batches?limit=1")
        return time.perf_counter() - started


_COLUMNS = (
    ("rss_mb", "RSS (MB)"),
    ("disk_mb", "disk (MB)"),
    ("create_us", "create (µs/request)"),
    ("retrieve_ms", "retrieve (ms)"),
    ("list_ms", "list (ms)"),
    ("download_mb_s", "first download (MB/s)"),
)


def _table(seen: list[dict[str, float]]) -> str:
    lines = [
        "### `batchsim serve --db`: growth with the requests held",
        "",
        "| requests held | " + " | ".join(title for _, title in _COLUMNS) + " |",
        "|---:|" + "---:|" * len(_COLUMNS),
    ]
    for point in seen:
        cells = " | ".join(f"{point[key]:,.3g}" if point[key] < 100 else f"{point[key]:,.0f}" for key, _ in _COLUMNS)
        lines.append(f"| {point['requests']:,.0f} | {cells} |")
    lines += ["", f"![growth, log-log]({SVG.name})"]
    return "\n".join(lines)


def _plot(seen: list[dict[str, float]]) -> str:
    """A log-log plot of each column against the requests held, each line normalized to its first
    point (flat: independent of the requests held; slope 1: proportional), as SVG."""
    width, height, pad = 640, 380, 50
    xs = [math.log10(p["requests"]) for p in seen]
    ratios = {key: [p[key] / seen[0][key] if seen[0][key] else 1.0 for p in seen] for key, _ in _COLUMNS}
    top = max(max(v) for v in ratios.values())
    bottom = min(min(v) for v in ratios.values())
    y_low, y_high = math.floor(math.log10(max(bottom, 1e-3))), math.ceil(math.log10(max(top, 10)))
    x_low, x_high = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1

    def sx(x: float) -> float:
        return pad + (x - x_low) / (x_high - x_low) * (width - 2 * pad)

    def sy(y: float) -> float:
        return height - pad - (math.log10(max(y, 1e-3)) - y_low) / (y_high - y_low) * (height - 2 * pad)

    colors = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        'font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for decade in range(y_low, y_high + 1):
        y = sy(10.0**decade)
        parts.append(f'<line x1="{pad}" y1="{y:.1f}" x2="{width - pad}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{pad - 6}" y="{y + 4:.1f}" text-anchor="end">x{10.0**decade:g}</text>')
    for x in xs:
        parts.append(f'<text x="{sx(x):.1f}" y="{height - pad + 16}" text-anchor="middle">{10**x:,.0f}</text>')
    parts.append(f'<text x="{width / 2}" y="{height - 10}" text-anchor="middle">requests held</text>')
    for n, (key, title) in enumerate(_COLUMNS):
        points = " ".join(f"{sx(x):.1f},{sy(r):.1f}" for x, r in zip(xs, ratios[key], strict=True))
        color = colors[n % len(colors)]
        parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts.append(f'<text x="{pad + 8}" y="{pad + 14 * n}" fill="{color}">{title}</text>')
    parts.append("</svg>")
    SVG.write_text("\n".join(parts) + "\n")
    return f"The plot shows each column relative to its value at {seen[0]['requests']:,.0f} requests."


def run() -> list[dict[str, Any]]:
    if not Path("/proc/self/status").exists():
        return [c.row("scale", None, "", "skipped: needs /proc (Linux)")]
    rows = memory_rows()
    grown, section = growth()
    rows.extend(grown)
    rows.append({**c.row("scale: growth table", None, ""), "section": section})
    return rows
