"""Lifecycle properties, checked with Hypothesis over scenarios, sizes, cancel times and clock steps."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchsim import Emulator, Scenario

from .conftest import make_requests

ORDER = {"in_progress": 0, "canceling": 1, "ended": 2}

scenarios = st.builds(
    lambda seed, start, per, conc, jitter, err, exp, cdelay: Scenario.of(
        seed=seed,
        timing={
            "start_delay": start,
            "per_request": per,
            "concurrency": conc,
            "jitter": jitter,
            "cancel_delay": cdelay,
        },
        outcomes={"errored": err, "expired": exp},
    ),
    st.integers(0, 2**16),
    st.floats(0, 600),
    st.floats(0.001, 7200),
    st.integers(1, 20),
    st.floats(0, 1),
    st.floats(0, 0.5),
    st.floats(0, 0.5),
    st.floats(0, 120),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scenario=scenarios,
    size=st.integers(1, 40),
    steps=st.lists(st.floats(0, 4 * 3600), min_size=1, max_size=12),
    cancel_at=st.one_of(st.none(), st.integers(0, 11)),
)
def test_counts_sum_statuses_move_forward_and_results_are_complete(
    scenario: Scenario, size: int, steps: list[float], cancel_at: int | None
) -> None:
    sim = Emulator(scenario)
    client = sim.client(max_retries=0, _strict_response_validation=True)
    batch = client.messages.batches.create(requests=make_requests(size))
    last = "in_progress"
    for n, step in enumerate([*steps, 25 * 3600]):
        if n == cancel_at and last == "in_progress":
            client.messages.batches.cancel(batch.id)
        sim.advance(step)
        seen = client.messages.batches.retrieve(batch.id)
        counts = seen.request_counts
        total = counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired
        assert total == size
        assert ORDER[seen.processing_status] >= ORDER[last]
        if seen.processing_status != "ended":
            assert counts.processing == size
            assert seen.results_url is None
        else:
            assert counts.processing == 0
            assert seen.ended_at is not None
            assert seen.ended_at <= seen.expires_at
        last = seen.processing_status
    assert last == "ended"  # a batch always ends by its expiry
    results = list(client.messages.batches.results(batch.id))
    assert sorted(r.custom_id for r in results) == sorted(f"req-{i}" for i in range(size))
    by_type: dict[str, int] = {}
    for r in results:
        by_type[r.result.type] = by_type.get(r.result.type, 0) + 1
    final = client.messages.batches.retrieve(batch.id).request_counts
    assert by_type == {k: v for k, v in final.to_dict().items() if v and k != "processing"}


@settings(max_examples=40, deadline=None)
@given(
    count=st.integers(0, 30),
    limit=st.integers(1, 7),
    deleted=st.sets(st.integers(0, 29)),
    backwards=st.booleans(),
)
def test_pagination_visits_every_batch_exactly_once(count: int, limit: int, deleted: set[int], backwards: bool) -> None:
    sim = Emulator(Scenario.of(timing={"start_delay": 0, "per_request": 1}))
    client = sim.client(max_retries=0, _strict_response_validation=True)
    ids = [client.messages.batches.create(requests=make_requests(1)).id for _ in range(count)]
    sim.advance(10)
    for i in sorted(deleted):
        if i < count:
            client.messages.batches.delete(ids[i])
    alive = [b for i, b in enumerate(ids) if i not in deleted]
    if backwards and alive:
        # Walk toward newer batches from the oldest one with before_id.
        oldest = alive[0]
        walked: list[str] = [oldest]
        page: Any = client.messages.batches.list(limit=limit, before_id=oldest)
        while True:
            walked.extend(reversed([b.id for b in page.data]))
            if not page.has_more:
                break
            page = client.messages.batches.list(limit=limit, before_id=page.first_id)
        assert walked == alive
    else:
        seen = [b.id for b in client.messages.batches.list(limit=limit)]  # SDK auto-pagination
        assert seen == alive[::-1]
