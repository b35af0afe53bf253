"""A Hypothesis state machine driving create/advance/cancel/delete/list/results through the SDK
in-process, checking the lifecycle invariants after every step:

* ``request_counts`` always sum to the batch size, and sit in ``processing`` until the batch ends;
* ``processing_status`` only moves forward (in_progress → canceling → ended), ``ended_at`` never
  changes once set;
* results hold every ``custom_id`` exactly once, and agree with ``request_counts``;
* list pagination (any page size) visits every live batch exactly once, newest first.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import anthropic
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from batchsim import Emulator, Scenario
from batchsim.strategies import batch_requests, scenarios

_RANK = {"in_progress": 0, "canceling": 1, "ended": 2}
_ARCHIVE = timedelta(days=29)


@dataclass
class _Known:
    size: int
    custom_ids: list[str]
    status: str = "in_progress"
    ended_at: Any = None
    created_at: Any = None
    deleted: bool = False
    canceled: bool = False
    created_order: int = 0
    rule_canceled: int = 0  # requests a scenario rule ends "canceled" without a batch cancel
    seen: list[str] = field(default_factory=list)


def _rule_result(scenario: Scenario, custom_id: str) -> str | None:
    """The result the scenario's first matching rule forces on ``custom_id``, if any."""
    return next((r.result for r in scenario.rules if r.matches(custom_id)), None)


class BatchLifecycle(RuleBasedStateMachine):
    batches = Bundle("batches")

    def __init__(self) -> None:
        super().__init__()
        self.sim = Emulator()
        self.client = self.sim.client(max_retries=0)
        self.known: dict[str, _Known] = {}

    def teardown(self) -> None:
        self.client.close()

    @initialize(scenario=scenarios(max_per_request=3600.0))
    def choose_scenario(self, scenario: Scenario) -> None:
        self.sim.scenario = scenario

    @rule(target=batches, requests=batch_requests(min_size=1, max_size=8))
    def create(self, requests: list[dict[str, Any]]) -> str:
        batch = self.client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        assert batch.processing_status == "in_progress"
        assert batch.id not in self.known
        self.known[batch.id] = _Known(
            size=len(requests),
            custom_ids=[r["custom_id"] for r in requests],
            created_at=batch.created_at,
            created_order=len(self.known),
            rule_canceled=sum(_rule_result(self.sim.scenario, r["custom_id"]) == "canceled" for r in requests),
        )
        return batch.id

    @rule(seconds=st.one_of(st.floats(min_value=0, max_value=120), st.floats(min_value=0, max_value=2 * 86400)))
    def advance(self, seconds: float) -> None:
        self.sim.advance(seconds)

    @rule(batch_id=batches)
    def cancel(self, batch_id: str) -> None:
        known = self.known[batch_id]
        try:
            batch = self.client.messages.batches.cancel(batch_id)
        except anthropic.NotFoundError:
            assert known.deleted
            return
        except anthropic.BadRequestError:
            assert self._status(batch_id) == "ended"
            return
        assert not known.deleted
        assert batch.processing_status in ("canceling", "ended")
        assert batch.cancel_initiated_at is not None
        known.canceled = True
        self._observe(batch_id, batch)

    @rule(batch_id=batches)
    def delete(self, batch_id: str) -> None:
        known = self.known[batch_id]
        try:
            deleted = self.client.messages.batches.delete(batch_id)
        except anthropic.NotFoundError:
            assert known.deleted
            return
        except anthropic.BadRequestError:
            assert not known.deleted and self._status(batch_id) != "ended"
            return
        assert deleted.id == batch_id and deleted.type == "message_batch_deleted"
        assert known.status == "ended" or self._ended_now(known)
        known.deleted = True

    @rule(limit=st.integers(min_value=1, max_value=5))
    def list_all(self, limit: int) -> None:
        ids = [b.id for b in self.client.messages.batches.list(limit=limit)]
        assert len(ids) == len(set(ids)), "pagination visited a batch twice"
        live = [i for i, k in self.known.items() if not k.deleted]
        assert sorted(ids) == sorted(live)
        assert ids == sorted(live, key=lambda i: -self.known[i].created_order)

    @rule(batch_id=batches)
    def results(self, batch_id: str) -> None:
        known = self.known[batch_id]
        if known.deleted:
            return
        batch = self.client.messages.batches.retrieve(batch_id)
        self._observe(batch_id, batch)
        if batch.processing_status != "ended":
            return
        if self.sim.now() >= batch.created_at + _ARCHIVE:
            try:
                self.client.messages.batches.results(batch_id)
            except anthropic.NotFoundError:
                return
            raise AssertionError("results of an archived batch must be gone")
        lines = list(self.client.messages.batches.results(batch_id))
        ids = Counter(line.custom_id for line in lines)
        assert ids == Counter(known.custom_ids), "every custom_id exactly once"
        types = Counter(line.result.type for line in lines)
        counts = batch.request_counts
        assert (
            types
            == Counter(
                {
                    "succeeded": counts.succeeded,
                    "errored": counts.errored,
                    "canceled": counts.canceled,
                    "expired": counts.expired,
                }
            )
            - Counter()
        )  # drop zero entries
        if not known.canceled:
            assert counts.canceled == known.rule_canceled

    @invariant()
    def lifecycle(self) -> None:
        for batch_id, known in self.known.items():
            if known.deleted:
                continue
            self._observe(batch_id, self.client.messages.batches.retrieve(batch_id))

    # -- helpers --------------------------------------------------------------------------------

    def _status(self, batch_id: str) -> str:
        return self.client.messages.batches.retrieve(batch_id).processing_status

    def _ended_now(self, known: _Known) -> bool:
        return known.ended_at is not None

    def _observe(self, batch_id: str, batch: Any) -> None:
        known = self.known[batch_id]
        counts = batch.request_counts
        total = counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired
        assert total == known.size, "request_counts must sum to the batch size"
        status = batch.processing_status
        assert _RANK[status] >= _RANK[known.status], f"status went back from {known.status} to {status}"
        known.status = status
        if status == "ended":
            assert counts.processing == 0 and batch.ended_at is not None and batch.results_url
            if known.ended_at is not None:
                assert batch.ended_at == known.ended_at, "ended_at changed after the end"
            known.ended_at = batch.ended_at
            assert batch.created_at <= batch.ended_at <= batch.expires_at
        else:
            assert counts.processing == known.size and batch.ended_at is None and batch.results_url is None
        if status == "canceling":
            assert batch.cancel_initiated_at is not None
        assert batch.expires_at - batch.created_at == timedelta(hours=24)


BatchLifecycle.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestBatchLifecycle = BatchLifecycle.TestCase
