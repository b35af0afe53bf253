"""The lifecycle on a virtual clock: timing, counts, cancel, expiry, retention, determinism."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anthropic
import pytest

from batchsim import Emulator, Scenario

from .conftest import make_requests


def _client(sim: Emulator) -> anthropic.Anthropic:
    return sim.client(max_retries=0, _strict_response_validation=True)


def test_counts_stay_in_processing_until_the_batch_ends() -> None:
    sim = Emulator(Scenario.of(timing={"start_delay": 10, "per_request": 5, "concurrency": 2}))
    client = _client(sim)
    batch = client.messages.batches.create(requests=make_requests(6))
    # 6 requests, 2 at a time, 5 s each after a 10 s start: the last finishes at 25 s.
    sim.advance(24)
    mid = client.messages.batches.retrieve(batch.id)
    assert mid.processing_status == "in_progress"
    assert mid.request_counts.processing == 6 and mid.request_counts.succeeded == 0
    sim.advance(1)
    done = client.messages.batches.retrieve(batch.id)
    assert done.processing_status == "ended"
    assert done.ended_at == batch.created_at + timedelta(seconds=25)
    assert done.request_counts.succeeded == 6 and done.request_counts.processing == 0


def test_cancel_mid_run_lets_started_requests_finish() -> None:
    sim = Emulator(Scenario.of(timing={"start_delay": 0, "per_request": 10, "concurrency": 2, "cancel_delay": 1}))
    client = _client(sim)
    batch = client.messages.batches.create(requests=make_requests(6))
    sim.advance(15)  # requests 1-2 done, 3-4 running, 5-6 waiting
    canceling = client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling"
    assert canceling.cancel_initiated_at == batch.created_at + timedelta(seconds=15)
    assert canceling.request_counts.processing == 6
    assert client.messages.batches.cancel(batch.id).processing_status == "canceling"  # idempotent
    sim.advance(5)  # the running pair finishes at 20 s
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert ended.ended_at == batch.created_at + timedelta(seconds=20)
    assert (ended.request_counts.succeeded, ended.request_counts.canceled) == (4, 2)
    kinds = sorted(r.result.type for r in client.messages.batches.results(batch.id))
    assert kinds == ["canceled"] * 2 + ["succeeded"] * 4


def test_batch_that_hits_24_hours_expires_the_rest() -> None:
    sim = Emulator(Scenario.of(timing={"start_delay": 0, "per_request": 3600, "concurrency": 1}))
    client = _client(sim)
    batch = client.messages.batches.create(requests=make_requests(30))
    sim.advance(hours=23, minutes=59)
    assert client.messages.batches.retrieve(batch.id).processing_status == "in_progress"
    sim.advance(minutes=1)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert ended.ended_at == ended.expires_at
    assert (ended.request_counts.succeeded, ended.request_counts.expired) == (24, 6)


def test_planned_expiry_holds_the_batch_until_expires_at() -> None:
    sim = Emulator(Scenario.of(rules=[{"custom_id": "^req-0$", "result": "expired"}]))
    client = _client(sim)
    batch = client.messages.batches.create(requests=make_requests(3))
    sim.advance(hours=12)
    assert client.messages.batches.retrieve(batch.id).processing_status == "in_progress"
    sim.advance(hours=12)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.request_counts.expired == 1 and ended.request_counts.succeeded == 2


def test_results_are_archived_after_29_days() -> None:
    sim = Emulator()
    client = _client(sim)
    batch = client.messages.batches.create(requests=make_requests(2))
    sim.advance(days=28, hours=23)
    assert client.messages.batches.retrieve(batch.id).archived_at is None
    assert len(list(client.messages.batches.results(batch.id))) == 2
    sim.advance(hours=1)
    archived = client.messages.batches.retrieve(batch.id)
    assert archived.archived_at == archived.created_at + timedelta(days=29)
    with pytest.raises(anthropic.NotFoundError, match="29 days"):
        list(client.messages.batches.results(batch.id))


def test_rules_and_fractions_decide_outcomes() -> None:
    scenario = Scenario.of(
        seed=3,
        outcomes={"errored": 0.5, "error_types": {"overloaded_error": 1.0}},
        rules=[{"custom_id": "^poison-", "result": "errored", "error_type": "invalid_request_error"}],
    )
    sim = Emulator(scenario)
    client = _client(sim)
    requests = make_requests(200) + make_requests(5, prefix="poison")
    batch = client.messages.batches.create(requests=requests)
    sim.advance(hours=1)
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    for i in range(5):
        poisoned = results[f"poison-{i}"]
        assert poisoned.type == "errored"
        assert poisoned.error.error.type == "invalid_request_error"
    drawn = [results[f"req-{i}"] for i in range(200)]
    errored = [r for r in drawn if r.type == "errored"]
    assert 60 < len(errored) < 140  # about half, drawn with the seed
    assert {r.error.error.type for r in errored} == {"overloaded_error"}
    counts = client.messages.batches.retrieve(batch.id).request_counts
    assert counts.errored == len(errored) + 5


def test_invalid_params_end_errored_without_failing_the_create() -> None:
    sim = Emulator()
    client = _client(sim)
    good = make_requests(1)[0]
    bad = [
        {
            "custom_id": "no-model",
            "params": {"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
        },
        {"custom_id": "zero-tokens", "params": {**good["params"], "max_tokens": 0}},
        {
            "custom_id": "bad-role",
            "params": {**good["params"], "messages": [{"role": "system", "content": "x"}]},
        },
        {"custom_id": "no-messages", "params": {"model": "m", "max_tokens": 5}},
    ]
    batch = client.messages.batches.create(requests=[good, *bad])
    sim.advance(60)
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert results["req-0"].type == "succeeded"
    messages = {
        "no-model": "model: Field required",
        "zero-tokens": "max_tokens: Input should be greater than or equal to 1",
        "bad-role": "messages.0.role: Input should be 'user' or 'assistant'",
        "no-messages": "messages: Field required",
    }
    for cid, message in messages.items():
        assert results[cid].type == "errored"
        assert results[cid].error.error.type == "invalid_request_error"
        assert results[cid].error.error.message == message


def _run(seed: int) -> tuple[list[str], bytes]:
    sim = Emulator(Scenario.of(seed=seed, timing={"jitter": 0.5}, outcomes={"errored": 0.2, "expired": 0.1}))
    client = sim.client(max_retries=0)
    ids = []
    for n in range(2):
        batch = client.messages.batches.create(requests=make_requests(50, prefix=f"b{n}"))
        ids.append(batch.id)
    sim.advance(days=1)
    body = b"".join(client.messages.batches.with_raw_response.results(i).http_response.read() for i in ids)
    return ids, body


def test_same_seed_gives_byte_identical_results() -> None:
    ids_a, body_a = _run(7)
    ids_b, body_b = _run(7)
    assert ids_a == ids_b
    assert body_a == body_b
    ids_c, body_c = _run(8)
    assert ids_c != ids_a and body_c != body_a


def test_results_are_not_in_submission_order() -> None:
    sim = Emulator(Scenario.of(timing={"concurrency": 1000}))
    client = _client(sim)
    batch = client.messages.batches.create(requests=make_requests(50))
    sim.advance(60)
    order = [r.custom_id for r in client.messages.batches.results(batch.id)]
    assert sorted(order) == sorted(f"req-{i}" for i in range(50))
    assert order != [f"req-{i}" for i in range(50)]


def test_scenario_change_applies_to_new_batches_only() -> None:
    sim = Emulator()
    client = _client(sim)
    before = client.messages.batches.create(requests=make_requests(3))
    sim.scenario = Scenario.of(outcomes={"errored": 1.0})
    after = client.messages.batches.create(requests=make_requests(3))
    sim.advance(60)
    assert client.messages.batches.retrieve(before.id).request_counts.succeeded == 3
    assert client.messages.batches.retrieve(after.id).request_counts.errored == 3


def test_reset_forgets_batches_and_rewinds_the_clock() -> None:
    sim = Emulator()
    client = _client(sim)
    start = sim.clock.now()
    first = client.messages.batches.create(requests=make_requests(1))
    sim.advance(100)
    sim.reset()
    assert sim.clock.now() == start
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(first.id)
    # An id is never handed out again, not even after a reset.
    assert client.messages.batches.create(requests=make_requests(1)).id != first.id


def test_after_a_reset_the_same_calls_replay_everything_but_the_ids() -> None:
    def run(sim: Emulator) -> tuple[str, list[Any]]:
        client = _client(sim)
        batch = client.messages.batches.create(requests=make_requests(30))
        sim.advance(hours=1)
        lines = [r.model_dump() for r in client.messages.batches.results(batch.id)]
        for line in lines:
            if line["result"]["type"] == "succeeded":
                line["result"]["message"].pop("id")
            if line["result"]["type"] == "errored":
                line["result"]["error"].pop("request_id")
        return batch.id, lines

    sim = Emulator({"seed": 3, "outcomes": {"errored": 0.3}, "timing": {"jitter": 0.5}})
    first_id, first = run(sim)
    sim.reset()
    second_id, second = run(sim)
    assert second_id != first_id
    assert second == first  # the same outcomes, order, texts and usage
    again_id, _ = run(Emulator({"seed": 3, "outcomes": {"errored": 0.3}, "timing": {"jitter": 0.5}}))
    assert again_id == first_id  # a fresh emulator with the same seed: the same ids
