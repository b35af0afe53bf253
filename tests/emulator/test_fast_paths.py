"""Every fast path equals its reference path, byte for byte (``make bench`` reports what each one
saves: benchmarks/bench_fast_paths.py)."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchsim import strategies
from batchsim._anthropic import validation
from batchsim._anthropic.responder import default_message, default_message_json
from batchsim._engine.batch import shuffle
from batchsim._engine.errors import DomainError
from batchsim._engine.params import PackedParams

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
# Params that are valid, almost valid, or anything at all.
any_params = st.one_of(
    strategies.message_params(),
    strategies.invalid_params().map(lambda bad: bad.params),
    st.dictionaries(st.sampled_from(["model", "max_tokens", "messages", "system", "x"]), json_values, max_size=5),
)


@given(seed=st.integers(0, 2**64), size=st.integers(0, 300))
def test_shuffle_draws_as_random_shuffle(seed: int, size: int) -> None:
    fast, reference = list(range(size)), list(range(size))
    fast_rng, reference_rng = random.Random(seed), random.Random(seed)
    shuffle(fast_rng, fast)
    reference_rng.shuffle(reference)
    assert fast == reference
    assert fast_rng.getstate() == reference_rng.getstate()  # the same draws: later ones agree too


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(params=strategies.message_params(), custom_id=strategies.custom_ids(), key=st.text(max_size=20))
def test_the_message_template_is_the_encoded_default_message(params: dict[str, Any], custom_id: str, key: str) -> None:
    size = len(orjson.dumps(params))
    assert default_message_json(custom_id, params, size, key) == orjson.dumps(
        default_message(custom_id, params, size, key)
    )


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(params=any_params)
def test_plainly_valid_params_are_valid(params: dict[str, Any]) -> None:
    if validation._plainly_valid(params):
        assert validation.validate_params(params) is None


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(params=strategies.message_params())
def test_the_common_shape_takes_the_fast_check(params: dict[str, Any]) -> None:
    plain = {k: params[k] for k in ("model", "max_tokens")}
    plain["messages"] = [{"role": m["role"], "content": "text"} for m in params["messages"]]
    assert validation._plainly_valid(plain)


def _outcome(check: Any) -> Any:
    try:
        parsed = check()
    except DomainError as exc:
        return ("error", exc.kind, exc.message)
    if parsed is None:
        return None
    return ("ok", list(parsed.custom_ids), list(parsed.params), parsed.check_params())


requests_lists = st.one_of(
    strategies.batch_requests(max_size=12),
    strategies.invalid_batch_requests().map(lambda bad: bad.body.get("requests") if isinstance(bad.body, dict) else []),
    st.lists(st.fixed_dictionaries({"custom_id": strategies.custom_ids(max_size=8), "params": any_params}), max_size=8),
)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(requests=requests_lists)
def test_wholesale_validation_agrees_with_request_by_request(requests: Any) -> None:
    if not isinstance(requests, list) or not requests:
        return
    wholesale = _outcome(lambda: validation._validate_wholesale(requests, check_params=True))
    deferred = _outcome(lambda: validation._validate_wholesale(requests, check_params=False))
    each = _outcome(lambda: validation._validate_each(requests))
    if wholesale is not None:  # the fast path took it: the same answer as the reference
        assert wholesale == each
        assert deferred == each
    else:
        assert deferred is None


@given(items=st.lists(st.dictionaries(st.text(max_size=5), json_values, max_size=4), max_size=20))
def test_packed_params_are_each_item_encoded(items: list[dict[str, Any]]) -> None:
    packed = PackedParams.encode(items)
    expected = [orjson.dumps(item) for item in items]
    assert list(packed) == expected
    assert [packed[i] for i in range(len(items))] == expected
    assert PackedParams.join(expected) == expected
    assert list(PackedParams.from_sizes(packed.joined(), packed.sizes())) == expected


@pytest.mark.parametrize("count", [1, 2, 1000])
def test_packed_params_edges(count: int) -> None:
    items = [{"n": i, "s": "a\nb"} for i in range(count)]
    packed = PackedParams.encode(items)
    assert packed[-1] == orjson.dumps(items[-1])
    assert packed[1:3] == [orjson.dumps(item) for item in items[1:3]]


_ops = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.integers(1, 3)),
        st.tuples(st.sampled_from(["cancel", "delete", "cursor"]), st.integers(0, 50)),
        st.tuples(st.just("advance"), st.sampled_from([1, 30, 90, 3600, 30 * 86400])),
        st.tuples(st.just("list"), st.integers(1, 5)),
    ),
    max_size=30,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=_ops)
def test_a_kept_list_page_is_the_page_built_again(ops: list[tuple[str, int]]) -> None:
    """List answers kept between polls equal the batches' own answers at every step, whatever
    was created, canceled, deleted or how far the clock moved in between."""
    from batchsim import Emulator, Scenario

    sim = Emulator(Scenario.from_dict({"timing": {"start_delay": 60, "per_request": 20}}))
    client = sim.client()
    batches = client.messages.batches
    live: list[str] = []  # oldest first
    cursor: str | None = None
    request = {
        "params": {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    }
    for op, n in ops:
        if op == "create":
            live.append(batches.create(requests=[{"custom_id": f"r{i}", **request} for i in range(n)]).id)
        elif op == "advance":
            sim.advance(n)
        elif live and op == "cancel":
            batch_id = live[n % len(live)]
            if batches.retrieve(batch_id).processing_status != "ended":
                batches.cancel(batch_id)
        elif live and op == "delete":
            batch_id = live[n % len(live)]
            if batches.retrieve(batch_id).processing_status == "ended":
                batches.delete(batch_id)
                live.remove(batch_id)
                cursor = None if cursor == batch_id else cursor
        elif live and op == "cursor":
            cursor = live[n % len(live)]
        for limit in (n, 20) if op == "list" else (20,):
            raw = batches.with_raw_response.list(limit=limit, **({"after_id": cursor} if cursor else {}))
            page = orjson.loads(raw.http_response.content)
            newest_first = live[::-1]
            start = newest_first.index(cursor) + 1 if cursor else 0
            expected = newest_first[start : start + limit]
            assert [b["id"] for b in page["data"]] == expected
            assert page["data"] == [
                orjson.loads(batches.with_raw_response.retrieve(i).http_response.content) for i in expected
            ]
            assert page["has_more"] == (len(newest_first) > start + limit)
