"""Create at the limit: the server's time to accept a 100,000-request (~50 MB) create, against
orjson parsing the same body.

The create runs through the whole ASGI app (routing, body reading, validation, the seeded plan,
the store, the answer) in this process, with no socket, so the figure is server time only.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from typing import Any

import httpx2
import orjson

from batchsim import Emulator
from batchsim._transport import call_app

from . import _common as c


def _timed_create(body: bytes) -> float:
    sim = Emulator(journal=False)
    url = httpx2.URL("http://batchsim.local/v1/messages/batches")
    headers = [(b"x-api-key", b"bench-key"), (b"content-type", b"application/json")]
    start = time.perf_counter()
    status, _, _ = asyncio.run(call_app(sim.app, "POST", url, headers, body))
    elapsed = time.perf_counter() - start
    if status != 200:
        raise RuntimeError(f"create answered {status}")
    del sim
    gc.collect()
    return elapsed


def _timed_parse(body: bytes, *, pause_gc: bool) -> float:
    if pause_gc:
        gc.disable()
    start = time.perf_counter()
    data = orjson.loads(body)
    elapsed = time.perf_counter() - start
    gc.enable()
    del data
    gc.collect()
    return elapsed


def run() -> list[dict[str, Any]]:
    n = 20_000 if c.QUICK else 100_000
    body = c.make_body(n)
    creates, parses, parses_gc = [], [], []
    for _ in range(c.rounds()):
        parses.append(_timed_parse(body, pause_gc=True))
        parses_gc.append(_timed_parse(body, pause_gc=False))
        creates.append(_timed_create(body))
    create, parse = statistics.median(creates), statistics.median(parses)
    ratio = create / parse
    note = (
        f"{n:,} requests, {len(body) / 1e6:.1f} MB; baseline orjson.loads with the collector paused "
        f"(with it running: {statistics.median(parses_gc) * 1000:.0f} ms)"
    )
    return [
        c.row(
            "create at the limit",
            create * 1000,
            "ms",
            note,
            baseline=parse * 1000,
            ratio=ratio,
            target="<= 2.0x",
            ok=ratio <= 2.0,
        )
    ]
