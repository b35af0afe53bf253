"""Small calls while big results are written: the official ``anthropic`` SDK doing a 1-request
create and its retrieve against a real ``batchsim serve`` over HTTP, right after three
100,000-request batches were created (their results files are then being written ahead, by the
server's writer process), vs the same calls on the idle server.

Each round measures both, busy and idle, in turns: the idle measurement first in one round, after
the write-ahead has finished in the next. The server is not pinned to a core: its writer process
would inherit the pin and compete with the API for that one core, which no deployment does. The
note says whether the write-ahead was still under way when each busy measurement ended
(``results_pending`` of ``/_batchsim/health`` above 0).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import anthropic

from . import _common as c

__all__ = ["run"]

_ONE: Any = [
    {
        "custom_id": "one",
        "params": {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]},
    }
]
_BIG_BATCHES = 3


def _cycles(client: anthropic.Anthropic, count: int) -> list[float]:
    """Seconds of each of ``count`` create + retrieve cycles."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        batch = client.messages.batches.create(requests=_ONE)
        client.messages.batches.retrieve(batch.id)
        times.append(time.perf_counter() - start)
    return times


def _pending(url: str) -> int:
    return int(c.http_json("GET", f"{url}/_batchsim/health")["results_pending"])


def run() -> list[dict[str, Any]]:
    n = 100_000
    cycles = 10 if c.QUICK else 20
    rounds = 2 if c.QUICK else 4
    body = c.make_body(n)
    idle: list[float] = []  # each round's median
    busy: list[float] = []
    firsts: list[float] = []  # the first cycle after the creates
    pending: list[int] = []  # results_pending right after each busy measurement
    with c.batchsim_server(pinned=False) as server:
        client = anthropic.Anthropic(api_key="bench-key", base_url=server.url, max_retries=0)
        _cycles(client, cycles)  # warm-up: first use of every code path, the SDK's models
        for i in range(rounds):
            idle_first = i % 2 == 0
            if idle_first:
                idle.append(statistics.median(_cycles(client, cycles)))
            for _ in range(_BIG_BATCHES):
                c.http_json("POST", f"{server.url}/v1/messages/batches", body)
            times = _cycles(client, cycles)  # at once: even a health call first would wait for the server
            busy.append(statistics.median(times))
            firsts.append(times[0])
            pending.append(_pending(server.url))
            c.wait_results_written(server.url)
            if not idle_first:
                idle.append(statistics.median(_cycles(client, cycles)))
            c.http_json("POST", f"{server.url}/_batchsim/reset", b"{}")  # frees the big batches
        client.close()
    ratios = [b / a for a, b in zip(idle, busy, strict=True)]
    ratio = statistics.median(ratios)
    still = sum(count > 0 for count in pending)
    return [
        c.row(
            "SDK create + retrieve while results are written",
            statistics.median(busy) * 1000,
            "ms/cycle",
            f"1-request create + retrieve (anthropic SDK over HTTP) right after {_BIG_BATCHES} creates of "
            f"{n:,} requests vs on the idle server; median of {cycles} cycles, {rounds} rounds (idle measured "
            f"first in half of them, last in the others), median of per-round ratios "
            f"({', '.join(f'{r:.2f}' for r in ratios)}); the first cycle after the creates took "
            f"{', '.join(f'{t * 1000:.0f}' for t in firsts)} ms (the server finishing the last create on its "
            "event loop: the deferred params check, freeing the parsed body); "
            f"write-ahead still under way at the end of {still} of "
            f"{rounds} busy measurements (results_pending then: {', '.join(map(str, pending))})",
            baseline=statistics.median(idle) * 1000,
            ratio=ratio,
            target="<= 1.2",
            ok=ratio <= 1.2,
        )
    ]
