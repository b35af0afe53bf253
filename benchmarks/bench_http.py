"""Control plane over HTTP: retrieve and list requests/s of ``batchsim serve`` under wrk, against
itself (each route against the bare app is in :mod:`benchmarks.bench_control`).

* flat retrieve: a 100,000-request batch vs a 1-request batch (in progress, and ended);
* flat list: ``limit=20`` with 10,000 batches stored vs with 10;
* durable mode: retrieve with ``--db`` vs in memory.
"""

from __future__ import annotations

import http.client
import statistics
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from . import _common as c

_SMALL = orjson.dumps(
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


def _create_many(url: str, key: str, count: int) -> None:
    """``count`` 1-request batches over one keep-alive connection (setup, not timed)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    headers = {"x-api-key": key, "content-type": "application/json", "anthropic-version": "2023-06-01"}
    for _ in range(count):
        conn.request("POST", "/v1/messages/batches", _SMALL, headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"create failed: {response.status}")
    conn.close()


def _ratio_row(
    name: str, ours: list[c.Load], base: list[c.Load], target: float, what: str, base_what: str
) -> dict[str, Any]:
    value, baseline = c.median_rps(ours), c.median_rps(base)
    # The median of each round's ratio: the two runs of a round are seconds apart, so slow drifts
    # of the machine's speed cancel out in it.
    ratio = statistics.median(a.rps / b.rps for a, b in zip(ours, base, strict=True))
    note = f"{what} vs {base_what}; median of per-round ratios; {c.load_note(ours, base)}"
    return c.row(
        name, value, "req/s", note, baseline=baseline, ratio=ratio, target=f">= {target:g}", ok=ratio >= target
    )


def run() -> list[dict[str, Any]]:
    # 3-second wrk runs vary by about 10% from one to the next and several figures share a
    # baseline (the 1-request retrieve): medians of five rounds.
    rounds = 3 if c.QUICK else 5
    big_n = 20_000 if c.QUICK else 100_000
    many = 2_000 if c.QUICK else 10_000
    with (
        tempfile.TemporaryDirectory() as tmp,
        c.batchsim_server() as mem,
        c.batchsim_server("--db", str(Path(tmp) / "bench.db")) as db,
    ):
        # ``mem`` holds a 1-request batch, a 100,000-request one and 10,000 more (the flat figures
        # compare within it).
        one = c.http_json("POST", f"{mem.url}/v1/messages/batches", _SMALL)["id"]
        big = c.http_json("POST", f"{mem.url}/v1/messages/batches", c.make_body(big_n))["id"]
        one_db = c.http_json("POST", f"{db.url}/v1/messages/batches", _SMALL)["id"]
        for _ in range(9):
            c.http_json("POST", f"{mem.url}/v1/messages/batches", _SMALL, key="list-small")
        _create_many(mem.url, "list-small", 1)
        _create_many(mem.url, "list-big", many)
        c.wait_results_written(mem.url)  # the big batch's results file is written in the background
        r = f"{mem.url}/v1/messages/batches/"
        lst = f"{mem.url}/v1/messages/batches?limit=20"
        runs = c.interleave(
            {
                "retrieve_1": lambda: c.load(r + one),
                "retrieve_big": lambda: c.load(r + big),
                "list_10": lambda: c.load(lst, key="list-small"),
                "list_many": lambda: c.load(lst, key="list-big"),
                "retrieve_db": lambda: c.load(f"{db.url}/v1/messages/batches/{one_db}"),
            },
            rounds,
        )
        # The same retrieves once both batches have ended (counts come from the final state).
        c.http_json("POST", f"{mem.url}/_batchsim/clock/advance", orjson.dumps({"seconds": 86400}))
        _raw(r + big)
        ended = c.interleave({"retrieve_1": lambda: c.load(r + one), "retrieve_big": lambda: c.load(r + big)}, rounds)
    return [
        _ratio_row(
            "flat retrieve (in progress)",
            runs["retrieve_big"],
            runs["retrieve_1"],
            0.9,
            f"{big_n:,}-request batch",
            "1-request batch",
        ),
        _ratio_row(
            "flat retrieve (ended)",
            ended["retrieve_big"],
            ended["retrieve_1"],
            0.9,
            f"{big_n:,}-request batch",
            "1-request batch",
        ),
        _ratio_row(
            "flat list (limit 20)", runs["list_many"], runs["list_10"], 0.9, f"{many:,} batches stored", "10 stored"
        ),
        _ratio_row("durable mode (retrieve)", runs["retrieve_db"], runs["retrieve_1"], 0.8, "--db", "in memory"),
    ]


def _raw(url: str) -> bytes:
    import urllib.request

    request = urllib.request.Request(url, headers={"x-api-key": "bench-key"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return bytes(response.read())
