"""Fast paths against the reference paths they replace, for information (no target): each row's
ratio is the speed-up, reference time / fast time. ``tests/emulator/test_fast_paths.py`` proves
each pair gives the same result.

* the seeded shuffle (``batch.shuffle``) vs ``random.Random.shuffle``, 100,000 items;
* the default message's byte template (``default_message_json``) vs
  ``orjson.dumps(default_message(...))``;
* a create's wholesale validation (``_validate_wholesale``) vs request by request
  (``_validate_each``), 100,000 parsed requests: both checking the params, and with the params
  check deferred (as a create does when its plan does not depend on them);
* the common-shape params check (``_plainly_valid``) vs ``validate_params``, 100,000 params;
* ``PackedParams.encode`` (one ``orjson.dumps`` call) vs joining per-item ``orjson.dumps``.

Each timing runs with the collector paused (as a create runs), interleaved over rounds; medians.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson

from batchsim._anthropic import validation
from batchsim._anthropic.responder import default_message, default_message_json
from batchsim._engine.batch import shuffle
from batchsim._engine.params import PackedParams

from . import _common as c

__all__ = ["run"]

_SEED = 20240601


def _timed(function: Callable[[], object]) -> float:
    """Seconds one call takes, with the collector paused (and run before)."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        function()
        return time.perf_counter() - start
    finally:
        gc.enable()


def _compare(
    name: str, fast: Callable[[], object], reference: Callable[[], object], what: str, per: int = 1
) -> dict[str, Any]:
    """A row: the fast path's and the reference's median time (per item when ``per`` > 1)."""
    rounds = 3 if c.QUICK else 7
    runs = {"fast": lambda: _timed(fast), "reference": lambda: _timed(reference)}
    c.interleave(runs, 1)  # warm-up
    times = c.interleave(runs, rounds)
    fast_s, reference_s = statistics.median(times["fast"]) / per, statistics.median(times["reference"]) / per
    unit, scale = ("us", 1e6) if per > 1 else ("ms", 1e3)
    return c.row(
        f"fast path: {name}",
        fast_s * scale,
        unit,
        f"{what}; ratio = speed-up (reference / fast); median of {rounds} rounds, collector paused",
        baseline=reference_s * scale,
        ratio=reference_s / fast_s,
    )


def _shuffle(n: int) -> dict[str, Any]:
    items = list(range(n))

    def fast() -> None:
        shuffle(random.Random(_SEED), items.copy())

    def reference() -> None:
        random.Random(_SEED).shuffle(items.copy())

    return _compare("seeded shuffle", fast, reference, f"`batch.shuffle` vs `random.Random.shuffle`, {n:,} items")


def _message(n: int) -> dict[str, Any]:
    params = c.PARAMS
    size = len(orjson.dumps(params))
    keys = [f"msgbatch_bench/req-{i:06d}" for i in range(n)]

    def fast() -> None:
        for key in keys:
            default_message_json(key, params, size, key)

    def reference() -> None:
        for key in keys:
            orjson.dumps(default_message(key, params, size, key))

    return _compare(
        "default message template",
        fast,
        reference,
        f"`default_message_json` vs `orjson.dumps(default_message(...))`, per message, {n:,} messages",
        per=n,
    )


def _validation(requests: list[Any], params: list[dict[str, Any]]) -> list[dict[str, Any]]:
    n = len(requests)
    return [
        _compare(
            "create validation, wholesale",
            lambda: validation._validate_wholesale(requests, check_params=True),
            lambda: validation._validate_each(requests),
            f"`_validate_wholesale` vs `_validate_each`, both with the params check, {n:,} parsed requests",
        ),
        _compare(
            "create validation, wholesale, params check deferred",
            lambda: validation._validate_wholesale(requests, check_params=False),
            lambda: validation._validate_each(requests),
            f"what a create waits for when its plan does not depend on the params (checked after the answer) "
            f"vs `_validate_each`, {n:,} parsed requests",
        ),
        _compare(
            "params check, common shape",
            lambda: list(map(validation._plainly_valid, params)),
            lambda: list(map(validation.validate_params, params)),
            f"`_plainly_valid` vs `validate_params`, {n:,} params",
        ),
        _compare(
            "params encoding",
            lambda: PackedParams.encode(params)[0],
            lambda: PackedParams.join([orjson.dumps(p) for p in params]),
            f"`PackedParams.encode` and finding the items' bounds (which a create leaves to the first use) vs "
            f"`PackedParams.join` of per-item `orjson.dumps`, {n:,} params of ~500 bytes",
        ),
    ]


def run() -> list[dict[str, Any]]:
    n = 20_000 if c.QUICK else 100_000
    requests: list[Any] = orjson.loads(c.make_body(n))["requests"]
    params = [r["params"] for r in requests]
    if validation._validate_wholesale(requests, check_params=True) is None:
        raise RuntimeError("the benchmark body does not take the wholesale path")
    if not all(map(validation._plainly_valid, params)):
        raise RuntimeError("the benchmark params do not take the common-shape check")
    return [_shuffle(n), _message(n // 10), *_validation(requests, params)]
