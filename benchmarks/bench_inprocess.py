"""In-process: SDK create -> retrieve -> results (10 requests) through ``Emulator.client()``,
against the same SDK calls through a bare ``httpx2`` transport that answers canned responses.

The SDK's own work (models, headers, URL handling) is in both; the ratio is what the emulator
and its transport add on top.
"""

from __future__ import annotations

import gc
import statistics
import time
from typing import Any

import anthropic
import httpx2

from batchsim import Emulator

from . import _common as c

_REQUESTS: list[Any] = [
    {
        "custom_id": f"r{i}",
        "params": {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "Hello"}]},
    }
    for i in range(10)
]


class _Canned(httpx2.BaseTransport):
    """Answers each route with bytes recorded once from the emulator."""

    def __init__(self, answers: dict[tuple[str, str], tuple[bytes, str]]) -> None:
        self.answers = answers

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        path = request.url.path
        kind = "results" if path.endswith("/results") else ("create" if request.method == "POST" else "retrieve")
        body, ctype = self.answers[(request.method, kind)]
        return httpx2.Response(200, headers={"content-type": ctype, "request-id": "req_x"}, content=body)


def _cycle(client: anthropic.Anthropic, sim: Emulator | None) -> None:
    batch = client.messages.batches.create(requests=_REQUESTS)
    if sim is not None:
        sim.advance(hours=1)
    client.messages.batches.retrieve(batch.id)
    for _ in client.messages.batches.results(batch.id):
        pass


def _record(sim: Emulator) -> dict[tuple[str, str], tuple[bytes, str]]:
    raw = sim.client(max_retries=0).with_raw_response
    created = raw.messages.batches.create(requests=_REQUESTS)
    batch_id = created.parse().id
    sim.advance(hours=1)
    retrieved = raw.messages.batches.retrieve(batch_id)
    results = sim.client(max_retries=0).messages.batches.with_raw_response.results(batch_id)
    return {
        ("POST", "create"): (created.http_response.content, "application/json"),
        ("GET", "retrieve"): (retrieved.http_response.content, "application/json"),
        ("GET", "results"): (results.http_response.read(), "application/x-jsonl"),
    }


def run() -> list[dict[str, Any]]:
    cycles = 100 if c.QUICK else 300
    answers = _record(Emulator())
    canned = anthropic.Anthropic(
        api_key="k",
        base_url="http://batchsim.local",
        max_retries=0,
        http_client=httpx2.Client(transport=_Canned(answers)),
    )
    sim = Emulator()
    client = sim.client(max_retries=0)
    for _ in range(20):  # warm both paths up
        _cycle(client, sim)
        _cycle(canned, None)
    ours, base = [], []
    for _ in range(c.rounds() + 4):
        gc.collect()
        start = time.perf_counter()
        for _ in range(cycles):
            _cycle(canned, None)
        base.append((time.perf_counter() - start) / cycles)
        sim.reset()
        gc.collect()
        start = time.perf_counter()
        for _ in range(cycles):
            _cycle(client, sim)
        ours.append((time.perf_counter() - start) / cycles)
    value, baseline = statistics.median(ours) * 1000, statistics.median(base) * 1000
    # The median of each round's ratio: the two halves of a round run back to back.
    ratio = statistics.median(a / b for a, b in zip(ours, base, strict=True))
    return [
        c.row(
            "in-process (SDK create, retrieve, results)",
            value,
            "ms/cycle",
            f"Emulator.client() vs the SDK over a canned-response transport; {cycles} cycles x {len(ours)} rounds; "
            "median of per-round ratios",
            baseline=baseline,
            ratio=ratio,
            target="<= 1.5x",
            ok=ratio <= 1.5,
        )
    ]
