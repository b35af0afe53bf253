"""Create at the limit: the server's time to accept a 100,000-request (~50 MB) create, against
orjson parsing the same body.

The create runs through the whole ASGI app (routing, body reading, validation, the seeded plan,
the store, the answer) in this process, with no socket, so the figure is server time only: from
the call to the answer's last byte.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import MutableMapping
from typing import Any

import httpx2
import orjson
from starlette.types import Receive, Send

from batchsim import Emulator
from batchsim._http.transport import call_app

from . import _common as c


def _timed_create(body: bytes) -> tuple[float, float]:
    """Seconds from the start of the ASGI call to the answer's last byte (what the client waits
    for), and to the end of the call (with the work done after answering: checking each
    request's params, as the API also does after accepting a batch, and freeing the parsed body)."""
    sim = Emulator(journal=False)
    app = sim.app
    url = httpx2.URL("http://batchsim.local/v1/messages/batches")
    headers = [(b"x-api-key", b"bench-key"), (b"content-type", b"application/json")]
    answered = 0.0

    async def timed(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        async def send_timed(message: MutableMapping[str, Any]) -> None:
            nonlocal answered
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = time.perf_counter()

        await app(scope, receive, send_timed)

    async def call() -> tuple[int, float, float]:
        start = time.perf_counter()
        status, _, _ = await call_app(timed, "POST", url, headers, body)
        return status, answered - start, time.perf_counter() - start

    status, to_answer, whole = asyncio.run(call())
    if status != 200:
        raise RuntimeError(f"create answered {status}")
    while sim.results_pending():  # the results write-ahead must not overlap what comes next
        time.sleep(0.01)
    sim.close()
    gc.collect()
    return to_answer, whole


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
    creates, calls, parses, parses_gc = [], [], [], []
    for _ in range(c.rounds()):
        parses.append(_timed_parse(body, pause_gc=True))
        parses_gc.append(_timed_parse(body, pause_gc=False))
        answered, whole = _timed_create(body)
        creates.append(answered)
        calls.append(whole)
    create, parse = statistics.median(creates), statistics.median(parses)
    ratio = create / parse
    note = (
        f"{n:,} requests, {len(body) / 1e6:.1f} MB; until the answer's last byte (the whole call, with "
        f"the params check and freeing done after the answer: {statistics.median(calls) * 1000:.0f} ms); "
        "baseline orjson.loads with the collector paused "
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
